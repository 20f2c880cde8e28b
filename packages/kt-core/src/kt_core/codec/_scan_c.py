"""C scanners (``kt_core.codec._ktcodec`` through cffi), the same API and results as ``_scan_pure``.

The C side owns no Python objects: it reads the caller's buffer in place (``ffi.from_buffer``),
writes offsets into int64 scratch arrays kept here (grown on demand, never per call), and
returns a code that this module turns into a result or an exception.

Tiny frames go to the pure twin. Crossing into C (``from_buffer``, the call itself with the GIL
released and re-taken, reading the results back, releasing the export) costs more than the pure
scanner's one ``struct.unpack_from`` of a fixed-size header (benchmarks/codec.py measures both). So
frames with no loop to carry (Tokyo Tyrant
``TT_CODE``..``TT_DATA``, whose payload is only located, never walked; Kyoto Tycoon set_bulk and
remove_bulk replies, 5 bytes) and windows shorter than ``SMALL_FRAME`` bytes (a single 100-byte
get_bulk record: at most a handful of records to walk) are scanned by ``_scan_pure``. Both
implementations are tested by the same tests and agree byte for byte, so this changes speed only.
TSV bodies without column encoding are split by ``bytes.split``/``partition`` (CPython's own C
loops, faster than building slices from C offsets); encoded bodies are decoded in C.
``_c_scan_ktb``/``_c_scan_tt``/``_c_decode_tsv`` always take the C path (differential tests, fuzzing).
"""

from __future__ import annotations

from struct import Struct
from typing import Any

from ..errors import ProtocolError, ResponseTooLargeError
from . import _scan_pure
from ._ktcodec import ffi, lib
from ._scan_pure import (
    _KTB_MAGICS,
    _MAX_LIMIT,
    HTTP_MAX_HEADER,
    KTB_ERROR,
    KTB_GET_BULK,
    KTB_PLAY_SCRIPT,
    KTB_REMOVE_BULK,
    KTB_SET_BULK,
    REC_GET_BULK,
    REC_KV,
    TT_CODE,
    TT_DATA,
    TT_DOUBLE,
    TT_I32,
    TT_KVLIST,
    TT_LIST,
    TT_U64,
    Buffer,
)

__all__ = [
    "TT_CODE",
    "TT_DATA",
    "TT_I32",
    "TT_U64",
    "TT_DOUBLE",
    "TT_LIST",
    "TT_KVLIST",
    "KTB_SET_BULK",
    "KTB_REMOVE_BULK",
    "KTB_GET_BULK",
    "KTB_PLAY_SCRIPT",
    "KTB_ERROR",
    "HTTP_MAX_HEADER",
    "scan_ktb",
    "scan_tt",
    "scan_http",
    "decode_tsv",
    "REC_GET_BULK",
    "REC_KV",
    "split_records",
]

_ABI_VERSION = 3
if lib.kt_codec_abi_version() != _ABI_VERSION:
    raise ImportError(
        f"kt_core.codec._ktcodec ABI {lib.kt_codec_abi_version()} != expected {_ABI_VERSION}; rebuild kt-core")

_ERRORS: dict[int, tuple[type[ProtocolError], str]] = {
    lib.KT_E_MAGIC: (ProtocolError, "unexpected Kyoto Tycoon binary reply magic"),
    lib.KT_E_TOO_LARGE: (ResponseTooLargeError, "response frame exceeds the configured maximum size"),
    lib.KT_E_COUNT: (ResponseTooLargeError, "record count exceeds what the configured maximum size allows"),
    lib.KT_E_NOT_HTTP: (ProtocolError, "reply does not start with HTTP/1."),
    lib.KT_E_HEADER_SIZE: (ProtocolError, f"HTTP header block larger than {HTTP_MAX_HEADER} bytes"),
    lib.KT_E_STATUS_LINE: (ProtocolError, "malformed HTTP status line"),
    lib.KT_E_HEADER_LINE: (ProtocolError, "malformed HTTP header line"),
    lib.KT_E_CONTENT_LENGTH: (ProtocolError, "malformed Content-Length"),
    lib.KT_E_CL_CONFLICT: (ProtocolError, "conflicting Content-Length headers"),
    lib.KT_E_TRANSFER_ENCODING: (ProtocolError, "Transfer-Encoding in a Kyoto Tycoon reply is not supported"),
    lib.KT_E_COLENC: (ProtocolError, "unknown colenc in Content-Type"),
    lib.KT_E_NO_CONTENT_LENGTH: (ProtocolError, "HTTP reply without Content-Length"),
    lib.KT_E_BASE64: (ProtocolError, "malformed base64 field in TSV body"),
    lib.KT_E_URL: (ProtocolError, "malformed %-escape in URL-encoded TSV field"),
    lib.KT_E_QP: (ProtocolError, "malformed =-escape in quoted-printable TSV field"),
}

