"""AsyncKyotoTycoon and AsyncCursor: the asyncio Kyoto Tycoon client and its cursor.

The same methods as :class:`~kt_kyoto.KyotoTycoon` and :class:`~kt_kyoto.Cursor` (the commands of
:class:`~kt_kyoto.commands.KyotoCommands` and :class:`~kt_kyoto.cursor.CursorCommands`), each a
coroutine: a call takes a connection from the client's pool at its first request and gives it back
when it ends, so any number of tasks share one client over at most ``max_connections`` sockets. A
call cancelled or timed out while its reply is on the way closes its connection (the rest of that
reply must never be read as another request's answer); the next call gets another one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from kt_core.codec.kyoto_repl import Change
from kt_core.command import AsyncRunner, Steps, install_commands
from kt_core.io.aio_connection import DEFAULT_MAX_CONNECTIONS, AsyncConnectionPool
from kt_core.io.aio_pooled import AsyncPooledClient, refuse_unawaitable
from kt_core.io.pipeline import AsyncPipeline, install_pipeline_commands
from kt_core.io.retry import RetryPolicy
from kt_serializers import KT_BINARY

from ._util import DbSpec
from .commands import KyotoCommands, url_options
from .cursor import CursorCommands

__all__ = ["AsyncCursor", "AsyncKyotoTycoon"]

T = TypeVar("T")


def _drop(client: Any, pool: Any, conn: Any, request: bytes, state: list[bool]) -> None:
    """A dropped asyncio cursor: no round trip is possible here, so its connection is closed (the
    server forgets the cursor with it) and given back."""
    try:
        conn.close()
        pool.release(conn)
    except Exception:  # the event loop is already closed, or interpreter shutdown
        pass


@install_commands
class AsyncCursor(CursorCommands, AsyncRunner):
    """An asyncio Kyoto Tycoon cursor on one database. Create it with :meth:`AsyncKyotoTycoon.cursor`.

    Every move, read and write is a coroutine, as :class:`~kt_kyoto.Cursor`'s methods are calls;
    ``async for key, value in cursor`` iterates, ``await cursor.next()`` is one step of it (raising
    StopAsyncIteration at the end), ``async with cursor:`` closes it. The cursor takes its connection
    at its first move. A cursor dropped without :meth:`close` closes its connection, which the
    server drops the cursor with.
    """

    _finalize = staticmethod(_drop)

    def __init__(self, client: AsyncKyotoTycoon, db: int | str, http_db: bytes, cursor_id: int) -> None:
        self._init_cursor(client, db, http_db, cursor_id)

    async def _arun(self, steps: Steps[T]) -> T:
        return await self._client._arun(steps)

    def _arun_iter(self, steps: Steps[Any]) -> AsyncIterator[Any]:
        return self._client._arun_iter(steps)

    async def __aenter__(self) -> AsyncCursor:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[tuple[Any, Any]]:
        return self._records()

    async def __anext__(self) -> tuple[Any, Any]:
        record = await self._advance()
        if record is None:
            raise StopAsyncIteration
        return record

    next = __anext__  # as the blocking cursor's kt 0.9.6 name


class AsyncKyotoPipeline(AsyncPipeline):
    """``AsyncKyotoTycoon.pipeline()``: the client's methods queue; ``await execute()`` sends them."""


install_pipeline_commands(AsyncKyotoPipeline, KyotoCommands)


@refuse_unawaitable
@install_commands
class AsyncKyotoTycoon(KyotoCommands, AsyncPooledClient):
    """Asyncio client for a Kyoto Tycoon server: ``await client.get(key)``.

    The arguments are :class:`~kt_kyoto.KyotoTycoon`'s, with ``connection_pool`` an
    :class:`~kt_core.io.aio_connection.AsyncConnectionPool`; ``max_connections`` (default 32) bounds
    the sockets the client opens (the tasks beyond them wait for one) and ``wait_timeout`` the
    seconds a task waits for a free connection before :class:`~kt_core.errors.KtTimeoutError`
    (None: no limit).

    ``async with AsyncKyotoTycoon(...) as client:`` closes its connections at the end. ``await
    client[key]`` is ``await client.get(key)``; ``async for key in client`` walks every key, as do
    ``keys()``, ``values()`` and ``items()`` (async iterators) and :meth:`replicate`. What Python
    cannot await (``len()``, ``in``, ``client[key] = value``, ``del client[key]``, ``for``) raises
    TypeError naming the coroutine to use. ``size`` and ``path`` are awaitables; :meth:`cursor` gives
    an :class:`AsyncCursor`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1978,
        serializer: Any = KT_BINARY,
        decode_keys: bool = True,
        timeout: float | None = None,
        default_db: int | str = 0,
        *,
        connection_pool: AsyncConnectionPool | None = None,
        retry: RetryPolicy | int | None = None,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        wait_timeout: float | None = None,
    ) -> None:
        self._init_connections(host, port, timeout, connection_pool, retry, max_connections, wait_timeout)
        self._init_kyoto(serializer, decode_keys, default_db)

    async def __aenter__(self) -> AsyncKyotoTycoon:
        return self

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AsyncKyotoTycoon:
        """An asyncio client for ``kt://host:port/db?option=value&...``: the URL as
        :meth:`KyotoTycoon.from_url <kt_kyoto.KyotoTycoon.from_url>` reads it; ``kwargs`` (such as
        ``max_connections``) go to the constructor, and where the URL gives the same option, it wins."""
        return cls(**{**kwargs, **url_options(url, "AsyncKyotoTycoon")})

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for key in client``: every key, as :meth:`keys` walks them."""
        return self.keys()

    def pipeline(self) -> AsyncKyotoPipeline:
        """A pipeline: queue commands with the client's method names, then ``await execute()`` them
        in one write per chunk; the results come back in order (docs/pipelines.md)."""
        return AsyncKyotoPipeline(self)

    def cursor(self, db: DbSpec = None, cursor_id: int | None = None) -> AsyncCursor:
        """A cursor on ``db``, with a connection of its own from its first move (closed on the server
        when the cursor is closed; a cursor dropped unclosed closes its connection)."""
        return AsyncCursor(self, *self._cursor_args(db, cursor_id))

    def replicate(self, since: int = 0, sid: int = 65535, wait: float | None = None, *,
                  timeout: float | None = 30.0, check_gap: bool = True, decode: bool = False) -> AsyncIterator[Change]:
        return super().replicate(since, sid, wait, timeout=timeout, check_gap=check_gap, decode=decode)

    replicate.__doc__ = KyotoCommands.replicate.__doc__

    if TYPE_CHECKING:
        # What the mixin's properties give on this client.
        @property
        def size(self) -> Awaitable[int]: ...
        @property
        def path(self) -> Awaitable[str]: ...
