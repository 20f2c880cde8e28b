"""Kyoto Tycoon binary protocol: every message, both directions (docs/codec.md, layer 2).

Integers are big-endian. ``flags`` is a u32; bit ``FLAG_NOREPLY`` (0x01) asks the server to send
nothing back (set_bulk, remove_bulk and play_script honour it; get_bulk ignores it).

Records and shapes (all keys, values and names are ``bytes``; bytearray/memoryview are accepted
on input):

- ``xt`` in a **set_bulk request** is an i64: positive = seconds from now, negative = absolute
  epoch seconds (``-epoch``), ``XT_NONE`` (INT64_MAX) = no expiry. The caller converts; the
  encoder packs the number as given.
- ``xt`` in a **get_bulk reply** is absolute epoch seconds; ``XT_MAX_REPLY`` (2**40 - 1) means
  "no expiry".

Client side (request encoders, then response readers with the codec.md reader signature
``fn(buf, pos, end, limit) -> int | (next_pos, result)``):

- ``encode_set_bulk(records, flags=0) -> bytes``; records: iterable of ``(dbidx, key, value, xt)``.
- ``encode_set_bulk_items(dbidx, keys, values, xt, flags=0) -> bytes``: the same request for one
  database and one xt, keys and values as parallel lists (the client's bulk path: no record tuples).
- ``encode_get_bulk(records, flags=0) -> bytes``; records: iterable of ``(dbidx, key)``.
- ``encode_get_bulk_keys(dbidx, keys, flags=0) -> bytes``: the same request for one database.
- ``encode_remove_bulk(records, flags=0) -> bytes``; records: iterable of ``(dbidx, key)``.
- ``encode_play_script(name, records, flags=0) -> bytes``; records: iterable of ``(key, value)``.
- ``read_set_bulk(...) -> (next_pos, hits: int)``
- ``read_remove_bulk(...) -> (next_pos, hits: int)``
- ``read_get_bulk(...) -> (next_pos, list[(dbidx, key, value, xt)])`` (hits only, request order)
- ``read_get_bulk_kv(...) -> (next_pos, (keys, values))``: the same hits as two parallel lists
  (what a client building a dict needs; no per-record tuples)
- ``read_get_one(...) -> (next_pos, value: bytes | None)``: the reply to a get_bulk of one key (the
  client's ``get``): the value of the single hit, or None for no hit; more than one record is a
  ``ProtocolError``
- ``read_play_script(...) -> (next_pos, list[(key, value)])`` (sorted by key by the server)

  The server's error reply (the single byte 0xBF) is consumed like any frame and comes back as
  ``(next_pos, KyotoServerError(...))``: an exception *instance*, not raised, so the reader stays
  in step with the stream. The client must ``raise`` it (``raise_if_error(result)`` does that);
  it is never ``None``. A no-reply request has no reply: do not call a reader for it.

Server side (the stand-in server):

- ``parse_request(buf, pos, end, limit) -> int | (next_pos, BinaryRequest)``: decodes any of
  the four requests; an unknown magic raises ``ProtocolError`` (the real server closes the
  connection without a reply). ``BinaryRequest`` fields: ``magic``, ``flags``, ``name`` (bytes,
  play_script only, else ``b""``), ``records`` (set_bulk: ``(dbidx, key, value, xt)``;
  get_bulk/remove_bulk: ``(dbidx, key)``; play_script: ``(key, value)``); ``.no_reply`` property.
- ``encode_set_bulk_reply(hits)``, ``encode_remove_bulk_reply(hits)``,
  ``encode_get_bulk_reply(records)`` (records: ``(dbidx, key, value, xt)`` with absolute xt),
  ``encode_play_script_reply(records)`` (records: ``(key, value)``, sent in the order given —
  the real server sends them sorted by key, so pass them sorted), ``encode_error_reply()``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any, Callable, NamedTuple, Union

from ..errors import InvalidArgumentError, InvalidTypeError, KyotoServerError, ProtocolError
from ._scan import (
    KTB_ERROR,
    KTB_GET_BULK,
    KTB_PLAY_SCRIPT,
    KTB_REMOVE_BULK,
    KTB_SET_BULK,
    REC_GET_BULK,
    REC_KV,
    scan_ktb,
    split_records,
)
from .progress import progress
from .reader import Partial

__all__ = [
    "MAGIC_PLAY_SCRIPT",
    "MAGIC_SET_BULK",
    "MAGIC_REMOVE_BULK",
    "MAGIC_GET_BULK",
    "MAGIC_ERROR",
    "FLAG_NOREPLY",
    "XT_NONE",
    "XT_MAX_REPLY",
    "BinaryRequest",
    "encode_set_bulk",
    "encode_set_bulk_items",
    "encode_get_bulk",
    "encode_get_bulk_keys",
    "encode_remove_bulk",
    "encode_play_script",
    "read_set_bulk",
    "read_get_bulk",
    "read_get_bulk_kv",
    "read_get_one",
    "read_remove_bulk",
    "read_play_script",
    "raise_if_error",
    "parse_request",
    "encode_set_bulk_reply",
    "encode_get_bulk_reply",
    "encode_remove_bulk_reply",
    "encode_play_script_reply",
    "encode_error_reply",
]

# The magic bytes are the scanner's (one definition for scanner, encoders and decoders).
MAGIC_PLAY_SCRIPT = KTB_PLAY_SCRIPT
MAGIC_SET_BULK = KTB_SET_BULK
MAGIC_REMOVE_BULK = KTB_REMOVE_BULK
MAGIC_GET_BULK = KTB_GET_BULK
MAGIC_ERROR = KTB_ERROR
FLAG_NOREPLY = 0x01
XT_NONE = (1 << 63) - 1
XT_MAX_REPLY = (1 << 40) - 1

_U32_MAX = 0xFFFFFFFF
_HEAD = struct.Struct(">BII")  # magic, flags, rnum
_HEAD_SCRIPT = struct.Struct(">BIII")  # magic, flags, nsiz, rnum
_SET_REC = struct.Struct(">HIIq")  # dbidx, ksiz, vsiz, xt
_KEY_REC = struct.Struct(">HI")  # dbidx, ksiz
_KV_REC = struct.Struct(">II")  # ksiz, vsiz
_REPLY_HEAD = struct.Struct(">BI")  # magic, hits/rnum
_U16 = struct.Struct(">H")
# One-record requests (the client's get/set/remove) packed head and record header in one call.
_ONE_KEY = struct.Struct(">BIIHI")  # magic, flags, rnum=1, dbidx, ksiz
_ONE_SET = struct.Struct(">BIIHIIq")  # magic, flags, rnum=1, dbidx, ksiz, vsiz, xt
_U32 = struct.Struct(">I")
# A one-hit get_bulk reply's head and record header, read in one call by read_get_one.
_GET_ONE = struct.Struct(">BIHIIq")  # magic, hits, dbidx, ksiz, vsiz, xt
_GET_ONE_MISS = bytes((KTB_GET_BULK, 0, 0, 0, 0))  # magic, hits=0

_BYTES_TYPES = (bytes, bytearray, memoryview)
# Types whose len() is the byte count: the list fast paths accept only these.
_PLAIN_BYTES = frozenset((bytes, bytearray))


def _check_flags(flags: int) -> None:
    if type(flags) is not int:
        raise InvalidTypeError(f"flags must be an int, not {type(flags).__name__}")
    if not 0 <= flags <= _U32_MAX:
        raise InvalidArgumentError(f"flags out of range for u32: {flags}")


def _bad_record(shape: str, exc: BaseException) -> InvalidArgumentError:
    # struct.error covers out-of-range dbidx/xt and non-int fields; TypeError a key without len().
    if isinstance(exc, TypeError):
        return InvalidTypeError(f"bad record: expected {shape} ({exc})")
    return InvalidArgumentError(f"bad record: expected {shape} ({exc})")


# ----------------------------------------------------------------------------- client encoders


def encode_set_bulk(records: Iterable[tuple[int, bytes, bytes, int]], flags: int = 0) -> bytes:
    """set_bulk (0xB8) request: records of ``(dbidx, key, value, xt)`` (xt: see module doc)."""
    if type(records) is tuple and len(records) == 1 and type(flags) is int:
        # Fast path for one record of bytes; anything unusual takes the general path and its errors.
        rec = records[0]
        if type(rec) is tuple and len(rec) == 4 and type(rec[1]) is bytes and type(rec[2]) is bytes:
            dbidx, key, value, xt = rec
            try:
                return b"".join((_ONE_SET.pack(MAGIC_SET_BULK, flags, 1, dbidx, len(key), len(value), xt), key, value))
            except struct.error:
                pass
    _check_flags(flags)
    pack = _SET_REC.pack
    parts: list[Any] = [b""]
    append = parts.append
    try:
        for dbidx, key, value, xt in records:
            append(pack(dbidx, len(key), len(value), xt))
            append(key)
            append(value)
    except (TypeError, ValueError, struct.error) as exc:
        raise _bad_record("(dbidx, key, value, xt)", exc) from None
    parts[0] = _HEAD.pack(MAGIC_SET_BULK, flags, (len(parts) - 1) // 3)
    try:
        return b"".join(parts)
    except TypeError as exc:
        raise InvalidTypeError(f"set_bulk keys and values must be bytes: {exc}") from None


def encode_set_bulk_items(dbidx: int, keys: Sequence[bytes], values: Sequence[bytes], xt: int,
                          flags: int = 0) -> bytes:
    """set_bulk (0xB8) request for one database and one ``xt``: ``keys[i]`` is stored with ``values[i]``.

    Record headers, keys and values are interleaved by slice assignment (no Python loop per record);
    anything but two equally long lists of bytes takes :func:`encode_set_bulk`'s path and its errors.
    """
    n = len(keys)
    if (type(keys) is list and type(values) is list and len(values) == n and type(flags) is int
            and _PLAIN_BYTES.issuperset(map(type, keys)) and _PLAIN_BYTES.issuperset(map(type, values))):
        try:
            head = _HEAD.pack(MAGIC_SET_BULK, flags, n)
            parts: list[Any] = [head] * (3 * n + 1)
            if n and len(set(map(len, keys))) == 1 and len(set(map(len, values))) == 1:
                # One key length and one value length: every record header is the same bytes.
                parts[1::3] = [_SET_REC.pack(dbidx, len(keys[0]), len(values[0]), xt)] * n
            else:
                parts[1::3] = map(_SET_REC.pack, repeat(dbidx, n), map(len, keys), map(len, values), repeat(xt, n))
        except struct.error:
            pass  # out-of-range dbidx/xt/flags: the general path words the error
        else:
            parts[2::3] = keys
            parts[3::3] = values
            return b"".join(parts)
    if len(values) != n:
        raise InvalidArgumentError(f"set_bulk: {n} keys but {len(values)} values")
    return encode_set_bulk([(dbidx, k, v, xt) for k, v in zip(keys, values)], flags)


def encode_get_bulk_keys(dbidx: int, keys: Sequence[bytes], flags: int = 0) -> bytes:
    """get_bulk (0xBA) request for ``keys`` in database ``dbidx`` (see :func:`encode_set_bulk_items`)."""
    if type(keys) is list and type(flags) is int and _PLAIN_BYTES.issuperset(map(type, keys)):
        n = len(keys)
        try:
            head = _HEAD.pack(MAGIC_GET_BULK, flags, n)
            if n and len(set(map(len, keys))) == 1:
                # Keys of one length (common: fixed-width ids) share one record header: a single join.
                sep = _KEY_REC.pack(dbidx, len(keys[0]))
                return b"".join((head, sep, sep.join(keys)))
            parts: list[Any] = [head] * (2 * n + 1)
            parts[1::2] = map(_KEY_REC.pack, repeat(dbidx, n), map(len, keys))
        except struct.error:
            pass  # the general path words the error
        else:
            parts[2::2] = keys
            return b"".join(parts)
    return _encode_key_records(MAGIC_GET_BULK, [(dbidx, k) for k in keys], flags)


def _encode_key_records(magic: int, records: Iterable[tuple[int, bytes]], flags: int) -> bytes:
    if type(records) is tuple and len(records) == 1 and type(flags) is int:
        # Fast path for one bytes key; anything unusual takes the general path and its errors.
        rec = records[0]
        if type(rec) is tuple and len(rec) == 2 and type(rec[1]) is bytes:
            try:
                return _ONE_KEY.pack(magic, flags, 1, rec[0], len(rec[1])) + rec[1]
            except struct.error:
                pass
    _check_flags(flags)
    pack = _KEY_REC.pack
    parts: list[Any] = [b""]
    append = parts.append
    try:
        for dbidx, key in records:
            append(pack(dbidx, len(key)))
            append(key)
    except (TypeError, ValueError, struct.error) as exc:
        raise _bad_record("(dbidx, key)", exc) from None
    parts[0] = _HEAD.pack(magic, flags, (len(parts) - 1) // 2)
    try:
        return b"".join(parts)
    except TypeError as exc:
        raise InvalidTypeError(f"keys must be bytes: {exc}") from None


def encode_get_bulk(records: Iterable[tuple[int, bytes]], flags: int = 0) -> bytes:
    """get_bulk (0xBA) request: records of ``(dbidx, key)``. The server ignores the flags."""
    return _encode_key_records(MAGIC_GET_BULK, records, flags)


def encode_remove_bulk(records: Iterable[tuple[int, bytes]], flags: int = 0) -> bytes:
    """remove_bulk (0xB9) request: records of ``(dbidx, key)``."""
    return _encode_key_records(MAGIC_REMOVE_BULK, records, flags)


def encode_play_script(name: bytes, records: Iterable[tuple[bytes, bytes]], flags: int = 0) -> bytes:
    """play_script (0xB4) request: the Lua function ``name`` with records of ``(key, value)``.

    Keys are sent as given: the binary protocol does not ``_``-prefix them.
    """
    _check_flags(flags)
    if not isinstance(name, _BYTES_TYPES):
        raise InvalidTypeError(f"play_script name must be bytes, not {type(name).__name__}")
    pack = _KV_REC.pack
    parts: list[Any] = [b"", name]
    append = parts.append
    try:
        for key, value in records:
            append(pack(len(key), len(value)))
            append(key)
            append(value)
    except (TypeError, ValueError, struct.error) as exc:
        raise _bad_record("(key, value)", exc) from None
    parts[0] = _HEAD_SCRIPT.pack(MAGIC_PLAY_SCRIPT, flags, len(name), (len(parts) - 2) // 3)
    try:
        return b"".join(parts)
    except TypeError as exc:
        raise InvalidTypeError(f"play_script keys and values must be bytes: {exc}") from None


# ----------------------------------------------------------------------------- client readers


def _server_error() -> KyotoServerError:
    return KyotoServerError("Kyoto Tycoon binary protocol: the server answered with an error (0xBF)")


ReadResult = Union[int, tuple[int, Any], Partial]  # Partial: read_get_bulk_kv, for a large frame still arriving


def _hits_reader(magic: int, name: str) -> Callable[[Any, int, int, int], ReadResult]:
    """The reader of a reply that is a magic and a hit count (set_bulk 0xB8, remove_bulk 0xB9)."""

    def read(buf: Any, pos: int, end: int, limit: int) -> ReadResult:
        if 0 <= pos and end - pos >= 5 and end <= len(buf) and limit >= 5 and buf[pos] == magic:
            return pos + 5, _REPLY_HEAD.unpack_from(buf, pos)[1]  # the whole frame: no scanner call
        r = scan_ktb(buf, pos, end, magic, limit)
        if isinstance(r, int):
            return r
        if r[1] == MAGIC_ERROR:
            return r[0], _server_error()
        return r[0], r[2]

    read.__name__ = read.__qualname__ = name
    read.__doc__ = f"{name[5:]} reply: ``(next_pos, hits)`` or ``(next_pos, KyotoServerError)`` on 0xBF."
    return read


read_set_bulk = _hits_reader(MAGIC_SET_BULK, "read_set_bulk")
read_remove_bulk = _hits_reader(MAGIC_REMOVE_BULK, "read_remove_bulk")


def _frame_bytes(buf: Any, pos: int, next_pos: int) -> tuple[bytes, int]:
    """The frame as ``bytes`` and the offset to subtract from the scanner's positions.

    One copy of the frame, then a bytes slice per field, costs less than ``bytes(view[a:b])`` per
    field: slicing ``bytes`` makes one object, slicing a view makes two.
    """
    if type(buf) is bytes:
        return buf, 0
    return memoryview(buf)[pos:next_pos].tobytes(), pos


#: Frames above this are decoded in slices of ``_SLICE_RECORDS`` records (see ``_get_bulk_slices``).
LARGE_FRAME = 1 << 20
_SLICE_RECORDS = 4096


def read_get_bulk(buf: Any, pos: int, end: int, limit: int) -> ReadResult:
    """get_bulk reply: ``(next_pos, [(dbidx, key, value, xt), ...])`` or an error instance on 0xBF."""
    r = scan_ktb(buf, pos, end, MAGIC_GET_BULK, limit)
    if isinstance(r, int):
        return r
    if r[1] == MAGIC_ERROR:
        return r[0], _server_error()
    if r[0] - pos > LARGE_FRAME and type(buf) is not bytes:
        return r[0], _get_bulk_slices(buf, r[3])
    data, base = _frame_bytes(buf, pos, r[0])
    it = iter(r[3])
    if base:
        return r[0], [
            (db, data[ko - base : ko - base + kn], data[vo - base : vo - base + vn], xt)
            for db, xt, ko, kn, vo, vn in zip(it, it, it, it, it, it)
        ]
    return r[0], [
        (db, data[ko : ko + kn], data[vo : vo + vn], xt) for db, xt, ko, kn, vo, vn in zip(it, it, it, it, it, it)
    ]


def _finish_get_bulk_kv(nxt: int, keys: list[bytes], values: list[bytes]) -> tuple[int, tuple[list[bytes], ...]]:
    return nxt, (keys, values)


def read_get_bulk_kv(buf: Any, pos: int, end: int, limit: int, expect: Sequence[bytes] | None = None) -> ReadResult:
    """get_bulk reply as ``(next_pos, (keys, values))``, two parallel lists of the hits in request order,
    or an error instance on 0xBF. The dbidx and xt of each record are dropped.

    A complete head goes straight to ``split_records`` (one walk of the records; on the C path the key
    and value bytes are built by ``struct`` in one call); anything else (incomplete head, 0xBF, bad
    magic, a count over the limit) goes through ``scan_ktb`` and gets its answer and errors. A large
    frame still arriving is answered with a ``Partial`` (kt_core.codec.progress); ``expect``, the requested
    keys as ``bytes``, lets it keep none of the reply's keys while they are the requested ones: the
    keys list is then ``None``, meaning exactly the first ``len(values)`` requested keys.
    """
    if 10 <= limit and end - pos >= 5 and 0 <= pos and end <= len(buf):
        magic, count = _REPLY_HEAD.unpack_from(buf, pos)
        if magic == MAGIC_GET_BULK and count <= limit // 10:
            stop = pos + limit
            nxt, keys, values, need = split_records(buf, pos + 5, end, REC_GET_BULK, count, stop)
            if need:
                return progress(pos, nxt, need, keys, values, count, stop, REC_GET_BULK, _finish_get_bulk_kv, expect)
            return nxt, (keys, values)
    r = scan_ktb(buf, pos, end, MAGIC_GET_BULK, limit)
    if isinstance(r, int):
        return r
    if r[1] == MAGIC_ERROR:
        return r[0], _server_error()
    # Complete only under a limit too small for the fast path (then there are no records).
    view, f = memoryview(buf), r[3]
    return r[0], ([bytes(view[o : o + n]) for o, n in zip(f[2::6], f[3::6])],
                  [bytes(view[o : o + n]) for o, n in zip(f[4::6], f[5::6])])


def read_get_one(buf: Any, pos: int, end: int, limit: int) -> ReadResult:
    """get_bulk reply to a request of one key: ``(next_pos, value)``, ``value`` None for no hit,
    or an error instance on 0xBF. A reply of more than one record is a ``ProtocolError``.

    The common complete frames (one hit, or none) are read with one ``unpack_from`` and no lists
    (the client's ``get``, which then skips building the record lists of :func:`read_get_bulk`);
    anything else (incomplete, 0xBF, bad bytes, a limit too small) goes through the scanner and
    gets its answers and errors.
    """
    if 0 <= pos and end <= len(buf):
        if end - pos >= 23:
            magic, hits, _, ksiz, vsiz, _ = _GET_ONE.unpack_from(buf, pos)
            if magic == MAGIC_GET_BULK and hits == 1:
                v = pos + 23 + ksiz
                nxt = v + vsiz
                if nxt <= end and nxt - pos <= limit:
                    return nxt, (buf[v:nxt] if type(buf) is bytes else memoryview(buf)[v:nxt].tobytes())
        if end - pos >= 5 and limit >= 5 and buf[pos : pos + 5] == _GET_ONE_MISS:
            return pos + 5, None
    r = scan_ktb(buf, pos, end, MAGIC_GET_BULK, limit)
    if isinstance(r, int):
        return r
    if r[1] == MAGIC_ERROR:
        return r[0], _server_error()
    if r[2] == 0:
        return r[0], None
    if r[2] > 1:
        raise ProtocolError(f"Kyoto Tycoon binary: get_bulk reply to one key has {r[2]} records")
    fields = r[3]
    return r[0], bytes(memoryview(buf)[fields[4] : fields[4] + fields[5]])


def _get_bulk_slices(buf: Any, fields: list[int]) -> list[tuple[int, bytes, bytes, int]]:
    """The records of a large get_bulk frame, decoded from the last slice of records to the first.

    Each slice copies only its own bytes, and the scanner's offsets behind it are dropped as it
    goes (``fields`` is truncated), so neither a copy of the whole frame nor all the offset ints
    live next to the finished records (a 100,000-record reply: benchmarks/RESULTS.md).
    """
    view = memoryview(buf)
    count = len(fields) // 6
    out: list[Any] = [None] * count
    hi = count
    while hi:
        lo = max(0, hi - _SLICE_RECORDS)
        f0, f1 = lo * 6, hi * 6
        base = fields[f0 + 2]  # the first record's key offset
        data = view[base : fields[f1 - 2] + fields[f1 - 1]].tobytes()  # ... to the last record's value end
        it = iter(fields[f0:f1])
        out[lo:hi] = [
            (db, data[ko - base : ko - base + kn], data[vo - base : vo - base + vn], xt)
            for db, xt, ko, kn, vo, vn in zip(it, it, it, it, it, it)
        ]
        del fields[f0:]
        hi = lo
    return out


def read_play_script(buf: Any, pos: int, end: int, limit: int) -> ReadResult:
    """play_script reply: ``(next_pos, [(key, value), ...])`` or an error instance on 0xBF."""
    if 10 <= limit and end - pos >= 5 and 0 <= pos and end <= len(buf):
        magic, count = _REPLY_HEAD.unpack_from(buf, pos)
        if magic == MAGIC_PLAY_SCRIPT and count <= limit // 10:
            nxt, keys, values, need = split_records(buf, pos + 5, end, REC_KV, count, pos + limit)
            if need:
                return need
            return nxt, list(zip(keys, values))
    r = scan_ktb(buf, pos, end, MAGIC_PLAY_SCRIPT, limit)
    if isinstance(r, int):
        return r
    if r[1] == MAGIC_ERROR:
        return r[0], _server_error()
    # Complete only under a limit too small for the fast path (then there are no records).
    view, f = memoryview(buf), r[3]
    return r[0], [(bytes(view[ko : ko + kn]), bytes(view[vo : vo + vn])) for ko, kn, vo, vn in zip(*[iter(f)] * 4)]


def raise_if_error(result: Any) -> Any:
    """Raise ``result`` if a reader returned the server's error; otherwise return it unchanged."""
    if isinstance(result, KyotoServerError):
        raise result
    return result


# ----------------------------------------------------------------------------- server side


class BinaryRequest(NamedTuple):
    """A decoded binary request (see the module doc for the record shapes per magic)."""

    magic: int
    flags: int
    records: list
    name: bytes = b""

    @property
    def no_reply(self) -> bool:
        return bool(self.flags & FLAG_NOREPLY)


def parse_request(buf: Any, pos: int, end: int, limit: int) -> int | tuple[int, BinaryRequest]:
    """Decode one request at ``pos``: ``need`` (int > end) or ``(next_pos, BinaryRequest)``.

    Raises ``ProtocolError`` on an unknown magic, a record count over ``limit // 10`` or a frame
    that would exceed ``limit`` bytes.
    """
    if end <= pos:
        return pos + 1
    mv = memoryview(buf)
    magic = mv[pos]
    if magic not in (MAGIC_SET_BULK, MAGIC_GET_BULK, MAGIC_REMOVE_BULK, MAGIC_PLAY_SCRIPT):
        raise ProtocolError(f"Kyoto Tycoon binary: unknown request magic 0x{magic:02X}")
    stop = pos + limit
    head = _HEAD_SCRIPT if magic == MAGIC_PLAY_SCRIPT else _HEAD
    p = pos + head.size
    if p > end:
        return p
    if magic == MAGIC_PLAY_SCRIPT:
        _, flags, nsiz, rnum = head.unpack_from(mv, pos)
        if p + nsiz > stop:
            raise ProtocolError("Kyoto Tycoon binary: play_script name exceeds the frame limit")
    else:
        _, flags, rnum = head.unpack_from(mv, pos)
        nsiz = 0
    if rnum > limit // 10:
        raise ProtocolError(f"Kyoto Tycoon binary: record count {rnum} over the limit")
    if p + nsiz > end:
        return p + nsiz
    name = bytes(mv[p : p + nsiz])
    p += nsiz
    records: list = []
    append = records.append
    if magic == MAGIC_SET_BULK:
        rsize = _SET_REC.size
        unpack = _SET_REC.unpack_from
        for _ in range(rnum):
            if p + rsize > end:
                return p + rsize
            dbidx, ksiz, vsiz, xt = unpack(mv, p)
            q = p + rsize
            nxt = q + ksiz + vsiz
            if nxt > stop:
                raise ProtocolError("Kyoto Tycoon binary: set_bulk record exceeds the frame limit")
            if nxt > end:
                return nxt
            append((dbidx, bytes(mv[q : q + ksiz]), bytes(mv[q + ksiz : nxt]), xt))
            p = nxt
    elif magic == MAGIC_PLAY_SCRIPT:
        rsize = _KV_REC.size
        unpack = _KV_REC.unpack_from
        for _ in range(rnum):
            if p + rsize > end:
                return p + rsize
            ksiz, vsiz = unpack(mv, p)
            q = p + rsize
            nxt = q + ksiz + vsiz
            if nxt > stop:
                raise ProtocolError("Kyoto Tycoon binary: play_script record exceeds the frame limit")
            if nxt > end:
                return nxt
            append((bytes(mv[q : q + ksiz]), bytes(mv[q + ksiz : nxt])))
            p = nxt
    else:
        rsize = _KEY_REC.size
        unpack = _KEY_REC.unpack_from
        for _ in range(rnum):
            if p + rsize > end:
                return p + rsize
            dbidx, ksiz = unpack(mv, p)
            q = p + rsize
            nxt = q + ksiz
            if nxt > stop:
                raise ProtocolError("Kyoto Tycoon binary: record exceeds the frame limit")
            if nxt > end:
                return nxt
            append((dbidx, bytes(mv[q:nxt])))
            p = nxt
    if p > stop:
        raise ProtocolError("Kyoto Tycoon binary: request exceeds the frame limit")
    return p, BinaryRequest(magic, flags, records, name)


def encode_set_bulk_reply(hits: int) -> bytes:
    """set_bulk reply: magic 0xB8 and the number of records stored."""
    return _REPLY_HEAD.pack(MAGIC_SET_BULK, hits)


def encode_remove_bulk_reply(hits: int) -> bytes:
    """remove_bulk reply: magic 0xB9 and the number of records removed."""
    return _REPLY_HEAD.pack(MAGIC_REMOVE_BULK, hits)


def encode_get_bulk_reply(records: Iterable[tuple[int, bytes, bytes, int]]) -> bytes:
    """get_bulk reply: the hits as ``(dbidx, key, value, xt)``, xt absolute (``XT_MAX_REPLY``: none)."""
    pack = _SET_REC.pack
    parts: list[Any] = [b""]
    append = parts.append
    for dbidx, key, value, xt in records:
        append(pack(dbidx, len(key), len(value), xt))
        append(key)
        append(value)
    parts[0] = _REPLY_HEAD.pack(MAGIC_GET_BULK, (len(parts) - 1) // 3)
    return b"".join(parts)


def encode_play_script_reply(records: Iterable[tuple[bytes, bytes]]) -> bytes:
    """play_script reply: ``(key, value)`` records in the order given (the real server sorts by key)."""
    pack = _KV_REC.pack
    parts: list[Any] = [b""]
    append = parts.append
    for key, value in records:
        append(pack(len(key), len(value)))
        append(key)
        append(value)
    parts[0] = _REPLY_HEAD.pack(MAGIC_PLAY_SCRIPT, (len(parts) - 1) // 3)
    return b"".join(parts)


def encode_error_reply() -> bytes:
    """The binary error reply: the single byte 0xBF, nothing after it."""
    return b"\xbf"
