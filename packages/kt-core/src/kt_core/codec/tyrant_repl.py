"""Tokyo Tyrant replication (``repl``, 0xC8 0xA0) and the update log it carries. No I/O.

The protocol, as ttserver 1.1.41 speaks it (checked against the recorded streams in
testdata/vectors/tt-repl.json); all numbers big-endian:

- The slave sends :func:`encode_repl`: 0xC8 0xA0, ts u64, sid u32 (14 bytes). The master sends every
  update log record whose time stamp is ``ts`` or later (ttserver's own slaves ask for the newest
  time stamp they applied plus one). A ``ts`` or ``sid`` of 0, a ``sid`` equal to the master's own
  (circular replication) or a ``-mask``-ed repl: the master closes the connection without a byte.
- The master answers its own server id, u32 (:func:`read_repl_open`). A master without an update
  log (no ``-ulog``, or no ``-sid``, which turns the log off) closes the connection right after it.
- Then, until either side closes, frames (:func:`read_repl_frame`), never answered:
  - 0xC9, ts u64, sid u32, size u32, message: one update log record; ``sid`` is the server id that
    made the change. Records of the slave's ``sid``, and those the master itself replicated from
    a master whose id is ``sid``, are skipped (this is what lets two masters replicate each other).
  - 0xCA: a NOP, one byte: sent as the stream starts, then at most once a second at the top of each
    round (the master sends a NOP if a second has passed, waits up to a second for the log to grow,
    then sends everything the log holds) and, while it skips records, at the first of every 256
    skipped. A NOP after the first therefore follows a round that sent all the master had (unless
    it came while records were being skipped).
- The master side of the same: :func:`parse_repl_request`, :func:`encode_repl_open`,
  :func:`encode_repl_record`, :func:`encode_repl_nop`.

An update log message is the command as a Tokyo Tyrant request (0xC8, the command byte and its
operands, see :mod:`kt_core.codec.tyrant`), except that misc leaves out its options field, followed by one
byte: 0 if the command succeeded, 1 if not (ttserver logs failed updates too: a putkeep on an
existing key, an out of a missing one). The commands logged are put (putnr too), putkeep, putcat,
putshl, out, addint, adddouble (not with 0), sync, optimize, vanish and misc (every misc function
called without the no-update-log option, reads included; table records are stored by misc). ext
scripts log the same messages for what they do. Unlike Kyoto Tycoon's, a record carries no database
number (a ttserver has one database) and no expiry (Tokyo Tyrant has none); a putcat, putshl or
addint logs its operand, not the value it left.

The update log files (``DIR/00000001.ulog``, ``00000002.ulog``... under ``-ulog DIR``, the next one
begun once a file reaches ``-ulim`` bytes) hold records without a file head: 0xC9, ts u64, sid u16,
mid u16 (the master a replicated change came from, 0 for a local one), size u32, message:
:func:`encode_ulog_record`, :func:`read_ulog_record`. A time stamp is the wall clock in microseconds
when the record was written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Optional, Union

from ..errors import ProtocolError, TokyoTyrantError
from . import tyrant as tt

__all__ = [
    "CMD_REPL",
    "MAGIC_RECORD",
    "MAGIC_NOP",
    "Change",
    "SetChange",
    "AppendChange",
    "AddChange",
    "RemoveChange",
    "ClearChange",
    "MiscChange",
    "OtherChange",
    "ReplicationRefusedError",
    "ReplicationGapError",
    "encode_repl",
    "read_repl_open",
    "read_repl_frame",
    "read_repl_frames",
    "parse_repl_request",
    "encode_repl_open",
    "encode_repl_record",
    "encode_repl_nop",
    "encode_log_message",
    "encode_log_misc",
    "decode_message",
    "encode_ulog_record",
    "read_ulog_record",
    "ULOG_RECORD_HEAD",
]

CMD_REPL = 0xA0
MAGIC_RECORD = 0xC9
MAGIC_NOP = 0xCA

_REQ = struct.Struct(">BBQI")
_U32 = struct.Struct(">I")
_FRAME = struct.Struct(">BQII")
#: The head of a record in an update log file: magic, ts u64, sid u16, mid u16, size u32.
ULOG_RECORD_HEAD = struct.Struct(">BQHHI")
_MISC_HEAD = struct.Struct(">II")
_KV = _MISC_HEAD
_PUT, _PUTKEEP = tt.COMMANDS["put"], tt.COMMANDS["putkeep"]


class ReplicationRefusedError(TokyoTyrantError):
    """The master closed the stream: it keeps no update log (no ``-ulog`` or no ``-sid``), refuses
    the ``sid`` (its own: circular replication), or ``repl`` is masked."""


class ReplicationGapError(TokyoTyrantError):
    """Changes after the requested time stamp may be lost: the master's oldest change left is newer
    than it (update log files were removed), so the stream cannot resume there without a gap.
    Re-read the database and resume from a fresh time stamp."""


# ----------------------------------------------------------------------------- slave side


def encode_repl(ts: int, sid: int) -> bytes:
    """The slave's request: every record stamped ``ts`` or later, except those of server id ``sid``."""
    if not 1 <= ts < 1 << 64:
        raise ValueError(f"repl ts out of range: {ts}")
    if not 1 <= sid < 1 << 32:
        raise ValueError(f"repl sid out of range: {sid}")
    return _REQ.pack(tt.MAGIC, CMD_REPL, ts, sid)


