"""Tokyo Tyrant message layer (kt_core.codec.tyrant) against the recorded ttserver 1.1.41 vectors."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kt_core.codec import tyrant
from kt_core.errors import InvalidArgumentError, InvalidTypeError, ProtocolError

VECTORS_DIR = Path(__file__).resolve().parents[3] / "testdata" / "vectors"
LIMIT = 1 << 20


def _load() -> list[dict[str, Any]]:
    path = VECTORS_DIR / "tt-binary.json"
    # A missing vector file must fail the run, not skip it.
    with path.open() as f:
        return json.load(f)


VECTORS = _load()
BY_NAME = {v["name"]: v for v in VECTORS}
REQUEST_VECTORS = [v for v in VECTORS if v["reply"] != "closed"]
REPLY_VECTORS = [v for v in VECTORS if v["reply"] == "reply"]


def _b(s: str) -> bytes:
    return s.encode("latin-1")


def _req(v: dict[str, Any]) -> bytes:
    return bytes.fromhex(v["request_hex"])


def _resp(v: dict[str, Any]) -> bytes:
    return bytes.fromhex(v["response_hex"])


def _command(v: dict[str, Any]) -> str:
    return tyrant.COMMAND_NAMES[_req(v)[1]]


def _ids(vs: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vs]


def test_vectors_cover_every_command() -> None:
    seen = {_command(v) for v in REQUEST_VECTORS}
    assert seen == set(tyrant.COMMANDS)


# ------------------------------------------------------------------------------------------
# requests: encoders reproduce the recorded bytes


# Arguments read off each vector's description, encoded independently of parse_request.
EXPLICIT_REQUESTS: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "put": ("put", (b"key1", b"value1"), {}),
    "put_binary": ("put", (b"bin\x00\xff", b"\x00\x01\xff\xfe\n"), {}),
    "put_empty_value": ("put", (b"empty", b""), {}),
    "putkeep_new": ("putkeep", (b"keep", b"first"), {}),
    "putkeep_existing": ("putkeep", (b"keep", b"second"), {}),
    "putcat": ("putcat", (b"key1", b"+more"), {}),
    "putshl": ("putshl", (b"shl", b"abcdef", 5), {}),
    "putnr": ("putnr", (b"nr", b"no reply"), {}),
    "get_hit": ("get", (b"key1",), {}),
    "get_miss": ("get", (b"missing",), {}),
    "mget": ("mget", ([b"key1", b"missing", b"keep", b"empty"],), {}),
    "vsiz_hit": ("vsiz", (b"key1",), {}),
    "out_hit": ("out", (b"catnew",), {}),
    "addint_new": ("addint", (b"int", 5), {}),
    "addint_negative": ("addint", (b"int", -7), {}),
    "adddouble_new": ("adddouble", (b"dbl", 1.5), {}),
    "adddouble_negative": ("adddouble", (b"dbl", -2.25), {}),
    "ext_echo": ("ext", (b"echo", b"hello", b"world"), {}),
    "ext_echo_lock_record": ("ext", (b"echo", b"k", b"v"), {"opts": tyrant.RDBXOLCKREC}),
    "ext_echo_lock_global": ("ext", (b"echo", b"k", b"v"), {"opts": tyrant.RDBXOLCKGLB}),
    "ext_records": ("ext", (b"records",), {}),
    "fwmkeys_all": ("fwmkeys", (b"user:",), {}),
    "fwmkeys_max": ("fwmkeys", (b"user:", 2), {}),
    "misc_put_noulog": ("misc", (b"put", [b"mk", b"mv"]), {"opts": tyrant.RDBMONOULOG}),
    "misc_get": ("misc", (b"get", [b"mk"]), {}),
    "misc_error_unsupported": ("misc", (b"error",), {}),
    "sync": ("sync", (), {}),
    "optimize": ("optimize", (), {}),
    "vanish": ("vanish", (), {}),
    "copy": ("copy", (b"tt-copy.tch",), {}),
    "restore_missing_ulog": ("restore", (b"no-such-ulog",), {}),
    "setmst_none": ("setmst", (), {}),
    "rnum": ("rnum", (), {}),
    "size": ("size", (), {}),
    "stat": ("stat", (), {}),
    "iterinit": ("iterinit", (), {}),
    "iternext_1": ("iternext", (), {}),
    "table_put_1": (
        "misc",
        (b"put", tyrant.table_misc_args(b"1", {b"name": b"alice", b"age": b"30", b"city": b"tokyo"})),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPLICIT_REQUESTS))
def test_encoder_from_description(name: str) -> None:
    command, args, kwargs = EXPLICIT_REQUESTS[name]
    assert _command(BY_NAME[name]) == command
    assert tyrant.ENCODERS[command](*args, **kwargs) == _req(BY_NAME[name])


@pytest.mark.parametrize("v", REQUEST_VECTORS, ids=_ids(REQUEST_VECTORS))
def test_parse_request_then_encode(v: dict[str, Any]) -> None:
    req = _req(v)
    result = tyrant.parse_request(req, 0, len(req), LIMIT)
    assert isinstance(result, tuple)
    next_pos, request = result
    assert next_pos == len(req)
    assert request.command == _command(v)
    encoder = getattr(tyrant, f"encode_{request.command}")
    assert encoder(**request.fields) == req


@pytest.mark.parametrize("v", REQUEST_VECTORS, ids=_ids(REQUEST_VECTORS))
def test_parse_request_every_split(v: dict[str, Any]) -> None:
    req = _req(v)
    for cut in range(len(req)):
        need = tyrant.parse_request(req[:cut], 0, cut, LIMIT)
        assert isinstance(need, int) and cut < need <= len(req), (cut, need)
    # Offset start, trailing bytes of the next request, and non-bytes buffers.
    framed = b"\xaa\xbb" + req + b"\xc8\x80"
    for buf in (framed, bytearray(framed), memoryview(framed)):
        result = tyrant.parse_request(buf, 2, len(framed), LIMIT)
        assert isinstance(result, tuple) and result[0] == 2 + len(req)
        assert all(type(x) is not memoryview for x in result[1].fields.values())


def test_parse_request_decoded_fields() -> None:
    def fields(name: str) -> dict[str, Any]:
        req = _req(BY_NAME[name])
        result = tyrant.parse_request(req, 0, len(req), LIMIT)
        assert isinstance(result, tuple)
        return result[1].fields

    assert fields("putshl") == {"key": b"shl", "value": b"abcdef", "width": 5}
    assert fields("addint_negative") == {"key": b"int", "num": -7}
    assert fields("adddouble_negative") == {"key": b"dbl", "num": -2.25}
    assert fields("fwmkeys_all") == {"prefix": b"user:", "max_keys": -1}
    assert fields("misc_put_noulog") == {"name": b"put", "args": [b"mk", b"mv"], "opts": 1}
    assert fields("ext_echo_lock_global") == {"name": b"echo", "key": b"k", "value": b"v", "opts": 2}
    assert fields("setmst_none") == {"host": b"", "port": 0, "ts": 0, "opts": 0}
    assert fields("restore_missing_ulog") == {"path": b"no-such-ulog", "ts": 0, "opts": 0}
    assert fields("mget")["keys"] == [b"key1", b"missing", b"keep", b"empty"]


def test_unknown_command_is_protocol_error() -> None:
    v = BY_NAME["unknown_command"]
    assert v["reply"] == "closed"
    req = _req(v)
    with pytest.raises(ProtocolError):
        tyrant.parse_request(req, 0, len(req), LIMIT)


@pytest.mark.parametrize("data", [b"\x00", b"GET / HTTP/1.1\r\n", b"\xc8\x00", b"\xc8\x19"])
def test_parse_request_bad_bytes(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        tyrant.parse_request(data, 0, len(data), LIMIT)


@pytest.mark.parametrize(
    "data",
    [
        b"\xc8\x10" + struct.pack(">II", 1 << 30, 0),  # put: ksiz far over the limit
        b"\xc8\x30\xff\xff\xff\xff",  # get
        b"\xc8\x31" + struct.pack(">I", 1 << 28),  # mget: hostile key count
        b"\xc8\x90" + struct.pack(">III", 3, 0, 1 << 28) + b"put",  # misc: hostile arg count
        b"\xc8\x68" + struct.pack(">IIII", 1, 0, 1, 1 << 30),  # ext: vsiz
    ],
)
def test_parse_request_hostile_length_fails_fast(data: bytes) -> None:
    # Only the header has arrived: the length alone must be refused, not waited for.
    with pytest.raises(ProtocolError):
        tyrant.parse_request(data, 0, len(data), 4096)


# ------------------------------------------------------------------------------------------
# bad caller input


@pytest.mark.parametrize(
    "call",
    [
        lambda: tyrant.encode_put("key", b"v"),
        lambda: tyrant.encode_put(b"k", "value"),
        lambda: tyrant.encode_get(123),
        lambda: tyrant.encode_mget(b"single-key"),
        lambda: tyrant.encode_mget([b"a", "b"]),
        lambda: tyrant.encode_misc(b"put", b"arg"),
        lambda: tyrant.encode_misc(b"put", ["x"]),
        lambda: tyrant.encode_addint(b"k", 1.5),
        lambda: tyrant.encode_adddouble(b"k", "1.5"),
        lambda: tyrant.encode_ext("echo"),
    ],
)
def test_encoder_wrong_type(call: Any) -> None:
    with pytest.raises(InvalidTypeError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: tyrant.encode_addint(b"k", 1 << 31),
        lambda: tyrant.encode_addint(b"k", -(1 << 31) - 1),
        lambda: tyrant.encode_putshl(b"k", b"v", -1),
        lambda: tyrant.encode_fwmkeys(b"p", 1 << 31),
        lambda: tyrant.encode_ext(b"f", opts=-1),
        lambda: tyrant.encode_misc(b"f", opts=1 << 32),
        lambda: tyrant.encode_setmst(b"h", port=-1),
        lambda: tyrant.encode_restore(b"p", ts=-1),
    ],
)
def test_encoder_out_of_range(call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call()


def test_encoders_accept_bytearray() -> None:
    assert tyrant.encode_put(bytearray(b"key1"), bytearray(b"value1")) == _req(BY_NAME["put"])
    assert tyrant.encode_get(bytearray(b"key1")) == _req(BY_NAME["get_hit"])


def test_putnr_has_no_reader() -> None:
    assert tyrant.REPLY_SHAPES["putnr"] is None
    assert "putnr" not in tyrant.READERS
    assert not hasattr(tyrant, "read_putnr")
    assert BY_NAME["putnr"]["reply"] == "none"


# ------------------------------------------------------------------------------------------
# responses: readers decode the recorded bytes


def _expected(v: dict[str, Any]) -> tuple[int, Any]:
    """(code, result) the reader should give, from the vector's ``decoded`` (volatile skipped)."""
    d = v["decoded"]
    code = d["code"]
    shape = tyrant.REPLY_SHAPES[_command(v)]
    volatile = set(v["volatile"])
    if shape in (tyrant.TT_LIST, tyrant.TT_KVLIST):
        if "elements" in d:
            assert d["rnum"] == len(d["elements"])
            return code, [_b(x) for x in d["elements"]]
        if "keys" in d:
            assert d["knum"] == len(d["keys"])
            return code, [_b(x) for x in d["keys"]]
        assert d["rnum"] == len(d["records"])
        return code, [(_b(k), _b(x)) for k, x in d["records"]]
    if code:
        return code, None
    if shape == tyrant.TT_CODE:
        return code, None
    if _command(v) == "stat":
        assert "records" in volatile  # the stat text changes between runs
        return code, ...
    if shape == tyrant.TT_DATA:
        return code, _b(d["value"])
    if shape == tyrant.TT_I32:
        return code, d["vsiz"] if "vsiz" in d else d["sum"]
    if shape == tyrant.TT_U64:
        return code, ... if "value" in volatile else d["value"]
    assert shape == tyrant.TT_DOUBLE
    assert tyrant.unpack_double(d["integ"], d["fract"]) == d["sum"]
    return code, d["sum"]


