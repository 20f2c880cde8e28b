"""The Tokyo Tyrant stand-in's data model: hash, B+ tree and table databases, all in memory.

Each database mimics the Tokyo Cabinet engine ttserver puts behind its wire protocol (through
tcadb): ``*`` on-memory hash, ``+`` on-memory tree, ``x.tch`` hash "file", ``x.tcb`` B+ tree
"file" (duplicates allowed), ``x.tct`` table (columns, indexes, queries; see ``tt_table``).
Nothing is written to disk except by ``copy``.

One lock per database (``db.lock``, re-entrant): the stand-in holds it for every command. Tokyo
Tyrant has ONE iterator per database shared by every client, so the iterator lives here.
"""

from __future__ import annotations

import bisect
import math
import re
import struct
import threading
from typing import Any, Optional, Union

__all__ = ["Database", "HashDB", "TreeDB", "open_database", "tc_error_message", "TCESUCCESS", "TCEINVALID",
           "TCEKEEP", "TCENOREC", "TCEMISC"]

# Tokyo Cabinet error codes (tcutil.h) and the messages `misc error` reports.
TCESUCCESS = 0
TCEINVALID = 2
TCENOFILE = 3
TCEKEEP = 21
TCENOREC = 22
TCEMISC = 9999
_ERROR_MESSAGES = {
    0: "success", 1: "threading error", 2: "invalid operation", 3: "file not found", 4: "no permission",
    5: "invalid meta data", 6: "invalid record header", 7: "open error", 8: "close error", 9: "trunc error",
    10: "sync error", 11: "stat error", 12: "seek error", 13: "read error", 14: "write error",
    15: "mmap error", 16: "lock error", 17: "unlink error", 18: "rename error", 19: "mkdir error",
    20: "rmdir error", 21: "existing record", 22: "no record found", 9999: "miscellaneous error",
}

_LE_I32 = struct.Struct("<i")
_LE_DOUBLE = struct.Struct("<d")
# tcatof reads sign, digits and a fraction; no exponent (ttserver matches "-2.5e1" as -2.5).
_NUM_PREFIX = re.compile(rb"\s*([+-]?)([0-9]*\.?[0-9]*)")


def tc_error_message(code: int) -> str:
    return _ERROR_MESSAGES.get(code, "unknown error")


def tc_atoi(data: bytes) -> int:
    """tcatoi: the leading decimal integer of ``data`` (0 when none), as the C library parses it."""
    m = re.match(rb"\s*([+-]?[0-9]+)", data)
    return int(m.group(1)) if m else 0


def tc_atof(data: bytes) -> float:
    """tcatof: the leading number of ``data`` (0.0 when there is none), never raising."""
    m = _NUM_PREFIX.match(data)
    if not m or not m.group(2):
        return 0.0
    body = m.group(2)
    try:
        num = float(body)
    except ValueError:  # "." alone
        num = 0.0
    return -num if m.group(1) == b"-" else num


Result = tuple[int, list[bytes]]  # (reply code, list elements) of a misc function


