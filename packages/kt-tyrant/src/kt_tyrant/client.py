"""TokyoTyrant: the blocking Tokyo Tyrant 1.1.41 client.

Every method is one request and one reply on the calling thread's pooled connection (one
``sendall``). The methods are :class:`~kt_tyrant.commands.TyrantCommands` (their reply codes and
return values are described there), run to completion in the calling thread; framing lives in
:mod:`kt_core.codec.tyrant`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kt_core.codec.tyrant_repl import Change
from kt_core.command import install_commands
from kt_core.io.pipeline import Pipeline, install_pipeline_commands
from kt_core.io.pool import ConnectionPool
from kt_core.io.pooled import PooledClient
from kt_core.io.retry import RetryPolicy
from kt_serializers import KT_BINARY

from .commands import KeyType, TyrantCommands

__all__ = ["KeyType", "TokyoTyrant"]


class TyrantPipeline(Pipeline):
    """``TokyoTyrant.pipeline()``: the client's methods queue; ``execute()`` sends them (docs/pipelines.md)."""


install_pipeline_commands(TyrantPipeline, TyrantCommands)


@install_commands
class TokyoTyrant(TyrantCommands, PooledClient):
    """Client for a Tokyo Tyrant server.

    ``serializer`` is a ``kt_serializers`` name or object (``KT_BINARY`` by default; ``TT_TABLE``
    for a table database: values are dicts of columns, the primary key is not a column).
    ``decode_keys``: keys returned by the server come back as ``str`` (bytes that are not UTF-8
    stay ``bytes``); with ``False`` they come back as ``bytes``. Keys you pass may be ``str``
    (sent as UTF-8) or ``bytes`` either way.

    ``default_db``: Tokyo Tyrant serves exactly one database, so only ``0`` (or ``None``) is
    accepted, for signature compatibility with :class:`KyotoTycoon`; any other value raises.

    Connections come from a thread-safe pool; each thread uses its own connection.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1978,
        serializer: Any = KT_BINARY,
        decode_keys: bool = True,
        timeout: float | None = None,
        default_db: int | None = 0,
        connection_pool: ConnectionPool | None = None,
        max_connections: int | None = None,
        *,
        retry: RetryPolicy | int | None = None,
    ) -> None:
        self._check_default_db(default_db)
        self._init_connections(host, port, timeout, connection_pool, retry, max_connections)
        self._init_tyrant(serializer, decode_keys)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> TokyoTyrant:
        """A client for ``tt://host:port?option=value&...`` (the redis-py convention).

        ``host`` defaults to 127.0.0.1 and ``port`` to 1978 (``[::1]`` for IPv6). A Tokyo Tyrant
        server has one database, so the URL has no path (``/`` or ``/0`` are accepted). Query
        options: ``timeout`` (seconds), ``serializer`` (a serializer name, e.g. ``table``),
        ``decode_keys`` (``true``/``false``), ``retry`` (retries of idempotent operations),
        ``max_connections`` (the pool's bound). ``kwargs`` go to the constructor; as in redis-py,
        where the URL and a keyword give the same option, the URL wins.
        """
        return cls(**{**kwargs, **cls._url_options(url, "TokyoTyrant")})

    def __repr__(self) -> str:
        return f"<TokyoTyrant {self.host}:{self.port} serializer={self.serializer!r}>"

    def pipeline(self) -> TyrantPipeline:
        """A pipeline: queue commands with the client's method names, then ``execute()`` them in
        one write per chunk; the results come back in order (docs/pipelines.md)."""
        return TyrantPipeline(self)

    def __enter__(self) -> TokyoTyrant:
        return self

    def replicate(self, since: int = 0, sid: int = 65535, wait: float | None = None, *,
                  timeout: float | None = 30.0, check_gap: bool = True, decode: bool = False) -> Iterator[Change]:
        return super().replicate(since, sid, wait, timeout=timeout, check_gap=check_gap, decode=decode)

    replicate.__doc__ = TyrantCommands.replicate.__doc__

    if TYPE_CHECKING:
        # What the mixin's properties give on this client (it runs their commands to a value).
        @property
        def size(self) -> int: ...
        @property
        def path(self) -> str: ...
        @property
        def error(self) -> tuple[int, str] | None: ...
