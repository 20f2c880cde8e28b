"""Each built-in serializer round-trips its documented types and rejects what it cannot encode."""

from __future__ import annotations

import datetime
import decimal
import fractions
import json
import pickle
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kt_serializers import (
    KT_BINARY,
    KT_JSON,
    KT_MSGPACK,
    KT_NONE,
    KT_PICKLE,
    TT_TABLE,
    BinarySerializer,
    JsonSerializer,
    MsgpackSerializer,
    NoneSerializer,
    PickleSerializer,
    SerializationError,
    Serializer,
    TableSerializer,
    ZlibSerializer,
    get_serializer,
)

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "tt-binary.json"

ALL_CLASSES = [BinarySerializer, JsonSerializer, MsgpackSerializer, NoneSerializer, PickleSerializer,
               TableSerializer, ZlibSerializer]


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_every_builtin_satisfies_the_protocol(cls: type) -> None:
    assert isinstance(cls(), Serializer)


def test_constants_are_the_registered_names() -> None:
    assert (KT_BINARY, KT_JSON, KT_MSGPACK, KT_NONE, KT_PICKLE, TT_TABLE) == (
        "binary", "json", "msgpack", "none", "pickle", "table")
    for const, cls in [(KT_BINARY, BinarySerializer), (KT_JSON, JsonSerializer), (KT_MSGPACK, MsgpackSerializer),
                       (KT_NONE, NoneSerializer), (KT_PICKLE, PickleSerializer), (TT_TABLE, TableSerializer)]:
        assert type(get_serializer(const)) is cls


# --- KT_BINARY -------------------------------------------------------------------------------------------------

def test_binary_text_and_bytes() -> None:
    s = BinarySerializer()
    assert s.dumps("héllo 東京 🐍") == "héllo 東京 🐍".encode()
    assert s.loads("héllo 東京 🐍".encode()) == "héllo 東京 🐍"
    assert s.dumps(b"\x00\xff") == b"\x00\xff"
    assert s.dumps(bytearray(b"ab")) == b"ab" and type(s.dumps(bytearray(b"ab"))) is bytes
    assert s.dumps(memoryview(b"ab")) == b"ab" and type(s.dumps(memoryview(b"ab"))) is bytes
    assert s.loads(b"") == ""


def test_binary_loads_leaves_invalid_utf8_as_bytes() -> None:
    # a value written by another client must never crash the reader
    assert BinarySerializer().loads(b"\xff\xfe\x00") == b"\xff\xfe\x00"


@pytest.mark.parametrize(("value", "stored"), [
    (1, b"1"), (-42, b"-42"), (1.5, b"1.5"), (2**70, b"1180591620717411303424"), (float("inf"), b"inf")])
def test_binary_stores_numbers_as_their_text_like_kt_096(value: Any, stored: bytes) -> None:
    s = BinarySerializer()
    assert s.dumps(value) == stored
    assert s.loads(s.dumps(value)) == str(value)


@pytest.mark.parametrize("value", [None, True, ["a"], {"a": 1}, (1,), object()])
def test_binary_rejects_non_text(value: Any) -> None:
    with pytest.raises(TypeError, match=rf"KT_BINARY.*{type(value).__name__}"):
        BinarySerializer().dumps(value)


def test_binary_rejects_lone_surrogate_with_value_error() -> None:
    with pytest.raises(SerializationError, match="KT_BINARY"):
        BinarySerializer().dumps("\ud800")


@given(st.text())
def test_binary_text_round_trip(value: str) -> None:
    s = BinarySerializer()
    assert s.loads(s.dumps(value)) == value


@given(st.binary())
def test_binary_bytes_round_trip(value: bytes) -> None:
    s = BinarySerializer()
    try:
        expected: Any = value.decode("utf-8")
    except UnicodeDecodeError:
        expected = value
    assert s.loads(s.dumps(value)) == expected


# --- KT_NONE ---------------------------------------------------------------------------------------------------

@given(st.binary())
def test_none_round_trip(value: bytes) -> None:
    s = NoneSerializer()
    assert s.dumps(value) == value
    out = s.loads(s.dumps(value))
    assert out == value and type(out) is bytes


def test_none_bytes_like() -> None:
    s = NoneSerializer()
    assert type(s.dumps(bytearray(b"x"))) is bytes and s.dumps(memoryview(b"xy")) == b"xy"
    assert s.loads(b"\xff") == b"\xff"


@pytest.mark.parametrize("value", ["text", 1, None, [b"a"]])
def test_none_rejects_everything_but_bytes(value: Any) -> None:
    with pytest.raises(TypeError, match=rf"KT_NONE.*{type(value).__name__}"):
        NoneSerializer().dumps(value)


# --- KT_JSON ---------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=20,
)


@given(json_values)
def test_json_round_trip(value: Any) -> None:
    s = JsonSerializer()
    assert s.loads(s.dumps(value)) == value