_OK = lib.KT_OK
_NEED = lib.KT_NEED
_SPACE = lib.KT_SPACE

class _Work:
    """Scratch space for one scanner call: results, offsets (doubled when the C side asks for
    room) and the TSV decode buffer.

    cffi releases the GIL around C calls, so two threads can scan at once: each call takes a
    workspace of its own from ``_FREE`` (``list.pop``/``append`` are atomic) and gives it back.
    """

    __slots__ = ("fmt", "out", "out_cap", "res", "scratch", "scratch_cap")

    def __init__(self) -> None:
        self.res = ffi.new("int64_t[8]")
        self.scratch_cap = 1024
        self.scratch = ffi.new("int64_t[]", self.scratch_cap)
        self.out_cap = 4096
        self.out = ffi.new("uint8_t[]", self.out_cap)
        self.fmt: Any = None  # split_records' format buffer, made on first use

    def grow_scratch(self) -> None:
        self.scratch_cap *= 2
        self.scratch = ffi.new("int64_t[]", self.scratch_cap)


_FREE: list[_Work] = [_Work()]
_MAX_FREE = 16


def _take() -> _Work:
    try:
        return _FREE.pop()
    except IndexError:
        return _Work()


def _give(work: _Work) -> None:
    if work.scratch_cap > _SCRATCH_KEEP:
        # A huge frame grew it: do not keep megabytes of offsets alive in the free list.
        work.scratch_cap = 1024
        work.scratch = ffi.new("int64_t[]", work.scratch_cap)
    if len(_FREE) < _MAX_FREE:
        _FREE.append(work)


_SCRATCH_KEEP = 1 << 16  # int64s


def _raise(rc: int) -> Any:
    if rc == lib.KT_E_ARG:
        raise ValueError("bad scanner argument")
    cls, message = _ERRORS.get(rc, (ProtocolError, f"codec error {rc}"))
    raise cls(message)


def _check_args(buf: Buffer, pos: int, end: int, limit: int) -> int:
    if not 0 <= pos <= end <= len(buf):
        raise ValueError(f"scanner window out of range: pos={pos} end={end} len={len(buf)}")
    if limit < 0:
        raise ValueError("limit must be >= 0")
    return limit if limit < _MAX_LIMIT else _MAX_LIMIT


def _c_scan_ktb(buf: Buffer, pos: int, end: int, magic: int, limit: int) -> int | tuple[int, int, int, list[int]]:
    """Scan one Kyoto Tycoon binary reply in C (see ``_scan_pure.scan_ktb``)."""
    limit = _check_args(buf, pos, end, limit)
    if magic not in _KTB_MAGICS:
        raise ValueError(f"scan_ktb: not a reply magic: {magic!r}")
    cbuf = ffi.from_buffer("uint8_t[]", buf)
    work = _take()
    res = work.res
    try:
        while True:
            rc = lib.kt_scan_ktb(cbuf, pos, end, magic, limit, res, work.scratch, work.scratch_cap)
            if rc == _OK:
                return (res[0], res[1], res[2], ffi.unpack(work.scratch, res[3]) if res[3] else [])
            if rc == _NEED:
                return res[0]
            if rc == _SPACE:
                work.grow_scratch()
                continue
            return _raise(rc)
    finally:
        _give(work)
        # Release the export now: a traceback keeping it would pin the caller's memoryview, and the
        # garbage collector clearing such a cycle crashes the interpreter.
        ffi.release(cbuf)


