"""Connection plumbing shared by the KyotoTycoon and TokyoTyrant clients.

Checks the address and timeout arguments (before anything connects), builds the pool and the
per-thread binding, holds the retry policy, and gives both clients the same ``checkin()``,
``close()``, ``close_idle()``, ``lua`` and context-manager behaviour.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .errors import ImproperlyConfigured, InvalidArgumentError, InvalidTypeError
from .pool import ConnectionPool, ThreadConnections
from .retry import RetryPolicy, retry_policy

__all__ = ["PooledClient", "ScriptRunner", "parse_server_url"]

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


class PooledClient:
    """Base of the clients: ``pool`` (a :class:`ConnectionPool`), one connection per thread."""

    host: str
    port: int
    timeout: float | None
    pool: ConnectionPool

    def _init_connections(self, host: str, port: int, timeout: float | None,
                          connection_pool: ConnectionPool | None = None, retry: RetryPolicy | int | None = None,
                          max_connections: int | None = None) -> None:
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
        self.pool = connection_pool or ConnectionPool(host, port, timeout=timeout, max_connections=max_connections)
        self._conns = ThreadConnections(self.pool)
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

    def _run_script(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """What ``lua.name(*args, **kwargs)`` runs: ``script(name, ...)``."""
        return self.script(name, *args, **kwargs)  # type: ignore[attr-defined]

    @property
    def lua(self) -> ScriptRunner:
        """The server's script functions as methods: ``client.lua.myfunc(key="x")`` runs ``script("myfunc", ...)``."""
        return ScriptRunner(self)
