"""Moving records: dump to a file, load from one, copy between servers, and checking the result.

Everything streams: records are read in the server's order and written in batches (one
``set_bulk`` per batch), so memory holds one batch and a fixed-size sample, never the database.
"""

from __future__ import annotations

import base64
import json
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Callable

from .formats import ENCODERS, read_records
from .targets import Target, TargetError

DEFAULT_BATCH = 1000
DEFAULT_SAMPLE = 200


def batched(records: Iterable[tuple[bytes, bytes]], size: int) -> Iterator[tuple[dict[bytes, bytes], bytes]]:
    """Consecutive batches of ``size`` records, as the dicts set_bulk takes, each with the last key read.

    A key met twice inside one batch keeps its last value, as writing them one by one would (the
    dict keeps its first place, so the last key read is returned beside it).
    """
    batch: dict[bytes, bytes] = {}
    last = b""
    for key, value in records:
        batch[key] = value
        last = key
        if len(batch) >= size:
            yield batch, last
            batch = {}
    if batch:
        yield batch, last


class Reservoir:
    """A uniform random sample of at most ``size`` items from a stream of unknown length (Algorithm R)."""

    def __init__(self, size: int, seed: int | None = None) -> None:
        self.size = size
        self.seen = 0
        self.items: list[tuple[bytes, bytes]] = []
        self._random = random.Random(seed)

    def add(self, key: bytes, value: bytes) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append((key, value))
        else:
            slot = self._random.randrange(self.seen)
            if slot < self.size:
                self.items[slot] = (key, value)


# ------------------------------------------------------------------ dump and load

def dump(source: Target, out: IO[bytes], fmt: str, advance: Callable[[int], None]) -> int:
    """Write every record of ``source`` to ``out``; the number written."""
    encode = ENCODERS[fmt]
    written = 0
    pending = 0
    for key, value in source.walk():
        out.write(encode(key, value))
        written += 1
        pending += 1
        if pending >= 256:  # the bar needs no more than a few updates a batch
            advance(pending)
            pending = 0
    advance(pending)
    return written


@dataclass
class LoadResult:
    records: int
    count_before: int
    sample: list[tuple[bytes, bytes]]


def load(dest: Target, stream: IO[bytes], fmt: str, name: str, batch: int, sample_size: int,
         advance: Callable[[int], None]) -> LoadResult:
    """Write the records of ``stream`` to ``dest`` in batches; keeps a sample for :func:`verify_load`."""
    count_before = dest.count() if sample_size else 0
    reservoir = Reservoir(sample_size)
    loaded = 0
    pending: dict[bytes, bytes] = {}
    pending_bytes = 0
    for key, value, size in read_records(stream, fmt, name):
        pending[key] = value
        pending_bytes += size
        if sample_size:
            reservoir.add(key, value)
        if len(pending) >= batch:
            dest.write(pending)
            loaded += len(pending)
            advance(pending_bytes)
            pending, pending_bytes = {}, 0
    if pending:
        dest.write(pending)
        loaded += len(pending)
        advance(pending_bytes)
    return LoadResult(loaded, count_before, reservoir.items)


# ------------------------------------------------------------------ verification

@dataclass
class Verification:
    ok: bool
    source_count: int | None
    dest_count: int
    sampled: int
    mismatched: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "source_count": self.source_count, "dest_count": self.dest_count,
                "sampled": self.sampled, "mismatched": len(self.mismatched), "problems": self.problems}


def _compare_sample(dest: Target, expected: dict[bytes, bytes], result: Verification) -> None:
    keys = list(expected)
    for start in range(0, len(keys), DEFAULT_BATCH):
        chunk = keys[start:start + DEFAULT_BATCH]
        found = dest.read(chunk)
        result.mismatched.extend(k for k in chunk if found.get(k) != expected[k])
    result.sampled = len(keys)
    if result.mismatched:
        result.ok = False
        first = result.mismatched[0]
        result.problems.append(f"{len(result.mismatched)} of {len(keys)} sampled records differ "
                               f"(first: key {first[:60]!r})")