def test_json_nested_non_ascii_is_compact_utf8() -> None:
    s = JsonSerializer()
    value = {"名前": "ゆき", "tags": ["ä", {"deep": [1, 2.5, None, True]}]}
    data = s.dumps(value)
    assert data == '{"名前":"ゆき","tags":["ä",{"deep":[1,2.5,null,true]}]}'.encode()
    assert s.loads(data) == value
    assert json.loads(data) == value


@pytest.mark.parametrize("value, type_name", [(b"raw", "bytes"), ({1, 2}, "set"), (object(), "object"),
                                              ({"k": {1}}, "dict")])
def test_json_rejects_unencodable(value: Any, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"KT_JSON.*type {type_name}"):
        JsonSerializer().dumps(value)


def test_json_circular_is_value_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"KT_JSON.*list"):
        JsonSerializer().dumps(loop)


def test_json_loads_garbage() -> None:
    with pytest.raises(SerializationError, match="KT_JSON"):
        JsonSerializer().loads(b"{not json")
    with pytest.raises(SerializationError, match="KT_JSON"):
        JsonSerializer().loads(b"\xff")


# --- KT_MSGPACK ------------------------------------------------------------------------------------------------

msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text() | st.binary(), children, max_size=5),
    max_leaves=20,
)


@given(msgpack_values)
def test_msgpack_round_trip(value: Any) -> None:
    s = MsgpackSerializer()
    assert s.loads(s.dumps(value)) == value


def test_msgpack_text_vs_bytes() -> None:
    s = MsgpackSerializer()
    out = s.loads(s.dumps({"text": "日本", "blob": b"\xff\x00", "list": ["a", b"b"]}))
    assert out == {"text": "日本", "blob": b"\xff\x00", "list": ["a", b"b"]}
    assert type(out["text"]) is str and type(out["blob"]) is bytes
    assert type(out["list"][0]) is str and type(out["list"][1]) is bytes
    # the wire is msgpack's default encoding: str type for text, bin type for bytes
    assert s.dumps("a") == msgpack.packb("a") == b"\xa1a"
    assert s.dumps(b"a") == b"\xc4\x01a"


def test_msgpack_docstring_states_the_semantics() -> None:
    doc = MsgpackSerializer.__doc__ or ""
    assert "str" in doc and "bytes" in doc and "kt-serializers[msgpack]" in doc


def test_msgpack_options_pass_through() -> None:
    strict = MsgpackSerializer()
    with pytest.raises(SerializationError, match="KT_MSGPACK"):
        strict.loads(strict.dumps({1: "a"}))  # msgpack's default strict_map_key
    lax = MsgpackSerializer(unpack_options={"strict_map_key": False})
    assert lax.loads(lax.dumps({1: "a"})) == {1: "a"}


@pytest.mark.parametrize("value, exc", [(object(), TypeError), ({1, 2}, TypeError), (2**64, ValueError)])
def test_msgpack_rejects_unencodable(value: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc, match=rf"KT_MSGPACK.*{type(value).__name__}"):
        MsgpackSerializer().dumps(value)


def test_msgpack_loads_garbage() -> None:
    with pytest.raises(SerializationError, match="KT_MSGPACK"):
        MsgpackSerializer().loads(b"\xc1")


# --- KT_PICKLE -------------------------------------------------------------------------------------------------

class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


@pytest.mark.parametrize("value", [
    Point(1, 2),
    {"set": {1, 2}, "tuple": (1, "é", b"\x00"), "frozen": frozenset("ab")},
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    decimal.Decimal("1.10"),
    fractions.Fraction(1, 3),
    OrderedDict(a=1),
    None,
    b"bytes",
])
def test_pickle_round_trip_objects(value: Any) -> None:
    s = PickleSerializer()
    out = s.loads(s.dumps(value))
    assert out == value and type(out) is type(value)


def test_pickle_is_documented_unsafe() -> None:
    assert "untrusted" in (PickleSerializer.__doc__ or "")


@pytest.mark.parametrize("value", [lambda: 1, threading.Lock()])
def test_pickle_rejects_unpicklable(value: Any) -> None:
    with pytest.raises(TypeError, match=rf"KT_PICKLE.*{type(value).__name__}"):
        PickleSerializer().dumps(value)


def test_pickle_protocol_and_garbage() -> None:
    assert PickleSerializer(protocol=2).dumps(1)[:2] == b"\x80\x02"
    with pytest.raises(SerializationError, match="KT_PICKLE"):
        PickleSerializer().loads(b"not a pickle")
    assert pickle.loads(PickleSerializer().dumps([1])) == [1]


# --- TT_TABLE --------------------------------------------------------------------------------------------------

def test_table_wire_format() -> None:
    s = TableSerializer()
    assert s.dumps({"name": "alice", "age": 30, "score": 1.5}) == b"name\x00alice\x00age\x0030\x00score\x001.5"
    assert s.dumps({}) == b""
    assert s.loads(b"") == {}
    assert s.loads(b"a\x00\x00b\x00x") == {"a": "", "b": "x"}
    assert s.loads(b"\x00") == {"": ""}


