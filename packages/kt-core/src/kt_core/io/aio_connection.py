"""An asyncio connection and a bounded asyncio pool, on the codec's sans-I/O readers.

The connection is a :class:`asyncio.BufferedProtocol`: the event loop receives straight into the
reader's buffer (``get_buffer``/``buffer_updated`` are the reader's ``get_buffer``/``commit``), and
the reply is parsed as its bytes arrive, so a request costs one ``write`` and one wake-up of the
waiting task when the reply comes whole.

A request that fails, times out or is cancelled before its whole reply arrived closes the
connection: the rest of that reply may still come, and must never be read as the answer to a later
request. The pool drops closed connections instead of reusing them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from typing import Any, Callable

from ..codec.reader import DEFAULT_MAX_RESPONSE_SIZE, NEED_MORE, Reader
from ..errors import InvalidArgumentError, KtConnectionError, KtTimeoutError
from .connection import _check_timeout, _forks
from .pool import check_pool_options

__all__ = ["AsyncConnection", "AsyncConnectionPool", "DEFAULT_MAX_CONNECTIONS"]

_RECV_SIZE = 256 * 1024

#: An asyncio client's default bound on open connections: thousands of tasks share a few sockets.
DEFAULT_MAX_CONNECTIONS = 32


class _Protocol(asyncio.BufferedProtocol):
    __slots__ = ("conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.conn.reader.get_buffer(_RECV_SIZE)

    def buffer_updated(self, nbytes: int) -> None:
        conn = self.conn
        conn.reader.commit(nbytes)
        waiter = conn._waiter
        if waiter is not None and not waiter.done():
            conn._try_read(waiter)

    def eof_received(self) -> bool:
        self.conn._lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn._lost(exc)


class AsyncConnection:
    """One asyncio socket to one server, used by one task at a time (the pool sees to it).

    ``timeout`` bounds sending a request and receiving its whole reply (seconds; None waits
    forever); ``connect_timeout`` bounds connecting and defaults to ``timeout``. ``close()`` is a
    plain call, as on the blocking connection, so a command may close either kind.
    """

    def __init__(self, host: str, port: int, timeout: float | None = None, connect_timeout: float | None = None,
                 max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE) -> None:
        _check_timeout("timeout", timeout)
        _check_timeout("connect_timeout", connect_timeout)
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.reader = Reader(max_response_size)
        self.transport: asyncio.Transport | None = None
        self.pid = os.getpid()
        #: ``kt_core.io.connection._forks`` when the socket was opened: the per-request fork check.
        self._forks = _forks[0]
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_used = time.monotonic()
        self.requests = 0
        self._waiter: asyncio.Future[Any] | None = None
        self._read_fn: Callable[..., Any] | None = None
        self._read_args: tuple[Any, ...] = ()
        self._lost_error: BaseException | None = None
        self._pool_idle = False

    def __repr__(self) -> str:
        return f"<AsyncConnection {self.host}:{self.port} {'closed' if self.closed else 'open'}>"

    @property
    def closed(self) -> bool:
        return self.transport is None

    async def connect(self) -> None:
        """Open the socket (no-op when open). Raises KtTimeoutError / KtConnectionError."""
        if self.transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            connecting = loop.create_connection(lambda: _Protocol(self), self.host, self.port)
            if self.connect_timeout is None:
                transport, _ = await connecting
            else:
                transport, _ = await asyncio.wait_for(connecting, self.connect_timeout)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raise KtTimeoutError(
                f"timed out connecting to {self.host}:{self.port} (connect_timeout={self.connect_timeout}s)") from exc
        except OSError as exc:
            raise KtConnectionError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                # Requests are small and latency-bound: never wait for Nagle.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        self.reader.clear()
        self._lost_error = None
        self.transport = transport
        self._loop = loop
        self.pid = os.getpid()
        self._forks = _forks[0]

    def close(self) -> None:
        """Close the socket (no-op when closed); a waiting request fails with KtConnectionError."""
        transport, self.transport = self.transport, None
        self.reader.clear()
        if transport is not None:
            transport.abort()  # no lingering: unread replies must not be delivered anywhere
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(KtConnectionError(f"connection to {self.host}:{self.port} was closed"))

    def is_stale(self) -> bool:
        """True if an idle connection cannot be trusted: closed, closed by the server, in another
        process, or holding bytes nobody asked for."""
        transport = self.transport
        # The fork counter, not getpid(): this runs on every acquire and release.
        return (transport is None or transport.is_closing() or self._lost_error is not None
                or bool(self.reader._end) or self._forks != _forks[0])

    async def request(self, data: bytes, read_fn: Callable[..., Any], *args: Any) -> Any:
        """Send one request (one write) and return ``read_fn``'s result for its reply.

        Any failure, timeout or cancellation closes the connection.
        """
        transport = self.transport
        if transport is None or self.reader._end or self._forks != _forks[0]:
            # Unasked-for bytes, a lost socket, or one inherited across fork(): never answer from it.
            if transport is not None:
                self.close()
            await self.connect()
            transport = self.transport
            assert transport is not None
        loop = self._loop
        assert loop is not None
        waiter: asyncio.Future[Any] = loop.create_future()
        self._read_fn = read_fn
        self._read_args = args
        self._waiter = waiter
        timer = None
        try:
            transport.write(data)
            if self.timeout is not None:
                timer = loop.call_later(self.timeout, self._on_timeout, waiter)
            if self._lost_error is not None:
                self._fail(waiter)
            result = await waiter
        except BaseException:
            # Timed out, cut, bad bytes or cancelled mid-reply: this socket is out of step for good.
            self.close()
            raise
        finally:
            self._waiter = None
            self._read_fn = None
            if timer is not None:
                timer.cancel()
        self.last_used = time.monotonic()
        self.requests += 1
        return result

    def send(self, data: bytes) -> None:
        """Write a request without waiting for anything (the connection must be open: see :meth:`ensure_open`)."""
        transport = self.transport
        if transport is None:
            raise KtConnectionError(f"connection to {self.host}:{self.port} is closed")
        transport.write(data)
        self.requests += 1

    async def ensure_open(self) -> None:
        """Connect if closed; drop and reconnect a connection inherited across fork()."""
        if self.transport is not None and self.pid != os.getpid():
            self.close()
        await self.connect()

    async def read(self, read_fn: Callable[..., Any], *args: Any) -> Any:
        """Read one more reply (after :meth:`send` of pipelined requests)."""
        if self.transport is None:
            raise KtConnectionError(f"connection to {self.host}:{self.port} is closed; no reply to read")
        return await self._await_reply(read_fn, args)

    async def read_many(self, reads: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> tuple[list[Any],
                                                                                                Exception | None]:
        """Read one reply per ``(read_fn, args)``, in order: ``(replies, None)``, or the replies read
        before a failure and its error, the connection then closed (see :class:`~kt_core.command.ReadMany`).
        A cancellation closes the connection and propagates."""
        replies: list[Any] = []
        if self.transport is None:
            return replies, KtConnectionError(f"connection to {self.host}:{self.port} is closed; no reply to read")
        append = replies.append
        reader = self.reader
        try:
            for read_fn, args in reads:
                if reader.pending:
                    result = reader.read(read_fn, *args)  # most of a batch's replies are already buffered
                    if result is not NEED_MORE:
                        append(result)
                        continue
                append(await self._await_reply(read_fn, args))
        except Exception as exc:
            self.close()
            return replies, exc
        self.last_used = time.monotonic()
        return replies, None

    async def _await_reply(self, read_fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        self._read_fn = read_fn
        self._read_args = args
        self._waiter = waiter
        timer = None
        try:
            if self.reader.pending:
                self._try_read(waiter)  # pipelined replies may already be buffered
            if not waiter.done():
                if self._lost_error is not None or self.transport is None:
                    self._fail(waiter)
                elif self.timeout is not None:
                    timer = loop.call_later(self.timeout, self._on_timeout, waiter)
            result = await waiter
        except BaseException:
            # Timed out, cut, bad bytes or cancelled mid-reply: this socket is out of step for good.
            self.close()
            raise
        finally:
            self._waiter = None
            self._read_fn = None
            if timer is not None:
                timer.cancel()
        self.last_used = time.monotonic()
        self.requests += 1
        return result

    def _try_read(self, waiter: asyncio.Future[Any]) -> None:
        try:
            result = self.reader.read(self._read_fn, *self._read_args)  # type: ignore[arg-type]
        except BaseException as exc:
            waiter.set_exception(exc)
            return
        if result is not NEED_MORE:
            waiter.set_result(result)

    def _on_timeout(self, waiter: asyncio.Future[Any]) -> None:
        if not waiter.done():
            waiter.set_exception(
                KtTimeoutError(f"timed out waiting for {self.host}:{self.port} (timeout={self.timeout}s)"))

    def _fail(self, waiter: asyncio.Future[Any]) -> None:
        exc = self._lost_error
        if exc is None or isinstance(exc, _EOF):
            waiter.set_exception(KtConnectionError(
                f"{self.host}:{self.port} closed the connection before the reply was complete"))
        else:
            waiter.set_exception(KtConnectionError(f"connection to {self.host}:{self.port} failed: {exc}"))

    def _lost(self, exc: BaseException | None) -> None:
        if self._lost_error is None:
            self._lost_error = exc if exc is not None else _EOF()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._fail(waiter)


class _EOF(Exception):
    """The server closed its side."""


class AsyncConnectionPool:
    """Asyncio connections to one server, at most ``max_connections`` open at once.

    A task that finds them all in use waits, first come first served, up to ``wait_timeout`` seconds
    (None: forever) for one to come back, then gets :class:`KtTimeoutError`. ``max_idle`` and
    ``max_idle_time`` are as in the blocking :class:`~kt_core.io.pool.ConnectionPool`. Closed and
    failed connections are never reused.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1978, timeout: float | None = None,
                 connect_timeout: float | None = None, max_idle: int = DEFAULT_MAX_CONNECTIONS,
                 max_connections: int | None = DEFAULT_MAX_CONNECTIONS, max_idle_time: float = 25.0,
                 wait_timeout: float | None = None, max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE) -> None:
        check_pool_options(timeout, connect_timeout, max_idle, max_connections, max_idle_time, wait_timeout)
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.max_connections = max_connections
        self.max_idle_time = max_idle_time
        self.wait_timeout = wait_timeout
        self.max_response_size = max_response_size
        self._idle: list[AsyncConnection] = []
        self._in_use: set[AsyncConnection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._forks = _forks[0]

    def __repr__(self) -> str:
        return f"<AsyncConnectionPool {self.host}:{self.port} idle={len(self._idle)} in_use={len(self._in_use)}>"

    @property
    def idle_count(self) -> int:
        """Idle connections kept for reuse."""
        return len(self._idle)

    @property
    def in_use_count(self) -> int:
        """Connections handed out and not yet released."""
        return len(self._in_use)

    def _new(self) -> AsyncConnection:
        return AsyncConnection(self.host, self.port, self.timeout, self.connect_timeout, self.max_response_size)

    def try_acquire(self) -> AsyncConnection | None:
        """:meth:`acquire` without waiting: None when ``max_connections`` are in use (or others wait)."""
        if self._forks != _forks[0]:  # the fork counter, not getpid(): this runs on every call
            self._after_fork()
        if self._waiters:
            return None  # first come first served: the queued tasks go first
        idle = self._idle
        while idle:
            conn = idle.pop()
            conn._pool_idle = False
            if time.monotonic() - conn.last_used > self.max_idle_time or conn.is_stale():
                conn.close()
                continue
            self._in_use.add(conn)
            return conn
        limit = self.max_connections
        if limit is None or len(self._in_use) < limit:
            conn = self._new()
            self._in_use.add(conn)
            return conn
        return None

    async def acquire(self) -> AsyncConnection:
        """An idle connection that still looks healthy, or a new (not yet connected) one; waits, first
        come first served, while ``max_connections`` are in use."""
        while True:
            conn = self.try_acquire()
            if conn is not None:
                return conn
            await self._wait_for_release()
            conn = self._take_after_wake_up()
            if conn is not None:
                return conn

    def _take_after_wake_up(self) -> AsyncConnection | None:
        # A woken waiter goes before the ones still queued (try_acquire would defer to them).
        waiters, self._waiters = self._waiters, deque()
        try:
            return self.try_acquire()
        finally:
            waiters.extend(self._waiters)
            self._waiters = waiters

    async def _wait_for_release(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            if self.wait_timeout is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, self.wait_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise KtTimeoutError(
                f"no connection to {self.host}:{self.port} became free within {self.wait_timeout}s "
                f"(max_connections={self.max_connections})") from None
        except BaseException:
            # Cancelled after being woken: pass the wake-up on, or a free connection would go unclaimed.
            if waiter.done() and not waiter.cancelled():
                self._wake_one()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def release(self, conn: AsyncConnection) -> None:
        """Give a connection back (a plain call). Closed, failed or surplus ones are closed and dropped."""
        if conn._pool_idle:
            return  # released twice
        if conn not in self._in_use:
            conn.close()  # not ours (or from before a fork/close()): never pooled
            return
        self._in_use.discard(conn)
        if not conn.is_stale() and len(self._idle) < self.max_idle:
            conn._pool_idle = True
            self._idle.append(conn)
        else:
            conn.close()
        self._wake_one()

    def close_idle(self, n: float = 60) -> int:
        """Close the idle connections unused for ``n`` seconds or more; the number closed."""
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != n or n < 0:
            raise InvalidArgumentError(f"close_idle: n must be a number of seconds >= 0, not {n!r}")
        cutoff = time.monotonic() - n
        old = [c for c in self._idle if c.last_used <= cutoff]
        self._idle = [c for c in self._idle if c.last_used > cutoff]
        for conn in old:
            conn._pool_idle = False
            conn.close()
        return len(old)

    def close(self) -> None:
        """Close every idle connection; those in use are closed when they come back."""
        idle, self._idle = self._idle, []
        in_use, self._in_use = self._in_use, set()
        for conn in idle:
            conn._pool_idle = False
            conn.close()
        # In-use ones are no longer counted: release() closes them instead of pooling them.
        del in_use
        while self._waiters:
            self._wake_one()

    def _after_fork(self) -> None:
        # A child never uses the parent's sockets (nor its event loop): start empty.
        self._idle = []
        self._in_use = set()
        self._waiters = deque()
        self._forks = _forks[0]
