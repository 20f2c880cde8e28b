"""Test data: testdata/vectors/kt-vectors.lua in Python, for replaying the recorded KT vectors.

The recorded vectors ran ktserver with ``-scr kt-vectors.lua``; the stand-in runs Python scripts,
so this file mirrors that Lua file function for function (same names, same outputs, same failure
kinds). It is loaded by path (``-scr``/``scripts=``), never imported, and only the vector replay
tests use it; kt's own tests use kt_embedded/scripts/kt_test.py.
"""

from __future__ import annotations

from kt_core.errors import BadRequestError, LogicalInconsistencyError


def echo(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return dict(inmap)


def records(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {b"alpha": b"1", b"beta": b"two", b"ctl": b"tab\there\nnewline", b"empty": b""}


def fail(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    # RVELOGIC: ktserver drops the outmap the Lua function filled before failing.
    raise LogicalInconsistencyError("fail")


def invalid(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    raise BadRequestError("invalid")  # RVEINVALID


def crash(inmap: dict[bytes, bytes]) -> dict[bytes, bytes]:
    raise RuntimeError("deliberate failure")  # a Lua error()
