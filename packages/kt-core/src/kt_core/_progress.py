"""Bulk replies decoded while they arrive (docs/codec.md, "Reader functions": Partial).

A KT get_bulk or TT mget reply has no total length up front, only a record count, so a reader
that waits for the whole frame makes the receive buffer grow to the frame's size (and rescans
the frame from its start on every receive). Once the whole records of a frame still arriving
span ``PROGRESS_MIN`` bytes, the reader instead takes them and answers with a
:class:`~kt_core.reader.Partial`: the buffer drops their bytes and the frame continues from
there, so a reply of any size needs a buffer of about one receive.
"""

from __future__ import annotations

from typing import Any, Callable

from ._scan import split_records
from .reader import Partial

__all__ = ["PROGRESS_MIN", "progress"]

#: Smaller frames are simply re-read once whole: a Partial costs more than re-walking a few records.
PROGRESS_MIN = 64 * 1024

Finish = Callable[[int, list[bytes], list[bytes]], Any]


class _Records:
    """The records of one frame taken so far, and how to continue it."""

    __slots__ = ("budget", "expect", "finish", "keys", "layout", "remaining", "values")

    def __init__(self, values: list[bytes], remaining: int, budget: int, layout: int, finish: Finish,
                 expect: list[bytes] | None) -> None:
        self.keys: list[bytes] = []
        self.values = values
        self.remaining = remaining
        self.budget = budget  # bytes the rest of the frame may take (the frame's limit minus what was consumed)
        self.layout = layout
        self.finish = finish
        self.expect = expect

    def take_keys(self, keys: list[bytes]) -> None:
        expect = self.expect
        if expect is not None:
            # The servers answer in request order: while the reply's keys are the requested ones, keep
            # the caller's objects and let the reply's copies go (a 100,000-key reply: no second key set).
            start = len(self.keys)
            same = expect[start : start + len(keys)]
            if same == keys:
                keys = same
            else:
                self.expect = None  # a key missed: the reply's keys from here on
        self.keys += keys

    def resume(self, buf: Any, pos: int, end: int, limit: int) -> Any:
        nxt, keys, values, need = split_records(buf, pos, end, self.layout, self.remaining, pos + self.budget)
        if keys:
            self.take_keys(keys)
            self.values += values
            self.remaining -= len(keys)
            self.budget -= nxt - pos
        if not need:
            return self.finish(nxt, self.keys, self.values)
        if nxt == pos:
            return need
        return Partial(nxt, need, self.resume)


def progress(frame_pos: int, nxt: int, need: int, keys: list[bytes], values: list[bytes], count: int,
             stop: int, layout: int, finish: Finish, expect: list[bytes] | None = None) -> int | Partial:
    """The answer of a bulk reader whose frame (at ``frame_pos``) is incomplete: ``split_records`` took
    ``keys``/``values`` up to ``nxt`` and the next record needs ``need``. ``need`` alone for a small
    part, else a Partial that continues the remaining ``count - len(keys)`` records, within ``stop``
    (the frame's absolute limit), and gives ``finish(next_pos, keys, values)`` at the end.

    ``expect``: the requested keys (``bytes``), if the caller has them: reply keys equal to them are
    replaced by the caller's objects as they arrive (same values, less memory)."""
    if nxt - frame_pos < PROGRESS_MIN:
        return need
    state = _Records(values, count - len(keys), stop - nxt, layout, finish, expect)
    state.take_keys(keys)
    return Partial(nxt, need, state.resume)
