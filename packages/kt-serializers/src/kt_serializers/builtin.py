"""The built-in serializers: KT_BINARY, KT_NONE, KT_JSON, KT_MSGPACK, KT_PICKLE and TT_TABLE."""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from typing import Any, Union

from .base import BytesLike, MissingDependencyError, SerializationError, type_name

__all__ = [
    "KT_BINARY",
    "KT_JSON",
    "KT_MSGPACK",
    "KT_NONE",
    "KT_PICKLE",
    "TT_TABLE",
    "BinarySerializer",
    "JsonSerializer",
    "MsgpackSerializer",
    "NoneSerializer",
    "PickleSerializer",
    "TableSerializer",
]

# The constants are the serializers' registered names (their entry-point names in the ``kt.serializers`` group).
KT_BINARY = "binary"
KT_JSON = "json"
KT_MSGPACK = "msgpack"
KT_NONE = "none"
KT_PICKLE = "pickle"
TT_TABLE = "table"

_BYTES_LIKE = (bytes, bytearray, memoryview)


def _as_bytes(data: BytesLike) -> bytes:
    return data if isinstance(data, bytes) else bytes(data)


class _Named:
    """Shared repr and error helpers. ``name`` is the registered name, ``label`` the documented constant."""

    name: str = ""
    label: str = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _type_error(self, value: object, accepted: str) -> TypeError:
        return TypeError(f"{self.label} serializer ({self.name!r}) cannot encode a value of type "
                         f"{type_name(value)}; it accepts {accepted}")

    def _decode_error(self, data: bytes, exc: BaseException) -> SerializationError:
        return SerializationError(f"{self.label} serializer ({self.name!r}) cannot decode {len(data)} bytes: {exc}")


class BinarySerializer(_Named):
    """``KT_BINARY``, the default: values are stored as UTF-8 text and read back as ``str``.

    ``dumps`` encodes ``str`` as UTF-8 and passes ``bytes``/``bytearray``/``memoryview`` through unchanged. An ``int``
    or ``float`` is stored as its text, ``str(value)``, as kt 0.9.6 stores it (it reads back as that ``str``). Any
    other type (``None``, ``bool``, containers, objects) raises ``TypeError``.

    ``loads`` decodes UTF-8 into ``str``. Bytes that are not valid UTF-8 (a binary value, or one written by another
    client) are returned unchanged as ``bytes`` rather than raising: a client must never crash on a value written
    by someone else. So a ``bytes`` value that happens to be valid UTF-8 comes back as ``str``.
    """

    name = KT_BINARY
    label = "KT_BINARY"

    def dumps(self, value: Union[str, BytesLike]) -> bytes:
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError as exc:  # lone surrogates
                raise SerializationError(f"KT_BINARY serializer ('binary') cannot encode this str as UTF-8: {exc}") \
                    from exc
        if isinstance(value, _BYTES_LIKE):
            return _as_bytes(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value).encode("ascii")
        raise self._type_error(value, "str, bytes, bytearray, memoryview, int or float")

    def loads(self, data: BytesLike) -> Union[str, bytes]:
        data = _as_bytes(data)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data


class NoneSerializer(_Named):
    """``KT_NONE``: no serialization. ``dumps`` accepts only bytes-like values (``bytes``, ``bytearray``,
    ``memoryview``, returned as ``bytes``) and raises ``TypeError`` for anything else, ``str`` included;
    ``loads`` returns the stored ``bytes`` as they are."""

    name = KT_NONE
    label = "KT_NONE"

    def dumps(self, value: BytesLike) -> bytes:
        if isinstance(value, _BYTES_LIKE):
            return _as_bytes(value)
        raise self._type_error(value, "only bytes, bytearray or memoryview (encode str yourself, or use KT_BINARY)")

    def loads(self, data: BytesLike) -> bytes:
        return _as_bytes(data)