def read_repl_open(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int, int]]:
    """The master's first answer: ``(pos + 4, master_sid)``."""
    if end < pos + 4:
        return pos + 4
    return pos + 4, _U32.unpack_from(buf, pos)[0]


def read_repl_frame(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int, int, int, Optional[bytes]]]:
    """One frame: ``(next_pos, ts, sid, message)``; a NOP is ``(pos + 1, 0, 0, None)``."""
    if end <= pos:
        return pos + 1
    magic = buf[pos]
    if magic == MAGIC_NOP:
        return pos + 1, 0, 0, None
    if magic != MAGIC_RECORD:
        raise ProtocolError(f"Tokyo Tyrant replication: unexpected frame magic 0x{magic:02X}")
    p = pos + _FRAME.size
    if p > end:
        return p
    _, ts, sid, size = _FRAME.unpack_from(buf, pos)
    if _FRAME.size + size > limit:
        raise ProtocolError(f"Tokyo Tyrant replication: record of {size} bytes over the limit")
    if p + size > end:
        return p + size
    return p + size, ts, sid, bytes(buf[p : p + size])


def read_repl_frames(buf: Any, pos: int, end: int,
                     limit: int) -> Union[int, tuple[int, list[tuple[int, int, Optional[bytes]]]]]:
    """Every whole frame that has arrived (at least one, at most 4096): ``(next_pos, frames)``, each
    frame ``(ts, sid, message)`` as :func:`read_repl_frame` gives it. One call per receive instead of
    one per frame: a stream's records are small and many."""
    frames: list[tuple[int, int, Optional[bytes]]] = []
    p = pos
    while len(frames) < 4096:
        r = read_repl_frame(buf, p, end, limit)
        if isinstance(r, int):
            if frames:
                break
            return r
        p = r[0]
        frames.append((r[1], r[2], r[3]))
    return p, frames


# ----------------------------------------------------------------------------- master side


def parse_repl_request(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int, int, int]]:
    """The master's decoder of :func:`encode_repl`: ``(next_pos, ts, sid)`` (not checked: the master
    decides what a 0 means)."""
    if end - pos >= 2 and (buf[pos] != tt.MAGIC or buf[pos + 1] != CMD_REPL):
        raise ProtocolError("Tokyo Tyrant replication: not a repl request")
    p = pos + _REQ.size
    if p > end:
        return p
    _, _, ts, sid = _REQ.unpack_from(buf, pos)
    return p, ts, sid


def encode_repl_open(sid: int) -> bytes:
    return _U32.pack(sid & 0xFFFFFFFF)


def encode_repl_record(ts: int, sid: int, message: bytes) -> bytes:
    return _FRAME.pack(MAGIC_RECORD, ts, sid, len(message)) + message


def encode_repl_nop() -> bytes:
    return b"\xca"


# ----------------------------------------------------------------------------- update log messages


def encode_log_message(request: bytes, ok: bool) -> bytes:
    """The message of a logged command other than misc: its request (``kt_core.codec.tyrant.encode_put``...)
    and the result byte."""
    return request + (b"\x00" if ok else b"\x01")


def encode_log_misc(name: bytes, args: Any, ok: bool) -> bytes:
    """A logged misc: like the request without its options field, then the result byte."""
    parts = [bytes((tt.MAGIC, tt.COMMANDS["misc"])), _MISC_HEAD.pack(len(name), len(args)), name]
    for arg in args:
        parts.append(_U32.pack(len(arg)))
        parts.append(arg)
    parts.append(b"\x00" if ok else b"\x01")
    return b"".join(parts)


@dataclass(frozen=True)
class Change:
    """One change from the update log. ``ts``: its time stamp (microseconds; resume after it with
    ``since=ts``); ``sid``: the server id that made it; ``ok``: whether the command succeeded (a
    failed one changed nothing: a putkeep on an existing key, an out of a missing key...)."""

    ts: int
    sid: int
    ok: bool


@dataclass(frozen=True)
class SetChange(Change):
    """put (and putnr), or putkeep (``keep``: stored only if the key was new; with ``ok`` False it was
    not). ``value``: the value stored."""

    key: bytes
    value: Any
    keep: bool


