"""The C wrapper hands tiny / fixed-size frames to the pure twin (a speed choice, see _scan_c's doc).

These tests keep the C code itself under test for those frames (``_c_*`` always take the C path)
and check that the dispatching functions agree with the pure scanners at every split point.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kt_core.codec import _scan_pure as P
from kt_core.errors import ProtocolError

C = pytest.importorskip("kt_core.codec._scan_c")  # KT_REQUIRE_C=1 runs fail earlier, at kt_core import

LIMIT = 1 << 20


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except ProtocolError as exc:
        return ("error", type(exc))


def _tt_frame(shape: int, code: int, items: list[bytes]) -> bytes:
    head = bytes([code])
    if shape == P.TT_CODE or (code and shape < P.TT_LIST):
        return head
    if shape == P.TT_I32:
        return head + struct.pack(">i", -5)
    if shape == P.TT_U64:
        return head + struct.pack(">Q", 1 << 63)
    if shape == P.TT_DOUBLE:
        return head + struct.pack(">qq", -3, 7)
    if shape == P.TT_DATA:
        data = b"".join(items)
        return head + struct.pack(">I", len(data)) + data
    if shape == P.TT_LIST:
        return head + struct.pack(">I", len(items)) + b"".join(struct.pack(">I", len(i)) + i for i in items)
    return head + struct.pack(">I", len(items)) + b"".join(
        struct.pack(">II", len(i), len(i[::-1])) + i + i[::-1] for i in items)


@settings(max_examples=150, deadline=None)
@given(shape=st.integers(P.TT_CODE, P.TT_KVLIST), code=st.sampled_from([0, 1, 3]),
       items=st.lists(st.binary(max_size=60), max_size=8))
def test_scan_tt_dispatch_and_c_path_agree_with_pure(shape: int, code: int, items: list[bytes]) -> None:
    frame = b"\xee" + _tt_frame(shape, code, items)
    for end in range(1, len(frame) + 1):
        view = memoryview(bytearray(frame))
        want = _outcome(P.scan_tt, view, 1, end, shape, LIMIT)
        assert _outcome(C.scan_tt, view, 1, end, shape, LIMIT) == want
        assert _outcome(C._c_scan_tt, view, 1, end, shape, LIMIT) == want


@settings(max_examples=100, deadline=None)
@given(records=st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=120)), max_size=6),
       magic=st.sampled_from([P.KTB_GET_BULK, P.KTB_SET_BULK, P.KTB_REMOVE_BULK]))
def test_scan_ktb_dispatch_and_c_path_agree_with_pure(records: list[tuple[bytes, bytes]], magic: int) -> None:
    if magic == P.KTB_GET_BULK:
        frame = bytes([magic]) + struct.pack(">I", len(records)) + b"".join(
            struct.pack(">HIIq", 0, len(k), len(v), 99) + k + v for k, v in records)
    else:
        frame = bytes([magic]) + struct.pack(">I", len(records))
    for end in range(0, len(frame) + 1):
        want = _outcome(P.scan_ktb, frame, 0, end, magic, LIMIT)
        assert _outcome(C.scan_ktb, frame, 0, end, magic, LIMIT) == want
        assert _outcome(C._c_scan_ktb, frame, 0, end, magic, LIMIT) == want


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=300), colenc=st.sampled_from([0, ord("B"), ord("U"), ord("Q")]))
def test_decode_tsv_dispatch_and_c_path_agree_with_pure(body: bytes, colenc: int) -> None:
    want = _outcome(P.decode_tsv, body, 0, len(body), colenc)
    assert _outcome(C.decode_tsv, body, 0, len(body), colenc) == want
    assert _outcome(C._c_decode_tsv, body, 0, len(body), colenc) == want


def test_large_frames_take_the_c_path() -> None:
    # A 1,000-record reply is far above SMALL_FRAME: the dispatcher must hand it to C unchanged.
    items = [b"k%04d" % i for i in range(1000)]
    frame = _tt_frame(P.TT_LIST, 0, items)
    assert len(frame) > C.SMALL_FRAME
    assert C.scan_tt(frame, 0, len(frame), P.TT_LIST, LIMIT) == C._c_scan_tt(frame, 0, len(frame), P.TT_LIST, LIMIT)
    assert C.scan_tt(frame, 0, len(frame), P.TT_LIST, LIMIT)[2][:2] == [9, 5]
