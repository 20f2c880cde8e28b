"""Bulk replies decoded while they arrive (docs/codec.md, "Reader functions": Partial).

A KT get_bulk or TT mget reply has no total length up front, only a record count, so a reader
that waits for the whole frame makes the receive buffer grow to the frame's size (and rescans
the frame from its start on every receive). Once the whole records of a frame still arriving
span ``PROGRESS_MIN`` bytes, the reader instead takes them and answers with a
:class:`~kt_core.codec.reader.Partial`: the buffer drops their bytes and the frame continues from
there, so a reply of any size needs a buffer of about one receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, overload

from ._scan import split_records
from .reader import Partial

__all__ = ["LARGE_KEY_LIST", "PROGRESS_MIN", "Utf8Keys", "expected_keys", "hit_keys", "progress"]

#: Smaller frames are simply re-read once whole: a Partial costs more than re-walking a few records.
PROGRESS_MIN = 64 * 1024
#: From this many str keys on, the clients match a bulk reply against :class:`Utf8Keys` instead of a
#: list of the encoded keys (below it, the list is cheaper than encoding slices again).
LARGE_KEY_LIST = 4096

Finish = Callable[[int, list[bytes], list[bytes]], Any]


class _Records:
    """The records of one frame taken so far, and how to continue it."""

    __slots__ = ("budget", "expect", "finish", "keys", "layout", "matched", "remaining", "values")

    def __init__(self, values: list[bytes], remaining: int, budget: int, layout: int, finish: Finish,
                 expect: Sequence[bytes] | None) -> None:
        self.keys: list[bytes] | None = None if expect is not None else []
        self.matched = 0  # while keys is None: the records so far are the first `matched` expected keys
        self.values = values
        self.remaining = remaining
        self.budget = budget  # bytes the rest of the frame may take (the frame's limit minus what was consumed)
        self.layout = layout
        self.finish = finish
        self.expect = expect

    def take_keys(self, keys: list[bytes]) -> None:
        if self.keys is None:
            # The servers answer in request order: while the reply's keys are the requested ones, keep none
            # of them (a 100,000-key reply holds no second set of keys); the answer then says "the first n".
            expect = self.expect
            assert expect is not None
            start = self.matched
            if expect[start : start + len(keys)] == keys:
                self.matched = start + len(keys)
                return
            self.keys = list(expect[:start])  # a key missed: the reply's keys from here on
        self.keys += keys

    def done(self, nxt: int) -> Any:
        return self.finish(nxt, self.keys, self.values)  # type: ignore[arg-type]  # None: see progress()

    def resume(self, buf: Any, pos: int, end: int, limit: int) -> Any:
        nxt, keys, values, need = split_records(buf, pos, end, self.layout, self.remaining, pos + self.budget)
        if keys:
            self.take_keys(keys)
            self.values += values
            self.remaining -= len(keys)
            self.budget -= nxt - pos
        if not need:
            return self.done(nxt)
        if nxt == pos:
            return need
        return Partial(nxt, need, self.resume)


def progress(frame_pos: int, nxt: int, need: int, keys: list[bytes], values: list[bytes], count: int,
             stop: int, layout: int, finish: Finish, expect: Sequence[bytes] | None = None) -> int | Partial:
    """The answer of a bulk reader whose frame (at ``frame_pos``) is incomplete: ``split_records`` took
    ``keys``/``values`` up to ``nxt`` and the next record needs ``need``. ``need`` alone for a small
    part, else a Partial that continues the remaining ``count - len(keys)`` records, within ``stop``
    (the frame's absolute limit), and gives ``finish(next_pos, keys, values)`` at the end.

    ``expect``: the requested keys as ``bytes`` (any sequence that slices into a list of bytes), if the
    caller has them. When the reply's keys are exactly the first ``len(values)`` of them, ``finish``
    gets ``None`` for ``keys`` and no key is kept while the reply arrives."""
    if nxt - frame_pos < PROGRESS_MIN:
        return need
    state = _Records(values, count - len(keys), stop - nxt, layout, finish, expect)
    state.take_keys(keys)
    return Partial(nxt, need, state.resume)


class Utf8Keys(Sequence[bytes]):
    """The UTF-8 bytes of a list of str keys, encoded on demand, slice by slice: a large request's
    ``expect`` without a second list of 100,000 encoded keys alive while the reply arrives."""

    __slots__ = ("keys",)

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = keys

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [k.encode("utf-8") for k in self.keys[index]]
        return self.keys[index].encode("utf-8")


def expected_keys(keys: Any, raw: list[bytes], all_str: bool) -> Sequence[bytes]:
    """What a client gives a bulk reader as ``expect``: ``raw``, the encoded keys it sent, or, for
    ``LARGE_KEY_LIST`` str keys and more, a :class:`Utf8Keys` view of the caller's ``keys``, so that once
    the client drops ``raw`` no list of encoded keys stays alive while a large reply arrives."""
    if all_str and len(raw) >= LARGE_KEY_LIST:
        return Utf8Keys(keys)
    return raw


def hit_keys(found: list[bytes] | None, n: int, keys: Any, expect: Sequence[bytes], all_str: bool,
             decode_keys: bool, decode_one: Callable[[bytes], Any]) -> list[Any]:
    """The keys of a bulk read's ``n`` hits, as the clients return them.

    ``found``: the bulk reader's key list, ``None`` meaning the first ``n`` requested keys (see
    :func:`progress`). ``keys``: what the caller passed; ``expect``: what the reader was given
    (:func:`expected_keys`); ``all_str``: every key was a str. With ``decode_keys``, str keys that all came
    back are the caller's own objects (nothing decoded), other keys are decoded as UTF-8 and, where that
    fails, by ``decode_one``; without it, the keys are the encoded bytes.
    """
    if all_str and decode_keys and (found is None or found == expect):
        return keys if n == len(keys) and type(keys) is list else list(keys[:n])
    if found is None:
        found = list(expect[:n])
    if not decode_keys:
        return found
    try:
        return list(map(_decode_utf8, found))
    except UnicodeDecodeError:
        return [decode_one(k) for k in found]


_decode_utf8 = bytes.decode  # utf-8 by default; bound once for map()
