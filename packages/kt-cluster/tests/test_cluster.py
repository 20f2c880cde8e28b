"""KyotoCluster / TokyoTyrantCluster and their asyncio twins against three servers: routing, bulk split
and merge order, whole-database merges, refusals and rebalancing (stand-ins and real servers)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kt_cluster import KyotoCluster, TokyoTyrantCluster, UnshardableOperationError, rebalance
from kt_kyoto import KyotoTycoon
from kt_tyrant import TokyoTyrant


def make_cluster(kind: str, managers: list[Any], **options: Any) -> Any:
    cls = KyotoCluster if kind == "kt" else TokyoTyrantCluster
    return cls([f"{m.host}:{m.port}" for m in managers], **options)


def direct(kind: str, manager: Any) -> Any:
    return (KyotoTycoon if kind == "kt" else TokyoTyrant)(manager.host, manager.port)


@pytest.fixture
def cluster(servers: tuple[str, list[Any]], new_cluster: Callable[..., Any]) -> Iterator[Any]:
    """A cluster over the three servers, blocking or asyncio (behind a blocking facade)."""
    kind, managers = servers
    with new_cluster(kind, [f"{m.host}:{m.port}" for m in managers]) as c:
        c.clear()
        yield c
        c.clear()


def test_each_key_lives_on_its_shard(servers: tuple[str, list[Any]], cluster: Any) -> None:
    kind, managers = servers
    keys = [f"key:{i}" for i in range(300)]
    for key in keys:
        assert cluster.set(key, f"v-{key}")
    by_name = {f"{m.host}:{m.port}": direct(kind, m) for m in managers}
    try:
        for key in keys:
            home = cluster.node_for(key)
            assert by_name[home].get(key) == f"v-{key}"
            assert all(c.get(key) is None for name, c in by_name.items() if name != home)
            assert cluster.get(key) == f"v-{key}"
        assert all(by_name[name].count() > 50 for name in by_name)  # every shard has its share
    finally:
        for c in by_name.values():
            c.close()
    assert cluster.exists("key:1") and "key:1" in cluster and "nope" not in cluster
    cluster["item"] = "x"
    assert cluster["item"] == "x"
    del cluster["item"]
    assert cluster.get("item") is None
    assert cluster.incr("counter", 3) == 3 and cluster.incr("counter", 2) == 5
    assert cluster.add("key:1", "again") is False
    assert cluster.remove("key:1") == 1
    assert cluster.get(b"key:2") == "v-key:2"  # bytes keys: the same shard as the str


def test_bulk_is_split_and_merged_in_input_order(cluster: Any) -> None:
    keys = [f"bulk:{i}" for i in range(400)]
    data = {k: f"v{i}" for i, k in enumerate(keys)}
    stored = cluster.set_bulk(data)
    assert stored in (400, True)
    asked = keys[:]
    random.Random(7).shuffle(asked)
    asked[10:10] = ["missing:1", "missing:2"]
    got = cluster.get_bulk(asked)
    assert list(got) == [k for k in asked if not k.startswith("missing")]
    assert got == {k: data[k] for k in asked if k in data}
    raw = cluster.get_bulk_raw(asked[:50])
    assert list(raw) == [k for k in asked[:50] if k in data] and all(isinstance(v, bytes) for v in raw.values())
    assert cluster.get_bulk([]) == {}
    removed = cluster.remove_bulk([*keys[:100], "missing:3"])
    assert removed in (100, True)
    assert cluster.count() == 300
    assert len(cluster.get_bulk(keys)) == 300


def test_whole_database_operations_merge_every_shard(cluster: Any) -> None:
    cluster.set_bulk({f"a:{i:03d}": "x" for i in range(120)} | {f"b:{i}": "y" for i in range(30)})
    assert cluster.count() == 150 and len(cluster) == 150
    assert sorted(cluster.keys()) == sorted([f"a:{i:03d}" for i in range(120)] + [f"b:{i}" for i in range(30)])
    prefixed = cluster.match_prefix("a:", 1000)
    assert prefixed == [f"a:{i:03d}" for i in range(120)]  # merged, sorted
    assert len(cluster.match_prefix("a:", 10)) == 10
    assert sorted(cluster.match_regex("^b:", 1000)) == sorted(f"b:{i}" for i in range(30))
    assert cluster.size > 0
    assert len(cluster.status()) == 3
    assert cluster.clear() is True
    assert cluster.count() == 0


def test_what_cannot_be_sharded_says_so(servers: tuple[str, list[Any]], cluster: Any) -> None:
    kind, _ = servers
    if kind == "kt":
        with pytest.raises(UnshardableOperationError, match="a cursor spans one shard only"):
            cluster.cursor()
        cluster.set("c", "1")
        cursor = cluster.client_for("c").cursor()  # the way the error shows
        assert cursor.jump("c") and cursor.key() == "c"
        cursor.close()
    else:
        for call in (lambda: cluster.get_range("a", "b"), cluster.genuid, lambda: cluster.iter_from("a"),
                     lambda: cluster.misc("putlist")):
            with pytest.raises(UnshardableOperationError, match="TokyoTyrantCluster"):
                call()


def test_rebalance_moves_the_keys_whose_shard_changed(servers: tuple[str, list[Any]], tmp_path: Any) -> None:
    kind, managers = servers
    old = make_cluster(kind, managers[:2])
    new = make_cluster(kind, managers)
    try:
        new.clear()
        data = {f"r:{i}": f"v{i}" for i in range(1500)}
        old.set_bulk(data)
        old.set("\u00e9t\u00e9", "caf\u00e9")
        data["\u00e9t\u00e9"] = "caf\u00e9"
        written_since = next(k for k in data if new.node_for(k) != old.node_for(k))
        new.set(written_since, "newer")  # a write through the new cluster is not overwritten
        reports: list[tuple[str, int, int]] = []
        checkpoint = str(tmp_path / "rebalance.json")
        report = rebalance(old, new, batch=200, checkpoint=checkpoint,
                           progress=lambda r: reports.append((r.shard, r.scanned, r.moved)))
        should_move = sum(1 for k in data if new.node_for(k) != old.node_for(k))
        assert report.moved + report.skipped == should_move and report.skipped == 1
        assert 0.2 * len(data) < should_move < 0.45 * len(data)  # about 1/3
        assert report.done_shards == list(old.shards)
        assert reports and reports[-1][2] == report.moved
        assert new.count() == len(data)
        expected = {**data, written_since: "newer"}
        assert new.get_bulk(list(expected)) == expected
        # Resumable: a second run (or one resumed from the checkpoint) finds nothing left to move.
        assert rebalance(old, new).moved == 0
        assert rebalance(old, new, checkpoint=checkpoint).scanned == 0
    finally:
        new.clear()
        old.close()
        new.close()


def test_one_cluster_shared_by_threads(servers: tuple[str, list[Any]]) -> None:
    import threading

    kind, managers = servers
    cluster = make_cluster(kind, managers)
    cluster.clear()

    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(100):
                key = f"t{t}:{i}"
                cluster.set(key, str(i))
                assert cluster.get(key) == str(i)
            assert cluster.get_bulk([f"t{t}:{i}" for i in range(100)]) == {f"t{t}:{i}": str(i) for i in range(100)}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert cluster.count() == 400
    cluster.clear()
    cluster.close()
