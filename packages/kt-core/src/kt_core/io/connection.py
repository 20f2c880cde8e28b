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
from typing import Any, Callable

from ..codec.reader import DEFAULT_MAX_RESPONSE_SIZE, NEED_MORE, Partial, Reader
from ..errors import InvalidArgumentError, KtConnectionError, KtTimeoutError

__all__ = ["Connection", "DEFAULT_MAX_RESPONSE_SIZE"]

_RECV_SIZE = 256 * 1024

#: fork() children seen by this process (``[count]``): bumped in every child by an at-fork hook, so a
#: connection compares one number per request instead of calling getpid(). Where fork hooks do not
#: exist (no fork either), it stays 0; the slower paths (is_stale, the pool) still compare pids.
_forks = [0]


def _count_fork() -> None:
    _forks[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_count_fork)


def _check_timeout(name: str, value: float | None) -> None:
    # 0 would make the socket non-blocking, which this blocking connection cannot handle.
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
        raise InvalidArgumentError(f"{name} must be a positive number of seconds or None, not {value!r}")


class Connection:
    """One socket to one server, owned by one thread at a time.

    ``timeout`` bounds sending a request and waiting for its whole reply (seconds; ``None``
    waits forever). ``connect_timeout`` bounds connecting and defaults to ``timeout``. The
    socket is opened lazily by the first request, or by :meth:`connect`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        _check_timeout("timeout", timeout)
        _check_timeout("connect_timeout", connect_timeout)
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.reader = Reader(max_response_size)
        self.sock: socket.socket | None = None
        #: The process that opened the socket: after fork() the child must not use it.
        self.pid = os.getpid()
        #: ``_forks[0]`` when the socket was opened: the per-request fork check without a getpid() system call.
        self._forks = _forks[0]
        self.last_used = time.monotonic()
        self.requests = 0
        # Pool bookkeeping (see kt_core.io.pool): which pool epoch counted it, and whether it is idle there.
        self._pool_epoch: tuple[int, int] | None = None
        self._pool_idle = False

    def __repr__(self) -> str:
        state = "open" if self.sock is not None else "closed"
        return f"<Connection {self.host}:{self.port} {state}>"

    @property
    def closed(self) -> bool:
        return self.sock is None

    def connect(self) -> None:
        """Open the socket (no-op when open). Raises KtTimeoutError / KtConnectionError."""
        if self.sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
        except socket.timeout as exc:
            raise KtTimeoutError(
                f"timed out connecting to {self.host}:{self.port} (connect_timeout={self.connect_timeout}s)") from exc
        except OSError as exc:
            raise KtConnectionError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        try:
            # Requests are small and latency-bound: never wait for Nagle.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
        except OSError as exc:
            sock.close()
            raise KtConnectionError(f"cannot set up the socket to {self.host}:{self.port}: {exc}") from exc
        self.sock = sock
        self.pid = os.getpid()
        self._forks = _forks[0]
        self.reader.clear()

    def close(self) -> None:
        """Close the socket (no-op when closed). The next request reconnects."""
        sock, self.sock = self.sock, None
        self.reader.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def is_stale(self) -> bool:
        """True if an idle connection cannot be trusted: it is closed, the server closed it, or
        bytes arrived that nobody asked for. Checked before an idle connection is reused."""
        sock = self.sock
        if sock is None or self.pid != os.getpid():
            return True
        if self.reader.pending:
            return True
        try:
            if _poll is not None:
                # poll, not select: select fails on descriptors >= FD_SETSIZE.
                p = _poll()
                p.register(sock, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
                return bool(p.poll(0))
            readable, _, errored = select.select([sock], [], [sock], 0)
        except (OSError, ValueError):
            return True
        # An idle socket that is readable has either hit EOF or holds unexpected bytes.
        return bool(readable or errored)

    def request(self, data: bytes, read_fn: Callable[..., Any], *args: Any) -> Any:
        """Send one request (one ``sendall``) and return ``read_fn``'s complete result.

        Any failure closes the connection: KtTimeoutError, KtConnectionError, or the
        ProtocolError raised by ``read_fn``.
        """
        sock = self.sock
        reader = self.reader
        if sock is None or reader._end or self._forks != _forks[0]:
            # ``_end`` is 0 exactly when the reader is empty and at its front (Reader.read rewinds it).
            # Unasked-for bytes, or a socket inherited across fork(): never answer a new request from it.
            if sock is not None and (reader.pending or self._forks != _forks[0] or self.pid != os.getpid()):
                self.close()
            if self.sock is None:
                self.connect()
            sock = self.sock
            assert sock is not None
        try:
            sock.sendall(data)
            timeout = self.timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            # Fast path: one recv_into straight into the empty reader's buffer and one scan; most
            # replies arrive whole. Anything else continues in the general loop with the bytes kept.
            view = reader._view
            n = sock.recv_into(view)
            if n == 0:
                raise KtConnectionError(
                    f"{self.host}:{self.port} closed the connection before the reply was complete")
            result = read_fn(view, 0, n, reader.max_response_size, *args)
            del view
            if type(result) is int:
                if result <= n:
                    raise AssertionError(f"reader function {read_fn!r} returned need={result} <= end={n}")
                reader._end = n
                reader._need = result
                result = self._read(sock, read_fn, args, deadline)
            elif type(result) is Partial:
                # A large reply: its first records are decoded, the rest continues in the general loop.
                reader.take_partial(result, n)
                result = self._read(sock, read_fn, args, deadline)
            elif result[0] != n:
                # Bytes past the reply: kept as pending, so the next request drops this connection.
                reader._start = result[0]
                reader._end = n
        except BaseException as exc:
            self.close()
            error = self._translate(exc)
            if error is None:
                raise
            raise error from exc
        self.last_used = time.monotonic()
        self.requests += 1
        return result

    def send(self, data: bytes) -> None:
        """Send a request that has no reply (TT putnr), or a batch whose replies :meth:`read` takes."""
        if self.sock is not None and (self._forks != _forks[0] or self.pid != os.getpid()):
            self.close()
        if self.sock is None:
            self.connect()
        sock = self.sock
        assert sock is not None
        try:
            sock.sendall(data)
        except BaseException as exc:
            self.close()
            error = self._translate(exc)
            if error is None:
                raise
            raise error from exc
        self.last_used = time.monotonic()
        self.requests += 1

    def read(self, read_fn: Callable[..., Any], *args: Any) -> Any:
        """Read one more reply (after :meth:`send` of pipelined requests)."""
        sock = self.sock
        if sock is None:
            raise KtConnectionError(f"connection to {self.host}:{self.port} is closed; no reply to read")
        try:
            timeout = self.timeout
            result = self._read(sock, read_fn, args, None if timeout is None else time.monotonic() + timeout)
        except BaseException as exc:
            self.close()
            error = self._translate(exc)
            if error is None:
                raise
            raise error from exc
        self.last_used = time.monotonic()
        return result

    def read_many(self, reads: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> tuple[list[Any], Exception | None]:
        """Read one reply per ``(read_fn, args)``, in order: ``(replies, None)``, or the replies read
        before a failure and its error, the connection then closed (see :class:`~kt_core.command.ReadMany`).
        Each reply has the connection's ``timeout`` to itself, as with :meth:`read`."""
        replies: list[Any] = []
        sock = self.sock
        if sock is None:
            return replies, KtConnectionError(f"connection to {self.host}:{self.port} is closed; no reply to read")
        append = replies.append
        reader = self.reader
        timeout = self.timeout
        try:
            for read_fn, args in reads:
                if reader.pending:
                    result = reader.read(read_fn, *args)  # most of a batch's replies are already buffered
                    if result is not NEED_MORE:
                        append(result)
                        continue
                append(self._read(sock, read_fn, args, None if timeout is None else time.monotonic() + timeout))
        except Exception as exc:
            self.close()
            return replies, self._translate(exc) or exc
        except BaseException:
            self.close()
            raise
        self.last_used = time.monotonic()
        return replies, None

    def _read(self, sock: socket.socket, read_fn: Callable[..., Any], args: tuple[Any, ...],
              deadline: float | None) -> Any:
        """Receive until ``read_fn`` returns a result; ``deadline`` (monotonic seconds, or None) bounds
        the whole reply: a server trickling bytes cannot stretch it."""
        reader = self.reader
        if reader.pending:
            # Pipelined replies, or the start of this one, may already be buffered.
            result = reader.read(read_fn, *args)
            if result is not NEED_MORE:
                return result
        timeout = self.timeout
        adjusted = False
        try:
            while True:
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise socket.timeout("timed out")
                    sock.settimeout(remaining)
                    adjusted = True
                buf = reader.get_buffer(_RECV_SIZE)
                try:
                    n = sock.recv_into(buf)
                finally:
                    del buf
                if n == 0:
                    raise KtConnectionError(
                        f"{self.host}:{self.port} closed the connection before the reply was complete")
                reader.commit(n)
                result = reader.read(read_fn, *args)
                if result is not NEED_MORE:
                    return result
        finally:
            if adjusted:
                try:
                    sock.settimeout(timeout)
                except OSError:
                    pass

    def _translate(self, exc: BaseException) -> KtConnectionError | None:
        """The kt exception for a socket error; None to re-raise ``exc`` unchanged.

        Callers use a bare ``raise``: keeping ``exc`` in a frame of its own traceback would make a
        reference cycle that holds the codec's buffer views until the garbage collector runs.
        """
        if isinstance(exc, KtConnectionError):
            return None
        if isinstance(exc, socket.timeout):
            return KtTimeoutError(f"timed out waiting for {self.host}:{self.port} (timeout={self.timeout}s)")
        if isinstance(exc, OSError):
            return KtConnectionError(f"connection to {self.host}:{self.port} failed: {exc}")
        return None


_poll: Callable[[], Any] | None = getattr(select, "poll", None)
