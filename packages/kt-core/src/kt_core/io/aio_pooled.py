"""The runner of the asyncio clients: their commands (kt_core.command) as coroutines.

Each call takes a connection from the client's :class:`AsyncConnectionPool` for the length of that
call and gives it back at the end, so any number of tasks can share one client and at most
``max_connections`` sockets are open. A call that is cancelled or times out mid-reply closes its
connection (kt_core.io.aio_connection), which the pool then drops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, NoReturn, TypeVar

from ..command import Acquire, AsyncRunner, Call, Close, Items, Read, ReadMany, Send, Steps
from ..errors import KtConnectionError
from .aio_connection import DEFAULT_MAX_CONNECTIONS, AsyncConnection, AsyncConnectionPool
from .pooled import ClientBase
from .retry import RetryPolicy, is_idempotent

__all__ = ["AsyncPooledClient", "refuse_unawaitable"]

T = TypeVar("T")


class AsyncPooledClient(ClientBase, AsyncRunner):
    """Base of the asyncio clients: ``pool`` (an :class:`AsyncConnectionPool`)."""

    pool: AsyncConnectionPool

    def _init_connections(self, host: str, port: int, timeout: float | None,
                          connection_pool: AsyncConnectionPool | None = None,
                          retry: RetryPolicy | int | None = None,
                          max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
                          wait_timeout: float | None = None) -> None:
        self._init_address(host, port, timeout, retry)
        self.pool = connection_pool or AsyncConnectionPool(host, port, timeout=timeout, max_connections=max_connections,
                                                           wait_timeout=wait_timeout)

    async def _arun(self, steps: Steps[T]) -> T:
        """Drive a command to its value on a connection of the pool (taken at its first request)."""
        conn: AsyncConnection | None = None
        send = steps.send
        try:
            op = send(None)
            while True:
                try:
                    if type(op) is Call and op.on is None and not self._retry.retries:
                        # The common case, inline: one request on the call's connection.
                        if conn is None:
                            conn = self.pool.try_acquire() or await self.pool.acquire()
                        result = await conn.request(op.data, op.read, *op.args)
                    else:
                        if conn is None and getattr(op, "on", True) is None:
                            conn = await self.pool.acquire()
                        result = await self._aperform(op, conn)
                except asyncio.CancelledError:
                    steps.close()  # a command never swallows a cancellation
                    raise
                except BaseException as exc:
                    op = steps.throw(exc)
                else:
                    op = send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return,unused-ignore]
        finally:
            if conn is not None:
                self.pool.release(conn)

    async def _arun_iter_gen(self, steps: Steps[Any]) -> AsyncIterator[Any]:
        conn: AsyncConnection | None = None
        result: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    op = steps.send(result) if error is None else steps.throw(error)
                except StopIteration:
                    return
                result = error = None
                if type(op) is Items:
                    for item in op.items:
                        yield item
                    continue
                try:
                    if conn is None and getattr(op, "on", True) is None:
                        conn = await self.pool.acquire()
                    result = await self._aperform(op, conn)
                except asyncio.CancelledError:
                    raise
                except BaseException as exc:
                    error = exc
        finally:
            steps.close()  # a caller that stopped early: the command cleans up without a round trip
            if conn is not None:
                self.pool.release(conn)

    def _arun_iter(self, steps: Steps[Any]) -> AsyncIterator[Any]:
        """Drive an iterator command: an async generator of its :class:`Items`."""
        return self._arun_iter_gen(steps)

    async def _aperform(self, op: Any, conn: Any) -> Any:
        kind = type(op)
        if kind is Call:
            target = op.on or conn
            retries = self._retry.retries if op.on is None and op.operation is not None else 0
            if retries and not is_idempotent(op.operation):
                retries = 0
            attempt = 0
            while True:
                try:
                    return await target.request(op.data, op.read, *op.args)
                except KtConnectionError:
                    # The failed connection closed itself; the next attempt reconnects it.
                    if attempt >= retries:
                        raise
                    attempt += 1
                    await asyncio.sleep(self._retry.delay(attempt))
        if kind is ReadMany:
            return await (op.on or conn).read_many(op.reads)
        if kind is Read:
            return await (op.on or conn).read(op.read, *op.args)
        if kind is Send:
            target = op.on or conn
            await target.ensure_open()
            return target.send(op.data)
        if kind is Acquire:
            if op.fresh:
                return AsyncConnection(self.host, self.port, timeout=op.timeout, connect_timeout=self.timeout)
            return await self.pool.acquire()
        if kind is Close:
            target = op.on or conn
            if target is not None:
                target.close()
            return None
        raise TypeError(f"a command yielded {op!r}, which is not an operation")

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def checkin(self) -> None:
        """Nothing to give back: an asyncio call returns its connection when it ends (kept for the
        blocking clients' API)."""

    async def close(self) -> None:
        """Close every idle pooled connection; the client stays usable (calls in flight finish, and their
        connections are closed when they come back)."""
        self.pool.close()

    async def close_idle(self, n: float = 60) -> int:
        """Close the pooled connections idle for ``n`` seconds or more; the number closed."""
        return self.pool.close_idle(n)


# What Python cannot await on an asyncio client: each names the coroutine to use instead.
def _no_len(self: Any) -> NoReturn:
    raise TypeError("len() cannot await a request to the server: use await client.count()")


def _no_contains(self: Any, key: object) -> NoReturn:
    raise TypeError("'in' cannot await a request to the server: use await client.exists(key)")


def _no_setitem(self: Any, key: Any, value: Any) -> NoReturn:
    raise TypeError("client[key] = value cannot await a request to the server: use await client.set(key, value)")


def _no_delitem(self: Any, key: Any) -> NoReturn:
    raise TypeError("del client[key] cannot await a request to the server: use await client.remove(key)")


def _no_iter(self: Any) -> NoReturn:
    raise TypeError("an asyncio client is not iterable with for: use async for key in client")


def _always_true(self: Any) -> bool:
    # Without it, truth testing would try __len__, which cannot await.
    return True


_UNAWAITABLE = {"__len__": _no_len, "__contains__": _no_contains, "__setitem__": _no_setitem,
                "__delitem__": _no_delitem, "__iter__": _no_iter, "__bool__": _always_true}


def refuse_unawaitable(cls: type[T]) -> type[T]:
    """Class decorator (after :func:`~kt_core.command.install_commands`): the mapping dunders an
    asyncio client's commands gave it raise TypeError naming the coroutine to use instead."""
    for name, fn in _UNAWAITABLE.items():
        setattr(cls, name, fn)
    return cls
