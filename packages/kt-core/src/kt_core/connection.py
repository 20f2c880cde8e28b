"""A blocking TCP connection that speaks through the sans-I/O codec.

One request costs one ``sendall`` and as few ``recv_into`` calls as the reply needs. Any error or
timeout in the middle of a request closes the connection: the reply (or its rest) may still be
on its way, and a connection that might deliver it as the answer to a later request must never
be used again.
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Any, Callable, NoReturn, TypeVar

from .errors import KtConnectionError, KtTimeoutError
from .reader import NEED_MORE, Reader

__all__ = ["Connection", "DEFAULT_MAX_RESPONSE_SIZE"]

T = TypeVar("T")

DEFAULT_MAX_RESPONSE_SIZE = 256 * 1024 * 1024
_RECV_SIZE = 256 * 1024


class Connection:
    """One socket to one server, owned by one thread at a time.

    ``timeout`` bounds connecting and each wait for reply bytes (seconds; ``None`` waits
    forever). ``connect_timeout`` defaults to ``timeout``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.reader = Reader(max_response_size)
        self.sock: socket.socket | None = None
        self.pid = os.getpid()
        self.last_used = time.monotonic()
        self.requests = 0

    def __repr__(self) -> str:
        state = "open" if self.sock is not None else "closed"
        return f"<Connection {self.host}:{self.port} {state}>"

    @property
    def closed(self) -> bool:
        return self.sock is None

    def connect(self) -> None:
        if self.sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
        except socket.timeout as exc:
            raise KtTimeoutError(f"timed out connecting to {self.host}:{self.port}") from exc
        except OSError as exc:
            raise KtConnectionError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        # Requests are small and latency-bound: never wait for Nagle.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.timeout)
        self.sock = sock
        self.pid = os.getpid()
        self.reader.clear()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self.reader.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def is_stale(self) -> bool:
        """True if an idle connection cannot be trusted: the server closed it, or bytes arrived
        that nobody asked for. Checked before an idle connection is reused."""
        sock = self.sock
        if sock is None:
            return True
        if self.reader.pending:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        # An idle socket that is readable has either hit EOF or holds unexpected bytes.
        return bool(readable)

    def request(self, data: bytes, read_fn: Callable[..., Any], *args: Any) -> Any:
        """Send one request and return the reader's decoded result."""
        if self.sock is None:
            self.connect()
        try:
            self.sock.sendall(data)  # type: ignore[union-attr]
            result = self._read(read_fn, args)
        except BaseException as exc:
            self.close()
            self._reraise(exc)
        self.last_used = time.monotonic()
        self.requests += 1
        return result

    def send(self, data: bytes) -> None:
        """Send a request that has no reply (TT putnr, KT no-reply flag)."""
        if self.sock is None:
            self.connect()
        try:
            self.sock.sendall(data)  # type: ignore[union-attr]
        except BaseException as exc:
            self.close()
            self._reraise(exc)
        self.last_used = time.monotonic()
        self.requests += 1

    def read(self, read_fn: Callable[..., Any], *args: Any) -> Any:
        """Read one more reply (after :meth:`send` of pipelined requests)."""
        if self.sock is None:
            raise KtConnectionError("connection is closed")
        try:
            return self._read(read_fn, args)
        except BaseException as exc:
            self.close()
            self._reraise(exc)

    def _read(self, read_fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        reader = self.reader
        sock = self.sock
        assert sock is not None
        while True:
            result = reader.read(read_fn, *args)
            if result is not NEED_MORE:
                return result
            buf = reader.get_buffer(_RECV_SIZE)
            n = sock.recv_into(buf)
            if n == 0:
                raise KtConnectionError(f"{self.host}:{self.port} closed the connection before the reply was complete")
            reader.commit(n)

    def _reraise(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, KtConnectionError):
            raise exc
        if isinstance(exc, socket.timeout):
            raise KtTimeoutError(f"timed out waiting for {self.host}:{self.port} (timeout={self.timeout}s)") from exc
        if isinstance(exc, OSError):
            raise KtConnectionError(f"connection to {self.host}:{self.port} failed: {exc}") from exc
        raise exc
