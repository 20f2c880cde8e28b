"""Functions the kt 0.9.6 sample program calls through ``tt.lua`` on kt's Tokyo Tyrant stand-in
(``-ext tt_example.py``); tt_example.lua defines the same functions for the real ttserver."""

from __future__ import annotations

from typing import Any, Optional


def greet(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """``hello, <key>``."""
    return b"hello, " + key


def swap(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """Store ``value`` under ``key``; the value it replaced (empty if there was none)."""
    previous = db.get(key)
    db.put(key, value)
    return previous if previous is not None else b""
