"""The list forms of the bulk messages (encode_get_bulk_keys, encode_set_bulk_items, read_get_bulk_kv,
read_mget_kv) and encode_mget's fast paths: the same bytes and the same hits as the record forms."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kt_core.codec import kyoto_binary as kb
from kt_core.codec import tyrant as tt
from kt_core.errors import InvalidArgumentError, InvalidTypeError

LIMIT = 1 << 30
keys = st.binary(max_size=12)
same_len = st.lists(st.binary(min_size=3, max_size=3), max_size=8)  # the one-header fast path
dbidx = st.integers(0, 0xFFFF)
xts = st.integers(-(1 << 63), (1 << 63) - 1)


@given(dbidx, st.one_of(st.lists(keys, max_size=8), same_len))
def test_encode_get_bulk_keys_matches_records(db, ks) -> None:
    expected = kb.encode_get_bulk([(db, k) for k in ks])
    assert kb.encode_get_bulk_keys(db, ks) == expected
    assert kb.encode_get_bulk_keys(db, [bytearray(k) for k in ks]) == expected
    assert kb.encode_get_bulk_keys(db, tuple(ks)) == expected  # not a list: the general path


@given(dbidx, xts, st.one_of(st.lists(st.tuples(keys, keys), max_size=8), st.lists(st.tuples(
    st.binary(min_size=2, max_size=2), st.binary(min_size=5, max_size=5)), max_size=8)))
def test_encode_set_bulk_items_matches_records(db, xt, kvs) -> None:
    ks, vs = [k for k, _ in kvs], [v for _, v in kvs]
    expected = kb.encode_set_bulk([(db, k, v, xt) for k, v in kvs])
    assert kb.encode_set_bulk_items(db, ks, vs, xt) == expected
    assert kb.encode_set_bulk_items(db, tuple(ks), tuple(vs), xt) == expected


def test_list_encoders_refuse_bad_input() -> None:
    with pytest.raises(InvalidTypeError):
        kb.encode_get_bulk_keys(0, [b"a", "b"])
    with pytest.raises(InvalidArgumentError):
        kb.encode_get_bulk_keys(0x10000, [b"a", b"b"])
    with pytest.raises(InvalidArgumentError):
        kb.encode_set_bulk_items(0, [b"a"], [b"x"], 1 << 63)
    with pytest.raises(InvalidTypeError):
        kb.encode_set_bulk_items(0, [b"a", b"b"], [b"x", 1], 0)
    with pytest.raises(InvalidArgumentError):
        kb.encode_set_bulk_items(0, [b"a", b"b"], [b"x"], 0)


@given(st.lists(st.tuples(dbidx, keys, keys, st.integers(0, (1 << 40) - 1)), max_size=8), st.binary(max_size=5))
def test_read_get_bulk_kv_matches_read_get_bulk(records, before) -> None:
    reply = kb.encode_get_bulk_reply(records)
    buf = bytearray(before + reply + b"\xb8")  # at an offset, with a next frame behind it
    pos, end = len(before), len(before) + len(reply)
    assert kb.read_get_bulk_kv(buf, pos, len(buf), LIMIT) == (end, ([k for _, k, _, _ in records],
                                                                    [v for _, _, v, _ in records]))
    assert kb.read_get_bulk_kv(bytes(reply), 0, len(reply), LIMIT) == (len(reply), (
        [k for _, k, _, _ in records], [v for _, _, v, _ in records]))
    for cut in range(len(reply)):
        assert isinstance(kb.read_get_bulk_kv(reply[:cut], 0, cut, LIMIT), int)


def test_read_get_bulk_kv_large_frame_in_slices() -> None:
    records = [(0, b"k%07d" % i, b"v" * (i % 300), kb.XT_MAX_REPLY) for i in range(10_000)]
    reply = kb.encode_get_bulk_reply(records)
    assert len(reply) > kb.LARGE_FRAME
    buf = bytearray(b"xx" + reply)
    next_pos, (ks, vs) = kb.read_get_bulk_kv(buf, 2, len(buf), LIMIT)
    assert next_pos == len(buf)
    assert ks == [k for _, k, _, _ in records]
    assert vs == [v for _, _, v, _ in records]


def test_read_get_bulk_kv_server_error() -> None:
    r = kb.read_get_bulk_kv(b"\xbf", 0, 1, LIMIT)
    assert r[0] == 1 and isinstance(r[1], kb.KyotoServerError)


@given(st.one_of(st.lists(keys, max_size=8), same_len))
def test_encode_mget_fast_paths_match_the_loop(ks) -> None:
    expected = b"\xc8\x31" + len(ks).to_bytes(4, "big") + b"".join(len(k).to_bytes(4, "big") + k for k in ks)
    assert tt.encode_mget(ks) == expected
    assert tt.encode_mget(iter(ks)) == expected  # not a list: the per-key loop
    assert tt.encode_mget([bytearray(k) for k in ks]) == expected


@given(st.lists(st.tuples(keys, keys), max_size=8), st.binary(max_size=5), st.sampled_from([0, 1]))
def test_read_mget_kv_matches_read_mget(pairs, before, code) -> None:
    reply = tt.encode_kvlist_reply(code, pairs)
    buf = bytearray(before + reply + b"\x00")
    pos, end = len(before), len(before) + len(reply)
    expected = tt.read_mget(buf, pos, len(buf), LIMIT)
    assert expected[:2] == (end, code)
    assert tt.read_mget_kv(buf, pos, len(buf), LIMIT) == (end, code, ([k for k, _ in pairs], [v for _, v in pairs]))
    assert tt.read_mget_kv(bytes(reply), 0, len(reply), LIMIT)[2] == ([k for k, _ in expected[2]],
                                                                      [v for _, v in expected[2]])
    for cut in range(len(reply)):
        assert isinstance(tt.read_mget_kv(reply[:cut], 0, cut, LIMIT), int)
