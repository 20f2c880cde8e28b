"""Tokyo Tyrant 1.1.41 binary protocol: every wire message, client and stand-in side.

Each TT message is defined here once (docs/codec.md, layer 2). Every request starts with the magic
byte 0xC8 and a command byte; all integers on the wire are big-endian; keys, values and names are
``bytes`` (text is the caller's business).

Client side: request encoders
-----------------------------
All return ``bytes`` ready to send. Byte arguments accept ``bytes``/``bytearray``; anything else, or a
number out of range, raises :class:`~kt_core.errors.InvalidArgumentError` (``InvalidTypeError`` for
a wrong type) before anything is sent.

==========================================================  =====  ==========================================
encoder                                                     cmd    layout after ``C8 cmd``
==========================================================  =====  ==========================================
``encode_put(key, value)``                                  0x10   ksiz u32, vsiz u32, key, value
``encode_putkeep(key, value)``                              0x11   same as put
``encode_putcat(key, value)``                               0x12   same as put
``encode_putshl(key, value, width)``                        0x13   ksiz, vsiz, width i32 (>= 0), key, value
``encode_putnr(key, value)``                                0x18   same as put; the server NEVER replies
``encode_out(key)``                                         0x20   ksiz u32, key
``encode_get(key)``                                         0x30   ksiz u32, key
``encode_mget(keys)``                                       0x31   n u32, n x (ksiz u32, key)
``encode_vsiz(key)``                                        0x38   ksiz u32, key
``encode_iterinit()``                                       0x50   (nothing)
``encode_iternext()``                                       0x51   (nothing)
``encode_fwmkeys(prefix, max_keys=-1)``                     0x58   psiz u32, max i32 (< 0: no limit), prefix
``encode_addint(key, num)``                                 0x60   ksiz u32, num i32, key
``encode_adddouble(key, num)``                              0x61   ksiz u32, integ i64, fract i64, key
``encode_ext(name, key=b"", value=b"", opts=0)``            0x68   nsiz, opts, ksiz, vsiz (u32), name, key, value
``encode_sync()``                                           0x70   (nothing)
``encode_optimize(params=b"")``                             0x71   psiz u32, params
``encode_vanish()``                                         0x72   (nothing)
``encode_copy(path)``                                       0x73   psiz u32, path
``encode_restore(path, ts=0, opts=0)``                      0x74   psiz u32, ts u64 (usec), opts u32, path
``encode_setmst(host=b"", port=0, ts=0, opts=0)``           0x78   hsiz u32, port u32, ts u64, opts u32, host
``encode_rnum()``                                           0x80   (nothing)
``encode_size()``                                           0x81   (nothing)
``encode_stat()``                                           0x88   (nothing)
``encode_misc(name, args=(), opts=0)``                      0x90   nsiz, opts, n (u32), name, n x (asiz, arg)
==========================================================  =====  ==========================================

Option bits: ``ext`` takes :data:`RDBXOLCKREC` (1, lock the record) / :data:`RDBXOLCKGLB` (2, lock the
database); ``misc`` takes :data:`RDBMONOULOG` (1, no update log); ``restore``/``setmst`` take
:data:`RDBROCHKCON` (1, consistency check). Table records go to ``misc put``/``putkeep``/``putcat`` as
separate args ``pk, col, val, col, val ...`` (see :func:`table_misc_args`).

Client side: response readers
-----------------------------
Every reader has the docs/codec.md signature ``read_X(buf, pos, end, limit)`` and returns either an
``int`` (need more bytes: the position the buffer must reach) or a 3-tuple
``(next_pos, code, result)``. ``code`` is the server's reply code (0 = success). Readers never raise
on a non-zero code: the client decides whether it means False, None or an exception. Bad bytes raise
:class:`~kt_core.errors.ProtocolError`.

- TT_CODE, ``result`` always ``None``: ``read_put``, ``read_putkeep``, ``read_putcat``, ``read_putshl``,
  ``read_out``, ``read_iterinit``, ``read_sync``, ``read_optimize``, ``read_vanish``, ``read_copy``,
  ``read_restore``, ``read_setmst``.
- TT_DATA, ``bytes`` (``None`` on failure): ``read_get``, ``read_iternext``, ``read_ext``;
  ``read_stat`` gives ``str`` (UTF-8, surrogateescape; see :func:`parse_stat`).
- TT_I32, signed ``int`` (``None`` on failure): ``read_vsiz``, ``read_addint``.
- TT_U64, ``int`` (``None`` on failure): ``read_rnum``, ``read_size``.
- TT_DOUBLE, ``float`` as ttunpackdouble (``None`` on failure): ``read_adddouble``.
- TT_LIST, ``list[bytes]`` whatever the code (empty on failure): ``read_fwmkeys``, ``read_misc``.
- TT_KVLIST, ``list[tuple[bytes, bytes]]`` whatever the code: ``read_mget`` (hits only);
  ``read_mget_kv`` gives the same hits as ``(keys, values)``, two parallel lists.

``putnr`` has no reply and no reader: after sending it the client must not read anything.

Stand-in server side
--------------------
``parse_request(buf, pos, end, limit) -> int | tuple[int, Request]`` decodes one request (same
incomplete/complete contract as the readers). :class:`Request` is ``(command, fields)``: the command
name (``"put"``, ``"misc"``, ...) and a dict whose keys are exactly the keyword arguments of
``encode_<command>``, so ``encode_<command>(**request.fields)`` rebuilds the request bytes. A first
byte other than 0xC8 or an unknown command byte raises ProtocolError (the real server closes the
connection without replying); so does a length or count that cannot fit in ``limit`` bytes.

Reply encoders, one per shape (the frame on failure is the code byte alone for the first five):

- ``encode_code_reply(code=0)``                    -> ``code``
- ``encode_data_reply(value)``                     -> ``00, size u32, value``
- ``encode_i32_reply(value)``                      -> ``00, value i32``
- ``encode_u64_reply(value)``                      -> ``00, value u64``
- ``encode_double_reply(value)``                   -> ``00, integ i64, fract i64`` (as ttpackdouble)
- ``encode_list_reply(code, items)``               -> ``code, n u32, n x (size u32, item)``
- ``encode_kvlist_reply(code, pairs)``             -> ``code, n u32, n x (ksiz u32, vsiz u32, key, value)``

and per command aliases ``encode_<command>_reply`` (e.g. ``encode_get_reply is encode_data_reply``).
:data:`REPLY_SHAPES` maps each command name to its scanner shape (``None`` for putnr), :data:`READERS`
to its reader, :data:`ENCODERS` to its request encoder, :data:`COMMANDS` to its command byte.

``stat`` text helpers: ``parse_stat(text) -> dict[str, int | float | str]`` and
``format_stat(mapping) -> str`` (``name<TAB>value<LF>`` lines).

Doubles: ``pack_double(num) -> (integ, fract)`` and ``unpack_double(integ, fract) -> float`` mirror
ttpackdouble/ttunpackdouble: the integral part and the fractional part x 1e12, both truncated toward
zero and both carrying the sign (-0.75 is ``(0, -750000000000)``); inf is ``(+-INT64_MAX/MIN, 0)`` and
NaN ``(INT64_MIN, INT64_MIN)``.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, NamedTuple, Union

from ..errors import InvalidArgumentError, InvalidTypeError, ProtocolError
from ._scan import REC_KV, TT_CODE, TT_DATA, TT_DOUBLE, TT_I32, TT_KVLIST, TT_LIST, TT_U64, scan_tt, split_records
from .progress import progress
from .reader import Partial

__all__ = [
    "MAGIC",
    "COMMANDS",
    "COMMAND_NAMES",
    "REPLY_SHAPES",
    "READERS",
    "ENCODERS",
    "TT_CODE",
    "TT_DATA",
    "TT_I32",
    "TT_U64",
    "TT_DOUBLE",
    "TT_LIST",
    "TT_KVLIST",
    "RDBXOLCKREC",
    "RDBXOLCKGLB",
    "RDBMONOULOG",
    "RDBROCHKCON",
    "Request",
    "pack_double",
    "unpack_double",
    "parse_stat",
    "format_stat",
    "table_misc_args",
    "parse_request",
    "encode_code_reply",
    "encode_data_reply",
    "encode_i32_reply",
    "encode_u64_reply",
    "encode_double_reply",
    "encode_list_reply",
    "encode_kvlist_reply",
]

BytesLike = Union[bytes, bytearray]
Buffer = Union[bytes, bytearray, memoryview]

MAGIC = 0xC8

# Scanner shapes TT_CODE..TT_KVLIST (docs/codec.md) are the scanner's own constants, imported above.

# Option bits (tcrdb.h).
RDBXOLCKREC = 1 << 0  # ext: lock the record
RDBXOLCKGLB = 1 << 1  # ext: lock the whole database
RDBMONOULOG = 1 << 0  # misc: do not write the update log
RDBROCHKCON = 1 << 0  # restore/setmst: consistency check

COMMANDS: dict[str, int] = {
    "put": 0x10,
    "putkeep": 0x11,
    "putcat": 0x12,
    "putshl": 0x13,
    "putnr": 0x18,
    "out": 0x20,
    "get": 0x30,
    "mget": 0x31,
    "vsiz": 0x38,
    "iterinit": 0x50,
    "iternext": 0x51,
    "fwmkeys": 0x58,
    "addint": 0x60,
    "adddouble": 0x61,
    "ext": 0x68,
    "sync": 0x70,
    "optimize": 0x71,
    "vanish": 0x72,
    "copy": 0x73,
    "restore": 0x74,
    "setmst": 0x78,
    "rnum": 0x80,
    "size": 0x81,
    "stat": 0x88,
    "misc": 0x90,
}
COMMAND_NAMES: dict[int, str] = {v: k for k, v in COMMANDS.items()}

REPLY_SHAPES: dict[str, int | None] = {
    "put": TT_CODE,
    "putkeep": TT_CODE,
    "putcat": TT_CODE,
    "putshl": TT_CODE,
    "putnr": None,  # no reply at all
    "out": TT_CODE,
    "get": TT_DATA,
    "mget": TT_KVLIST,
    "vsiz": TT_I32,
    "iterinit": TT_CODE,
    "iternext": TT_DATA,
    "fwmkeys": TT_LIST,
    "addint": TT_I32,
    "adddouble": TT_DOUBLE,
    "ext": TT_DATA,
    "sync": TT_CODE,
    "optimize": TT_CODE,
    "vanish": TT_CODE,
    "copy": TT_CODE,
    "restore": TT_CODE,
    "setmst": TT_CODE,
    "rnum": TT_U64,
    "size": TT_U64,
    "stat": TT_DATA,
    "misc": TT_LIST,
}

_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)
_TRILLION = 1e12

_U32 = struct.Struct(">I")
_KV = struct.Struct(">BBII")  # magic, cmd, ksiz, vsiz
_K = struct.Struct(">BBI")  # magic, cmd, ksiz
_PUTSHL = struct.Struct(">BBIIi")
_FWMKEYS = struct.Struct(">BBIi")
_ADDINT = struct.Struct(">BBIi")
_ADDDOUBLE = struct.Struct(">BBIqq")
_EXT = struct.Struct(">BBIIII")
_RESTORE = struct.Struct(">BBIQI")
_SETMST = struct.Struct(">BBIIQI")
_MISC = struct.Struct(">BBIII")
_KSIZ_VSIZ = struct.Struct(">II")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_Q = struct.Struct(">Q")
_II = struct.Struct(">II")
_IQI = struct.Struct(">IQI")
_IIQI = struct.Struct(">IIQI")
_III = struct.Struct(">III")
_IQQ = struct.Struct(">Iqq")
_Ii = struct.Struct(">Ii")
_IIi = struct.Struct(">IIi")
_IIII = struct.Struct(">IIII")

_CODE_I32 = struct.Struct(">Bi")
_CODE_U64 = struct.Struct(">BQ")
_CODE_QQ = struct.Struct(">Bqq")
_CODE_U32 = struct.Struct(">BI")


def _magic(cmd: str) -> bytes:
    return bytes((MAGIC, COMMANDS[cmd]))


# --------------------------------------------------------------------------------------------
# caller-input errors


def _bad(command: str, exc: Exception) -> InvalidArgumentError:
    """Turn a TypeError/struct.error/OverflowError raised while encoding into our exception."""
    if isinstance(exc, InvalidArgumentError):
        return exc
    if isinstance(exc, TypeError):
        return InvalidTypeError(f"tyrant {command}: keys, values and names must be bytes ({exc})")
    return InvalidArgumentError(f"tyrant {command}: argument out of range ({exc})")


_ENCODE_ERRORS = (TypeError, struct.error, OverflowError, ValueError)


_PLAIN_BYTES = frozenset((bytes, bytearray))


def _check_bytes(command: str, *values: object) -> None:
    # bytes + str raises TypeError anyway; this catches the cases concatenation would accept
    # (memoryview of a wide format, objects with __len__) so the lengths we send are byte counts.
    for v in values:
        if v.__class__ is not bytes and not isinstance(v, (bytes, bytearray)):
            raise InvalidTypeError(f"tyrant {command}: expected bytes, got {type(v).__name__}")


# --------------------------------------------------------------------------------------------
# doubles (ttpackdouble / ttunpackdouble)


def pack_double(num: float) -> tuple[int, int]:
    """Split ``num`` into (integ, fract x 1e12) as ttpackdouble does; both parts carry the sign."""
    fract, integ = math.modf(num)
    if math.isnan(num):
        return _INT64_MIN, _INT64_MIN
    if math.isinf(num):
        return (_INT64_MAX if num > 0 else _INT64_MIN), 0
    # C converts with truncation toward zero; values beyond int64 are undefined in C, clamp here.
    linteg = int(integ)
    if linteg > _INT64_MAX:
        linteg = _INT64_MAX
    elif linteg < _INT64_MIN:
        linteg = _INT64_MIN
    return linteg, int(fract * _TRILLION)


def unpack_double(integ: int, fract: int) -> float:
    """Rebuild a double from (integ, fract x 1e12) exactly as ttunpackdouble does."""
    if fract == _INT64_MIN and integ == _INT64_MIN:
        return math.nan
    if integ == _INT64_MAX:
        return math.inf
    if integ == _INT64_MIN:
        return -math.inf
    return float(integ) + fract / _TRILLION


# --------------------------------------------------------------------------------------------
# request encoders (client)

_PUT = _magic("put")[1]
_PUTKEEP = _magic("putkeep")[1]
_PUTCAT = _magic("putcat")[1]
_PUTNR = _magic("putnr")[1]


def _encode_kv(command: str, cmd: int, key: BytesLike, value: BytesLike) -> bytes:
    if key.__class__ is not bytes or value.__class__ is not bytes:
        _check_bytes(command, key, value)
    try:
        return _KV.pack(MAGIC, cmd, len(key), len(value)) + key + value
    except _ENCODE_ERRORS as exc:
        raise _bad(command, exc) from None


def encode_put(key: BytesLike, value: BytesLike) -> bytes:
    """put (0x10): store ``value`` under ``key``, overwriting."""
    if key.__class__ is bytes and value.__class__ is bytes:
        try:
            return _KV.pack(MAGIC, _PUT, len(key), len(value)) + key + value
        except _ENCODE_ERRORS as exc:
            raise _bad("put", exc) from None
    return _encode_kv("put", _PUT, key, value)


def encode_putkeep(key: BytesLike, value: BytesLike) -> bytes:
    """putkeep (0x11): store only if ``key`` is absent (code 1 if it exists)."""
    return _encode_kv("putkeep", _PUTKEEP, key, value)


def encode_putcat(key: BytesLike, value: BytesLike) -> bytes:
    """putcat (0x12): append ``value`` to the record (creating it if missing)."""
    return _encode_kv("putcat", _PUTCAT, key, value)


def encode_putnr(key: BytesLike, value: BytesLike) -> bytes:
    """putnr (0x18): put without a reply; the client must not read after sending it."""
    return _encode_kv("putnr", _PUTNR, key, value)


def encode_putshl(key: BytesLike, value: BytesLike, width: int) -> bytes:
    """putshl (0x13): append ``value`` then keep only the last ``width`` bytes."""
    _check_bytes("putshl", key, value)
    if not isinstance(width, int) or width < 0:
        raise InvalidArgumentError(f"tyrant putshl: width must be an int >= 0, got {width!r}")
    try:
        return _PUTSHL.pack(MAGIC, 0x13, len(key), len(value), width) + key + value
    except _ENCODE_ERRORS as exc:
        raise _bad("putshl", exc) from None


def _encode_k(command: str, cmd: int, key: BytesLike) -> bytes:
    if key.__class__ is not bytes:
        _check_bytes(command, key)
    try:
        return _K.pack(MAGIC, cmd, len(key)) + key
    except _ENCODE_ERRORS as exc:
        raise _bad(command, exc) from None


def encode_out(key: BytesLike) -> bytes:
    """out (0x20): remove ``key`` (code 1 if missing)."""
    return _encode_k("out", 0x20, key)


def encode_get(key: BytesLike) -> bytes:
    """get (0x30): fetch the value of ``key``."""
    if key.__class__ is bytes:
        return _K.pack(MAGIC, 0x30, len(key)) + key
    return _encode_k("get", 0x30, key)


def encode_vsiz(key: BytesLike) -> bytes:
    """vsiz (0x38): the size of the value of ``key``."""
    return _encode_k("vsiz", 0x38, key)


def encode_mget(keys: Iterable[BytesLike]) -> bytes:
    """mget (0x31): fetch several keys; the reply holds only the hits."""
    if isinstance(keys, (bytes, bytearray, str)):
        raise InvalidTypeError("tyrant mget: keys must be an iterable of bytes, not a single key")
    if (type(keys) is list or type(keys) is tuple) and _PLAIN_BYTES.issuperset(map(type, keys)):
        # Fast path, keys all bytes/bytearray (their len is the byte count): sizes and keys interleaved by
        # two slice assignments instead of a Python loop.
        n = len(keys)
        if n and len(set(map(len, keys))) == 1:
            # Keys of one length (common: fixed-width ids) share one size prefix: a single join.
            try:
                sep = _U32.pack(len(keys[0]))
            except struct.error as exc:
                raise _bad("mget", exc) from None
            return b"".join((_K.pack(MAGIC, 0x31, n), sep, sep.join(keys)))
        fast: list[Any] = [None] * (2 * n + 1)
        fast[0] = _K.pack(MAGIC, 0x31, n)
        try:
            fast[1::2] = map(_U32.pack, map(len, keys))
        except struct.error as exc:
            raise _bad("mget", exc) from None
        fast[2::2] = keys
        return b"".join(fast)
    parts: list[BytesLike] = [b""]
    pack = _U32.pack
    try:
        for k in keys:
            _check_bytes("mget", k)
            parts.append(pack(len(k)))
            parts.append(k)
    except _ENCODE_ERRORS as exc:
        raise _bad("mget", exc) from None
    parts[0] = _K.pack(MAGIC, 0x31, (len(parts) - 1) // 2)
    return b"".join(parts)


_ITERINIT = _magic("iterinit")
_ITERNEXT = _magic("iternext")
_SYNC = _magic("sync")
_VANISH = _magic("vanish")
_RNUM = _magic("rnum")
_SIZE = _magic("size")
_STAT = _magic("stat")


def encode_iterinit() -> bytes:
    """iterinit (0x50): reset the server-side key iterator of this connection's database."""
    return _ITERINIT


