"""Kyoto Tycoon binary protocol messages against the recorded vectors (kt_core.codec.kyoto_binary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kt_core.codec import kyoto_binary as kb
from kt_core.errors import InvalidArgumentError, InvalidTypeError, KyotoServerError, ProtocolError

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "kt-binary.json"
ALL = json.loads(VECTORS.read_text())  # a missing file fails the whole module, as it must
LIMIT = 1 << 24


def b(s: str) -> bytes:
    return s.encode("latin-1")


def req(v: dict) -> bytes:
    return bytes.fromhex(v["request_hex"])


def rsp(v: dict) -> bytes:
    return bytes.fromhex(v["response_hex"])


REPLIED = [v for v in ALL if v["reply"] == "reply"]
KNOWN = [v for v in ALL if req(v)[0] in (0xB4, 0xB8, 0xB9, 0xBA)]
READERS = {
    0xB8: kb.read_set_bulk,
    0xB9: kb.read_remove_bulk,
    0xBA: kb.read_get_bulk,
    0xB4: kb.read_play_script,
}


def ids(vs: list) -> list:
    return [v["name"] for v in vs]


def decode_request_fields(data: bytes):
    """Request vector -> the client encoder's arguments, via the server-side parser."""
    r = kb.parse_request(data, 0, len(data), LIMIT)
    assert isinstance(r, tuple)
    assert r[0] == len(data)
    return r[1]


def encode_like_client(request: kb.BinaryRequest) -> bytes:
    if request.magic == kb.MAGIC_SET_BULK:
        return kb.encode_set_bulk(request.records, request.flags)
    if request.magic == kb.MAGIC_GET_BULK:
        return kb.encode_get_bulk(request.records, request.flags)
    if request.magic == kb.MAGIC_REMOVE_BULK:
        return kb.encode_remove_bulk(request.records, request.flags)
    return kb.encode_play_script(request.name, request.records, request.flags)


def expected_result(v: dict):
    d = v["decoded"]
    if d.get("error"):
        return "error"
    magic = int(d["magic"], 16)
    if magic in (0xB8, 0xB9):
        return d["hits"]
    if magic == 0xBA:
        return [(r["dbidx"], b(r["key"]), b(r["value"]), r["xt"]) for r in d["records"]]
    return [(b(k), b(val)) for k, val in d["records"]]


def check_result(v: dict, result) -> None:
    want = expected_result(v)
    if want == "error":
        assert isinstance(result, KyotoServerError)
        with pytest.raises(KyotoServerError):
            kb.raise_if_error(result)
        return
    if "records[0].xt" in v["volatile"]:
        want = [w[:3] for w in want]
        result = [r[:3] for r in result]
    assert result == want


# ----------------------------------------------------------------------------- client encoders


def test_vector_file_has_every_message() -> None:
    magics = {req(v)[0] for v in ALL}
    assert {0xB4, 0xB8, 0xB9, 0xBA} <= magics
    assert any(rsp(v) == b"\xbf" for v in ALL)


def test_set_bulk_multi_db_literal() -> None:
    v = next(v for v in ALL if v["name"] == "set_bulk_multi_db")
    out = kb.encode_set_bulk(
        [
            (0, b"alpha", b"one", kb.XT_NONE),
            (1, b"alpha", b"uno", kb.XT_NONE),
            (0, b"beta", b"two", -4102444800),
            (0, b"gamma", b"three", 3600),
        ]
    )
    assert out == req(v)


def test_play_script_echo_literal() -> None:
    v = next(v for v in ALL if v["name"] == "play_script_echo")
    out = kb.encode_play_script(b"echo", [(b"k2", b"v2"), (b"k1", b"v1"), (b"bin\x00\xff", b"\x00\x01\xff\n\t")])
    assert out == req(v)


def test_noreply_flag_literal() -> None:
    v = next(v for v in ALL if v["name"] == "remove_bulk_noreply")
    assert kb.encode_remove_bulk([(0, b"beta")], kb.FLAG_NOREPLY) == req(v)


