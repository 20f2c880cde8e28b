"""Python twins of testdata/vectors/kt-vectors.lua, for replaying the KT vectors against the stand-in."""

from __future__ import annotations

from kt_core.errors import BadRequestError, LogicalInconsistencyError


def echo(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Copy every input record to the output."""
    return dict(inmap)


def records(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Several fixed records, one with an empty value and one holding a tab and a newline."""
    return {b"alpha": b"1", b"beta": b"two", b"ctl": b"tab\there\nnewline", b"empty": b""}


def fail(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """A logical error (Lua kt.RVELOGIC): HTTP 450, binary 0xBF."""
    raise LogicalInconsistencyError("fail")


def invalid(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Invalid arguments (Lua kt.RVEINVALID): HTTP 400, binary 0xBF."""
    raise BadRequestError("invalid")


def crash(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """A runtime error in the script: HTTP 500, binary 0xBF."""
    raise RuntimeError("deliberate failure")
