"""Placement: reproducible from the documented rule, stable, ~1/N of the keys move when a node is added."""

from __future__ import annotations

import bisect
import hashlib
from typing import Any

import pytest
from kt_cluster import KyotoCluster, Node, Placement, UnshardableOperationError, placement_key

KEYS = [f"user:{i}" for i in range(20000)]


def documented_placement(nodes: list[tuple[str, int]], key: str | bytes) -> str:
    """The rule of kt_cluster.placement's module doc, written out independently of uhashring."""
    total = sum(w for _, w in nodes)
    points: dict[int, str] = {}
    for name, weight in nodes:
        for group in range(40 * len(nodes) * weight // total):
            digest = hashlib.md5(f"{name}-{group}".encode()).digest()
            for word in range(4):
                points[int.from_bytes(digest[4 * word:4 * word + 4], "little")] = name
    ring = sorted(points)
    raw = key.encode("utf-8") if isinstance(key, str) else key
    position = int.from_bytes(hashlib.md5(raw).digest()[:4], "little")
    index = bisect.bisect_right(ring, position)
    return points[ring[index % len(ring)]]


NODES = [("10.0.0.1:1978", 1), ("10.0.0.2:1978", 1), ("10.0.0.3:1978", 2)]


def test_placement_follows_the_documented_rule() -> None:
    placement = Placement(NODES)
    for key in KEYS[:3000]:
        assert placement.node_for(key) == documented_placement(NODES, key)


def test_lookups_and_splits_agree_with_uhashring_for_every_kind_of_key() -> None:
    from uhashring import HashRing

    ring = HashRing(nodes={name: {"weight": weight} for name, weight in NODES}, hash_fn="ketama")
    keys: list[Any] = [*KEYS[:2000], *(k.encode() for k in KEYS[:2000]), "\u00e9t\u00e9", "caf\u00e9".encode(),
                       b"\xff\xfe\x80", b"", "", 0, 7, 123456789, "\U0001f600"]
    placement = Placement(NODES)
    expected = {}
    for key in keys:
        expected.setdefault(ring.get_node(placement_key(key)), []).append(key)
        assert placement.node_for(key) == ring.get_node(placement_key(key)), key
    assert placement.split(keys) == expected  # the nodes remembered by node_for
    assert Placement(NODES).split(keys) == expected  # nothing remembered yet
    assert [placement.node_for(key) for key in keys] == [ring.get_node(placement_key(key)) for key in keys]


def test_the_remembered_nodes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from kt_cluster import placement as module

    monkeypatch.setattr(module, "CACHE_KEYS", 100)
    placement = Placement(NODES)
    cold = placement.split(KEYS[:1000])
    assert len(placement._cache) <= 100
    assert placement.split(KEYS[:1000]) == cold == Placement(NODES).split(KEYS[:1000])
    with pytest.raises(TypeError):
        placement.node_for(True)  # a bool is no key, whatever int it equals


def test_placement_is_stable_across_instances_and_node_order() -> None:
    first, second = Placement(NODES), Placement(list(reversed(NODES)))
    assert [first.node_for(k) for k in KEYS] == [second.node_for(k) for k in KEYS]
    # Pinned: a change of library version or of the rule would move keys of running clusters.
    assert [first.node_for(f"k{i}") for i in range(6)] == [documented_placement(NODES, f"k{i}") for i in range(6)]


def test_bytes_and_str_keys_share_a_shard() -> None:
    placement = Placement(NODES)
    for key in KEYS[:500]:
        assert placement.node_for(key.encode()) == placement.node_for(key)
    assert placement.node_for(7) == placement.node_for("7")
    assert placement_key(b"\xff\xfe") == "\xff\xfe"
    with pytest.raises(TypeError):
        placement.node_for(1.5)


def test_weights_share_the_keys() -> None:
    placement = Placement(NODES)
    counts = {name: 0 for name, _ in NODES}
    for key in KEYS:
        counts[placement.node_for(key)] += 1
    share = counts["10.0.0.3:1978"] / len(KEYS)
    assert 0.40 < share < 0.60, counts  # weight 2 of 4


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_adding_a_node_moves_about_one_in_n_plus_one_keys_all_to_it(n: int) -> None:
    before = Placement([(f"10.0.0.{i}:1978", 1) for i in range(n)])
    after = Placement([(f"10.0.0.{i}:1978", 1) for i in range(n + 1)])
    new = f"10.0.0.{n}:1978"
    moved = [k for k in KEYS if before.node_for(k) != after.node_for(k)]
    assert all(after.node_for(k) == new for k in moved)
    expected = len(KEYS) / (n + 1)
    assert 0.6 * expected < len(moved) < 1.4 * expected, (len(moved), expected)


def test_removing_a_node_moves_only_its_keys() -> None:
    before = Placement([(f"10.0.0.{i}:1978", 1) for i in range(4)])
    after = Placement([(f"10.0.0.{i}:1978", 1) for i in range(3)])
    for key in KEYS[:5000]:
        if before.node_for(key) != "10.0.0.3:1978":
            assert after.node_for(key) == before.node_for(key)


def test_bad_placements_are_refused() -> None:
    with pytest.raises(ValueError):
        Placement([])
    with pytest.raises(ValueError):
        Placement([("a", 1), ("a", 1)])
    with pytest.raises(ValueError):
        Placement([("a", 0)])


def test_split_keeps_input_order_per_node() -> None:
    placement = Placement(NODES)
    groups = placement.split(KEYS[:1000])
    assert sorted(k for ks in groups.values() for k in ks) == sorted(KEYS[:1000])
    for ks in groups.values():
        assert ks == sorted(ks, key=KEYS.index)


def test_nodes_need_no_server_until_used_and_refusals_need_none() -> None:
    cluster = KyotoCluster(["127.0.0.1:1", Node("127.0.0.1:2", weight=3, name="big"), "kt://127.0.0.1:3/1"])
    try:
        assert list(cluster.shards) == ["127.0.0.1:1", "big", "127.0.0.1:3"]
        assert cluster.placement.nodes == (("127.0.0.1:1", 1), ("big", 3), ("127.0.0.1:3", 1))
        with pytest.raises(UnshardableOperationError, match="a cursor spans one shard only"):
            cluster.cursor()
        with pytest.raises(NotImplementedError):
            cluster.script("f", {})
    finally:
        cluster.close()


def test_a_cluster_has_no_single_path() -> None:
    with KyotoCluster(["127.0.0.1:1", "127.0.0.1:2"]) as cluster, pytest.raises(UnshardableOperationError,
                                                                                 match="its own path"):
        _ = cluster.path