@dataclass(frozen=True)
class AppendChange(Change):
    """putcat (``width`` None): ``value`` was appended to the record's value (made if missing); or
    putshl: appended, then only the last ``width`` bytes kept."""

    key: bytes
    value: bytes
    width: Optional[int]


@dataclass(frozen=True)
class AddChange(Change):
    """addint (``num`` an int) or adddouble (a float): ``num`` was added to the record's number (the
    sum is not logged)."""

    key: bytes
    num: Union[int, float]


@dataclass(frozen=True)
class RemoveChange(Change):
    """out: the record was removed."""

    key: bytes


@dataclass(frozen=True)
class ClearChange(Change):
    """vanish: every record was removed."""


@dataclass(frozen=True)
class MiscChange(Change):
    """misc ``name`` called with ``args`` (putlist, outlist, a table's put/out/setindex, ...; reads
    called without the no-update-log option are logged too)."""

    name: str
    args: tuple[bytes, ...]


@dataclass(frozen=True)
class OtherChange(Change):
    """Any other logged command (sync, optimize): ``op`` its command byte, ``body`` its operands."""

    op: int
    body: bytes


def decode_message(message: bytes, ts: int, sid: int) -> Change:
    """An update log message (with its time stamp and server id) as a typed :class:`Change`;
    ProtocolError if malformed."""
    if len(message) < 3 or message[0] != tt.MAGIC:
        raise ProtocolError(f"Tokyo Tyrant update log: not a logged command ({message[:3].hex()})")
    ok = message[-1] == 0
    cmd = message[1]
    if cmd == _PUT or cmd == _PUTKEEP:  # the common records, read without building a Request
        end = len(message) - 1
        if end >= 10:
            ksiz, vsiz = _KV.unpack_from(message, 2)
            if 10 + ksiz + vsiz == end:
                return SetChange(ts, sid, ok, message[10 : 10 + ksiz], message[10 + ksiz : end], cmd == _PUTKEEP)
    body = message[:-1]
    if cmd == tt.COMMANDS["misc"]:
        body = body[:6] + b"\x00\x00\x00\x00" + body[6:]  # the request's options field, left out of the log
    elif cmd not in _LOGGED:
        return OtherChange(ts, sid, ok, cmd, message[2:-1])
    r = tt.parse_request(body, 0, len(body), len(body) + 1)
    if isinstance(r, int) or r[0] != len(body):
        raise ProtocolError(f"Tokyo Tyrant update log: malformed {tt.COMMAND_NAMES[cmd]} message")
    command, f = r[1]
    if command in ("put", "putkeep"):
        return SetChange(ts, sid, ok, f["key"], f["value"], command == "putkeep")
    if command == "putcat":
        return AppendChange(ts, sid, ok, f["key"], f["value"], None)
    if command == "putshl":
        return AppendChange(ts, sid, ok, f["key"], f["value"], f["width"])
    if command == "out":
        return RemoveChange(ts, sid, ok, f["key"])
    if command in ("addint", "adddouble"):
        return AddChange(ts, sid, ok, f["key"], f["num"])
    if command == "vanish":
        return ClearChange(ts, sid, ok)
    if command == "misc":
        return MiscChange(ts, sid, ok, f["name"].decode("latin-1"), tuple(f["args"]))
    return OtherChange(ts, sid, ok, cmd, message[2:-1])


_LOGGED = frozenset(tt.COMMANDS[c] for c in ("put", "putkeep", "putcat", "putshl", "out", "addint", "adddouble",
                                               "vanish", "misc"))


# ----------------------------------------------------------------------------- update log files


def encode_ulog_record(ts: int, sid: int, mid: int, message: bytes) -> bytes:
    """One record of an update log file."""
    return ULOG_RECORD_HEAD.pack(MAGIC_RECORD, ts, sid & 0xFFFF, mid & 0xFFFF, len(message)) + message


def read_ulog_record(buf: Any, pos: int, end: int, limit: int) -> Union[int, tuple[int, int, int, int, bytes]]:
    """One record of an update log file: ``(next_pos, ts, sid, mid, message)``; ProtocolError for a
    bad magic byte (ttserver's reader stops there)."""
    p = pos + ULOG_RECORD_HEAD.size
    if p > end:
        return p
    magic, ts, sid, mid, size = ULOG_RECORD_HEAD.unpack_from(buf, pos)
    if magic != MAGIC_RECORD:
        raise ProtocolError(f"Tokyo Tyrant update log: bad record magic 0x{magic:02X}")
    if ULOG_RECORD_HEAD.size + size > limit:
        raise ProtocolError(f"Tokyo Tyrant update log: record of {size} bytes over the limit")
    if p + size > end:
        return p + size
    return p + size, ts, sid, mid, bytes(buf[p : p + size])