def _c_scan_tt(buf: Buffer, pos: int, end: int, shape: int, limit: int) -> int | tuple[int, int, list[int]]:
    """Scan one Tokyo Tyrant reply in C (see ``_scan_pure.scan_tt``)."""
    limit = _check_args(buf, pos, end, limit)
    if not TT_CODE <= shape <= TT_KVLIST:
        raise ValueError(f"scan_tt: unknown shape {shape!r}")
    cbuf = ffi.from_buffer("uint8_t[]", buf)
    work = _take()
    res = work.res
    try:
        while True:
            rc = lib.kt_scan_tt(cbuf, pos, end, shape, limit, res, work.scratch, work.scratch_cap)
            if rc == _OK:
                n = res[2]
                if not n:
                    return (res[0], res[1], [])
                values = ffi.unpack(work.scratch, n)
                if shape == TT_U64 and values[0] < 0:
                    values[0] += 1 << 64
                return (res[0], res[1], values)
            if rc == _NEED:
                return res[0]
            if rc == _SPACE:
                work.grow_scratch()
                continue
            return _raise(rc)
    finally:
        _give(work)
        # Release the export now: a traceback keeping it would pin the caller's memoryview, and the
        # garbage collector clearing such a cycle crashes the interpreter.
        ffi.release(cbuf)


SMALL_FRAME = 160  # bytes: below this the FFI crossing costs more than the scan (see the module doc)

_pure_scan_ktb = _scan_pure.scan_ktb
_pure_scan_tt = _scan_pure.scan_tt
_pure_decode_tsv = _scan_pure.decode_tsv
_FIXED_KTB = frozenset((KTB_SET_BULK, KTB_REMOVE_BULK))


def scan_ktb(buf: Buffer, pos: int, end: int, magic: int, limit: int) -> int | tuple[int, int, int, list[int]]:
    """Scan one Kyoto Tycoon binary reply (see ``_scan_pure.scan_ktb``; tiny frames: see the module doc)."""
    if magic in _FIXED_KTB or end - pos < SMALL_FRAME:
        return _pure_scan_ktb(buf, pos, end, magic, limit)
    return _c_scan_ktb(buf, pos, end, magic, limit)


def scan_tt(buf: Buffer, pos: int, end: int, shape: int, limit: int) -> int | tuple[int, int, list[int]]:
    """Scan one Tokyo Tyrant reply (see ``_scan_pure.scan_tt``; fixed-size shapes and tiny frames: the module doc)."""
    if shape <= TT_DATA or end - pos < SMALL_FRAME:
        return _pure_scan_tt(buf, pos, end, shape, limit)
    return _c_scan_tt(buf, pos, end, shape, limit)


def decode_tsv(buf: Buffer, off: int, length: int, colenc: int) -> list[tuple[bytes, bytes]]:
    """Split and decode a TSV body (see ``_scan_pure.decode_tsv``; colenc 0 is split by CPython, see the module doc)."""
    if colenc == 0:
        return _pure_decode_tsv(buf, off, length, colenc)
    return _c_decode_tsv(buf, off, length, colenc)


#: Records per struct format in split_records: bounds the format buffer (about 100 KiB) and the Struct
#: built from it, so a frame of any size is cut in steps of at most this many records.
_SPLIT_RECORDS = 4096
_FMT_CAP = 1 + _SPLIT_RECORDS * 26  # KT_SPLIT_FMT_PER_RECORD
_pure_split_records = _scan_pure.split_records
_check_split_args = _scan_pure._check_split_args
#: The last format and its compiled Struct: replies of one shape (same key and value sizes) repeat it.
_last_struct: tuple[bytes, Struct] = (b"", Struct(""))