def encode_iternext() -> bytes:
    """iternext (0x51): the next key of the iterator (code 1 at the end)."""
    return _ITERNEXT


def encode_fwmkeys(prefix: BytesLike, max_keys: int = -1) -> bytes:
    """fwmkeys (0x58): keys starting with ``prefix``, at most ``max_keys`` (negative: no limit)."""
    _check_bytes("fwmkeys", prefix)
    try:
        return _FWMKEYS.pack(MAGIC, 0x58, len(prefix), max_keys) + prefix
    except _ENCODE_ERRORS as exc:
        raise _bad("fwmkeys", exc) from None


def encode_addint(key: BytesLike, num: int) -> bytes:
    """addint (0x60): add the signed 32-bit ``num`` to the record (stored as a native 4-byte int)."""
    _check_bytes("addint", key)
    if not isinstance(num, int):
        raise InvalidTypeError(f"tyrant addint: num must be an int, got {type(num).__name__}")
    try:
        return _ADDINT.pack(MAGIC, 0x60, len(key), num) + key
    except _ENCODE_ERRORS as exc:
        raise _bad("addint", exc) from None


def encode_adddouble(key: BytesLike, num: float) -> bytes:
    """adddouble (0x61): add ``num`` to the record (stored as a native 8-byte double)."""
    _check_bytes("adddouble", key)
    if not isinstance(num, (int, float)):
        raise InvalidTypeError(f"tyrant adddouble: num must be a number, got {type(num).__name__}")
    integ, fract = pack_double(float(num))
    try:
        return _ADDDOUBLE.pack(MAGIC, 0x61, len(key), integ, fract) + key
    except _ENCODE_ERRORS as exc:
        raise _bad("adddouble", exc) from None


