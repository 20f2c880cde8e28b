"""The Kyoto Tycoon stand-in's data model: in-memory databases with per-record expiry, and cursors.

Semantics follow Kyoto Cabinet's ``TimedDB`` as ktserver 0.9.56 uses it:

- ``xt`` given to a write is relative seconds when positive, ``-epoch`` (absolute) when negative,
  ``XT_NONE`` (INT64_MAX) for no expiry; stored expiries are absolute, capped at ``XTMAX``
  (2**40 - 1, which also means "no expiry"). Every write replaces the record's expiry.
- A record whose expiry is below the current second is gone.
- Failures raise :class:`DBError` carrying Kyoto Cabinet's error code, name and message, which the
  server formats as ``DB: 7: no record: no record``.
- An ordered database (``%``, ``+``, ``.kct``...) keeps its keys sorted by bytes (B+ tree); an
  unordered one (``*``, ``.kch``...) iterates in insertion order and has no backward cursor moves.

Every public method takes the database's lock (the server is threaded).

A transaction (:meth:`KtDatabase.begin_transaction`, ended by :meth:`KtDatabase.end_transaction`)
journals the first state of every record changed while it is open, by anyone, as Kyoto Cabinet's
in-memory databases do: an abort restores them all, a commit keeps them. Update log messages made
meanwhile are held back, written on commit and dropped on abort (ktserver's DBUpdateLogger).

With an update log (ktserver's ``-ulog``), every update a database makes reaches its ``trigger`` as
the message Kyoto Tycoon's TimedDB writes (see :class:`UpdateLog`).
"""

from __future__ import annotations

import math
import os
import re
import struct
import threading
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from typing import Callable, Optional

from kt_core.codec import kyoto_repl

__all__ = [
    "XTMAX",
    "XT_NONE",
    "DBError",
    "KtDatabase",
    "KtCursor",
    "UpdateLog",
    "ULOG_LIMIT",
    "database_from_spec",
    "NOIMPL",
    "NOREC",
    "DUPREC",
    "LOGIC",
]

XTMAX = (1 << 40) - 1
XT_NONE = (1 << 63) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_DECUNIT = 1000000000000000  # increment_double's fraction unit (10**15)

# Kyoto Cabinet error codes and names (kc::BasicDB::Error).
NOIMPL, INVALID, DUPREC, NOREC, LOGIC = 1, 2, 6, 7, 8
_ERROR_NAMES = {NOIMPL: "not implemented", INVALID: "invalid operation", DUPREC: "record duplication",
                NOREC: "no record", LOGIC: "logical inconsistency"}

_I64 = struct.Struct(">q")
_I64X2 = struct.Struct(">qq")


class DBError(Exception):
    """A Kyoto Cabinet database error: ``code`` (kc error code) and ``message`` (its detail)."""

    def __init__(self, code: int, message: Optional[str] = None) -> None:
        self.code = code
        self.name = _ERROR_NAMES.get(code, "miscellaneous error")
        self.message = message if message is not None else self.name
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"DB: {self.code}: {self.name}: {self.message}"


