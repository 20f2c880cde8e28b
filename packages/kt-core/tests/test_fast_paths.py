"""The performance shortcuts (issue 10) give exactly what the general paths give."""

from __future__ import annotations

import pytest
from kt_core import kyoto_binary as kb
from kt_core import kyoto_http as kh
from kt_core.errors import InvalidArgumentError, InvalidTypeError
from kt_core.reader import Reader


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
