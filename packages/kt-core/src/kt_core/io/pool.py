"""A thread-safe, bounded, fork-safe pool of connections, and the per-thread binding clients use.

Clients hold one connection per thread (:class:`ThreadConnections`): every request of a thread
runs on a connection no other thread is using, and ``checkin()`` hands it back to the pool.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from ..errors import InvalidArgumentError, KtTimeoutError
from .connection import DEFAULT_MAX_RESPONSE_SIZE, Connection, _check_timeout, _forks

__all__ = ["ConnectionPool", "ThreadConnections", "check_pool_options"]

# Pools alive in this process, so a child after fork() can forget its parent's sockets.
_POOLS: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _reset_pools_after_fork() -> None:
    for pool in list(_POOLS):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pools_after_fork)


def check_pool_options(timeout: float | None, connect_timeout: float | None, max_idle: int,
                       max_connections: int | None, max_idle_time: float, wait_timeout: float | None) -> None:
    """The checks both pools (blocking and asyncio) make of their options, before anything connects."""
    if max_connections is not None and (isinstance(max_connections, bool) or not isinstance(max_connections, int)
                                        or max_connections < 1):
        raise InvalidArgumentError(f"max_connections must be an int >= 1 or None, not {max_connections!r}")
    if isinstance(max_idle, bool) or not isinstance(max_idle, int) or max_idle < 0:
        raise InvalidArgumentError(f"max_idle must be an int >= 0, not {max_idle!r}")
    if wait_timeout is not None and (isinstance(wait_timeout, bool) or not isinstance(wait_timeout, (int, float))
                                     or wait_timeout < 0):
        raise InvalidArgumentError(f"wait_timeout must be a number of seconds >= 0 or None, not {wait_timeout!r}")
    if isinstance(max_idle_time, bool) or not isinstance(max_idle_time, (int, float)) or max_idle_time < 0:
        raise InvalidArgumentError(f"max_idle_time must be a number of seconds >= 0, not {max_idle_time!r}")
    _check_timeout("timeout", timeout)
    _check_timeout("connect_timeout", connect_timeout)


class ConnectionPool:
    """Connections to one server.

    - ``max_idle``: idle connections kept for reuse (more are closed on return).
    - ``max_connections``: connections open at once (``None``: no limit); ``acquire`` waits up
      to ``wait_timeout`` seconds for one to come back, then raises :class:`KtTimeoutError`.
    - ``max_idle_time``: an idle connection older than this (seconds) is closed, not reused.
      Kyoto Tycoon closes idle connections after its own timeout (30 s by default).

    Connections that failed are closed by :class:`Connection` itself and never return to the
    idle list. After ``fork()`` the child starts with an empty pool: sockets shared with the
    parent are never used by both.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1978,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        max_idle: int = 32,
        max_connections: int | None = None,
        max_idle_time: float = 25.0,
        wait_timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
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
        self._pid = os.getpid()
        # RLock: a thread's holder may be finalized (and release its connection) while that
        # same thread is inside the pool.
        self._cond = threading.Condition(threading.RLock())
        self._idle: list[Connection] = []
        self._in_use = 0
        self._generation = 0
        _POOLS.add(self)

    def __repr__(self) -> str:
        return f"<ConnectionPool {self.host}:{self.port} idle={len(self._idle)} in_use={self._in_use}>"

    @property
    def idle_count(self) -> int:
        """Idle connections kept for reuse."""
        return len(self._idle)

    @property
    def in_use_count(self) -> int:
        """Connections handed out and not yet released."""
        return self._in_use

    def acquire(self) -> Connection:
        """Take an idle connection that still looks healthy, or a new (not yet connected) one.

        With ``max_connections`` reached, waits up to ``wait_timeout`` seconds for a release,
        then raises :class:`KtTimeoutError`.
        """
        if os.getpid() != self._pid:
            self._after_fork()
        deadline = None if self.wait_timeout is None else time.monotonic() + self.wait_timeout
        while True:
            with self._cond:
                while not self._idle and self.max_connections is not None and self._in_use >= self.max_connections:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise KtTimeoutError(
                            f"no connection to {self.host}:{self.port} became free within {self.wait_timeout}s "
                            f"(max_connections={self.max_connections})")
                    self._cond.wait(remaining)
                self._in_use += 1
                epoch = (self._pid, self._generation)
                conn = self._idle.pop() if self._idle else None
                if conn is None:
                    conn = Connection(self.host, self.port, self.timeout, self.connect_timeout, self.max_response_size)
                    conn._pool_epoch = epoch
                    return conn
                conn._pool_idle = False
            # Health checks run outside the lock: they make a system call.
            if time.monotonic() - conn.last_used > self.max_idle_time or conn.is_stale():
                conn.close()
                with self._cond:
                    self._in_use -= 1
                    self._cond.notify()
                continue
            return conn

    def release(self, conn: Connection) -> None:
        """Return a connection. Closed, failed, foreign (other process) or outdated ones are dropped."""
        if os.getpid() != self._pid:
            self._after_fork()
        keep = False
        with self._cond:
            if conn._pool_idle:
                return  # released twice: it is already idle here
            epoch = conn._pool_epoch
            conn._pool_epoch = None
            if epoch is not None and epoch[0] == self._pid:
                self._in_use = max(0, self._in_use - 1)
            if (epoch == (self._pid, self._generation) and not conn.closed and conn.pid == self._pid
                    and not conn.reader.pending and len(self._idle) < self.max_idle):
                conn._pool_epoch = epoch
                conn._pool_idle = True
                self._idle.append(conn)
                keep = True
            self._cond.notify()
        if not keep:
            # In a child after fork() this closes only the child's descriptor: the parent's socket stays open.
            conn.close()

    def close_idle(self, n: float = 60) -> int:
        """Close the idle connections unused for ``n`` seconds or more; the number closed."""
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n != n or n < 0:
            raise InvalidArgumentError(f"close_idle: n must be a number of seconds >= 0, not {n!r}")
        cutoff = time.monotonic() - n
        with self._cond:
            old = [c for c in self._idle if c.last_used <= cutoff]
            if not old:
                return 0
            self._idle = [c for c in self._idle if c.last_used > cutoff]
        for conn in old:
            conn._pool_idle = False
            conn._pool_epoch = None
            conn.close()
        return len(old)

    def close(self) -> None:
        """Close every idle connection; connections in use are closed when they come back."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn in idle:
            conn._pool_idle = False
            conn._pool_epoch = None
            conn.close()

    def _after_fork(self) -> None:
        # The child owns none of the parent's connections and none of its lock holders. Closing
        # the inherited descriptors is safe: close() without shutdown() leaves the parent's sockets open.
        self._cond = threading.Condition(threading.RLock())
        idle, self._idle = self._idle, []
        self._in_use = 0
        self._generation += 1
        self._pid = os.getpid()
        for conn in idle:
            conn._pool_idle = False
            conn._pool_epoch = None
            conn.close()


class _Holder:
    """The connection a thread holds; returned to the pool when the thread ends."""

    __slots__ = ("__weakref__", "conn", "pool")

    def __init__(self, pool: ConnectionPool, conn: Connection) -> None:
        self.pool = pool
        self.conn: Connection | None = conn

    def __del__(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                self.pool.release(conn)
            except Exception:  # interpreter shutdown: nothing left to return it to
                pass


class ThreadConnections:
    """Binds one pooled connection to each thread that uses a client."""

    # A connection unused this long is checked for staleness before its next request.
    STALE_CHECK_AFTER = 1.0

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._local = threading.local()

    def get(self) -> Connection:
        """The calling thread's connection, acquired from the pool on first use."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None and holder.conn is not None:
            conn = holder.conn
            # Fork detection by the at-fork counter (kt_core.io.connection._forks), not getpid(): this
            # runs on every request and getpid() is a system call.
            if conn._forks != _forks[0] or conn._pool_epoch is None or conn._pool_epoch[0] != conn.pid:
                # Inherited across fork(): the parent still uses this socket. Forget it (the
                # pool of the child does not count it) and take one of the child's own.
                holder.conn = None
                self._local.holder = None
                conn.close()
            else:
                if (conn.sock is not None and time.monotonic() - conn.last_used > self.STALE_CHECK_AFTER
                        and conn.is_stale()):
                    conn.close()  # reconnects on its next request
                return conn
        conn = self.pool.acquire()
        self._local.holder = _Holder(self.pool, conn)
        return conn

    def checkin(self) -> None:
        """Return the calling thread's connection to the pool."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            return
        self._local.holder = None
        conn, holder.conn = holder.conn, None
        if conn is not None:
            self.pool.release(conn)

    def close(self) -> None:
        """Close the calling thread's connection and every idle one."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None:
            self._local.holder = None
            conn, holder.conn = holder.conn, None
            if conn is not None:
                conn.close()
                self.pool.release(conn)
        self.pool.close()

    def __getstate__(self) -> Any:
        raise TypeError("a client's connections cannot be pickled")
