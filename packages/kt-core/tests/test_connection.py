"""kt_core.io.connection.Connection against the small local socket servers of conftest.py.

The servers speak Tokyo Tyrant framing through the real codec, so the connection is exercised with
real reader functions (``tyrant.read_get``, ``kyoto_binary.read_set_bulk``) and no KT/TT server.
"""

from __future__ import annotations

import socket
import time
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
from kt_core.io.connection import Connection

# make_server (a tiny Tokyo Tyrant speaking server) comes from conftest.py.


def _get(conn: Connection, key: bytes) -> bytes:
    _next_pos, code, value = conn.request(tyrant.encode_get(key), tyrant.read_get)
    assert code == 0
    return value


class _CountingSocket:
    """Wraps the connection's socket to count ``sendall``/``send`` calls (socket objects take no new attributes)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.sendall_calls: list[int] = []
        self.send_calls = 0

    def sendall(self, data: Any) -> None:
        self.sendall_calls.append(len(data))
        self._sock.sendall(data)

    def send(self, data: Any) -> int:
        self.send_calls += 1
        return self._sock.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _spy(conn: Connection) -> _CountingSocket:
    conn.connect()
    assert conn.sock is not None
    spy = _CountingSocket(conn.sock)
    conn.sock = spy  # type: ignore[assignment]
    return spy


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # never listened: connecting is refused
    return port


# ---- requests -----------------------------------------------------------------------------------


def test_request_returns_the_readers_result(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port, timeout=2)
    assert conn.closed
    assert _get(conn, b"a") == b"a@1"
    assert not conn.closed
    assert _get(conn, b"b") == b"b@1"  # same socket reused
    assert server.accepted == 1
    conn.close()
    assert conn.closed


def test_one_sendall_per_request_even_for_a_large_request(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port, timeout=5)
    spy = _spy(conn)
    big = b"x" * (3 * 1024 * 1024)
    assert conn.request(tyrant.encode_put(b"k", big), tyrant.read_put)[1] == 0
    assert _get(conn, b"a") == b"a@1"
    assert spy.sendall_calls == [len(tyrant.encode_put(b"k", big)), len(tyrant.encode_get(b"a"))]
    assert spy.send_calls == 0
    assert server.requests[0][1].fields["value"] == big
    conn.close()


def test_one_sendall_for_a_pipelined_batch_then_read_each_reply(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port, timeout=2)
    spy = _spy(conn)
    conn.send(tyrant.encode_get(b"a") + tyrant.encode_putnr(b"n", b"v") + tyrant.encode_get(b"b"))
    assert conn.read(tyrant.read_get)[2] == b"a@1"
    assert conn.read(tyrant.read_get)[2] == b"b@1"
    assert len(spy.sendall_calls) == 1
    assert [r.command for _, r in server.requests] == ["get", "putnr", "get"]
    conn.close()


def test_tcp_nodelay_is_set(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port)
    conn.connect()
    assert conn.sock is not None
    assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    conn.close()


def test_bad_timeouts_are_rejected_up_front() -> None:
    for bad in (0, -1, "1", True):
        with pytest.raises(InvalidArgumentError):
            Connection("127.0.0.1", 1, timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            Connection("127.0.0.1", 1, connect_timeout=bad)  # type: ignore[arg-type]


# ---- connecting ---------------------------------------------------------------------------------


def test_connection_refused_raises_promptly() -> None:
    conn = Connection("127.0.0.1", _closed_port(), timeout=5)
    started = time.monotonic()
    with pytest.raises(KtConnectionError) as info:
        _get(conn, b"a")
    assert not isinstance(info.value, KtTimeoutError)
    assert time.monotonic() - started < 1.0
    assert conn.closed


def test_connect_timeout_on_a_full_backlog() -> None:
    # A listener that never accepts: once its accept queue is full, the kernel drops further SYNs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.05)
        conn = Connection("127.0.0.1", port, timeout=5, connect_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(KtTimeoutError):
            conn.connect()
        assert 0.25 <= time.monotonic() - started < 1.5
        assert conn.closed
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# ---- failures mid-request close the connection --------------------------------------------------


def _silent(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
    pass  # accepts, reads, never replies


def test_read_timeout_raises_within_the_timeout_and_closes(make_server: Any) -> None:
    server = make_server(_silent)
    conn = Connection("127.0.0.1", server.port, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(KtTimeoutError) as info:
        _get(conn, b"a")
    elapsed = time.monotonic() - started
    assert isinstance(info.value, TimeoutError)
    assert 0.25 <= elapsed < 0.8
    assert conn.closed


def test_timeout_bounds_the_whole_reply_not_each_recv(make_server: Any) -> None:
    def trickle(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        for byte in tyrant.encode_data_reply(b"0123456789"):
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return
            time.sleep(0.1)  # each byte well within the timeout, the whole reply not

    server = make_server(trickle)
    conn = Connection("127.0.0.1", server.port, timeout=0.35)
    started = time.monotonic()
    with pytest.raises(KtTimeoutError):
        _get(conn, b"a")
    assert time.monotonic() - started < 0.8
    assert conn.closed


def test_a_late_reply_is_never_read_as_the_answer_to_the_next_request(make_server: Any) -> None:
    def late_first(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        if request.fields["key"] == b"first":
            time.sleep(0.4)
        make_server.answer(sock, request, conn_id)

    server = make_server(late_first)
    conn = Connection("127.0.0.1", server.port, timeout=0.2)
    with pytest.raises(KtTimeoutError):
        _get(conn, b"first")
    assert conn.closed
    time.sleep(0.3)  # the late reply to "first" is now on its way to the old socket
    assert _get(conn, b"second") == b"second@2"  # its own reply, on a new connection
    assert _get(conn, b"third") == b"third@2"
    conn.close()


def test_server_closing_mid_reply_raises_connection_error_and_closes(make_server: Any) -> None:
    def half(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        sock.sendall(tyrant.encode_data_reply(b"0123456789")[:7])
        sock.close()

    server = make_server(half)
    conn = Connection("127.0.0.1", server.port, timeout=2)
    with pytest.raises(KtConnectionError) as info:
        _get(conn, b"a")
    assert not isinstance(info.value, KtTimeoutError)
    assert conn.closed


def test_garbage_reply_raises_protocol_error_and_closes(make_server: Any) -> None:
    def garbage(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        sock.sendall(b"\x00\x00\x00\x00garbage")

    server = make_server(garbage)
    conn = Connection("127.0.0.1", server.port, timeout=2)
    with pytest.raises(ProtocolError):
        conn.request(tyrant.encode_get(b"a"), kyoto_binary.read_set_bulk)  # expects magic 0xB8
    assert conn.closed


def test_reply_over_max_response_size_raises_and_closes(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port, timeout=2, max_response_size=16)
    with pytest.raises(ResponseTooLargeError):
        _get(conn, b"k" * 64)
    assert conn.closed


def test_unrequested_bytes_after_a_reply_are_never_taken_as_the_next_reply(make_server: Any) -> None:
    def extra(sock: socket.socket, request: tyrant.Request, conn_id: int) -> None:
        if request.fields["key"] == b"first":
            # A reply followed by bytes nobody asked for, in one segment.
            sock.sendall(tyrant.encode_data_reply(b"first") + tyrant.encode_data_reply(b"bogus"))
        else:
            make_server.answer(sock, request, conn_id)

    server = make_server(extra)
    conn = Connection("127.0.0.1", server.port, timeout=2)
    assert _get(conn, b"first") == b"first"
    deadline = time.monotonic() + 2
    while not conn.is_stale() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _get(conn, b"second") == b"second@2"
    conn.close()


def test_read_on_a_closed_connection_raises() -> None:
    conn = Connection("127.0.0.1", 1)
    with pytest.raises(KtConnectionError):
        conn.read(tyrant.read_get)


def test_keyboard_interrupt_mid_request_closes_the_connection(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port, timeout=2)

    def interrupted(*args: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        conn.request(tyrant.encode_get(b"a"), interrupted)
    assert conn.closed


# ---- staleness ----------------------------------------------------------------------------------


def test_is_stale_detects_a_server_side_close(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port, timeout=2)
    assert conn.is_stale()  # not connected
    assert _get(conn, b"a") == b"a@1"
    assert not conn.is_stale()
    server.close()
    deadline = time.monotonic() + 2
    while not conn.is_stale() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.is_stale()
    conn.close()


def test_reader_buffer_is_reused_across_requests(make_server: Any) -> None:
    server = make_server()
    conn = Connection("127.0.0.1", server.port, timeout=2)
    reader = conn.reader
    for i in range(50):
        assert _get(conn, b"k%d" % i) == b"k%d@1" % i
    assert conn.reader is reader
    assert reader.pending == 0
    assert server.accepted == 1
    conn.close()
