"""Kyoto Tycoon HTTP TSV-RPC: every message, both directions (docs/codec.md, layer 2).

A call is ``POST /rpc/<procedure>`` with a TSV body (one ``key<TAB>value`` line per parameter);
the reply is a TSV body whose records the server sorts by key. ``Content-Type:
text/tab-separated-values; colenc=X`` says every column is encoded: ``B`` base64, ``U`` URL
(%xx), ``Q`` quoted-printable. Keys and values are ``bytes`` throughout.

Client side:

- ``encode_rpc(procedure, params, host="127.0.0.1") -> bytes``: the whole request. ``procedure``
  is a ``str`` (e.g. ``"set"``, ``"play_script"``); ``params`` a list of ``(key, value)`` pairs
  (order kept) or a dict; ``str`` items are sent UTF-8 encoded. The body is raw TSV unless some
  key or value holds a byte < 0x20 or 0x7F (TAB, LF, CR, NUL...), then ``colenc=B`` with every
  column base64, so any byte string survives.
- ``read_rpc(buf, pos, end, limit) -> int | (next_pos, RpcResult)``: the codec.md reader.
  ``RpcResult``: ``status`` (int), ``records`` (list of ``(key, value)`` in wire order),
  ``close`` (the server will close the connection), ``colenc`` (0 or ``ord("B"/"U"/"Q")``);
  ``.params()`` -> dict, ``.get(key, default)``, ``.error()`` -> the ``KyotoServerError`` for a
  non-200 status (message = the ``ERROR`` record) or ``None``, ``.raise_for_error()``.

Server side (the stand-in server):

- ``parse_request(buf, pos, end, limit) -> int | (next_pos, HttpRequest)``: one HTTP request
  (request line, headers, ``Content-Length`` body). ``HttpRequest``: ``method``, ``target``,
  ``path``, ``query`` (bytes, ``b""`` if none), ``version`` (``"HTTP/1.1"``...), ``headers``
  (dict, lower-case names, str values), ``body`` (bytes), ``procedure`` (the URL-decoded name
  after ``/rpc/``, or ``None`` for another path), ``records`` (list of ``(key, value)``: the
  query string's parameters, then the body's, decoded like the real server: form-urlencoded, or
  TSV with the request's colenc; as there, a CR before LF is dropped and a line without a TAB
  ignored), ``close`` (HTTP/1.0 without keep-alive, or ``Connection:
  close``); ``.params()`` -> dict with the server's last-wins semantics.
- ``encode_reply(status, records, close=False, date=None) -> bytes``: the reply exactly as
  KT 0.9.56 sends it: status line and reason, ``Server``, ``Date``, ``Connection: close`` only
  when ``close``, ``Content-Length``, ``Content-Type`` with the server's colenc choice
  (``choose_colenc``). ``records`` (pairs or dict) may come in any order: the encoder does what
  the server's ``std::map`` does — last duplicate wins, sorted by (encoded) key bytes.
- ``choose_colenc(records) -> int``: 0, ``ord("B")`` or ``ord("U")`` as the server picks it.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from email.utils import formatdate
from typing import Any, Union
from urllib.parse import unquote_to_bytes

from ..errors import (
    InvalidArgumentError,
    InvalidTypeError,
    KyotoServerError,
    ProtocolError,
    kyoto_error_for_status,
)
from ._scan import decode_tsv, scan_http

__all__ = [
    "SERVER_NAME",
    "REASONS",
    "RpcResult",
    "HttpRequest",
    "encode_rpc",
    "read_rpc",
    "parse_request",
    "encode_reply",
    "choose_colenc",
    "url_encode",
    "url_decode",
    "parse_form",
]

SERVER_NAME = b"KyotoTycoon/0.9.56b"
TSV_TYPE = "text/tab-separated-values"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_HEADER = 65536

REASONS: dict[int, bytes] = {
    200: b"OK",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    450: b"Logical Inconsistency",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    503: b"Service Unavailable",
}

Params = Union[Mapping[Any, Any], Iterable[Any]]

# Bytes that make a TSV column unsafe raw, besides the TAB and LF the framing itself uses.
_CTRL_NO_TAB_LF = re.compile(b"[\x00-\x08\x0b-\x1f\x7f]")
_CTRL = re.compile(b"[\x00-\x1f\x7f]")
_PROC_SAFE = re.compile(r"[A-Za-z0-9_\-.]+\Z")
_B64 = binascii.b2a_base64

# kc::urlencode keeps these bytes and writes the others as lower-case %xx.
_URL_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.!~*'()"
_URL_TABLE = [bytes([c]) if c in _URL_SAFE else b"%%%02x" % c for c in range(256)]


def url_encode(data: bytes) -> bytes:
    """URL-encode like Kyoto Cabinet's ``urlencode`` (lower-case hex, ``_-.!~*'()`` kept)."""
    return b"".join([_URL_TABLE[c] for c in data])


def url_decode(data: bytes) -> bytes:
    """URL-decode (``%XX``, ``+`` is a space); a malformed ``%`` sequence is kept as is."""
    if b"+" in data:
        data = data.replace(b"+", b" ")
    return unquote_to_bytes(data) if b"%" in data else bytes(data)


def _to_bytes(item: Any) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, str):
        return item.encode("utf-8")
    raise InvalidTypeError(f"RPC keys and values must be bytes or str, not {type(item).__name__}")


# ----------------------------------------------------------------------------- client side


#: (procedure, host) -> the request heads up to the Content-Length value, raw TSV and colenc=B. Few
#: procedures and hosts occur in practice; the bound only guards against unbounded distinct names.
_HEADS: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_HEADS_MAX = 512


def _request_heads(procedure: str, host: str) -> tuple[bytes, bytes]:
    if not isinstance(procedure, str):
        raise InvalidTypeError(f"procedure must be a str, not {type(procedure).__name__}")
    if _PROC_SAFE.match(procedure):
        proc = procedure.encode("ascii")
    elif procedure:
        proc = url_encode(procedure.encode("utf-8"))
    else:
        raise InvalidArgumentError("procedure must not be empty")
    base = b"".join((
        b"POST /rpc/",
        proc,
        b" HTTP/1.1\r\nHost: ",
        host.encode("idna") if not host.isascii() else host.encode("ascii"),
        b"\r\nContent-Type: ",
    ))
    heads = (base + b"text/tab-separated-values\r\nContent-Length: ",
             base + b"text/tab-separated-values; colenc=B\r\nContent-Length: ")
    if type(procedure) is str and type(host) is str:
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[(procedure, host)] = heads
    return heads


def encode_rpc(procedure: str, params: Params = (), host: str = "127.0.0.1") -> bytes:
    """The request for ``POST /rpc/<procedure>`` with ``params`` (pairs, order kept, or a dict)."""
    heads = _HEADS.get((procedure, host)) if type(procedure) is str and type(host) is str else None
    if heads is None:
        heads = _request_heads(procedure, host)
    if type(params) is tuple or type(params) is list:
        items = params
    else:
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
    n = len(items)
    try:
        # Fast path: raw TSV in one join; checked after the fact (C-speed scans) for any byte
        # that would need encoding, including a TAB or LF inside a column.
        body = b"\n".join([*map(b"\t".join, items), b""])
        raw = body.count(b"\t") == n and body.count(b"\n") == n and _CTRL_NO_TAB_LF.search(body) is None
    except TypeError:
        items = [(_to_bytes(k), _to_bytes(v)) for k, v in _pairs(items)]
        body = b"\n".join([*map(b"\t".join, items), b""])
        raw = body.count(b"\t") == n and body.count(b"\n") == n and _CTRL_NO_TAB_LF.search(body) is None
    if raw:
        return b"".join((heads[0], b"%d" % len(body), b"\r\n\r\n", body))
    parts: list[bytes] = []
    append = parts.append
    for k, v in _pairs(items):
        append(_B64(k, newline=False))
        append(b"\t")
        append(_B64(v, newline=False))
        append(b"\n")
    body = b"".join(parts)
    return b"".join((heads[1], b"%d" % len(body), b"\r\n\r\n", body))


def _pairs(items: Sequence[Any]) -> Sequence[Any]:
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidArgumentError(f"RPC params must be (key, value) pairs, got {item!r}")
    return items


class RpcResult:
    """A decoded RPC reply (see the module doc)."""

    __slots__ = ("close", "colenc", "records", "status")

    def __init__(self, status: int, records: list[tuple[bytes, bytes]], close: bool, colenc: int) -> None:
        self.status = status
        self.records = records
        self.close = close
        self.colenc = colenc

    def params(self) -> dict[bytes, bytes]:
        return dict(self.records)

    def get(self, key: bytes, default: Any = None) -> Any:
        for k, v in self.records:
            if k == key:
                return v
        return default

    def error(self) -> KyotoServerError | None:
        """The exception for a non-200 reply (not raised), or None."""
        if self.status == 200:
            return None
        msg = self.get(b"ERROR")
        message = msg.decode("utf-8", "replace") if msg is not None else f"HTTP status {self.status}"
        return kyoto_error_for_status(self.status, message)

    def raise_for_error(self) -> RpcResult:
        err = self.error()
        if err is not None:
            raise err
        return self

    def __repr__(self) -> str:
        return f"RpcResult(status={self.status}, records={self.records!r}, close={self.close})"


#: Header blocks already scanned, and what the scanner found in them: ``(status, body length, colenc, close)``.
#: ktserver's replies differ only in Date and Content-Length, so within a second one kind of reply repeats
#: its header block byte for byte, and a repeated block needs no scan (read_rpc).
_SEEN_HEADS: dict[bytes, tuple[int, int, int, bool]] = {}
_SEEN_MAX = 64
_SMALL_REPLY = 4096


def read_rpc(buf: Any, pos: int, end: int, limit: int) -> int | tuple[int, RpcResult]:
    """The reply reader: ``need`` (int > end) or ``(next_pos, RpcResult)``.

    A small reply whose header block is one the scanner has already read is answered from what it found
    then (the same bytes give the same answer; the limit is checked as the scanner would); anything else
    is scanned.
    """
    if 0 <= pos <= end <= len(buf) and end - pos <= _SMALL_REPLY:
        data = buf[pos:end] if type(buf) is bytes else bytes(buf[pos:end])
        h = data.find(b"\r\n\r\n")
        known = _SEEN_HEADS.get(data[:h]) if h > 0 else None
        if known is not None:
            status, blen, colenc, close = known
            boff = h + 4
            nxt = boff + blen
            if nxt <= limit:
                if nxt > end - pos:
                    return pos + nxt
                return pos + nxt, RpcResult(status, decode_tsv(data, boff, blen, colenc) if blen else [], close, colenc)
    r = scan_http(buf, pos, end, limit)
    if isinstance(r, int):
        return r
    next_pos, status, boff, blen, colenc, close = r
    if next_pos - pos <= _SMALL_REPLY:
        if len(_SEEN_HEADS) >= _SEEN_MAX:
            _SEEN_HEADS.clear()
        _SEEN_HEADS[bytes(buf[pos : boff - 4])] = (status, blen, colenc, close)
    return next_pos, RpcResult(status, decode_tsv(buf, boff, blen, colenc) if blen else [], close, colenc)


# ----------------------------------------------------------------------------- server side


class HttpRequest:
    """A decoded HTTP request (see the module doc)."""

    __slots__ = ("body", "close", "headers", "method", "path", "procedure", "query", "records", "target", "version")

    def __init__(
        self,
        method: str,
        target: str,
        path: str,
        query: bytes,
        version: str,
        headers: dict[str, str],
        body: bytes,
        procedure: str | None,
        records: list[tuple[bytes, bytes]],
        close: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.procedure = procedure
        self.records = records
        self.close = close

    def params(self) -> dict[bytes, bytes]:
        return dict(self.records)

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.target} {self.version}, records={self.records!r})"


def parse_form(data: bytes) -> list[tuple[bytes, bytes]]:
    """application/x-www-form-urlencoded as the server reads it (``&`` or ``;`` separated)."""
    out = []
    for field in re.split(b"[&;]", data):
        field = field.lstrip(
            b"\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
            b"\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
        )
        if not field:
            continue
        k, _, v = field.partition(b"=")
        out.append((url_decode(k), url_decode(v)))
    return out


def _colenc_of(ctype: str) -> int:
    # The server scans the attributes after the media type for colenc=X (case-insensitive).
    for attr in re.split(r"[ ;]+", ctype[len(TSV_TYPE) :]):
        if attr[:7].lower() == "colenc=":
            c = attr[7:8] if attr[7:8] != '"' else attr[8:9]
            if c.upper() in ("B", "Q", "U"):
                return ord(c.upper())
    return 0


def parse_request(buf: Any, pos: int, end: int, limit: int) -> int | tuple[int, HttpRequest]:
    """Decode one HTTP request at ``pos``: ``need`` (int > end) or ``(next_pos, HttpRequest)``.

    Raises ``ProtocolError`` on a malformed request line or header, a bad or missing
    ``Content-Length`` on a body, chunked bodies, headers over 64 KiB or a frame over ``limit``.
    """
    mv = memoryview(buf)
    head_stop = min(end, pos + MAX_HEADER + 4, pos + limit)
    hend = bytes(mv[pos:head_stop]).find(b"\r\n\r\n")
    if hend < 0:
        if head_stop < end or end - pos >= MAX_HEADER + 4 or end - pos >= limit:
            raise ProtocolError("HTTP request headers too large")
        return end + 1
    head = bytes(mv[pos : pos + hend])
    body_off = pos + hend + 4
    try:
        text = head.decode("latin-1")
        lines = text.split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise ProtocolError(f"malformed HTTP request line: {head[:80]!r}") from None
    if not version.startswith("HTTP/1.") or not method or not target:
        raise ProtocolError(f"malformed HTTP request line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"malformed HTTP header: {line[:80]!r}")
        headers[name.lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ProtocolError("chunked HTTP request bodies are not supported")
    clen_text = headers.get("content-length")
    if clen_text is None:
        clen = 0
    else:
        if not (clen_text.isascii() and clen_text.isdigit()):  # str.isdigit() also takes "¹²³" (latin-1)
            raise ProtocolError(f"bad Content-Length: {clen_text!r}")
        clen = int(clen_text)
    next_pos = body_off + clen
    if next_pos - pos > limit:
        raise ProtocolError(f"HTTP request of {next_pos - pos} bytes over the limit")
    if next_pos > end:
        return next_pos
    body = bytes(mv[body_off:next_pos])
    conn = headers.get("connection", "").lower()
    close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
    path, _, query_text = target.partition("?")
    query = query_text.encode("latin-1")
    procedure = None
    if path.startswith("/rpc/"):
        procedure = url_decode(path[5:].encode("latin-1")).decode("utf-8", "replace")
    records = parse_form(query) if query else []
    ctype = headers.get("content-type", "")
    if body:
        low = ctype.lower()
        if low.startswith(FORM_TYPE):
            records += parse_form(body)
        elif low.startswith(TSV_TYPE):
            tsv = body
            if b"\r" in tsv or tsv.count(b"\t") < tsv.count(b"\n") + (not tsv.endswith(b"\n")):
                # Like the server's tsvtomap: a CR before LF is dropped, a line without a TAB ignored.
                tsv_lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in tsv.split(b"\n")]
                tsv = b"".join([ln + b"\n" for ln in tsv_lines if b"\t" in ln])
            records += decode_tsv(tsv, 0, len(tsv), _colenc_of(ctype))
    return next_pos, HttpRequest(method, target, path, query, version, headers, body, procedure, records, close)


def _field_cost(data: bytes) -> tuple[bool, int, int]:
    size = len(data)
    over = size > 255
    if over:
        data = data[:255]
        size = 255
    # Only the first 255 bytes are looked at, exactly like the server's checkmapenc.
    unsafe = len(data.translate(None, _URL_SAFE))
    return over or _CTRL.search(data) is not None, size * 6 // 4 + 3, size + 2 * unsafe


def choose_colenc(records: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]]) -> int:
    """The colenc the server picks for a reply: 0, or ``ord("B")``/``ord("U")`` whichever is shorter."""
    items = records.items() if isinstance(records, Mapping) else records
    binary = False
    blen = ulen = 0
    for k, v in items:
        for f in (k, v):
            b, bl, ul = _field_cost(f)
            binary = binary or b
            blen += bl
            ulen += ul
    if not binary:
        return 0
    return ord("B") if blen < ulen else ord("U")


def encode_reply(
    status: int,
    records: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]] = (),
    close: bool = False,
    date: str | None = None,
) -> bytes:
    """A TSV-RPC reply byte-for-byte as KT 0.9.56 sends it (``date`` defaults to now)."""
    mapping = dict(records.items() if isinstance(records, Mapping) else records)
    enc = choose_colenc(mapping)
    if enc == 0:
        items = sorted(mapping.items())
        ctype = b"text/tab-separated-values"
    elif enc == ord("B"):
        items = sorted((_B64(k, newline=False), _B64(v, newline=False)) for k, v in mapping.items())
        ctype = b"text/tab-separated-values; colenc=B"
    else:
        items = sorted((url_encode(k), url_encode(v)) for k, v in mapping.items())
        ctype = b"text/tab-separated-values; colenc=U"
    # After encoding the server's map is re-keyed, so its order is that of the encoded keys.
    body = b"\n".join([*map(b"\t".join, items), b""])
    reason = REASONS.get(status, b"Unknown Status")
    if date is None:
        date = formatdate(usegmt=True)
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\n" % (status, reason, SERVER_NAME, date.encode("ascii")),
            b"Connection: close\r\n" if close else b"",
            b"Content-Length: %d\r\nContent-Type: %s\r\n\r\n" % (len(body), ctype),
            body,
        )
    )