class Database:
    """Common behaviour; subclasses implement the record store."""

    type_name = "?"
    file_based = False

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.ecode = TCESUCCESS
        self._iter: Optional[list[bytes]] = None  # hash iterator: snapshot of keys
        self._iter_pos = 0

    # -- record interface (every call is made with self.lock held) --------------------------
    def put(self, key: bytes, value: bytes) -> bool:
        raise NotImplementedError

    def putkeep(self, key: bytes, value: bytes) -> bool:
        if self.get(key) is not None:
            return self._fail(TCEKEEP)
        return self.put(key, value)

    def putcat(self, key: bytes, value: bytes) -> bool:
        old = self.get(key)
        return self.put(key, value if old is None else old + value)

    def putshl(self, key: bytes, value: bytes, width: int) -> bool:
        old = self.get(key) or b""
        joined = old + value
        # a width past the joined length keeps it all (a negative slice start would cut from the end)
        return self.put(key, joined[max(0, len(joined) - width):] if width > 0 else b"")

    def out(self, key: bytes) -> bool:
        raise NotImplementedError

    def get(self, key: bytes) -> Optional[bytes]:
        raise NotImplementedError

    def vsiz(self, key: bytes) -> Optional[int]:
        value = self.get(key)
        return None if value is None else len(value)

    def keys(self) -> list[bytes]:
        raise NotImplementedError

    def items(self) -> list[tuple[bytes, bytes]]:
        """Every (key, value) record in iteration order (duplicates of a B+ tree included)."""
        raise NotImplementedError

    def rnum(self) -> int:
        raise NotImplementedError

    def size(self) -> int:
        # The real number is the engine's own accounting; this is a plausible stand-in figure.
        return sum(len(k) + len(v) + 16 for k, v in self.items()) + 528384

    def vanish(self) -> bool:
        raise NotImplementedError

    def addint(self, key: bytes, num: int) -> Optional[int]:
        old = self.get(key)
        if old is not None:
            if len(old) != 4:
                self._fail(TCEKEEP)
                return None
            num = (_LE_I32.unpack(old)[0] + num + 2**31) % 2**32 - 2**31
        self._put_number(key, _LE_I32.pack(num))
        return num

    def adddouble(self, key: bytes, num: float) -> Optional[float]:
        old = self.get(key)
        if old is not None:
            if len(old) != 8:
                self._fail(TCEKEEP)
                return None
            num = _LE_DOUBLE.unpack(old)[0] + num
        self._put_number(key, _LE_DOUBLE.pack(num))
        return num

    def _put_number(self, key: bytes, value: bytes) -> None:
        self.put(key, value)

    def fwmkeys(self, prefix: bytes, max_keys: int) -> list[bytes]:
        out: list[bytes] = []
        for key in self.keys():
            if max_keys >= 0 and len(out) >= max_keys:
                break
            if key.startswith(prefix):
                out.append(key)
        return out

    # -- the shared iterator --------------------------------------------------------------
    def iterinit(self, start: Optional[bytes] = None) -> bool:
        keys = self.keys()
        if start is not None:
            if start not in keys:
                return self._fail(TCENOREC)
            keys = keys[keys.index(start):]
        self._iter = keys
        self._iter_pos = 0
        return True

    def iternext(self) -> Optional[tuple[bytes, bytes]]:
        if self._iter is None:
            self._fail(TCENOREC)
            return None
        while self._iter_pos < len(self._iter):
            key = self._iter[self._iter_pos]
            self._iter_pos += 1
            value = self.get(key)
            if value is not None:
                return key, value
        self._fail(TCENOREC)
        return None

    # -- helpers -------------------------------------------------------------------------
    def _fail(self, code: int) -> bool:
        self.ecode = code
        return False

    def dump(self) -> bytes:
        """What ``copy`` writes: the records as (ksiz, vsiz, key, value) big-endian frames.

        Not a Tokyo Cabinet file; a stand-in backup only it can read back (see ``load``).
        """
        parts = [b"KTSTANDIN-TT\n"]
        for k, v in self.items():
            parts.append(struct.pack(">II", len(k), len(v)) + k + v)
        return b"".join(parts)

    # -- misc functions ------------------------------------------------------------------
    def misc(self, name: str, args: list[bytes]) -> Result:
        handler = getattr(self, "misc_" + name, None)
        if handler is None:
            return 1, []
        try:
            return handler(args)
        except (IndexError, ValueError, re.error):
            self.ecode = TCEINVALID
            return 1, []

    def misc_put(self, args: list[bytes]) -> Result:
        return (0 if self.put(args[0], args[1]) else 1), []

    def misc_putkeep(self, args: list[bytes]) -> Result:
        return (0 if self.putkeep(args[0], args[1]) else 1), []

    def misc_putcat(self, args: list[bytes]) -> Result:
        return (0 if self.putcat(args[0], args[1]) else 1), []

    def misc_out(self, args: list[bytes]) -> Result:
        return (0 if self.out(args[0]) else 1), []

    def misc_get(self, args: list[bytes]) -> Result:
        value = self.get(args[0])
        if value is None:
            self._fail(TCENOREC)
            return 1, []
        return 0, [value]

    def misc_putlist(self, args: list[bytes]) -> Result:
        ok = True
        for i in range(0, len(args) - 1, 2):
            ok = self._putlist_one(args[i], args[i + 1]) and ok
        return (0 if ok else 1), []

    def _putlist_one(self, key: bytes, value: bytes) -> bool:
        return self.put(key, value)

    def misc_outlist(self, args: list[bytes]) -> Result:
        # ttserver ignores missing keys here: the code stays 0 (vector misc_outlist).
        for key in args:
            self._outlist_one(key)
        return 0, []

    def _outlist_one(self, key: bytes) -> None:
        self.out(key)

    def misc_getlist(self, args: list[bytes]) -> Result:
        out: list[bytes] = []
        for key in args:
            for value in self._getlist_values(key):
                out += [key, value]
        return 0, out

    def _getlist_values(self, key: bytes) -> list[bytes]:
        value = self.get(key)
        return [] if value is None else [value]

    def misc_getpart(self, args: list[bytes]) -> Result:
        value = self.get(args[0])
        if value is None:
            self._fail(TCENOREC)
            return 1, []
        off = max(tc_atoi(args[1]), 0) if len(args) > 1 else 0
        length = tc_atoi(args[2]) if len(args) > 2 else -1
        if off >= len(value):
            self._fail(TCENOREC)
            return 1, []
        part = value[off:] if length < 0 else value[off:off + length]
        return 0, [part]

    def misc_iterinit(self, args: list[bytes]) -> Result:
        return (0 if self.iterinit(args[0] if args else None) else 1), []

    def misc_iternext(self, args: list[bytes]) -> Result:
        rec = self.iternext()
        if rec is None:
            return 1, []
        return 0, [rec[0], rec[1]]

    def misc_sync(self, args: list[bytes]) -> Result:
        return 0, []

    def misc_optimize(self, args: list[bytes]) -> Result:
        return 0, []

    def misc_defrag(self, args: list[bytes]) -> Result:
        # tcadb has defrag and cacheclear for the file databases only: on `*` and `+` they are unknown
        # functions, code 1 (checked on ttserver 1.1.41).
        return (0 if self.file_based else 1), []

    def misc_cacheclear(self, args: list[bytes]) -> Result:
        return (0 if self.file_based else 1), []

    def misc_vanish(self, args: list[bytes]) -> Result:
        return (0 if self.vanish() else 1), []

    def misc_error(self, args: list[bytes]) -> Result:
        if not self.file_based:  # tcadb has no error function for the on-memory databases
            return 1, []
        return 0, [f"{self.ecode}: {tc_error_message(self.ecode)}".encode()]

    def misc_regex(self, args: list[bytes]) -> Result:
        pattern = _compile_regex(args[0])
        max_recs = tc_atoi(args[1]) if len(args) > 1 else 0
        out: list[bytes] = []
        count = 0
        for key, value in self.items():
            if max_recs > 0 and count >= max_recs:
                break
            if pattern.search(key):
                out += [key, value]
                count += 1
        return 0, out