@pytest.mark.parametrize("v", KNOWN, ids=ids(KNOWN))
def test_client_encoder_reproduces_request(v: dict) -> None:
    assert encode_like_client(decode_request_fields(req(v))) == req(v)


def test_encoders_accept_generators_and_bytearray() -> None:
    gen = ((0, bytearray(b"k%d" % i)) for i in range(3))
    assert kb.encode_get_bulk(gen) == kb.encode_get_bulk([(0, b"k0"), (0, b"k1"), (0, b"k2")])


@pytest.mark.parametrize(
    "call",
    [
        lambda: kb.encode_set_bulk([(0, "str-key", b"v", 0)]),
        lambda: kb.encode_set_bulk([(0, b"k", None, 0)]),
        lambda: kb.encode_get_bulk([(0, 5)]),
        lambda: kb.encode_play_script("echo", []),
        lambda: kb.encode_get_bulk([], flags="1"),
    ],
)
def test_bad_types_raise_invalid_type(call) -> None:
    with pytest.raises(InvalidTypeError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: kb.encode_set_bulk([(70000, b"k", b"v", 0)]),
        lambda: kb.encode_set_bulk([(0, b"k", b"v", 1 << 64)]),
        lambda: kb.encode_set_bulk([(0, b"k", b"v")]),
        lambda: kb.encode_get_bulk([(-1, b"k")]),
        lambda: kb.encode_remove_bulk([], flags=1 << 32),
    ],
)
def test_bad_values_raise_invalid_argument(call) -> None:
    with pytest.raises(InvalidArgumentError):
        call()


# ----------------------------------------------------------------------------- client readers


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_reader_decodes_response(v: dict) -> None:
    data = rsp(v)
    reader = READERS[req(v)[0]]
    r = reader(data, 0, len(data), LIMIT)
    assert isinstance(r, tuple)
    assert r[0] == len(data)
    check_result(v, r[1])


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_reader_at_offset_with_trailing_bytes(v: dict) -> None:
    data = b"\x00\x11\x22" + rsp(v) + b"\xb8\x00"
    reader = READERS[req(v)[0]]
    for buf in (data, bytearray(data), memoryview(data)):
        r = reader(buf, 3, len(data), LIMIT)
        assert isinstance(r, tuple)
        assert r[0] == 3 + len(rsp(v))
        check_result(v, r[1])
        if isinstance(r[1], list):
            assert all(type(x) is bytes for rec in r[1] for x in rec if not isinstance(x, int))


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_reader_needs_more_for_every_prefix(v: dict) -> None:
    data = rsp(v)
    reader = READERS[req(v)[0]]
    # Every byte boundary, with the rest of the frame present beyond ``end`` (it must not be
    # looked at), and for small frames also as a truncated copy.
    for cut in range(len(data)):
        need = reader(data, 0, cut, LIMIT)
        assert type(need) is int and cut < need <= len(data), (cut, need)
        if len(data) < 4096:
            assert reader(data[:cut], 0, cut, LIMIT) == need
    r = reader(data, 0, len(data), LIMIT)
    assert isinstance(r, tuple) and r[0] == len(data)


def test_reader_rejects_wrong_magic() -> None:
    with pytest.raises(ProtocolError):
        kb.read_set_bulk(b"\xba\x00\x00\x00\x00", 0, 5, LIMIT)
    with pytest.raises(ProtocolError):
        kb.read_get_bulk(b"\x00", 0, 1, LIMIT)


def test_reader_rejects_hostile_count_fast() -> None:
    with pytest.raises(ProtocolError):
        kb.read_get_bulk(b"\xba\xff\xff\xff\xff", 0, 5, LIMIT)


# ----------------------------------------------------------------------------- server side


@pytest.mark.parametrize("v", KNOWN, ids=ids(KNOWN))
def test_parse_request_prefixes_need_more(v: dict) -> None:
    data = req(v)
    for cut in range(len(data)):
        need = kb.parse_request(data, 0, cut, LIMIT)
        assert type(need) is int and cut < need <= len(data), (cut, need)


def test_parse_request_no_reply_flag() -> None:
    for v in ALL:
        if v["reply"] == "none":
            assert decode_request_fields(req(v)).no_reply
        elif v["reply"] == "reply" and req(v)[0] != 0xBA:
            assert not decode_request_fields(req(v)).no_reply