def _check(v: dict[str, Any], result: Any, next_pos: int) -> None:
    assert isinstance(result, tuple), result
    assert result[0] == next_pos
    code, expected = _expected(v)
    assert result[1] == code
    if expected is ...:  # volatile: only the type is fixed
        assert result[2] is not None
    else:
        assert result[2] == expected
        assert type(result[2]) is type(expected)


@pytest.mark.parametrize("v", REPLY_VECTORS, ids=_ids(REPLY_VECTORS))
def test_reader_decodes_vector(v: dict[str, Any]) -> None:
    resp = _resp(v)
    read = tyrant.READERS[_command(v)]
    _check(v, read(resp, 0, len(resp), LIMIT), len(resp))
    # Consumes exactly the frame, from any start, in any buffer type.
    framed = b"\x07\x07\x07" + resp + b"\x00\x00\x00\x09\xff"
    for buf in (framed, bytearray(framed), memoryview(framed)):
        result = read(buf, 3, len(framed), LIMIT)
        _check(v, result, 3 + len(resp))
        if isinstance(result[2], list):
            flat = [x for item in result[2] for x in (item if isinstance(item, tuple) else (item,))]
            assert all(type(x) is bytes for x in flat)
        elif result[2] is not None and not isinstance(result[2], (int, float, str)):
            assert type(result[2]) is bytes