def _compile_regex(expr: bytes) -> re.Pattern[bytes]:
    """tcregexmatch: a leading ``*`` makes the POSIX extended regex case-insensitive."""
    flags = 0
    if expr.startswith(b"*"):
        flags = re.IGNORECASE
        expr = expr[1:]
    return re.compile(expr, flags)


# The on-memory hash `*` keeps its records in this many partitions, each in insertion order; it iterates
# (iterinit/iternext, fwmkeys, ...) partition after partition. A key's partition is a byte hash of it
# reduced modulo 8, which comes down to 3 plus the sum of its bytes.
_MEMORY_HASH_PARTITIONS = 8


def _memory_hash_partition(key: bytes) -> int:
    return (3 + sum(key)) % _MEMORY_HASH_PARTITIONS


class HashDB(Database):
    """``*`` (on-memory hash) or ``x.tch`` (hash database file).

    ``*`` iterates in insertion order within each of its partitions (see ``_memory_hash_partition``), as
    ttserver does. The file iterates in insertion order, which is ttserver's order only until a record
    is removed or grows (ttserver then reorders them).
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.file_based = path != "*"
        self.type_name = "hash" if self.file_based else "on-memory hash"
        self._data: dict[bytes, bytes] = {}

    def put(self, key: bytes, value: bytes) -> bool:
        self._data[key] = value
        return True

    def out(self, key: bytes) -> bool:
        if self._data.pop(key, None) is None:
            return self._fail(TCENOREC)
        return True

    def get(self, key: bytes) -> Optional[bytes]:
        value = self._data.get(key)
        if value is None:
            self.ecode = TCENOREC
        return value

    def keys(self) -> list[bytes]:
        if self.file_based:
            return list(self._data)
        parts: list[list[bytes]] = [[] for _ in range(_MEMORY_HASH_PARTITIONS)]
        for key in self._data:  # dict order is insertion order, so each partition keeps it
            parts[_memory_hash_partition(key)].append(key)
        return [key for part in parts for key in part]

    def items(self) -> list[tuple[bytes, bytes]]:
        if self.file_based:
            return list(self._data.items())
        data = self._data
        return [(key, data[key]) for key in self.keys()]

    def rnum(self) -> int:
        return len(self._data)

    def vanish(self) -> bool:
        self._data.clear()
        self._iter = None
        return True

    def iterinit(self, start: Optional[bytes] = None) -> bool:
        if start is not None and not self.file_based and start not in self._data:
            # tcmdbiterinit2 (the `*` database) ignores a missing key: the iterator stays where it was and
            # misc iterinit still answers code 0 (checked on ttserver 1.1.41). The .tch file fails instead.
            return True
        return super().iterinit(start)


class TreeDB(Database):
    """``+`` (on-memory tree) or ``x.tcb`` (B+ tree file, the only one taking duplicates)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.file_based = path != "+"
        self.type_name = "B+ tree" if self.file_based else "on-memory tree"
        self._keys: list[bytes] = []  # sorted
        self._values: dict[bytes, list[bytes]] = {}
        self._cursor: Optional[tuple[bytes, int]] = None  # next record to return: (key, dup index)

    # records
    def _insert_key(self, key: bytes) -> None:
        bisect.insort(self._keys, key)

    def put(self, key: bytes, value: bytes) -> bool:
        values = self._values.get(key)
        if values is None:
            self._values[key] = [value]
            self._insert_key(key)
        else:
            values[0] = value  # tcbdbput overwrites the first of the duplicates
        return True

    def putdup(self, key: bytes, value: bytes, back: bool = False) -> bool:
        values = self._values.get(key)
        if values is None:
            self._values[key] = [value]
            self._insert_key(key)
        elif back:
            values.insert(0, value)
        else:
            values.append(value)
        return True

    def out(self, key: bytes) -> bool:
        values = self._values.get(key)
        if values is None:
            return self._fail(TCENOREC)
        del values[0]  # the first duplicate only
        if not values:
            self._drop_key(key)
        return True

    def out_all(self, key: bytes) -> bool:
        if key not in self._values:
            return self._fail(TCENOREC)
        self._drop_key(key)
        return True

    def _drop_key(self, key: bytes) -> None:
        del self._values[key]
        i = bisect.bisect_left(self._keys, key)
        del self._keys[i]

    def get(self, key: bytes) -> Optional[bytes]:
        values = self._values.get(key)
        if values is None:
            self.ecode = TCENOREC
            return None
        return values[0]

    def get_all(self, key: bytes) -> list[bytes]:
        return list(self._values.get(key, ()))

    def keys(self) -> list[bytes]:
        return list(self._keys)

    def items(self) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k in self._keys for v in self._values[k]]

    def rnum(self) -> int:
        return sum(len(v) for v in self._values.values())

    def vanish(self) -> bool:
        self._keys.clear()
        self._values.clear()
        self._cursor = None
        return True

    def fwmkeys(self, prefix: bytes, max_keys: int) -> list[bytes]:
        out: list[bytes] = []
        i = bisect.bisect_left(self._keys, prefix)
        while i < len(self._keys) and self._keys[i].startswith(prefix):
            if max_keys >= 0 and len(out) >= max_keys:
                break
            out.append(self._keys[i])
            i += 1
        return out

    # the iterator is a cursor: it survives inserts and removals around it
    def iterinit(self, start: Optional[bytes] = None) -> bool:
        i = bisect.bisect_left(self._keys, start if start is not None else b"")
        if i >= len(self._keys):
            self._cursor = None
            if start is not None and self.file_based:
                # tcbdbcurjump past the last key fails; the `+` tree's tctreeiterinit2 just leaves nothing
                # to iterate, code 0 (checked on ttserver 1.1.41).
                return self._fail(TCENOREC)
            self._iter = []
            return True
        self._cursor = (self._keys[i], 0)
        self._iter = []
        return True

    def iternext(self) -> Optional[tuple[bytes, bytes]]:
        if self._cursor is None:
            self._fail(TCENOREC)
            return None
        key, idx = self._cursor
        values = self._values.get(key)
        if values is None or idx >= len(values):
            i = bisect.bisect_right(self._keys, key)
            if i >= len(self._keys):
                self._cursor = None
                self._fail(TCENOREC)
                return None
            key, idx = self._keys[i], 0
            values = self._values[key]
        self._cursor = (key, idx + 1)
        return key, values[idx]

    # misc functions that differ on a tree
    def misc_putdup(self, args: list[bytes]) -> Result:
        if not self.file_based:  # tcndb (the `+` tree) has no duplicates
            return 1, []
        return (0 if self.putdup(args[0], args[1]) else 1), []

    def misc_putdupback(self, args: list[bytes]) -> Result:
        if not self.file_based:
            return 1, []
        return (0 if self.putdup(args[0], args[1], back=True) else 1), []

    def misc_get(self, args: list[bytes]) -> Result:
        values = self.get_all(args[0])
        if not values:
            self._fail(TCENOREC)
            return 1, []
        return 0, values

    def _putlist_one(self, key: bytes, value: bytes) -> bool:
        if self.file_based:  # the B+ tree file adds duplicates (vector btree_putlist_dups)
            return self.putdup(key, value)
        return self.put(key, value)

    def _outlist_one(self, key: bytes) -> None:
        self.out_all(key)

    def _getlist_values(self, key: bytes) -> list[bytes]:
        return self.get_all(key)

    def misc_range(self, args: list[bytes]) -> Result:
        begin = args[0] if args else None
        max_recs = tc_atoi(args[1]) if len(args) > 1 else -1
        end = args[2] if len(args) > 2 else None
        i = 0 if begin is None else bisect.bisect_left(self._keys, begin)
        out: list[bytes] = []
        count = 0
        while i < len(self._keys):
            key = self._keys[i]
            if end is not None and key >= end:
                break
            for value in self._values[key]:
                if max_recs > 0 and count >= max_recs:
                    return 0, out
                out += [key, value]
                count += 1
            i += 1
        return 0, out


def open_database(spec: str) -> Database:
    """A database for a ttserver DB argument: ``*``, ``+``, or a name ending .tch/.tcb/.tct.

    Tuning parameters after ``#`` are accepted and ignored.
    """
    path = spec.split("#", 1)[0]
    if path == "*":
        return HashDB("*")
    if path == "+":
        return TreeDB("+")
    lower = path.lower()
    if lower.endswith(".tct"):
        from .tt_table import TableDB

        return TableDB(path)
    if lower.endswith(".tcb"):
        return TreeDB(path)
    if lower.endswith(".tch"):
        return HashDB(path)
    raise ValueError(f"unsupported database {spec!r}: use *, +, or a name ending .tch, .tcb or .tct")


Number = Union[int, float]


def number_text(num: Any) -> bytes:
    """A number as the C library prints it into a table column (``%d`` / ``%f``-ish)."""
    if isinstance(num, float):
        if math.isfinite(num) and num == int(num):
            return str(int(num)).encode()
        return repr(num).encode()
    return str(num).encode()
