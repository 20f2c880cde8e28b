"""The Tokyo Tyrant stand-in's update log (``-ulog DIR -sid N [-ulim SIZE]``), as ttserver 1.1.41 keeps it.

:class:`UpdateLog` writes the files ``DIR/00000001.ulog``, ``00000002.ulog``... in ttserver's format
(records as :func:`kt_core.codec.tyrant_repl.encode_ulog_record` makes them, no file head; the next file
begun once one reaches ``limit`` bytes), so a real ttserver, ``ttulmgr`` or ``restore`` can read
them, and it continues a directory a ttserver (or the stand-in) wrote before. :class:`UpdateLogReader`
reads them back as ttserver's replication master does. :class:`LoggedDatabase` wraps a database so
that each update is logged as ttserver's ``tculogadb*`` functions log it.

Time stamps are the wall clock in microseconds, as ttserver's; the stand-in also keeps them strictly
increasing (one more than the last when the clock has not moved), so no two records share one.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any, Optional

from kt_core.codec import tyrant as tt
from kt_core.codec import tyrant_repl as repl
from kt_core.errors import ProtocolError

from .tt_db import Database, Result

__all__ = ["UpdateLog", "UpdateLogReader", "LoggedDatabase", "TIME_DEVIANCE_US"]

#: TCULTMDEVALW: a reader starts in the newest file begun this long before its time stamp, since
#: records of concurrent writers may be a little out of time order.
TIME_DEVIANCE_US = 30 * 1000000
_NAME = re.compile(r"([0-9]+)\.ulog$")
_READ_CHUNK = 1 << 20
_HEAD = repl.ULOG_RECORD_HEAD.size


def _file_ids(path: str) -> list[int]:
    """The numbers of the regular ``N.ulog`` files in ``path``, ascending."""
    try:
        names = os.listdir(path)
    except OSError:
        return []
    ids = []
    for name in names:
        m = _NAME.match(name)
        if m is not None and os.path.isfile(f"{path}/{int(m.group(1)):08d}.ulog"):
            ids.append(int(m.group(1)))
    return sorted(set(ids))


class UpdateLog:
    """ttserver's update log in the directory ``path`` (which must exist, as for ttserver)."""

    def __init__(self, path: str, limit: int = 0) -> None:
        if not os.path.isdir(path):
            raise ValueError(f"the update log directory does not exist: {path}")
        self.path = path.rstrip("/") or path
        self.limit = limit if limit > 0 else (1 << 62)
        self.max = max(_file_ids(self.path) or [1])
        self._fd: Optional[int] = None
        self._size = 0
        self._last_ts = 0
        self._cond = threading.Condition(threading.Lock())
        self.writes = 0  # bumped by every write: what a waiting reader waits on
        self._closed = False

    def file_path(self, file_id: int) -> str:
        return f"{self.path}/{file_id:08d}.ulog"

    def write(self, sid: int, mid: int, message: bytes) -> int:
        """Append one record (``mid``: the master a replicated change came from, else 0); its time stamp."""
        with self._cond:
            if self._closed:
                return 0
            ts = max(int(time.time() * 1000000), self._last_ts + 1)
            self._last_ts = ts
            if self._fd is None:
                self._fd = os.open(self.file_path(self.max), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._size = os.fstat(self._fd).st_size
            record = repl.encode_ulog_record(ts, sid, mid, message)
            os.write(self._fd, record)
            self._size += len(record)
            if self._size >= self.limit:  # as tculogwrite: the record that crosses the limit ends the file
                os.close(self._fd)
                self.max += 1
                self._fd = os.open(self.file_path(self.max), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                self._size = 0
            self.writes += 1
            self._cond.notify_all()
            return ts

    def wait(self, seen: int, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a write after the ``seen``-th."""
        with self._cond:
            self._cond.wait_for(lambda: self.writes != seen or self._closed, timeout)

    def reader(self, ts: int) -> UpdateLogReader:
        return UpdateLogReader(self, ts)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._cond.notify_all()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._cond:
            yield


class UpdateLogReader:
    """tculrdnew/tculrdread: :meth:`read` gives ``(ts, sid, mid, message)`` of the next record stamped
    ``ts`` or later, or None when every record written so far was read (call again later).

    It starts in the newest file whose first record is at least :data:`TIME_DEVIANCE_US` older than
    ``ts``; going back from the newest file it stops at the first number missing, so after files were
    removed it starts in the oldest file left (and the records of removed files are silently gone,
    as with ttserver). At the end of a file it moves to the next while a later one exists."""

    def __init__(self, ulog: UpdateLog, ts: int) -> None:
        self.ulog = ulog
        self.ts = ts
        since = ts - TIME_DEVIANCE_US if ts > TIME_DEVIANCE_US else 0
        with ulog.locked():
            last = max(_file_ids(ulog.path) or [1])
            num = 0
            for i in range(last, 0, -1):
                try:
                    with open(ulog.file_path(i), "rb") as f:
                        head = f.read(9)
                except OSError:
                    break
                num = i
                first = int.from_bytes(head[1:9], "big") if len(head) == 9 else (1 << 63) - 1
                if since >= first:
                    break
        self.num = max(num, 1)
        self._fd: Optional[int] = None
        self._off = 0  # file offset of the end of _buf
        self._buf = b""
        self._pos = 0

    def read(self) -> Optional[tuple[int, int, int, bytes]]:
        while True:
            rec = self._next()
            if rec is None or rec[0] >= self.ts:
                return rec

    def _next(self) -> Optional[tuple[int, int, int, bytes]]:
        ulog = self.ulog
        while True:
            if self._pos + _HEAD <= len(self._buf):
                try:
                    r = repl.read_ulog_record(self._buf, self._pos, len(self._buf), 1 << 62)
                except ProtocolError:
                    return None  # tculrdread stops at a bad record, for good
                if not isinstance(r, int):
                    self._pos = r[0]
                    return r[1], r[2], r[3], r[4]
            with ulog.locked():  # the writer appends under this lock: no record is read half written
                if self._fd is None:
                    try:
                        self._fd = os.open(ulog.file_path(self.num), os.O_RDONLY)
                    except OSError:
                        return None
                    self._off, self._buf, self._pos = 0, b"", 0
                data = os.pread(self._fd, _READ_CHUNK, self._off)
                if data:
                    self._buf = self._buf[self._pos :] + data
                    self._pos = 0
                    self._off += len(data)
                    continue
                if self.num >= ulog.max:
                    return None
                os.close(self._fd)
                self._fd = None
                self.num += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LoggedDatabase:
    """A :class:`~.tt_db.Database` whose updates go to an :class:`UpdateLog` as ttserver logs them: put,
    putkeep, putcat, putshl, out, addint and adddouble (not by 0), vanish, misc (every function),
    :meth:`sync` and :meth:`optimize`; each with its outcome. Everything else is the database's.
    Changes applied inside :meth:`origin` are logged under another server id and master id (a
    slave's, a restore's)."""

    def __init__(self, db: Database, ulog: UpdateLog, sid: int) -> None:
        self.inner = db
        self.ulog = ulog
        self.sid = sid
        self._origin = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def origin(self, sid: int, mid: int) -> Iterator[None]:
        self._origin.ids = (sid, mid)
        try:
            yield
        finally:
            self._origin.ids = None

    def _log(self, request: bytes, ok: bool) -> None:
        ids = getattr(self._origin, "ids", None)
        sid, mid = ids if ids is not None else (self.sid, 0)
        self.ulog.write(sid, mid, repl.encode_log_message(request, ok))

    def put(self, key: bytes, value: bytes) -> bool:
        ok = self.inner.put(key, value)
        self._log(tt.encode_put(key, value), ok)
        return ok

    def putkeep(self, key: bytes, value: bytes) -> bool:
        ok = self.inner.putkeep(key, value)
        self._log(tt.encode_putkeep(key, value), ok)
        return ok

    def putcat(self, key: bytes, value: bytes) -> bool:
        ok = self.inner.putcat(key, value)
        self._log(tt.encode_putcat(key, value), ok)
        return ok

    def putshl(self, key: bytes, value: bytes, width: int) -> bool:
        ok = self.inner.putshl(key, value, width)
        self._log(tt.encode_putshl(key, value, width), ok)
        return ok

    def out(self, key: bytes) -> bool:
        ok = self.inner.out(key)
        self._log(tt.encode_out(key), ok)
        return ok

    def addint(self, key: bytes, num: int) -> Optional[int]:
        total = self.inner.addint(key, num)
        if num != 0:
            self._log(tt.encode_addint(key, num), total is not None)
        return total

    def adddouble(self, key: bytes, num: float) -> Optional[float]:
        total = self.inner.adddouble(key, num)
        if num != 0:
            self._log(tt.encode_adddouble(key, num), total is not None and total == total)
        return total

    def vanish(self) -> bool:
        ok = self.inner.vanish()
        self._log(tt.encode_vanish(), ok)
        return ok

    def sync(self) -> bool:
        self._log(tt.encode_sync(), True)
        return True

    def optimize(self, params: bytes) -> bool:
        self._log(tt.encode_optimize(params), True)
        return True

    def misc(self, name: str, args: list[bytes]) -> Result:
        code, out = self.inner.misc(name, args)
        ids = getattr(self._origin, "ids", None)
        sid, mid = ids if ids is not None else (self.sid, 0)
        self.ulog.write(sid, mid, repl.encode_log_misc(name.encode("latin-1"), args, code == 0))
        return code, out
