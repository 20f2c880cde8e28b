"""Procedures kt's client tests call with play_script on the Kyoto Tycoon stand-in (``-scr kt_test.py``).

kt_test.lua defines the same procedures for the real ktserver; a test checks both files define the
same names. Each takes the input records (``dict[bytes, bytes]``, keys without the HTTP ``_``
prefix) and returns the output records; a second parameter, when declared, receives the first
database. The failures map to ktserver's return codes: LogicalInconsistencyError = RVELOGIC
(HTTP 450), BadRequestError = RVEINVALID (400), any other exception = a script error (500); the
binary protocol answers each with 0xBF. No name has ``_``: ktserver 0.9.56 answers 400 to an HTTP
play_script naming one.
"""

from __future__ import annotations

from typing import Any

from kt_core.errors import BadRequestError, LogicalInconsistencyError
from kt_core.kyoto_lists import deserialize_dict, deserialize_list, serialize_dict, serialize_list


def echo(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """The records it was given, so a test can round-trip any key and value."""
    return dict(inmap)


def sample(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """A fixed answer holding the values an encoder gets wrong first (empty, TAB/LF, controls, >= 0x80)."""
    return {
        b"empty": b"",
        b"tab_lf": b"a\tb\nc",
        b"controls": b"\x01\x08\x0d\x1b\x7f",
        b"high": b"\x80\xff",
        b"text": b"kt",
    }


def conflict(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """RVELOGIC: the data says no (HTTP 450, binary 0xBF); no output survives."""
    raise LogicalInconsistencyError("kt_test.conflict")


def badinput(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """RVEINVALID: rejected arguments (HTTP 400, binary 0xBF)."""
    raise BadRequestError("kt_test.badinput")


def broken(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """An error inside the procedure, as a Lua error() (HTTP 500, binary 0xBF)."""
    raise RuntimeError("kt_test.broken")


def store(inmap: dict[bytes, bytes], db: Any) -> dict[bytes, bytes]:
    """Set every input record in the first database; ``stored`` = how many."""
    for name, data in inmap.items():
        db.set(name, data)
    return {b"stored": str(len(inmap)).encode()}


def fetch(inmap: dict[bytes, bytes], db: Any) -> dict[bytes, bytes]:
    """The records of the first database whose keys were given; absent keys are left out."""
    found = {}
    for name in inmap:
        record = db.find(name)  # (value, expiry) or None
        if record is not None:
            found[name] = record[0]
    return found


def count(inmap: dict[bytes, bytes], db: Any) -> dict[bytes, bytes]:
    """``count`` = the number of records in the first database."""
    return {b"count": str(db.count()).encode()}


def listdump(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """``dump`` = the input values as ``kt.arraydump`` writes them, in the order of their keys."""
    return {b"dump": serialize_list([inmap[name] for name in sorted(inmap)])}


def listload(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """The elements of ``kt.arrayload(dump)`` under their positions ``1``, ``2``, ..."""
    items = deserialize_list(inmap.get(b"dump", b""), decode_values=False)
    return {str(i).encode(): item for i, item in enumerate(items, 1)}  # type: ignore[misc]


def mapdump(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """``dump`` = the input records as ``kt.mapdump`` writes them."""
    return {b"dump": serialize_dict(inmap)}


def mapload(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """The entries of ``kt.mapload(dump)``."""
    entries = deserialize_dict(inmap.get(b"dump", b""), decode_values=False)
    return {k if isinstance(k, bytes) else k.encode(): v for k, v in entries.items()}  # type: ignore[misc]
