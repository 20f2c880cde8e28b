"""AsyncTokyoTyrant: the asyncio Tokyo Tyrant client.

The same methods as :class:`~kt_tyrant.TokyoTyrant` (:class:`~kt_tyrant.commands.TyrantCommands`),
each a coroutine: a call takes a connection from the client's pool at its first request and gives it
back when it ends, so any number of tasks share one client over at most ``max_connections`` sockets.
A call cancelled or timed out while its reply is on the way closes its connection (the rest of
that reply must never be read as another request's answer); the next call gets a fresh one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

from kt_core.codec.tyrant_repl import Change
from kt_core.command import install_commands
from kt_core.io.aio_connection import DEFAULT_MAX_CONNECTIONS, AsyncConnectionPool
from kt_core.io.aio_pooled import AsyncPooledClient, refuse_unawaitable
from kt_core.io.pipeline import AsyncPipeline, install_pipeline_commands
from kt_core.io.retry import RetryPolicy
from kt_serializers import KT_BINARY

from .commands import KeyType, TyrantCommands

__all__ = ["AsyncTokyoTyrant"]


class AsyncTyrantPipeline(AsyncPipeline):
    """``AsyncTokyoTyrant.pipeline()``: the client's methods queue; ``await execute()`` sends them."""


install_pipeline_commands(AsyncTyrantPipeline, TyrantCommands)


@refuse_unawaitable
@install_commands
class AsyncTokyoTyrant(TyrantCommands, AsyncPooledClient):
    """Asyncio client for a Tokyo Tyrant server: ``await client.get(key)``.

    The arguments are :class:`~kt_tyrant.TokyoTyrant`'s, with ``connection_pool`` an
    :class:`~kt_core.io.aio_connection.AsyncConnectionPool`; ``max_connections`` (default 32) bounds
    the sockets the client opens (the tasks beyond them wait for one) and ``wait_timeout`` the
    seconds a task waits for a free connection before :class:`~kt_core.errors.KtTimeoutError`
    (None: no limit).

    ``async with AsyncTokyoTyrant(...) as client:`` closes its connections at the end. ``await
    client[key]`` is ``await client.get(key)``; ``async for key in client`` walks every key. What
    Python cannot await (``len()``, ``in``, ``client[key] = value``, ``del client[key]``, ``for``)
    raises TypeError naming the coroutine to use. ``size``, ``path`` and ``error`` are awaitables.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1978,
        serializer: Any = KT_BINARY,
        decode_keys: bool = True,
        timeout: float | None = None,
        default_db: int | None = 0,
        connection_pool: AsyncConnectionPool | None = None,
        max_connections: int | None = DEFAULT_MAX_CONNECTIONS,
        *,
        retry: RetryPolicy | int | None = None,
        wait_timeout: float | None = None,
    ) -> None:
        self._check_default_db(default_db)
        self._init_connections(host, port, timeout, connection_pool, retry, max_connections, wait_timeout)
        self._init_tyrant(serializer, decode_keys)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AsyncTokyoTyrant:
        """An asyncio client for ``tt://host:port?option=value&...``: the URL as
        :meth:`TokyoTyrant.from_url <kt_tyrant.TokyoTyrant.from_url>` reads it; ``kwargs`` (such as
        ``wait_timeout``) go to the constructor, and where the URL gives the same option, it wins."""
        return cls(**{**kwargs, **cls._url_options(url, "AsyncTokyoTyrant")})

    def pipeline(self) -> AsyncTyrantPipeline:
        """A pipeline: queue commands with the client's method names, then ``await execute()`` them
        in one write per chunk; the results come back in order (docs/pipelines.md)."""
        return AsyncTyrantPipeline(self)

    def __repr__(self) -> str:
        return f"<AsyncTokyoTyrant {self.host}:{self.port} serializer={self.serializer!r}>"

    def replicate(self, since: int = 0, sid: int = 65535, wait: float | None = None, *,
                  timeout: float | None = 30.0, check_gap: bool = True, decode: bool = False) -> AsyncIterator[Change]:
        return super().replicate(since, sid, wait, timeout=timeout, check_gap=check_gap, decode=decode)

    replicate.__doc__ = TyrantCommands.replicate.__doc__

    def __aiter__(self) -> AsyncIterator[KeyType]:
        """``async for key in client``: every key (all of them are read first, as :meth:`keys` does)."""
        return self._each_key()

    async def _each_key(self) -> AsyncIterator[KeyType]:
        # keys() has given its connection back before the first key is handed out: a caller that
        # stops early holds nothing.
        for key in await self.keys():
            yield key

    if TYPE_CHECKING:
        # What the mixin's properties give on this client: awaitables of their values.
        @property
        def size(self) -> Awaitable[int]: ...
        @property
        def path(self) -> Awaitable[str]: ...
        @property
        def error(self) -> Awaitable[tuple[int, str] | None]: ...