def test_parse_request_unknown_magic_is_protocol_error() -> None:
    v = next(v for v in ALL if v["name"] == "unknown_magic")
    assert v["reply"] == "closed"
    with pytest.raises(ProtocolError):
        kb.parse_request(req(v), 0, len(req(v)), LIMIT)


def test_parse_request_limits() -> None:
    with pytest.raises(ProtocolError):
        kb.parse_request(b"\xb8\x00\x00\x00\x00\xff\xff\xff\xff", 0, 9, LIMIT)
    big = kb.encode_set_bulk([(0, b"k", b"v" * 1000, 0)])
    with pytest.raises(ProtocolError):
        kb.parse_request(big[:40], 0, 40, 100)


def test_parse_request_records() -> None:
    v = next(v for v in ALL if v["name"] == "get_bulk_hits_and_misses")
    r = decode_request_fields(req(v))
    assert r.magic == kb.MAGIC_GET_BULK
    assert r.records[:2] == [(0, b"alpha"), (1, b"alpha")]
    v = next(v for v in ALL if v["name"] == "play_script_records")
    r = decode_request_fields(req(v))
    assert (r.name, r.records) == (b"records", [(b"ignored", b"input")])


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_reply_encoder_reproduces_response(v: dict) -> None:
    want = expected_result(v)
    magic = req(v)[0]
    if want == "error":
        out = kb.encode_error_reply()
    elif magic == 0xB8:
        out = kb.encode_set_bulk_reply(want)
    elif magic == 0xB9:
        out = kb.encode_remove_bulk_reply(want)
    elif magic == 0xBA:
        out = kb.encode_get_bulk_reply(want)
    else:
        out = kb.encode_play_script_reply(want)
    data = rsp(v)
    if "records[0].xt" in v["volatile"]:
        for off, length in v["volatile_ranges"]:
            length = len(data) - off if length == -1 else length
            data = data[:off] + bytes(length) + data[off + length :]
            out = out[:off] + bytes(length) + out[off + length :]
    assert out == data


# ----------------------------------------------------------------------------- round trips

keys = st.binary(max_size=40)
dbidx = st.integers(0, 0xFFFF)
xts = st.integers(-(1 << 63), (1 << 63) - 1)


@given(st.lists(st.tuples(dbidx, keys, keys, xts), max_size=8), st.integers(0, 0xFFFFFFFF))
def test_set_bulk_round_trip(records, flags) -> None:
    data = kb.encode_set_bulk(records, flags)
    r = kb.parse_request(data, 0, len(data), LIMIT)
    assert r == (len(data), kb.BinaryRequest(kb.MAGIC_SET_BULK, flags, records))


@given(st.lists(st.tuples(dbidx, keys), max_size=8))
def test_get_and_remove_bulk_round_trip(records) -> None:
    for enc, magic in ((kb.encode_get_bulk, kb.MAGIC_GET_BULK), (kb.encode_remove_bulk, kb.MAGIC_REMOVE_BULK)):
        data = enc(records)
        assert kb.parse_request(data, 0, len(data), LIMIT) == (len(data), kb.BinaryRequest(magic, 0, records))


@given(keys, st.lists(st.tuples(keys, keys), max_size=8))
def test_play_script_round_trip(name, records) -> None:
    data = kb.encode_play_script(name, records)
    assert kb.parse_request(data, 0, len(data), LIMIT) == (
        len(data),
        kb.BinaryRequest(kb.MAGIC_PLAY_SCRIPT, 0, records, name),
    )
    reply = kb.encode_play_script_reply(records)
    assert kb.read_play_script(reply, 0, len(reply), LIMIT) == (len(reply), records)


@given(st.lists(st.tuples(dbidx, keys, keys, st.integers(0, (1 << 63) - 1)), max_size=8))
def test_get_bulk_reply_round_trip(records) -> None:
    reply = kb.encode_get_bulk_reply(records)
    assert kb.read_get_bulk(reply, 0, len(reply), LIMIT) == (len(reply), records)


