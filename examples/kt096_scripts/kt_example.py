"""Procedures the kt 0.9.6 sample program calls through ``client.lua`` on kt's Kyoto Tycoon stand-in
(``-scr kt_example.py``); kt_example.lua defines the same procedures for the real ktserver."""

from __future__ import annotations

from typing import Any

from kt_core.errors import BadRequestError


def greet(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """``greeting`` = ``hello, <name>``."""
    return {b"greeting": b"hello, " + inmap.get(b"name", b"nobody")}


def hits(inmap: dict[bytes, bytes], db: Any) -> dict[bytes, bytes]:
    """Add 1 to the counter stored under ``key`` (as text) and answer it."""
    key = inmap.get(b"key")
    if key is None:
        raise BadRequestError("hits needs a key")
    record = db.find(key)
    count = int(record[0] if record is not None else b"0") + 1
    db.set(key, str(count).encode())
    return {b"hits": str(count).encode()}