@pytest.mark.parametrize("v", REPLY_VECTORS, ids=_ids(REPLY_VECTORS))
def test_reader_every_split(v: dict[str, Any]) -> None:
    resp = _resp(v)
    read = tyrant.READERS[_command(v)]
    for cut in range(len(resp)):
        need = read(resp, 0, cut, LIMIT)
        assert isinstance(need, int) and cut < need <= len(resp), (cut, need)
        # The same prefix in a buffer with more (not yet valid) space after it.
        need2 = read(resp[:cut] + b"\x00" * 4, 0, cut, LIMIT)
        assert need2 == need


def test_adddouble_reader_values() -> None:
    for name, integ, fract, total in (
        ("adddouble_new", 1, 500000000000, 1.5),
        ("adddouble_negative", 0, -750000000000, -0.75),
    ):
        resp = _resp(BY_NAME[name])
        assert struct.unpack(">qq", resp[1:]) == (integ, fract)
        assert tyrant.read_adddouble(resp, 0, len(resp), LIMIT) == (len(resp), 0, total)


@pytest.mark.parametrize(
    ("read", "data"),
    [
        (tyrant.read_get, b"\x00\xff\xff\xff\xff"),
        (tyrant.read_misc, b"\x00\x7f\xff\xff\xff"),
        (tyrant.read_mget, b"\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\x00"),
        (tyrant.read_stat, b"\x00\x10\x00\x00\x00"),
    ],
)
def test_reader_hostile_length_fails_fast(read: Any, data: bytes) -> None:
    with pytest.raises(ProtocolError):
        read(data, 0, len(data), 4096)


