"""split_records: the record cutter under the bulk readers (KT get_bulk, play_script, TT mget), on every
implementation: the pure twin, the C path (a C walk writing a struct format) and the active dispatcher."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kt_core.codec import _scan
from kt_core.codec import _scan_pure as P
from kt_core.errors import ResponseTooLargeError

IMPLS = [pytest.param(P.split_records, id="pure"), pytest.param(_scan.split_records, id="active")]
if os.environ.get("KT_PUREPYTHON") != "1":
    from kt_core.codec import _scan_c as C

    IMPLS.append(pytest.param(C._c_split_records, id="c"))

BIG = 1 << 40


def encode(layout: int, records: list[tuple[bytes, bytes]], dbidx: int = 7, xt: int = -5) -> bytes:
    if layout == P.REC_GET_BULK:
        return b"".join(struct.pack(">HIIq", dbidx, len(k), len(v), xt) + k + v for k, v in records)
    return b"".join(struct.pack(">II", len(k), len(v)) + k + v for k, v in records)


RECORDS = [(b"alpha", b"1" * 100), (b"", b""), (b"k\x00\xff", b"value"), (b"x" * 300, b"")]


@pytest.mark.parametrize("split", IMPLS)
@pytest.mark.parametrize("layout", [P.REC_GET_BULK, P.REC_KV])
def test_whole_records_at_an_offset(split, layout) -> None:
    body = encode(layout, RECORDS)
    for buf in (b"##" + body + b"tail", bytearray(b"##" + body + b"tail"), memoryview(b"##" + body + b"tail")):
        nxt, keys, values, need = split(buf, 2, len(buf), layout, len(RECORDS), BIG)
        assert (nxt, need) == (2 + len(body), 0)
        assert keys == [k for k, _ in RECORDS] and values == [v for _, v in RECORDS]
        assert all(type(k) is bytes for k in keys + values)


@pytest.mark.parametrize("split", IMPLS)
@pytest.mark.parametrize("layout", [P.REC_GET_BULK, P.REC_KV])
def test_every_cut_gives_the_whole_records_before_it_and_what_the_next_needs(split, layout) -> None:
    head = 18 if layout == P.REC_GET_BULK else 8
    ends = []  # end position of each record
    pos = 0
    for k, v in RECORDS:
        pos += head + len(k) + len(v)
        ends.append(pos)
    body = encode(layout, RECORDS)
    for cut in range(len(body) + 1):
        nxt, keys, values, need = split(body, 0, cut, layout, len(RECORDS), BIG)
        whole = sum(1 for e in ends if e <= cut)
        assert nxt == (ends[whole - 1] if whole else 0)
        assert keys == [k for k, _ in RECORDS[:whole]] and values == [v for _, v in RECORDS[:whole]]
        if whole == len(RECORDS):
            assert need == 0
        else:
            start = nxt
            assert need in (start + head, ends[whole]) and need > cut


@pytest.mark.parametrize("split", IMPLS)
def test_count_bounds_the_cut(split) -> None:
    body = encode(P.REC_KV, RECORDS)
    assert split(body, 0, len(body), P.REC_KV, 2, BIG)[1] == [b"alpha", b""]
    assert split(body, 0, len(body), P.REC_KV, 0, BIG) == (0, [], [], 0)


@pytest.mark.parametrize("split", IMPLS)
@pytest.mark.parametrize("layout", [P.REC_GET_BULK, P.REC_KV])
def test_a_record_past_stop_is_too_large_before_its_bytes_arrive(split, layout) -> None:
    body = encode(layout, [(b"k", b"v" * 1000)])
    with pytest.raises(ResponseTooLargeError):
        split(body, 0, 30, layout, 1, 500)  # the header announces more than the limit allows
    with pytest.raises(ResponseTooLargeError):
        split(body, 0, 4, layout, 1, 3)  # not even the header fits
    assert split(body, 0, len(body), layout, 1, len(body))[1] == [b"k"]  # exactly at the limit


@pytest.mark.parametrize("split", IMPLS)
def test_bad_arguments_are_value_errors(split) -> None:
    for args in ((b"abc", 2, 1, P.REC_KV, 1, BIG), (b"abc", 0, 4, P.REC_KV, 1, BIG), (b"abc", 0, 3, 9, 1, BIG),
                 (b"abc", 0, 3, P.REC_KV, -1, BIG), (b"abc", -1, 3, P.REC_KV, 1, BIG)):
        with pytest.raises(ValueError):
            split(*args)


@pytest.mark.parametrize("split", IMPLS)
def test_many_records_cross_the_c_format_steps(split) -> None:
    # More records than one C format holds (4,096), with sizes that change from record to record.
    records = [(b"key%d" % i, b"v" * (i % 37)) for i in range(10_000)]
    body = bytearray(encode(P.REC_GET_BULK, records))
    nxt, keys, values, need = split(body, 0, len(body), P.REC_GET_BULK, len(records), BIG)
    assert (nxt, need) == (len(body), 0)
    assert keys == [k for k, _ in records] and values == [v for _, v in records]


@pytest.mark.parametrize("split", IMPLS)
def test_replies_of_other_shapes_after_a_repeated_one(split) -> None:
    # The C path reuses the last compiled format: a reply of another shape must not be read with it.
    a = encode(P.REC_KV, [(b"aa", b"bbbb")] * 50)
    b = encode(P.REC_KV, [(b"aaa", b"bbb")] * 50)
    for body, k, v in ((a, b"aa", b"bbbb"), (a, b"aa", b"bbbb"), (b, b"aaa", b"bbb"), (a, b"aa", b"bbbb")):
        assert split(body, 0, len(body), P.REC_KV, 50, BIG)[1:3] == ([k] * 50, [v] * 50)


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the class is what must match
        return ("raise", type(exc))


@pytest.mark.skipif(os.environ.get("KT_PUREPYTHON") == "1", reason="KT_PUREPYTHON=1: no C codec to compare")
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_c_and_pure_agree_on_any_bytes(data) -> None:
    layout = data.draw(st.sampled_from([P.REC_GET_BULK, P.REC_KV]))
    records = data.draw(st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=300)), max_size=12))
    body = data.draw(st.binary(max_size=4)) + encode(layout, records) + data.draw(st.binary(max_size=30))
    if data.draw(st.booleans()):  # mutate a byte: lengths and headers turn hostile
        i = data.draw(st.integers(0, max(0, len(body) - 1)))
        body = body[:i] + bytes([data.draw(st.integers(0, 255))]) + body[i + 1:]
    pos = data.draw(st.integers(0, len(body)))
    end = data.draw(st.integers(pos, len(body)))
    count = data.draw(st.integers(0, 15))
    stop = data.draw(st.one_of(st.just(BIG), st.integers(-5, len(body) + 5)))
    expected = outcome(P.split_records, body, pos, end, layout, count, stop)
    assert outcome(C._c_split_records, body, pos, end, layout, count, stop) == expected
    assert outcome(C._c_split_records, bytearray(body), pos, end, layout, count, stop) == expected
    assert outcome(C.split_records, memoryview(body), pos, end, layout, count, stop) == expected
