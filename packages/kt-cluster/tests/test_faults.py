"""Network faults on one node (through kt_embedded's FaultProxy): the other shards keep answering, a down
shard raises at once, health checks bring it back, dual masters fail over, retries only when idempotent;
on the blocking and the asyncio clusters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kt_cluster import ReplicaSet, ShardDownError
from kt_cluster.base import jittered
from kt_core.errors import KtConnectionError, KtTimeoutError
from kt_core.io.retry import RetryPolicy
from kt_embedded.faultproxy import FaultProxy
from kt_kyoto import KyotoTycoon
from kt_tyrant import TokyoTyrant

Factory = Callable[..., Any]


def direct(kind: str, address: str) -> Any:
    """A blocking client of one server (to look at a member behind the cluster's back)."""
    host, _, port = address.rpartition(":")
    return (KyotoTycoon if kind == "kt" else TokyoTyrant)(host, int(port))


@pytest.fixture
def proxy(servers: tuple[str, list[Any]]) -> Iterator[FaultProxy]:
    _, managers = servers
    with FaultProxy(managers[0].host, managers[0].port) as p:
        yield p


def addr(manager: Any) -> str:
    return f"{manager.host}:{manager.port}"


def keys_by_shard(cluster: Any, n: int = 300) -> dict[str, str]:
    """One key per shard name."""
    out: dict[str, str] = {}
    for i in range(n):
        out.setdefault(cluster.node_for(f"f:{i}"), f"f:{i}")
    assert len(out) == len(cluster.shards)
    return out


def wait_until(condition: Any, limit: float = 10.0, pause: Callable[[float], None] = time.sleep) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        pause(0.02)


@pytest.mark.parametrize("fault", ["stall", "cut"])
def test_a_faulty_node_leaves_the_other_shards_answering(servers: tuple[str, list[Any]], proxy: FaultProxy,
                                                         fault: str, new_cluster: Factory) -> None:
    kind, managers = servers
    nodes = [f"{proxy.host}:{proxy.port}", addr(managers[1]), addr(managers[2])]
    with new_cluster(kind, nodes, timeout=0.5, down_interval=600) as cluster:
        cluster.clear()
        keys = keys_by_shard(cluster)
        for key in keys.values():
            cluster.set(key, "v")
        bad = keys[nodes[0]]
        if fault == "stall":
            proxy.stall()
            with pytest.raises(KtTimeoutError):
                cluster.get(bad)
        else:
            proxy.refuse()
            with pytest.raises(KtConnectionError) as info:
                cluster.get(bad)
            assert not isinstance(info.value, ShardDownError)
        # Marked down: the next requests raise at once, without touching the network.
        opened = proxy.stats.get("accepted", 0) if hasattr(proxy, "stats") else 0
        for _ in range(20):
            with pytest.raises(ShardDownError, match=nodes[0]) as down:
                cluster.set(bad, "w")
        assert down.value.shard == nodes[0]
        if hasattr(proxy, "stats"):
            assert proxy.stats.get("accepted", 0) == opened
        for name in nodes[1:]:
            assert cluster.get(keys[name]) == "v"
            assert cluster.set(keys[name], "w")
        with pytest.raises(ShardDownError):
            cluster.get_bulk(list(keys.values()))
        with pytest.raises(ShardDownError):
            cluster.count()
        # The health check brings the node back.
        proxy.passthrough()
        assert cluster.check_health() == [nodes[0]]
        assert cluster.get(bad) == "v"
        assert cluster.get_bulk(list(keys.values())) == {k: ("v" if k == bad else "w") for k in keys.values()}
        cluster.clear()


def test_background_health_checks_bring_a_node_back(servers: tuple[str, list[Any]], proxy: FaultProxy,
                                                    new_cluster: Factory,
                                                    let_time_pass: Callable[[Any, float], None]) -> None:
    kind, managers = servers
    nodes = [f"{proxy.host}:{proxy.port}", addr(managers[1])]
    with new_cluster(kind, nodes, timeout=0.5, down_interval=600, health_check_interval=0.05) as cluster:
        bad = keys_by_shard(cluster)[nodes[0]]
        proxy.refuse()
        with pytest.raises(KtConnectionError):
            cluster.get(bad)
        assert cluster.health()[nodes[0]][0]["up"] is False
        proxy.passthrough()
        wait_until(lambda: cluster.health()[nodes[0]][0]["up"], pause=lambda s: let_time_pass(cluster, s))
        assert cluster.get(bad) is None


def test_a_dual_master_pair_fails_over_to_the_other_master(servers: tuple[str, list[Any]],
                                                           proxy: FaultProxy, new_cluster: Factory) -> None:
    # Two unreplicated servers stand in for the pair: this tests the routing, not the replication
    # (test_failover_replicated.py runs replicated pairs).
    kind, managers = servers
    pair = ReplicaSet.dual_master(f"{proxy.host}:{proxy.port}", addr(managers[1]), name="pair")
    with new_cluster(kind, [pair, addr(managers[2])], timeout=0.5, down_interval=600) as cluster:
        cluster.clear()
        first, second = direct(kind, f"{proxy.host}:{proxy.port}"), direct(kind, addr(managers[1]))
        key = keys_by_shard(cluster)["pair"]
        assert cluster.set(key, "on-first")
        assert first.get(key) == "on-first" and second.get(key) is None
        proxy.refuse()
        assert cluster.set(key, "on-second")  # an idempotent write: re-sent to the other master at once
        assert second.get(key) == "on-second"
        assert cluster.health()["pair"][1]["active"] is True and cluster.shards["pair"].failovers == 1
        assert cluster.get(key) == "on-second"
        proxy.passthrough()
        assert cluster.check_health() == [f"{proxy.host}:{proxy.port}"]
        assert cluster.set(key, "still-second")  # the active master stays: no flip-flop
        assert second.get(key) == "still-second"
        cluster.clear()
        first.close()
        second.close()


def test_a_non_idempotent_write_is_not_resent_to_the_other_master(servers: tuple[str, list[Any]],
                                                                  proxy: FaultProxy, new_cluster: Factory) -> None:
    kind, managers = servers
    pair = ReplicaSet.dual_master(f"{proxy.host}:{proxy.port}", addr(managers[1]), name="pair")
    with new_cluster(kind, [pair], timeout=0.5, down_interval=600, retry=3) as cluster:
        cluster.clear()
        proxy.refuse()
        with pytest.raises(KtConnectionError):
            cluster.incr("n", 1)  # its outcome on the first master is unknown: the caller decides
        assert cluster.incr("n", 1) == 1  # the next one goes to the other master
        cluster.clear()


def test_retries_only_idempotent_operations(servers: tuple[str, list[Any]], proxy: FaultProxy,
                                            new_cluster: Factory) -> None:
    kind, _ = servers
    policy = RetryPolicy(retries=2, backoff=0.001, max_backoff=0.002)
    with new_cluster(kind, [f"{proxy.host}:{proxy.port}"], timeout=0.5, down_interval=0, retry=policy) as cluster:
        member = cluster.shards[f"{proxy.host}:{proxy.port}"].masters[0]
        proxy.refuse()
        with pytest.raises(KtConnectionError):
            cluster.get("k")
        assert member.failures == 3  # the first attempt and two retries
        with pytest.raises(KtConnectionError):
            cluster.incr("k")
        assert member.failures == 4  # never retried
        proxy.passthrough()
        assert cluster.get("k") is None


def test_backoff_has_jitter() -> None:
    draws = {jittered(1.0) for _ in range(200)}
    assert all(0.5 <= d <= 1.0 for d in draws) and len(draws) > 150


def test_reads_from_replicas_may_be_stale_and_survive_the_master(servers: tuple[str, list[Any]],
                                                                 proxy: FaultProxy, new_cluster: Factory) -> None:
    # An unreplicated "slave" shows what a lagging one does: it answers, with what it has.
    kind, managers = servers
    shard = ReplicaSet.master_slaves(f"{proxy.host}:{proxy.port}", addr(managers[1]), name="set")
    with new_cluster(kind, [shard], timeout=0.5, down_interval=600, read_from_replicas=True) as cluster:
        cluster.clear()
        slave = direct(kind, addr(managers[1]))
        slave.clear()
        assert cluster.set("k", "fresh")
        assert cluster.get("k") is None  # read from the slave: stale
        slave.set("k", "replicated")
        assert cluster.get("k") == "replicated"
        proxy.refuse()
        with pytest.raises(KtConnectionError):
            cluster.set("k", "x")  # no second master: writes fail...
        with pytest.raises(ShardDownError):
            cluster.set("k", "x")
        assert cluster.get("k") == "replicated"  # ...reads go on
        proxy.passthrough()
        cluster.check_health()
        cluster.clear()
        slave.clear()
        slave.close()


def test_after_the_down_interval_a_request_tries_the_server_again(servers: tuple[str, list[Any]],
                                                                  proxy: FaultProxy, new_cluster: Factory) -> None:
    kind, _ = servers
    name = f"{proxy.host}:{proxy.port}"
    with new_cluster(kind, [name], timeout=0.5, down_interval=0.2) as cluster:
        proxy.refuse()
        with pytest.raises(KtConnectionError):
            cluster.get("k")
        with pytest.raises(ShardDownError):
            cluster.get("k")
        proxy.passthrough()
        member = cluster.shards[name].masters[0]
        wait_until(lambda: member.down_until <= time.monotonic())
        assert cluster.get("k") is None  # tried again, answered: up
        assert member.down_until == 0.0 and cluster.health()[name][0]["up"]
