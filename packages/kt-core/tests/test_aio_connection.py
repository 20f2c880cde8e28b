"""AsyncConnection and AsyncConnectionPool (kt_core.io.aio_connection) against the tiny TT test server.

Each test runs on the default event loop and on uvloop where it is installed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Coroutine
from typing import Any

import pytest
from kt_core.codec import kyoto_binary, tyrant
from kt_core.errors import (
    InvalidArgumentError,
    KtConnectionError,
    KtTimeoutError,
    ProtocolError,
    ResponseTooLargeError,
)
from kt_core.io.aio_connection import AsyncConnection, AsyncConnectionPool

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is an optional extra
    uvloop = None

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed"))]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Any:
    """``run(coroutine)`` on a fresh event loop of the parametrized kind."""
    def runner(coro: Coroutine[Any, Any, Any]) -> Any:
        loop = uvloop.new_event_loop() if request.param == "uvloop" else asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return runner


async def _get(conn: AsyncConnection, key: bytes) -> bytes:
    return (await conn.request(tyrant.encode_get(key), tyrant.read_get))[2]  # type: ignore[no-any-return]


def _silent(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
    pass


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_request_returns_the_readers_result_on_one_socket(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port, timeout=2)
        assert conn.closed
        assert await _get(conn, b"a") == b"a@1"
        assert await _get(conn, b"b") == b"b@1"
        assert not conn.closed
        conn.close()
        assert conn.closed

    run(main())
    assert server.accepted == 1


def test_one_write_per_request_and_pipelined_reads(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port, timeout=2)
        await conn.ensure_open()
        writes: list[int] = []
        transport = conn.transport
        assert transport is not None

        class Spy:  # uvloop's transports take no new attributes: stand in front of it
            def write(self, data: Any) -> None:
                writes.append(len(data))
                transport.write(data)  # type: ignore[union-attr]

            def __getattr__(self, name: str) -> Any:
                return getattr(transport, name)

        conn.transport = Spy()  # type: ignore[assignment]
        conn.send(tyrant.encode_get(b"a") + tyrant.encode_putnr(b"n", b"v") + tyrant.encode_get(b"b"))
        assert (await conn.read(tyrant.read_get))[2] == b"a@1"
        assert (await conn.read(tyrant.read_get))[2] == b"b@1"
        assert len(writes) == 1
        conn.close()

    run(main())
    assert [r.command for _, r in server.requests] == ["get", "putnr", "get"]


def test_tcp_nodelay_is_set(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port)
        await conn.connect()
        assert conn.transport is not None
        sock = conn.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        conn.close()

    run(main())


def test_bad_timeouts_are_rejected_up_front() -> None:
    for bad in (0, -1, "1", True):
        with pytest.raises(InvalidArgumentError):
            AsyncConnection("127.0.0.1", 1978, timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            AsyncConnectionPool("127.0.0.1", 1978, timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        AsyncConnectionPool(max_connections=0)
    with pytest.raises(InvalidArgumentError):
        AsyncConnectionPool(wait_timeout=-1)


def test_connection_refused_raises_connection_error(run: Any) -> None:
    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", _closed_port(), timeout=2)
        with pytest.raises(KtConnectionError, match="cannot connect"):
            await _get(conn, b"a")
        assert conn.closed

    run(main())


def test_read_timeout_raises_and_closes(make_server: Any, run: Any) -> None:
    server = make_server(_silent)

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(KtTimeoutError, match="timed out") as info:
            await _get(conn, b"a")
        assert isinstance(info.value, TimeoutError)
        assert 0.25 <= time.monotonic() - started < 2
        assert conn.closed

    run(main())


def test_a_late_reply_is_never_read_as_the_answer_to_the_next_request(make_server: Any, run: Any) -> None:
    def late_first(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        if request.fields["key"] == b"first":
            time.sleep(0.4)
        make_server.answer(sock, request, conn_id)

    server = make_server(late_first)

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port, timeout=0.2)
        with pytest.raises(KtTimeoutError):
            await _get(conn, b"first")
        assert conn.closed
        await asyncio.sleep(0.3)  # the late reply to "first" is on its way to the old socket
        assert await _get(conn, b"second") == b"second@2"
        assert await _get(conn, b"third") == b"third@2"
        conn.close()

    run(main())


def test_cancelling_mid_reply_closes_the_connection(make_server: Any, run: Any) -> None:
    def late(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        if request.fields["key"] == b"slow":
            time.sleep(0.3)
        make_server.answer(sock, request, conn_id)

    server = make_server(late)

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port, timeout=5)
        task = asyncio.ensure_future(_get(conn, b"slow"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert conn.closed
        await asyncio.sleep(0.4)
        assert await _get(conn, b"next") == b"next@2"
        conn.close()

    run(main())


def test_server_closing_mid_reply_raises_connection_error(make_server: Any, run: Any) -> None:
    def half(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        sock.sendall(tyrant.encode_data_reply(b"0123456789")[:7])
        sock.close()

    server = make_server(half)

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port, timeout=2)
        with pytest.raises(KtConnectionError) as info:
            await _get(conn, b"a")
        assert not isinstance(info.value, KtTimeoutError)
        assert conn.closed

    run(main())


def test_garbage_and_oversized_replies_raise_protocol_errors_and_close(make_server: Any, run: Any) -> None:
    def garbage(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        sock.sendall(b"\x00\x00\x00\x00garbage")

    bad = make_server(garbage)
    good = make_server()

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", bad.port, timeout=2)
        with pytest.raises(ProtocolError):
            await conn.request(tyrant.encode_get(b"a"), kyoto_binary.read_set_bulk)
        assert conn.closed
        small = AsyncConnection("127.0.0.1", good.port, timeout=2, max_response_size=16)
        with pytest.raises(ResponseTooLargeError):
            await _get(small, b"k" * 64)
        assert small.closed

    run(main())


def test_unrequested_bytes_make_the_connection_stale(make_server: Any, run: Any) -> None:
    def extra(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        if request.fields["key"] == b"first":
            sock.sendall(tyrant.encode_data_reply(b"first") + tyrant.encode_data_reply(b"bogus"))
        else:
            make_server.answer(sock, request, conn_id)

    server = make_server(extra)

    async def main() -> None:
        conn = AsyncConnection("127.0.0.1", server.port, timeout=2)
        assert await _get(conn, b"first") == b"first"
        deadline = time.monotonic() + 2
        while not conn.is_stale() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert conn.is_stale()
        assert await _get(conn, b"second") == b"second@2"  # never "bogus": a new socket
        conn.close()

    run(main())


# ---- the pool -----------------------------------------------------------------------------------


def test_pool_reuses_a_released_connection(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        pool = AsyncConnectionPool("127.0.0.1", server.port, timeout=2)
        conn = await pool.acquire()
        assert await _get(conn, b"a") == b"a@1"
        pool.release(conn)
        assert pool.idle_count == 1 and pool.in_use_count == 0
        again = await pool.acquire()
        assert again is conn
        pool.release(again)
        pool.close()
        assert pool.idle_count == 0

    run(main())


def test_pool_drops_a_closed_connection(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        pool = AsyncConnectionPool("127.0.0.1", server.port, timeout=2)
        conn = await pool.acquire()
        await _get(conn, b"a")
        conn.close()
        pool.release(conn)
        assert pool.idle_count == 0 and pool.in_use_count == 0

    run(main())


def test_pool_bounds_connections_and_waiters_queue(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        pool = AsyncConnectionPool("127.0.0.1", server.port, timeout=2, max_connections=3)
        most = 0

        async def one(i: int) -> bytes:
            nonlocal most
            conn = await pool.acquire()
            most = max(most, pool.in_use_count)
            try:
                return await _get(conn, b"k%d" % i)
            finally:
                pool.release(conn)

        replies = await asyncio.gather(*(one(i) for i in range(300)))
        assert [r.split(b"@")[0] for r in replies] == [b"k%d" % i for i in range(300)]
        assert most == 3
        pool.close()

    run(main())
    assert server.accepted <= 3


def test_pool_wait_timeout_names_the_limit(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        pool = AsyncConnectionPool("127.0.0.1", server.port, max_connections=1, wait_timeout=0.1)
        held = await pool.acquire()
        await _get(held, b"a")
        with pytest.raises(KtTimeoutError, match=r"max_connections=1"):
            await pool.acquire()
        pool.release(held)
        assert await pool.acquire() is held  # the freed one goes to the next taker

    run(main())


def test_a_cancelled_waiter_passes_its_wake_up_on(make_server: Any, run: Any) -> None:
    server = make_server()

    async def main() -> None:
        pool = AsyncConnectionPool("127.0.0.1", server.port, max_connections=1)
        held = await pool.acquire()
        await _get(held, b"a")
        first = asyncio.ensure_future(pool.acquire())
        second = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        pool.release(held)  # wakes `first` ...
        first.cancel()  # ... which is cancelled before it runs
        got = await asyncio.wait_for(second, 2)
        assert got is held
        pool.release(got)

    run(main())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_pool_in_a_fork_child_never_hands_out_the_parents_connections(make_server: Any) -> None:
    server = make_server()
    loop = asyncio.new_event_loop()
    pool = AsyncConnectionPool("127.0.0.1", server.port, timeout=2)

    async def parent_idle() -> AsyncConnection:
        conn = await pool.acquire()
        assert await _get(conn, b"p1") == b"p1@1"
        pool.release(conn)
        return conn

    idle = loop.run_until_complete(parent_idle())
    assert pool.idle_count == 1
    pid = os.fork()
    if pid == 0:  # child: a loop of its own; report through the exit status only
        status = 1
        try:
            child_loop = asyncio.new_event_loop()

            async def child() -> int:
                conn = pool.try_acquire()
                if conn is None or conn is idle:
                    return 3
                value = await _get(conn, b"c")
                return 0 if value.startswith(b"c@") and value != b"c@1" else 4

            status = child_loop.run_until_complete(child())
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child failed at step {os.WEXITSTATUS(status)}"

    async def parent_again() -> AsyncConnection:
        conn = await pool.acquire()
        assert await _get(conn, b"p2") == b"p2@1"  # the parent's own socket, still in step
        pool.release(conn)
        return conn

    assert loop.run_until_complete(parent_again()) is idle
    pool.close()
    loop.close()
