"""The codec's shortcuts for common shapes give exactly what the general paths give."""

from __future__ import annotations

import pytest
from kt_core.codec import kyoto_binary as kb
from kt_core.codec import kyoto_http as kh
from kt_core.codec import tyrant as tt
from kt_core.codec.reader import Reader
from kt_core.errors import InvalidArgumentError, InvalidTypeError


def _records(n: int) -> list[tuple[int, bytes, bytes, int]]:
    return [(i % 3, b"k%07d" % i, b"v" * (i % 50), kb.XT_MAX_REPLY - i) for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 2, 4095, 4096, 4097, 12289])
def test_large_get_bulk_frames_decode_in_slices_to_the_same_records(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kb, "LARGE_FRAME", 0)  # every frame takes the sliced path
    records = _records(n)
    frame = kb.encode_get_bulk_reply(records)
    reader = Reader()
    reader.feed(frame + b"\xba")  # the start of a next reply stays pending
    result = reader.read(kb.read_get_bulk)
    assert result[1] == records
    assert reader.pending == 1
    padded = bytearray(b"..") + frame
    assert kb.read_get_bulk(padded, 2, len(padded), 1 << 30) == (len(padded), records)


def test_a_real_large_get_bulk_frame_takes_the_sliced_path() -> None:
    records = [(0, b"key%06d" % i, b"x" * 100, kb.XT_MAX_REPLY) for i in range(12000)]
    frame = kb.encode_get_bulk_reply(records)
    assert len(frame) > kb.LARGE_FRAME
    reader = Reader()
    reader.feed(frame)
    assert reader.read(kb.read_get_bulk)[1] == records


@pytest.mark.parametrize("flags", [0, 1, 0xFFFFFFFF])
def test_one_record_requests_equal_the_general_encoding(flags: int) -> None:
    one = ((7, b"key"),)
    assert kb.encode_get_bulk(one, flags) == kb.encode_get_bulk(list(one), flags)
    assert kb.encode_remove_bulk(one, flags) == kb.encode_remove_bulk(list(one), flags)
    rec = ((1, b"key", b"value", kb.XT_NONE),)
    assert kb.encode_set_bulk(rec, flags) == kb.encode_set_bulk(list(rec), flags)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: kb.encode_get_bulk(((70000, b"k"),)), InvalidArgumentError),
        (lambda: kb.encode_remove_bulk((("0", b"k"),)), InvalidArgumentError),
        (lambda: kb.encode_get_bulk(((0, b"k"),), -1), InvalidArgumentError),
        (lambda: kb.encode_get_bulk(((0, b"k"),), True), InvalidTypeError),
        (lambda: kb.encode_set_bulk(((0, b"k", b"v", 1 << 63),)), InvalidArgumentError),
        (lambda: kb.encode_set_bulk(((0, b"k", b"v", 0),), 1 << 32), InvalidArgumentError),
    ],
)
def test_one_record_requests_reject_bad_input_like_the_general_path(call: object, error: type) -> None:
    with pytest.raises(error):
        call()  # type: ignore[operator]


def test_rpc_request_heads_are_per_procedure_and_host() -> None:
    a = kh.encode_rpc("increment", [(b"key", b"k"), (b"num", b"1")], "h1")
    b = kh.encode_rpc("increment", [(b"key", b"k"), (b"num", b"1")], "h2")
    c = kh.encode_rpc("check", [(b"key", b"k")], "h1")
    assert a.startswith(b"POST /rpc/increment HTTP/1.1\r\nHost: h1\r\n")
    assert b.startswith(b"POST /rpc/increment HTTP/1.1\r\nHost: h2\r\n")
    assert c.startswith(b"POST /rpc/check HTTP/1.1\r\nHost: h1\r\n")
    assert a.endswith(b"Content-Length: 12\r\n\r\nkey\tk\nnum\t1\n")
    # The same call again (heads cached) gives the same bytes; a body needing colenc=B switches the type.
    assert kh.encode_rpc("increment", ((b"key", b"k"), (b"num", b"1")), "h1") == a
    d = kh.encode_rpc("increment", [(b"key", b"k\t")], "h1")
    assert b"Content-Type: text/tab-separated-values; colenc=B\r\n" in d
    assert d.endswith(b"\r\n\r\na2V5\tawk=\n")


