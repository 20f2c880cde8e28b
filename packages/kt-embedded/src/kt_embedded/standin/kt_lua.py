"""Lua scripts for the Kyoto Tycoon stand-in (``-scr FILE.lua``): ktserver 0.9.56's scripting API in lupa's Lua 5.1.

The script runs in a Lua 5.1 state from `lupa <https://pypi.org/project/lupa/>`_ (``lupa.lua51``, the
version ktserver links), an optional extra: ``pip install 'kt-embedded[lua]'``. Without it, loading a
``.lua`` file raises :class:`LuaUnavailableError` naming the extra.

The global ``__kyototycoon__`` is set up as ktserver sets it up: the RV* codes, ``VERSION``,
``thid``, ``db`` and ``dbs``, the module functions, and the ``Error``, ``Visitor``, ``FileProcessor``,
``Cursor`` and ``DB`` classes. The database methods work on the stand-in's own databases
(:class:`~.kt_db.KtDatabase`), never through a client. A procedure is called as ktserver calls it:
``fn(inmap, outmap)``; its return value is the RV code (``lua_tointeger`` of it: nothing, a string
that is no number, or ``true`` mean RVSUCCESS), the outmap keeps string, number and boolean keys and
values (numbers as ``%lld`` when integral, else ``%f``), and a Lua error is RVEINTERNAL, logged as
``[SCRIPT]: name: message``. What ktserver gets wrong is kept where a script can see it (for instance
``cursor:set_value`` swaps its ``xt`` and ``step`` arguments, as ktserver 0.9.56 does).

What the stand-in does not run (``db:mapreduce``, ``db:copy``, ``db:dump_snapshot``,
``db:load_snapshot``, ``db:open``, ``db:close``, ``DB:new``, ``DB:new_ptr``, ``DB:delete_ptr``,
``DB:process``, and ``os.exit``/``debug.sethook``, which would take the stand-in down or its limits
off) fails the call, naming itself: an error no ``pcall`` in the script can catch, so no script
silently does less.

Each call is bounded, so a runaway script fails that call only and the server keeps answering:

- time: a count hook every :data:`HOOK_COUNT` VM instructions checks the call's deadline
  (``time_limit`` seconds, default :data:`DEFAULT_TIME_LIMIT`); ``kt.sleep`` stops at it too. Once
  past it, the call fails and nothing in the script (``pcall``, ``xpcall``, coroutines, visitors)
  can catch that.
- memory: the Lua state's allocator refuses to grow past ``memory_limit`` bytes (default
  :data:`DEFAULT_MEMORY_LIMIT`), which covers everything the state holds: the script's globals, the
  call's inmap and what it builds. A refused allocation is Lua's ``not enough memory`` error; data the
  stand-in would hand the script past the limit fails the call.

Differences from ktserver that remain: one Lua state serves every connection (ktserver has one per
worker thread, so there globals are per thread), calls run one at a time, ``size`` and ``status``
report the stand-in's estimates, regular expressions are Python's ``re`` (ktserver: POSIX extended),
a script that fails while loading stops the stand-in from starting (ktserver logs it and runs without
the procedures), and a transaction a call leaves open is aborted and fails that call (ktserver
keeps it open, and the next ``begin_transaction`` waits for it forever).
"""

from __future__ import annotations

import math
import re
import struct
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, Callable, Optional

from .kt_db import XT_NONE, XTMAX, DBError, KtCursor, KtDatabase

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "DEFAULT_TIME_LIMIT",
    "HOOK_COUNT",
    "LuaScripts",
    "LuaUnavailableError",
    "KtLuaRuntime",
    "UNSUPPORTED",
]

#: Seconds a call may run (the whole procedure, including what it waits for in ``kt.sleep``).
DEFAULT_TIME_LIMIT = 10.0
#: Bytes the Lua state may hold (the script's globals, the inmap, what a call builds).
DEFAULT_MEMORY_LIMIT = 256 << 20
#: VM instructions between two checks of the deadline.
HOOK_COUNT = 1000

# Room above the limit for the stand-in's own work at the edge of it (error messages, the outmap check).
_MARGIN = 4 << 20

KT_VERSION = "0.9.56"
# The prefix of the messages the stand-in fails a call with (time, memory, an unsupported function).
MARKER = "[kt-embedded stand-in] "

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_U32, _U64 = (1 << 32) - 1, (1 << 64) - 1

#: What fails the call on the stand-in, naming itself.
UNSUPPORTED: Sequence[str] = ("db:mapreduce", "db:copy", "db:dump_snapshot", "db:load_snapshot", "db:open",
                              "db:close", "DB:new", "DB:new_ptr", "DB:delete_ptr", "DB:process", "os.exit",
                              "debug.sethook")


class LuaUnavailableError(ImportError):
    """lupa (the Lua runtime the stand-in runs ``.lua`` scripts in) is not installed."""


def _lupa() -> Any:
    try:
        import lupa.lua51 as lua51
    except ImportError as exc:
        raise LuaUnavailableError(
            "running Lua scripts (-scr FILE.lua) in the Kyoto Tycoon stand-in needs lupa, which is not installed; "
            "install it with: pip install 'kt-embedded[lua]'", name="lupa") from exc
    return lua51


class _Abort(Exception):
    """Raised into the script to fail the call (its message starts with MARKER)."""


