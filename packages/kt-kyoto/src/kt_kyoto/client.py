"""KyotoTycoon: the blocking Kyoto Tycoon client.

Its methods are the commands of :class:`~kt_kyoto.commands.KyotoCommands` (protocols and databases
are described there), run in the calling thread on that thread's pooled connection.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from kt_core.codec.kyoto_repl import Change
from kt_core.command import install_commands
from kt_core.io.pipeline import Pipeline, install_pipeline_commands
from kt_core.io.pool import ConnectionPool
from kt_core.io.pooled import PooledClient
from kt_core.io.retry import RetryPolicy
from kt_serializers import KT_BINARY

from ._util import DbSpec
from .commands import KyotoCommands, _key_db, _value_expire, url_options
from .cursor import Cursor

__all__ = ["KyotoTycoon"]


class KyotoPipeline(Pipeline):
    """``KyotoTycoon.pipeline()``: the client's methods queue; ``execute()`` sends them (docs/pipelines.md)."""


install_pipeline_commands(KyotoPipeline, KyotoCommands)


@install_commands
class KyotoTycoon(KyotoCommands, PooledClient):
    """Client for interacting with a Kyoto Tycoon server (see :mod:`kt_kyoto.commands` for protocols and databases).

    One client may be shared by threads: each thread's requests run on a connection no other thread
    uses; :meth:`checkin` returns the calling thread's connection to the pool.
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
        connection_pool: ConnectionPool | None = None,
        retry: RetryPolicy | int | None = None,
    ) -> None:
        self._init_connections(host, port, timeout, connection_pool, retry)
        self._init_kyoto(serializer, decode_keys, default_db)

    def __enter__(self) -> KyotoTycoon:
        return self

    def pipeline(self) -> KyotoPipeline:
        """A pipeline: queue commands with the client's method names, then ``execute()`` them in
        one write per chunk (binary and HTTP requests alike); the results come back in order
        (docs/pipelines.md)."""
        return KyotoPipeline(self)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> KyotoTycoon:
        """A client for ``kt://host:port/db?option=value&...`` (the redis-py convention).

        ``host`` defaults to 127.0.0.1 and ``port`` to 1978 (``[::1]`` for IPv6). The path names the
        default database: an index (``/1``) or a name (``/users.kct``); percent-escapes are decoded,
        so ``/%25`` is the database ``%`` (``/%`` works too). Query options: ``timeout`` (seconds),
        ``serializer`` (a serializer name, e.g. ``json``), ``decode_keys`` (``true``/``false``),
        ``retry`` (retries of idempotent operations), ``db`` (as the path). ``kwargs`` go to the
        constructor; as in redis-py, where the URL and a keyword give the same option, the URL wins.
        """
        return cls(**{**kwargs, **url_options(url, "KyotoTycoon")})

    # The mapping dunders go through the public methods, so a subclass (or a patched instance) that
    # changes get/set/remove/exists/count/keys changes them too.

    def __getitem__(self, key_or_keydb: Any) -> Any:
        key, db = _key_db(key_or_keydb)
        return self.get(key, db)

    def __setitem__(self, key_or_keydb: Any, value_or_valueexpire: Any) -> None:
        key, db = _key_db(key_or_keydb)
        value, expire_time = _value_expire(value_or_valueexpire)
        self.set(key, value, db, expire_time)

    def __delitem__(self, key_or_keydb: Any) -> None:
        key, db = _key_db(key_or_keydb)
        self.remove(key, db)

    def __contains__(self, key_or_keydb: Any) -> bool:
        key, db = _key_db(key_or_keydb)
        return self.exists(key, db)

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Generator[Any, None, None]:
        return self.keys()  # type: ignore[return-value]

    def cursor(self, db: DbSpec = None, cursor_id: int | None = None) -> Cursor:
        """A cursor on ``db``, bound to a connection of its own (closed on the server when dropped)."""
        return Cursor(self, *self._cursor_args(db, cursor_id))

    def replicate(self, since: int = 0, sid: int = 65535, wait: float | None = None, *,
                  timeout: float | None = 30.0, check_gap: bool = True, decode: bool = False) -> Iterator[Change]:
        return super().replicate(since, sid, wait, timeout=timeout, check_gap=check_gap, decode=decode)

    replicate.__doc__ = KyotoCommands.replicate.__doc__

    if TYPE_CHECKING:
        # What the mixin's properties give on this client.
        @property
        def size(self) -> int: ...
        @property
        def path(self) -> str: ...
