"""Ext functions kt's client tests call on the Tokyo Tyrant stand-in (``-ext tt_test.py``).

tt_test.lua defines the same functions for the real ttserver; a test checks both files define the
same names. Each takes ``(key: bytes, value: bytes, db)`` (``db`` has the Lua ``_get``/``_put``...
as methods) and returns ``bytes``, or ``None`` for a failure (code 1).
"""

from __future__ import annotations

import re
from typing import Any, Optional

_INTEGER = re.compile(rb"-?[0-9]+")  # Lua's "^%-?%d+$"


def pair(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """``key=value``, so a test sees both arguments arrive, byte for byte."""
    return key + b"=" + value


def lines(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """A fixed multi-line answer with a TAB and an empty line, and no LF at the end."""
    return b"first\nsecond\tcolumn\n\nlast"


def rawbytes(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """A fixed answer a text decoder would mangle: NUL, 0xFF, 0xFE, CR and LF."""
    return b"\xff\x00\xfe\x00\x01\r\n"


def getset(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """Store value under key; answer the value it replaced (empty if there was none)."""
    previous = db.get(key)
    db.put(key, value)
    return previous or b""


def add(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """Add the integer value to the integer stored under key (0 if none); store and answer the total.

    None when either is not an integer. A read-modify-write: without a lock, concurrent calls lose updates.
    """
    stored = db.get(key) or b"0"
    if not _INTEGER.fullmatch(value) or not _INTEGER.fullmatch(stored):
        return None
    total = str(int(stored) + int(value)).encode()
    db.put(key, total)
    return total


def reject(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """Always fails (None)."""
    return None