def verify_load(dest: Target, loaded: LoadResult) -> Verification:
    """The destination holds the sample as loaded; its count grew as it should have."""
    count = dest.count()
    result = Verification(True, None, count, 0)
    if loaded.count_before == 0 and count != loaded.records:
        # Only an empty destination has a count to expect: records already there may share keys.
        result.ok = False
        result.problems.append(f"the destination holds {count} records, {loaded.records} were loaded")
    _compare_sample(dest, dict(loaded.sample), result)
    return result


def verify_copy(source: Target, dest: Target, sample: list[tuple[bytes, bytes]]) -> Verification:
    """Counts equal, and a sample of records read again from both sides equal."""
    src_count, dst_count = source.count(), dest.count()
    result = Verification(src_count == dst_count, src_count, dst_count, 0)
    if src_count != dst_count:
        result.problems.append(f"counts differ: source {src_count}, destination {dst_count}")
    keys = [key for key, _ in sample]
    expected: dict[bytes, bytes] = {}
    for start in range(0, len(keys), DEFAULT_BATCH):
        # Read again from the source: a record changed there since it was copied is not a copy error.
        expected.update(source.read(keys[start:start + DEFAULT_BATCH]))
    _compare_sample(dest, expected, result)
    return result


# ------------------------------------------------------------------ copy with a checkpoint

def default_checkpoint(source: Target, dest: Target) -> str:
    """``.kt-copy-<digest>.json`` in the current directory, one per (source, destination) pair."""
    import hashlib

    digest = hashlib.sha256(repr((source.identity, dest.identity)).encode()).hexdigest()[:12]
    return f".kt-copy-{digest}.json"


@dataclass
class Checkpoint:
    """How far a copy got: written (atomically) after every batch the destination has stored."""

    path: str
    source: str
    dest: str
    copied: int = 0
    last_key: bytes | None = None
    done: bool = False

    def save(self) -> None:
        state = {"version": 1, "source": self.source, "dest": self.dest, "copied": self.copied,
                 "last_key_b64": None if self.last_key is None else base64.b64encode(self.last_key).decode(),
                 "done": self.done}
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".kt-copy-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state, f)
            # rename is atomic: a kill at any moment leaves the old checkpoint or the new one.
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @classmethod
    def load(cls, path: str) -> Checkpoint | None:
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise TargetError(f"cannot read the checkpoint {path}: {exc}") from None
        try:
            last = state["last_key_b64"]
            return cls(path, str(state["source"]), str(state["dest"]), int(state["copied"]),
                       None if last is None else base64.b64decode(last), bool(state["done"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise TargetError(f"the checkpoint {path} is not a kt copy checkpoint ({exc})") from None


@dataclass
class CopyResult:
    copied: int  # by this run
    total: int  # including the runs it resumed
    resumed_from: int
    sample: list[tuple[bytes, bytes]]


def copy(source: Target, dest: Target, checkpoint: Checkpoint, batch: int, sample_size: int,
         advance: Callable[[int], None]) -> CopyResult:
    """Copy every record after ``checkpoint.last_key``, saving the checkpoint after each stored batch.

    A batch is stored before the checkpoint names its last key, so a kill loses nothing; a kill
    between the two makes the next run write that batch again, which overwrites (no duplicates).
    """
    resumed_from = checkpoint.copied
    reservoir = Reservoir(sample_size)
    copied = 0
    for records, last in batched(source.walk(after=checkpoint.last_key), batch):
        dest.write(records)
        checkpoint.copied += len(records)
        checkpoint.last_key = last
        checkpoint.save()
        copied += len(records)
        if sample_size:
            for key, value in records.items():
                reservoir.add(key, value)
        advance(len(records))
    checkpoint.done = True
    checkpoint.save()
    return CopyResult(copied, checkpoint.copied, resumed_from, reservoir.items)
