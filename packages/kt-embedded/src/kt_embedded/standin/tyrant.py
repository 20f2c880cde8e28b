"""Tokyo Tyrant 1.1.41 stand-in server: the real binary protocol over an in-memory database.

Run as ``python -m kt_embedded.standin.tyrant [-host H] [-port P] [-ext script.lua|script.py] [-log FILE]
[-mask EXPR] [-unmask EXPR] DB`` (DB: ``*`` hash, ``+`` tree, ``x.tch``, ``x.tcb``, ``x.tct`` table;
``-port 0`` picks a free port and prints it; ``-mask``/``-unmask`` forbid commands as ttserver's
do, see :func:`command_mask`), or in-process::

    with TokyoTyrantStandin(port=0, database="x.tct", scripts={"echo": echo}) as server:
        ... server.port ...

The wire format comes from :mod:`kt_core.codec.tyrant` (``parse_request`` and the reply encoders); this
module only decides what each command does and which reply code the real server would send.
An ext script is a Lua file, run as ttserver runs it by :mod:`kt_embedded.standin.tt_lua` (needs the
``kt-embedded[lua]`` extra), or Python callables ``fn(key: bytes, value: bytes, db) -> bytes | None``
(None is failure; ``db`` is a :class:`ScriptDB`).

With ``-ulog DIR -sid N [-ulim SIZE]`` it keeps an update log as ttserver does, in ttserver's files
(:mod:`kt_embedded.standin.tt_ulog`), and serves ``repl`` (:mod:`kt_core.codec.tyrant_repl`) from it to
``TokyoTyrant.replicate`` and to a slave, real or stand-in. With ``-mhost H -mport P [-rts FILE]`` it
is itself a slave of that master, as ttserver's: it applies the master's records (logging them
under their server id, so two servers can be each other's master) and keeps the newest time stamp
applied in the RTS file (default ``ttserver.rts``). ``restore`` replays the update-log files of a
``-ulog`` directory. ``setmst`` points the slave at another master (an empty host stops it), from
the time stamp it gives, as ttserver's does; ``stat`` shows the master and the slave's time stamp.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import re
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Optional, Union, cast

from kt_core.codec import tyrant as tt
from kt_core.codec import tyrant_repl as repl
from kt_core.codec.reader import NEED_MORE, Reader
from kt_core.errors import ProtocolError

from .base import CLOSE, CLOSE_IF_IDLE, Session, SlaveThread, StandinServer, common_arguments
from .tt_db import Database, open_database, tc_atof, tc_atoi
from .tt_lua import DEFAULT_MEMORY_LIMIT, DEFAULT_THREADS, DEFAULT_TIME_LIMIT, LuaExt, LuaUnavailableError, import_lua51
from .tt_ulog import TIME_DEVIANCE_US, LoggedDatabase, UpdateLog

__all__ = ["TokyoTyrantStandin", "ScriptDB", "command_mask", "load_scripts", "main"]

ExtFunction = Callable[[bytes, bytes, "ScriptDB"], Optional[bytes]]

_STAT_COUNTERS = ["put", "putkeep", "putcat", "putshl", "putnr", "out", "get", "mget", "vsiz", "iterinit",
                  "iternext", "fwmkeys", "addint", "adddouble", "ext", "sync", "optimize", "vanish", "copy",
                  "restore", "setmst", "rnum", "size", "stat", "misc", "repl"]
_START = time.time()

# ttserver's command numbers (TTSEQ*, in order) and the -mask groups after them (getcmdmask).
_MASK_NAMES = ["put", "putkeep", "putcat", "putshl", "putnr", "out", "get", "mget", "vsiz", "iterinit", "iternext",
               "fwmkeys", "addint", "adddouble", "ext", "sync", "optimize", "vanish", "copy", "restore", "setmst",
               "rnum", "size", "stat", "misc", "repl", "slave", "allorg", "allmc", "allhttp", "allread", "allwrite",
               "allmanage"]
_MASK_BIT = {name: 1 << i for i, name in enumerate(_MASK_NAMES)}
_MASK_GROUP = dict.fromkeys(["put", "putkeep", "putcat", "putshl", "putnr", "out", "addint", "adddouble", "vanish",
                             "misc"], "allwrite")
_MASK_GROUP.update(dict.fromkeys(["get", "mget", "vsiz", "iterinit", "iternext", "fwmkeys", "rnum", "size", "stat"],
                                 "allread"))
_MASK_GROUP.update(dict.fromkeys(["sync", "optimize", "copy", "restore", "setmst"], "allmanage"))
_ALL_MASK = (1 << 64) - 1
_HEX_PREFIX = re.compile(r"[0-9a-fA-F]*")


def command_mask(expr: str) -> int:
    """The bits ttserver's ``-mask``/``-unmask`` EXPR names: command names (``put``, ``misc``...), the
    groups ``all``, ``allorg``, ``allread``, ``allwrite``, ``allmanage`` (and ``allmc``, ``allhttp``),
    or ``0x`` hex numbers; separated by spaces or commas, case-insensitive; unknown names are ignored."""
    mask = 0
    for name in re.split(r"[ ,]", expr):
        low = name.lower()
        if low.startswith("0x"):
            digits = _HEX_PREFIX.match(low, 2)
            mask |= int(digits.group(0), 16) if digits and digits.group(0) else 0
        elif low == "all":
            mask |= _ALL_MASK
        elif low in _MASK_BIT:
            mask |= _MASK_BIT[low]
    return mask & _ALL_MASK


_ULOG_NAME = re.compile(r"([0-9]+)")
#: How often the master sends a NOP on an idle stream. ttserver waits a second; the stand-in is
#: quicker so that a consumer sees sooner that it has caught up (the bytes sent are the same).
REPL_NOP_INTERVAL = 0.25


class _ReplRequest:
    """A decoded ``repl`` request: the time stamp to start at and the slave's server id."""

    __slots__ = ("sid", "ts")

    def __init__(self, ts: int, sid: int) -> None:
        self.ts = ts
        self.sid = sid


