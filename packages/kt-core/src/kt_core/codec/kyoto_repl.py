"""Kyoto Tycoon replication (binary magic 0xB1) and the update log messages it carries. No I/O.

The protocol, as ktserver 0.9.56 speaks it (checked against the recorded streams in
testdata/vectors/kt-repl.json); all numbers big-endian:

- The slave sends :func:`encode_replication`: 0xB1, flags u32 (1 = WHITESID), ts u64, sid u16
  (15 bytes). ``ts`` is the newest time stamp already read: the master sends only messages newer
  than it. ``sid`` filters: without WHITESID the master skips messages whose server id is ``sid``
  (a slave's own changes), with it it sends only those.
- The master answers one byte (:func:`read_replication_open`): 0xB1 (accepted, the stream follows)
  or 0xBF (no update log, or it could not be opened; the master then closes).
- Then, until either side closes, the master sends frames (:func:`read_replication_frame`):
  - 0xB1, ts u64, size u32, message: one update log message (see below). A size of 0 is a
    keep-alive the master sends after every 256 messages it skipped (its ts is the last one skipped).
  - 0xB0 (NOP), ts u64: the master has sent everything it has; the slave must answer the byte
    0xB1 (:func:`encode_nop_ack`), and the master looks again 0.1 s later. The ts is the clock
    minus one second (or the newest sent, if later).
- The master side of the same: :func:`parse_replication_request`, :func:`encode_replication_accept`,
  :func:`encode_replication_refusal`, :func:`encode_replication_message`, :func:`encode_replication_nop`,
  :func:`read_nop_ack`.

An update log message (what ktserver's ``DBUpdateLogger`` writes) is: server id u16, database index
u16, then Kyoto Tycoon TimedDB's message: an operation byte and its operands, sizes as Kyoto Cabinet
variable-length numbers (7 bits a byte, most significant first, 0x80 on all but the last):

- USET (0xA1), ksiz, vsiz, key, value: the value as stored, i.e. a 5-byte absolute expiry (epoch
  seconds; ``XTMAX`` = none) and then the value. Every storing operation (set, add, replace, append,
  increment, cas, set_bulk, a cursor's set_value, a script's set...) logs a USET of the new record.
- UREMOVE (0xA2), ksiz, key: every removing operation (remove, seize, remove_bulk, cas to nothing,
  a cursor's remove...).
- UCLEAR (0xA5): clear.

A consumer that is not a slave needs a ``sid`` no writer uses (the master skips the messages of
``sid``): ktserver's default ``-sid`` is 0, so the client's default is 65535.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Optional, Union

from ..errors import KyotoServerError, ProtocolError

__all__ = [
    "MAGIC_NOP",
    "MAGIC_REPLICATION",
    "MAGIC_ERROR",
    "WHITESID",
    "USET",
    "UREMOVE",
    "UCLEAR",
    "XTMAX",
    "Change",
    "SetChange",
    "RemoveChange",
    "ClearChange",
    "OtherChange",
    "ReplicationRefusedError",
    "ReplicationGapError",
    "encode_replication",
    "read_replication_open",
    "read_replication_frame",
    "encode_nop_ack",
    "parse_replication_request",
    "encode_replication_accept",
    "encode_replication_refusal",
    "encode_replication_message",
    "encode_replication_nop",
    "read_nop_ack",
    "encode_varnum",
    "read_varnum",
    "encode_uset",
    "encode_uremove",
    "encode_uclear",
    "encode_log_message",
    "decode_message",
]

MAGIC_NOP = 0xB0
MAGIC_REPLICATION = 0xB1
MAGIC_ERROR = 0xBF
#: Replication flag: send only the messages of the given server id.
WHITESID = 1

# Kyoto Tycoon's update operations; 0.9.56 logs only USET, UREMOVE, UCLEAR.
UNOP, USET, UREMOVE, UOPEN, UCLOSE, UCLEAR = 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5
#: The stored expiry meaning "none" (2**40 - 1).
XTMAX = (1 << 40) - 1

_REQ = struct.Struct(">BIQH")
_MSG_HEAD = struct.Struct(">BQI")
_NOP = struct.Struct(">BQ")
_IDS = struct.Struct(">HH")
_XT8 = struct.Struct(">Q")


class ReplicationRefusedError(KyotoServerError):
    """The master refused the replication stream (0xBF): it keeps no update log (no ``-ulog``)."""


class ReplicationGapError(KyotoServerError):
    """Changes after the requested time stamp may be lost: the update log files that held them were
    removed (``ulog_remove``), so the stream cannot resume there without a gap. Re-read the database
    and resume from a fresh time stamp."""


# ----------------------------------------------------------------------------- slave side


def encode_replication(ts: int, sid: int, flags: int = 0) -> bytes:
    """The slave's request: the stream of messages newer than ``ts``, filtered by ``sid`` (see module doc)."""
    if not 0 <= ts < 1 << 64:
        raise ValueError(f"replication ts out of range: {ts}")
    if not 0 <= sid < 1 << 16:
        raise ValueError(f"replication sid out of range: {sid}")
    return _REQ.pack(MAGIC_REPLICATION, flags & 0xFFFFFFFF, ts, sid)


