"""Pure-Python scanners: the twin of the C codec (see docs/codec.md, "Scanner API").

Scanners look at ``buf[pos:end]`` and return either an ``int`` ``need`` > ``end`` (incomplete)
or a tuple whose first item is the position just after the frame. They never copy payload
bytes, except :func:`decode_tsv`, which has to decode.

Rules shared with the C version (``kt_core.codec._scan_c``), so both raise the same exception class
for the same input:

- ``0 <= pos <= end <= len(buf)`` and ``limit >= 0``, else ``ValueError`` (a caller bug).
  ``limit`` above 2**62 is treated as 2**62.
- Every position the frame must reach (a ``need`` about to be returned, or the end of a record
  whose lengths were just read) is checked: beyond ``pos + limit`` is ResponseTooLargeError.
- A record/element count is checked as soon as it is read: KT binary over ``limit // 10``,
  TT lists over ``limit // 4`` (elements) and ``limit // 8`` (key/value pairs) is
  ResponseTooLargeError.
"""

from __future__ import annotations

import binascii
import struct
from typing import Union

from ..errors import ProtocolError, ResponseTooLargeError

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

Buffer = Union[bytes, bytearray, memoryview]

TT_CODE = 0
TT_DATA = 1
TT_I32 = 2
TT_U64 = 3
TT_DOUBLE = 4
TT_LIST = 5
TT_KVLIST = 6

KTB_SET_BULK = 0xB8
KTB_REMOVE_BULK = 0xB9
KTB_GET_BULK = 0xBA
KTB_PLAY_SCRIPT = 0xB4
KTB_ERROR = 0xBF

#: The largest HTTP header block (status line through the blank line) a reply may have.
HTTP_MAX_HEADER = 65536

#: Record layouts for :func:`split_records`.
REC_GET_BULK = 0  # dbidx u16, ksiz u32, vsiz u32, xt i64, key, value (KT get_bulk reply)
REC_KV = 1  # ksiz u32, vsiz u32, key, value (KT play_script reply, TT key/value lists)

_MAX_LIMIT = 1 << 62
_SATURATED = _MAX_LIMIT + 1  # Content-Length values above _MAX_LIMIT all compare as this

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_I64X2 = struct.Struct(">qq")
_U32X2 = struct.Struct(">II")
_GETBULK_REC = struct.Struct(">HIIq")  # dbidx, ksiz, vsiz, xt
_KTB_MAGICS = (KTB_SET_BULK, KTB_REMOVE_BULK, KTB_GET_BULK, KTB_PLAY_SCRIPT)


def _check_args(buf: Buffer, pos: int, end: int, limit: int) -> int:
    if not 0 <= pos <= end <= len(buf):
        raise ValueError(f"scanner window out of range: pos={pos} end={end} len={len(buf)}")
    if limit < 0:
        raise ValueError("limit must be >= 0")
    return limit if limit < _MAX_LIMIT else _MAX_LIMIT


