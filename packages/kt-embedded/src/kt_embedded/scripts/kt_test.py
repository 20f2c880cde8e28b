"""kt's own test scripts for the Kyoto Tycoon stand-in (``-scr kt_test.py``).

The same functions as ``kt_test.lua`` (for the real ktserver), as Python callables: each takes the
input records (``dict[bytes, bytes]``, keys without the HTTP ``_`` prefix) and returns the output
records; a second parameter, when declared, receives the server's first database. Errors map to
ktserver's script return codes: LogicalInconsistencyError = RVELOGIC (HTTP 450), BadRequestError =
RVEINVALID (400), any other exception = a script failure (500). The binary protocol answers every
failure with 0xBF.
"""

from __future__ import annotations

from typing import Any

from kt_core.errors import BadRequestError, LogicalInconsistencyError


def echo(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Copy every input record to the output."""
    return dict(inmap)


def records(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Fixed records, one with an empty value and one holding a tab and a newline."""
    return {b"alpha": b"1", b"beta": b"two", b"ctl": b"tab\there\nnewline", b"empty": b""}


def fail(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """A logical error: HTTP 450, binary 0xBF."""
    raise LogicalInconsistencyError("fail")


def invalid(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Invalid arguments: HTTP 400, binary 0xBF."""
    raise BadRequestError("invalid")


def crash(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """A runtime error in the script: HTTP 500, binary 0xBF."""
    raise RuntimeError("deliberate failure")


def store(inmap: dict[bytes, bytes], db: Any) -> dict[bytes, bytes]:
    """Set every input record in the first database; ``num`` = how many."""
    for key, value in inmap.items():
        db.set(key, value)
    return {b"num": str(len(inmap)).encode()}


def fetch(inmap: dict[bytes, bytes], db: Any) -> dict[bytes, bytes]:
    """The value of every input key that exists in the first database."""
    out = {}
    for key in inmap:
        rec = db.find(key)
        if rec is not None:
            out[key] = rec[0]
    return out