def read_replication_open(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int, bool]]:
    """The master's one-byte answer: ``(pos + 1, True)`` accepted, ``(pos + 1, False)`` refused (0xBF)."""
    if end <= pos:
        return pos + 1
    magic = buf[pos]
    if magic == MAGIC_REPLICATION:
        return pos + 1, True
    if magic == MAGIC_ERROR:
        return pos + 1, False
    raise ProtocolError(f"Kyoto Tycoon replication: unexpected answer 0x{magic:02X}")


def read_replication_frame(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int, int, Optional[bytes]]]:
    """One frame of the stream: ``(next_pos, ts, message)``; ``message`` is None for a NOP (the slave
    must then send :func:`encode_nop_ack`) and ``b""`` for a keep-alive."""
    if end <= pos:
        return pos + 1
    magic = buf[pos]
    if magic == MAGIC_REPLICATION:
        p = pos + _MSG_HEAD.size
        if p > end:
            return p
        _, ts, size = _MSG_HEAD.unpack_from(buf, pos)
        if _MSG_HEAD.size + size > limit:
            raise ProtocolError(f"Kyoto Tycoon replication: message of {size} bytes over the limit")
        if p + size > end:
            return p + size
        return p + size, ts, bytes(buf[p : p + size])
    if magic == MAGIC_NOP:
        p = pos + _NOP.size
        if p > end:
            return p
        return p, _NOP.unpack_from(buf, pos)[1], None
    raise ProtocolError(f"Kyoto Tycoon replication: unexpected frame magic 0x{magic:02X}")


def encode_nop_ack() -> bytes:
    """The slave's answer to a NOP frame."""
    return b"\xb1"


# ----------------------------------------------------------------------------- master side


def parse_replication_request(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int, int, int, int]]:
    """The master's decoder of :func:`encode_replication`: ``(next_pos, flags, ts, sid)``."""
    if end <= pos:
        return pos + 1
    if buf[pos] != MAGIC_REPLICATION:
        raise ProtocolError(f"Kyoto Tycoon replication: not a replication request (0x{buf[pos]:02X})")
    p = pos + _REQ.size
    if p > end:
        return p
    _, flags, ts, sid = _REQ.unpack_from(buf, pos)
    return p, flags, ts, sid


def encode_replication_accept() -> bytes:
    return b"\xb1"


def encode_replication_refusal() -> bytes:
    return b"\xbf"


def encode_replication_message(ts: int, message: bytes) -> bytes:
    """One message frame (``message`` b"": a keep-alive)."""
    return _MSG_HEAD.pack(MAGIC_REPLICATION, ts, len(message)) + message


def encode_replication_nop(ts: int) -> bytes:
    return _NOP.pack(MAGIC_NOP, ts)


