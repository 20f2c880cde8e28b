"""The functions of testdata/vectors/tt-vectors.lua as Python ext callables for the stand-in."""

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