def _c_split_records(
    buf: Buffer, pos: int, end: int, layout: int, count: int, stop: int
) -> tuple[int, list[bytes], list[bytes], int]:
    """:func:`split_records` in C: the C side walks the records and writes a struct format; CPython's
    ``struct`` then builds every key and value ``bytes`` in one call (no offset list, no per-field
    slicing in Python)."""
    global _last_struct
    stop = _check_split_args(buf, pos, end, layout, count, stop)
    keys: list[bytes] = []
    values: list[bytes] = []
    if not count:
        return (pos, keys, values, 0)
    cbuf = ffi.from_buffer("uint8_t[]", buf)
    work = _take()
    res = work.res
    try:
        fmt = work.fmt
        if fmt is None:
            fmt = work.fmt = ffi.new("char[]", _FMT_CAP)
        while True:
            rc = lib.kt_split_records(cbuf, pos, end, layout, count, stop, fmt, _FMT_CAP, res)
            if rc != _OK:
                return _raise(rc)
            n = res[1]
            if n:
                f = ffi.unpack(fmt, res[2])
                last = _last_struct
                if last[0] == f:
                    st = last[1]
                else:
                    st = Struct(f)
                    _last_struct = (f, st)
                t = st.unpack_from(buf, pos)
                if keys:
                    keys += t[0::2]
                    values += t[1::2]
                else:
                    keys = list(t[0::2])
                    values = list(t[1::2])
                pos = res[0]
                count -= n
            need = res[3]
            if need or not count:
                return (pos, keys, values, need)
    finally:
        _give(work)
        ffi.release(cbuf)


def split_records(
    buf: Buffer, pos: int, end: int, layout: int, count: int, stop: int
) -> tuple[int, list[bytes], list[bytes], int]:
    """Cut the keys and values of up to ``count`` whole records (see ``_scan_pure.split_records``;
    tiny windows: the module doc)."""
    if end - pos < SMALL_FRAME:
        return _pure_split_records(buf, pos, end, layout, count, stop)
    return _c_split_records(buf, pos, end, layout, count, stop)


def scan_http(buf: Buffer, pos: int, end: int, limit: int) -> int | tuple[int, int, int, int, int, bool]:
    """Scan one HTTP/1.x reply (see ``_scan_pure.scan_http``)."""
    limit = _check_args(buf, pos, end, limit)
    work = _take()
    res = work.res
    try:
        rc = lib.kt_scan_http(ffi.from_buffer("uint8_t[]", buf), pos, end, limit, res)
        if rc == _OK:
            return (res[0], res[1], res[2], res[3], res[4], bool(res[5]))
        if rc == _NEED:
            return res[0]
        return _raise(rc)
    finally:
        _give(work)


def _c_decode_tsv(buf: Buffer, off: int, length: int, colenc: int) -> list[tuple[bytes, bytes]]:
    """Split and decode a TSV body in C (see ``_scan_pure.decode_tsv``)."""
    if off < 0 or length < 0 or off + length > len(buf):
        raise ValueError(f"decode_tsv window out of range: off={off} length={length} len={len(buf)}")
    if colenc not in (0, 66, 85, 81):
        raise ValueError(f"decode_tsv: unknown colenc {colenc!r}")
    if length == 0:
        return []
    work = _take()
    try:
        if colenc and work.out_cap < length:
            work.out_cap = max(length, 2 * work.out_cap)
            work.out = ffi.new("uint8_t[]", work.out_cap)
        res = work.res
        cbuf = ffi.from_buffer("uint8_t[]", buf)
        try:
            while True:
                rc = lib.kt_decode_tsv(cbuf + off, length, colenc, work.out, work.scratch, work.scratch_cap, res)
                if rc == _OK:
                    break
                if rc == _SPACE:
                    work.grow_scratch()
                    continue
                return _raise(rc)
        finally:
            ffi.release(cbuf)
        spans = ffi.unpack(work.scratch, 4 * res[0])
        # One copy of the (decoded) body, then one slice per field.
        data = ffi.buffer(work.out, res[1])[:] if colenc else memoryview(buf)[off : off + length].tobytes()
    finally:
        _give(work)
    return [(data[spans[i] : spans[i] + spans[i + 1]], data[spans[i + 2] : spans[i + 2] + spans[i + 3]])
            for i in range(0, len(spans), 4)]
