"""AsyncKyotoCluster and AsyncTokyoTyrantCluster: the sharded clients over the asyncio clients.

The same methods as :class:`~kt_cluster.KyotoCluster` and :class:`~kt_cluster.TokyoTyrantCluster`,
from the same plans (:class:`~kt_cluster.kyoto.KyotoClusterCommands`,
:class:`~kt_cluster.tyrant.TokyoTyrantClusterCommands`), each a coroutine: a bulk call's requests to
its shards run concurrently (``gather``), whatever their size; a whole-database call runs on every
shard at once. Failover, marking down, ``ShardDownError``, retries and health checks work as on the
blocking clusters; ``health_check_interval=`` (or :meth:`start_health_checks`) runs the checks in a
task of the running loop, so such a cluster is created inside a coroutine.

What Python cannot await raises ``TypeError`` naming the coroutine to use instead, as on the
asyncio clients: ``len()``, ``in``, ``cluster[key] = value``, ``del cluster[key]``, ``for``.
``await cluster[key]``, ``async for key in cluster`` and ``async with`` work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from kt_core.command import AsyncRunner, Items, Steps
from kt_core.errors import InvalidArgumentError, KtConnectionError
from kt_core.io.aio_pooled import refuse_unawaitable
from kt_core.io.aio_tasks import Periodic, gather_settled, sleep
from kt_kyoto import AsyncKyotoTycoon
from kt_tyrant import AsyncTokyoTyrant

from .base import ClusterBase, Job, OnMembers, OnShards, Walk, _check_interval, install_cluster, jittered
from .errors import ShardDownError
from .kyoto import KyotoClusterCommands
from .nodes import Shard
from .tyrant import TokyoTyrantClusterCommands

__all__ = ["AsyncKyotoCluster", "AsyncShardedClient", "AsyncTokyoTyrantCluster"]

T = TypeVar("T")


class AsyncShardedClient(ClusterBase, AsyncRunner):
    """The asyncio cluster's runner: each plan's calls are awaited, several shards' at once."""

    def __init__(self, nodes: Iterable[Any], **options: Any) -> None:
        self._health: Periodic | None = None
        super().__init__(nodes, **options)

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _drop_owned(self) -> None:
        # A constructor that failed cannot await: the pools have opened nothing yet, and drop with the clients.
        self._owned.clear()

    async def close(self) -> None:
        """Stop the health checks; close the clients the cluster made."""
        if self._health is not None:
            await self._health.stop()
            self._health = None
        await gather_settled([client.close() for client in self._owned])

    def start_health_checks(self, interval: float) -> None:
        """Run :meth:`check_health` every ``interval`` seconds in a task of the running loop (until :meth:`close`)."""
        _check_interval(interval)
        if self._health is not None and self._health.running:
            raise InvalidArgumentError("health checks already run")
        try:
            self._health = Periodic(interval, self.check_health, name=f"{type(self).__name__}-health")
        except RuntimeError as exc:
            raise InvalidArgumentError(f"{type(self).__name__} health checks: {exc}") from None

    # ------------------------------------------------------------------ running plans

    async def _arun(self, steps: Steps[T]) -> T:
        send = steps.send
        try:
            op = send(None)
            while True:
                try:
                    result = await self._aperform(op)
                except BaseException:
                    steps.close()
                    raise
                op = send(result)
        except StopIteration as stop:
            return stop.value

    async def _arun_iter(self, steps: Steps[Any]) -> AsyncIterator[Any]:
        result: Any = None
        while True:
            try:
                op = steps.send(result)
            except StopIteration:
                return
            result = None
            kind = type(op)
            if kind is Items:
                for item in op.items:
                    yield item
            elif kind is Walk:
                shard = op.shard
                member = shard.candidates(False, self.read_from_replicas)[0]
                try:
                    async for item in op.fn(member.client):
                        yield item
                except KtConnectionError as exc:
                    shard.mark_down(member, exc)
                    raise
            else:
                result = await self._aperform(op)

    async def _aperform(self, op: Any) -> Any:
        if type(op) is OnShards:
            return await self._afan_out(op.jobs)
        if type(op) is OnMembers:
            return await gather_settled([_outcome(fn(member.client)) for member, fn in op.calls])
        raise TypeError(f"a cluster plan yielded {op!r}")

    async def _afan_out(self, jobs: Sequence[Job]) -> list[Any]:
        if len(jobs) == 1:
            return [await self._acall(*jobs[0])]
        return await gather_settled([self._acall(*job) for job in jobs])

    async def _acall(self, shard: Shard, operation: str, write: bool, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """``await fn(client)`` on ``shard`` with failover and the retry policy (as the blocking ``_call``)."""
        idempotent, retries = self._retries(operation)
        attempt = 0
        while True:
            try:
                return await shard.arun(fn, write, self.read_from_replicas, idempotent)
            except ShardDownError:
                raise
            except KtConnectionError:
                if attempt >= retries:
                    raise
                attempt += 1
                await sleep(jittered(self.retry.delay(attempt)))


async def _outcome(call: Awaitable[Any]) -> Any:
    """The result of ``call``, or the connection error it raised."""
    try:
        return await call
    except KtConnectionError as exc:
        return exc


@refuse_unawaitable
@install_cluster
class AsyncKyotoCluster(KyotoClusterCommands, AsyncShardedClient):
    """:class:`~kt_cluster.KyotoCluster` over :class:`~kt_kyoto.AsyncKyotoTycoon` clients: the same
    nodes, options and methods, each a coroutine (``keys()``/``values()``/``items()`` async iterators).
    ``max_workers`` and ``concurrent_bulk_keys`` have no effect: the shards' calls always run
    concurrently; the asyncio clients' own options (``max_connections``, ``wait_timeout``) go to each."""

    client_class = AsyncKyotoTycoon

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for key in cluster``: every key, shard after shard."""
        return self.keys()


@refuse_unawaitable
@install_cluster
class AsyncTokyoTyrantCluster(TokyoTyrantClusterCommands, AsyncShardedClient):
    """:class:`~kt_cluster.TokyoTyrantCluster` over :class:`~kt_tyrant.AsyncTokyoTyrant` clients: the
    same nodes, options and methods, each a coroutine (see :class:`AsyncKyotoCluster`)."""

    client_class = AsyncTokyoTyrant

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for key in cluster``: every key (all of them are read first, as :meth:`keys` does)."""
        return self._each_key()

    async def _each_key(self) -> AsyncIterator[Any]:
        for key in await self.keys():
            yield key
