"""The project's test ext functions for the Tokyo Tyrant stand-in (same as tt_test.lua).

Each takes ``(key: bytes, value: bytes, db)`` and returns ``bytes``, or ``None`` for failure.
"""

from __future__ import annotations

from typing import Any, Optional


def echo(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """The key and the value joined by a tab."""
    return key + b"\t" + value


def records(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """Several key<TAB>value lines."""
    return b"alpha\t1\nbeta\ttwo\ngamma\tthree\n"


def binary(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """NUL, 0xFF, 0x01, LF and TAB bytes."""
    return b"\0\xff\x01\n\t"


def swap(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """Store value under key, return the previous value (empty if none)."""
    old = db.get(key)
    db.put(key, value)
    return old or b""


def incr(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """Add the decimal value to the number stored under key; return the new total as Lua prints it."""

    def num(data: Optional[bytes]) -> float:
        try:
            return float(data or b"0")
        except ValueError:
            return 0.0

    total = num(db.get(key)) + num(value)
    text = str(int(total)) if total == int(total) else repr(total)
    db.put(key, text.encode())
    return text.encode()


def fail(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    """None is failure."""
    return None