# ------------------------------------------------------------------------------------------
# replies: the stand-in's encoders reproduce the recorded bytes


def _mask(data: bytes, ranges: list[list[int]]) -> bytes:
    out = bytearray(data)
    for off, length in ranges:
        stop = len(out) if length == -1 else off + length
        out[off:stop] = b"\x00" * (stop - off)
    return bytes(out)


def _reencode(v: dict[str, Any]) -> bytes:
    command = _command(v)
    d = v["decoded"]
    code = d["code"]
    shape = tyrant.REPLY_SHAPES[command]
    if shape == tyrant.TT_LIST:
        items = d["elements"] if "elements" in d else d["keys"]
        return getattr(tyrant, f"encode_{command}_reply")(code, [_b(x) for x in items])
    if shape == tyrant.TT_KVLIST:
        return tyrant.encode_mget_reply(code, [(_b(k), _b(x)) for k, x in d["records"]])
    if code:
        return tyrant.encode_code_reply(code)
    encode = getattr(tyrant, f"encode_{command}_reply")
    if shape == tyrant.TT_CODE:
        return encode()
    if command == "stat":
        return encode("".join(f"{k}\t{x}\n" for k, x in d["records"]))
    if shape == tyrant.TT_DATA:
        return encode(_b(d["value"]))
    if shape == tyrant.TT_I32:
        return encode(d["vsiz"] if "vsiz" in d else d["sum"])
    if shape == tyrant.TT_U64:
        return encode(d["value"])
    return encode(d["sum"])