def test_rpc_head_cache_stays_bounded() -> None:
    for i in range(kh._HEADS_MAX + 10):
        kh.encode_rpc(f"p{i}", [], "h")
    assert len(kh._HEADS) <= kh._HEADS_MAX
    assert kh.encode_rpc("p1", [], "h") == b"POST /rpc/p1 HTTP/1.1\r\nHost: h\r\nContent-Type: " \
        b"text/tab-separated-values\r\nContent-Length: 0\r\n\r\n"


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the class is what must match
        return ("raise", type(exc))


def _scanner_read_code(buf, pos, end, limit):
    from kt_core.codec._scan import TT_CODE, scan_tt

    r = scan_tt(buf, pos, end, TT_CODE, limit)
    return r if isinstance(r, int) else (r[0], r[1], None)


def _scanner_read_data(buf, pos, end, limit):
    from kt_core.codec._scan import TT_DATA, scan_tt

    r = scan_tt(buf, pos, end, TT_DATA, limit)
    if isinstance(r, int):
        return r
    return (r[0], r[1], None) if r[1] else (r[0], 0, bytes(memoryview(buf)[r[2][0] : r[2][0] + r[2][1]]))


def _scanner_read_count(magic):
    def read(buf, pos, end, limit):
        r = kb.scan_ktb(buf, pos, end, magic, limit)
        if isinstance(r, int):
            return r
        return (r[0], "error") if r[1] == kb.MAGIC_ERROR else (r[0], r[2])

    return read


def _plain(result):
    # A server error comes back as an exception instance: compare its class, not its identity.
    if isinstance(result, tuple) and isinstance(result[-1], Exception):
        return (*result[:-1], "error")
    return result


@pytest.mark.parametrize(("lean", "general", "frames"), [
    (tt.read_put, _scanner_read_code, [b"\x00", b"\x01", b"\xff"]),
    (tt.read_get, _scanner_read_data, [b"\x00\x00\x00\x00\x03abc", b"\x00\x00\x00\x00\x00", b"\x01",
                                       b"\x00\xff\xff\xff\xff"]),
    (kb.read_set_bulk, _scanner_read_count(kb.MAGIC_SET_BULK), [b"\xb8\x00\x00\x00\x01", b"\xbf", b"\xb9\0\0\0\0"]),
    (kb.read_remove_bulk, _scanner_read_count(kb.MAGIC_REMOVE_BULK), [b"\xb9\x00\x00\x01\x00", b"\xbf",
                                                                       b"\xb8\0\0\0\0"]),
])
def test_lean_single_frame_readers_answer_like_the_scanner(lean, general, frames) -> None:
    # Every cut, offset, trailing byte and limit (0..9, huge) on bytes and bytearray buffers: the lean
    # unpack_from paths (TT put/out/get, KT set_bulk/remove_bulk replies) give the scanner's answer or error.
    for frame in frames:
        for before in (b"", b"??"):
            for data in (before + frame, before + frame + b"\x00"):
                for buf in (data, bytearray(data), memoryview(bytearray(data))):
                    for end in range(len(before), len(data) + 1):
                        for limit in (*range(10), 1 << 40):
                            got = _outcome(lean, buf, len(before), end, limit)
                            want = _outcome(general, buf, len(before), end, limit)
                            assert (got[0], _plain(got[1])) == (want[0], _plain(want[1])), (frame, end, limit)
                            if got[0] == "ok" and isinstance(got[1], tuple):
                                assert not any(isinstance(x, (bytearray, memoryview)) for x in got[1])
