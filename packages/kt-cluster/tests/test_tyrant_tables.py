"""TT table search across shards: QueryBuilder.execute/count/delete on a TokyoTyrantCluster."""

from __future__ import annotations

from typing import Any

from kt_tyrant import INDEX_NUM, OP_NUM_GE, OP_STR_EQ, QueryBuilder


def test_search_runs_on_every_shard_and_merges(tables: Any) -> None:
    cluster = tables
    cluster.clear()
    people = {f"u{i}": {"name": f"n{i}", "age": str(20 + i), "team": "red" if i % 2 else "blue"} for i in range(60)}
    assert cluster.set_bulk(people)
    assert cluster.set_index("age", INDEX_NUM)
    assert len({cluster.node_for(k) for k in people}) == 3
    older = QueryBuilder().filter("age", OP_NUM_GE, 60)
    assert sorted(older.execute(cluster)) == sorted(k for k, v in people.items() if int(v["age"]) >= 60)
    assert older.count(cluster) == 20
    red = QueryBuilder().filter("team", OP_STR_EQ, "red")
    records = cluster.search(red.build_search(), "get")
    assert sorted(k for k, _ in records) == sorted(k for k, v in people.items() if v["team"] == "red")
    assert all(v["team"] == "red" for _, v in records)
    assert red.delete(cluster) is True
    assert cluster.count() == 30
    assert cluster.get("u0") == people["u0"]
    cluster.clear()
