"""Kyoto Tycoon stand-in server: ktserver's wire protocols over in-memory databases.

Not a production server: no persistence; replication as a master only. It exists so that tests (ours and yours)
can talk to something that answers exactly like ktserver 0.9.56 for the operations kt's clients use.

- HTTP/1.1 TSV-RPC (keep-alive, ``GET`` with a query string, TSV or form-urlencoded bodies) and the
  binary protocol (set_bulk, get_bulk, remove_bulk, play_script) on the same port: the first byte
  of a request tells them apart, as in the real server.
- Several databases (``*``/``.kch`` unordered, ``%``/``.kct`` ordered), addressed by index or by
  name; per-record expiry; cursors per connection.
- An update log (``-ulog DIR -sid N [-ulim SIZE]``): files written under DIR as ktserver writes them,
  which ``ulog_list`` lists and ``ulog_remove`` removes (see :class:`~.kt_db.UpdateLog`). With it the
  stand-in is a replication master: it serves the binary replication stream (0xB1, see
  :mod:`kt_core.codec.kyoto_repl`) from those files as ktserver does, to ``KyotoTycoon.replicate`` and to a
  real ktserver slave (``-mhost/-mport``).
- Scripts are a Lua file, as for ktserver (``-scr FILE.lua``: ktserver's Lua API, run in lupa's Lua
  5.1, the ``kt-embedded[lua]`` extra; see :mod:`.kt_lua`), or Python callables registered by name:
  ``fn(inmap: dict[bytes, bytes]) -> dict[bytes, bytes] | None``, or ``fn(inmap, db)`` to get the
  first database (:class:`~.kt_db.KtDatabase`). Raise :class:`kt_core.errors.LogicalInconsistencyError`
  for ktserver's RVELOGIC (HTTP 450), :class:`kt_core.errors.BadRequestError` for RVEINVALID (400);
  any other exception is a script failure (500). The binary protocol answers every failure with the
  error byte 0xBF.

Run ``python -m kt_embedded.standin.kyoto -host 127.0.0.1 -port 1978 [-scr scripts.lua] '*' '%'``
or in-process::

    with KyotoTycoonStandin(databases=("*", "%"), scripts={"echo": lambda m: m}) as server:
        ...  # connect to 127.0.0.1:server.port
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import platform
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Callable, Optional, TextIO, Union

from kt_core.codec import kyoto_binary, kyoto_http, kyoto_repl
from kt_core.codec.reader import NEED_MORE, Reader
from kt_core.errors import BadRequestError, LogicalInconsistencyError, NotImplementedByServerError, ProtocolError

from .base import CLOSE, DEFAULT_MAX_REQUEST_SIZE, Session, SlaveThread, StandinServer, common_arguments
from .kt_db import ULOG_LIMIT, XT_NONE, XTMAX, DBError, KtCursor, KtDatabase, UpdateLog, database_from_spec
from .kt_lua import DEFAULT_MEMORY_LIMIT, DEFAULT_TIME_LIMIT, KtLuaRuntime, LuaScripts

__all__ = ["KyotoTycoonStandin", "Script", "load_scripts", "main"]

Script = Callable[..., Optional[Mapping[bytes, bytes]]]

# ktserver's RPC return values as HTTP statuses.
OK, EINVALID, ELOGIC, EINTERNAL, ENOIMPL = 200, 400, 450, 500, 501

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _atoi(text: Optional[bytes]) -> int:
    """kc::atoi: optional sign and leading digits, anything after ignored, 0 if none."""
    if not text:
        return 0
    s = text.strip()
    sign = 1
    if s[:1] in (b"-", b"+"):
        sign = -1 if s[:1] == b"-" else 1
        s = s[1:]
    n = 0
    for c in s:
        if not 48 <= c <= 57:
            break
        n = n * 10 + c - 48
    return max(_INT64_MIN, min(_INT64_MAX, sign * n))


def _atoix(text: str) -> int:
    """kc::atoix: a number with an optional fraction and a binary unit suffix (k, m, g, t, p, e)."""
    s = text.strip()
    sign = -1 if s[:1] == "-" else 1
    s = s[1:] if s[:1] in "+-" and s else s
    i = 0
    while i < len(s) and s[i].isdigit():
        i += 1
    j = i
    if j < len(s) and s[j] == ".":
        j += 1
        while j < len(s) and s[j].isdigit():
            j += 1
    num = float(s[:j]) if s[:j] not in ("", ".") else 0.0
    rest = s[j:].lstrip()
    shift = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}.get(rest[:1].lower(), 0)
    num = sign * num * (1 << shift)
    return int(max(_INT64_MIN, min(_INT64_MAX, num)))


def _atof(text: Optional[bytes]) -> float:
    """kc::atof: the longest leading number (``inf``/``nan`` accepted), 0.0 if none."""
    if not text:
        return 0.0
    s = text.strip().decode("latin-1")
    for end in range(len(s), 0, -1):
        try:
            return float(s[:end])
        except ValueError:
            continue
    return 0.0


def _xt_param(params: Mapping[bytes, bytes]) -> int:
    raw = params.get(b"xt")
    return _atoi(raw) if raw is not None else XT_NONE


def _db_error(out: dict[bytes, bytes], err: DBError) -> None:
    out[b"ERROR"] = str(err).encode("utf-8")


def _error(out: dict[bytes, bytes], message: str) -> None:
    out[b"ERROR"] = message.encode("utf-8")


def load_scripts(path: str) -> Union[dict[str, Script], LuaScripts]:
    """The scripts in a file: a Lua file (``.lua``) as ktserver runs it, or the public callables a Python
    file defines, by name. A ``.lua`` file needs lupa (``pip install 'kt-embedded[lua]'``)."""
    if path.endswith(".lua"):
        return LuaScripts(path)
    spec = importlib.util.spec_from_file_location(f"kt_standin_scripts_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot load as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scripts = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or not callable(obj) or inspect.isclass(obj):
            continue
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # imported helpers are not scripts
        scripts[name] = obj
    return scripts


def _wants_db(fn: Script) -> bool:
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2


class _ReplicationRequest:
    """A decoded replication request (0xB1): flags, the time stamp to resume after, the server id."""

    __slots__ = ("flags", "sid", "ts")

    def __init__(self, flags: int, ts: int, sid: int) -> None:
        self.flags = flags
        self.ts = ts
        self.sid = sid


class KyotoTycoonStandin(StandinServer):
    """A Kyoto Tycoon stand-in on ``host:port`` (port 0: a free port, see :attr:`port`).

    ``databases``: ktserver DB arguments (``*``, ``%``, ``name.kch``, ``name.kct``), all in memory.
    ``scripts``: a :class:`~.kt_lua.LuaScripts` file, or name -> callable (see the module doc); None
    disables scripting as ktserver without ``-scr`` does. ``ulog``: a directory for the update log
    (ktserver's ``-ulog``), with ``ulim`` (``-ulim``) and the server id ``sid`` (``-sid``) that prefixes
    every logged update.
    """

    name = "ktserver-standin"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        databases: Sequence[str] = ("*",),
        scripts: Union[Mapping[str, Script], LuaScripts, None] = None,
        max_request_size: int = DEFAULT_MAX_REQUEST_SIZE,
        log: Optional[TextIO] = None,
        *,
        ulog: Optional[str] = None,
        ulim: int = ULOG_LIMIT,
        sid: int = 0,
        rts: Optional[str] = None,
        mhost: Optional[str] = None,
        mport: int = 1978,
        riv: float = 0.04,
    ) -> None:
        if isinstance(databases, str):
            databases = (databases,)
        if not databases:
            databases = ("*",)
        self.databases: list[KtDatabase] = [database_from_spec(spec, i) for i, spec in enumerate(databases)]
        self._dbmap: dict[bytes, int] = {}
        for i, (spec, db) in enumerate(zip(databases, self.databases)):
            self._dbmap.setdefault(db.path.encode("utf-8"), i)
            self._dbmap.setdefault(spec.encode("utf-8"), i)
        self._lua: Optional[KtLuaRuntime] = None
        lua = scripts if isinstance(scripts, LuaScripts) else None
        plain = {} if isinstance(scripts, LuaScripts) else scripts  # a Lua file: its procedures are looked up per call
        self.scripts: Optional[dict[str, Script]] = dict(plain) if plain is not None else None
        self._script_wants_db = {n: _wants_db(f) for n, f in (self.scripts or {}).items()}
        self._log = log
        self._started_at = time.time()
        self._counts = dict.fromkeys(("set", "set_misses", "remove", "remove_misses", "get", "get_misses",
                                      "script", "misc"), 0)
        self.ulog: Optional[UpdateLog] = None
        self._conn_local = threading.local()
        self._repl_local = threading.local()  # rsid: the origin server id of a change the slave applies
        self.sid = sid & 0xFFFF
        if ulog is not None:
            self.ulog = UpdateLog(ulog, ulim)
            for i, db in enumerate(self.databases):
                db.trigger = self._ulog_writer(struct.pack(">HH", sid & 0xFFFF, i & 0xFFFF))
        try:
            if lua is not None:
                self._lua = lua.bind(self.databases, self.log)
            super().__init__(host, port, max_request_size)
        except BaseException:
            if self.ulog is not None:
                self.ulog.close()
            raise
        self._procedures: dict[str, Callable[[dict[bytes, bytes], Session], tuple[int, dict[bytes, bytes]]]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("rpc_")
        }
        self._slave: Optional[_Slave] = None
        if rts is not None:
            self._slave = _Slave(self, rts, mhost or "", mport, riv)

    def serve_forever(self) -> None:
        if self._slave is not None and not self._slave.is_alive():
            self._slave.start()
        super().serve_forever()

    def _ulog_writer(self, ids: bytes) -> Callable[[bytes], None]:
        ulog = self.ulog
        assert ulog is not None

        local = self._repl_local

        def write(message: bytes) -> None:
            # ktserver's DBUpdateLogger: the server id and database index (2 bytes each) before the message;
            # a change applied from a master keeps the master's server id.
            rsid = getattr(local, "rsid", None)
            ulog.write((ids if rsid is None else struct.pack(">H", rsid) + ids[2:]) + message)

        return write

    def stop(self) -> None:
        if self._slave is not None:
            self._slave.stop()
        super().stop()
        if self.ulog is not None:
            self.ulog.close()  # writes what is still cached, as ktserver does when it stops

    # -- logging ------------------------------------------------------------------------------
    def log(self, kind: str, message: str) -> None:
        if self._log is None:
            return
        stamp = datetime.now().astimezone().isoformat(timespec="microseconds")
        try:
            self._log.write(f"{stamp}: [{kind}]: {message}\n")
            self._log.flush()
        except (OSError, ValueError):
            pass

    def on_protocol_error(self, exc: Exception, peer: Any) -> None:
        self.log("ERROR", f"closing the connection from {peer}: {exc}")

    # -- framing: the first byte tells binary from HTTP ----------------------------------------
    def parse(self, buf: Any, pos: int, end: int, limit: int) -> Any:
        if end <= pos:
            return pos + 1
        if buf[pos] == kyoto_repl.MAGIC_REPLICATION:
            r = kyoto_repl.parse_replication_request(buf, pos, end, limit)
            return r if isinstance(r, int) else (r[0], _ReplicationRequest(*r[1:]))
        if buf[pos] >= 0x80:
            return kyoto_binary.parse_request(buf, pos, end, limit)
        return kyoto_http.parse_request(buf, pos, end, limit)

    def handle(self, request: Any, session: Session) -> Any:
        if isinstance(request, _ReplicationRequest):
            return self._serve_replication(request)
        if isinstance(request, kyoto_binary.BinaryRequest):
            return self._handle_binary(request)
        return self._handle_http(request, session)

    # -- replication master (0xB1) --------------------------------------------------------------
    def _serve_connection(self, conn: Any, peer: Any) -> None:
        self._conn_local.conn = conn  # the replication stream takes the connection over
        super()._serve_connection(conn, peer)

    def _apply_change(self, change: kyoto_repl.Change) -> None:
        """A change read from a master, as TimedDB::recover applies it (logged under its server id)."""
        db = self.databases[change.db]
        self._repl_local.rsid = change.sid
        try:
            if isinstance(change, kyoto_repl.SetChange):
                db.set(change.key, change.value, XT_NONE if change.expire is None else -change.expire)
            elif isinstance(change, kyoto_repl.RemoveChange):
                try:
                    db.remove(change.key)
                except DBError:
                    pass
            elif isinstance(change, kyoto_repl.ClearChange):
                db.clear()
        finally:
            self._repl_local.rsid = None

    def _serve_replication(self, req: _ReplicationRequest) -> Any:
        """ktserver's do_bin_replication: accept, then every record newer than ``req.ts`` (the ones
        of server id ``req.sid`` skipped, or only those with WHITESID; a keep-alive after every 256
        skipped), and a NOP whenever everything was sent, which the slave must answer."""
        if self.ulog is None:
            self.log("INFO", "no update log allows no replication")
            return CLOSE(kyoto_repl.encode_replication_refusal())
        conn = self._conn_local.conn
        white = bool(req.flags & kyoto_repl.WHITESID)
        reader = self.ulog.reader(req.ts)
        conn.sendall(kyoto_repl.encode_replication_accept())
        self.log("SYSTEM", f"a slave was connected: ts={req.ts} sid={req.sid}")
        conn.settimeout(60)
        rts = 0
        miss = 0
        try:
            while not self._stopping.is_set():
                out = []
                size = 0
                while size < 65536:
                    rec = reader.read()
                    if rec is None:
                        break
                    mts, message = rec
                    rsid = int.from_bytes(message[:2], "big") if len(message) >= 4 else -1
                    if rsid >= 0 and (rsid == req.sid) == white:
                        miss = 0
                        out.append(kyoto_repl.encode_replication_message(mts, message))
                        size += len(message) + 13
                    else:
                        miss += 1
                        if miss >= 256:
                            out.append(kyoto_repl.encode_replication_message(mts, b""))
                            miss = 0
                    rts = max(rts, mts)
                if out:
                    conn.sendall(b"".join(out))
                    continue
                cc = max(UpdateLog.clock_pure() - 1_000_000_000, rts)
                conn.sendall(kyoto_repl.encode_replication_nop(cc))
                ack = conn.recv(1)
                if not ack or kyoto_repl.read_nop_ack(ack, 0, 1, 1) == 1:
                    break
                time.sleep(0.1)
        except (OSError, ValueError, ProtocolError):
            pass
        finally:
            reader.close()
            self.log("SYSTEM", f"a slave was disconnected: sid={req.sid}")
        return CLOSE()

    # -- binary protocol ---------------------------------------------------------------------
    def _handle_binary(self, req: kyoto_binary.BinaryRequest) -> Optional[bytes]:
        magic = req.magic
        dbs = self.databases
        if magic == kyoto_binary.MAGIC_SET_BULK:
            hits = 0
            for dbidx, key, value, xt in req.records:
                if dbidx < len(dbs):  # a record for a db the server lacks is skipped, as ktserver does
                    dbs[dbidx].set(key, value, xt)
                    hits += 1
            self._counts["set"] += hits
            return None if req.no_reply else kyoto_binary.encode_set_bulk_reply(hits)
        if magic == kyoto_binary.MAGIC_REMOVE_BULK:
            hits = 0
            for dbidx, key in req.records:
                if dbidx < len(dbs):
                    try:
                        dbs[dbidx].remove(key)
                        hits += 1
                    except DBError:
                        self._counts["remove_misses"] += 1
            self._counts["remove"] += hits
            return None if req.no_reply else kyoto_binary.encode_remove_bulk_reply(hits)
        if magic == kyoto_binary.MAGIC_GET_BULK:
            found = []
            for dbidx, key in req.records:
                if dbidx < len(dbs):
                    rec = dbs[dbidx].find(key)
                    if rec is not None:
                        found.append((dbidx, key, rec[0], rec[1]))
            self._counts["get"] += len(found)
            # get_bulk replies even with the no-reply flag (ktserver ignores it there).
            return kyoto_binary.encode_get_bulk_reply(found)
        # play_script
        name = req.name.decode("utf-8", "replace")
        status, out = self._call_script(name, dict(req.records))
        if req.no_reply:
            return None
        if status != OK:
            return kyoto_binary.encode_error_reply()
        return kyoto_binary.encode_play_script_reply(sorted(out.items()))

    def _call_script(self, name: str, inmap: dict[bytes, bytes]) -> tuple[int, dict[bytes, bytes]]:
        """Run a script: ``(status, outmap)`` with ktserver's RV as the status."""
        if self._lua is not None:
            self._counts["script"] += 1
            return self._lua.call(name, inmap)
        scripts = self.scripts
        if scripts is None or name not in scripts:
            return ENOIMPL, {}
        fn = scripts[name]
        self._counts["script"] += 1
        try:
            result = fn(inmap, self.databases[0]) if self._script_wants_db[name] else fn(inmap)
            out = {} if result is None else {bytes(k): bytes(v) for k, v in dict(result).items()}
        except LogicalInconsistencyError:
            return ELOGIC, {}
        except BadRequestError:
            return EINVALID, {}
        except NotImplementedByServerError:
            return ENOIMPL, {}
        except Exception as exc:  # a failing script is the client's 500, never the server's crash
            self.log("ERROR", f"the script {name} failed: {exc!r}")
            return EINTERNAL, {}
        return OK, out

    # -- HTTP ----------------------------------------------------------------------------------
    def _handle_http(self, req: kyoto_http.HttpRequest, session: Session) -> Any:
        if req.procedure is None:
            # ktserver's REST interface (GET/PUT/DELETE /key) is not part of the stand-in.
            status, out = ENOIMPL, dict[bytes, bytes]()
        else:
            try:
                status, out = self._rpc(req.procedure, req.params(), session)
            except Exception as exc:  # a stand-in bug answers 500 and keeps the connection
                self.log("ERROR", f"internal error in {req.procedure}: {exc!r}")
                status, out = EINTERNAL, {b"ERROR": b"internal error"}
        reply = kyoto_http.encode_reply(status, out, close=req.close)
        return CLOSE(reply) if req.close else reply

    def _rpc(self, name: str, params: dict[bytes, bytes], session: Session) -> tuple[int, dict[bytes, bytes]]:
        db = self._select_db(params.get(b"DB"))
        cur = None
        raw_cur = params.get(b"CUR")
        if raw_cur and 48 <= raw_cur[0] <= 57:
            curid = _atoi(raw_cur)
            cursors: dict[int, KtCursor] = session.data.setdefault("cursors", {})
            cur = cursors.get(curid)
            if cur is None:
                if db is not None:
                    # ktserver creates the cursor on first use of an id, whatever the procedure.
                    cur = cursors[curid] = db.cursor()
            elif name == "cur_delete":
                del cursors[curid]
                return OK, {}
        proc = self._procedures.get(name)
        if proc is None or name.startswith("cur_delete"):
            # cur_delete of an id never used reaches here: ktserver answers "not implemented".
            return ENOIMPL, {b"ERROR": f"not implemented: {name}".encode()}
        if name.startswith("cur_"):
            if cur is None:
                return EINVALID, {b"ERROR": b"no such cursor"}
            return proc(params, cur)  # type: ignore[arg-type]
        if name in self._NO_DB:
            return proc(params, session)
        if db is None:
            return EINVALID, {b"ERROR": b"no such database"}
        return proc(params, db)  # type: ignore[arg-type]

    _NO_DB = frozenset({"void", "echo", "report", "play_script", "ulog_list", "ulog_remove", "tune_replication"})

    def _select_db(self, raw: Optional[bytes]) -> Optional[KtDatabase]:
        if not raw:
            return self.databases[0]
        if 48 <= raw[0] <= 57:
            idx = _atoi(raw)
        else:
            idx = self._dbmap.get(raw, -1)
        return self.databases[idx] if 0 <= idx < len(self.databases) else None

    # -- procedures without a database ----------------------------------------------------------
    def rpc_void(self, params: dict, session: Session) -> tuple[int, dict]:
        return OK, {}

    def rpc_echo(self, params: dict, session: Session) -> tuple[int, dict]:
        return OK, dict(params)

    def rpc_report(self, params: dict, session: Session) -> tuple[int, dict]:
        out: dict[bytes, bytes] = {}
        total_count = total_size = 0
        for i, db in enumerate(self.databases):
            count, size = db.count(), db.size()
            out[f"db_{i}".encode()] = f"count={count} size={size} path={db.path}".encode()
            total_count += count
            total_size += size
        now = time.time()
        with self._lock:
            conns = len(self._conns)
        info = {
            "db_total_count": total_count,
            "db_total_size": total_size,
            "serv_conn_count": conns,
            "serv_task_count": 0,
            "serv_thread_count": threading.active_count(),
            "serv_current_time": f"{now:.6f}",
            "serv_running_term": f"{now - self._started_at:.6f}",
            "serv_proc_id": os.getpid(),
            "conf_kt_version": "0.9.56b (2.19)",
            "conf_kt_features": "(standin)",
            "conf_kc_version": "1.2.76a (16.13)",
            "conf_kc_features": "(standin)",
            "conf_os_name": platform.system() or "unknown",
            "sys_ru_utime": f"{time.process_time():.6f}",
            "sys_ru_stime": "0.000000",
        }
        for key, n in self._counts.items():
            info[f"cnt_{key}"] = n
        out.update({k.encode(): str(v).encode() for k, v in info.items()})
        return OK, out

    def rpc_ulog_list(self, params: dict, session: Session) -> tuple[int, dict]:
        if self.ulog is None:
            return EINVALID, {b"ERROR": b"no update log allows no replication"}
        return OK, {path.encode("utf-8", "surrogateescape"): b"%d:%d" % (size, ts)
                    for path, size, ts in self.ulog.list_files()}

    def rpc_tune_replication(self, params: dict, session: Session) -> tuple[int, dict]:
        """ktserver's do_tune_replication: point the slave at another master (host "" stops it)."""
        if self._slave is None:
            return ENOIMPL, {b"ERROR": b"the RTS file is not set"}
        host = params.get(b"host", b"").split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        port = _atoi(params[b"port"]) if b"port" in params else 0
        if port < 1:
            port = 1978
        raw = params.get(b"ts")
        ts: Optional[int] = None
        if raw is not None:
            ts = UpdateLog.clock_pure() if raw.split(b"\0", 1)[0] == b"now" else _atoi(raw) % (1 << 64)
        iv = -1.0
        if b"iv" in params:
            try:
                iv = float(params[b"iv"].split(b"\0", 1)[0] or b"0")
            except ValueError:
                iv = 0.0
        self.log("SYSTEM", f"replication setting was modified: host={host} port={port} "
                           f"ts={'*' if ts is None else ts} iv={'*' if iv < 0 else f'{iv:.6f}'}")
        self._slave.set_master(host, port, ts, iv)
        self._slave.restart()
        return OK, {}

    def rpc_ulog_remove(self, params: dict, session: Session) -> tuple[int, dict]:
        if self.ulog is None:
            return EINVALID, {b"ERROR": b"no update log allows no replication"}
        raw = params.get(b"ts")
        if raw is None:
            ts = (1 << 64) - 1
        elif raw.split(b"\0", 1)[0] == b"now":
            ts = UpdateLog.clock_pure()
        else:
            ts = _atoi(raw) % (1 << 64)  # kc::atoi's int64 read as the unsigned time stamp
        failed = self.ulog.remove_files(ts)
        if failed:
            for path in failed:
                self.log("ERROR", f"removing a file failed: {path}")
            return EINTERNAL, {b"ERROR": f"removing a file failed: {failed[-1]}".encode("utf-8", "surrogateescape")}
        return OK, {}

    def rpc_play_script(self, params: dict, session: Session) -> tuple[int, dict]:
        if self.scripts is None:
            return ENOIMPL, {b"ERROR": b"the scripting extention is disabled"}
        name = params.get(b"name")
        if not name or not name.isalnum() or not name.isascii():
            return EINVALID, {b"ERROR": b"invalid parameters"}
        inmap = {k[1:]: v for k, v in params.items() if k[:1] == b"_"}
        status, out = self._call_script(name.decode("ascii"), inmap)
        if status == OK:
            return OK, {b"_" + k: v for k, v in out.items()}
        if status == ENOIMPL:
            return status, {b"ERROR": b"no such scripting procedure"}
        return status, {b"ERROR": b"the scripting procedure failed"}

    # -- procedures on a database ----------------------------------------------------------------
    def rpc_status(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        self._counts["misc"] += 1
        return OK, {k.encode(): v.encode("utf-8") for k, v in db.status().items()}

    def rpc_clear(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        self._counts["misc"] += 1
        db.clear()
        return OK, {}

    def rpc_synchronize(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        self._counts["misc"] += 1
        if params.get(b"command"):
            # ktserver runs the command from its -cmd directory after syncing; the stand-in runs none, so it
            # answers as ktserver does when the command cannot be run (always the case without -cmd).
            return EINTERNAL, {b"ERROR": b"DB: 8: logical inconsistency: postprocessing failed"}
        return OK, {}  # nothing to write: everything lives in memory

    def rpc_vacuum(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        db.count()  # purges expired records
        return OK, {}

    def _write(self, params: dict, db: KtDatabase, op: Callable[..., None], logic: int) -> tuple[int, dict]:
        key, value = params.get(b"key"), params.get(b"value")
        if key is None or value is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        self._counts["set"] += 1
        try:
            op(key, value, _xt_param(params))
        except DBError as err:
            self._counts["set_misses"] += 1
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            return (ELOGIC if err.code == logic else EINTERNAL), out
        return OK, {}

    def rpc_set(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        return self._write(params, db, db.set, -1)

    def rpc_add(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        return self._write(params, db, db.add, 6)

    def rpc_replace(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        return self._write(params, db, db.replace, 7)

    def rpc_append(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        return self._write(params, db, db.append, -1)

    def rpc_increment(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        key, num = params.get(b"key"), params.get(b"num")
        if key is None or num is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        raw = params.get(b"orig")
        orig = 0 if raw is None else _INT64_MIN if raw == b"try" else _INT64_MAX if raw == b"set" else _atoi(raw)
        self._counts["set"] += 1
        try:
            result = db.increment(key, _atoi(num), orig, _xt_param(params))
        except DBError as err:
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            return ELOGIC if err.code == 8 else EINTERNAL, out
        return OK, {b"num": str(result).encode()}

    def rpc_increment_double(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        key, num = params.get(b"key"), params.get(b"num")
        if key is None or num is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        raw = params.get(b"orig")
        orig = 0.0 if raw is None else -float("inf") if raw == b"try" else float("inf") if raw == b"set" \
            else _atof(raw)
        self._counts["set"] += 1
        try:
            result = db.increment_double(key, _atof(num), orig, _xt_param(params))
        except DBError as err:
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            return ELOGIC if err.code == 8 else EINTERNAL, out
        return OK, {b"num": _printf_f(result)}

    def rpc_cas(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        key = params.get(b"key")
        if key is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        self._counts["set"] += 1
        try:
            db.cas(key, params.get(b"oval"), params.get(b"nval"), _xt_param(params))
        except DBError as err:
            self._counts["set_misses"] += 1
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            return ELOGIC if err.code == 8 else EINTERNAL, out
        return OK, {}

    def rpc_remove(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        key = params.get(b"key")
        if key is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        self._counts["remove"] += 1
        try:
            db.remove(key)
        except DBError as err:
            self._counts["remove_misses"] += 1
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            return ELOGIC if err.code == 7 else EINTERNAL, out
        return OK, {}

    def _read(self, params: dict, op: Callable[[bytes], tuple[bytes, int]], with_value: bool) -> tuple[int, dict]:
        key = params.get(b"key")
        if key is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        self._counts["get"] += 1
        try:
            value, xt = op(key)
        except DBError as err:
            self._counts["get_misses"] += 1
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            return ELOGIC if err.code == 7 else EINTERNAL, out
        out = {b"value": value} if with_value else {b"vsiz": str(len(value)).encode()}
        if xt < XTMAX:  # "xt" only for a record that expires
            out[b"xt"] = str(xt).encode()
        return OK, out

    def rpc_get(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        return self._read(params, db.get, True)

    def rpc_check(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        return self._read(params, db.get, False)

    def rpc_seize(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        return self._read(params, db.seize, True)

    def rpc_set_bulk(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        recs = sorted((k[1:], v) for k, v in params.items() if k[:1] == b"_")
        n = db.set_bulk(recs, _xt_param(params))
        self._counts["set"] += n
        return OK, {b"num": str(n).encode()}

    def rpc_remove_bulk(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        # ktserver's parameters are a sorted map: the keys go (and are logged) in key order, as set_bulk's.
        n = db.remove_bulk(sorted(k[1:] for k in params if k[:1] == b"_"))
        self._counts["remove"] += n
        return OK, {b"num": str(n).encode()}

    def rpc_get_bulk(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        found = db.get_bulk(k[1:] for k in params if k[:1] == b"_")
        self._counts["get"] += len(found)
        out = {b"_" + k: v for k, v in found.items()}
        out[b"num"] = str(len(found)).encode()
        return OK, out

    def _matches(self, keys: list[bytes]) -> tuple[int, dict]:
        out = {b"_" + k: str(i).encode() for i, k in enumerate(keys)}
        out[b"num"] = str(len(keys)).encode()
        return OK, out

    def rpc_match_prefix(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        prefix = params.get(b"prefix")
        if prefix is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        raw = params.get(b"max")
        return self._matches(db.match_prefix(prefix, _atoi(raw) if raw is not None else -1))

    def rpc_match_regex(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        regex = params.get(b"regex")
        if regex is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        raw = params.get(b"max")
        try:
            keys = db.match_regex(regex, _atoi(raw) if raw is not None else -1)
        except DBError as err:
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            return ELOGIC, out
        return self._matches(keys)

    def rpc_match_similar(self, params: dict, db: KtDatabase) -> tuple[int, dict]:
        origin = params.get(b"origin")
        if origin is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        raw = params.get(b"range")
        range_ = _atoi(raw) if raw is not None else 1
        if range_ < 0:
            range_ = 1
        raw = params.get(b"max")
        keys = db.match_similar(origin, range_, b"utf" in params, _atoi(raw) if raw is not None else -1)
        return self._matches(keys)

    # -- cursor procedures (the cursor comes from the connection's CUR id) ----------------------
    def _cursor_op(self, op: Callable[[], Any], noimpl: bool = False) -> tuple[int, Any]:
        try:
            return OK, op()
        except DBError as err:
            out: dict[bytes, bytes] = {}
            _db_error(out, err)
            if err.code == 7:
                return ELOGIC, out
            if err.code == 1 and noimpl:
                return ENOIMPL, out
            return EINTERNAL, out

    def rpc_cur_jump(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        status, out = self._cursor_op(lambda: cur.jump(params.get(b"key")))
        return status, out if status != OK else {}

    def rpc_cur_jump_back(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        status, out = self._cursor_op(lambda: cur.jump_back(params.get(b"key")), noimpl=True)
        return status, out if status != OK else {}

    def rpc_cur_step(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        status, out = self._cursor_op(cur.step)
        return status, out if status != OK else {}

    def rpc_cur_step_back(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        status, out = self._cursor_op(cur.step_back, noimpl=True)
        return status, out if status != OK else {}

    def rpc_cur_set_value(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        value = params.get(b"value")
        if value is None:
            return EINVALID, {b"ERROR": b"invalid parameters"}
        step = b"step" in params
        status, out = self._cursor_op(lambda: cur.set_value(value, _xt_param(params), step))
        return status, out if status != OK else {}

    def rpc_cur_remove(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        status, out = self._cursor_op(cur.remove)
        return status, out if status != OK else {}

    def rpc_cur_get_key(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        status, out = self._cursor_op(lambda: cur.get_key(b"step" in params))
        return status, {b"key": out} if status == OK else out

    def rpc_cur_get_value(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        status, out = self._cursor_op(lambda: cur.get_value(b"step" in params))
        return status, {b"value": out} if status == OK else out

    def _record_reply(self, status: int, out: Any) -> tuple[int, dict]:
        if status != OK:
            return status, out
        key, value, xt = out
        reply = {b"key": key, b"value": value}
        if xt < XTMAX:
            reply[b"xt"] = str(xt).encode()
        return OK, reply

    def rpc_cur_get(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        return self._record_reply(*self._cursor_op(lambda: cur.get(b"step" in params)))

    def rpc_cur_seize(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        return self._record_reply(*self._cursor_op(cur.seize))

    def rpc_cur_delete(self, params: dict, cur: KtCursor) -> tuple[int, dict]:
        # Handled in _rpc (an existing id is deleted there; a new id is "not implemented").
        return ENOIMPL, {b"ERROR": b"not implemented: cur_delete"}


def _printf_f(x: float) -> bytes:
    """ktserver's ``%f`` (inf/nan spelled as glibc does).

    Kyoto's strprintf formats a double into a 128-byte buffer: a longer text is cut to 127 bytes and
    marked with a trailing ``*``.
    """
    if x != x:
        return b"-nan" if str(x).startswith("-") else b"nan"
    if x in (float("inf"), float("-inf")):
        return b"inf" if x > 0 else b"-inf"
    text = b"%f" % x
    return text if len(text) < 128 else text[:127] + b"*"


# ----------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kt_embedded.standin.kyoto",
        description="Kyoto Tycoon stand-in server (in memory; for tests, not for production).",
    )
    common_arguments(parser)
    parser.add_argument("-scr", default=None,
                        help="the scripts: a Lua file (.lua, as for ktserver; needs kt-embedded[lua]) or a Python "
                             "file whose public functions are the procedures")
    parser.add_argument("-lua-time-limit", dest="lua_time_limit", type=float, default=DEFAULT_TIME_LIMIT,
                        help=f"seconds a Lua procedure may run (default {DEFAULT_TIME_LIMIT:g})")
    parser.add_argument("-lua-memory-limit", dest="lua_memory_limit", type=_atoix, default=DEFAULT_MEMORY_LIMIT,
                        help=f"bytes the Lua state may hold (default {DEFAULT_MEMORY_LIMIT >> 20}m)")
    parser.add_argument("-tout", type=float, default=None, help="accepted for compatibility (ignored)")
    parser.add_argument("-th", type=int, default=None, help="accepted for compatibility (ignored)")
    parser.add_argument("-log", default=None, help="write the log to this file (default: standard output)")
    parser.add_argument("-ulog", default=None, help="keep an update log in this directory (needs -sid)")
    parser.add_argument("-ulim", type=_atoix, default=ULOG_LIMIT,
                        help="size at which the update log starts its next file (default 256m)")
    parser.add_argument("-uasi", type=float, default=None, help="accepted for compatibility (ignored)")
    parser.add_argument("-sid", type=_atoix, default=None, help="the server id (required with -ulog)")
    parser.add_argument("-mhost", default=None, help="replicate from the master on this host (needs -rts)")
    parser.add_argument("-mport", type=int, default=1978, help="the master's port (default 1978)")
    parser.add_argument("-rts", default=None, help="the slave's replication time stamp file")
    parser.add_argument("-riv", type=float, default=0.04, help="the slave's replication interval (default 0.04)")
    for flag in ("-ls", "-li", "-lz", "-oat", "-onl", "-otl", "-onr"):
        parser.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("dbs", nargs="*", metavar="DB", help="databases: *, %%, name.kch, name.kct (default *)")
    return parser


class _Slave(SlaveThread):
    """ktserver's replication slave (``-mhost/-mport/-rts/-riv``): reads a master's stream (0xB1) from the
    time stamp in the RTS file, applies every change whose server id is not its own to the database of its
    index (logged under the master's server id), and writes the newest time stamp read to the RTS file
    (``%020d\\n``) when a stream ends and at shutdown. It reconnects a second after a stream ends."""

    def __init__(self, server: KyotoTycoonStandin, rtspath: str, host: str, port: int, riv: float) -> None:
        super().__init__("ktserver-standin-slave")
        self.server = server
        self.rtspath = rtspath
        self._lock = threading.Lock()
        self._host, self._port, self.riv = host, port, riv
        self._wrts: Optional[int] = None
        self._hup = False
        self.rts = 0

    def set_master(self, host: str, port: int, ts: Optional[int], iv: float) -> None:
        with self._lock:
            self._host, self._port, self._wrts = host, port, ts
            if iv >= 0:
                self.riv = iv

    def restart(self) -> None:
        self._hup = True

    def _write_rts(self) -> None:
        try:
            with open(self.rtspath, "r+b" if os.path.exists(self.rtspath) else "wb") as f:
                f.write(b"%020d\n" % self.rts)
                f.truncate(21)
        except OSError:
            self.server.log("SYSTEM", "writing the time stamp failed")

    def run(self) -> None:
        try:
            with open(self.rtspath, "rb") as f:
                self.rts = _atoi(f.read(21)) % (1 << 64)
        except OSError:
            self.rts = 0
        self._write_rts()
        deferred = False
        while self._alive.is_set():
            with self._lock:
                host, port, wrts = self._host, self._port, self._wrts
                self._wrts = None
            if host:
                if wrts is not None:
                    self.rts = wrts
                    self._write_rts()
                try:
                    sock = socket.create_connection((host, port), timeout=60)
                    sock.sendall(kyoto_repl.encode_replication(self.rts, self.server.sid))
                    ok = sock.recv(1) == kyoto_repl.encode_replication_accept()
                except OSError:
                    sock, ok = None, False
                if ok and sock is not None:
                    self.server.log("SYSTEM", f"replication started: host={host} port={port} rts={self.rts}")
                    self._hup = False
                    self._sock = sock
                    try:
                        self._follow(sock)
                    except (OSError, ProtocolError):
                        pass
                    finally:
                        self._sock = None
                        sock.close()
                    self.server.log("SYSTEM", f"replication finished: host={host} port={port}")
                    self._write_rts()
                    deferred = False
                else:
                    if sock is not None:
                        sock.close()
                    if not deferred:
                        self.server.log("SYSTEM", f"replication was deferred: host={host} port={port}")
                    deferred = True
            self.pause(1)
        self._write_rts()

    def _follow(self, sock: socket.socket) -> None:
        reader = Reader(1 << 30)
        server = self.server
        rivsum = 0.0
        while self._alive.is_set() and not self._hup:
            frame = reader.read(kyoto_repl.read_replication_frame)
            if frame is NEED_MORE:
                data = sock.recv(65536)
                if not data:
                    return
                reader.feed(data)
                continue
            _, mts, message = frame
            if message is None:
                sock.sendall(kyoto_repl.encode_nop_ack())
            elif message:
                change = kyoto_repl.decode_message(message, mts)
                if change.sid != server.sid and change.db < len(server.databases):
                    server._apply_change(change)
                rivsum += self.riv
            else:
                rivsum += self.riv * 256 / 4
            while rivsum > 100 and self._alive.is_set() and not self._hup:
                time.sleep(0.1)
                rivsum -= 100
            if mts > self.rts:
                self.rts = mts


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    log: TextIO = sys.stdout
    if args.log:
        log = open(args.log, "a", encoding="utf-8")
    if args.ulog is not None and (args.sid is None or args.sid < 0):
        print("ktserver stand-in: update log requires the server ID", file=sys.stderr, flush=True)
        return 1
    scripts: Union[dict[str, Script], LuaScripts, None] = None
    try:
        if args.scr and args.scr.endswith(".lua"):
            scripts = LuaScripts(args.scr, time_limit=args.lua_time_limit, memory_limit=args.lua_memory_limit)
        elif args.scr:
            scripts = load_scripts(args.scr)
        server = KyotoTycoonStandin(args.host, args.port, args.dbs or ["*"], scripts, args.max_request_size, log,
                                    ulog=args.ulog, ulim=args.ulim, sid=args.sid or 0, rts=args.rts,
                                    mhost=args.mhost, mport=args.mport, riv=args.riv)
    except (OSError, ValueError, SyntaxError, ImportError) as exc:
        print(f"ktserver stand-in: {exc}", file=sys.stderr, flush=True)
        return 1
    if server.ulog is not None:
        # Stop as on Ctrl-C, so the update log's last 0.1 s is written, as ktserver does on SIGTERM.
        signal.signal(signal.SIGTERM, _interrupt)
    server.log("SYSTEM", f"================ [START]: pid={os.getpid()}")
    if server.ulog is not None:
        server.log("SYSTEM", f"opening the update log: path={args.ulog} sid={args.sid}")
    for db in server.databases:
        server.log("SYSTEM", f"opening a database: path={db.path}")
    server.log("SYSTEM", f"starting the server: expr={server.host}:{server.port}")
    if log is not sys.stdout:
        print(f"listening on {server.host}:{server.port}", flush=True)
    try:
        server.serve_until_interrupted()
    finally:
        server.log("SYSTEM", "================ [FINISH]")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
