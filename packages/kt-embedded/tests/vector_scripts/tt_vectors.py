"""Test data: testdata/vectors/tt-vectors.lua in Python, for replaying the recorded TT vectors.

The recorded vectors ran ttserver with ``-ext tt-vectors.lua``; the stand-in runs Python ext
functions, so this file mirrors that Lua file function for function (same names, same results).
It is loaded by path (``-ext``/``scripts=``), never imported, and only the vector replay tests use
it; kt's own tests use kt_embedded/scripts/tt_test.py.
"""

from __future__ import annotations

from typing import Any, Optional


def echo(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    return key + b"\t" + value


def records(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    return b"alpha\t1\nbeta\ttwo\ngamma\tthree\n"


def binary(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    return b"\0\xff\x01\n\t"


def swap(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    old = db.get(key)
    db.put(key, value)
    return old or b""


def fail(key: bytes, value: bytes, db: Any) -> Optional[bytes]:
    return None