class ScriptDB:
    """What an ext function sees as ``db``: the Lua ``_get``/``_put``... functions, as methods."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._db.lock:
            return fn(*args)

    def get(self, key: bytes) -> Optional[bytes]:
        return self._call(self._db.get, key)

    def put(self, key: bytes, value: bytes) -> bool:
        return self._call(self._db.put, key, value)

    def putkeep(self, key: bytes, value: bytes) -> bool:
        return self._call(self._db.putkeep, key, value)

    def putcat(self, key: bytes, value: bytes) -> bool:
        return self._call(self._db.putcat, key, value)

    def out(self, key: bytes) -> bool:
        return self._call(self._db.out, key)

    def vsiz(self, key: bytes) -> Optional[int]:
        return self._call(self._db.vsiz, key)

    def addint(self, key: bytes, num: int) -> Optional[int]:
        return self._call(self._db.addint, key, num)

    def adddouble(self, key: bytes, num: float) -> Optional[float]:
        return self._call(self._db.adddouble, key, num)

    def fwmkeys(self, prefix: bytes, max_keys: int = -1) -> list[bytes]:
        return self._call(self._db.fwmkeys, prefix, max_keys)

    def rnum(self) -> int:
        return self._call(self._db.rnum)

    def vanish(self) -> bool:
        return self._call(self._db.vanish)

    def misc(self, name: Union[str, bytes], args: list[bytes] = ()) -> Optional[list[bytes]]:  # type: ignore[assignment]
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        code, out = self._call(self._db.misc, name, list(args))
        return out if code == 0 else None


def load_scripts(path: Union[str, os.PathLike[str]]) -> dict[str, ExtFunction]:
    """The public functions of a Python ext script file, by name (a .lua file: see :class:`LuaExt`)."""
    path = Path(path)
    if path.suffix == ".lua":
        raise ValueError(f"{path}: load_scripts reads Python ext scripts; a Lua script runs in a LuaExt "
                         "(TokyoTyrantStandin(scripts='x.lua') or -ext x.lua)")
    spec = importlib.util.spec_from_file_location(f"_tt_ext_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot load as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: fn for name, fn in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(fn) and fn.__module__ == module.__name__}


class _UnknownCommand:
    """The magic byte and a command byte ttserver does not know."""

    __slots__ = ("byte",)

    def __init__(self, byte: int) -> None:
        self.byte = byte


class TokyoTyrantStandin(StandinServer):
    """A Tokyo Tyrant 1.1.41 stand-in serving one database (see the module docstring)."""

    name = "tt-standin"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, database: str = "*",
                 scripts: Union[Mapping[str, ExtFunction], str, os.PathLike[str], None] = None,
                 workdir: Union[str, os.PathLike[str], None] = None, log: Optional[str] = None,
                 mask: int = 0, lua_threads: int = DEFAULT_THREADS, lua_time_limit: float = DEFAULT_TIME_LIMIT,
                 lua_memory_limit: int = DEFAULT_MEMORY_LIMIT, sid: int = 0, ulog: Optional[str] = None,
                 ulim: int = 0, mhost: Optional[str] = None, mport: int = 1978, rts: str = "ttserver.rts",
                 **kwargs: Any) -> None:
        self.db = open_database(database)  # fail on a bad spec before binding
        self.ulog: Optional[UpdateLog] = None
        if ulog is not None and sid > 0:  # ttserver turns the log off without a server id
            self.ulog = UpdateLog(ulog, ulim)
            # Every update, Lua's included, goes through the wrapper: it logs as tculogadb* do.
            self.db = cast(Database, LoggedDatabase(self.db, self.ulog, sid))
        self.lua: Optional[LuaExt] = None
        lua_path: Optional[Path] = None
        if scripts is None:
            self.scripts: dict[str, ExtFunction] = {}
        elif isinstance(scripts, (str, os.PathLike)) and Path(scripts).suffix == ".lua":
            import_lua51()  # without lupa: LuaUnavailableError, naming the extra, before binding
            lua_path = Path(scripts)
            if not lua_path.is_file():
                raise ValueError(f"{lua_path}: no such ext script")
            self.scripts = {}
        elif isinstance(scripts, (str, os.PathLike)):
            self.scripts = load_scripts(scripts)
        else:
            self.scripts = dict(scripts)
        super().__init__(host, port, **kwargs)
        self.database = database
        self.workdir = Path(workdir) if workdir is not None else None
        self.counts = dict.fromkeys(_STAT_COUNTERS, 0)
        self.misses = {"put": 0, "out": 0, "get": 0}
        self._count_lock = threading.Lock()
        self._log = open(log, "a", encoding="utf-8") if log else None
        # The master the slave follows (-mhost/-mport, then setmst); an empty host: none.
        self.master: tuple[bytes, int] = ((mhost or "").encode("utf-8"), mport)
        self.mask = mask  # -mask: forbidden commands (command_mask bits)
        self.sid = sid
        self._conn_local = threading.local()
        # ttserver's slave runs once a second whether or not a master is set yet (setmst may set one).
        self._slave = _Slave(self, rts)
        if lua_path is not None:
            try:  # after the log is open: the script's top level and _begin run now, and may log
                self.lua = LuaExt(lua_path, self.db, self.log, threads=lua_threads, time_limit=lua_time_limit,
                                  memory_limit=lua_memory_limit, sid=sid)
            except BaseException:
                self._listener.close()
                raise

    # -- protocol hooks ------------------------------------------------------------------
    def parse(self, buf: Any, pos: int, end: int, limit: int) -> Any:
        if end - pos >= 2 and buf[pos] == tt.MAGIC and buf[pos + 1] == repl.CMD_REPL:
            r = repl.parse_repl_request(buf, pos, end, limit)
            return r if isinstance(r, int) else (r[0], _ReplRequest(r[1], r[2]))
        if end - pos >= 2 and buf[pos] == tt.MAGIC and buf[pos + 1] not in tt.COMMAND_NAMES:
            return pos + 2, _UnknownCommand(buf[pos + 1])
        return tt.parse_request(buf, pos, end, limit)

    def handle(self, request: Any, session: Session) -> Any:
        if isinstance(request, _UnknownCommand):
            # ttserver skips the two bytes and serves whatever it has already received after them; with
            # nothing there it closes the connection.
            self.log(f"unknown command 0x{request.byte:02x} from {session.peer}")
            return CLOSE_IF_IDLE
        if isinstance(request, _ReplRequest):
            with self._count_lock:
                self.counts["repl"] += 1
            return self._serve_repl(request)
        command, fields = request
        with self._count_lock:
            self.counts[command] += 1
        if self.mask and self._forbidden(command):
            return self._forbidden_reply(command)
        if command == "ext":
            return self._ext(**fields)
        with self.db.lock:
            return getattr(self, "_cmd_" + command)(**fields)

    def on_protocol_error(self, exc: Exception, peer: Any) -> None:
        self.log(f"closing connection from {peer}: {exc}")

    def log(self, message: str) -> None:
        if self._log is not None:
            self._log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{message}\n")
            self._log.flush()

    def serve_forever(self) -> None:
        if not self._slave.is_alive():
            self._slave.start()
        super().serve_forever()

    def _serve_connection(self, conn: Any, peer: Any) -> None:
        self._conn_local.conn = conn  # a repl stream takes the connection over
        super()._serve_connection(conn, peer)

    def stop(self) -> None:
        self._slave.stop()
        super().stop()
        if self.ulog is not None:
            self.ulog.close()
        if self.lua is not None:
            self.lua.close()  # runs the script's _end
            self.lua = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _forbidden(self, command: str) -> bool:
        bits = _MASK_BIT[command]
        if command != "repl":
            bits |= _MASK_BIT["allorg"]
        group = _MASK_GROUP.get(command)
        if group is not None:
            bits |= _MASK_BIT[group]
        return bool(self.mask & bits)

    def _forbidden_reply(self, command: str) -> Optional[bytes]:
        """What ttserver 1.1.41 answers a -mask'ed command (logging "forbidden"): mostly code 1, but an
        empty success for mget, fwmkeys and misc, 0 for rnum and size, only the counters for stat."""
        self.log(f"do_{command}: forbidden")
        if command == "putnr":
            return None
        if command == "mget":
            return tt.encode_mget_reply(0, [])
        if command == "fwmkeys":
            return tt.encode_fwmkeys_reply(0, [])
        if command == "misc":
            return tt.encode_misc_reply(0, [])
        if command == "rnum":
            return tt.encode_rnum_reply(0)
        if command == "size":
            return tt.encode_size_reply(0)
        if command == "stat":
            return tt.encode_stat_reply({k: v for k, v in self.status().items() if k.startswith("cnt_")})
        if command == "get":
            self._miss("get")
        return tt.encode_code_reply(1)

    # -- replication master (repl) ------------------------------------------------------------
    def _serve_repl(self, req: _ReplRequest) -> Any:
        """ttserver's do_repl: the server id, then every record stamped ``req.ts`` or later except those
        of (or replicated from) server id ``req.sid``; a NOP first and then at most every
        :data:`REPL_NOP_INTERVAL` seconds at the top of a round, or while skipping records."""
        if req.ts < 1 or req.sid < 1:
            self.log("do_repl: invalid parameters")
            return CLOSE()
        if self.mask & _MASK_BIT["repl"]:
            self.log("do_repl: forbidden")
            return CLOSE()
        if req.sid == self.sid:
            self.log("do_repl: rejected circular replication")
            return CLOSE()
        conn = self._conn_local.conn
        conn.sendall(repl.encode_repl_open(self.sid))
        ulog = self.ulog
        if ulog is None:
            self.log("do_repl: tculrdnew failed")
            return CLOSE()
        reader = ulog.reader(req.ts)
        self.log(f"replicating to sid={req.sid} after {req.ts - 1}")
        nop = repl.encode_repl_nop()
        sid = req.sid
        noptime = 0.0
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now - noptime >= REPL_NOP_INTERVAL:
                    conn.sendall(nop)
                    noptime = now
                seen = ulog.writes
                out: list[bytes] = []
                size = 0
                skipped = 0
                while (rec := reader.read()) is not None:
                    rts, rsid, rmid, message = rec
                    if rsid == sid or rmid == sid:
                        if skipped & 0xFF == 0 and time.monotonic() - noptime >= REPL_NOP_INTERVAL:
                            out.append(nop)
                            noptime = time.monotonic()
                        skipped += 1
                        continue
                    out.append(repl.encode_repl_record(rts, rsid, message))
                    size += len(message) + 17
                    if size >= 65536:
                        conn.sendall(b"".join(out))
                        out, size = [], 0
                if out:
                    conn.sendall(b"".join(out))
                # tculrdwait: until the log grows, or the next NOP is due
                ulog.wait(seen, max(noptime + REPL_NOP_INTERVAL - time.monotonic(), 0.001))
        except OSError:
            self.log("do_repl: connection closed")
        finally:
            reader.close()
        return CLOSE()

    def _miss(self, kind: str) -> None:
        with self._count_lock:
            self.misses[kind] += 1

    def _path(self, path: bytes) -> Path:
        p = Path(os.fsdecode(path))
        return p if p.is_absolute() or self.workdir is None else self.workdir / p

    # -- commands --------------------------------------------------------------------------
    def _code(self, ok: bool, miss: str = "") -> bytes:
        if not ok and miss:
            self._miss(miss)
        return tt.encode_code_reply(0 if ok else 1)

    def _cmd_put(self, key: bytes, value: bytes) -> bytes:
        return self._code(self.db.put(key, value), "put")

    def _cmd_putkeep(self, key: bytes, value: bytes) -> bytes:
        return self._code(self.db.putkeep(key, value), "put")

    def _cmd_putcat(self, key: bytes, value: bytes) -> bytes:
        return self._code(self.db.putcat(key, value), "put")

    def _cmd_putshl(self, key: bytes, value: bytes, width: int) -> bytes:
        return self._code(self.db.putshl(key, value, width), "put")

    def _cmd_putnr(self, key: bytes, value: bytes) -> None:
        self.db.put(key, value)  # putnr never replies, even on failure
        return None

    def _cmd_out(self, key: bytes) -> bytes:
        return self._code(self.db.out(key), "out")

    def _cmd_get(self, key: bytes) -> bytes:
        value = self.db.get(key)
        if value is None:
            self._miss("get")
            return tt.encode_code_reply(1)
        return tt.encode_get_reply(value)

    def _cmd_mget(self, keys: list[bytes]) -> bytes:
        pairs = []
        for key in keys:
            value = self.db.get(key)
            if value is not None:
                pairs.append((key, value))
        return tt.encode_mget_reply(0, pairs)

    def _cmd_vsiz(self, key: bytes) -> bytes:
        size = self.db.vsiz(key)
        return tt.encode_code_reply(1) if size is None else tt.encode_vsiz_reply(size)

    def _cmd_iterinit(self) -> bytes:
        return self._code(self.db.iterinit())

    def _cmd_iternext(self) -> bytes:
        rec = self.db.iternext()
        return tt.encode_code_reply(1) if rec is None else tt.encode_iternext_reply(rec[0])

    def _cmd_fwmkeys(self, prefix: bytes, max_keys: int) -> bytes:
        return tt.encode_fwmkeys_reply(0, self.db.fwmkeys(prefix, max_keys))

    def _cmd_addint(self, key: bytes, num: int) -> bytes:
        total = self.db.addint(key, num)
        return tt.encode_code_reply(1) if total is None else tt.encode_addint_reply(total)

    def _cmd_adddouble(self, key: bytes, num: float) -> bytes:
        total = self.db.adddouble(key, num)
        return tt.encode_code_reply(1) if total is None else tt.encode_adddouble_reply(total)

    def _ext(self, name: bytes, key: bytes, value: bytes, opts: int) -> bytes:
        lua = self.lua
        if lua is not None:  # the record/global lock options are ttserver's record mutexes, in LuaExt
            out = lua.call(name, key, value, opts)
            return tt.encode_code_reply(1) if out is None else tt.encode_ext_reply(out)
        fn = self.scripts.get(name.decode("utf-8", "replace"))
        if fn is None:
            return tt.encode_code_reply(1)
        locked = bool(opts & (tt.RDBXOLCKREC | tt.RDBXOLCKGLB))
        try:
            if locked:  # one lock per database serves both the record and the global option
                with self.db.lock:
                    result = fn(key, value, ScriptDB(self.db))
            else:
                result = fn(key, value, ScriptDB(self.db))
        except Exception as exc:  # a failing script is a failed call, as a Lua error is
            self.log(f"ext {name!r} failed: {exc!r}")
            return tt.encode_code_reply(1)
        if result is None:
            return tt.encode_code_reply(1)
        if isinstance(result, str):
            result = result.encode("utf-8")
        return tt.encode_ext_reply(bytes(result))

    def _cmd_sync(self) -> bytes:
        if self.ulog is not None:
            cast(LoggedDatabase, self.db).sync()
        return tt.encode_code_reply(0)

    def _cmd_optimize(self, params: bytes) -> bytes:
        if self.ulog is not None:
            cast(LoggedDatabase, self.db).optimize(params)
        return tt.encode_code_reply(0)

    def _cmd_vanish(self) -> bytes:
        return self._code(self.db.vanish())

    def _cmd_copy(self, path: bytes) -> bytes:
        if path.startswith(b"@"):  # ttserver would run a backup command: not in a stand-in
            return tt.encode_code_reply(1)
        try:
            self._path(path).write_bytes(self.db.dump())
        except OSError:
            return tt.encode_code_reply(1)
        return tt.encode_code_reply(0)

    def _cmd_restore(self, path: bytes, ts: int, opts: int) -> bytes:
        return tt.encode_code_reply(0 if self.restore(self._path(path), ts, bool(opts & tt.RDBROCHKCON)) else 1)

    def restore(self, directory: Path, ts: int, check: bool = False) -> bool:
        """tculogadbrestore: replay the update logs in ``directory`` logged at ``ts`` (usec) or later.

        False if ``directory`` is not a directory, a message cannot be replayed, or (``check``) a
        replay does not end as it did when logged. A bad or cut-off record ends the replay quietly.
        """
        if not directory.is_dir():
            return False
        numbers = [int(m.group(1)) for m in map(_ULOG_NAME.match, os.listdir(directory))
                   if m is not None and m.string.endswith(".ulog")]
        last = max([n for n in numbers if (directory / f"{n:08d}.ulog").is_file()] or [1])
        since = ts - TIME_DEVIANCE_US if ts > TIME_DEVIANCE_US else 0
        first = 1
        for n in range(last, 0, -1):  # tculrdnew: back from the newest file to one begun before `since`
            try:
                with open(directory / f"{n:08d}.ulog", "rb") as f:
                    head = f.read(9)  # the first record's magic and time stamp
            except OSError:
                break
            first = n
            if len(head) == 9 and since >= int.from_bytes(head[1:9], "big"):
                break
        for n in range(first, last + 1):
            try:
                data = (directory / f"{n:08d}.ulog").read_bytes()
            except OSError:
                return True
            pos = 0
            while True:
                try:
                    r = repl.read_ulog_record(data, pos, len(data), len(data) + repl.ULOG_RECORD_HEAD.size)
                except ProtocolError:
                    return True  # tculrdread stops at a bad magic byte: no error
                if isinstance(r, int):
                    if pos + repl.ULOG_RECORD_HEAD.size <= len(data):
                        return True  # a record cut off in its message ends the replay, with success
                    break  # a file ending inside a record's head: the next file
                pos, stamp, rsid, rmid, message = r
                if stamp < ts:
                    continue
                outcome = self._redo(message, rsid, rmid)
                if outcome is None or (check and not outcome):
                    return False
        return True

    def _redo(self, message: bytes, sid: int = 0, mid: int = 0) -> Optional[bool]:
        """tculogadbredo: apply one logged command (logged again under server id ``sid`` and master id
        ``mid``, when this server keeps a log). None if it cannot be replayed, else whether it ended
        as logged (the message's last byte is 0 when the command had succeeded)."""
        with self.db.lock:
            if self.ulog is None:
                return self._redo_locked(message)
            with cast(LoggedDatabase, self.db).origin(sid, mid):
                return self._redo_locked(message)

    def _redo_locked(self, message: bytes) -> Optional[bool]:
        if len(message) < 3 or message[0] != tt.MAGIC:
            return None
        succeeded = message[-1] == 0
        body = message[:-1]
        if message[1] == 0x90:  # misc: the log leaves out the request's options field
            body = body[:6] + b"\x00\x00\x00\x00" + body[6:]
        try:
            parsed = tt.parse_request(body, 0, len(body), len(body) + 1)
        except ProtocolError:
            return None
        if isinstance(parsed, int) or parsed[0] != len(body):
            return None
        command, fields = parsed[1]
        db = self.db
        if command in ("put", "putkeep", "putcat", "out"):
            ok = getattr(db, command)(**fields)
        elif command == "putshl":
            ok = db.putshl(fields["key"], fields["value"], fields["width"])
        elif command == "addint":
            return db.addint(fields["key"], fields["num"]) is not None or not succeeded
        elif command == "adddouble":
            return db.adddouble(fields["key"], fields["num"]) is not None or not succeeded
        elif command == "sync":
            ok = self._cmd_sync() == b"\x00"
        elif command == "optimize":
            ok = self._cmd_optimize(fields["params"]) == b"\x00"
        elif command == "vanish":
            ok = db.vanish()
        elif command == "misc":
            ok = db.misc(fields["name"].decode("latin-1"), fields["args"])[0] == 0
        else:
            return None
        return bool(ok) == succeeded

    def _cmd_setmst(self, host: bytes, port: int, ts: int, opts: int) -> bytes:
        # As do_setmst: the slave drops its stream and, at its next round, follows the new master from
        # ``ts`` (written to the RTS file first when above 0); RDBROCHKCON in ``opts`` stops it at the
        # first record that does not end as the master's did.
        self.master = (host.split(b"\0", 1)[0], port)  # ttserver copies it as a C string
        self._slave.retarget(ts, opts)
        return tt.encode_code_reply(0)

    def _cmd_rnum(self) -> bytes:
        return tt.encode_rnum_reply(self.db.rnum())

    def _cmd_size(self) -> bytes:
        return tt.encode_size_reply(self.db.size())

    def _cmd_stat(self) -> bytes:
        return tt.encode_stat_reply(self.status())

    def _cmd_misc(self, name: bytes, args: list[bytes], opts: int) -> bytes:
        # RDBMONOULOG (opts 1): not logged. A function the database type lacks (range on a hash,
        # putdup on the `+` tree, ...) is code 1.
        db = cast(LoggedDatabase, self.db).inner if self.ulog is not None and opts & tt.RDBMONOULOG else self.db
        code, out = db.misc(name.decode("latin-1"), args)
        return tt.encode_misc_reply(code, out)

    def status(self) -> dict[str, object]:
        """The ``stat`` fields, named and ordered as ttserver 1.1.41 reports them."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = 0.0
        st: dict[str, object] = {
            "version": "1.1.41", "libver": 324, "protver": "0.91", "os": "Linux" if sys.platform.startswith("linux")
            else sys.platform, "time": f"{time.time():.6f}", "pid": os.getpid(), "sid": self.sid,
            "type": self.db.type_name, "path": self.database, "rnum": self.db.rnum(), "size": self.db.size(),
            "bigend": 1 if sys.byteorder == "big" else 0,
        }
        if self.master[0]:  # where ttserver puts them: after bigend
            st["mhost"] = self.master[0].decode("utf-8", "replace")
            st["mport"] = self.master[1]
            st["rts"] = self._slave.rts
            st["delay"] = max(time.time() - self._slave.rts / 1000000.0, 0.0)
        st.update({
            "fd": self._listener.fileno(), "loadavg": float(load), "memsize": 0, "memrss": usage.ru_maxrss * 1024,
            "ru_user": float(usage.ru_utime), "ru_sys": float(usage.ru_stime), "ru_real": time.time() - _START,
        })
        for name in _STAT_COUNTERS:
            st[f"cnt_{name}"] = self.counts[name]
        for name in ("put", "out", "get"):
            st[f"cnt_{name}_miss"] = self.misses[name]
        return st


class _Slave(SlaveThread):
    """ttserver's replication slave (``-mhost/-mport/-rts``, ``setmst``; do_slave): every second while
    no stream runs and a master is set, it reads the time stamp in the RTS file, asks the master for
    the records after it (``repl`` with that time stamp plus one and its own server id), applies each
    as tculogadbredo does (logged under the record's server id, with the master's id as master id) and
    writes the record's time stamp to the RTS file (``%llu\n``) after each."""

    def __init__(self, server: TokyoTyrantStandin, rtspath: str) -> None:
        super().__init__("ttserver-standin-slave")
        self.server = server
        self.rtspath = rtspath
        self.rts = 0
        self._lock = threading.Lock()
        self._mts = 0  # a setmst time stamp, written to the RTS file at the next round
        self._opts = 0
        self._fatal = False  # an inconsistency under RDBROCHKCON: idle until the next setmst

    def retarget(self, ts: int, opts: int) -> None:
        with self._lock:
            self._mts, self._opts, self._fatal = ts, opts, False
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the stream to the old master ends now
            except OSError:
                pass

    def run(self) -> None:
        failed = False
        while self._alive.is_set():
            host, port = self.server.master
            with self._lock:
                mts, self._mts = self._mts, 0
                fatal = self._fatal
            if mts > 0:
                try:
                    with open(self.rtspath, "wb") as f:
                        f.write(b"%d\n" % mts)
                except OSError:
                    self.server.log("do_slave: tcwritefile failed")
            if fatal or not host or port < 1:
                self.pause(1.0)
                continue
            try:
                with open(self.rtspath, "rb") as f:
                    self.rts = tc_atoi(f.read(64)) % (1 << 64)
            except OSError:
                self.rts = 0
            name = host.decode("utf-8", "replace")
            try:
                sock = socket.create_connection((name, port), timeout=60)
            except OSError:
                if not failed:
                    self.server.log("do_slave: tcreplopen failed")
                failed = True
                self.pause(1.0)
                continue
            self._sock = sock
            try:
                sock.sendall(repl.encode_repl(self.rts + 1, self.server.sid))
                self._follow(sock, f"{name}:{port}", (host, port))
            except (OSError, ProtocolError, ValueError):
                pass
            finally:
                self._sock = None
                sock.close()
            failed = False
            self.server.log("replication finished")
            self.pause(1.0)  # do_slave runs once a second

    def _follow(self, sock: socket.socket, where: str, master: tuple[bytes, int]) -> None:
        reader = Reader(1 << 30)
        mid: Optional[int] = None
        server = self.server
        while self._alive.is_set() and server.master == master:
            frame = reader.read(repl.read_repl_frame if mid is not None else repl.read_repl_open)
            if frame is NEED_MORE:
                data = sock.recv(65536)
                if not data:
                    return
                reader.feed(data)
                continue
            if mid is None:
                mid = frame[1]
                if mid < 1:
                    return
                server.log(f"replicating from sid={mid} ({where}) after {self.rts}")
                continue
            _, rts, rsid, message = frame
            if message is None or not message:
                continue
            consistent = server._redo(message, rsid, mid)
            if consistent is None:
                server.log("do_slave: tculogadbredo failed")
                return
            if not consistent:
                if self._opts & tt.RDBROCHKCON:
                    with self._lock:
                        self._fatal = True
                    server.log("do_slave: detected inconsistency")
                    return
                server.log("do_slave: detected inconsistency")
            with open(self.rtspath, "wb") as f:
                f.write(b"%d\n" % rts)
            self.rts = rts


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _atoix(text: str) -> int:
    """A size as tcatoix reads it: a number with an optional k, m or g (binary multiples)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kKmMgG]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


class _MaskAction(argparse.Action):
    """-mask / -unmask, kept in command-line order: (option, EXPR) pairs."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        ops = list(getattr(namespace, self.dest, None) or [])
        ops.append((option_string, values))
        setattr(namespace, self.dest, ops)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kt_embedded.standin.tyrant",
                                     description="Tokyo Tyrant 1.1.41 stand-in server (in memory; not for production)")
    common_arguments(parser)
    parser.add_argument("-ext", help="ext script: a Lua file (.lua, run as ttserver does; needs kt-embedded[lua]) "
                        "or a Python file whose public functions fn(key, value, db) become ext names")
    parser.add_argument("-extpc", nargs=2, action="append", metavar=("NAME", "PERIOD"),
                        help="call the Lua ext function NAME every PERIOD seconds")
    parser.add_argument("-thnum", type=int, default=DEFAULT_THREADS,
                        help="Lua states for the ext script (ttserver's worker threads; default 8)")
    parser.add_argument("-sid", type=int, default=0, help="server id (stat's sid, the script's _sid; needed by -ulog)")
    parser.add_argument("-ulog", default=None, help="keep an update log in this (existing) directory")
    parser.add_argument("-ulim", type=_atoix, default=0, help="size at which the update log begins its next file")
    parser.add_argument("-mhost", default=None, help="replicate from the master on this host")
    parser.add_argument("-mport", type=int, default=1978, help="the master's port (default 1978)")
    parser.add_argument("-rts", default="ttserver.rts", help="the slave's replication time stamp file")
    parser.add_argument("-lua-time-limit", dest="lua_time_limit", type=float, default=DEFAULT_TIME_LIMIT,
                        help="seconds a Lua ext call may run before it fails (stand-in only; default 10)")
    parser.add_argument("-lua-memory-limit", dest="lua_memory_limit", type=_atoix, default=DEFAULT_MEMORY_LIMIT,
                        help="bytes each Lua state may allocate, k/m/g suffixes allowed (stand-in only; default 128m)")
    parser.add_argument("-log", help="append log lines to this file")
    parser.add_argument("database", nargs="?", default="*", help="*, +, or a name ending .tch, .tcb or .tct")
    # ttserver's other options are accepted (so one command line serves both) and ignored;
    # anything else is an error, as with ttserver.
    parser.add_argument("-mask", dest="mask_ops", action=_MaskAction, metavar="EXPR",
                        help="forbid the commands EXPR names, as ttserver -mask (e.g. put,misc or allwrite)")
    parser.add_argument("-unmask", dest="mask_ops", action=_MaskAction, metavar="EXPR",
                        help="allow again the commands EXPR names (after -mask)")
    for flag in ("-tout", "-pid", "-skel", "-mul"):
        parser.add_argument(flag, dest="ignored" + flag.replace("-", "_"), help=argparse.SUPPRESS)
    for flag in ("-dmn", "-kl", "-ld", "-le", "-uas", "-rcc"):
        parser.add_argument(flag, action="store_true", dest="ignored" + flag.replace("-", "_"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [name for name, value in vars(args).items() if name.startswith("ignored") and value]
    if args.sid > 0xFFFF:  # as ttserver: too large a server id is ignored
        args.sid = 0
    mask = 0
    for op, expr in args.mask_ops or ():  # in command-line order, as ttserver applies them
        mask = mask | command_mask(expr) if op == "-mask" else mask & ~command_mask(expr)
    try:
        server = TokyoTyrantStandin(args.host, args.port, args.database, scripts=args.ext, log=args.log,
                                    max_request_size=args.max_request_size, mask=mask, lua_threads=args.thnum,
                                    lua_time_limit=args.lua_time_limit, lua_memory_limit=args.lua_memory_limit,
                                    sid=args.sid, ulog=args.ulog, ulim=args.ulim, mhost=args.mhost,
                                    mport=args.mport, rts=args.rts)
    except (ValueError, OSError, LuaUnavailableError) as exc:
        print(f"tyrant stand-in: {exc}", file=sys.stderr)
        return 1
    if server.lua is not None:
        for name, period in args.extpc or ():
            server.lua.add_periodic(name, tc_atof(period.encode()))
        # Stop as on Ctrl-C, so that the script's _end runs, as ttserver runs it on SIGTERM.
        signal.signal(signal.SIGTERM, _interrupt)
    if unknown:
        server.log(f"ignored ttserver options: {' '.join(unknown)}")
    print(f"listening on {server.host}:{server.port}", flush=True)
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
