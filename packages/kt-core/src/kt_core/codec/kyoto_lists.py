"""Kyoto Tycoon's list and map record formats: what Lua's ``kt.arraydump``/``kt.mapdump`` write
and ``kt.arrayload``/``kt.mapload`` read, so a value a script stores can be read here and back.

- A list is its elements, each as ``varnum(len) bytes``.
- A map is its entries, each as ``varnum(len(key)) varnum(len(value)) key value``.

``varnum`` is Kyoto Cabinet's variable-length number: big-endian groups of 7 bits, every byte but
the last with its high bit set (``0x7f`` is one byte, ``0x80`` is ``81 00``).

Elements may be ``str`` (stored as UTF-8), bytes-like, or ``int``/``float`` (stored as their text,
as kt 0.9.6 stores them). Reading: with ``decode_values=True`` (kt 0.9.6's default) an element that
is valid UTF-8 comes back as ``str`` and any other as ``bytes``; with ``decode_values=False`` every
element is ``bytes``. Map keys are always decoded that way. Malformed data raises
:class:`~kt_core.errors.InvalidArgumentError` naming where it broke.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Union

from ..errors import InvalidArgumentError, InvalidTypeError

__all__ = ["serialize_list", "deserialize_list", "serialize_dict", "deserialize_dict"]

Element = Union[str, bytes]

# A u64 needs at most ten 7-bit groups; a longer number is not one Kyoto Cabinet wrote.
_MAX_VARNUM_BYTES = 10
_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def _varnum(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE[n]
    out = bytearray((n & 0x7F,))
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.reverse()
    return bytes(out)


def _element(item: Any, what: str) -> bytes:
    if type(item) is bytes:
        return item
    if isinstance(item, str):
        try:
            return item.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"{what} cannot be encoded as UTF-8: {exc}") from None
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return str(item).encode("ascii")
    raise InvalidTypeError(f"{what} must be str, bytes, int or float, not {type(item).__name__}")


def serialize_list(items: Iterable[Any]) -> bytes:
    """``items`` in ``kt.arraydump``'s format."""
    if isinstance(items, (str, bytes, bytearray, memoryview, Mapping)) or not isinstance(items, Iterable):
        raise InvalidTypeError(f"serialize_list takes a list of elements, not {type(items).__name__}")
    parts: list[bytes] = []
    for i, item in enumerate(items):
        data = _element(item, f"list element {i}")
        parts.append(_varnum(len(data)))
        parts.append(data)
    return b"".join(parts)


def serialize_dict(data: Mapping[Any, Any]) -> bytes:
    """``data`` in ``kt.mapdump``'s format (entries in the mapping's order)."""
    if not isinstance(data, Mapping):
        raise InvalidTypeError(f"serialize_dict takes a mapping, not {type(data).__name__}")
    parts: list[bytes] = []
    for key, value in data.items():
        k = _element(key, "map key")
        v = _element(value, f"map value of {key!r}")
        parts += (_varnum(len(k)), _varnum(len(v)), k, v)
    return b"".join(parts)


def _bytes_of(data: Any, what: str) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise InvalidTypeError(f"{what} takes bytes, not {type(data).__name__}")


def _read_varnum(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """The number at ``pos`` and the position after it."""
    n = 0
    end = len(data)
    start = pos
    while pos < end:
        c = data[pos]
        pos += 1
        n = (n << 7) | (c & 0x7F)
        if c < 0x80:
            return n, pos
        if pos - start >= _MAX_VARNUM_BYTES:
            break
    raise InvalidArgumentError(f"{what}: bad length at byte {start} (the data is cut short or corrupt)")


def _text(data: bytes) -> Element:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def deserialize_list(data: bytes, decode_values: bool = True) -> list[Element]:
    """The elements of a ``kt.arraydump`` value."""
    data = _bytes_of(data, "deserialize_list")
    out: list[Element] = []
    pos, end = 0, len(data)
    while pos < end:
        size, pos = _read_varnum(data, pos, "deserialize_list")
        if pos + size > end:
            raise InvalidArgumentError(f"deserialize_list: element {len(out)} needs {size} bytes, "
                                       f"{end - pos} are left")
        item = data[pos:pos + size]
        pos += size
        out.append(_text(item) if decode_values else item)
    return out


def deserialize_dict(data: bytes, decode_values: bool = True) -> dict[Element, Element]:
    """The entries of a ``kt.mapdump`` value."""
    data = _bytes_of(data, "deserialize_dict")
    out: dict[Element, Element] = {}
    pos, end = 0, len(data)
    while pos < end:
        ksize, pos = _read_varnum(data, pos, "deserialize_dict")
        vsize, pos = _read_varnum(data, pos, "deserialize_dict")
        if pos + ksize + vsize > end:
            raise InvalidArgumentError(f"deserialize_dict: entry {len(out)} needs {ksize + vsize} bytes, "
                                       f"{end - pos} are left")
        key = data[pos:pos + ksize]
        pos += ksize
        value = data[pos:pos + vsize]
        pos += vsize
        out[_text(key)] = _text(value) if decode_values else value
    return out