class LuaScripts:
    """A Lua script file for the stand-in's ``-scr``, not yet bound to a server.

    The file is read and compiled here (a syntax error is a ValueError); it runs when
    :class:`~.kyoto.KyotoTycoonStandin` binds it to its databases (:meth:`bind`).
    """

    def __init__(self, path: str, *, time_limit: float = DEFAULT_TIME_LIMIT,
                 memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        lua51 = _lupa()
        if time_limit <= 0 or memory_limit <= 0:
            raise ValueError("the Lua time and memory limits must be positive")
        self.path = path
        self.time_limit = float(time_limit)
        self.memory_limit = int(memory_limit)
        with open(path, "rb") as f:
            self.source = f.read()
        try:
            lua51.LuaRuntime(encoding=None).compile(self.source, name=self.source)
        except lua51.LuaSyntaxError as exc:
            raise ValueError(f"{path}: {_first_line(exc)}") from None

    def bind(self, databases: Sequence[KtDatabase], log: Callable[[str, str], None]) -> KtLuaRuntime:
        """A Lua state for a server with these databases (``log(kind, message)`` is its log); runs the file."""
        return KtLuaRuntime(self, databases, log)

    def __repr__(self) -> str:
        return f"<LuaScripts {self.path!r}>"


def _first_line(exc: BaseException) -> str:
    """A Lua error's message without lupa's traceback (lupa gives it as bytes with no encoding set)."""
    arg = exc.args[0] if len(exc.args) == 1 else exc
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return text.split("\nstack traceback:", 1)[0].strip()


class KtLuaRuntime:
    """The Lua state of one stand-in: the script file run in it, and :meth:`call` for each play_script."""

    def __init__(self, scripts: LuaScripts, databases: Sequence[KtDatabase], log: Callable[[str, str], None]) -> None:
        lua51 = _lupa()
        self._lua51 = lua51
        self.path = scripts.path
        self.time_limit = scripts.time_limit
        self.memory_limit = scripts.memory_limit
        self.databases = list(databases)
        self._log = log
        self._lock = threading.Lock()
        self._deadline = math.inf
        self._abort: Optional[str] = None
        self._staged: list[Any] = []
        self._errors: dict[int, tuple[int, str]] = {}
        self._held: list[int] = []
        self._iters: dict[int, tuple[int, list[bytes]]] = {}
        self._cursors: dict[int, tuple[int, KtCursor]] = {}
        self._next_id = 1
        self._transactions: set[int] = set()
        rt = lua51.LuaRuntime(encoding=None, register_eval=False, register_builtins=False,
                              unpack_returned_tuples=True, max_memory=self.memory_limit + _MARGIN)
        self._rt = rt
        bridge = {name[3:].encode(): getattr(self, name) for name in dir(self) if name.startswith("_b_")}
        names: list[Any] = []
        for i, db in enumerate(self.databases):
            names.append(db.path.rsplit("/", 1)[-1].encode("utf-8", "surrogateescape"))
            names.append(i + 1)
        setup = rt.compile(_PRELUDE, name="=kt-embedded stand-in")
        self._dispatch, self._run = setup(rt.table_from(bridge), len(self.databases), rt.table_from(names),
                                          HOOK_COUNT, MARKER.encode(), KT_VERSION.encode())
        try:
            chunk = rt.compile(scripts.source, name=scripts.source)
        except lua51.LuaSyntaxError as exc:
            raise ValueError(f"{self.path}: {_first_line(exc)}") from None
        with self._lock:
            self._deadline = time.monotonic() + self.time_limit
            try:
                error = self._run(chunk)
            except lua51.LuaError as exc:
                error = _first_line(exc)
            finally:
                failed = self._end_call()
            if self._abort is not None:
                error = self._abort
            elif error is None and failed:
                error = failed
        if error is not None:
            raise ValueError(f"{self.path}: could not load the script: {_message(error)}")

    # -- calls ---------------------------------------------------------------------------------
    def call(self, name: str, inmap: Mapping[bytes, bytes]) -> tuple[int, dict[bytes, bytes]]:
        """Run procedure ``name``: ``(HTTP status, outmap)``, the status ktserver gives the procedure's RV."""
        lua51 = self._lua51
        bname = name.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]  # ktserver looks up a C string
        with self._lock:
            self._abort = None
            rt = self._rt
            rt.set_max_memory(self.memory_limit + _MARGIN)
            need = sum(len(k) + len(v) for k, v in inmap.items()) + 160 * len(inmap) + 4096
            if not self._room(need):
                self._log("ERROR", f"[SCRIPT]: {name}: {MARKER}the input does not fit in the memory limit "
                                   f"({_size(self.memory_limit)})")
                return 500, {}
            self._deadline = time.monotonic() + self.time_limit
            result: Any
            try:
                result = self._dispatch(bname, rt.table_from(dict(inmap)))
            except lua51.LuaError as exc:  # out of time or memory outside the procedure itself
                result = (b"error", _first_line(exc))
            if not isinstance(result, tuple):
                result = (result,)
            failed = self._end_call()
            if self._abort is not None:
                result = (b"error", self._abort)
            elif result[0] == b"ok" and failed:
                result = (b"error", failed)
            if result[0] == b"noimpl":
                return 501, {}
            if result[0] != b"ok":
                self._log("ERROR", f"[SCRIPT]: {name}: {_message(result[1])}")
                rt.gccollect()
                return 500, {}
            out = {_text(k): _text(v) for k, v in result[1].items()}
            code = ((_c_int64(result[2]) + (1 << 31)) & _U32) - (1 << 31)  # lua_tointeger stored in an enum (int)
            return _STATUS.get(code, 500), out

    def _end_call(self) -> Optional[str]:
        """After a call: release what the script still holds; a message if it left a transaction open."""
        self._deadline = math.inf
        self._staged = []
        self._iters.clear()
        while self._held:
            self.databases[self._held.pop()].lock.release()
        failed = None
        for idx in sorted(self._transactions):
            db = self.databases[idx]
            if db.in_transaction:
                db.end_transaction(False)
                failed = (f"{MARKER}the script left a transaction open on database {idx}; the stand-in aborted it "
                          "(ktserver keeps it open, and its next begin_transaction waits forever)")
        self._transactions.clear()
        self._rt.set_max_memory(self.memory_limit + _MARGIN)
        return failed

    # -- limits --------------------------------------------------------------------------------
    def _room(self, need: int) -> bool:
        rt = self._rt
        if rt.get_memory_used() + need <= self.memory_limit:
            return True
        rt.gccollect()
        return bool(rt.get_memory_used() + need <= self.memory_limit)

    def _fail(self, message: str) -> _Abort:
        if self._abort is None:
            self._abort = MARKER + message
        return _Abort(self._abort)

    def _memory_error(self) -> _Abort:
        return self._fail(f"the script went past the stand-in's memory limit ({_size(self.memory_limit)})")

    def _enter(self) -> None:
        """At each call from the script: fail once the call is past a limit; room for the stand-in's answer."""
        if self._abort is not None:
            raise _Abort(self._abort)
        rt = self._rt
        used = rt.get_memory_used()
        if used > self.memory_limit:
            rt.set_max_memory(used + _MARGIN)
            raise self._memory_error()
        rt.set_max_memory(self.memory_limit + _MARGIN)

    def _out(self, value: bytes) -> bytes:
        """``value``, if it fits, for the script (a small one always fits the margin :meth:`_enter` leaves)."""
        if len(value) > 65536 and not self._room(len(value) + 4096):
            raise self._memory_error()
        return value

    def _table(self, data: Any) -> Any:
        """A Lua table of ``data`` (a dict, or a list for an array), if it fits."""
        items = data.items() if isinstance(data, dict) else enumerate(data)
        size = sum((len(k) if isinstance(k, bytes) else 0) + (len(v) if isinstance(v, bytes) else 0) for k, v in items)
        if (size > 65536 or len(data) > 256) and not self._room(size + 160 * len(data) + 4096):
            raise self._memory_error()
        return self._rt.table_from(data)

    def _take(self) -> list[Any]:
        staged, self._staged = self._staged, []
        return staged

    # -- the bridge: functions the prelude calls (bytes, numbers, booleans and nil only) ---------
    def _b_tick(self) -> Optional[bytes]:
        if self._abort is None and time.monotonic() > self._deadline:
            self._abort = MARKER + f"the script ran past the stand-in's time limit ({self.time_limit:g} s)"
        return None if self._abort is None else self._abort.encode()

    def _b_aborted(self) -> Optional[bytes]:
        return None if self._abort is None else self._abort.encode()

    def _b_fail(self, message: bytes) -> bytes:
        if self._abort is None:
            self._abort = message.decode("utf-8", "replace")
        return self._abort.encode()

    def _b_begin(self) -> None:
        self._rt.set_max_memory(self.memory_limit)

    def _b_finish(self) -> None:
        self._rt.set_max_memory(self.memory_limit + _MARGIN)

    def _b_stage(self, *items: Any) -> None:
        self._enter()
        self._staged.extend(items)

    def _b_log(self, kind: bytes, message: bytes) -> None:
        self._enter()
        self._log(_LOG_KINDS.get(kind.lower(), "DEBUG"), "[SCRIPT]: " + message.decode("utf-8", "replace"))

    def _b_time(self) -> float:
        return time.time()

    def _b_sleep(self, sec: float) -> None:
        self._enter()
        if not sec > 0:
            time.sleep(0)
            return
        left = self._deadline - time.monotonic()
        if sec > left:
            time.sleep(max(left, 0))
            raise self._fail(f"the script ran past the stand-in's time limit ({self.time_limit:g} s)")
        time.sleep(sec)

    def _b_lock(self, idx: int) -> None:
        self._enter()
        self.databases[idx].lock.acquire()
        self._held.append(idx)

    def _b_unlock(self, idx: int) -> None:
        if idx in self._held:
            self._held.reverse()
            self._held.remove(idx)
            self._held.reverse()
            self.databases[idx].lock.release()

    # database errors: each database keeps the last error a script call met (Kyoto keeps it per thread)
    def _dberr(self, idx: int, err: DBError) -> None:
        self._errors[idx] = (err.code, err.message)

    def _b_error(self, idx: int) -> tuple[int, bytes]:
        self._enter()
        code, message = self._errors.get(idx, (0, "no error"))
        return code, message.encode()

    def _b_seterror(self, idx: int, code: int, message: bytes) -> None:
        self._errors[idx] = (code, message.decode("utf-8", "replace"))

    def _b_write(self, op: bytes, idx: int, key: bytes, value: bytes, xt: Any) -> bool:
        self._enter()
        db = self.databases[idx]
        try:
            getattr(db, op.decode())(key, value, _xt(xt))
        except DBError as err:
            self._dberr(idx, err)
            return False
        return True

    def _b_increment(self, idx: int, key: bytes, num: Any, orig: Any, xt: Any) -> Optional[int]:
        self._enter()
        if math.isinf(orig):
            orint = _INT64_MAX if orig > 0 else _INT64_MIN
        else:
            orint = _c_int64(orig)
        try:
            return self.databases[idx].increment(key, _c_int64(num), orint, _xt(xt))
        except DBError as err:
            self._dberr(idx, err)
            return None

    def _b_increment_double(self, idx: int, key: bytes, num: Any, orig: Any, xt: Any) -> Optional[float]:
        self._enter()
        try:
            return self.databases[idx].increment_double(key, float(num), float(orig), _xt(xt))
        except DBError as err:
            self._dberr(idx, err)
            return None

    def _b_cas(self, idx: int, key: bytes, oval: Optional[bytes], nval: Optional[bytes], xt: Any) -> bool:
        self._enter()
        try:
            self.databases[idx].cas(key, oval, nval, _xt(xt))
        except DBError as err:
            self._dberr(idx, err)
            return False
        return True

    def _b_remove(self, idx: int, key: bytes) -> bool:
        self._enter()
        try:
            self.databases[idx].remove(key)
        except DBError as err:
            self._dberr(idx, err)
            return False
        return True

    def _b_get(self, idx: int, key: bytes) -> Optional[tuple[bytes, int]]:
        self._enter()
        try:
            value, xt = self.databases[idx].get(key)
        except DBError as err:
            self._dberr(idx, err)
            return None
        return self._out(value), xt

    def _b_check(self, idx: int, key: bytes) -> int:
        self._enter()
        try:
            return len(self.databases[idx].get(key)[0])
        except DBError as err:
            self._dberr(idx, err)
            return -1

    def _b_seize(self, idx: int, key: bytes) -> Optional[tuple[bytes, int]]:
        self._enter()
        try:
            value, xt = self.databases[idx].seize(key)
        except DBError as err:
            self._dberr(idx, err)
            return None
        return self._out(value), xt

    def _b_find(self, idx: int, key: bytes) -> Optional[tuple[bytes, int]]:
        self._enter()
        rec = self.databases[idx].find(key)
        return None if rec is None else (self._out(rec[0]), rec[1])

    def _b_apply(self, idx: int, key: bytes, op: bytes, value: Optional[bytes], xt: Any) -> None:
        """A visitor's answer for ``key``: ``set`` (value, xt) or ``remove``."""
        self._enter()
        db = self.databases[idx]
        if op == b"set":
            assert value is not None
            db.set(key, value, _xt(xt))
        else:
            try:
                db.remove(key)
            except DBError:
                pass

    def _b_iter_begin(self, idx: int) -> int:
        self._enter()
        iid = self._new_id()
        self._iters[iid] = (idx, self.databases[idx].keys()[::-1])
        return iid

    def _b_iter_next(self, iid: int) -> Optional[tuple[bytes, bytes, int]]:
        self._enter()
        idx, keys = self._iters[iid]
        db = self.databases[idx]
        while keys:
            key = keys.pop()
            rec = db.find(key)
            if rec is not None:
                return key, self._out(rec[0]), rec[1]
        return None

    def _b_iter_end(self, iid: int) -> None:
        self._iters.pop(iid, None)

    def _b_set_bulk(self, idx: int, xt: Any) -> int:
        self._enter()
        items = self._take()
        recs = dict(zip(items[0::2], items[1::2]))  # a later duplicate key wins, as in ktserver's std::map
        return self.databases[idx].set_bulk(sorted(recs.items()), _xt(xt))

    def _b_remove_bulk(self, idx: int) -> int:
        self._enter()
        return self.databases[idx].remove_bulk(self._take())

    def _b_get_bulk(self, idx: int) -> Any:
        self._enter()
        return self._table(self.databases[idx].get_bulk(self._take()))

    def _b_clear(self, idx: int) -> bool:
        self._enter()
        self.databases[idx].clear()
        return True

    def _b_count(self, idx: int) -> int:
        self._enter()
        return self.databases[idx].count()

    def _b_size(self, idx: int) -> int:
        self._enter()
        return self.databases[idx].size()

    def _b_path(self, idx: int) -> bytes:
        return self.databases[idx].path.encode("utf-8", "surrogateescape")

    def _b_status(self, idx: int) -> Any:
        self._enter()
        return self._table({k.encode(): v.encode() for k, v in self.databases[idx].status().items()})

    def _b_procargs(self, idx: int) -> tuple[bytes, int, int]:
        """What a FileProcessor gets: the path, the record count and the size."""
        self._enter()
        db = self.databases[idx]
        return db.path.encode("utf-8", "surrogateescape"), db.count(), db.size()

    def _b_match_prefix(self, idx: int, prefix: bytes, max_: Any) -> Any:
        self._enter()
        return self._table(self.databases[idx].match_prefix(prefix, _c_int64(max_)))

    def _b_match_regex(self, idx: int, regex: bytes, max_: Any) -> Any:
        self._enter()
        try:
            keys = self.databases[idx].match_regex(regex, _c_int64(max_))
        except DBError as err:
            self._dberr(idx, err)
            return None
        return self._table(keys)

    def _b_match_similar(self, idx: int, origin: bytes, range_: Any, utf: bool, max_: Any) -> Any:
        self._enter()
        db, rng, limit = self.databases[idx], _c_int64(range_), _c_int64(max_)
        if rng < 0:
            # ktserver hands the range to a size_t: -1 is "any distance", every key at the same one (in key order).
            keys = sorted(db.keys())
            return self._table(keys if limit < 0 else keys[:limit])
        return self._table(db.match_similar(origin, rng, utf, limit))

    def _b_merge(self, idx: int, mode: Any) -> bool:
        self._enter()
        sources = [self.databases[int(i)] for i in self._take()]
        mode_ = _c_uint32(mode)
        db = self.databases[idx]
        records = []
        for n, src in enumerate(sources):
            with src.lock:
                for key in src.keys():
                    rec = src.find(key)
                    if rec is not None:
                        records.append((key, n, rec[0], rec[1]))
        records.sort(key=lambda r: (r[0], r[1]))  # ktserver merges the sources in key order
        for key, _, value, xt in records:
            try:
                if mode_ == 0:
                    db.set(key, value, -xt)
                elif mode_ == 1:
                    db.add(key, value, -xt)
                elif mode_ == 2:
                    db.replace(key, value, -xt)
                elif mode_ == 3:
                    db.append(key, value, -xt)
            except DBError:
                pass  # MADD keeps a present record, MREPLACE skips an absent one
        return True

    def _b_begin_transaction(self, idx: int) -> bool:
        self._enter()
        if not self.databases[idx].begin_transaction():
            raise self._fail(f"begin_transaction: database {idx} is in a transaction already (ktserver 0.9.56 "
                             "would wait for it forever)")
        self._transactions.add(idx)
        return True

    def _b_end_transaction(self, idx: int, commit: bool) -> bool:
        self._enter()
        try:
            self.databases[idx].end_transaction(bool(commit))
        except DBError as err:
            self._dberr(idx, err)
            return False
        self._transactions.discard(idx)
        return True

    # cursors: the Lua object holds an id; one the script drops is freed when Lua collects it
    def _new_id(self) -> int:
        n = self._next_id
        self._next_id += 1
        return n

    def _b_cur_new(self, idx: int, *dead: int) -> int:
        self._b_cur_free(*dead)
        self._enter()
        cid = self._new_id()
        self._cursors[cid] = (idx, self.databases[idx].cursor())
        return cid

    def _b_cur_free(self, *cids: int) -> None:
        for cid in cids:
            self._cursors.pop(cid, None)

    def _cursor_op(self, cid: int, op: Callable[[KtCursor], Any]) -> Any:
        self._enter()
        idx, cur = self._cursors[cid]
        try:
            return op(cur)
        except DBError as err:
            self._dberr(idx, err)
            return None

    def _cursor_do(self, cid: int, op: Callable[[KtCursor], None]) -> bool:
        self._enter()
        idx, cur = self._cursors[cid]
        try:
            op(cur)
        except DBError as err:
            self._dberr(idx, err)
            return False
        return True

    def _b_cur_jump(self, cid: int, key: Optional[bytes]) -> bool:
        return self._cursor_do(cid, lambda c: c.jump(key))

    def _b_cur_jump_back(self, cid: int, key: Optional[bytes]) -> bool:
        return self._cursor_do(cid, lambda c: c.jump_back(key))

    def _b_cur_step(self, cid: int) -> bool:
        return self._cursor_do(cid, lambda c: c.step())

    def _b_cur_step_back(self, cid: int) -> bool:
        return self._cursor_do(cid, lambda c: c.step_back())

    def _b_cur_get_key(self, cid: int, step: bool) -> Optional[bytes]:
        key = self._cursor_op(cid, lambda c: c.get_key(bool(step)))
        return None if key is None else self._out(key)

    def _b_cur_get_value(self, cid: int, step: bool) -> Optional[bytes]:
        value = self._cursor_op(cid, lambda c: c.get_value(bool(step)))
        return None if value is None else self._out(value)

    def _b_cur_get(self, cid: int, step: bool) -> Optional[tuple[bytes, bytes, int]]:
        rec = self._cursor_op(cid, lambda c: c.get(bool(step)))
        return None if rec is None else (self._out(rec[0]), self._out(rec[1]), min(rec[2], XTMAX))

    def _b_cur_seize(self, cid: int) -> Optional[tuple[bytes, bytes, int]]:
        rec = self._cursor_op(cid, lambda c: c.seize())
        return None if rec is None else (self._out(rec[0]), self._out(rec[1]), min(rec[2], XTMAX))

    def _b_cur_set_value(self, cid: int, value: bytes, xt: Any, step: bool) -> bool:
        return self._cursor_do(cid, lambda c: c.set_value(value, _xt(xt), bool(step)))

    def _b_cur_remove(self, cid: int) -> bool:
        return self._cursor_do(cid, lambda c: c.remove())

    def _b_cur_current(self, cid: int) -> Optional[tuple[bytes, bytes, int]]:
        return self._b_cur_get(cid, False)

    def _b_cur_apply(self, cid: int, op: Optional[bytes], value: Optional[bytes], xt: Any, step: bool) -> None:
        """A visitor's answer for the cursor's record: nothing (then maybe a step), ``set`` or ``remove``."""
        self._enter()
        _, cur = self._cursors[cid]
        try:
            if op == b"set":
                assert value is not None
                cur.set_value(value, _xt(xt), bool(step))
            elif op == b"remove":
                cur.remove()  # the cursor moves on to the next record, as Kyoto's does
            elif step:
                cur.step()
        except DBError:
            pass

    # module functions
    def _b_hash_murmur(self, data: bytes) -> int:
        return _hash_murmur(data) & ((1 << 48) - 1)

    def _b_hash_fnv(self, data: bytes) -> int:
        return _hash_fnv(data) & ((1 << 48) - 1)

    def _b_levdist(self, a: bytes, b: bytes, utf: bool) -> int:
        self._enter()
        if utf:
            return _levenshtein(_utf_to_ucs(a), _utf_to_ucs(b))
        return _levenshtein(a, b)

    def _b_atoi(self, text: bytes) -> int:
        return _kc_atoi(_cstr(text))

    def _b_atoix(self, text: bytes) -> int:
        return _kc_atoix(_cstr(text))

    def _b_atof(self, text: bytes) -> float:
        return _kc_atof(_cstr(text))

    def _b_split(self, text: bytes, delims: Optional[bytes]) -> Any:
        self._enter()
        if delims is None:
            parts = text.split(b"\0")
        else:
            chars = set(_cstr(delims))
            text = _cstr(text)
            parts, start = [], 0
            for i, c in enumerate(text):
                if c in chars:
                    parts.append(text[start:i])
                    start = i + 1
            parts.append(text[start:])
        return self._table(parts)

    def _b_codec(self, mode: bytes, data: bytes) -> Optional[bytes]:
        self._enter()
        name = _cstr(mode).lower()
        try:
            result = _codec(name, data)
        except _Truncated:
            raise self._fail(f"codec: {name.decode('latin-1')} of data that ends before its compressed stream "
                             "does (ktserver 0.9.56 allocates until it crashes on this input)") from None
        return None if result is None else self._out(result)

    def _b_bit(self, mode: bytes, num: Any, aux: Any) -> int:
        n, a, m = _c_uint32(num), _c_uint32(aux), _cstr(mode).lower()
        if m == b"and":
            n &= a
        elif m == b"or":
            n |= a
        elif m == b"xor":
            n ^= a
        elif m == b"not":
            n = ~n & _U32
        elif m == b"left":
            n = (n << (a & 31)) & _U32
        elif m == b"right":
            n >>= a & 31
        return n

    def _b_strstr(self, text: bytes, pattern: bytes, alt: Optional[bytes]) -> Any:
        self._enter()
        text, pattern = _cstr(text), _cstr(pattern)
        if alt is not None:
            return self._out(text.replace(pattern, _cstr(alt)) if pattern else text)
        return text.find(pattern) + 1

    def _b_strfwm(self, text: bytes, pattern: bytes) -> bool:
        return _cstr(text).startswith(_cstr(pattern))

    def _b_strbwm(self, text: bytes, pattern: bytes) -> bool:
        return _cstr(text).endswith(_cstr(pattern))

    def _b_regex(self, text: bytes, pattern: bytes, alt: Optional[bytes]) -> Any:
        self._enter()
        text, pattern = _cstr(text), _cstr(pattern)
        try:
            rx = re.compile(pattern)
        except (re.error, OverflowError, RecursionError):
            return text if alt is not None else False
        if alt is None:
            return rx.search(text) is not None
        if not pattern:
            return text  # Kyoto compiles an empty pattern without sub-matches: nothing to replace with
        return self._out(_regex_replace(rx, text, _cstr(alt)))

    def _b_arraydump(self) -> bytes:
        self._enter()
        return self._out(b"".join(_varnum(len(v)) + v for v in self._take()))

    def _b_arrayload(self, data: bytes) -> Any:
        self._enter()
        items, pos, size = [], 0, len(data)
        while size > 0:
            vsiz, step = _read_varnum(data, pos)
            if step == 0:
                raise self._fail("arrayload: the data ends inside a size (ktserver 0.9.56 loops forever on it, "
                                 "adding empty elements until its memory runs out)")
            pos += step
            size -= step
            if vsiz > size:
                break
            items.append(data[pos:pos + vsiz])
            pos += vsiz
            size -= vsiz
        return self._table(items)

    def _b_mapdump(self) -> bytes:
        self._enter()
        items = self._take()
        pairs = zip(items[0::2], items[1::2])
        return self._out(b"".join(_varnum(len(k)) + _varnum(len(v)) + k + v for k, v in pairs))

    def _b_mapload(self, data: bytes) -> Any:
        self._enter()
        out: dict[bytes, bytes] = {}
        pos, size = 0, len(data)
        while size > 1:
            ksiz, step = _read_varnum(data, pos)
            if step == 0:
                raise self._fail("mapload: the data ends inside a size (ktserver 0.9.56 loops forever on it)")
            pos += step
            size -= step
            if size < 1:
                break
            vsiz, step = _read_varnum(data, pos)
            if step == 0:
                raise self._fail("mapload: the data ends inside a size (ktserver 0.9.56 loops forever on it)")
            pos += step
            size -= step
            if ksiz + vsiz > size:
                break
            out[data[pos:pos + ksiz]] = data[pos + ksiz:pos + ksiz + vsiz]
            pos += ksiz + vsiz
            size -= ksiz + vsiz
        return self._table(out)

    def _b_pack(self, fmt: bytes) -> bytes:
        self._enter()
        return self._out(_pack(_cstr(fmt), [float(x) for x in self._take()]))

    def _b_unpack(self, fmt: bytes, data: bytes) -> Any:
        self._enter()
        return self._table(_unpack(_cstr(fmt), data))


