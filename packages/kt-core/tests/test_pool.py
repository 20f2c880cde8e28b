"""kt_core.io.pool (ConnectionPool, ThreadConnections) against the small local socket servers of conftest.py."""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from typing import Any, Callable

import pytest
from kt_core.codec import tyrant
from kt_core.errors import InvalidArgumentError, KtTimeoutError
from kt_core.io.connection import Connection
from kt_core.io.pool import ConnectionPool, ThreadConnections

# make_server (a tiny Tokyo Tyrant speaking server) comes from conftest.py.


def _get(conn: Connection, key: bytes) -> bytes:
    _next_pos, code, value = conn.request(tyrant.encode_get(key), tyrant.read_get)
    assert code == 0
    return value


def _wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ---- ConnectionPool -----------------------------------------------------------------------------


def test_pool_reuses_an_idle_connection(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    conn = pool.acquire()
    assert _get(conn, b"a") == b"a@1"
    pool.release(conn)
    assert (pool.idle_count, pool.in_use_count) == (1, 0)
    again = pool.acquire()
    assert again is conn
    assert _get(again, b"b") == b"b@1"
    assert server.accepted == 1
    pool.release(again)
    pool.close()
    assert conn.closed and pool.idle_count == 0


def test_releasing_twice_does_not_hand_one_connection_to_two_users(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    conn = pool.acquire()
    _get(conn, b"a")
    pool.release(conn)
    pool.release(conn)
    assert pool.idle_count == 1
    first, second = pool.acquire(), pool.acquire()
    assert first is not second
    pool.close()


def test_max_idle_is_respected(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2, max_idle=2)
    conns = [pool.acquire() for _ in range(3)]
    for i, conn in enumerate(conns):
        _get(conn, b"%d" % i)
    for conn in conns:
        pool.release(conn)
    assert pool.idle_count == 2
    assert [c.closed for c in conns] == [False, False, True]
    pool.close()


def test_closed_connections_are_not_kept(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    conn = pool.acquire()
    _get(conn, b"a")
    conn.close()  # e.g. after a timeout
    pool.release(conn)
    assert pool.idle_count == 0 and pool.in_use_count == 0
    pool.close()


def test_max_connections_blocks_then_times_out(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2, max_connections=2, wait_timeout=0.3)
    a, b = pool.acquire(), pool.acquire()
    _get(a, b"a")
    started = time.monotonic()
    with pytest.raises(KtTimeoutError):
        pool.acquire()
    assert 0.25 <= time.monotonic() - started < 1.0
    # A release while a caller waits hands it the connection.
    threading.Timer(0.1, pool.release, args=(a,)).start()
    started = time.monotonic()
    assert pool.acquire() is a
    assert time.monotonic() - started < 0.3
    pool.release(a)
    pool.release(b)
    pool.close()


def test_idle_connection_older_than_max_idle_time_is_not_reused(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2, max_idle_time=0.1)
    conn = pool.acquire()
    _get(conn, b"a")
    pool.release(conn)
    time.sleep(0.2)
    fresh = pool.acquire()
    assert fresh is not conn
    assert conn.closed
    assert _get(fresh, b"b") == b"b@2"
    pool.release(fresh)
    pool.close()


def test_close_idle_closes_only_connections_idle_for_n_seconds(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    old, recent, busy = pool.acquire(), pool.acquire(), pool.acquire()
    for conn, key in ((old, b"a"), (recent, b"b"), (busy, b"c")):
        _get(conn, key)
    pool.release(old)
    time.sleep(0.3)
    _get(recent, b"d")
    pool.release(recent)
    assert pool.close_idle(0.2) == 1  # only `old` has been idle that long; `busy` is in use
    assert old.closed and not recent.closed and not busy.closed
    assert pool.idle_count == 1 and pool.in_use_count == 1
    assert pool.acquire() is recent
    assert pool.close_idle() == 0  # the default: 60 seconds
    with pytest.raises(InvalidArgumentError):
        pool.close_idle(-1)
    pool.release(recent)
    pool.release(busy)
    assert pool.close_idle(0) == 2
    assert pool.idle_count == 0


def test_client_close_idle_uses_its_pool(make_server: Any) -> None:
    from kt_core.io.pooled import PooledClient

    server = make_server()
    client = PooledClient()
    client._init_connections("127.0.0.1", server.port, 2)
    _get(client._conns.get(), b"a")
    client.checkin()
    assert client.pool.idle_count == 1
    assert client.close_idle(60) == 0
    assert client.close_idle(0) == 1
    assert client.pool.idle_count == 0


def test_stale_connection_closed_by_the_server_is_not_reused(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    conn = pool.acquire()
    _get(conn, b"a")
    pool.release(conn)
    with server._lock:
        server.conns[0].shutdown(socket.SHUT_RDWR)  # the server drops the idle connection
    assert _wait_until(conn.is_stale)
    fresh = pool.acquire()
    assert fresh is not conn
    assert conn.closed
    assert _get(fresh, b"b") == b"b@2"
    pool.release(fresh)
    pool.close()


def test_pool_rejects_bad_settings() -> None:
    with pytest.raises(InvalidArgumentError):
        ConnectionPool(max_connections=0)
    with pytest.raises(InvalidArgumentError):
        ConnectionPool(max_idle=-1)
    with pytest.raises(InvalidArgumentError):
        ConnectionPool(timeout=-1)


def test_sixteen_threads_never_share_a_connection(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=5, max_connections=4, wait_timeout=10)
    users: dict[int, int] = {}
    worst: list[int] = [0]
    seen: set[int] = set()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        try:
            for i in range(60):
                conn = pool.acquire()
                conn.connect()  # an unconnected connection would be dropped on release, not reused
                with lock:
                    users[id(conn)] = users.get(id(conn), 0) + 1
                    worst[0] = max(worst[0], users[id(conn)])
                    seen.add(id(conn))
                if i % 10 == 0:
                    key = b"t%d-%d" % (n, i)
                    assert _get(conn, key).startswith(key + b"@")
                else:
                    time.sleep(0)
                with lock:
                    users[id(conn)] -= 1
                pool.release(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert worst[0] == 1
    assert pool.in_use_count == 0
    assert pool.idle_count <= 4
    assert server.accepted <= 4
    pool.close()


# ---- ThreadConnections --------------------------------------------------------------------------


def test_each_thread_gets_its_own_connection(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    tc = ThreadConnections(pool)
    barrier = threading.Barrier(4)
    got: dict[int, Connection] = {}

    def use(n: int) -> None:
        conn = tc.get()
        assert tc.get() is conn  # stable within a thread
        _get(conn, b"x")
        got[n] = conn
        barrier.wait()  # all four hold theirs at once
        tc.checkin()

    threads = [threading.Thread(target=use, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in got.values()}) == 4
    assert pool.idle_count == 4 and pool.in_use_count == 0
    tc.close()


def test_checkin_returns_the_connection_for_reuse(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    tc = ThreadConnections(pool)
    conn = tc.get()
    assert _get(conn, b"a") == b"a@1"
    tc.checkin()
    assert pool.idle_count == 1 and pool.in_use_count == 0
    assert not conn.closed
    tc.checkin()  # nothing held: no-op
    assert pool.idle_count == 1
    assert tc.get() is conn
    assert _get(conn, b"b") == b"b@1"
    tc.close()


def test_close_closes_the_connection_and_the_client_stays_usable(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    tc = ThreadConnections(pool)
    conn = tc.get()
    _get(conn, b"a")
    tc.close()
    assert conn.closed
    assert pool.idle_count == 0 and pool.in_use_count == 0
    assert _wait_until(lambda: server.accepted == 1 and not _server_side_open(server, 0))
    fresh = tc.get()
    assert _get(fresh, b"b") == b"b@2"
    tc.close()


def _server_side_open(server: Any, index: int) -> bool:
    sock = server.conns[index]
    return sock.fileno() != -1


def test_thread_ending_without_checkin_returns_its_connection(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    tc = ThreadConnections(pool)
    held: list[Connection] = []

    def use() -> None:
        conn = tc.get()
        _get(conn, b"a")
        held.append(conn)

    t = threading.Thread(target=use)
    t.start()
    t.join()
    gc.collect()
    assert _wait_until(lambda: pool.idle_count == 1)
    assert pool.in_use_count == 0
    assert tc.get() is held[0]
    tc.close()


def test_a_stale_held_connection_is_replaced_on_get(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    tc = ThreadConnections(pool)
    tc.STALE_CHECK_AFTER = 0.0  # type: ignore[misc]
    conn = tc.get()
    _get(conn, b"a")
    with server._lock:
        server.conns[0].shutdown(socket.SHUT_RDWR)
    assert _wait_until(conn.is_stale)
    time.sleep(0.01)
    assert _get(tc.get(), b"b") == b"b@2"
    tc.close()


# ---- fork ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_never_uses_the_parents_sockets(make_server: Any) -> None:
    server = make_server()
    pool = ConnectionPool("127.0.0.1", server.port, timeout=2)
    tc = ThreadConnections(pool)
    held = tc.get()  # the parent thread's connection
    assert _get(held, b"p1") == b"p1@1"
    idle = pool.acquire()
    assert _get(idle, b"p2") == b"p2@2"
    pool.release(idle)
    assert pool.idle_count == 1

    pid = os.fork()
    if pid == 0:  # child: report through the exit status only
        status = 1
        try:
            status = 2
            mine = tc.get()
            if mine is held:
                os._exit(3)
            status = 4
            value = _get(mine, b"c")
            if not value.startswith(b"c@") or value in (b"c@1", b"c@2"):
                os._exit(5)
            status = 6
            other = pool.acquire()
            if other is idle or other is mine:
                os._exit(7)
            status = 8
            value = _get(other, b"d")
            if value in (b"d@1", b"d@2"):
                os._exit(9)
            os._exit(0)
        except BaseException:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child failed at step {os.WEXITSTATUS(status)}"
    # The parent's connections kept working, on their original sockets.
    assert _get(held, b"p3") == b"p3@1"
    again = pool.acquire()
    assert again is idle
    assert _get(again, b"p4") == b"p4@2"
    assert server.accepted == 4
    pool.release(again)
    tc.close()
