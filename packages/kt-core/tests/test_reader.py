"""Reader: buffering, exact consumption, need hints, growth and compaction."""

from __future__ import annotations

import pytest
from kt_core.codec import _scan as S
from kt_core.codec.reader import NEED_MORE, Reader
from kt_core.errors import ProtocolError, ResponseTooLargeError

calls = []


def read_tt_data(buf, pos, end, limit):
    calls.append((pos, end))
    return S.scan_tt(buf, pos, end, S.TT_DATA, limit)


def frame(payload: bytes) -> bytes:
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


def test_feed_and_read_frames_back_to_back():
    r = Reader()
    r.feed(frame(b"one") + frame(b"two") + b"\x00")
    a = r.read(read_tt_data)
    assert a[1:] == (0, [5, 3])
    b = r.read(read_tt_data)
    assert b[0] == 16 and b[2] == [13, 3]
    assert r.pending == 1
    assert r.read(read_tt_data) is NEED_MORE
    assert r.pending == 1


def test_need_hint_avoids_rescans():
    calls.clear()
    r = Reader()
    data = frame(b"x" * 1000)
    r.feed(data[:10])
    assert r.read(read_tt_data) is NEED_MORE
    for i in range(10, len(data) - 1, 7):
        r.feed(data[i : i + 7])
        if r.pending < len(data):
            assert r.read(read_tt_data) is NEED_MORE
    assert len(calls) == 1
    r.feed(data[r.pending :])
    assert r.read(read_tt_data)[0] == len(data)
    assert len(calls) == 2


def test_get_buffer_commit_and_growth():
    r = Reader(initial_size=16)
    data = frame(b"y" * 5000)
    view = r.get_buffer(8)
    view[:8] = data[:8]
    del view
    r.commit(8)
    assert r.read(read_tt_data) is NEED_MORE
    view = r.get_buffer(1)
    assert len(view) >= len(data) - 8  # sized for the whole announced frame
    view[: len(data) - 8] = data[8:]
    del view
    r.commit(len(data) - 8)
    res = r.read(read_tt_data)
    assert res[0] == len(data) and r.pending == 0
    with pytest.raises(ValueError):
        r.commit(10**9)


def test_compaction_keeps_pending_bytes():
    r = Reader(initial_size=32)
    r.feed(frame(b"a" * 20) + frame(b"bc")[:3])
    assert r.read(read_tt_data)[2] == [5, 20]
    r.feed(frame(b"bc")[3:] + frame(b"z" * 25))  # forces compaction or growth
    res = r.read(read_tt_data)
    assert res[2][1] == 2
    res = r.read(read_tt_data)
    assert res[2][1] == 25 and r.pending == 0


def test_limit_and_errors_propagate():
    r = Reader(max_response_size=100)
    r.feed(b"\x00\x00\x00\x10\x00")
    with pytest.raises(ResponseTooLargeError):
        r.read(read_tt_data)
    r.clear()
    assert r.pending == 0
    r.feed(b"XYZ")
    with pytest.raises(ProtocolError):
        r.read(S.scan_http)


def test_need_more_is_falsy_singleton():
    assert not NEED_MORE and repr(NEED_MORE) == "NEED_MORE"