_STATUS = {0: 200, 1: 501, 2: 400, 3: 450, 4: 503}  # RVSUCCESS, RVENOIMPL, RVEINVALID, RVELOGIC, RVETIMEOUT
_LOG_KINDS = {b"info": "INFO", b"system": "SYSTEM", b"error": "ERROR"}


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def _message(value: Any) -> str:
    """An error value as ktserver logs it (``lua_tostring``: a string or number, else ``(null)``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    if isinstance(value, BaseException):
        return str(value)
    if isinstance(value, bool) or value is None:
        return "(null)"
    if isinstance(value, (int, float)):
        return _number_text(value).decode()
    return "(null)"


def _text(value: Any) -> bytes:
    """An outmap key or value as ktserver's StringBuilder writes it."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return _number_text(value)


def _number_text(x: Any) -> bytes:
    """``%lld`` of an integral number (out of int64's range: its minimum, as x86-64 converts), else ``%f``."""
    if isinstance(x, int):
        return str(x).encode()
    if x != x:
        return b"-nan" if math.copysign(1.0, x) < 0 else b"nan"
    if math.isinf(x) or x == math.floor(x):
        return str(_c_int64(x)).encode()
    return b"%f" % x


def _c_int64(x: Any) -> int:
    """A Lua number as C converts it to int64_t on x86-64: truncated; out of range or NaN is INT64_MIN."""
    if isinstance(x, int):
        return x if _INT64_MIN <= x <= _INT64_MAX else _INT64_MIN
    if x != x or x >= 9223372036854775808.0 or x < -9223372036854775808.0:
        return _INT64_MIN
    return int(x)