def test_table_binary_and_non_ascii_columns() -> None:
    s = TableSerializer()
    record: dict[Any, Any] = {"名前": "ゆき", b"blob": b"\xff\xfe\x01", "raw": bytearray(b"ok")}
    out = s.loads(s.dumps(record))
    assert out == {"名前": "ゆき", "blob": b"\xff\xfe\x01", "raw": "ok"}
    assert type(out["blob"]) is bytes
    assert s.loads(b"\xff\x00v") == {b"\xff": "v"}  # an undecodable column name stays bytes


@given(st.dictionaries(st.text().filter(lambda t: "\x00" not in t),
                       st.text().filter(lambda t: "\x00" not in t)
                       | st.binary().filter(lambda b: b"\x00" not in b)))
def test_table_round_trip(record: dict[str, Any]) -> None:
    s = TableSerializer()
    expected = {}
    for k, v in record.items():
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                pass
        expected[k] = v
    assert s.loads(s.dumps(record)) == expected


@pytest.mark.parametrize("record, exc, pattern", [
    ({"a": None}, TypeError, "TT_TABLE.*NoneType"),
    ({"a": True}, TypeError, "TT_TABLE.*bool"),
    ({"a": [1]}, TypeError, "TT_TABLE.*list"),
    ({1: "a"}, TypeError, "TT_TABLE.*column name of type int"),
    ({"a\x00b": "v"}, ValueError, "TT_TABLE.*NUL.*column name"),
    ({"a": "v\x00w"}, ValueError, "TT_TABLE.*NUL"),
    ({"a": b"\x00"}, ValueError, "TT_TABLE.*NUL"),
    ([("a", "b")], TypeError, "TT_TABLE.*list"),
    ("a\x00b", TypeError, "TT_TABLE.*str"),
])
def test_table_rejects(record: Any, exc: type[Exception], pattern: str) -> None:
    with pytest.raises(exc, match=pattern):
        TableSerializer().dumps(record)


def test_table_odd_field_count() -> None:
    with pytest.raises(ValueError, match=r"TT_TABLE.*odd"):
        TableSerializer().loads(b"a\x00b\x00c")


def test_table_matches_the_recorded_tt_vectors() -> None:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))  # recorded from the real ttserver; must exist
    checked = 0
    for vector in vectors:
        decoded = vector.get("decoded", {})
        if "table_record" in decoded:
            raw = decoded["value"].encode("latin-1")
            record = dict(decoded["table_record"])
            assert TableSerializer().loads(raw) == record
            assert TableSerializer().dumps(record) == raw
            checked += 1
        for raw_text, pairs in zip(decoded.get("elements", []), decoded.get("table_records", [])):
            assert TableSerializer().loads(raw_text.encode("latin-1")) == dict(pairs)
            checked += 1
    assert checked >= 3


# --- composition -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("inner, value", [
    (KT_JSON, {"a": ["é" * 100]}),
    (KT_BINARY, "text " * 100),
    (KT_NONE, b"\x00" * 1000),
    (KT_MSGPACK, {"b": b"\xff" * 100}),
    (KT_PICKLE, {1, 2, 3}),
    (TT_TABLE, {"c": "v" * 100}),
    (JsonSerializer(), [1, 2]),
])
def test_zlib_wraps_any_serializer(inner: Any, value: Any) -> None:
    s = ZlibSerializer(inner)
    data = s.dumps(value)
    assert s.loads(data) == value
    assert s.inner.loads(__import__("zlib").decompress(data)) == value


def test_zlib_compresses_and_composes() -> None:
    big = {"k": "x" * 10_000}
    assert len(ZlibSerializer(KT_JSON, level=9).dumps(big)) < len(JsonSerializer().dumps(big)) // 10
    double = ZlibSerializer(ZlibSerializer(KT_JSON))
    assert double.loads(double.dumps(big)) == big


def test_zlib_errors() -> None:
    with pytest.raises(TypeError, match="KT_JSON"):  # the inner serializer's error, unchanged
        ZlibSerializer(KT_JSON).dumps({1, 2})
    with pytest.raises(SerializationError, match="zlib"):
        ZlibSerializer(KT_JSON).loads(b"not zlib")
    for level in (10, -2, "6", True):
        with pytest.raises(ValueError, match="level"):
            ZlibSerializer(KT_JSON, level=level)  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        ZlibSerializer("no-such-serializer")


def test_standalone_zlib_is_over_none() -> None:
    s = get_serializer("zlib")
    assert isinstance(s, ZlibSerializer) and isinstance(s.inner, NoneSerializer)
    assert s.loads(s.dumps(b"abc" * 50)) == b"abc" * 50
    with pytest.raises(TypeError, match="KT_NONE"):
        s.dumps("text")