class JsonSerializer(_Named):
    """``KT_JSON``: values are stored as compact JSON text encoded as UTF-8 (non-ASCII characters are stored as
    UTF-8, not ``\\u`` escapes).

    Round-trips what JSON can carry: ``dict`` (with ``str`` keys), ``list``, ``str``, ``int``, ``float``, ``bool``
    and ``None``. Tuples come back as lists and non-``str`` dict keys as strings, as with :mod:`json`. A value JSON
    cannot encode (``bytes``, ``set``, arbitrary objects) raises ``TypeError``; a circular structure raises
    ``ValueError``. Malformed stored data raises :class:`SerializationError` on ``loads``.
    """

    name = KT_JSON
    label = "KT_JSON"

    def __init__(self) -> None:
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(self, value: Any) -> bytes:
        try:
            return self._encoder.encode(value).encode("utf-8")
        except TypeError as exc:
            raise TypeError(f"KT_JSON serializer ('json') cannot encode a value of type {type_name(value)}: {exc}") \
                from exc
        except ValueError as exc:  # circular reference, lone surrogate
            raise SerializationError(f"KT_JSON serializer ('json') cannot encode a value of type "
                                     f"{type_name(value)}: {exc}") from exc

    def loads(self, data: BytesLike) -> Any:
        data = _as_bytes(data)
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise self._decode_error(data, exc) from exc


class MsgpackSerializer(_Named):
    """``KT_MSGPACK``: values are stored with `msgpack <https://msgpack.org>`_, following msgpack's current (1.x)
    defaults: ``str`` is packed as the msgpack str type and ``bytes`` as the bin type, and on ``loads`` text comes
    back as ``str`` and binary as ``bytes`` (``raw=False``). Tuples come back as lists. msgpack's default
    ``strict_map_key=True`` applies: a stored map whose keys are not ``str``/``bytes`` is refused on ``loads``.

    msgpack is an optional dependency: ``pip install kt-serializers[msgpack]``. Creating this serializer (for
    instance choosing ``KT_MSGPACK``) without it raises :class:`MissingDependencyError`.

    ``pack_options`` / ``unpack_options`` are passed to ``msgpack.packb`` / ``msgpack.unpackb`` to depart from the
    defaults (for instance ``{"strict_map_key": False}``).
    """

    name = KT_MSGPACK
    label = "KT_MSGPACK"

    def __init__(self, pack_options: Mapping[str, Any] | None = None,
                 unpack_options: Mapping[str, Any] | None = None) -> None:
        try:
            import msgpack
        except ImportError as exc:
            raise MissingDependencyError(
                "KT_MSGPACK serializer ('msgpack') needs the msgpack package, which is not installed; "
                "install it with: pip install kt-serializers[msgpack]", name="msgpack") from exc
        self._msgpack = msgpack
        self._pack_options = dict(pack_options or {})
        self._unpack_options = dict(unpack_options or {})

    def dumps(self, value: Any) -> bytes:
        try:
            packed = self._msgpack.packb(value, **self._pack_options)
        except TypeError as exc:
            raise TypeError(f"KT_MSGPACK serializer ('msgpack') cannot encode a value of type "
                            f"{type_name(value)}: {exc}") from exc
        except (ValueError, OverflowError) as exc:  # e.g. int too large, nesting too deep
            raise SerializationError(f"KT_MSGPACK serializer ('msgpack') cannot encode a value of type "
                                     f"{type_name(value)}: {exc}") from exc
        return bytes(packed)

    def loads(self, data: BytesLike) -> Any:
        data = _as_bytes(data)
        try:
            return self._msgpack.unpackb(data, **self._unpack_options)
        except Exception as exc:  # msgpack raises ValueError subclasses, but also TypeError for unhashable keys
            raise self._decode_error(data, exc) from exc


