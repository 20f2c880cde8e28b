"""Record formats of ``kt dump`` / ``kt load``: JSON Lines and TSV, one record a line.

Both carry bytes exactly. A key or value that is UTF-8 is written as text; anything else as
base64, marked so that reading never has to guess:

- JSON Lines: ``{"key": "k", "value": "v"}``; a field that is not UTF-8 is ``key_b64`` /
  ``value_b64`` instead (standard base64).
- TSV: ``key<TAB>value``. Text escapes ``\\\\``, ``\\t``, ``\\n`` and ``\\r`` so a record is one
  line; a field that is not UTF-8 is ``\\B`` followed by its base64. The escaping never writes a
  lone backslash before ``B``, so the two cannot be confused.

Lines are read and written one at a time: memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import IO, Any, Callable

FORMATS = ("jsonl", "tsv")

_TSV_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_TSV_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_TSV_SPECIAL = frozenset(_TSV_ESCAPES)


class FormatError(ValueError):
    """A line of a dump that cannot be read; the message names the line."""


def text_or_none(data: bytes) -> str | None:
    """``data`` as text when it is UTF-8, else None (then it goes out as base64)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def json_field(name: str, data: bytes, into: dict[str, Any]) -> dict[str, Any]:
    """Add ``name`` (text) or ``name_b64`` (bytes that are not UTF-8) to ``into``."""
    text = text_or_none(data)
    if text is None:
        into[name + "_b64"] = b64(data)
    else:
        into[name] = text
    return into


def tsv_field(data: bytes) -> str:
    """One TSV field: escaped text, or ``\\B`` + base64 for bytes that are not UTF-8."""
    text = text_or_none(data)
    if text is None:
        return "\\B" + b64(data)
    if _TSV_SPECIAL.isdisjoint(text):
        return text
    return "".join(_TSV_ESCAPES.get(ch, ch) for ch in text)


def tsv_unfield(field: str, where: str) -> bytes:
    if field.startswith("\\B"):
        try:
            return base64.b64decode(field[2:], validate=True)
        except binascii.Error:
            raise FormatError(f"{where}: bad base64 after \\B") from None
    if "\\" not in field:
        return field.encode("utf-8")
    out = []
    chars = iter(field)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            if nxt not in _TSV_UNESCAPES:
                raise FormatError(f"{where}: unknown escape \\{nxt}")
            out.append(_TSV_UNESCAPES[nxt])
        else:
            out.append(ch)
    return "".join(out).encode("utf-8")


def encode_jsonl(key: bytes, value: bytes) -> bytes:
    record = json_field("value", value, json_field("key", key, {}))
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def encode_tsv(key: bytes, value: bytes) -> bytes:
    return f"{tsv_field(key)}\t{tsv_field(value)}\n".encode()


def _json_bytes(record: dict[str, Any], name: str, where: str) -> bytes:
    if name in record:
        text = record[name]
        if not isinstance(text, str):
            raise FormatError(f"{where}: {name} must be a string")
        return _utf8(text, where)
    packed = record.get(name + "_b64")
    if not isinstance(packed, str):
        raise FormatError(f"{where}: no {name} (or {name}_b64) string")
    try:
        return base64.b64decode(packed, validate=True)
    except binascii.Error:
        raise FormatError(f"{where}: bad base64 in {name}_b64") from None


def _utf8(text: str, where: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON may spell a lone surrogate (\\ud800), which is no UTF-8 text: bytes go as *_b64.
        raise FormatError(f"{where}: a lone surrogate in a string (write bytes as *_b64)") from None


def decode_jsonl(line: bytes, where: str) -> tuple[bytes, bytes]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise FormatError(f"{where}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise FormatError(f"{where}: not a JSON object")
    return _json_bytes(record, "key", where), _json_bytes(record, "value", where)


def decode_tsv(line: bytes, where: str) -> tuple[bytes, bytes]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{where}: not UTF-8 (bytes that are not text are written as \\B + base64)") from None
    text = text.rstrip("\r\n")  # a record's own CR and LF are escaped: these end the line
    fields = text.split("\t")
    if len(fields) != 2:
        raise FormatError(f"{where}: expected 2 tab-separated fields, found {len(fields)}")
    return tsv_unfield(fields[0], where), tsv_unfield(fields[1], where)


ENCODERS: dict[str, Callable[[bytes, bytes], bytes]] = {"jsonl": encode_jsonl, "tsv": encode_tsv}
DECODERS: dict[str, Callable[[bytes, str], tuple[bytes, bytes]]] = {"jsonl": decode_jsonl, "tsv": decode_tsv}


def guess_format(path: str | None) -> str:
    """The format a file name suggests: ``.tsv``/``.tab`` is TSV, anything else (and stdin) JSON Lines."""
    if path and path != "-" and path.lower().endswith((".tsv", ".tab")):
        return "tsv"
    return "jsonl"


def read_records(stream: IO[bytes], fmt: str, name: str) -> Iterator[tuple[bytes, bytes, int]]:
    """``(key, value, bytes read)`` for each record line of ``stream``; blank lines are skipped (their
    bytes count with the next record's, for the progress bar)."""
    decode = DECODERS[fmt]
    skipped = 0
    for number, line in enumerate(stream, 1):
        # Only an empty line is blank in TSV: "\t" alone is the record with an empty key and value.
        if not line.rstrip(b"\r\n") or (fmt == "jsonl" and not line.strip()):
            skipped += len(line)
            continue
        key, value = decode(line, f"{name}:{number}")
        yield key, value, len(line) + skipped
        skipped = 0