@pytest.mark.parametrize("v", REPLY_VECTORS, ids=_ids(REPLY_VECTORS))
def test_reply_encoder_reproduces_vector(v: dict[str, Any]) -> None:
    ranges = v.get("volatile_ranges", [])
    assert _mask(_reencode(v), ranges) == _mask(_resp(v), ranges)


def test_reply_shapes_match_readers() -> None:
    for command, shape in tyrant.REPLY_SHAPES.items():
        if shape is None:
            continue
        reader = tyrant.READERS[command]
        assert reader is getattr(tyrant, f"read_{command}")
        assert callable(getattr(tyrant, f"encode_{command}_reply"))


# ------------------------------------------------------------------------------------------
# stat text


def test_parse_stat_vector() -> None:
    text = "".join(f"{k}\t{x}\n" for k, x in BY_NAME["stat"]["decoded"]["records"])
    status = tyrant.parse_stat(text)
    assert status["version"] == "1.1.41"
    assert status["type"] == "on-memory hash"
    assert status["path"] == "*"
    assert status["rnum"] == 3 and type(status["rnum"]) is int
    assert status["loadavg"] == pytest.approx(0.780762) and type(status["loadavg"]) is float
    assert status["cnt_misc"] == 14
    assert tyrant.parse_stat(text.encode()) == status
    # Re-formatting (floats as %.6f) reproduces ttserver's text except protver's short form.
    assert tyrant.parse_stat(tyrant.format_stat(status)) == status


def test_parse_stat_edge_lines() -> None:
    assert tyrant.parse_stat("a\t-5\nb\t\n\nc\nd\t1e5\ne\t-0.5\n") == {"a": -5, "b": "", "c": "", "d": "1e5", "e": -0.5}


# ------------------------------------------------------------------------------------------
# doubles


@pytest.mark.parametrize(
    ("num", "parts"),
    [
        (1.5, (1, 500000000000)),
        (-0.75, (0, -750000000000)),
        (-2.25, (-2, -250000000000)),
        (0.0, (0, 0)),
        (math.inf, ((1 << 63) - 1, 0)),
        (-math.inf, (-(1 << 63), 0)),
        (math.nan, (-(1 << 63), -(1 << 63))),
    ],
)
def test_pack_double(num: float, parts: tuple[int, int]) -> None:
    assert tyrant.pack_double(num) == parts
    back = tyrant.unpack_double(*parts)
    assert (math.isnan(back) and math.isnan(num)) or back == num
    reply = tyrant.encode_double_reply(num)
    got = tyrant.read_adddouble(reply, 0, len(reply), LIMIT)
    assert isinstance(got, tuple) and got[:2] == (17, 0)
    assert (math.isnan(got[2]) and math.isnan(num)) or got[2] == num


# ------------------------------------------------------------------------------------------
# property round trips: client encode -> server parse, server reply -> client read