class PickleSerializer(_Named):
    """``KT_PICKLE``: values are stored with :mod:`pickle`, so any picklable Python object round-trips.

    .. warning:: Unpickling runs arbitrary code. Use ``KT_PICKLE`` only with a server, and data, you trust
       completely: anyone who can write a value to the server, or impersonate it, can run code in your process
       when you read that value. It is unsafe against an untrusted server.

    An object that cannot be pickled (a lambda, a lock, a socket, a local class) raises ``TypeError`` on ``dumps``.
    Stored data that cannot be unpickled raises :class:`SerializationError` on ``loads``. ``protocol`` defaults to
    :data:`pickle.HIGHEST_PROTOCOL`, which every supported Python (3.9+) can read.
    """

    name = KT_PICKLE
    label = "KT_PICKLE"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=self.protocol)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(f"KT_PICKLE serializer ('pickle') cannot encode a value of type "
                            f"{type_name(value)}: {exc}") from exc

    def loads(self, data: BytesLike) -> Any:
        data = _as_bytes(data)
        try:
            return pickle.loads(data)
        except Exception as exc:  # unpickling can raise nearly anything on bad data
            raise self._decode_error(data, exc) from exc


class TableSerializer(_Named):
    """``TT_TABLE``: a Tokyo Tyrant table-database record, represented as a ``dict`` of columns.

    On the wire a record is its columns and values joined by NUL bytes: ``col NUL val NUL col NUL val`` (no trailing
    NUL); the empty dict is the empty string.

    ``dumps(dict)``: column names and values may be ``str`` (encoded UTF-8) or bytes-like; ``int`` and ``float``
    values are stored as their decimal text (``str(value)``). ``bool``, ``None`` and other types raise ``TypeError``,
    as does a value that is not a ``dict``/mapping. The format cannot carry a NUL byte, so a NUL in a column name or a
    value raises ``ValueError``.

    ``loads(bytes)``: returns a ``dict`` whose column names and values are ``str`` when they are valid UTF-8 and are
    left as ``bytes`` otherwise (so binary column values survive; numbers come back as text). An odd number of
    fields raises :class:`SerializationError` (a ``ValueError``).
    """

    name = TT_TABLE
    label = "TT_TABLE"

    def _field(self, item: object, what: str, numbers: bool) -> bytes:
        if isinstance(item, str):
            try:
                data = item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise SerializationError(f"TT_TABLE serializer ('table') cannot encode {what} as UTF-8: {exc}") \
                    from exc
        elif isinstance(item, _BYTES_LIKE):
            data = _as_bytes(item)
        elif numbers and isinstance(item, (int, float)) and not isinstance(item, bool):
            data = str(item).encode("ascii")
        else:
            accepted = "str, bytes, int or float" if numbers else "str or bytes"
            raise TypeError(f"TT_TABLE serializer ('table') cannot encode a {what} of type {type_name(item)}; "
                            f"it accepts {accepted}")
        if b"\x00" in data:
            raise SerializationError(f"TT_TABLE serializer ('table') cannot store a NUL byte in a {what}: {item!r}")
        return data

    def dumps(self, value: Mapping[Any, Union[str, BytesLike, int, float]]) -> bytes:
        if not isinstance(value, Mapping):
            raise self._type_error(value, "a dict of column name to column value")
        fields: list[bytes] = []
        for column, column_value in value.items():
            fields.append(self._field(column, "column name", numbers=False))
            fields.append(self._field(column_value, f"value (column {column!r})", numbers=True))
        return b"\x00".join(fields)

    def loads(self, data: BytesLike) -> dict[Union[str, bytes], Union[str, bytes]]:
        data = _as_bytes(data)
        if not data:
            return {}
        fields = data.split(b"\x00")
        if len(fields) % 2:
            raise self._decode_error(data, ValueError(f"a table record needs column/value pairs, "
                                                      f"got an odd number of fields ({len(fields)})"))
        result: dict[Union[str, bytes], Union[str, bytes]] = {}
        for i in range(0, len(fields), 2):
            result[_text_or_bytes(fields[i])] = _text_or_bytes(fields[i + 1])
        return result


def _text_or_bytes(data: bytes) -> Union[str, bytes]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data