def _c_int32(x: float) -> int:
    if x != x or x >= 2147483648.0 or x < -2147483648.0:
        return _INT32_MIN
    return int(x)


def _c_uint32(x: Any) -> int:
    """ktserver's double to uint32_t (as its build converts it): truncated; out of range or NaN is all ones."""
    x = float(x)
    return int(x) if -1.0 < x < 4294967296.0 else _U32


def _c_uint64(x: float) -> int:
    return int(x) if -1.0 < x < 18446744073709551616.0 else _U64


def _xt(xt: Any) -> int:
    return XT_NONE if xt is None else _c_int64(xt)


def _cstr(data: bytes) -> bytes:
    return data.split(b"\0", 1)[0]


# ----------------------------------------------------------------------------- Kyoto's helpers

def _hash_murmur(data: bytes) -> int:
    mul, mask = 0xC6A4A7935BD1E995, _U64
    size = len(data)
    h = (19780211 ^ (size * mul)) & mask
    pos = 0
    while size - pos >= 8:
        num = int.from_bytes(data[pos:pos + 8], "little")
        num = (num * mul) & mask
        num ^= num >> 47
        num = (num * mul) & mask
        h = (h * mul) & mask
        h ^= num
        pos += 8
    rest = size - pos
    if rest:
        for i in range(rest - 1, -1, -1):
            h ^= data[pos + i] << (8 * i)
        h = (h * mul) & mask
    h ^= h >> 47
    h = (h * mul) & mask
    h ^= h >> 47
    return h


def _hash_fnv(data: bytes) -> int:
    h = 14695981039346656037
    for c in data:
        h = ((h ^ c) * 109951162811) & _U64  # Kyoto's prime (not FNV's 1099511628211)
    return h


def _levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _utf_to_ucs(data: bytes) -> list[int]:
    """kc::strutftoucs: a lenient UTF-8 decoder (a short or overlong sequence is skipped)."""
    out: list[int] = []
    n = len(data)

    def at(i: int) -> int:
        return data[i] if i < n else 0

    i = 0
    while i < n:
        c = data[i]
        if c < 0x80:
            out.append(c)
        else:
            for lead, extra, shift_mask, least in ((0xE0, 1, 0x1F, 0x80), (0xF0, 2, 0x0F, 0x800),
                                                   (0xF8, 3, 0x07, 0x10000), (0xFC, 4, 0x03, 0x200000),
                                                   (0xFE, 5, 0x01, 0x4000000)):
                if c < lead:
                    if all(at(i + k) != 0 for k in range(1, extra + 1)):
                        u = c & shift_mask
                        for k in range(1, extra + 1):
                            u = (u << 6) | (at(i + k) & 0x3F)
                        if u >= least:
                            out.append(u)
                        i += extra
                    break
        i += 1
    return out


def _kc_atoi(s: bytes) -> int:
    i, n = 0, len(s)
    while i < n and 0 < s[i] <= 32:
        i += 1
    sign = 1
    if i < n and s[i] == 45:
        sign, i = -1, i + 1
    elif i < n and s[i] == 43:
        i += 1
    num = 0
    while i < n and 48 <= s[i] <= 57:
        num = _wrap64(num * 10 + s[i] - 48)
        i += 1
    return _wrap64(num * sign)


def _wrap64(n: int) -> int:
    return ((n + (1 << 63)) & _U64) - (1 << 63)


def _kc_atoix(s: bytes) -> int:
    i, n = 0, len(s)
    while i < n and 0 < s[i] <= 32:
        i += 1
    sign = 1
    if i < n and s[i] == 45:
        sign, i = -1, i + 1
    elif i < n and s[i] == 43:
        i += 1
    num = Fraction(0)
    while i < n and 48 <= s[i] <= 57:
        num = num * 10 + s[i] - 48
        i += 1
    if i < n and s[i] == 46:
        i += 1
        base = 10
        while i < n and 48 <= s[i] <= 57:
            num += Fraction(s[i] - 48, base)
            i += 1
            base *= 10
    num *= sign
    while i < n and 0 < s[i] <= 32:
        i += 1
    if i < n:
        num *= 1 << {107: 10, 109: 20, 103: 30, 116: 40, 112: 50, 101: 60}.get(s[i] | 0x20, 0)
    if num > _INT64_MAX:
        return _INT64_MAX
    if num < _INT64_MIN:
        return _INT64_MIN
    return int(num)


def _kc_atof(s: bytes) -> float:
    i, n = 0, len(s)
    while i < n and 0 < s[i] <= 32:
        i += 1
    sign = 1
    if i < n and s[i] == 45:
        sign, i = -1, i + 1
    elif i < n and s[i] == 43:
        i += 1
    head = s[i:i + 3].lower()
    if head == b"inf":
        return math.inf * sign
    if head == b"nan":
        return math.nan
    num = Fraction(0)
    col = 0
    while i < n and 48 <= s[i] <= 57:
        num = num * 10 + s[i] - 48
        i += 1
        if num > 0:
            col += 1
    if i < n and s[i] == 46:
        i += 1
        base = 10
        while col < 16 and i < n and 48 <= s[i] <= 57:
            num += Fraction(s[i] - 48, base)
            i += 1
            col += 1
            base *= 10
    if i < n and s[i] in (101, 69):
        exp = _kc_atoi(s[i + 1:])
        if num:
            if exp > 400:
                return math.inf * sign
            if exp < -400:
                return 0.0 * sign
            num *= Fraction(10) ** exp
    try:
        return float(num) * sign
    except OverflowError:
        return math.inf * sign