blobs = st.binary(max_size=64)
u32 = st.integers(0, (1 << 32) - 1)
i32 = st.integers(-(1 << 31), (1 << 31) - 1)
u64 = st.integers(0, (1 << 64) - 1)
# Doubles TT can carry: |x| < 2**63, and the fraction x 1e12 survives (at most ~12 decimals).
wire_doubles = st.builds(
    lambda i, f: i + f / 1e12 if i >= 0 else i - f / 1e12,
    st.integers(-(1 << 40), 1 << 40),
    st.integers(0, 999_999_999_999),
)

request_args = st.one_of(
    st.tuples(
        st.sampled_from(["put", "putkeep", "putcat", "putnr"]), st.fixed_dictionaries({"key": blobs, "value": blobs})
    ),
    st.tuples(
        st.just("putshl"), st.fixed_dictionaries({"key": blobs, "value": blobs, "width": st.integers(0, (1 << 31) - 1)})
    ),
    st.tuples(st.sampled_from(["out", "get", "vsiz"]), st.fixed_dictionaries({"key": blobs})),
    st.tuples(st.just("mget"), st.fixed_dictionaries({"keys": st.lists(blobs, max_size=8)})),
    st.tuples(st.sampled_from(["iterinit", "iternext", "sync", "vanish", "rnum", "size", "stat"]), st.just({})),
    st.tuples(st.just("fwmkeys"), st.fixed_dictionaries({"prefix": blobs, "max_keys": i32})),
    st.tuples(st.just("addint"), st.fixed_dictionaries({"key": blobs, "num": i32})),
    st.tuples(st.just("ext"), st.fixed_dictionaries({"name": blobs, "key": blobs, "value": blobs, "opts": u32})),
    st.tuples(st.just("optimize"), st.fixed_dictionaries({"params": blobs})),
    st.tuples(st.just("copy"), st.fixed_dictionaries({"path": blobs})),
    st.tuples(st.just("restore"), st.fixed_dictionaries({"path": blobs, "ts": u64, "opts": u32})),
    st.tuples(st.just("setmst"), st.fixed_dictionaries({"host": blobs, "port": u32, "ts": u64, "opts": u32})),
    st.tuples(
        st.just("misc"), st.fixed_dictionaries({"name": blobs, "args": st.lists(blobs, max_size=8), "opts": u32})
    ),
)


@settings(max_examples=300)
@given(request_args, st.integers(0, 3))
def test_request_round_trip(command_fields: tuple[str, dict[str, Any]], lead: int) -> None:
    command, fields = command_fields
    data = tyrant.ENCODERS[command](**fields)
    buf = b"\x00" * lead + data + b"\xc8"
    result = tyrant.parse_request(buf, lead, len(buf), LIMIT)
    assert isinstance(result, tuple)
    assert result[0] == lead + len(data)
    assert result[1] == tyrant.Request(command, fields)
    need = tyrant.parse_request(buf, lead, lead + len(data) - 1, LIMIT)
    assert isinstance(need, int) and need > lead + len(data) - 1


@settings(max_examples=200)
@given(blobs, wire_doubles)
def test_adddouble_request_round_trip(key: bytes, num: float) -> None:
    data = tyrant.encode_adddouble(key, num)
    result = tyrant.parse_request(data, 0, len(data), LIMIT)
    assert isinstance(result, tuple)
    assert result[1].fields["key"] == key
    # Exactly what ttserver rebuilds from the wire parts (ttunpackdouble).
    assert result[1].fields["num"] == tyrant.unpack_double(*tyrant.pack_double(num))
    assert result[1].fields["num"] == pytest.approx(num, rel=1e-12, abs=1e-12)


codes = st.integers(1, 255)


def _read_all(read: Any, data: bytes) -> Any:
    result = read(data, 0, len(data), LIMIT)
    assert isinstance(result, tuple) and result[0] == len(data)
    return result[1:]