def encode_ext(name: BytesLike, key: BytesLike = b"", value: BytesLike = b"", opts: int = 0) -> bytes:
    """ext (0x68): call the Lua function ``name(key, value)``; opts RDBXOLCKREC/RDBXOLCKGLB."""
    _check_bytes("ext", name, key, value)
    try:
        return _EXT.pack(MAGIC, 0x68, len(name), opts, len(key), len(value)) + name + key + value
    except _ENCODE_ERRORS as exc:
        raise _bad("ext", exc) from None


def encode_sync() -> bytes:
    """sync (0x70): flush the database to the device."""
    return _SYNC


def _encode_path(command: str, cmd: int, path: BytesLike) -> bytes:
    _check_bytes(command, path)
    try:
        return _K.pack(MAGIC, cmd, len(path)) + path
    except _ENCODE_ERRORS as exc:
        raise _bad(command, exc) from None


def encode_optimize(params: BytesLike = b"") -> bytes:
    """optimize (0x71): rebuild the database with tuning ``params`` (may be empty)."""
    return _encode_path("optimize", 0x71, params)


def encode_vanish() -> bytes:
    """vanish (0x72): remove every record."""
    return _VANISH


def encode_copy(path: BytesLike) -> bytes:
    """copy (0x73): copy the database file to ``path`` (on the server; ``@cmd`` runs a command)."""
    return _encode_path("copy", 0x73, path)


