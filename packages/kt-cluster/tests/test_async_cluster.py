"""What only the asyncio clusters have: coroutines and tasks. (Everything else runs on them through the
blocking facade in test_cluster.py and test_faults.py.) The same methods as the blocking clusters,
from the same plans; many tasks on one cluster; a bulk call waits for every shard's part; a cancelled
call leaves the cluster usable; what cannot be awaited says what to use."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from kt_cluster import AsyncKyotoCluster, AsyncTokyoTyrantCluster, KyotoCluster, ShardDownError, TokyoTyrantCluster
from kt_core.errors import InvalidArgumentError, KtConnectionError
from kt_embedded.faultproxy import FaultProxy

TWINS = [(KyotoCluster, AsyncKyotoCluster), (TokyoTyrantCluster, AsyncTokyoTyrantCluster)]


def public(cls: type) -> dict[str, Any]:
    return {name: getattr(cls, name) for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize(("blocking", "asyncio_cls"), TWINS, ids=["kt", "tt"])
def test_the_asyncio_cluster_has_the_blocking_clusters_methods(blocking: type, asyncio_cls: type) -> None:
    ours, theirs = public(blocking), public(asyncio_cls)
    assert set(ours) - {"start_health_checks"} <= set(theirs)
    for name, member in ours.items():
        if not callable(member) or isinstance(member, type) or name in ("close", "start_health_checks"):
            continue
        mine = theirs[name]
        assert [p.name for p in inspect.signature(member).parameters.values()] == \
            [p.name for p in inspect.signature(mine).parameters.values()], name
        assert mine.__doc__ == member.__doc__, name  # one description of the method
    assert inspect.iscoroutinefunction(asyncio_cls.get_bulk) and inspect.iscoroutinefunction(asyncio_cls.get)


def nodes_of(managers: list[Any]) -> list[str]:
    return [f"{m.host}:{m.port}" for m in managers]


def cls_of(kind: str) -> Any:
    return AsyncKyotoCluster if kind == "kt" else AsyncTokyoTyrantCluster


@pytest.mark.asyncio
async def test_many_tasks_share_one_cluster(servers: tuple[str, list[Any]]) -> None:
    kind, managers = servers
    async with cls_of(kind)(nodes_of(managers), max_connections=4) as cluster:
        await cluster.clear()

        async def work(t: int) -> None:
            keys = [f"t{t}:{i}" for i in range(20)]
            for key in keys[:5]:
                assert await cluster.set(key, key)
            await cluster.set_bulk({k: k for k in keys[5:]})
            assert await cluster.get_bulk(keys[::-1]) == {k: k for k in keys[::-1]}

        await asyncio.gather(*(work(t) for t in range(50)))
        assert await cluster.count() == 1000
        assert len([key async for key in cluster]) == 1000
        await cluster.clear()


@pytest.mark.asyncio
async def test_a_bulk_call_waits_for_every_shard_and_raises_the_failed_ones_error(
        servers: tuple[str, list[Any]]) -> None:
    kind, managers = servers
    with FaultProxy(managers[0].host, managers[0].port) as proxy:
        nodes = [f"{proxy.host}:{proxy.port}", *nodes_of(managers[1:])]
        async with cls_of(kind)(nodes, timeout=0.5, down_interval=600) as cluster:
            await cluster.clear()
            data = {f"b:{i}": str(i) for i in range(300)}
            proxy.refuse()
            with pytest.raises(KtConnectionError):
                await cluster.set_bulk(data)
            # The other shards stored their part: a fan-out runs every part to its end.
            stored = await cluster.clients()[nodes[1]].get_bulk([k for k in data if cluster.node_for(k) == nodes[1]])
            assert stored and all(cluster.node_for(k) == nodes[1] for k in stored)
            with pytest.raises(ShardDownError):
                await cluster.get_bulk(list(data))
            proxy.passthrough()
            assert await cluster.check_health() == [nodes[0]]
            await cluster.clear()


@pytest.mark.asyncio
async def test_a_cancelled_bulk_call_leaves_the_cluster_usable(servers: tuple[str, list[Any]]) -> None:
    kind, managers = servers
    with FaultProxy(managers[0].host, managers[0].port) as proxy:
        nodes = [f"{proxy.host}:{proxy.port}", *nodes_of(managers[1:])]
        async with cls_of(kind)(nodes, timeout=30) as cluster:
            await cluster.clear()
            data = {f"c:{i}": str(i) for i in range(100)}
            await cluster.set_bulk(data)
            proxy.stall()
            task = asyncio.ensure_future(cluster.get_bulk(list(data)))
            await asyncio.sleep(0.2)  # the stalled shard's request is on its way
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            proxy.passthrough()
            # A cancellation is not a server failure: nothing was marked down, and the next call's replies are its own.
            assert all(member["up"] for shard in cluster.health().values() for member in shard)
            assert await cluster.get_bulk(list(data)) == data
            await cluster.clear()


@pytest.mark.asyncio
async def test_what_cannot_be_awaited_names_the_coroutine(servers: tuple[str, list[Any]]) -> None:
    kind, managers = servers
    async with cls_of(kind)(nodes_of(managers)) as cluster:
        with pytest.raises(TypeError, match="count"):
            len(cluster)
        with pytest.raises(TypeError, match="exists"):
            "k" in cluster  # noqa: B015
        with pytest.raises(TypeError, match="set"):
            cluster["k"] = "v"
        with pytest.raises(TypeError, match="async for"):
            iter(cluster)
        assert await cluster.set("k", "v") and await cluster["k"] == "v"
        assert await cluster.remove("k")


def test_background_health_checks_need_a_running_loop(servers: tuple[str, list[Any]]) -> None:
    kind, managers = servers
    with pytest.raises(InvalidArgumentError, match="running event loop"):
        cls_of(kind)(nodes_of(managers), health_check_interval=1.0)