@given(codes)
def test_code_reply_round_trip(code: int) -> None:
    data = tyrant.encode_code_reply(code)
    for read in (
        tyrant.read_put,
        tyrant.read_get,
        tyrant.read_vsiz,
        tyrant.read_rnum,
        tyrant.read_adddouble,
        tyrant.read_stat,
    ):
        assert _read_all(read, data) == (code, None)


@given(blobs)
def test_data_reply_round_trip(value: bytes) -> None:
    assert _read_all(tyrant.read_get, tyrant.encode_get_reply(value)) == (0, value)


@given(i32)
def test_i32_reply_round_trip(value: int) -> None:
    assert _read_all(tyrant.read_addint, tyrant.encode_addint_reply(value)) == (0, value)


@given(u64)
def test_u64_reply_round_trip(value: int) -> None:
    assert _read_all(tyrant.read_rnum, tyrant.encode_rnum_reply(value)) == (0, value)


@given(wire_doubles)
def test_double_reply_round_trip(value: float) -> None:
    code, got = _read_all(tyrant.read_adddouble, tyrant.encode_adddouble_reply(value))
    assert code == 0
    assert got == tyrant.unpack_double(*tyrant.pack_double(value))
    assert got == pytest.approx(value, rel=1e-12, abs=1e-12)
    if value < 0:
        assert got <= 0


@given(st.integers(0, 255), st.lists(blobs, max_size=10))
def test_list_reply_round_trip(code: int, items: list[bytes]) -> None:
    assert _read_all(tyrant.read_misc, tyrant.encode_misc_reply(code, items)) == (code, items)
    assert _read_all(tyrant.read_fwmkeys, tyrant.encode_fwmkeys_reply(code, items)) == (code, items)


@given(st.integers(0, 255), st.lists(st.tuples(blobs, blobs), max_size=10))
def test_kvlist_reply_round_trip(code: int, pairs: list[tuple[bytes, bytes]]) -> None:
    assert _read_all(tyrant.read_mget, tyrant.encode_mget_reply(code, pairs)) == (code, pairs)


stat_names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
stat_values = st.one_of(st.integers(-(10**12), 10**12), st.text("abc xyz*/-.", max_size=10))


@given(st.dictionaries(stat_names, stat_values))
def test_stat_reply_round_trip(status: dict[str, Any]) -> None:
    code, text = _read_all(tyrant.read_stat, tyrant.encode_stat_reply(status))
    assert code == 0
    assert tyrant.parse_stat(text) == status


def test_reader_buffer_stream_of_replies() -> None:
    """The connection's Reader, fed the recorded replies of one connection a byte at a time."""
    from kt_core.codec.reader import NEED_MORE, Reader

    stream = [v for v in REPLY_VECTORS if v["connection"] == "t1"]
    reader = Reader(max_response_size=LIMIT)
    data = b"".join(_resp(v) for v in stream)
    fed = 0
    for v in stream:
        read = tyrant.READERS[_command(v)]
        while True:
            result = reader.read(read)
            if result is not NEED_MORE:
                break
            reader.feed(data[fed : fed + 1])
            fed += 1
        _check(v, result, result[0])
    assert fed == len(data) and reader.pending == 0


@pytest.mark.parametrize("args", [[], [b""], [b"k", b"v"], [b"k%d" % i for i in range(300)], [b"\x00" * 70000]])
def test_encode_misc_of_a_bytes_list_is_the_checked_encoding(args: list[bytes]) -> None:
    # A list of plain bytes takes encode_misc's one-pass path; a tuple or a bytearray the checked one.
    assert tyrant.encode_misc(b"putlist", args, 1) == tyrant.encode_misc(b"putlist", tuple(args), 1)
    if args:
        mixed = [bytearray(args[0]), *args[1:]]
        assert tyrant.encode_misc(b"putlist", mixed, 1) == tyrant.encode_misc(b"putlist", tuple(args), 1)
    with pytest.raises(InvalidTypeError):
        tyrant.encode_misc(b"putlist", [*args, "text"])