def _varnum(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _read_varnum(data: bytes, pos: int) -> tuple[int, int]:
    """kc::readvarnum: ``(number, bytes read)``; 0 bytes read when the data ends inside the number."""
    num, i = 0, pos
    while True:
        if i >= len(data):
            return 0, 0
        c = data[i]
        num = ((num << 7) + (c & 0x7F)) & _U64
        i += 1
        if c < 0x80:
            return num, i - pos


class _Truncated(Exception):
    pass


def _hex_nibble(c: int) -> int:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


def _codec(mode: bytes, data: bytes) -> Optional[bytes]:
    """kt.codec: ``None`` for an unknown mode or data a decoder refuses."""
    if mode.startswith(b"~"):
        mode = mode[1:]
        if mode in _WBITS:
            d = zlib.decompressobj(_WBITS[mode])
            try:
                out = d.decompress(data)
            except zlib.error:
                return None
            if not d.eof:
                raise _Truncated
            return out
        text = _cstr(data)
        if mode == b"url":
            return _url_decode(text)
        if mode == b"base":
            return _base_decode(text)
        if mode == b"quote":
            return _quote_decode(text)
        if mode == b"hex":
            return _hex_decode(text)
        return None
    if mode in _WBITS:
        c = zlib.compressobj(6, zlib.DEFLATED, _WBITS[mode], 9, zlib.Z_DEFAULT_STRATEGY)
        out = c.compress(data) + c.flush()
        return out + b"\0" if mode == b"zlib" else out  # Kyoto's raw mode counts the NUL it ends the buffer with
    if mode == b"url":
        return b"".join(bytes((c,)) if c in _URL_SAFE else b"%%%02x" % c for c in data)
    if mode == b"base":
        import base64

        return base64.b64encode(data)
    if mode == b"quote":
        return b"".join(b"=%02X" % c if c == 61 or c < 32 or c > 126 else bytes((c,)) for c in data)
    if mode == b"hex":
        return data.hex().encode()
    return None


_WBITS = {b"zlib": -15, b"deflate": 15, b"gzip": 31}
_URL_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~")


def _url_decode(s: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == 37:  # %
            num = 0
            i += 1
            if i >= n:
                break
            h = _hex_nibble(s[i])
            if h >= 0:
                num = h
            i += 1
            if i >= n:
                break
            h = _hex_nibble(s[i])
            if h >= 0:
                num = num * 16 + h
            out.append(num & 0xFF)
            i += 1
        elif c == 43:
            out.append(32)
            i += 1
        elif c <= 32 or c >= 127:  # Kyoto compares signed chars: the high bytes are below ' ' too
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _quote_decode(s: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == 61:  # =
            i += 1
            if i >= n:
                break
            c = s[i]
            if c == 13:
                i += 1
                if i >= n:
                    break
                if s[i] == 10:
                    i += 1
            elif c == 10:
                i += 1
            else:
                num = 0
                h = _hex_nibble(c)
                if h >= 0:
                    num = h
                i += 1
                if i >= n:
                    break
                h = _hex_nibble(s[i])
                if h >= 0:
                    num = num * 16 + h
                out.append(num & 0xFF)
                i += 1
        elif c < 32 or c >= 127:
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _hex_decode(s: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(s)
    while True:
        while i < n and 0 < s[i] <= 32:
            i += 1
        c = s[i] if i < n else 0
        i += 1
        if c == 0:
            break
        num = max(_hex_nibble(c), 0)
        c = s[i] if i < n else 0
        i += 1
        if c == 0:
            out.append(num)
            break
        h = _hex_nibble(c)
        if h >= 0:
            num = num * 16 + h
        out.append(num & 0xFF)
    return bytes(out)


_B64 = {c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def _base_decode(s: bytes) -> bytes:
    out = bytearray()
    bpos, eqcnt, n = 0, 0, len(s)
    while bpos < n and eqcnt == 0:
        bits, i = 0, 0
        while bpos < n and i < 4:
            c = s[bpos]
            if c in _B64:
                bits = (bits << 6) | _B64[c]
                i += 1
            elif c == 61:
                bits <<= 6
                i += 1
                eqcnt += 1
            bpos += 1
        if i == 0 and bpos >= n:
            continue
        if eqcnt == 0:
            out += bytes(((bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF))
        elif eqcnt == 1:
            out += bytes(((bits >> 16) & 0xFF, (bits >> 8) & 0xFF))
        elif eqcnt == 2:
            out.append((bits >> 16) & 0xFF)
    return bytes(out)


def _regex_replace(rx: re.Pattern[bytes], text: bytes, alt: bytes) -> bytes:
    """kc::Regex::replace: every match from left to right, ``$0``-``$9`` and ``$&`` in ``alt`` its groups."""
    if rx.search(text) is None:
        return text
    out = bytearray()
    sp = 0
    while sp < len(text):
        m = rx.search(text, sp)
        if m is None:
            break
        out += text[sp:m.start()]
        i = 0
        while i < len(alt):
            c = alt[i]
            if c == 36 and i + 1 < len(alt):  # $
                nxt = alt[i + 1]
                if 48 <= nxt <= 57:
                    try:
                        group = m.group(nxt - 48)
                    except IndexError:
                        group = None
                    if group is not None:
                        out += group
                elif nxt == 38:  # &
                    out += m.group(0)
                else:
                    out.append(nxt)
                i += 2
                continue
            if c != 36:
                out.append(c)
            i += 1
        end = m.end()
        if end - sp < 1:
            sp = end
            break
        sp = end
    out += text[sp:]
    return bytes(out)


def _format_count(fmt: bytes, p: int) -> tuple[int, int]:
    """The count after a conversion character (``*``: all, digits: that many) and where the format goes on."""
    if p + 1 < len(fmt) and fmt[p + 1] == 42:
        return _INT32_MAX, p + 1
    if p + 1 < len(fmt) and 48 <= fmt[p + 1] <= 57:
        q = p + 1
        while q < len(fmt) and 48 <= fmt[q] <= 57:
            q += 1
        count = min(int(fmt[p + 1:q]), _INT64_MAX)
        return ((count + (1 << 31)) & _U32) - (1 << 31), q - 1  # strtol's long stored in an int32_t
    return 1, p


def _ber(n: int) -> bytes:
    """kt.pack's "w": Kyoto's BER bytes (past 2**56 it writes bit 63 and skips bits 56 to 62, as ktserver does)."""
    if n < 1 << 56:
        return _varnum(n)
    groups = [(n >> 63) | 0x80] + [((n >> s) & 0x7F) | 0x80 for s in (49, 42, 35, 28, 21, 14, 7)] + [n & 0x7F]
    return bytes(groups)


def _pack(fmt: bytes, elems: list[float]) -> bytes:
    out = bytearray()
    emax, eidx, p = len(elems), 1, 0
    while p < len(fmt):
        c = fmt[p]
        loop, p = _format_count(fmt, p)
        loop = min(loop, emax)
        end = min(eidx + loop - 1, emax)
        while eidx <= end:
            num = elems[eidx - 1]
            ch = chr(c)
            if ch in "cC":
                out += struct.pack("<B", _c_int32(num) & 0xFF)
            elif ch in "sS":
                out += struct.pack("<H", _c_int32(num) & 0xFFFF)
            elif ch in "iI":
                out += struct.pack("<I", _c_uint32(num))
            elif ch in "lL":
                out += struct.pack("<Q", _c_uint64(num))
            elif ch in "fF":
                try:
                    out += struct.pack("<f", num)
                except OverflowError:
                    out += struct.pack("<f", math.copysign(math.inf, num))
            elif ch in "dD":
                out += struct.pack("<d", num)
            elif ch == "n":
                out += struct.pack(">H", _c_int32(num) & 0xFFFF)
            elif ch == "N":
                out += struct.pack(">I", _c_uint32(num))
            elif ch == "M":
                out += struct.pack(">Q", _c_uint64(num))
            elif ch in "wW":
                out += _ber(_c_uint64(num))
            eidx += 1
        p += 1
        if eidx > emax:
            break
    return bytes(out)


_UNPACK = {"c": ("<b", 1), "C": ("<B", 1), "s": ("<h", 2), "S": ("<H", 2), "i": ("<i", 4), "I": ("<I", 4),
           "l": ("<q", 8), "L": ("<Q", 8), "f": ("<f", 4), "F": ("<f", 4), "d": ("<d", 8), "D": ("<d", 8),
           "n": (">H", 2), "N": (">I", 4), "M": (">Q", 8)}


def _unpack(fmt: bytes, data: bytes) -> list[float]:
    out: list[float] = []
    rp, size, p = 0, len(data), 0
    while p < len(fmt):
        c = chr(fmt[p])
        loop, p = _format_count(fmt, p)
        loop = min(loop, size)
        i = 0
        while i < loop and size > 0:
            if c in _UNPACK:
                code, width = _UNPACK[c]
                if size >= width:
                    out.append(float(struct.unpack_from(code, data, rp)[0]))
                    rp += width
                    size -= width
                else:
                    size = 0
            elif c in "wW":
                num = 0
                while True:
                    b = data[rp]
                    num = (num * 0x80 + (b & 0x7F)) & _U64
                    rp += 1
                    size -= 1
                    if b < 0x80 or size <= 0:
                        break
                out.append(float(num))
            i += 1
        p += 1
        if size < 1:
            break
    return out


# ----------------------------------------------------------------------------- the Lua side

_PRELUDE = r"""
local B, NDB, DBNAMES, HOOKCOUNT, MARKER, VERSION = ...
local type, select, unpack, tostring, tonumber, next, rawget, setmetatable, getmetatable, error, pcall, xpcall =
      type, select, unpack, tostring, tonumber, next, rawget, setmetatable, getmetatable, error, pcall, xpcall
local floor, format, sub, concat = math.floor, string.format, string.sub, table.concat
local newproxy, sethook = newproxy, debug.sethook
local cocreate, coresume = coroutine.create, coroutine.resume
local G = _G
local tick, isaborted, fail, stage = B.tick, B.aborted, B.fail, B.stage

local function pack(...) return {n = select("#", ...), ...} end

-- failing the call: once set, nothing the script does can catch it
local aborted = nil
local function abort(msg) aborted = msg error(msg, 0) end
local function seen(err)
  if aborted then error(aborted, 0) end
  if type(err) == "userdata" then
    local msg = isaborted()
    if msg then abort(msg) end
  elseif type(err) == "string" and sub(err, 1, #MARKER) == MARKER then
    abort(err)
  end
end
local function hook()
  if aborted then error(aborted, 0) end
  local msg = tick()
  if msg then abort(msg) end
end
sethook(hook, "", HOOKCOUNT)

-- ok, ... as pcall returns them, unless the call is failing (no table: this runs at the memory limit too)
local function passthru(ok, ...)
  if not ok then seen((...)) end
  if aborted then error(aborted, 0) end
  return ok, ...
end
G.pcall = function(...)
  if select("#", ...) == 0 then error("bad argument #1 to 'pcall' (value expected)", 2) end
  return passthru(pcall(...))
end
G.xpcall = function(...)
  if select("#", ...) < 2 then error("bad argument #2 to 'xpcall' (value expected)", 2) end
  local f, h = ...
  return passthru(xpcall(f, h))
end
local function costart(f)
  local co = cocreate(f)
  sethook(co, hook, "", HOOKCOUNT)
  return co
end
coroutine.create = costart
coroutine.resume = function(co, ...) return passthru(coresume(co, ...)) end
coroutine.wrap = function(f)
  local co = costart(f)
  return function(...)
    local r = pack(coresume(co, ...))
    if not r[1] then seen(r[2]) error(r[2], 2) end
    if aborted then error(aborted, 0) end
    return unpack(r, 2, r.n)
  end
end
local function unsupported(name)
  return function()
    abort(fail(MARKER .. name .. " is not supported by the Kyoto Tycoon stand-in (kt-embedded); ktserver runs it"))
  end
end
os.exit = unsupported("os.exit")
debug.sethook = unsupported("debug.sethook")
G.python = nil

-- ktserver's conversions of Lua values
local function tolstr(v)  -- lua_tolstring
  local t = type(v)
  if t == "string" then return v elseif t == "number" then return tostring(v) end
  return nil
end
local function tonum(v)  -- lua_tonumber
  local t = type(v)
  if t == "number" then return v elseif t == "string" then return tonumber(v) or 0 end
  return 0
end
local function isnum(v)  -- lua_isnumber
  local t = type(v)
  return t == "number" or (t == "string" and tonumber(v) ~= nil)
end
local function truthy(v) return v ~= nil and v ~= false end
local function invarg(name) error(name .. ": invalid arguments", 0) end
local function numtext(n)  -- "%lld" when integral, else "%.6f"
  if n == floor(n) then
    if n >= 9223372036854775807 or n < -9223372036854775808 then return "-9223372036854775808" end
    return format("%d", n)
  end
  return format("%.6f", n)
end
local function dumptext(v)  -- how arraydump, mapdump and set_bulk take a value
  local t = type(v)
  if t == "number" then return numtext(v) elseif t == "string" then return v end
  return nil
end
local function stageall(list)
  local n = #list
  local i = 1
  while i <= n do
    local j = i + 99
    if j > n then j = n end
    stage(unpack(list, i, j))
    i = j + 1
  end
end
local function xtarg(argc, pos, v)  -- an optional expiration time: nil for "none"
  if argc >= pos and v ~= nil then return tonum(v) end
  return nil
end

local kt = {}
kt.__serv__ = newproxy(false)
kt.VERSION = VERSION
kt.RVSUCCESS, kt.RVENOIMPL, kt.RVEINVALID, kt.RVELOGIC, kt.RVEINTERNAL = 0, 1, 2, 3, 5
kt.thid = 0

-- module functions
local function onestring(name, fn)
  return function(...)
    if select("#", ...) ~= 1 then invarg(name) end
    local s = tolstr((...))
    if s == nil then return end
    return fn(s)
  end
end
kt.atoi = onestring("kt_atoi", B.atoi)
kt.atoix = onestring("kt_atoix", B.atoix)
kt.atof = onestring("kt_atof", B.atof)
kt.hash_murmur = onestring("kt_hash_murmur", B.hash_murmur)
kt.hash_fnv = onestring("kt_hash_fnv", B.hash_fnv)
kt.levdist = function(...)
  local argc = select("#", ...)
  if argc < 2 then invarg("kt_levdist") end
  local a, b, utf = ...
  a, b = tolstr(a), tolstr(b)
  if a == nil or b == nil then invarg("kt_levdist") end
  return B.levdist(a, b, argc > 2 and truthy(utf))
end
kt.time = function(...)
  if select("#", ...) ~= 0 then invarg("kt_time") end
  return B.time()
end
kt.sleep = function(...)
  local argc = select("#", ...)
  if argc > 1 then invarg("kt_sleep") end
  B.sleep(argc > 0 and tonum((...)) or 0)
end
kt.pack = function(...)
  local argc = select("#", ...)
  if argc < 1 then invarg("kt_pack") end
  local fmt = tolstr((...))
  if fmt == nil then invarg("kt_pack") end
  local elems = {}
  for i = 2, argc do
    local v = select(i, ...)
    local t = type(v)
    if t == "number" or t == "string" then
      elems[#elems + 1] = tonum(v)
    elseif t == "table" then
      for j = 1, #v do elems[#elems + 1] = tonum(rawget(v, j)) end
    else
      elems[#elems + 1] = 0
    end
  end
  stageall(elems)
  return B.pack(fmt)
end
kt.unpack = function(...)
  if select("#", ...) ~= 2 then invarg("kt_unpack") end
  local fmt, s = ...
  fmt, s = tolstr(fmt), tolstr(s)
  if fmt == nil then invarg("kt_unpack") end
  return B.unpack(fmt, s or "")
end
kt.split = function(...)
  local argc = select("#", ...)
  if argc < 1 then invarg("kt_split") end
  local s, delims = ...
  s = tolstr(s)
  if s == nil then invarg("kt_split") end
  return B.split(s, argc > 1 and tolstr(delims) or nil)
end
kt.codec = function(...)
  if select("#", ...) ~= 2 then invarg("kt_codec") end
  local mode, s = ...
  mode, s = tolstr(mode), tolstr(s)
  if mode == nil or s == nil then invarg("kt_codec") end
  return B.codec(mode, s)
end
kt.bit = function(...)
  local argc = select("#", ...)
  if argc < 2 then invarg("kt_bit") end
  local mode, num, aux = ...
  mode = tolstr(mode)
  if mode == nil then invarg("kt_bit") end
  return B.bit(mode, tonum(num), argc > 2 and tonum(aux) or 0)
end
local function twostrings(name, fn, withalt)
  return function(...)
    local argc = select("#", ...)
    if argc < 2 then invarg(name) end
    local s, p, alt = ...
    s, p = tolstr(s), tolstr(p)
    if s == nil or p == nil then invarg(name) end
    if withalt then return fn(s, p, argc > 2 and tolstr(alt) or nil) end
    return fn(s, p)
  end
end
kt.strstr = twostrings("kt_strstr", B.strstr, true)
kt.strfwm = twostrings("kt_strfwm", B.strfwm)
kt.strbwm = twostrings("kt_strbwm", B.strbwm)
kt.regex = twostrings("kt_regex", B.regex, true)
kt.arraydump = function(...)
  local src = ...
  if select("#", ...) ~= 1 or type(src) ~= "table" then invarg("kt_arraydump") end
  local list = {}
  for i = 1, #src do
    local v = dumptext(rawget(src, i))
    if v ~= nil then list[#list + 1] = v end
  end
  stageall(list)
  return B.arraydump()
end
kt.arrayload = function(...)
  if select("#", ...) ~= 1 then invarg("kt_arrayload") end
  local s = tolstr((...))
  if s == nil then invarg("kt_arrayload") end
  return B.arrayload(s)
end
kt.mapdump = function(...)
  local src = ...
  if select("#", ...) ~= 1 or type(src) ~= "table" then invarg("kt_mapdump") end
  local list = {}
  for k, v in next, src do
    k, v = dumptext(k), dumptext(v)
    if k ~= nil and v ~= nil then
      list[#list + 1] = k
      list[#list + 1] = v
    end
  end
  stageall(list)
  return B.mapdump()
end
kt.mapload = function(...)
  if select("#", ...) ~= 1 then invarg("kt_mapload") end
  local s = tolstr((...))
  if s == nil then invarg("kt_mapload") end
  return B.mapload(s)
end
kt.log = function(...)
  local kind, message = ...
  local t = type(kind)
  if select("#", ...) ~= 2 or (t ~= "string" and t ~= "number") then invarg("serv_log") end
  kind, message = tolstr(kind), tolstr(message)
  if kind ~= nil and message ~= nil then B.log(kind, message) end
end

-- Error
local CODENAMES = {[0] = "success", "not implemented", "invalid operation", "no repository", "no permission",
                   "broken file", "record duplication", "no record", "logical inconsistency", "system error"}
local function codename(code)  -- of the code as an uint32_t
  code = tonum(code)
  if code > -1 and code < 10 then return CODENAMES[code < 1 and 0 or floor(code)] end
  return "miscellaneous error"
end
local function isstr(v) local t = type(v) return t == "string" or t == "number" end
local Error = {SUCCESS = 0, NOIMPL = 1, INVALID = 2, NOREPOS = 3, NOPERM = 4, BROKEN = 5, DUPREC = 6, NOREC = 7,
               LOGIC = 8, SYSTEM = 9, MISC = 15}
Error.meta_ = {__tostring = function(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "table" then invarg("err_tostring") end
  local m = e.message_
  return codename(e.code_) .. ": " .. (isstr(m) and tostring(m) or "(null)")
end}
local function err_set(...)
  local e, code, message = ...
  if select("#", ...) ~= 3 or type(e) ~= "table" then invarg("err_set") end
  if isnum(code) and isstr(message) then e.code_, e.message_ = code, message end
  return nil
end
local function err_code(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "table" then invarg("err_code") end
  return e.code_
end
local function err_name(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "table" then invarg("err_name") end
  return codename(e.code_)
end
local function err_message(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "table" then invarg("err_message") end
  return e.message_
end
Error.new = function(...)
  local argc = select("#", ...)
  local cls, code, message = ...
  if argc < 1 or type(cls) ~= "table" or argc > 3 then invarg("err_new") end
  local e = {}
  if argc > 2 and isnum(code) and isstr(message) then
    e.code_, e.message_ = code, message
  else
    e.code_, e.message_ = 0, "error"
  end
  e.set, e.code, e.name, e.message = err_set, err_code, err_name, err_message
  return setmetatable(e, cls.meta_)
end
kt.Error = Error

-- Visitor and FileProcessor
local NOP, REMOVE = newproxy(false), newproxy(false)
local Visitor = {NOP = NOP, REMOVE = REMOVE, meta_ = {}}
local function vis_visit_full(...)
  if select("#", ...) ~= 3 or type((...)) ~= "table" then invarg("vis_visit_full") end
  return nil
end
local function vis_visit_empty(...)
  if select("#", ...) ~= 2 or type((...)) ~= "table" then invarg("vis_visit_empty") end
  return nil
end
Visitor.new = function(...)
  local cls = ...
  if select("#", ...) ~= 1 or type(cls) ~= "table" then invarg("vis_new") end
  return setmetatable({visit_full = vis_visit_full, visit_empty = vis_visit_empty}, cls.meta_)
end
kt.Visitor = Visitor
local FileProcessor = {meta_ = {}}
local function fproc_process(...)
  if select("#", ...) ~= 4 or type((...)) ~= "table" then invarg("fproc_process") end
  return true
end
FileProcessor.new = function(...)
  local cls = ...
  if select("#", ...) ~= 1 or type(cls) ~= "table" then invarg("fproc_new") end
  return setmetatable({process = fproc_process}, cls.meta_)
end
kt.FileProcessor = FileProcessor

-- a visitor's answer for a record (value nil: none), as ktserver's SoftVisitor and TimedDB read it
local function visit(vis, key, value, xt, writable)
  local istable = type(vis) == "table"
  local fn
  if istable then
    fn = vis[value ~= nil and "visit_full" or "visit_empty"]
    if type(fn) ~= "function" then return nil end
  elseif type(vis) == "function" then
    fn = vis
  else
    return nil
  end
  local ok, a, b
  if value ~= nil then
    if istable then ok, a, b = pcall(fn, vis, key, value, xt) else ok, a, b = pcall(fn, key, value, xt) end
  else
    if istable then ok, a, b = pcall(fn, vis, key) else ok, a, b = pcall(fn, key, nil) end
  end
  if not ok then seen(a) return nil end  -- an error in a visitor leaves the record alone
  local op, nv, nxt
  if value ~= nil then
    if a == REMOVE then
      op = "remove"
    elseif a ~= NOP then
      nv = tolstr(a)
      if nv ~= nil then op, nxt = "set", isnum(b) and tonum(b) or -xt end
    end
  elseif b ~= REMOVE and b ~= NOP then
    nv = tolstr(a)
    if nv ~= nil then op, nxt = "set", isnum(b) and tonum(b) or nil end
  end
  if not writable then return nil end
  return op, nv, nxt
end
local function visithook(vis, name)
  if type(vis) ~= "table" then return end
  local fn = vis[name]
  if type(fn) ~= "function" then return end
  local ok, err = pcall(fn, vis)
  if not ok then seen(err) end
end
local function unlocked(idx, ok, ...)
  B.unlock(idx)
  if not ok then error((...), 0) end
  return ...
end
local function locked(idx, fn, ...)
  B.lock(idx)
  return unlocked(idx, pcall(fn, ...))
end

-- Cursor
local curids = setmetatable({}, {__mode = "k"})
local dead = {}
local function flushdead()
  local n = #dead
  if n == 0 then return {} end
  local list = dead
  dead = {}
  if n > 100 then
    local i = 1
    while i + 99 < n do B.cur_free(unpack(list, i, i + 99)) i = i + 100 end
    return {unpack(list, i, n)}
  end
  return list
end
local function cursorof(cur, name)
  if type(cur) ~= "table" then invarg(name) end
  local p = cur.cur_ptr_
  local c = p ~= nil and curids[p] or nil
  if c == nil then invarg(name) end
  return c
end
local Cursor = {meta_ = {}}
local dbids = setmetatable({}, {__mode = "k"})
local function dbof(db)
  if type(db) ~= "table" then return nil end
  local p = db.db_ptr_
  return p ~= nil and dbids[p] or nil
end
local function cur_method(name, argmin, argmax, fn)
  return function(...)
    local argc = select("#", ...)
    if argc < argmin or argc > argmax or type((...)) ~= "table" then invarg(name) end
    local c = cursorof((...), name)
    return fn(c, argc, ...)
  end
end
local cur_methods = {
  disable = cur_method("cur_disable", 1, 1, function(c, argc, self)
    B.cur_free(c.id)
    self.cur_ptr_ = nil
    return nil
  end),
  accept = cur_method("cur_accept", 2, 4, function(c, argc, self, vis, writable, step)
    writable = argc <= 2 or truthy(writable)
    step = argc > 3 and truthy(step)
    if type(vis) ~= "table" and type(vis) ~= "function" then invarg("cur_accept") end
    return locked(c.db, function()
      local k, v, xt = B.cur_current(c.id)
      if k == nil then return false end
      local op, nv, nxt = visit(vis, k, v, xt, writable)
      B.cur_apply(c.id, op, nv, nxt, step)
      return true
    end)
  end),
  set_value = cur_method("cur_set_value", 2, 4, function(c, argc, self, value, xt, step)
    value = tolstr(value)
    if value == nil or value == "" then invarg("cur_set_value") end
    local x = (argc > 2 and xt ~= nil) and tonum(xt) or nil
    step = argc > 3 and truthy(step)
    -- ktserver 0.9.56 passes these two the wrong way round: the step flag as the expiration time (0 or 1 s)
    -- and the expiration time as the step flag (any but 0 steps; none given steps too).
    local realstep = x == nil or (x ~= 0 and not (x > -1 and x < 1))
    return B.cur_set_value(c.id, value, step and 1 or 0, realstep)
  end),
  remove = cur_method("cur_remove", 1, 1, function(c) return B.cur_remove(c.id) end),
  get_key = cur_method("cur_get_key", 1, 2, function(c, argc, self, step)
    return B.cur_get_key(c.id, argc > 1 and truthy(step))
  end),
  get_value = cur_method("cur_get_value", 1, 2, function(c, argc, self, step)
    return B.cur_get_value(c.id, argc > 1 and truthy(step))
  end),
  get = cur_method("cur_get", 1, 2, function(c, argc, self, step)
    return B.cur_get(c.id, argc > 1 and truthy(step))
  end),
  seize = cur_method("cur_seize", 1, 1, function(c) return B.cur_seize(c.id) end),
  jump = cur_method("cur_jump", 1, 2, function(c, argc, self, key)
    if argc > 1 then
      key = tolstr(key)
      if key == nil then invarg("cur_jump") end
      return B.cur_jump(c.id, key)
    end
    return B.cur_jump(c.id, nil)
  end),
  jump_back = cur_method("cur_jump_back", 1, 2, function(c, argc, self, key)
    if argc > 1 then
      key = tolstr(key)
      if key == nil then invarg("cur_jump_back") end
      return B.cur_jump_back(c.id, key)
    end
    return B.cur_jump_back(c.id, nil)
  end),
  step = cur_method("cur_step", 1, 1, function(c) return B.cur_step(c.id) end),
  step_back = cur_method("cur_step_back", 1, 1, function(c) return B.cur_step_back(c.id) end),
  db = cur_method("cur_db", 1, 1, function(c, argc, self) return self.db_ end),
  error = cur_method("cur_error", 1, 1, function(c, argc, self)
    local db = self.db_
    return db.error(db)
  end),
}
Cursor.meta_.__tostring = function(...)
  local self = ...
  if select("#", ...) ~= 1 or type(self) ~= "table" then invarg("cur_tostring") end
  local p = self.cur_ptr_
  local c = p ~= nil and curids[p] or nil
  if c == nil then return "(disabled)" end
  local path = B.path(c.db)
  if path == "" then path = "(nil)" end
  return path .. ": " .. (B.cur_get_key(c.id, false) or "(nil)")
end
Cursor.meta_.__call = function(...)
  local self = ...
  if select("#", ...) < 1 or type(self) ~= "table" then invarg("cur_call") end
  local c = cursorof(self, "cur_call")
  local k, v = B.cur_get(c.id, true)
  if k == nil then return nil end
  return k, v
end
Cursor.new = function(...)
  local cls, db = ...
  if select("#", ...) ~= 2 or type(cls) ~= "table" or type(db) ~= "table" then invarg("cur_new") end
  local idx = dbof(db)
  if idx == nil then invarg("cur_new") end
  local id = B.cur_new(idx, unpack(flushdead()))
  local cur = {}
  local p = newproxy(true)
  getmetatable(p).__gc = function() dead[#dead + 1] = id end
  curids[p] = {id = id, db = idx}
  cur.cur_ptr_ = p
  cur.db_ = db
  for name, fn in next, cur_methods do cur[name] = fn end
  return setmetatable(cur, cls.meta_)
end
kt.Cursor = Cursor

-- DB
local DB = {OREADER = 1, OWRITER = 2, OCREATE = 4, OTRUNCATE = 8, OAUTOTRAN = 16, OAUTOSYNC = 32, ONOLOCK = 64,
            OTRYLOCK = 128, ONOREPAIR = 256, MSET = 0, MADD = 1, MREPLACE = 2, MAPPEND = 3, XNOLOCK = 1,
            XNOCOMP = 256}
DB.new = unsupported("DB:new")
DB.new_ptr = unsupported("DB:new_ptr")
DB.delete_ptr = unsupported("DB:delete_ptr")
DB.process = unsupported("DB:process")
local function db_method(name, argmin, argmax, fn)
  return function(...)
    local argc = select("#", ...)
    if argc < argmin or argc > argmax or type((...)) ~= "table" then invarg(name) end
    local idx = dbof((...))
    if idx == nil then invarg(name) end
    return fn(idx, argc, ...)
  end
end
local function keyarg(name, key)
  key = tolstr(key)
  if key == nil then invarg(name) end
  return key
end
local function keylist(keys)
  local list = {}
  for i = 1, #keys do
    local k = tolstr(rawget(keys, i))
    if k ~= nil then list[#list + 1] = k end
  end
  return list
end
local function writer(op, name)
  return db_method(name, 3, 4, function(idx, argc, self, key, value, xt)
    key, value = tolstr(key), tolstr(value)
    if key == nil or value == nil then invarg(name) end
    return B.write(op, idx, key, value, xtarg(argc, 4, xt))
  end)
end
local function fileproc(idx, argc, proc, failmsg)
  if argc > 2 and (type(proc) == "table" or type(proc) == "function") then
    local path, count, size = B.procargs(idx)
    local ok, res
    if type(proc) == "table" then
      ok, res = pcall(proc.process, proc, path, count, size)
    else
      ok, res = pcall(proc, path, count, size)
    end
    if not ok then seen(res) end
    if not (ok and truthy(res)) then
      B.seterror(idx, 8, failmsg)
      return false
    end
  end
  return true
end
local db_methods = {
  error = db_method("db_error", 1, 1, function(idx, argc, self)
    local err = self.err_
    return err.new(err, B.error(idx))
  end),
  open = unsupported("db:open"),
  close = unsupported("db:close"),
  copy = unsupported("db:copy"),
  dump_snapshot = unsupported("db:dump_snapshot"),
  load_snapshot = unsupported("db:load_snapshot"),
  mapreduce = unsupported("db:mapreduce"),
  accept = db_method("db_accept", 3, 4, function(idx, argc, self, key, vis, writable)
    key = keyarg("db_accept", key)
    writable = argc <= 3 or truthy(writable)
    if type(vis) ~= "table" and type(vis) ~= "function" then invarg("db_accept") end
    return locked(idx, function()
      local v, xt = B.find(idx, key)
      local op, nv, nxt = visit(vis, key, v, xt, writable)
      if op then B.apply(idx, key, op, nv, nxt) end
      return true
    end)
  end),
  accept_bulk = db_method("db_accept_bulk", 3, 4, function(idx, argc, self, keys, vis, writable)
    if type(keys) ~= "table" then invarg("db_accept_bulk") end
    local list = keylist(keys)
    writable = argc <= 3 or truthy(writable)
    if type(vis) ~= "table" and type(vis) ~= "function" then invarg("db_accept_bulk") end
    return locked(idx, function()
      visithook(vis, "visit_before")
      for i = 1, #list do
        local key = list[i]
        local v, xt = B.find(idx, key)
        local op, nv, nxt = visit(vis, key, v, xt, writable)
        if op then B.apply(idx, key, op, nv, nxt) end
      end
      visithook(vis, "visit_after")
      return true
    end)
  end),
  iterate = db_method("db_iterate", 2, 3, function(idx, argc, self, vis, writable)
    writable = argc <= 2 or truthy(writable)
    if type(vis) ~= "table" and type(vis) ~= "function" then invarg("db_iterate") end
    return locked(idx, function()
      visithook(vis, "visit_before")
      local it = B.iter_begin(idx)
      while true do
        local key, v, xt = B.iter_next(it)
        if key == nil then break end
        local op, nv, nxt = visit(vis, key, v, xt, writable)
        if op then B.apply(idx, key, op, nv, nxt) end
      end
      B.iter_end(it)
      visithook(vis, "visit_after")
      return true
    end)
  end),
  set = writer("set", "db_set"),
  add = writer("add", "db_add"),
  replace = writer("replace", "db_replace"),
  append = writer("append", "db_append"),
  increment = db_method("db_increment", 2, 5, function(idx, argc, self, key, num, orig, xt)
    key = keyarg("db_increment", key)
    return B.increment(idx, key, argc > 2 and tonum(num) or 0, argc > 3 and tonum(orig) or 0, xtarg(argc, 5, xt))
  end),
  increment_double = db_method("db_increment_double", 2, 5, function(idx, argc, self, key, num, orig, xt)
    key = keyarg("db_increment_double", key)
    return B.increment_double(idx, key, argc > 2 and tonum(num) or 0, argc > 3 and tonum(orig) or 0,
                              xtarg(argc, 5, xt))
  end),
  cas = db_method("db_cas", 4, 5, function(idx, argc, self, key, oval, nval, xt)
    key = keyarg("db_cas", key)
    return B.cas(idx, key, tolstr(oval), tolstr(nval), xtarg(argc, 5, xt))
  end),
  remove = db_method("db_remove", 2, 2, function(idx, argc, self, key)
    return B.remove(idx, keyarg("db_remove", key))
  end),
  get = db_method("db_get", 2, 2, function(idx, argc, self, key)
    return B.get(idx, keyarg("db_get", key))
  end),
  check = db_method("db_check", 2, 2, function(idx, argc, self, key)
    return B.check(idx, keyarg("db_check", key))
  end),
  seize = db_method("db_seize", 2, 2, function(idx, argc, self, key)
    return B.seize(idx, keyarg("db_seize", key))
  end),
  set_bulk = db_method("db_set_bulk", 2, 4, function(idx, argc, self, recs, xt)
    if type(recs) ~= "table" then invarg("db_set_bulk") end
    local list = {}
    for k, v in next, recs do
      k, v = dumptext(k), dumptext(v)
      if k ~= nil and v ~= nil then
        list[#list + 1] = k
        list[#list + 1] = v
      end
    end
    return locked(idx, function()
      stageall(list)
      return B.set_bulk(idx, xtarg(argc, 3, xt))
    end)
  end),
  remove_bulk = db_method("db_remove_bulk", 2, 3, function(idx, argc, self, keys)
    if type(keys) ~= "table" then invarg("db_remove_bulk") end
    local list = keylist(keys)
    return locked(idx, function()
      stageall(list)
      return B.remove_bulk(idx)
    end)
  end),
  get_bulk = db_method("db_get_bulk", 2, 3, function(idx, argc, self, keys)
    if type(keys) ~= "table" then invarg("db_get_bulk") end
    local list = keylist(keys)
    return locked(idx, function()
      stageall(list)
      return B.get_bulk(idx)
    end)
  end),
  clear = db_method("db_clear", 1, 1, function(idx) return B.clear(idx) end),
  synchronize = db_method("db_synchronize", 1, 3, function(idx, argc, self, hard, proc)
    return locked(idx, fileproc, idx, argc, proc, "postprocessing failed")
  end),
  occupy = db_method("db_occupy", 1, 3, function(idx, argc, self, writable, proc)
    return locked(idx, fileproc, idx, argc, proc, "processing failed")
  end),
  begin_transaction = db_method("db_begin_transaction", 1, 2, function(idx)
    return B.begin_transaction(idx)
  end),
  end_transaction = db_method("db_end_transaction", 1, 2, function(idx, argc, self, commit)
    return B.end_transaction(idx, argc <= 1 or truthy(commit))
  end),
  transaction = db_method("db_transaction", 2, 3, function(idx, argc, self, proc, hard)
    local begin = self.begin_transaction
    local started = begin(self, argc > 2 and truthy(hard))
    if not truthy(started) then return started end
    local ok, res = pcall(proc)
    local finish = self.end_transaction
    local done = finish(self, ok and truthy(res))
    if not ok then error(res, 0) end
    return done
  end),
  count = db_method("db_count", 1, 1, function(idx) return B.count(idx) end),
  size = db_method("db_size", 1, 1, function(idx) return B.size(idx) end),
  path = db_method("db_path", 1, 1, function(idx)
    local path = B.path(idx)
    if path == "" then return nil end
    return path
  end),
  status = db_method("db_status", 1, 1, function(idx) return B.status(idx) end),
  match_prefix = db_method("db_match_prefix", 2, math.huge, function(idx, argc, self, prefix, max)
    return B.match_prefix(idx, keyarg("db_match_prefix", prefix), argc > 2 and tonum(max) or -1)
  end),
  match_regex = db_method("db_match_regex", 2, math.huge, function(idx, argc, self, regex, max)
    return B.match_regex(idx, keyarg("db_match_regex", regex), argc > 2 and tonum(max) or -1)
  end),
  match_similar = db_method("db_match_similar", 2, math.huge, function(idx, argc, self, origin, range, utf, max)
    origin = keyarg("db_match_similar", origin)
    return B.match_similar(idx, origin, argc > 2 and tonum(range) or -1, argc > 3 and truthy(utf),
                           argc > 4 and tonum(max) or -1)
  end),
  merge = db_method("db_merge", 2, 3, function(idx, argc, self, srcary, mode)
    if type(srcary) ~= "table" then invarg("db_merge") end
    mode = (argc > 2 and isnum(mode)) and tonum(mode) or 0
    local n = #srcary
    if n < 1 then return true end
    local list = {}
    for i = 1, n do
      local src = rawget(srcary, i)
      if type(src) == "table" then
        local sidx = dbof(src)
        if sidx == nil then invarg("db_merge") end
        list[#list + 1] = sidx
      end
    end
    stageall(list)
    return B.merge(idx, mode)
  end),
  cursor = db_method("db_cursor", 1, 1, function(idx, argc, self)
    local cur = self.cur_
    return cur.new(cur, self)
  end),
  cursor_process = db_method("db_cursor_process", 2, 2, function(idx, argc, self, proc)
    if type(proc) ~= "function" then invarg("db_cursor_process") end
    local class = self.cur_
    local cur = class.new(class, self)
    local ok, err = pcall(proc, cur)
    local disable = cur.disable
    disable(cur)
    if not ok then error(err, 0) end
  end),
  pairs = db_method("db_pairs", 1, 1, function(idx, argc, self)
    local class = self.cur_
    local cur = class.new(class, self)
    local jump = cur.jump
    jump(cur)
    return cur, self, nil
  end),
}
DB.meta_ = {
  __tostring = function(...)
    local self = ...
    if select("#", ...) ~= 1 or type(self) ~= "table" then invarg("db_tostring") end
    local idx = dbof(self)
    if idx == nil then invarg("db_tostring") end
    local path = B.path(idx)
    if path == "" then path = "(nil)" end
    return path .. ": " .. format("%d", B.count(idx)) .. ": " .. format("%d", B.size(idx))
  end,
  __index = function(...)
    local self, key = ...
    if select("#", ...) ~= 2 or type(self) ~= "table" then invarg("db_index") end
    local idx = dbof(self)
    key = tolstr(key)
    if idx == nil or key == nil then invarg("db_index") end
    return (B.get(idx, key))
  end,
  __newindex = function(...)
    local self, key, value = ...
    if select("#", ...) ~= 3 or type(self) ~= "table" then invarg("db_newindex") end
    local idx = dbof(self)
    key = tolstr(key)
    if idx == nil or key == nil then invarg("db_newindex") end
    value = tolstr(value)
    if value ~= nil then return B.write("set", idx, key, value, nil) end
    return B.remove(idx, key)
  end,
}
kt.DB = DB

local dbs = {}
for i = 1, NDB do
  local db = {}
  local p = newproxy(false)
  dbids[p] = i - 1
  db.db_ptr_ = p
  db.err_ = Error
  db.cur_ = Cursor
  for name, fn in next, db_methods do db[name] = fn end
  dbs[i] = setmetatable(db, DB.meta_)
end
for i = 1, #DBNAMES, 2 do dbs[DBNAMES[i]] = dbs[DBNAMES[i + 1]] end
kt.db = dbs[1]
kt.dbs = dbs
G.__kyototycoon__ = kt

-- a procedure call, as ktserver's ScriptProcessor::call makes it
local function dispatch(name, inmap)
  aborted = nil
  local ok, fn = pcall(function() return G[name] end)
  if not ok then return "error", fn end
  if type(fn) ~= "function" then return "noimpl" end
  local outmap = {}
  B.begin()
  local ok, ret = pcall(fn, inmap, outmap)
  B.finish()
  if not ok then return "error", ret end
  for k, v in next, outmap do  -- only what ktserver's StringBuilder takes goes back
    local tk, tv = type(k), type(v)
    if (tk ~= "string" and tk ~= "number" and tk ~= "boolean") or
       (tv ~= "string" and tv ~= "number" and tv ~= "boolean") then
      outmap[k] = nil
    end
  end
  local code = type(ret) == "number" and ret or (type(ret) == "string" and tonumber(ret)) or 0
  return "ok", outmap, code
end
-- the script file itself, run once
local function run(chunk)
  aborted = nil
  B.begin()
  local ok, err = pcall(chunk)
  B.finish()
  if not ok then return err end
  return nil
end
return dispatch, run
"""
