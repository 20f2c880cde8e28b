"""serialize_list / deserialize_list / serialize_dict / deserialize_dict: Kyoto Tycoon's arraydump/mapdump format."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kt_core.codec.kyoto_lists import deserialize_dict, deserialize_list, serialize_dict, serialize_list
from kt_core.errors import InvalidArgumentError, InvalidTypeError


# Lengths written as Kyoto Cabinet's varnum: 7-bit groups, big-endian, high bit on all but the last byte.
@pytest.mark.parametrize(("size", "prefix"), [
    (0, b"\x00"), (1, b"\x01"), (0x7F, b"\x7f"), (0x80, b"\x81\x00"), (300, b"\x82\x2c"),
    (0x3FFF, b"\xff\x7f"), (0x4000, b"\x81\x80\x00"),
])
def test_serialize_list_length_prefix_is_a_varnum(size: int, prefix: bytes) -> None:
    data = b"x" * size
    assert serialize_list([data]) == prefix + data
    assert deserialize_list(prefix + data, decode_values=False) == [data]


def test_serialize_list_known_bytes() -> None:
    assert serialize_list([]) == b""
    assert serialize_list(["a", b"bc", "", "é"]) == b"\x01a\x02bc\x00\x02\xc3\xa9"
    assert serialize_list([1, -2, 1.5]) == b"\x011\x02-2\x031.5"  # numbers as their text, as kt 0.9.6


def test_serialize_dict_known_bytes() -> None:
    assert serialize_dict({}) == b""
    assert serialize_dict({"k": "v", b"key2": b""}) == b"\x01\x01kv\x04\x00key2"
    assert serialize_dict({"n": 10}) == b"\x01\x02n10"


def test_deserialize_decodes_utf8_values_by_default_and_keeps_other_bytes() -> None:
    data = serialize_list(["text", b"\xff\xfe", "東京"])
    assert deserialize_list(data) == ["text", b"\xff\xfe", "東京"]
    assert deserialize_list(data, decode_values=False) == [b"text", b"\xff\xfe", "東京".encode()]
    mapped = serialize_dict({"a": "1", "b": b"\x80"})
    assert deserialize_dict(mapped) == {"a": "1", "b": b"\x80"}
    assert deserialize_dict(mapped, decode_values=False) == {"a": b"1", "b": b"\x80"}


def test_deserialize_accepts_bytearray_and_memoryview() -> None:
    data = serialize_list(["a", "b"])
    assert deserialize_list(bytearray(data)) == ["a", "b"]
    assert deserialize_dict(memoryview(serialize_dict({"k": "v"}))) == {"k": "v"}


@pytest.mark.parametrize("data", [
    b"\x05abc",  # the element is cut short
    b"\x81",  # the length is cut short
    b"\xff" * 11 + b"\x00",  # a length longer than any u64
])
def test_deserialize_list_refuses_malformed_data(data: bytes) -> None:
    with pytest.raises(InvalidArgumentError, match="deserialize_list"):
        deserialize_list(data)


@pytest.mark.parametrize("data", [b"\x01", b"\x01\x05kv", b"\x02\x01k"])
def test_deserialize_dict_refuses_malformed_data(data: bytes) -> None:
    with pytest.raises(InvalidArgumentError, match="deserialize_dict"):
        deserialize_dict(data)


@pytest.mark.parametrize("items", [None, "abc", b"abc", {"a": 1}, 5, [None], [["nested"]], [True], ["\ud800"]])
def test_serialize_list_refuses_what_it_cannot_store(items: Any) -> None:
    with pytest.raises(InvalidArgumentError):  # InvalidTypeError is one
        serialize_list(items)


@pytest.mark.parametrize("data", [None, ["a"], [("k", "v")], {None: "v"}, {"k": object()}])
def test_serialize_dict_refuses_what_it_cannot_store(data: Any) -> None:
    with pytest.raises(InvalidTypeError):
        serialize_dict(data)


def test_deserialize_refuses_text() -> None:
    with pytest.raises(InvalidTypeError):
        deserialize_list("\x01a")  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        deserialize_dict(None)  # type: ignore[arg-type]


@given(st.lists(st.binary(max_size=300)))
def test_list_round_trip(items: list[bytes]) -> None:
    assert deserialize_list(serialize_list(items), decode_values=False) == items


@given(st.lists(st.text(max_size=50)))
def test_text_list_round_trip(items: list[str]) -> None:
    assert deserialize_list(serialize_list(items)) == items


@given(st.dictionaries(st.text(max_size=40), st.binary(max_size=300)))
def test_dict_round_trip(data: dict[str, bytes]) -> None:
    assert deserialize_dict(serialize_dict(data), decode_values=False) == data