def read_nop_ack(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int]]:
    """The master's reader of the slave's answer to a NOP."""
    if end <= pos:
        return pos + 1
    if buf[pos] != MAGIC_REPLICATION:
        raise ProtocolError(f"Kyoto Tycoon replication: bad NOP answer 0x{buf[pos]:02X}")
    return (pos + 1,)


# ----------------------------------------------------------------------------- update log messages


def encode_varnum(n: int) -> bytes:
    """Kyoto Cabinet's variable-length number: 7 bits a byte, most significant first, 0x80 on all but the last."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def read_varnum(buf: Any, pos: int, end: int) -> tuple[int, int]:
    """``(value, next_pos)``; ProtocolError when it runs past ``end`` or over 9 bytes."""
    n = 0
    p = pos
    while True:
        if p >= end or p - pos >= 9:
            raise ProtocolError("Kyoto Tycoon update log: truncated variable-length number")
        c = buf[p]
        p += 1
        n = (n << 7) | (c & 0x7F)
        if c < 0x80:
            return n, p


def encode_uset(key: bytes, value: bytes, axt: int) -> bytes:
    """TimedDB's log of a stored record: USET, sizes, the key, the 5-byte absolute expiry, the value."""
    return b"".join((bytes((USET,)), encode_varnum(len(key)), encode_varnum(len(value) + 5), key,
                     _XT8.pack(axt)[3:], value))


def encode_uremove(key: bytes) -> bytes:
    return b"".join((bytes((UREMOVE,)), encode_varnum(len(key)), key))


def encode_uclear() -> bytes:
    return bytes((UCLEAR,))


def encode_log_message(sid: int, db: int, body: bytes) -> bytes:
    """An update log message as DBUpdateLogger writes it: server id, database index, TimedDB's message."""
    return _IDS.pack(sid & 0xFFFF, db & 0xFFFF) + body


@dataclass(frozen=True)
class Change:
    """One change from the update log. ``ts``: its time stamp (wall-clock milliseconds * 10**6 plus a
    counter; resume after it with ``since=ts``); ``sid``: the server id that made it; ``db``: the
    database index."""

    ts: int
    sid: int
    db: int


@dataclass(frozen=True)
class SetChange(Change):
    """A record was stored (any storing operation). ``expire``: absolute epoch seconds, None for none."""

    key: bytes
    value: bytes
    expire: Optional[int]


@dataclass(frozen=True)
class RemoveChange(Change):
    """A record was removed (any removing operation)."""

    key: bytes


@dataclass(frozen=True)
class ClearChange(Change):
    """The database was cleared."""


@dataclass(frozen=True)
class OtherChange(Change):
    """A TimedDB operation 0.9.56 does not log (``op``: its byte, ``body``: its operands)."""

    op: int
    body: bytes


def decode_message(message: bytes, ts: int) -> Change:
    """An update log message (with its time stamp) as a typed :class:`Change`; ProtocolError if malformed."""
    size = len(message)
    if size < 5:
        raise ProtocolError(f"Kyoto Tycoon update log: message of {size} bytes is too short")
    sid, db = _IDS.unpack_from(message, 0)
    op = message[4]
    if op == USET:
        ksiz, p = read_varnum(message, 5, size)
        vsiz, p = read_varnum(message, p, size)
        if p + ksiz + vsiz != size or vsiz < 5:
            raise ProtocolError("Kyoto Tycoon update log: USET sizes do not match the message")
        k = p + ksiz
        xt = int.from_bytes(message[k : k + 5], "big")
        return SetChange(ts, sid, db, message[p:k], message[k + 5 :], None if xt >= XTMAX else xt)
    if op == UREMOVE:
        ksiz, p = read_varnum(message, 5, size)
        if p + ksiz != size:
            raise ProtocolError("Kyoto Tycoon update log: UREMOVE size does not match the message")
        return RemoveChange(ts, sid, db, message[p:])
    if op == UCLEAR:
        if size != 5:
            raise ProtocolError("Kyoto Tycoon update log: UCLEAR with operands")
        return ClearChange(ts, sid, db)
    return OtherChange(ts, sid, db, op, message[5:])