def _too_large(size: int, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(f"response frame of at least {size} bytes exceeds the limit of {limit} bytes")


# --------------------------------------------------------------------------- KT binary


def scan_ktb(buf: Buffer, pos: int, end: int, magic: int, limit: int) -> int | tuple[int, int, int, list[int]]:
    """Scan one Kyoto Tycoon binary reply expected to carry ``magic`` (0xB8, 0xB9, 0xBA or 0xB4).

    Complete: ``(next_pos, rmagic, count, fields)``; 0xBF (server error) gives ``(pos + 1, 0xBF, 0, [])``.
    """
    limit = _check_args(buf, pos, end, limit)
    if magic not in _KTB_MAGICS:
        raise ValueError(f"scan_ktb: not a reply magic: {magic!r}")
    if end <= pos:
        if 1 > limit:
            raise _too_large(1, limit)
        return pos + 1
    rmagic = buf[pos]
    if rmagic == KTB_ERROR:
        if 1 > limit:
            raise _too_large(1, limit)
        return (pos + 1, KTB_ERROR, 0, [])
    if rmagic != magic:
        raise ProtocolError(f"unexpected Kyoto Tycoon binary reply magic 0x{rmagic:02x} (expected 0x{magic:02x})")
    p = pos + 5
    if p - pos > limit:
        raise _too_large(p - pos, limit)
    if end < p:
        return p
    (count,) = _U32.unpack_from(buf, pos + 1)
    if magic == KTB_SET_BULK or magic == KTB_REMOVE_BULK:
        return (p, magic, count, [])
    if count > limit // 10:
        raise ResponseTooLargeError(f"record count {count} exceeds what the limit of {limit} bytes allows")
    fields: list[int] = []
    stop = pos + limit
    if magic == KTB_GET_BULK:
        unpack = _GETBULK_REC.unpack_from
        for _ in range(count):
            h = p + 18
            if h > stop:
                raise _too_large(h - pos, limit)
            if end < h:
                return h
            dbidx, ksiz, vsiz, xt = unpack(buf, p)
            nxt = h + ksiz + vsiz
            if nxt > stop:
                raise _too_large(nxt - pos, limit)
            if end < nxt:
                return nxt
            fields += (dbidx, xt, h, ksiz, h + ksiz, vsiz)
            p = nxt
    else:
        unpack = _U32X2.unpack_from
        for _ in range(count):
            h = p + 8
            if h > stop:
                raise _too_large(h - pos, limit)
            if end < h:
                return h
            ksiz, vsiz = unpack(buf, p)
            nxt = h + ksiz + vsiz
            if nxt > stop:
                raise _too_large(nxt - pos, limit)
            if end < nxt:
                return nxt
            fields += (h, ksiz, h + ksiz, vsiz)
            p = nxt
    return (p, magic, count, fields)


# --------------------------------------------------------------------------- TT binary


def scan_tt(buf: Buffer, pos: int, end: int, shape: int, limit: int) -> int | tuple[int, int, list[int]]:
    """Scan one Tokyo Tyrant reply of ``shape`` (TT_CODE .. TT_KVLIST). Complete: ``(next_pos, code, values)``."""
    limit = _check_args(buf, pos, end, limit)
    if not TT_CODE <= shape <= TT_KVLIST:
        raise ValueError(f"scan_tt: unknown shape {shape!r}")
    if 1 > limit:
        raise _too_large(1, limit)
    if end <= pos:
        return pos + 1
    code = buf[pos]
    if shape == TT_CODE or (code != 0 and shape < TT_LIST):
        return (pos + 1, code, [])
    stop = pos + limit
    if shape == TT_I32:
        p = pos + 5
        if p > stop:
            raise _too_large(p - pos, limit)
        if end < p:
            return p
        return (p, code, [_I32.unpack_from(buf, pos + 1)[0]])
    if shape == TT_U64:
        p = pos + 9
        if p > stop:
            raise _too_large(p - pos, limit)
        if end < p:
            return p
        return (p, code, [_U64.unpack_from(buf, pos + 1)[0]])
    if shape == TT_DOUBLE:
        p = pos + 17
        if p > stop:
            raise _too_large(p - pos, limit)
        if end < p:
            return p
        return (p, code, list(_I64X2.unpack_from(buf, pos + 1)))
    p = pos + 5
    if p > stop:
        raise _too_large(p - pos, limit)
    if end < p:
        return p
    (n,) = _U32.unpack_from(buf, pos + 1)
    if shape == TT_DATA:
        nxt = p + n
        if nxt > stop:
            raise _too_large(nxt - pos, limit)
        if end < nxt:
            return nxt
        return (nxt, code, [p, n])
    values: list[int] = []
    if shape == TT_LIST:
        if n > limit // 4:
            raise ResponseTooLargeError(f"element count {n} exceeds what the limit of {limit} bytes allows")
        unpack = _U32.unpack_from
        for _ in range(n):
            h = p + 4
            if h > stop:
                raise _too_large(h - pos, limit)
            if end < h:
                return h
            (size,) = unpack(buf, p)
            nxt = h + size
            if nxt > stop:
                raise _too_large(nxt - pos, limit)
            if end < nxt:
                return nxt
            values += (h, size)
            p = nxt
        return (p, code, values)
    # TT_KVLIST
    if n > limit // 8:
        raise ResponseTooLargeError(f"pair count {n} exceeds what the limit of {limit} bytes allows")
    unpack2 = _U32X2.unpack_from
    for _ in range(n):
        h = p + 8
        if h > stop:
            raise _too_large(h - pos, limit)
        if end < h:
            return h
        ksiz, vsiz = unpack2(buf, p)
        nxt = h + ksiz + vsiz
        if nxt > stop:
            raise _too_large(nxt - pos, limit)
        if end < nxt:
            return nxt
        values += (h, ksiz, h + ksiz, vsiz)
        p = nxt
    return (p, code, values)


# --------------------------------------------------------------------------- records


_TOO_LARGE = "response frame exceeds the configured maximum size"


def _check_split_args(buf: Buffer, pos: int, end: int, layout: int, count: int, stop: int) -> int:
    if not 0 <= pos <= end <= len(buf):
        raise ValueError(f"scanner window out of range: pos={pos} end={end} len={len(buf)}")
    if layout != REC_GET_BULK and layout != REC_KV:
        raise ValueError(f"split_records: unknown layout {layout!r}")
    if count < 0:
        raise ValueError("split_records: count must be >= 0")
    return pos if stop < pos else (stop if stop < _MAX_LIMIT else _MAX_LIMIT)


def split_records(
    buf: Buffer, pos: int, end: int, layout: int, count: int, stop: int
) -> tuple[int, list[bytes], list[bytes], int]:
    """Cut the keys and values of up to ``count`` whole records of ``layout`` from ``buf[pos:end]``.

    Returns ``(next_pos, keys, values, need)``: ``next_pos`` is just after the last whole record,
    ``need`` the absolute position the next record needs when it is incomplete (0 when ``count``
    records were cut). A record whose header or body would reach past the absolute position
    ``stop`` (the frame's limit) raises ResponseTooLargeError. The records' other fields (KT
    get_bulk's dbidx and xt) are skipped. Used for whole frames and, record by record, for frames
    still arriving (a reader can consume the records it has).
    """
    stop = _check_split_args(buf, pos, end, layout, count, stop)
    head, kat = (18, 2) if layout == REC_GET_BULK else (8, 0)
    unpack = _U32X2.unpack_from
    spans: list[int] = []
    p = pos
    need = 0
    for _ in range(count):
        h = p + head
        if h > stop:
            raise ResponseTooLargeError(_TOO_LARGE)
        if end < h:
            need = h
            break
        ksiz, vsiz = unpack(buf, p + kat)
        nxt = h + ksiz + vsiz
        if nxt > stop:
            raise ResponseTooLargeError(_TOO_LARGE)
        if end < nxt:
            need = nxt
            break
        spans += (h - pos, ksiz, vsiz)
        p = nxt
    # One copy of the records, then a bytes slice per field (cheaper than bytes(view[a:b]) per field).
    data = buf[pos:p] if type(buf) is bytes else memoryview(buf)[pos:p].tobytes()
    it = iter(spans)
    keys: list[bytes] = []
    values: list[bytes] = []
    for o, k, v in zip(it, it, it):
        keys.append(data[o : o + k])
        values.append(data[o + k : o + k + v])
    return (p, keys, values, need)


# --------------------------------------------------------------------------- KT HTTP

_HTTP_PREFIX = b"HTTP/1."
# Bytes a header name may not hold: controls, space, DEL.
_BAD_NAME_BYTES = bytes(range(0x21)) + b"\x7f"
_OWS = b" \t"


def scan_http(buf: Buffer, pos: int, end: int, limit: int) -> int | tuple[int, int, int, int, int, bool]:
    """Scan one HTTP/1.x reply. Complete: ``(next_pos, status, body_off, body_len, colenc, close)``.

    The header block (status line through ``\\r\\n\\r\\n``) may be at most HTTP_MAX_HEADER bytes; the
    body is exactly ``Content-Length`` bytes (required; any Transfer-Encoding is refused).
    """
    limit = _check_args(buf, pos, end, limit)
    avail = end - pos
    # Fail fast on a reply that is not HTTP at all rather than waiting for a blank line.
    n = 7 if avail > 7 else avail
    if bytes(buf[pos : pos + n]) != _HTTP_PREFIX[:n]:
        raise ProtocolError("reply does not start with HTTP/1.")
    window = end if avail < HTTP_MAX_HEADER else pos + HTTP_MAX_HEADER
    base: bytes | bytearray | None = None if isinstance(buf, memoryview) else buf
    if isinstance(buf, memoryview):
        # A view of a whole bytes/bytearray (what Reader passes) can be searched in place.
        obj = buf.obj
        base = obj if isinstance(obj, (bytes, bytearray)) and buf.nbytes == len(obj) and buf.contiguous else None
    if base is None:
        i = bytes(buf[pos:window]).find(b"\r\n\r\n")
        if i >= 0:
            i += pos
    else:
        i = base.find(b"\r\n\r\n", pos, window)
    if i < 0:
        if avail >= HTTP_MAX_HEADER:
            raise ProtocolError(f"HTTP header block larger than {HTTP_MAX_HEADER} bytes")
        if avail + 1 > limit:
            raise _too_large(avail + 1, limit)
        return end + 1
    body_off = i + 4
    if body_off - pos > limit:
        raise _too_large(body_off - pos, limit)
    lines = memoryview(buf)[pos:i].tobytes().split(b"\r\n")
    status_line = lines[0]
    if not (
        len(status_line) >= 12
        and status_line[7:8].isdigit()
        and status_line[8] == 0x20
        and status_line[9:12].isdigit()
        and (len(status_line) == 12 or status_line[12] == 0x20)
    ):
        raise ProtocolError(f"malformed HTTP status line {status_line[:80]!r}")
    status = int(status_line[9:12])
    http10 = status_line[7] == 0x30
    length = -1
    colenc = 0
    conn_close = False
    keep_alive = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or len(name.translate(None, _BAD_NAME_BYTES)) != len(name):
            raise ProtocolError(f"malformed HTTP header line {line[:80]!r}")
        name = name.lower()
        value = value.strip(_OWS)
        if name == b"content-length":
            if not value.isdigit():
                raise ProtocolError(f"malformed Content-Length {value[:40]!r}")
            cl = int(value) if len(value) < 20 else _SATURATED
            if cl > _MAX_LIMIT:
                cl = _SATURATED
            if length >= 0 and cl != length:
                raise ProtocolError("conflicting Content-Length headers")
            length = cl
        elif name == b"transfer-encoding":
            raise ProtocolError("Transfer-Encoding in a Kyoto Tycoon reply is not supported")
        elif name == b"connection":
            for token in value.split(b","):
                token = token.strip(_OWS).lower()
                if token == b"close":
                    conn_close = True
                elif token == b"keep-alive":
                    keep_alive = True
        elif name == b"content-type":
            for param in value.split(b";")[1:]:
                param = param.strip(_OWS)
                if param[:7].lower() == b"colenc=":
                    enc = param[7:].strip(_OWS).upper()
                    if enc not in (b"B", b"U", b"Q"):
                        raise ProtocolError(f"unknown colenc {enc[:20]!r}")
                    colenc = enc[0]
    if length < 0:
        raise ProtocolError("HTTP reply without Content-Length")
    nxt = body_off + length
    if nxt - pos > limit:
        raise _too_large(nxt - pos, limit)
    if end < nxt:
        return nxt
    return (nxt, status, body_off, length, colenc, conn_close or (http10 and not keep_alive))


# --------------------------------------------------------------------------- TSV

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_HEXDIGITS = b"0123456789abcdefABCDEF"
_HEX2: dict[bytes, bytes] = {
    bytes((a, b)): bytes((int(bytes((a, b)), 16),)) for a in _HEXDIGITS for b in _HEXDIGITS
}


def _decode_b64(s: bytes) -> bytes:
    if not s:
        return s
    data = s.rstrip(b"=")
    pads = len(s) - len(data)
    if pads > 2 or len(data) % 4 == 1 or (pads and (len(data) + pads) % 4) or data.translate(None, _B64_ALPHABET):
        raise ProtocolError(f"malformed base64 field {s[:40]!r}")
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def _decode_url(s: bytes) -> bytes:
    if b"+" in s:
        s = s.replace(b"+", b" ")
    if b"%" not in s:
        return s
    parts = s.split(b"%")
    out = [parts[0]]
    hex2 = _HEX2
    for part in parts[1:]:
        byte = hex2.get(part[:2])
        if byte is None:
            raise ProtocolError(f"malformed %-escape in URL-encoded field {s[:40]!r}")
        out.append(byte)
        out.append(part[2:])
    return b"".join(out)


def _decode_qp(s: bytes) -> bytes:
    if b"=" not in s:
        return s
    parts = s.split(b"=")
    out = [parts[0]]
    hex2 = _HEX2
    for part in parts[1:]:
        if part[:2] == b"\r\n":
            out.append(part[2:])
        elif part[:1] == b"\n":
            out.append(part[1:])
        else:
            byte = hex2.get(part[:2])
            if byte is None:
                raise ProtocolError(f"malformed =-escape in quoted-printable field {s[:40]!r}")
            out.append(byte)
            out.append(part[2:])
    return b"".join(out)


_DECODERS = {ord("B"): _decode_b64, ord("U"): _decode_url, ord("Q"): _decode_qp}


def decode_tsv(buf: Buffer, off: int, length: int, colenc: int) -> list[tuple[bytes, bytes]]:
    """Split ``buf[off:off+length]`` into TSV records and decode keys and values with ``colenc``.

    ``colenc`` is 0 (none) or ``ord("B")``, ``ord("U")``, ``ord("Q")``. A final empty line is
    ignored; a line without a tab is a key with an empty value. Malformed encoding is a
    ProtocolError.
    """
    if off < 0 or length < 0 or off + length > len(buf):
        raise ValueError(f"decode_tsv window out of range: off={off} length={length} len={len(buf)}")
    if colenc != 0 and colenc not in _DECODERS:
        raise ValueError(f"decode_tsv: unknown colenc {colenc!r}")
    lines = memoryview(buf)[off : off + length].tobytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if colenc == 0:
        records = []
        for line in lines:
            key, _, value = line.partition(b"\t")
            records.append((key, value))
        return records
    dec = _DECODERS[colenc]
    out = []
    for line in lines:
        key, _, value = line.partition(b"\t")
        out.append((dec(key), dec(value)))
    return out
