"""Connection plumbing shared by the KyotoTycoon and TokyoTyrant clients.

Checks the address and timeout arguments (before anything connects), builds the pool and the
per-thread binding, holds the retry policy, and gives both clients the same ``checkin()``,
``close()``, ``close_idle()``, ``lua`` and context-manager behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qsl, urlsplit

from ..command import Acquire, Call, Close, Items, Read, ReadMany, Send, Steps, SyncRunner
from ..errors import ImproperlyConfigured, InvalidArgumentError, InvalidTypeError
from .connection import Connection
from .pool import ConnectionPool, ThreadConnections
from .retry import RetryPolicy, retry_policy

T = TypeVar("T")

__all__ = ["ClientBase", "PooledClient", "ScriptRunner", "parse_server_url"]

_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_server_url(url: Any, scheme: str, client: str, whole_numbers: tuple[str, ...],
                     passed: tuple[str, ...] = ()) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Split ``scheme://host:port/path?options`` as both clients' ``from_url`` read it (redis-py's convention).

    Returns the path, the constructor options (host, port, timeout, serializer, decode_keys and the
    ``whole_numbers`` options) and the raw values of the ``passed`` options, which the caller reads
    itself. Anything else in the URL raises InvalidArgumentError, before anything connects.
    """
    if not isinstance(url, str):
        raise InvalidTypeError(f"url must be a str, not {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme.lower() != scheme:
        raise InvalidArgumentError(f"{client}.from_url takes a {scheme}:// URL, not {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidArgumentError(f"bad port in {url!r}") from None
    if parts.username is not None or parts.password is not None or parts.fragment:
        # The servers have no authentication: a user name would be silently ignored.
        raise InvalidArgumentError(f"a {scheme}:// URL has no user, password or #fragment: {url!r}")
    options: dict[str, Any] = {"host": parts.hostname or "127.0.0.1", "port": 1978 if port is None else port}
    raw: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in seen:
            raise InvalidArgumentError(f"option {name!r} given twice in {url!r}")
        seen.add(name)
        if name == "timeout":
            try:
                options["timeout"] = float(value)
            except ValueError:
                raise InvalidArgumentError(f"timeout must be a number of seconds, not {value!r}") from None
        elif name == "serializer":
            options["serializer"] = value
        elif name == "decode_keys":
            flag = _FLAGS.get(value.lower())
            if flag is None:
                raise InvalidArgumentError(f"decode_keys must be true or false, not {value!r}")
            options["decode_keys"] = flag
        elif name in whole_numbers:
            if not value.isdigit():
                raise InvalidArgumentError(f"{name} must be a whole number, not {value!r}")
            options[name] = int(value)
        elif name in passed:
            raw[name] = value
        else:
            known = ", ".join(("timeout", "serializer", "decode_keys", *whole_numbers, *passed))
            raise InvalidArgumentError(f"unknown option {name!r} in {url!r} ({known})")
    return parts.path, options, raw


class ScriptRunner:
    """``client.lua.name(...)`` is ``client.script("name", ...)``: server-side functions as attributes."""

    __slots__ = ("_client",)

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # copy, pickle and friends probe dunder names
        run = self._client._run_script

        def run_script(*args: Any, **kwargs: Any) -> Any:
            return run(name, *args, **kwargs)

        run_script.__name__ = name
        return run_script

    def __repr__(self) -> str:
        return f"<ScriptRunner for {self._client!r}>"


class ClientBase:
    """What the blocking and the asyncio clients share: the address checks, the serializer lookup,
    the retry policy and ``lua``."""

    host: str
    port: int
    timeout: float | None

    def _init_address(self, host: str, port: int, timeout: float | None, retry: RetryPolicy | int | None) -> None:
        if not isinstance(host, str):
            raise InvalidTypeError(f"host must be a str, not {type(host).__name__}")
        try:
            host.encode("utf-8")  # it goes into requests (KT's Host header)
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"host cannot be encoded as UTF-8: {exc}") from None
        if type(port) is not int:
            raise InvalidTypeError(f"port must be an int, not {type(port).__name__}")
        if not 0 < port < 65536:
            raise InvalidArgumentError(f"port must be in 1..65535, got {port!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
            raise InvalidTypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
        self.host = host
        self.port = port
        self.timeout = timeout
        self._retry = retry_policy(retry)

    def _init_serializer(self, spec: Any, lookup: Callable[[Any], Any]) -> Any:
        """``lookup(spec)`` (kt_serializers.get_serializer), its errors raised as the client's own: an unknown
        name or a missing optional package is ImproperlyConfigured, anything but a serializer InvalidTypeError."""
        try:
            return lookup(spec)
        except (LookupError, ImportError) as exc:
            raise ImproperlyConfigured(str(exc)) from exc
        except TypeError as exc:
            raise InvalidTypeError(str(exc)) from exc

    def _run_script(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """What ``lua.name(*args, **kwargs)`` runs: ``script(name, ...)``."""
        return self.script(name, *args, **kwargs)  # type: ignore[attr-defined]

    @property
    def lua(self) -> ScriptRunner:
        """The server's script functions as methods: ``client.lua.myfunc(key="x")`` runs ``script("myfunc", ...)``
        (awaitable on an asyncio client)."""
        return ScriptRunner(self)


class PooledClient(ClientBase, SyncRunner):
    """Base of the blocking clients: ``pool`` (a :class:`ConnectionPool`), one connection per thread.

    Runs the clients' commands (kt_core.command) on the calling thread's connection.
    """

    pool: ConnectionPool

    def _init_connections(self, host: str, port: int, timeout: float | None,
                          connection_pool: ConnectionPool | None = None, retry: RetryPolicy | int | None = None,
                          max_connections: int | None = None) -> None:
        self._init_address(host, port, timeout, retry)
        self.pool = connection_pool or ConnectionPool(host, port, timeout=timeout, max_connections=max_connections)
        self._conns = ThreadConnections(self.pool)

    def _run(self, steps: Steps[T]) -> T:
        """Drive a command to its value: each operation on this thread's connection (or the one it names)."""
        send = steps.send
        try:
            op = send(None)
            while True:
                try:
                    if type(op) is Call and op.on is None and not self._retry.retries:
                        # The common case, inline: one request on this thread's connection (a call
                        # without *args when there are none: a single-key request's is measurably cheaper).
                        if op.args:
                            result = self._conns.get().request(op.data, op.read, *op.args)
                        else:
                            result = self._conns.get().request(op.data, op.read)
                    else:
                        result = self._perform(op)
                except BaseException as exc:
                    op = steps.throw(exc)
                else:
                    op = send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return,unused-ignore]

    def _run_iter(self, steps: Steps[Any]) -> Iterator[Any]:
        """Drive an iterator command, giving its :class:`Items` to the caller as they come."""
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
                    yield from op.items
                    continue
                try:
                    result = self._perform(op)
                except BaseException as exc:
                    error = exc
        finally:
            steps.close()  # a caller that stopped early: the command cleans up without a round trip

    def _perform(self, op: Any) -> Any:
        kind = type(op)
        if kind is Call:
            conn = op.on
            if conn is None:
                if self._retry.retries and op.operation is not None:
                    conns = self._conns
                    return self._retry.call(op.operation, lambda: conns.get().request(op.data, op.read, *op.args))
                conn = self._conns.get()
            return conn.request(op.data, op.read, *op.args)
        if kind is ReadMany:
            return (op.on or self._conns.get()).read_many(op.reads)
        if kind is Read:
            return (op.on or self._conns.get()).read(op.read, *op.args)
        if kind is Send:
            return (op.on or self._conns.get()).send(op.data)
        if kind is Acquire:
            if op.fresh:
                return Connection(self.host, self.port, timeout=op.timeout, connect_timeout=self.timeout)
            return self.pool.acquire()
        if kind is Close:
            return (op.on or self._conns.get()).close()
        raise TypeError(f"a command yielded {op!r}, which is not an operation")

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def checkin(self) -> None:
        """Return the calling thread's connection to the pool for re-use."""
        self._conns.checkin()

    def close(self) -> None:
        """Close the calling thread's connection and every idle pooled one; the client stays usable."""
        self._conns.close()

    def close_idle(self, n: float = 60) -> int:
        """Close the pooled connections idle for ``n`` seconds or more; the number closed."""
        return self.pool.close_idle(n)