# ----------------------------------------------------------------------------- read_get_one (the client's get)

GET_ONE = [v for v in REPLIED if req(v)[0] == 0xBA and v["decoded"]["hits"] <= 1]


def test_get_one_vectors_cover_hit_and_miss() -> None:
    assert {v["decoded"]["hits"] for v in GET_ONE} == {0, 1}


def expected_value(v: dict) -> bytes | None:
    records = v["decoded"]["records"]
    return b(records[0]["value"]) if records else None


@pytest.mark.parametrize("v", GET_ONE, ids=ids(GET_ONE))
def test_read_get_one_decodes_response(v: dict) -> None:
    data = rsp(v)
    for buf in (data, bytearray(data), memoryview(data)):
        assert kb.read_get_one(buf, 0, len(data), LIMIT) == (len(data), expected_value(v))
    # At an offset, with bytes of a next frame behind it that must not be consumed.
    padded = b"\x00\x11" + data + b"\xba\x00"
    for buf in (padded, bytearray(padded), memoryview(padded)):
        r = kb.read_get_one(buf, 2, len(padded), LIMIT)
        assert r == (2 + len(data), expected_value(v))
        assert r[1] is None or type(r[1]) is bytes


@pytest.mark.parametrize("v", GET_ONE, ids=ids(GET_ONE))
def test_read_get_one_needs_more_for_every_prefix(v: dict) -> None:
    data = rsp(v)
    for cut in range(len(data)):
        need = kb.read_get_one(data, 0, cut, LIMIT)
        assert type(need) is int and cut < need <= len(data), (cut, need)
        assert need == kb.read_get_bulk(data, 0, cut, LIMIT)


@pytest.mark.parametrize("v", GET_ONE, ids=ids(GET_ONE))
def test_read_get_one_split_at_every_byte(v: dict) -> None:
    from kt_core.codec.reader import NEED_MORE, Reader

    data = rsp(v)
    for cut in range(1, len(data)):
        reader = Reader()
        reader.feed(data[:cut])
        assert reader.read(kb.read_get_one) is NEED_MORE
        reader.feed(data[cut:])
        assert reader.read(kb.read_get_one) == (len(data), expected_value(v))
        assert reader.pending == 0


def test_read_get_one_server_error_is_returned_not_raised() -> None:
    r = kb.read_get_one(b"\xbf\xba", 0, 2, LIMIT)
    assert r[0] == 1 and isinstance(r[1], KyotoServerError)
    with pytest.raises(KyotoServerError):
        kb.raise_if_error(r[1])


def test_read_get_one_rejects_bad_bytes() -> None:
    two = rsp(next(v for v in REPLIED if v["name"] == "get_bulk_hits_and_misses"))
    with pytest.raises(ProtocolError):
        kb.read_get_one(two, 0, len(two), LIMIT)  # 4 records in reply to one key
    with pytest.raises(ProtocolError):
        kb.read_get_one(b"\xb8\x00\x00\x00\x01", 0, 5, LIMIT)
    with pytest.raises(ProtocolError):
        kb.read_get_one(b"\xba\xff\xff\xff\xff", 0, 5, LIMIT)
    hit = rsp(next(v for v in GET_ONE if v["decoded"]["hits"] == 1))
    with pytest.raises(ProtocolError):
        kb.read_get_one(hit, 0, len(hit), len(hit) - 1)  # the frame is over the limit
    with pytest.raises(ProtocolError):
        kb.read_get_one(b"\xba\x00\x00\x00\x00", 0, 5, 4)


@given(st.binary(max_size=40), st.binary(max_size=300), st.integers(0, 0xFFFF), st.integers(0, (1 << 40) - 1))
def test_read_get_one_agrees_with_read_get_bulk(key: bytes, value: bytes, dbidx: int, xt: int) -> None:
    data = kb.encode_get_bulk_reply([(dbidx, key, value, xt)])
    assert kb.read_get_one(data, 0, len(data), LIMIT) == (len(data), value)
    assert kb.read_get_bulk(data, 0, len(data), LIMIT)[1][0][2] == value