def encode_restore(path: BytesLike, ts: int = 0, opts: int = 0) -> bytes:
    """restore (0x74): replay the update logs in directory ``path`` from time stamp ``ts`` (usec)."""
    _check_bytes("restore", path)
    try:
        return _RESTORE.pack(MAGIC, 0x74, len(path), ts, opts) + path
    except _ENCODE_ERRORS as exc:
        raise _bad("restore", exc) from None


def encode_setmst(host: BytesLike = b"", port: int = 0, ts: int = 0, opts: int = 0) -> bytes:
    """setmst (0x78): set the replication master (empty host: none), from time stamp ``ts``."""
    _check_bytes("setmst", host)
    try:
        return _SETMST.pack(MAGIC, 0x78, len(host), port, ts, opts) + host
    except _ENCODE_ERRORS as exc:
        raise _bad("setmst", exc) from None


def encode_rnum() -> bytes:
    """rnum (0x80): the number of records."""
    return _RNUM


def encode_size() -> bytes:
    """size (0x81): the database size in bytes."""
    return _SIZE


def encode_stat() -> bytes:
    """stat (0x88): the status text (``name<TAB>value`` lines)."""
    return _STAT


def encode_misc(name: BytesLike, args: Iterable[BytesLike] = (), opts: int = 0) -> bytes:
    """misc (0x90): call the database function ``name`` with ``args``; opts RDBMONOULOG."""
    if isinstance(args, (bytes, bytearray, str)):
        raise InvalidTypeError("tyrant misc: args must be an iterable of bytes, not a single byte string")
    _check_bytes("misc", name)
    if args.__class__ is list and name.__class__ is bytes:
        # The clients' calls (putlist's hundreds of arguments): every argument plain bytes is
        # checked in one pass, and the length prefixes go in beside them by slice assignment.
        for a in args:
            if a.__class__ is not bytes:
                break
        else:
            n = len(args)
            fast: list[BytesLike] = [b""] * (2 * n + 2)
            fast[2::2] = list(map(_U32.pack, map(len, args)))
            fast[3::2] = args
            fast[1] = name
            try:
                fast[0] = _MISC.pack(MAGIC, 0x90, len(name), opts, n)
            except _ENCODE_ERRORS as exc:
                raise _bad("misc", exc) from None
            return b"".join(fast)
    parts = [b"", name]
    pack = _U32.pack
    try:
        for a in args:
            _check_bytes("misc", a)
            parts.append(pack(len(a)))
            parts.append(a)
        parts[0] = _MISC.pack(MAGIC, 0x90, len(name), opts, (len(parts) - 2) // 2)
    except _ENCODE_ERRORS as exc:
        raise _bad("misc", exc) from None
    return b"".join(parts)


def table_misc_args(pk: BytesLike, columns: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """The misc args of a table record for ``put``/``putkeep``/``putcat``: ``[pk, col, val, ...]``.

    The table database takes each column name and value as a separate misc argument (no NUL
    joining on the wire); NUL-joined records (plain get, search ``get``) are decoded by the
    TT_TABLE serializer in kt_serializers.
    """
    items = columns.items() if isinstance(columns, Mapping) else columns
    out = [bytes(pk)]
    for col, val in items:
        _check_bytes("misc", col, val)
        out.append(bytes(col))
        out.append(bytes(val))
    return out


ENCODERS: dict[str, Callable[..., bytes]] = {
    "put": encode_put,
    "putkeep": encode_putkeep,
    "putcat": encode_putcat,
    "putshl": encode_putshl,
    "putnr": encode_putnr,
    "out": encode_out,
    "get": encode_get,
    "mget": encode_mget,
    "vsiz": encode_vsiz,
    "iterinit": encode_iterinit,
    "iternext": encode_iternext,
    "fwmkeys": encode_fwmkeys,
    "addint": encode_addint,
    "adddouble": encode_adddouble,
    "ext": encode_ext,
    "sync": encode_sync,
    "optimize": encode_optimize,
    "vanish": encode_vanish,
    "copy": encode_copy,
    "restore": encode_restore,
    "setmst": encode_setmst,
    "rnum": encode_rnum,
    "size": encode_size,
    "stat": encode_stat,
    "misc": encode_misc,
}


# --------------------------------------------------------------------------------------------
# response readers (client)

ReadResult = Union[int, "tuple[int, int, Any]", Partial]  # Partial: the bulk readers, for a large frame still arriving


def _read_code(buf: Buffer, pos: int, end: int, limit: int) -> ReadResult:
    # The frame is the code byte alone: when it is there, no scanner call (the client's set and
    # remove; benchmarks/RESULTS.md). Otherwise the scanner gives its answer and errors.
    if 0 <= pos < end <= len(buf) and limit >= 1:
        return (pos + 1, buf[pos], None)
    r = scan_tt(buf, pos, end, TT_CODE, limit)
    if isinstance(r, int):
        return r
    return (r[0], r[1], None)


_CODE_SIZE = struct.Struct(">BI")


def _read_data(buf: Buffer, pos: int, end: int, limit: int) -> int | tuple[int, int, Any]:
    # A complete success frame is read with one unpack_from (the client's get); anything else
    # (incomplete, a failure code, over the limit) goes through the scanner.
    if 0 <= pos and end - pos >= 5 and end <= len(buf):
        code, n = _CODE_SIZE.unpack_from(buf, pos)
        nxt = pos + 5 + n
        if code == 0 and nxt <= end and nxt - pos <= limit:
            return (nxt, 0, buf[pos + 5 : nxt] if type(buf) is bytes else bytes(buf[pos + 5 : nxt]))
    r = scan_tt(buf, pos, end, TT_DATA, limit)
    if isinstance(r, int):
        return r
    next_pos, code, v = r
    if code:
        return (next_pos, code, None)
    off = v[0]
    return (next_pos, 0, bytes(buf[off : off + v[1]]))


def _read_i32(buf: Buffer, pos: int, end: int, limit: int) -> ReadResult:
    r = scan_tt(buf, pos, end, TT_I32, limit)
    if isinstance(r, int):
        return r
    next_pos, code, v = r
    return (next_pos, code, None if code else v[0])


def _read_u64(buf: Buffer, pos: int, end: int, limit: int) -> ReadResult:
    r = scan_tt(buf, pos, end, TT_U64, limit)
    if isinstance(r, int):
        return r
    next_pos, code, v = r
    return (next_pos, code, None if code else v[0])


def read_adddouble(buf: Buffer, pos: int, end: int, limit: int) -> ReadResult:
    """adddouble reply: ``(next_pos, code, sum as float or None)``."""
    r = scan_tt(buf, pos, end, TT_DOUBLE, limit)
    if isinstance(r, int):
        return r
    next_pos, code, v = r
    if code:
        return (next_pos, code, None)
    return (next_pos, 0, unpack_double(v[0], v[1]))


def _frame_bytes(buf: Buffer, pos: int, next_pos: int) -> tuple[bytes, int]:
    """The frame as ``bytes`` and the offset to subtract from the scanner's positions.

    One copy of the frame, then a bytes slice per field, costs less than ``bytes(view[a:b])`` per
    field: slicing ``bytes`` makes one object, slicing a view makes two.
    """
    if type(buf) is bytes:
        return buf, 0
    return memoryview(buf)[pos:next_pos].tobytes(), pos


def _read_list(buf: Buffer, pos: int, end: int, limit: int) -> ReadResult:
    r = scan_tt(buf, pos, end, TT_LIST, limit)
    if isinstance(r, int):
        return r
    next_pos, code, v = r
    data, base = _frame_bytes(buf, pos, next_pos)
    it = iter(v)
    if base:
        items = [data[o - base : o - base + n] for o, n in zip(it, it)]
    else:
        items = [data[o : o + n] for o, n in zip(it, it)]
    return (next_pos, code, items)


def read_mget(buf: Buffer, pos: int, end: int, limit: int) -> ReadResult:
    """mget reply: ``(next_pos, code, [(key, value), ...])`` (hits only, request order)."""
    return _as_pairs(read_mget_kv(buf, pos, end, limit))


def _as_pairs(r: ReadResult) -> ReadResult:
    if isinstance(r, int):
        return r
    if isinstance(r, Partial):
        resume = r.resume
        return Partial(r.consumed, r.need, lambda *args: _as_pairs(resume(*args)))
    return (r[0], r[1], list(zip(*r[2])))


_KVLIST_HEAD = struct.Struct(">BI")  # code, pair count


def read_mget_kv(buf: Buffer, pos: int, end: int, limit: int, expect: Sequence[bytes] | None = None) -> ReadResult:
    """mget reply as ``(next_pos, code, (keys, values))``: the hits of :func:`read_mget` as two parallel
    lists (what a client building a dict needs; no per-record tuples).

    A complete head goes straight to ``split_records`` (one walk of the records, the key and value
    bytes built by ``struct`` on the C path); an incomplete or oversized head goes through
    ``scan_tt`` and gets its answer and errors. A large frame still arriving is answered with a
    ``Partial`` (kt_core.codec.progress); ``expect``, the requested keys as ``bytes``, lets it keep none
    of the reply's keys while they are the requested ones: the keys list is then ``None``, meaning
    exactly the first ``len(values)`` requested keys.
    """
    if 8 <= limit and end - pos >= 5 and 0 <= pos and end <= len(buf):
        code, n = _KVLIST_HEAD.unpack_from(buf, pos)
        if n <= limit // 8:
            stop = pos + limit
            nxt, keys, values, need = split_records(buf, pos + 5, end, REC_KV, n, stop)
            if need:
                return progress(pos, nxt, need, keys, values, n, stop, REC_KV,
                                lambda nxt, keys, values: (nxt, code, (keys, values)), expect)
            return (nxt, code, (keys, values))
    r = scan_tt(buf, pos, end, TT_KVLIST, limit)
    if isinstance(r, int):
        return r
    # Complete only under a limit too small for the fast path (then the list is empty).
    view, v = memoryview(buf), r[2]
    return (r[0], r[1], ([bytes(view[o : o + n]) for o, n in zip(v[0::4], v[1::4])],
                         [bytes(view[o : o + n]) for o, n in zip(v[2::4], v[3::4])]))


def read_stat(buf: Buffer, pos: int, end: int, limit: int) -> ReadResult:
    """stat reply: ``(next_pos, code, text as str or None)``; see :func:`parse_stat`."""
    r = _read_data(buf, pos, end, limit)
    if isinstance(r, int):
        return r
    next_pos, code, data = r
    return (next_pos, code, None if data is None else data.decode("utf-8", "surrogateescape"))


read_put = _read_code
read_putkeep = _read_code
read_putcat = _read_code
read_putshl = _read_code
read_out = _read_code
read_iterinit = _read_code
read_sync = _read_code
read_optimize = _read_code
read_vanish = _read_code
read_copy = _read_code
read_restore = _read_code
read_setmst = _read_code
read_get = _read_data
read_iternext = _read_data
read_ext = _read_data
read_vsiz = _read_i32
read_addint = _read_i32
read_rnum = _read_u64
read_size = _read_u64
read_fwmkeys = _read_list
read_misc = _read_list
# putnr: no reply, no reader.

READERS: dict[str, Callable[[Buffer, int, int, int], ReadResult]] = {
    "put": read_put,
    "putkeep": read_putkeep,
    "putcat": read_putcat,
    "putshl": read_putshl,
    "out": read_out,
    "get": read_get,
    "mget": read_mget,
    "vsiz": read_vsiz,
    "iterinit": read_iterinit,
    "iternext": read_iternext,
    "fwmkeys": read_fwmkeys,
    "addint": read_addint,
    "adddouble": read_adddouble,
    "ext": read_ext,
    "sync": read_sync,
    "optimize": read_optimize,
    "vanish": read_vanish,
    "copy": read_copy,
    "restore": read_restore,
    "setmst": read_setmst,
    "rnum": read_rnum,
    "size": read_size,
    "stat": read_stat,
    "misc": read_misc,
}


# --------------------------------------------------------------------------------------------
# stat text

_INT_RE = re.compile(r"-?[0-9]+\Z")
_FLOAT_RE = re.compile(r"-?[0-9]+\.[0-9]+\Z")


def parse_stat(text: str | bytes) -> dict[str, int | float | str]:
    """Parse ``name<TAB>value<LF>`` lines; integer-looking values become int, decimals float.

    ``version`` ``1.1.41`` stays a string; ``protver`` ``0.91`` becomes 0.91. A line without a tab
    maps to ``""``; empty lines are skipped.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "surrogateescape")
    out: dict[str, int | float | str] = {}
    for line in text.split("\n"):
        if not line:
            continue
        name, _, value = line.partition("\t")
        if _INT_RE.match(value):
            out[name] = int(value)
        elif _FLOAT_RE.match(value):
            out[name] = float(value)
        else:
            out[name] = value
    return out


def format_stat(status: Mapping[str, object]) -> str:
    """Format a status mapping as ttserver's ``stat`` text (floats as ttserver's ``%.6f``)."""
    lines = []
    for name, value in status.items():
        if isinstance(value, float):
            value = f"{value:.6f}"
        lines.append(f"{name}\t{value}\n")
    return "".join(lines)


# --------------------------------------------------------------------------------------------
# request decoder (stand-in server)


class Request(NamedTuple):
    """One decoded request: ``command`` name and ``fields`` = the kwargs of ``encode_<command>``."""

    command: str
    fields: dict[str, Any]


def _need_count(count: int, each: int, pos: int, frame_start: int, limit: int, what: str) -> None:
    if count > limit // each or pos + count * each > frame_start + limit:
        raise ProtocolError(f"tyrant request: {what} count {count} exceeds the frame limit {limit}")


def _check_len(total_end: int, frame_start: int, limit: int, command: str) -> None:
    if total_end - frame_start > limit:
        raise ProtocolError(f"tyrant {command} request: {total_end - frame_start} bytes exceed the limit {limit}")


def _take(buf: Buffer, a: int, b: int) -> bytes:
    return bytes(buf[a:b])


def parse_request(buf: Buffer, pos: int, end: int, limit: int) -> int | tuple[int, Request]:
    """Decode one request starting at ``pos``; see the module docstring."""
    if end - pos < 2:
        if end > pos and buf[pos] != MAGIC:
            raise ProtocolError(f"tyrant request: bad magic byte 0x{buf[pos]:02x}")
        return pos + 2
    if buf[pos] != MAGIC:
        raise ProtocolError(f"tyrant request: bad magic byte 0x{buf[pos]:02x}")
    cmd = buf[pos + 1]
    command = COMMAND_NAMES.get(cmd)
    if command is None:
        raise ProtocolError(f"tyrant request: unknown command byte 0x{cmd:02x}")
    parser = _PARSERS[command]
    return parser(buf, pos, end, limit, command)


def _p_none(buf: Buffer, pos: int, end: int, limit: int, command: str) -> tuple[int, Request]:
    return (pos + 2, Request(command, {}))


def _p_kv(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 2 + 8
    if end < h:
        return h
    ksiz, vsiz = _II.unpack_from(buf, pos + 2)
    stop = h + ksiz + vsiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    return (stop, Request(command, {"key": _take(buf, h, h + ksiz), "value": _take(buf, h + ksiz, stop)}))


def _p_putshl(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 2 + 12
    if end < h:
        return h
    ksiz, vsiz, width = _IIi.unpack_from(buf, pos + 2)
    stop = h + ksiz + vsiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    if width < 0:
        raise ProtocolError(f"tyrant putshl request: negative width {width}")
    fields = {"key": _take(buf, h, h + ksiz), "value": _take(buf, h + ksiz, stop), "width": width}
    return (stop, Request(command, fields))


def _p_sized(field: str) -> Callable[[Buffer, int, int, int, str], int | tuple[int, Request]]:
    def parse(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
        h = pos + 6
        if end < h:
            return h
        (size,) = _U32.unpack_from(buf, pos + 2)
        stop = h + size
        _check_len(stop, pos, limit, command)
        if end < stop:
            return stop
        return (stop, Request(command, {field: _take(buf, h, stop)}))

    return parse


def _p_mget(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    p = pos + 6
    if end < p:
        return p
    (n,) = _U32.unpack_from(buf, pos + 2)
    _need_count(n, 4, p, pos, limit, "mget key")
    keys = []
    for _ in range(n):
        if end < p + 4:
            return p + 4
        (ksiz,) = _U32.unpack_from(buf, p)
        stop = p + 4 + ksiz
        _check_len(stop, pos, limit, command)
        if end < stop:
            return stop
        keys.append(_take(buf, p + 4, stop))
        p = stop
    return (p, Request(command, {"keys": keys}))


def _p_fwmkeys(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 10
    if end < h:
        return h
    psiz, max_keys = _Ii.unpack_from(buf, pos + 2)
    stop = h + psiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    return (stop, Request(command, {"prefix": _take(buf, h, stop), "max_keys": max_keys}))


def _p_addint(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 10
    if end < h:
        return h
    ksiz, num = _Ii.unpack_from(buf, pos + 2)
    stop = h + ksiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    return (stop, Request(command, {"key": _take(buf, h, stop), "num": num}))


def _p_adddouble(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 22
    if end < h:
        return h
    ksiz, integ, fract = _IQQ.unpack_from(buf, pos + 2)
    stop = h + ksiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    return (stop, Request(command, {"key": _take(buf, h, stop), "num": unpack_double(integ, fract)}))


def _p_ext(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 18
    if end < h:
        return h
    nsiz, opts, ksiz, vsiz = _IIII.unpack_from(buf, pos + 2)
    stop = h + nsiz + ksiz + vsiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    k = h + nsiz
    v = k + ksiz
    fields = {"name": _take(buf, h, k), "key": _take(buf, k, v), "value": _take(buf, v, stop), "opts": opts}
    return (stop, Request(command, fields))


def _p_restore(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 18
    if end < h:
        return h
    psiz, ts, opts = _IQI.unpack_from(buf, pos + 2)
    stop = h + psiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    return (stop, Request(command, {"path": _take(buf, h, stop), "ts": ts, "opts": opts}))


def _p_setmst(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 22
    if end < h:
        return h
    hsiz, port, ts, opts = _IIQI.unpack_from(buf, pos + 2)
    stop = h + hsiz
    _check_len(stop, pos, limit, command)
    if end < stop:
        return stop
    return (stop, Request(command, {"host": _take(buf, h, stop), "port": port, "ts": ts, "opts": opts}))


def _p_misc(buf: Buffer, pos: int, end: int, limit: int, command: str) -> int | tuple[int, Request]:
    h = pos + 14
    if end < h:
        return h
    nsiz, opts, n = _III.unpack_from(buf, pos + 2)
    p = h + nsiz
    _check_len(p, pos, limit, command)
    _need_count(n, 4, p, pos, limit, "misc argument")
    if end < p:
        return p
    name = _take(buf, h, p)
    args = []
    for _ in range(n):
        if end < p + 4:
            return p + 4
        (asiz,) = _U32.unpack_from(buf, p)
        stop = p + 4 + asiz
        _check_len(stop, pos, limit, command)
        if end < stop:
            return stop
        args.append(_take(buf, p + 4, stop))
        p = stop
    return (p, Request(command, {"name": name, "args": args, "opts": opts}))


_PARSERS: dict[str, Callable[[Buffer, int, int, int, str], int | tuple[int, Request]]] = {
    "put": _p_kv,
    "putkeep": _p_kv,
    "putcat": _p_kv,
    "putshl": _p_putshl,
    "putnr": _p_kv,
    "out": _p_sized("key"),
    "get": _p_sized("key"),
    "mget": _p_mget,
    "vsiz": _p_sized("key"),
    "iterinit": _p_none,
    "iternext": _p_none,
    "fwmkeys": _p_fwmkeys,
    "addint": _p_addint,
    "adddouble": _p_adddouble,
    "ext": _p_ext,
    "sync": _p_none,
    "optimize": _p_sized("params"),
    "vanish": _p_none,
    "copy": _p_sized("path"),
    "restore": _p_restore,
    "setmst": _p_setmst,
    "rnum": _p_none,
    "size": _p_none,
    "stat": _p_none,
    "misc": _p_misc,
}


# --------------------------------------------------------------------------------------------
# reply encoders (stand-in server)


def _reply_error(shape: str, exc: Exception) -> InvalidArgumentError:
    if isinstance(exc, TypeError):
        return InvalidTypeError(f"tyrant {shape} reply: {exc}")
    return InvalidArgumentError(f"tyrant {shape} reply: value out of range ({exc})")


def encode_code_reply(code: int = 0) -> bytes:
    """TT_CODE reply, and the failure frame of every TT_CODE..TT_DOUBLE reply: the code byte."""
    if not isinstance(code, int) or not 0 <= code <= 255:
        raise InvalidArgumentError(f"tyrant reply: code must be 0..255, got {code!r}")
    return bytes((code,))


def encode_data_reply(value: BytesLike) -> bytes:
    """TT_DATA success reply (get, iternext, ext, stat): ``00, size u32, value``."""
    try:
        return _CODE_U32.pack(0, len(value)) + value
    except _ENCODE_ERRORS as exc:
        raise _reply_error("data", exc) from None


def encode_i32_reply(value: int) -> bytes:
    """TT_I32 success reply (vsiz, addint): ``00, value i32``."""
    try:
        return _CODE_I32.pack(0, value)
    except _ENCODE_ERRORS as exc:
        raise _reply_error("i32", exc) from None


def encode_u64_reply(value: int) -> bytes:
    """TT_U64 success reply (rnum, size): ``00, value u64``."""
    try:
        return _CODE_U64.pack(0, value)
    except _ENCODE_ERRORS as exc:
        raise _reply_error("u64", exc) from None


def encode_double_reply(value: float) -> bytes:
    """TT_DOUBLE success reply (adddouble): ``00, integ i64, fract i64`` as ttpackdouble."""
    integ, fract = pack_double(value)
    return _CODE_QQ.pack(0, integ, fract)


def encode_list_reply(code: int, items: Sequence[BytesLike]) -> bytes:
    """TT_LIST reply (fwmkeys, misc): ``code, n u32, n x (size u32, item)``, whatever the code."""
    pack = _U32.pack
    try:
        parts: list[BytesLike] = [_CODE_U32.pack(code, len(items))]
        for item in items:
            parts.append(pack(len(item)))
            parts.append(item)
        return b"".join(parts)
    except _ENCODE_ERRORS as exc:
        raise _reply_error("list", exc) from None


def encode_kvlist_reply(code: int, pairs: Sequence[tuple[BytesLike, BytesLike]]) -> bytes:
    """TT_KVLIST reply (mget): ``code, n u32, n x (ksiz u32, vsiz u32, key, value)``."""
    pack = _KSIZ_VSIZ.pack
    try:
        parts: list[BytesLike] = [_CODE_U32.pack(code, len(pairs))]
        for k, v in pairs:
            parts.append(pack(len(k), len(v)))
            parts.append(k)
            parts.append(v)
        return b"".join(parts)
    except _ENCODE_ERRORS as exc:
        raise _reply_error("kvlist", exc) from None


# Per-command names, so searching a command's name finds its reply encoder too.
encode_put_reply = encode_code_reply
encode_putkeep_reply = encode_code_reply
encode_putcat_reply = encode_code_reply
encode_putshl_reply = encode_code_reply
encode_out_reply = encode_code_reply
encode_get_reply = encode_data_reply
encode_mget_reply = encode_kvlist_reply
encode_vsiz_reply = encode_i32_reply
encode_iterinit_reply = encode_code_reply
encode_iternext_reply = encode_data_reply
encode_fwmkeys_reply = encode_list_reply
encode_addint_reply = encode_i32_reply
encode_adddouble_reply = encode_double_reply
encode_ext_reply = encode_data_reply
encode_sync_reply = encode_code_reply
encode_optimize_reply = encode_code_reply
encode_vanish_reply = encode_code_reply
encode_copy_reply = encode_code_reply
encode_restore_reply = encode_code_reply
encode_setmst_reply = encode_code_reply
encode_rnum_reply = encode_u64_reply
encode_size_reply = encode_u64_reply
encode_misc_reply = encode_list_reply
# putnr: the server sends nothing.


def encode_stat_reply(status: Mapping[str, object] | str) -> bytes:
    """stat reply from a status mapping (or ready text): TT_DATA with the ``name<TAB>value`` lines."""
    text = status if isinstance(status, str) else format_stat(status)
    return encode_data_reply(text.encode("utf-8", "surrogateescape"))