def absolute_xt(xt: int, now: int) -> int:
    """A write's ``xt`` parameter as the absolute expiry stored (kc TimedDB's rule)."""
    if xt < 0:
        xt = -max(xt, _INT64_MIN // 2)
    else:
        xt = min(xt, _INT64_MAX // 2) + now
    return min(xt, XTMAX)


# Database types as `status` reports them (kc::BasicDB::Type) and whether each is ordered.
_TYPES = {"*": (0x20, False), "%": (0x21, True), "-": (0x10, False), "+": (0x11, True), ":": (0x18, False)}
_EXT_TYPES = {".kch": (0x30, False), ".kct": (0x31, True), ".kcd": (0x40, False), ".kcf": (0x41, True)}


def database_from_spec(spec: str, index: int) -> KtDatabase:
    """A database for a ktserver DB argument (``*``, ``%``, ``x.kch``, ``x.kct``, with ``#opts`` ignored)."""
    path = spec.split("#", 1)[0]
    if path in _TYPES:
        dbtype, ordered = _TYPES[path]
    else:
        dot = path.rfind(".")
        ext = path[dot:].lower() if dot >= 0 else ""
        if ext not in _EXT_TYPES:
            raise ValueError(f"unknown database type: {spec!r} (use *, %, -, +, :, or a .kch/.kct/.kcd/.kcf path)")
        dbtype, ordered = _EXT_TYPES[ext]
    return KtDatabase(path, ordered, index, dbtype)


class KtDatabase:
    """One in-memory database (all state lives in the process; file names only pick the type)."""

    def __init__(self, path: str = "*", ordered: bool = False, index: int = 0, dbtype: Optional[int] = None) -> None:
        self.path = path
        self.ordered = ordered
        self.index = index
        self.dbtype = dbtype if dbtype is not None else (0x21 if ordered else 0x20)
        self.lock = threading.RLock()
        self._recs: dict[bytes, tuple[bytes, int]] = {}
        self._keys: list[bytes] = []  # sorted keys, ordered databases only
        self._nexp = 0  # records with an expiry: purging is skipped while there are none
        self._purged_at = -1
        # An unordered database's keys in iteration order with their positions, rebuilt only after a
        # key was added or removed, so a cursor steps in O(1) instead of listing every key each step.
        self._order: Optional[tuple[list[bytes], dict[bytes, int]]] = None
        # Called with each update's TimedDB message when the server keeps an update log.
        self.trigger: Optional[Callable[[bytes], None]] = None
        # While a transaction is open: each changed key's record before its first change (None: absent),
        # and the update log messages held back until the commit.
        self._journal: Optional[dict[bytes, Optional[tuple[bytes, int]]]] = None
        self._held: list[bytes] = []

    # -- internals (call with the lock held) ------------------------------------------------
    def _now(self) -> int:
        now = int(time.time())
        if self._nexp and now > self._purged_at:
            self._purge(now)
        return now

    def _purge(self, now: int) -> None:
        dead = [k for k, (_, xt) in self._recs.items() if xt < now]
        for key in dead:
            self._drop(key)
        self._purged_at = now

    def _emit(self, message: bytes) -> None:
        if self.trigger is not None:
            if self._journal is not None:
                self._held.append(message)
            else:
                self.trigger(message)

    def _store(self, key: bytes, value: bytes, xt: int, now: int) -> None:
        axt = absolute_xt(xt, now)
        self._emit(_uset_message(key, value, axt))
        old = self._recs.get(key)
        if self._journal is not None and key not in self._journal:
            self._journal[key] = old
        if axt < now:  # already expired: the record is invisible from the start
            if old is not None:
                self._drop(key)
            return
        if old is None:
            self._order = None
            if self.ordered:
                insort(self._keys, key)
        elif old[1] < XTMAX:
            self._nexp -= 1
        if axt < XTMAX:
            self._nexp += 1
        self._recs[key] = (value, axt)

    def _drop(self, key: bytes) -> Optional[tuple[bytes, int]]:
        rec = self._recs.pop(key, None)
        if rec is None:
            return None
        self._order = None
        if self._journal is not None and key not in self._journal:
            self._journal[key] = rec
        if rec[1] < XTMAX:
            self._nexp -= 1
        if self.ordered:
            i = bisect_left(self._keys, key)
            del self._keys[i]
        return rec

    def _key_list(self) -> list[bytes]:
        return self._keys if self.ordered else list(self._recs)

    def _next_unordered(self, key: bytes) -> Optional[bytes]:
        """The key after ``key`` in an unordered database's iteration order; None at the end or if it is gone."""
        order = self._order
        if order is None:
            keys = list(self._recs)
            order = self._order = (keys, {k: i for i, k in enumerate(keys)})
        i = order[1].get(key)
        if i is None or i + 1 >= len(order[0]):
            return None
        return order[0][i + 1]

    def _log_remove(self, key: bytes) -> None:
        self._emit(_uremove_message(key))

    # -- whole database ---------------------------------------------------------------------
    def count(self) -> int:
        with self.lock:
            self._now()
            return len(self._recs)

    def size(self) -> int:
        """An estimate of the memory used (the real server reports its file/memory size)."""
        with self.lock:
            self._now()
            return sum(len(k) + len(v) + 16 for k, (v, _) in self._recs.items())

    def clear(self) -> None:
        with self.lock:
            self._emit(bytes((UCLEAR,)))
            if self._journal is not None:
                for key, rec in self._recs.items():
                    self._journal.setdefault(key, rec)
            self._recs.clear()
            self._keys.clear()
            self._order = None
            self._nexp = 0

    def status(self) -> dict[str, str]:
        """The fields ``status`` reports (ktserver's RPC and the Lua ``db:status()``), as text."""
        count, size = self.count(), self.size()
        fields: dict[str, object] = {
            "count": count, "size": size, "path": self.path, "type": self.dbtype, "realtype": self.dbtype,
            "bnum": 1048583 if not self.ordered else 65536, "capcnt": -1, "capsiz": -1, "chksum": 255,
            "fmtver": 5, "ktcapcnt": -1, "ktcapsiz": -1, "ktopts": 0, "librev": 13, "libver": 16,
            "opts": 0, "recovered": 0, "reorganized": 0,
        }
        if self.ordered:
            fields.update({"cusage": 8, "first": 1, "icnt": 0, "last": 1, "lcnt": 1, "pccap": 67108864,
                           "pnum": 2, "psiz": 8192, "rcomp": "lexical", "root": 1})
        return {k: str(v) for k, v in fields.items()}

    # -- transactions -------------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._journal is not None

    def begin_transaction(self) -> bool:
        """Open a transaction; False if one is open already (Kyoto Cabinet would wait for it)."""
        with self.lock:
            if self._journal is not None:
                return False
            self._journal = {}
            self._held = []
            return True

    def end_transaction(self, commit: bool = True) -> None:
        """Commit or abort the open transaction; DBError INVALID if there is none."""
        with self.lock:
            journal, held = self._journal, self._held
            if journal is None:
                raise DBError(INVALID, "not in transaction")
            self._journal, self._held = None, []
            if commit:
                if self.trigger is not None:
                    for message in held:
                        self.trigger(message)
                return
            for key, rec in journal.items():
                self._drop(key)
                if rec is not None:
                    if self.ordered:
                        insort(self._keys, key)
                    if rec[1] < XTMAX:
                        self._nexp += 1
                    self._recs[key] = rec
                    self._order = None

    def keys(self) -> list[bytes]:
        """Every live key, in the database's iteration order."""
        with self.lock:
            self._now()
            return list(self._key_list())

    # -- single records ----------------------------------------------------------------------
    def set(self, key: bytes, value: bytes, xt: int = XT_NONE) -> None:
        with self.lock:
            self._store(key, value, xt, self._now())

    def add(self, key: bytes, value: bytes, xt: int = XT_NONE) -> None:
        with self.lock:
            now = self._now()
            if key in self._recs:
                raise DBError(DUPREC)
            self._store(key, value, xt, now)

    def replace(self, key: bytes, value: bytes, xt: int = XT_NONE) -> None:
        with self.lock:
            now = self._now()
            if key not in self._recs:
                raise DBError(NOREC)
            self._store(key, value, xt, now)

    def append(self, key: bytes, value: bytes, xt: int = XT_NONE) -> None:
        with self.lock:
            now = self._now()
            old = self._recs.get(key)
            self._store(key, old[0] + value if old else value, xt, now)

    def increment(self, key: bytes, num: int, orig: int = 0, xt: int = XT_NONE) -> int:
        """Add ``num`` to the 8-byte big-endian integer; ``orig`` INT64_MIN = "try", INT64_MAX = "set"."""
        with self.lock:
            now = self._now()
            old = self._recs.get(key)
            if old is not None:
                if len(old[0]) != 8:
                    raise DBError(LOGIC)
                if orig == _INT64_MAX:
                    current = 0
                else:
                    current = _I64.unpack(old[0])[0]
                    if num == 0:
                        return current
                num = _wrap64(num + current)
            else:
                if orig == _INT64_MIN:
                    raise DBError(LOGIC)
                if orig != _INT64_MAX:
                    num = _wrap64(num + orig)
            self._store(key, _I64.pack(num), xt, now)
            if num == _INT64_MIN:  # kc's failure sentinel: the sum is stored, yet reported as an error
                raise DBError(LOGIC)
            return num

    def increment_double(self, key: bytes, num: float, orig: float = 0.0, xt: int = XT_NONE) -> float:
        """Add ``num`` to the stored (integral, fraction * 10**15) pair; ``orig`` -inf = "try", +inf = "set"."""
        with self.lock:
            now = self._now()
            old = self._recs.get(key)
            if old is not None:
                if len(old[0]) != 16:
                    raise DBError(LOGIC)
                if math.isinf(orig) and orig > 0:
                    integ, fract = 0, 0
                else:
                    integ, fract = _I64X2.unpack(old[0])
                    if num == 0.0:
                        return integ + fract / _DECUNIT
                if math.isnan(num):
                    raise DBError(LOGIC)
                if math.isinf(num):
                    integ, fract = (_INT64_MAX if num > 0 else _INT64_MIN), 0
                    result = num
                else:
                    dfract, dinteg = math.modf(num)
                    integ += int(dinteg)
                    fract += int(dfract * _DECUNIT)
                    if fract >= _DECUNIT:
                        integ += 1
                        fract -= _DECUNIT
                    result = integ + fract / _DECUNIT
            else:
                if math.isnan(orig) or (math.isinf(orig) and orig < 0):
                    raise DBError(LOGIC)
                if not math.isinf(orig):
                    num += orig
                if math.isnan(num):
                    raise DBError(LOGIC)
                if math.isinf(num):
                    integ, fract = (_INT64_MAX if num > 0 else _INT64_MIN), 0
                else:
                    dfract, dinteg = math.modf(num)
                    integ, fract = int(dinteg), int(dfract * _DECUNIT)
                result = num
            self._store(key, _I64X2.pack(_wrap64(integ), _wrap64(fract)), xt, now)
            return result

    def cas(self, key: bytes, oval: Optional[bytes], nval: Optional[bytes], xt: int = XT_NONE) -> None:
        """Compare and swap: ``oval`` None = "must be absent", ``nval`` None = "remove"."""
        with self.lock:
            now = self._now()
            old = self._recs.get(key)
            if old is None:
                if oval is not None:
                    raise DBError(LOGIC, "status conflict")
                if nval is not None:
                    self._store(key, nval, xt, now)
                return
            if oval is None or old[0] != oval:
                raise DBError(LOGIC, "status conflict")
            if nval is None:
                self._log_remove(key)
                self._drop(key)
            else:
                self._store(key, nval, xt, now)

    def remove(self, key: bytes) -> None:
        with self.lock:
            self._now()
            # ktserver logs a remove even when there was no record (a seize of no record it does not).
            self._log_remove(key)
            if self._drop(key) is None:
                raise DBError(NOREC)

    def get(self, key: bytes) -> tuple[bytes, int]:
        """``(value, absolute xt)`` (``XTMAX``: no expiry)."""
        with self.lock:
            self._now()
            rec = self._recs.get(key)
            if rec is None:
                raise DBError(NOREC)
            return rec

    def find(self, key: bytes) -> Optional[tuple[bytes, int]]:
        """Like :meth:`get` but None when missing."""
        with self.lock:
            self._now()
            return self._recs.get(key)

    def seize(self, key: bytes) -> tuple[bytes, int]:
        with self.lock:
            self._now()
            rec = self._drop(key)
            if rec is None:
                raise DBError(NOREC)
            self._log_remove(key)
            return rec

    # -- bulk ----------------------------------------------------------------------------------
    def set_bulk(self, records: Iterable[tuple[bytes, bytes]], xt: int = XT_NONE) -> int:
        with self.lock:
            now = self._now()
            n = 0
            for key, value in records:
                self._store(key, value, xt, now)
                n += 1
            return n

    def remove_bulk(self, keys: Iterable[bytes]) -> int:
        with self.lock:
            self._now()
            n = 0
            for key in keys:
                self._log_remove(key)  # logged hit or miss, as remove
                if self._drop(key) is not None:
                    n += 1
            return n

    def get_bulk(self, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        with self.lock:
            self._now()
            out = {}
            for key in keys:
                rec = self._recs.get(key)
                if rec is not None:
                    out[key] = rec[0]
            return out

    # -- matching ------------------------------------------------------------------------------
    def match_prefix(self, prefix: bytes, max_: int = -1) -> list[bytes]:
        with self.lock:
            self._now()
            limit = max_ if max_ >= 0 else _INT64_MAX
            if self.ordered:
                i = bisect_left(self._keys, prefix)
                out: list[bytes] = []
                while i < len(self._keys) and len(out) < limit and self._keys[i].startswith(prefix):
                    out.append(self._keys[i])
                    i += 1
                return out
            return _take((k for k in self._recs if k.startswith(prefix)), limit)

    def match_regex(self, regex: bytes, max_: int = -1) -> list[bytes]:
        # ktserver hands the pattern and each key to the C regex library as C strings: both end at a NUL.
        try:
            pattern = re.compile(regex.split(b"\0", 1)[0])
        except (re.error, OverflowError, RecursionError):
            raise DBError(LOGIC, "compilation failed") from None
        with self.lock:
            limit = max_ if max_ >= 0 else _INT64_MAX
            return _take((k for k in self.keys() if pattern.search(k.split(b"\0", 1)[0])), limit)

    def match_similar(self, origin: bytes, range_: int = 1, utf: bool = False, max_: int = -1) -> list[bytes]:
        """Keys within edit distance ``range_`` of ``origin``, nearest first (ties by key)."""
        limit = max_ if max_ >= 0 else _INT64_MAX
        # ktserver reads the origin as a C string (it ends at a NUL); keys are compared whole.
        origin = origin.split(b"\0", 1)[0]
        if utf:
            seq_origin: object = origin.decode("utf-8", "replace")
        else:
            seq_origin = origin
        hits = []
        for key in self.keys():
            seq = key.decode("utf-8", "replace") if utf else key
            dist = _levenshtein(seq_origin, seq, range_)
            if dist <= range_:
                hits.append((dist, key))
        hits.sort()
        return [k for _, k in hits[:limit]] if limit < len(hits) else [k for _, k in hits]

    def cursor(self) -> KtCursor:
        return KtCursor(self)


def _wrap64(n: int) -> int:
    return ((n + (1 << 63)) % (1 << 64)) - (1 << 63)


def _take(it: Iterator[bytes], limit: int) -> list[bytes]:
    out: list[bytes] = []
    for key in it:
        if len(out) >= limit:
            break
        out.append(key)
    return out


def _levenshtein(a: object, b: object, bound: int) -> int:
    la, lb = len(a), len(b)  # type: ignore[arg-type]
    if abs(la - lb) > bound:
        return bound + 1
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        ca = a[i - 1]  # type: ignore[index]
        for j in range(1, lb + 1):
            cost = 0 if ca == b[j - 1] else 1  # type: ignore[index]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[lb]


class KtCursor:
    """A cursor on one database (ktserver keeps them per connection, by the client's CUR id).

    The cursor remembers the key it stands on. On an ordered database, if that record is removed
    by someone else, the cursor moves on to the next key (as a B+ tree cursor does).
    """

    def __init__(self, db: KtDatabase) -> None:
        self.db = db
        self.key: Optional[bytes] = None
        # After jump_back/step_back, a ``step`` flag on get/set_value moves backward (as in ktserver).
        self.back = False

    def _current(self) -> bytes:
        """The key under the cursor (lock held); NOREC when the cursor is not on a record."""
        db = self.db
        db._now()
        key = self.key
        if key is None:
            raise DBError(NOREC)
        if key in db._recs:
            return key
        if db.ordered:
            i = bisect_left(db._keys, key)
            if i < len(db._keys):
                self.key = db._keys[i]
                return self.key
        self.key = None
        raise DBError(NOREC)

    def _advance(self, key: bytes) -> None:
        """Move from ``key`` to the next record (None past the end)."""
        db = self.db
        if self.back and db.ordered:
            i = bisect_left(db._keys, key)
            self.key = db._keys[i - 1] if i > 0 else None
        elif db.ordered:
            i = bisect_right(db._keys, key)
            self.key = db._keys[i] if i < len(db._keys) else None
        else:
            self.key = db._next_unordered(key)

    def jump(self, key: Optional[bytes] = None) -> None:
        db = self.db
        with db.lock:
            self.back = False
            db._now()
            if key is None:
                keys = db._key_list()
                self.key = keys[0] if keys else None
            elif db.ordered:
                i = bisect_left(db._keys, key)
                self.key = db._keys[i] if i < len(db._keys) else None
            else:
                self.key = key if key in db._recs else None
            if self.key is None:
                raise DBError(NOREC)

    def jump_back(self, key: Optional[bytes] = None) -> None:
        db = self.db
        with db.lock:
            if not db.ordered:
                self.key = None
                raise DBError(NOIMPL)
            self.back = True
            db._now()
            if key is None:
                self.key = db._keys[-1] if db._keys else None
            else:
                i = bisect_right(db._keys, key)
                self.key = db._keys[i - 1] if i > 0 else None
            if self.key is None:
                raise DBError(NOREC)

    def step(self) -> None:
        with self.db.lock:
            self.back = False
            self._advance(self._current())
            if self.key is None:
                raise DBError(NOREC)

    def step_back(self) -> None:
        db = self.db
        with db.lock:
            if not db.ordered:
                raise DBError(NOIMPL)
            key = self._current()
            self.back = True
            i = bisect_left(db._keys, key)
            self.key = db._keys[i - 1] if i > 0 else None
            if self.key is None:
                raise DBError(NOREC)

    def set_value(self, value: bytes, xt: int = XT_NONE, step: bool = False) -> None:
        db = self.db
        with db.lock:
            key = self._current()
            db._store(key, value, xt, db._now())
            if step:
                self._advance(key)

    def remove(self) -> None:
        db = self.db
        with db.lock:
            key = self._current()
            self._advance(key)
            db._log_remove(key)
            db._drop(key)

    def get_key(self, step: bool = False) -> bytes:
        with self.db.lock:
            key = self._current()
            if step:
                self._advance(key)
            return key

    def get_value(self, step: bool = False) -> bytes:
        with self.db.lock:
            key = self._current()
            value = self.db._recs[key][0]
            if step:
                self._advance(key)
            return value

    def get(self, step: bool = False) -> tuple[bytes, bytes, int]:
        with self.db.lock:
            key = self._current()
            value, xt = self.db._recs[key]
            if step:
                self._advance(key)
            return key, value, xt

    def seize(self) -> tuple[bytes, bytes, int]:
        db = self.db
        with db.lock:
            key = self._current()
            value, xt = db._recs[key]
            self._advance(key)
            db._log_remove(key)
            db._drop(key)
            return key, value, xt


# ----------------------------------------------------------------------------- the update log

#: ktserver's default ``-ulim``: the size at which the update log moves on to its next file.
ULOG_LIMIT = 256 << 20

# TimedDB's update operations and messages: one definition, in the codec (the replication consumer reads them).
USET, UREMOVE, UCLEAR = kyoto_repl.USET, kyoto_repl.UREMOVE, kyoto_repl.UCLEAR
_uset_message = kyoto_repl.encode_uset
_uremove_message = kyoto_repl.encode_uremove

# kt::UpdateLogger's file layout: a head (magic, file size, newest time stamp), then records
# (magic, time stamp, message size, message, end magic), all numbers big-endian.
_ULOG_HEAD = struct.Struct(">BQQ")
_ULOG_RECORD = struct.Struct(">BQI")
_ULOG_META, _ULOG_BEGIN, _ULOG_END = 0xA0, 0xA1, 0xA2
_ULOG_CACHE_MAX = 65536  # a write past this many cached bytes flushes at once
_ULOG_FLUSH_WAIT = 0.1  # otherwise the flusher writes the cache every 0.1 s
_TS_LOGIC = 1000 * 1000  # time stamps: milliseconds * 10**6 + a counter within the millisecond


class UpdateLog:
    """ktserver's update log (``-ulog DIR``): the files ``DIR/0000000001.ulog``, ``...2.ulog`` as
    kt::UpdateLogger 0.9.56 writes them, so ``ulog_list``/``ulog_remove`` answer from real files.

    Each file is a 17-byte head (0xA0, the file's size and its newest time stamp, 8 bytes each) and
    one record per message (0xA1, time stamp 8 bytes, size 4 bytes, the message, 0xA2). Messages are
    cached and written by a flusher every 0.1 s, or at once past 64 KiB; a flush that finds the
    current file at ``limit`` bytes or more starts the next file. A time stamp is the wall clock in
    milliseconds times 10**6 plus a counter within the millisecond. An existing directory is
    continued: its highest-numbered file, time stamps after its newest.

    :meth:`reader` reads the records back, as ktserver's replication master does.
    """

    def __init__(self, path: str, limit: int = ULOG_LIMIT) -> None:
        path = path.rstrip("/") or path
        if os.path.exists(path):
            if not os.path.isdir(path):
                raise ValueError(f"could not open the update log: {path}")
        else:
            try:
                os.mkdir(path)
            except OSError:
                raise ValueError(f"could not open the update log: {path}") from None
        self.path = path
        self.limit = limit if limit > 0 else (1 << 63) - 1
        ids = [int(name[:10]) for name in os.listdir(path) if _is_ulog_name(name)]
        self._id = max([i for i in ids if i > 0], default=1)
        self._lock = threading.Lock()
        self._cache: list[tuple[int, bytes]] = []
        self._csize = 0
        self._cts = 0  # the newest time stamp written or cached
        self._tswall = 0
        self._tslogic = 0
        try:
            self._fd = os.open(self._file_path(self._id), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            raise ValueError(f"could not open the update log: {path}") from None
        try:
            if os.fstat(self._fd).st_size < 1:
                self._write_head()
            self._tswall = self._validate_head() // _TS_LOGIC + 1
        except (OSError, ValueError):
            os.close(self._fd)
            raise ValueError(f"could not open the update log: {path}") from None
        self._closed = False
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="ktserver-standin-ulog", daemon=True)
        self._flusher.start()

    def _file_path(self, file_id: int) -> str:
        return f"{self.path}/{file_id:010d}.ulog"

    def _write_head(self) -> None:
        size = max(os.fstat(self._fd).st_size, _ULOG_HEAD.size)
        os.pwrite(self._fd, _ULOG_HEAD.pack(_ULOG_META, size, self._cts), 0)

    def _validate_head(self) -> int:
        """The head's newest time stamp; a file longer than its head says is cut back to it."""
        fd = self._fd
        size = os.fstat(fd).st_size
        head = os.pread(fd, _ULOG_HEAD.size, 0)
        if len(head) < _ULOG_HEAD.size:
            raise ValueError(f"could not open the update log: {self.path}")
        magic, fsize, fts = _ULOG_HEAD.unpack(head)
        if magic != _ULOG_META or size < fsize or fsize < _ULOG_HEAD.size:
            raise ValueError(f"could not open the update log: {self.path}")
        if size > fsize:
            os.ftruncate(fd, fsize)
        return int(fts)

    def _clock(self) -> int:
        ct = int(time.time() * 1000)
        if ct > self._tswall:
            self._tswall, self._tslogic = ct, 0
        else:
            self._tslogic += 1
        return self._tswall * _TS_LOGIC + self._tslogic

    @staticmethod
    def clock_pure() -> int:
        """The current time as a time stamp with no counter (ktserver's ``ulog_remove ts=now``)."""
        return int(time.time() * 1000) * _TS_LOGIC

    def write(self, message: bytes) -> None:
        """Log one message (time-stamped now; on disk within 0.1 s)."""
        with self._lock:
            ts = self._clock()
            self._cache.append((ts, message))
            self._csize += _ULOG_RECORD.size + len(message) + 1
            if ts > self._cts:
                self._cts = ts
            if self._csize > _ULOG_CACHE_MAX:
                self._flush()

    def flush(self) -> None:
        with self._lock:
            if self._cache:
                self._flush()

    def _flush(self) -> None:
        if self._closed:
            return
        if os.fstat(self._fd).st_size >= self.limit:
            os.close(self._fd)
            self._id += 1
            self._fd = os.open(self._file_path(self._id), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            self._write_head()
        end = bytes((_ULOG_END,))
        records = b"".join(b"".join((_ULOG_RECORD.pack(_ULOG_BEGIN, ts, len(msg)), msg, end))
                           for ts, msg in self._cache)
        self._cache.clear()
        self._csize = 0
        os.pwrite(self._fd, records, os.fstat(self._fd).st_size)
        self._write_head()

    def _flush_loop(self) -> None:
        while not self._stop.wait(_ULOG_FLUSH_WAIT):
            try:
                self.flush()
            except (OSError, ValueError):
                pass  # a closed file at shutdown, or a full disk: the next flush tries again

    def list_files(self) -> list[tuple[str, int, int]]:
        """``(path, size, newest time stamp)`` of every file in the directory with an update log head,
        by name (the size and time stamp are the head's)."""
        files = []
        try:
            names = sorted(os.listdir(self.path))
        except OSError:
            return []
        for name in names:
            path = f"{self.path}/{name}"
            try:
                with open(path, "rb") as f:
                    head = f.read(_ULOG_HEAD.size)
            except OSError:
                continue
            if len(head) == _ULOG_HEAD.size and head[0] == _ULOG_META:
                _, size, ts = _ULOG_HEAD.unpack(head)
                files.append((path, int(size), int(ts)))
        return files

    def remove_files(self, ts: int) -> list[str]:
        """Remove every file whose newest time stamp is ``ts`` or older, except the last one listed;
        returns the paths that could not be removed."""
        failed = []
        for path, _, fts in self.list_files()[:-1]:
            if fts <= ts:
                try:
                    os.remove(path)
                except OSError:
                    failed.append(path)
        return failed

    def reader(self, ts: int) -> UpdateLogReader:
        """A reader of the records newer than ``ts``, from the files on disk (kt::UpdateLogger::Reader)."""
        return UpdateLogReader(self, ts)

    def close(self) -> None:
        self._stop.set()
        if self._flusher is not threading.current_thread():
            self._flusher.join(2)
        with self._lock:
            if self._closed:
                return
            try:
                if self._cache:
                    self._flush()
            finally:
                self._closed = True
                os.close(self._fd)


class UpdateLogReader:
    """Reads an :class:`UpdateLog`'s files in order: :meth:`read` gives ``(ts, message)`` of the next
    record newer than the start time stamp, or None when every flushed record was read (call again
    later). It starts in the oldest file whose newest time stamp is past ``ts`` (the last file when
    none is), and reads a file only up to the size its head records (the head is written after the
    records, so no record is seen half written); at the end of a file it moves on to the next one
    once that exists. A file removed meanwhile stays readable while it is open (POSIX)."""

    def __init__(self, ulog: UpdateLog, ts: int) -> None:
        self.ulog = ulog
        self.ts = ts
        ids = self._ids()
        start = ids[-1] if ids else 1
        for file_id in ids:
            head = self._head(self._path(file_id))
            if head is not None and head[1] > ts:
                start = file_id
                break
        self._id = start
        self._fd: Optional[int] = None
        self._off = _ULOG_HEAD.size
        self._buf = b""
        self._bufoff = _ULOG_HEAD.size

    def _path(self, file_id: int) -> str:
        return f"{self.ulog.path}/{file_id:010d}.ulog"

    def _ids(self) -> list[int]:
        try:
            return sorted(int(n[:10]) for n in os.listdir(self.ulog.path) if _is_ulog_name(n))
        except OSError:
            return []

    @staticmethod
    def _head(path: str) -> Optional[tuple[int, int]]:
        try:
            with open(path, "rb") as f:
                head = f.read(_ULOG_HEAD.size)
        except OSError:
            return None
        if len(head) < _ULOG_HEAD.size or head[0] != _ULOG_META:
            return None
        _, size, ts = _ULOG_HEAD.unpack(head)
        return int(size), int(ts)

    def _open(self) -> bool:
        if self._fd is None:
            try:
                self._fd = os.open(self._path(self._id), os.O_RDONLY)
            except OSError:
                return False
            self._off = self._bufoff = _ULOG_HEAD.size
            self._buf = b""
        return True

    def read(self) -> Optional[tuple[int, bytes]]:
        while True:
            rec = self._next()
            if rec is None:
                return None
            if rec[0] > self.ts:
                return rec

    def _next(self) -> Optional[tuple[int, bytes]]:
        while True:
            if not self._open():
                later = [i for i in self._ids() if i > self._id]
                if not later:
                    return None
                self._id = later[0]
                continue
            assert self._fd is not None
            rec = self._take()
            if rec is not None:
                return rec
            head = os.pread(self._fd, _ULOG_HEAD.size, 0)
            fsize = _ULOG_HEAD.unpack(head)[1] if len(head) == _ULOG_HEAD.size else 0
            if fsize > self._bufoff + len(self._buf):
                start = self._bufoff + len(self._buf)
                self._buf = self._buf[self._off - self._bufoff :] + os.pread(self._fd, fsize - start, start)
                self._bufoff = self._off
                continue
            if not any(i > self._id for i in self._ids()):
                return None  # the current file: more comes later
            # a later file exists: this one is finished (re-read its head once more, then move on)
            if _ULOG_HEAD.unpack(os.pread(self._fd, _ULOG_HEAD.size, 0))[1] > self._bufoff + len(self._buf):
                continue
            os.close(self._fd)
            self._fd = None
            self._id += 1

    def _take(self) -> Optional[tuple[int, bytes]]:
        """The next whole record in the buffer."""
        p = self._off - self._bufoff
        buf = self._buf
        if p + _ULOG_RECORD.size > len(buf):
            return None
        magic, ts, size = _ULOG_RECORD.unpack_from(buf, p)
        end = p + _ULOG_RECORD.size + size
        if magic != _ULOG_BEGIN or end + 1 > len(buf) or buf[end] != _ULOG_END:
            if end + 1 > len(buf) and magic == _ULOG_BEGIN:
                return None
            raise ValueError(f"broken update log record in {self._path(self._id)} at {self._off}")
        self._off = self._bufoff + end + 1
        return int(ts), buf[p + _ULOG_RECORD.size : end]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _is_ulog_name(name: str) -> bool:
    """kt::UpdateLogger's file names: ten digits and ``.ulog``."""
    return len(name) == 15 and name[:10].isdigit() and name[10:] == ".ulog"
