"""Bulk replies decoded while they arrive (Partial, kt_core.codec.progress): the same result as a whole frame,
a receive buffer of about one receive whatever the reply's size, and errors still raised."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from kt_core.codec import kyoto_binary as kb
from kt_core.codec import progress as _progress
from kt_core.codec import tyrant as tt
from kt_core.codec.reader import NEED_MORE, Partial, Reader
from kt_core.errors import ResponseTooLargeError
from kt_core.io.connection import Connection

N = 30_000  # records of ~128 bytes: a 3.8 MB frame, far over PROGRESS_MIN


def kt_frame(n: int = N, missing: frozenset[int] = frozenset()) -> tuple[bytes, list[bytes], list[bytes]]:
    keys = [b"key%08d" % i for i in range(n) if i not in missing]
    values = [b"%d" % i * (i % 40) for i in range(n) if i not in missing]
    frame = kb.encode_get_bulk_reply([(0, k, v, kb.XT_MAX_REPLY) for k, v in zip(keys, values)])
    return frame, keys, values


def tt_frame(n: int = N) -> tuple[bytes, list[bytes], list[bytes]]:
    keys = [b"key%08d" % i for i in range(n)]
    values = [b"v" * (i % 150) for i in range(n)]
    return tt.encode_kvlist_reply(0, list(zip(keys, values))), keys, values


def with_keys(kv: tuple, expect: list[bytes]) -> tuple:
    """``(keys, values)`` with keys=None (the first len(values) expected keys) spelled out."""
    keys, values = kv
    return (list(expect[: len(values)]) if keys is None else keys), values


def feed_in_pieces(reader: Reader, data: bytes, size: int, read_fn: Any, *args: Any) -> tuple[Any, int]:
    """Feed ``data`` ``size`` bytes at a time, reading after each piece; the result and the largest buffer."""
    result: Any = NEED_MORE
    largest = 0
    for i in range(0, len(data), size):
        assert result is NEED_MORE, "complete before the last piece"
        reader.feed(data[i : i + size])
        result = reader.read(read_fn, *args)
        largest = max(largest, len(reader._buf))
    return result, largest


@pytest.mark.parametrize("size", [1000, 65536, 250_000, 1 << 30])
def test_kt_get_bulk_in_pieces_gives_the_whole_frames_result_with_a_small_buffer(size: int) -> None:
    frame, keys, values = kt_frame()
    reader = Reader()
    result, largest = feed_in_pieces(reader, frame + b"\xb8", size, kb.read_get_bulk_kv)
    assert result[1] == (keys, values)
    assert reader.pending == 1  # the next reply's first byte stays for the next read
    if size < len(frame):
        assert largest <= 2 * max(size, 65536) + 4096, "the buffer grew with the frame"


@pytest.mark.parametrize("size", [999, 65536, 1 << 30])
def test_tt_mget_in_pieces_gives_the_whole_frames_result_with_a_small_buffer(size: int) -> None:
    frame, keys, values = tt_frame()
    reader = Reader()
    result, largest = feed_in_pieces(reader, frame, size, tt.read_mget_kv)
    assert result[1:] == (0, (keys, values))
    assert reader.pending == 0
    if size < len(frame):
        assert largest <= 2 * max(size, 65536) + 4096
    assert tt.read_mget(frame, 0, len(frame), 1 << 30)[2] == list(zip(keys, values))


def test_a_large_frame_answers_with_a_partial_then_continues() -> None:
    frame, keys, values = kt_frame()
    half = len(frame) // 2
    first = kb.read_get_bulk_kv(frame[:half], 0, half, 1 << 30)
    assert type(first) is Partial
    assert 0 < first.consumed <= half < first.need
    rest = frame[first.consumed :]
    # The continuation sees the remaining bytes at a new position, as a Reader that dropped the consumed ones.
    buf = b"##" + rest
    assert first.resume(buf, 2, len(buf), 1 << 30) == (len(buf), (keys, values))


def test_small_frames_still_answer_need(monkeypatch: pytest.MonkeyPatch) -> None:
    frame, _, _ = kt_frame(100)
    assert len(frame) < _progress.PROGRESS_MIN
    for cut in range(len(frame)):
        assert type(kb.read_get_bulk_kv(frame, 0, cut, 1 << 30)) is int


@pytest.mark.parametrize("reader_fn,make", [(kb.read_get_bulk_kv, kt_frame), (tt.read_mget_kv, tt_frame)])
def test_every_two_piece_split_of_a_small_frame_with_progress_forced(reader_fn, make, monkeypatch) -> None:
    monkeypatch.setattr(_progress, "PROGRESS_MIN", 0)  # every incomplete frame with a whole record progresses
    frame, keys, _ = make(12)
    whole = reader_fn(frame, 0, len(frame), 1 << 30)
    for cut in range(len(frame) + 1):
        reader = Reader()
        reader.feed(frame[:cut])
        first = reader.read(reader_fn, keys)
        reader.feed(frame[cut:] + b"\xff")
        result = reader.read(reader_fn, keys) if first is NEED_MORE else first
        # Positions differ (the reader dropped consumed bytes); keys may be None (the expected ones).
        assert result[1:-1] == whole[1:-1], cut
        assert with_keys(result[-1], keys) == whole[-1], cut
        assert reader.pending == 1


def test_reply_keys_equal_to_the_expected_ones_are_not_kept() -> None:
    frame, keys, values = kt_frame()
    expect = [bytes(k) for k in keys]
    reader = Reader()
    result, _ = feed_in_pieces(reader, frame, 65536, kb.read_get_bulk_kv, expect)
    assert result[1] == (None, values)  # None: exactly the first len(values) expected keys


def test_missing_keys_at_the_end_still_match_a_prefix() -> None:
    frame, keys, values = tt_frame()
    expect = keys + [b"not-there-%d" % i for i in range(50)]
    reader = Reader()
    result, _ = feed_in_pieces(reader, frame, 65536, tt.read_mget_kv, _progress.Utf8Keys([k.decode() for k in expect]))
    assert result[1:] == (0, (None, values))
    assert len(values) == len(keys) < len(expect)


@pytest.mark.parametrize("where", [0, 5000, N // 2 + 7, N - 1])
def test_a_missing_key_gives_the_replys_keys(where: int) -> None:
    frame, keys, values = kt_frame(missing=frozenset({where}))
    expect = [b"key%08d" % i for i in range(N)]  # asked for all; one is not in the reply
    reader = Reader()
    result, _ = feed_in_pieces(reader, frame, 65536, kb.read_get_bulk_kv, expect)
    assert with_keys(result[1], expect) == (keys, values)
    assert (result[1][0] is None) == (where == N - 1)  # only a miss at the very end leaves a matching prefix


def test_utf8_keys_encode_slice_by_slice() -> None:
    view = _progress.Utf8Keys(["a", "é", "日本"])
    assert len(view) == 3
    assert view[1] == "é".encode()
    assert view[1:] == ["é".encode(), "日本".encode()]
    assert view[:2] == [b"a", "é".encode()]


def test_a_frame_over_the_limit_raises_while_arriving() -> None:
    frame, _, _ = kt_frame()
    reader = Reader(max_response_size=len(frame) // 2)
    with pytest.raises(ResponseTooLargeError):
        feed_in_pieces(reader, frame, 65536, kb.read_get_bulk_kv)


def test_reader_refuses_a_partial_that_consumes_nothing_it_holds() -> None:
    reader = Reader()
    reader.feed(b"abc")
    with pytest.raises(AssertionError):
        reader.read(lambda buf, pos, end, limit: Partial(end + 1, end + 5, lambda *a: None))


def test_a_connection_receives_a_large_reply_with_a_small_buffer() -> None:
    frame, keys, values = kt_frame(100_000)  # ~12.5 MB
    request = kb.encode_get_bulk_keys(0, keys)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        sock, _ = listener.accept()
        with sock:
            received = 0
            while received < len(request):
                received += len(sock.recv(1 << 20))
            for i in range(0, len(frame), 32768):  # dribbled: many receives on the client side
                sock.sendall(frame[i : i + 32768])
            sock.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    conn = Connection("127.0.0.1", listener.getsockname()[1], timeout=30)
    try:
        result = conn.request(request, kb.read_get_bulk_kv, keys)
        assert result[1] == (None, values)  # every key came back: none kept
        assert len(conn.reader._buf) < 1 << 20, "the whole frame was buffered"
        assert conn.reader.pending == 0
    finally:
        conn.close()
        listener.close()
        thread.join(5)


def test_tt_mget_pairs_reader_progresses_too() -> None:
    frame, keys, values = tt_frame()
    reader = Reader()
    result, largest = feed_in_pieces(reader, frame, 65536, tt.read_mget)
    assert result[1:] == (0, list(zip(keys, values)))
    assert largest < 1 << 20


def test_a_timeout_mid_reply_drops_the_partial_state_and_the_connection() -> None:
    from kt_core.errors import KtTimeoutError

    frame, keys, values = kt_frame()
    request = kb.encode_get_bulk_keys(0, keys)
    listener = socket.create_server(("127.0.0.1", 0))
    release = threading.Event()

    def serve() -> None:
        for stall in (True, False):
            sock, _ = listener.accept()
            with sock:
                received = 0
                while received < len(request):
                    received += len(sock.recv(1 << 20))
                if stall:
                    sock.sendall(frame[: len(frame) // 3])  # a third of the reply, then nothing
                    release.wait(10)
                else:
                    sock.sendall(frame)
                    sock.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    conn = Connection("127.0.0.1", listener.getsockname()[1], timeout=0.5)
    try:
        with pytest.raises(KtTimeoutError):
            conn.request(request, kb.read_get_bulk_kv, keys)
        assert conn.closed and conn.reader._resume is None and conn.reader.pending == 0
        release.set()
        # The next request opens a new connection and reads a whole reply from its first byte.
        assert conn.request(request, kb.read_get_bulk_kv, keys)[1] == (None, values)
    finally:
        release.set()
        conn.close()
        listener.close()
        thread.join(5)


def test_expected_keys_and_hit_keys() -> None:
    small = ["a", "b"]
    assert _progress.expected_keys(small, [b"a", b"b"], True) == [b"a", b"b"]  # below LARGE_KEY_LIST: the list
    many = [f"k{i}" for i in range(_progress.LARGE_KEY_LIST)]
    view = _progress.expected_keys(many, [k.encode() for k in many], True)
    assert isinstance(view, _progress.Utf8Keys) and view[:2] == [b"k0", b"k1"]
    raw = [b"x", b"y", b"z"]
    assert _progress.expected_keys([b"x", b"y", b"z"], raw, False) is raw  # bytes keys: their own list
    def hit_keys(found, n, keys, expect, all_str, decode_keys):
        return _progress.hit_keys(found, n, keys, expect, all_str, decode_keys, lambda k: ("undecodable", k))

    assert hit_keys([b"q"], 1, many, view, True, False) == [b"q"]  # real keys pass through
    assert hit_keys([b"q"], 1, many, view, True, True) == ["q"]  # decoded
    assert hit_keys(None, len(many), many, view, True, True) is many  # all hit: the caller's list itself
    assert hit_keys(None, 2, many, view, True, True) == ["k0", "k1"]
    assert hit_keys(None, 2, many, view, True, False) == [b"k0", b"k1"]
    assert hit_keys(list(raw), 3, [b"x", b"y", b"z"], raw, False, True) == ["x", "y", "z"]
    assert hit_keys([b"\xff", b"x"], 2, [b"\xff", b"x"], [b"\xff", b"x"], False, True) == [
        ("undecodable", b"\xff"), ("undecodable", b"x")]  # one key not UTF-8: the fallback decodes them all
    small_raw = [b"a", b"b"]
    assert hit_keys([b"a", b"b"], 2, small, small_raw, True, True) is small  # every str key hit: not decoded
