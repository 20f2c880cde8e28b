"""Every Kyoto Tycoon method, written once: the commands (kt_core.command) of KyotoTycoon and AsyncKyotoTycoon.

Protocols: the binary protocol for get/get_raw/set/remove, their bulk forms and script (one
round trip, no HTTP parsing); HTTP TSV-RPC for everything else.

Databases: ``db`` is an index (int >= 0) or a name (the database file's base name, e.g. ``"*"``,
``"%"`` or ``"users.kct"``). HTTP calls pass it as given and the server resolves it. The binary
protocol only carries indexes and silently skips an index the server does not have, so the client
resolves names and checks indexes against the server's ``report`` (fetched once per client, and
only for a name or an index other than 0) before sending.

A command checks its arguments and encodes its request, yields it as an operation and decodes the
reply its runner sends back; the blocking client runs it in the calling thread, the asyncio client
in a coroutine (docs/async-and-commands.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from kt_core.codec.kyoto_binary import (
    encode_get_bulk,
    encode_get_bulk_keys,
    encode_play_script,
    encode_remove_bulk,
    encode_set_bulk,
    encode_set_bulk_items,
    read_get_bulk_kv,
    read_get_one,
    read_play_script,
    read_remove_bulk,
    read_set_bulk,
)
from kt_core.codec.kyoto_http import RpcResult, encode_rpc, read_rpc
from kt_core.codec.kyoto_repl import (
    RemoveChange,
    ReplicationGapError,
    ReplicationRefusedError,
    SetChange,
    decode_message,
    encode_nop_ack,
    encode_replication,
    read_replication_frame,
    read_replication_open,
)
from kt_core.codec.progress import expected_keys, hit_keys
from kt_core.command import Acquire, Call, Close, Items, Read, Send, Steps, SyncRunner, command, iterator_command
from kt_core.errors import (
    BadRequestError,
    InvalidArgumentError,
    InvalidTypeError,
    KtError,
    KyotoScriptError,
    KyotoServerError,
)
from kt_core.io.pooled import ClientBase, parse_server_url
from kt_serializers import get_serializer

from ._util import (
    DbSpec,
    ExpireSpec,
    KeyType,
    check_db,
    decode_key,
    encode_key,
    encode_text,
    expire_to_xt,
    http_db,
)

__all__ = ["KyotoCommands", "url_options"]

_STATUS_OK = 200
_STATUS_LOGIC = 450

# RPC procedures whose client method has another name (the retry policy knows operations by method name).
_RPC_OPERATION = {"increment": "incr", "increment_double": "incr_double", "play_script": "script"}

_STR_ONLY = frozenset((str,))
_BYTES_ONLY = frozenset((bytes,))

# Pipelined steps per round trip in a walk: small first (a caller may stop early), then larger.
_WALK_FIRST_BATCH = 16
_WALK_MAX_BATCH = 512


def url_options(url: str, client: str) -> dict[str, Any]:
    """The constructor options of ``kt://host:port/db?option=value&...`` (see ``KyotoTycoon.from_url``)."""
    raw_path, options, raw = parse_server_url(url, "kt", client, ("retry",), ("db",))
    path = unquote(raw_path[1:]) if raw_path.startswith("/") else unquote(raw_path)
    if path:
        options["default_db"] = int(path) if path.isdigit() else path
    if "db" in raw:
        if path:
            raise InvalidArgumentError(f"the database is given twice (path and db=) in {url!r}")
        options["default_db"] = int(raw["db"]) if raw["db"].isdigit() else raw["db"]
    return options


def _dumps_error(exc: Exception) -> InvalidTypeError | InvalidArgumentError:
    if isinstance(exc, TypeError):
        return InvalidTypeError(str(exc))
    return InvalidArgumentError(str(exc))


class KyotoCommands(ClientBase):
    """The methods of the Kyoto Tycoon clients (see the module doc for protocols and databases).

    Mixed into :class:`~kt_kyoto.KyotoTycoon` (blocking) and :class:`~kt_kyoto.AsyncKyotoTycoon`
    (asyncio), which supply the connections and the runner.
    """

    pool: Any
    decode_keys: bool
    serializer: Any
    default_db: int | str

    def _init_kyoto(self, serializer: Any, decode_keys: bool, default_db: int | str) -> None:
        """What both constructors set up after the connections: serializer, key decoding, databases."""
        self.decode_keys = bool(decode_keys)
        self.serializer = self._init_serializer(serializer, get_serializer)
        self._dumps = self.serializer.dumps
        self._loads = self.serializer.loads
        self._host_header = self.host if ":" not in self.host else f"[{self.host}]"
        self._cursor_ids = itertools.count(1)
        self._db_lock = threading.Lock()
        self._db_names: dict[str, int] | None = None  # from report: name -> index
        self._db_count = 0
        self.set_database(default_db)

    # ------------------------------------------------------------------ plumbing

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.host}:{self.port} db={self.default_db!r} "
                f"serializer={getattr(self.serializer, 'name', type(self.serializer).__name__)!r}>")

    def set_database(self, db: int | str) -> None:
        """Make ``db`` (an index or a name) the default database."""
        db = check_db(db)
        self.default_db = db
        self._http_db = http_db(db)
        # 0 always exists; any other default is checked (and a name resolved) on first binary use.
        self._dbi = 0 if db == 0 else -1

    def _rpc_call(self, procedure: str, params: Any) -> Call:
        """The operation of one RPC, named for the retry policy. A command that yields it closes the
        connection (``yield Close()``) when the reply says the server closes its side; the record
        commands do that themselves rather than through :meth:`_rpc`, which would cost each call a
        second generator."""
        request = encode_rpc(procedure, params, self._host_header)
        return Call(_RPC_OPERATION.get(procedure, procedure), request, read_rpc)

    def _rpc(self, procedure: str, params: Any) -> Steps[RpcResult]:
        """One RPC; the reply whatever its status."""
        result: RpcResult = (yield self._rpc_call(procedure, params))[1]
        if result.close:
            yield Close()  # the server is closing its side: the connection cannot take another request
        return result

    def _rpc_ok(self, procedure: str, params: Any) -> Steps[RpcResult]:
        """:meth:`_rpc` that raises for any status but 200."""
        result: RpcResult = (yield self._rpc_call(procedure, params))[1]
        if result.close:
            yield Close()
        return _ok(result)

    def _hdb(self, db: Any) -> bytes:
        return self._http_db if db is None else http_db(db)

    def _load_databases(self) -> Steps[None]:
        result = yield from self._rpc_ok("report", ())
        names: dict[str, int] = {}
        count = 0
        for key, value in result.records:
            if key.startswith(b"db_") and key[3:].isdigit():
                index = int(key[3:])
                count = max(count, index + 1)
                for field in value.split(b" "):
                    if field.startswith(b"path="):
                        path = field[5:].decode("utf-8", "replace")
                        # The server names a database by its file's base name; a later one wins.
                        names[path.rsplit("/", 1)[-1]] = index
        with self._db_lock:
            self._db_names = names
            self._db_count = count

    def _dbidx(self, db: Any) -> Steps[int]:
        """The index to send on the binary protocol for ``db`` (None = the default); raises for unknown ones.

        The first name (or index other than 0) asks the server's report; callers skip this helper
        when the default's index is already known.
        """
        if db is None:
            if self._dbi >= 0:
                return self._dbi
            index = yield from self._dbidx(self.default_db)
            self._dbi = index
            return index
        db = check_db(db)
        if db == 0:
            return 0
        if self._db_names is None:
            yield from self._load_databases()
        if type(db) is int:
            if db >= self._db_count:
                raise BadRequestError(f"no such database: index {db} (the server has {self._db_count})")
            return db
        names = self._db_names or {}
        found = names.get(db) if isinstance(db, str) else None
        if found is None:
            raise BadRequestError(f"no such database: {db!r}")
        return found

    def _key_out(self, key: bytes) -> str | bytes:
        return decode_key(key) if self.decode_keys else key

    def _dump(self, value: Any) -> bytes:
        try:
            return self._dumps(value)
        except KtError:
            raise
        except (TypeError, ValueError) as exc:
            raise _dumps_error(exc) from exc

    # ------------------------------------------------------------------ binary protocol

    @command
    def get(self, key: KeyType, db: DbSpec = None) -> Steps[Any]:
        """The deserialized value of ``key``, or None if it does not exist."""
        if type(key) is not bytes:
            key = encode_key(key)
        dbi = self._dbi if db is None and self._dbi >= 0 else (yield from self._dbidx(db))
        value = (yield Call("get", encode_get_bulk(((dbi, key),)), read_get_one))[1]
        if value.__class__ is bytes:
            return self._loads(value)
        if value is None:
            return None
        raise value

    @command
    def get_raw(self, key: KeyType, db: DbSpec = None) -> Steps[bytes | None]:
        """The stored bytes of ``key``, or None if it does not exist."""
        if type(key) is not bytes:
            key = encode_key(key)
        dbi = self._dbi if db is None and self._dbi >= 0 else (yield from self._dbidx(db))
        value = (yield Call("get", encode_get_bulk(((dbi, key),)), read_get_one))[1]
        if value is None or value.__class__ is bytes:
            return value
        raise value

    @command
    def set(self, key: KeyType, value: Any, db: DbSpec = None, expire_time: ExpireSpec = None) -> Steps[int]:
        """Store ``value`` at ``key``; returns the number of records set (1)."""
        if type(key) is not bytes:
            key = encode_key(key)
        try:
            data = self._dumps(value)
        except KtError:
            raise
        except (TypeError, ValueError) as exc:
            raise _dumps_error(exc) from exc
        dbi = self._dbi if db is None and self._dbi >= 0 else (yield from self._dbidx(db))
        hits = (yield Call("set", encode_set_bulk(((dbi, key, data, expire_to_xt(expire_time)),)), read_set_bulk))[1]
        if hits.__class__ is not int:
            raise hits
        return hits

    @command
    def remove(self, key: KeyType, db: DbSpec = None) -> Steps[int]:
        """Remove ``key``; returns the number of records removed (0 or 1)."""
        if type(key) is not bytes:
            key = encode_key(key)
        dbi = self._dbi if db is None and self._dbi >= 0 else (yield from self._dbidx(db))
        hits = (yield Call("remove", encode_remove_bulk(((dbi, key),)), read_remove_bulk))[1]
        if hits.__class__ is not int:
            raise hits
        return hits

    def _bulk_keys(self, keys: Iterable[KeyType]) -> tuple[list[bytes], bool]:
        """The keys as bytes, and whether every key was a str (then the encoded list maps back to ``keys``)."""
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise InvalidTypeError("keys must be a list of keys, not a single key")
        if type(keys) is list or type(keys) is tuple:
            # Fast paths: one comprehension for all-str keys, the list itself for all-bytes keys; any other
            # type (or a lone surrogate) takes the per-key path below and its errors.
            if _STR_ONLY.issuperset(map(type, keys)):
                try:
                    return [k.encode("utf-8") for k in keys], True
                except UnicodeEncodeError:
                    pass
            elif _BYTES_ONLY.issuperset(map(type, keys)):
                return list(keys), False
        elif not isinstance(keys, Iterable):
            raise InvalidTypeError(f"keys must be a list of keys, not {type(keys).__name__}")
        return [encode_key(k) for k in keys], False

    def _get_bulk(self, keys: Iterable[KeyType], db: DbSpec) -> Steps[tuple[list[Any], list[bytes]]]:
        """The hits as ``(keys, values)``; keys are the caller's own str keys when that is what came back."""
        raw, all_str = self._bulk_keys(keys)
        dbi = self._dbi if db is None and self._dbi >= 0 else (yield from self._dbidx(db))
        data = encode_get_bulk_keys(dbi, raw)
        expect = expected_keys(keys, raw, all_str)
        del raw  # a large reply is matched against `expect` as it arrives: no second list of keys meanwhile
        request = Call("get", data, read_get_bulk_kv, expect)
        del data
        r = (yield request)[1]
        request.data = b""  # the runner still holds the operation: let the request bytes go before decoding
        if r.__class__ is not tuple:
            raise r
        found, values = r
        return hit_keys(found, len(values), keys, expect, all_str, self.decode_keys, decode_key), values

    @command
    def get_bulk(self, keys: Iterable[KeyType], db: DbSpec = None) -> Steps[dict[Any, Any]]:
        """A dict of the keys found and their deserialized values (missing keys are left out)."""
        found, values = yield from self._get_bulk(keys, db)
        return dict(zip(found, map(self._loads, values)))

    @command
    def get_bulk_raw(self, keys: Iterable[KeyType], db: DbSpec = None) -> Steps[dict[Any, bytes]]:
        """A dict of the keys found and their stored bytes."""
        found, values = yield from self._get_bulk(keys, db)
        return dict(zip(found, values))

    @command
    def set_bulk(self, _KyotoTycoon__data: Mapping[Any, Any] | None = None, db: DbSpec = None,
                 expire_time: ExpireSpec = None, **kwargs: Any) -> Steps[int]:
        """Store every key/value pair of ``__data`` and ``kwargs``; returns the number of keys set."""
        # The parameter keeps the name `__data` had in KyotoTycoon (mangled), so no record key clashes with it.
        data = _KyotoTycoon__data
        if data is not None and not isinstance(data, Mapping):
            raise InvalidTypeError(f"set_bulk data must be a mapping, not {type(data).__name__}")
        dbi = self._dbi if db is None and self._dbi >= 0 else (yield from self._dbidx(db))
        xt = expire_to_xt(expire_time)
        if data is None:
            keys: list[Any] = list(kwargs)
            data_values: Iterable[Any] = kwargs.values()
        elif kwargs:
            keys = [*data, *kwargs]
            data_values = itertools.chain(data.values(), kwargs.values())
        else:
            keys = list(data)
            data_values = data.values()
        if not keys:
            return 0
        raw, _ = self._bulk_keys(keys)
        try:
            values = list(map(self._dumps, data_values))
        except KtError:
            raise
        except (TypeError, ValueError) as exc:
            raise _dumps_error(exc) from exc
        hits = (yield Call("set", encode_set_bulk_items(dbi, raw, values, xt), read_set_bulk))[1]
        if hits.__class__ is not int:
            raise hits
        return hits

    update = set_bulk

    @command
    def remove_bulk(self, keys: Iterable[KeyType], db: DbSpec = None) -> Steps[int]:
        """Remove every key in ``keys``; returns the number of keys removed."""
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise InvalidTypeError("keys must be a list of keys, not a single key")
        if not isinstance(keys, Iterable):
            raise InvalidTypeError(f"keys must be a list of keys, not {type(keys).__name__}")
        dbi = self._dbi if db is None and self._dbi >= 0 else (yield from self._dbidx(db))
        records = [(dbi, encode_key(k)) for k in keys]
        if not records:
            return 0
        hits = (yield Call("remove", encode_remove_bulk(records), read_remove_bulk))[1]
        if hits.__class__ is not int:
            raise hits
        return hits

    def _run_script(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """``lua.name(data, **records)``: every keyword but ``encode_values`` is a record, so a procedure's
        input may be called ``name`` (``script(name, name=...)`` clashes with its own argument)."""
        if len(args) > 1:
            raise InvalidTypeError(f"lua.{name}() takes at most one mapping of records, not {len(args)} arguments")
        encode_values = kwargs.pop("encode_values", True)
        if not args:
            return self.script(name, kwargs, encode_values)
        if not isinstance(args[0], Mapping):
            raise InvalidTypeError(f"lua.{name}() records must be a mapping, not {type(args[0]).__name__}")
        return self.script(name, {**args[0], **kwargs}, encode_values)

    @command
    def script(self, name: str, _KyotoTycoon__data: Mapping[Any, Any] | None = None, encode_values: bool = True,
               **kwargs: Any) -> Steps[dict[Any, Any]]:
        """Call the Lua function ``name`` with the given records; returns its output records.

        With ``encode_values`` the input values are serialized and the output values deserialized
        with the client's serializer; otherwise values go as bytes/str and come back as bytes.
        """
        if isinstance(name, str):
            bname = encode_text(name, "script name")
        elif isinstance(name, bytes):
            bname = name
        else:
            raise InvalidTypeError(f"script name must be a str, not {type(name).__name__}")
        if not bname:
            raise InvalidArgumentError("script name must not be empty")
        data = _KyotoTycoon__data  # named as set_bulk's
        items: list[tuple[Any, Any]] = []
        if data is not None:
            if not isinstance(data, Mapping):
                raise InvalidTypeError(f"script data must be a mapping, not {type(data).__name__}")
            items.extend(data.items())
        if kwargs:
            items.extend(kwargs.items())
        if encode_values:
            dump = self._dump
            records = [(encode_key(k), dump(v)) for k, v in items]
        else:
            records = [(encode_key(k), _raw_value(v, k)) for k, v in items]
        result = (yield Call("script", encode_play_script(bname, records), read_play_script))[1]
        if result.__class__ is not list:
            raise KyotoScriptError(f"script {name!r} failed: {result} (undefined function, "
                                   "an error returned by it, or a server without scripting)")
        key_out = decode_key if self.decode_keys else _identity
        if encode_values:
            loads = self._loads
            return {key_out(k): loads(v) for k, v in result}
        return {key_out(k): v for k, v in result}

    # ------------------------------------------------------------------ HTTP RPC: records

    @command
    def add(self, key: KeyType, value: Any, db: DbSpec = None, expire_time: ExpireSpec = None) -> Steps[bool]:
        """Store ``value`` only if ``key`` does not exist; False if it does."""
        result = (yield self._rpc_call("add", self._kv_params(key, value, db, expire_time)))[1]
        if result.close:
            yield Close()
        return _true_or_false(result)

    @command
    def replace(self, key: KeyType, value: Any, db: DbSpec = None, expire_time: ExpireSpec = None) -> Steps[bool]:
        """Store ``value`` only if ``key`` exists; False if it does not."""
        result = (yield self._rpc_call("replace", self._kv_params(key, value, db, expire_time)))[1]
        if result.close:
            yield Close()
        return _true_or_false(result)

    @command
    def append(self, key: KeyType, value: Any, db: DbSpec = None, expire_time: ExpireSpec = None) -> Steps[bool]:
        """Append ``value`` to the value at ``key`` (stores it if ``key`` does not exist)."""
        result = (yield self._rpc_call("append", self._kv_params(key, value, db, expire_time)))[1]
        if result.close:
            yield Close()
        _ok(result)
        return True

    def _kv_params(self, key: Any, value: Any, db: Any, expire_time: Any) -> list[tuple[bytes, bytes]]:
        params = [(b"key", encode_key(key)), (b"value", self._dump(value)), (b"DB", self._hdb(db))]
        if expire_time is not None:
            params.append((b"xt", b"%d" % expire_to_xt(expire_time)))
        return params

    @command
    def exists(self, key: KeyType, db: DbSpec = None) -> Steps[bool]:
        """True if ``key`` exists."""
        result = (yield self._rpc_call("check", ((b"key", encode_key(key)), (b"DB", self._hdb(db)))))[1]
        if result.close:
            yield Close()
        return _true_or_false(result)

    @command
    def seize(self, key: KeyType, db: DbSpec = None) -> Steps[Any]:
        """Remove ``key`` and return its deserialized value, or None if it did not exist."""
        result = (yield self._rpc_call("seize", ((b"key", encode_key(key)), (b"DB", self._hdb(db)))))[1]
        if result.close:
            yield Close()
        if result.status == _STATUS_OK:
            value = result.get(b"value")
            if value is None:
                raise KyotoServerError("seize reply without a value")
            return self._loads(value)
        if result.status == _STATUS_LOGIC:
            return None
        raise result.error()

    pop = seize

    @command
    def cas(self, key: KeyType, old_val: Any, new_val: Any, db: DbSpec = None,
            expire_time: ExpireSpec = None) -> Steps[bool]:
        """Compare-and-swap: store ``new_val`` if the value is ``old_val``.

        ``old_val=None`` requires the record to be absent; ``new_val=None`` removes it.
        """
        params = [(b"key", encode_key(key)), (b"DB", self._hdb(db))]
        if old_val is not None:
            params.append((b"oval", self._dump(old_val)))
        if new_val is not None:
            params.append((b"nval", self._dump(new_val)))
        if expire_time is not None:
            params.append((b"xt", b"%d" % expire_to_xt(expire_time)))
        result = (yield self._rpc_call("cas", params))[1]
        if result.close:
            yield Close()
        return _true_or_false(result)

    @command
    def incr(self, key: KeyType, n: int = 1, orig: int | None = None, db: DbSpec = None,
             expire_time: ExpireSpec = None) -> Steps[int]:
        """Add ``n`` to the integer at ``key`` (``orig``, default 0, if it does not exist); returns the result.

        Kyoto Tycoon stores the number as 8 bytes big-endian. Raises LogicalInconsistencyError if the
        stored value is not such a number.
        """
        params = [(b"key", encode_key(key)), (b"num", _int64_text(n, "n")), (b"DB", self._hdb(db))]
        if orig is not None:
            params.append((b"orig", _int64_text(orig, "orig")))
        if expire_time is not None:
            params.append((b"xt", b"%d" % expire_to_xt(expire_time)))
        result = (yield self._rpc_call("increment", params))[1]
        if result.close:
            yield Close()
        num = _num(_ok(result))
        try:
            return int(num)
        except ValueError:
            raise KyotoServerError(f"increment reply num is not an integer: {num[:60]!r}") from None

    @command
    def incr_double(self, key: KeyType, n: float = 1.0, orig: float | None = None, db: DbSpec = None,
                    expire_time: ExpireSpec = None) -> Steps[float]:
        """Add ``n`` to the floating-point number at ``key`` (``orig``, default 0, if missing); returns it."""
        params = [(b"key", encode_key(key)), (b"num", _float_text(n, "n")), (b"DB", self._hdb(db))]
        if orig is not None:
            params.append((b"orig", _float_text(orig, "orig")))
        if expire_time is not None:
            params.append((b"xt", b"%d" % expire_to_xt(expire_time)))
        result = (yield self._rpc_call("increment_double", params))[1]
        if result.close:
            yield Close()
        num = _num(_ok(result))
        try:
            return float(num)
        except ValueError:
            # ktserver prints the result with %f into 128 bytes and marks a longer one with '*' (|result| > 1e126).
            raise KyotoServerError(f"increment_double reply num is not a number: {num[:60]!r}...") from None

    # ------------------------------------------------------------------ HTTP RPC: database

    @command
    def clear(self, db: DbSpec = None) -> Steps[bool]:
        """Remove every record of the database."""
        yield from self._rpc_ok("clear", ((b"DB", self._hdb(db)),))
        return True

    @command
    def status(self, db: DbSpec = None) -> Steps[dict[Any, bytes]]:
        """The database's status: field name -> the server's raw value (bytes), as kt 0.9.6 returns it.

        Names are str (bytes with ``decode_keys=False``); e.g. ``status()["count"] == b"3"``.
        :meth:`count`, :attr:`size` and :attr:`path` read the numbers and the path.
        """
        return self._raw_fields((yield from self._rpc_ok("status", ((b"DB", self._hdb(db)),))))

    @command
    def report(self) -> Steps[dict[Any, bytes]]:
        """The server's report on itself and every database: field name -> raw value (bytes), as kt 0.9.6
        returns it; e.g. ``report()["db_0"]`` is ``b"count=0 size=... path=*"``."""
        return self._raw_fields((yield from self._rpc_ok("report", ())))

    def _raw_fields(self, result: RpcResult) -> dict[Any, bytes]:
        if self.decode_keys:
            return {decode_key(k): v for k, v in result.records}
        return dict(result.records)

    @command
    def ulog_list(self) -> Steps[list[tuple[Any, int, datetime.datetime]]]:
        """The server's update log files, in its order (by name): ``(path, size, last_update)`` each.

        ``path`` is the file's path as the server names it (str; bytes with ``decode_keys=False``),
        ``size`` its size in bytes (int), ``last_update`` the time stamp of its newest update as a naive
        local ``datetime`` (the epoch for a file with no update yet). The server flushes its log every
        0.1 s, so a write shows here up to 0.1 s later. A server started without ``-ulog`` raises
        BadRequestError.
        """
        files = []
        for path, meta in (yield from self._rpc_ok("ulog_list", ())).records:
            size, sep, ts = meta.partition(b":")
            if not (sep and size.isdigit() and ts.isdigit()):
                raise KyotoServerError(f"ulog_list reply for {path[:60]!r} is not size:timestamp: {meta[:60]!r}")
            files.append((self._key_out(path), int(size), _ulog_datetime(int(ts))))
        return files

    @command
    def ulog_remove(self, max_dt: datetime.datetime | None) -> Steps[bool]:
        """Remove the update log files whose newest update is at or before ``max_dt`` (None: now), except
        the newest file, which the server keeps writing. True on success; a server started without
        ``-ulog`` raises BadRequestError, one that fails to remove a file InternalServerError.

        A naive ``max_dt`` is local time (as :meth:`datetime.datetime.timestamp` reads it).
        """
        if max_dt is None:
            max_dt = datetime.datetime.now()
        elif not isinstance(max_dt, datetime.datetime):
            raise InvalidTypeError(f"max_dt must be a datetime, not {type(max_dt).__name__}")
        ts = _datetime_ns(max_dt)
        # The server reads ts as a signed 64-bit number: past that (the year 2262) every file qualifies,
        # which is what no ts at all means to it.
        yield from self._rpc_ok("ulog_remove", ((b"ts", b"%d" % ts),) if ts <= _INT64_MAX else ())
        return True

    def replicate(self, since: int = 0, sid: int = 65535, wait: float | None = None, *,
                  timeout: float | None = 30.0, check_gap: bool = True, decode: bool = False) -> Any:
        """The server's change stream (its update log, read as a replication slave reads it: binary 0xB1):
        every change newer than the time stamp ``since``, in log order, as typed records
        (:class:`kt_core.codec.kyoto_repl.SetChange`, ``RemoveChange``, ``ClearChange``; each has ``ts``,
        ``sid``, ``db``; keys and values are the stored bytes, ``expire`` absolute epoch seconds or None).
        An iterator on the blocking client, an async iterator (``async for``) on the asyncio client.

        Resuming: store the ``ts`` of the last change applied and pass it as ``since``: the stream
        continues strictly after it, so nothing is missed or repeated across a reconnect. ``since=0``
        starts at the oldest change the server still has.

        ``sid``: the master skips the changes made by server id ``sid`` (a slave's own); the default
        65535 is one no server is expected to use. ``wait``: once caught up, how long to wait for
        the next change before the iteration ends (seconds; 0 ends it as soon as it is caught up;
        None follows the log for ever). ``timeout``: how long a read may wait; an idle master sends a
        NOP every 0.1 s, so silence means the stream is broken (KtTimeoutError).

        The stream runs on a connection of its own (not a pooled one), closed when the iteration
        ends, is closed or fails; a broken stream is discarded, never reused. A server without
        ``-ulog`` raises :class:`~kt_core.codec.kyoto_repl.ReplicationRefusedError`. With ``check_gap`` (the
        default) a ``since`` older than the oldest change the server still has while older log files
        were removed raises :class:`~kt_core.codec.kyoto_repl.ReplicationGapError` instead of silently
        skipping the removed changes (conservative: a ``since`` exactly at the end of a removed file
        is reported too, as the server cannot tell). The blocking client checks at the call, the
        asyncio client when the iteration starts. ``decode``: values of ``SetChange`` records through
        the client's serializer and keys as the client's ``decode_keys`` says (the default gives the
        stored bytes).
        """
        for name, value in (("since", since), ("sid", sid)):
            if type(value) is not int:
                raise InvalidTypeError(f"{name} must be an int, not {type(value).__name__}")
        if not 0 <= since < 1 << 64:
            raise InvalidArgumentError(f"since must be in 0..2**64-1, got {since}")
        if not 0 <= sid < 1 << 16:
            raise InvalidArgumentError(f"sid must be in 0..65535, got {sid}")
        if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0):
            raise InvalidArgumentError(f"wait must be a number of seconds >= 0 or None, got {wait!r}")
        check_first = check_gap and since > 0
        if check_first and isinstance(self, SyncRunner):
            # A blocking call can do the round trips before it returns the stream; an async iterator
            # can only do them once it is iterated.
            self._run(self._check_replication_gap(since, sid, timeout))
            check_first = False
        return self._replication(since, sid, wait, timeout, check_first, decode)

    def _open_replication(self, since: int, sid: int, timeout: float | None) -> Steps[Any]:
        """A new connection (not pooled) on which the server streams its changes after ``since``."""
        conn = yield Acquire(fresh=True, timeout=timeout)
        try:
            yield Send(encode_replication(since, sid), on=conn)
            if not (yield Read(read_replication_open, on=conn))[1]:
                raise ReplicationRefusedError(
                    f"{self.host}:{self.port} refused replication (a server needs -ulog and -sid to serve it)")
        except BaseException:
            conn.close()
            raise
        return conn

    @iterator_command
    def _replication(self, since: int, sid: int, wait: float | None, timeout: float | None,
                     check_gap: bool, decode: bool = False) -> Steps[None]:
        if check_gap:
            yield from self._check_replication_gap(since, sid, timeout)
        conn = yield from self._open_replication(since, sid, timeout)
        try:
            frame = Read(read_replication_frame, on=conn)  # one operation object for every frame
            idle_since = time.monotonic()
            while True:
                _, ts, message = yield frame
                if message is None:  # NOP: caught up
                    if wait is not None and time.monotonic() - idle_since >= wait:
                        return
                    yield Send(encode_nop_ack(), on=conn)
                elif message:
                    change = decode_message(message, ts)
                    yield Items([self._decode_change(change) if decode else change])
                    idle_since = time.monotonic()
        finally:
            conn.close()

    def _decode_change(self, change: Any) -> Any:
        # a key that decode_keys turns into a str: the records say bytes, for the default case
        if isinstance(change, SetChange):
            return dataclasses.replace(change, key=self._key_out(change.key),  # type: ignore[arg-type]
                                       value=self._loads(change.value))
        if isinstance(change, RemoveChange):
            return dataclasses.replace(change, key=self._key_out(change.key))  # type: ignore[arg-type]
        return change

    def _check_replication_gap(self, since: int, sid: int, timeout: float | None) -> Steps[None]:
        """Raise ReplicationGapError when log files were removed and ``since`` is older than the oldest
        change left (the server would silently start there)."""
        try:
            files = (yield from self._rpc_ok("ulog_list", ())).records
        except BadRequestError:
            return  # no update log: the stream itself is refused
        ids = []
        for path, _ in files:
            name = path.rsplit(b"/", 1)[-1]
            if name[:-5].isdigit() and name.endswith(b".ulog"):
                ids.append(int(name[:-5]))
        if not ids or min(ids) <= 1:
            return  # nothing was ever removed
        conn = yield from self._open_replication(0, sid, timeout)
        try:
            _, first, message = yield Read(read_replication_frame, on=conn)
        finally:
            conn.close()
        if message is None:
            return  # an empty log loses nothing
        if since < first:
            raise ReplicationGapError(
                f"changes after ts {since} are gone: the server's oldest change left is ts {first} "
                f"(update log files up to {min(ids) - 1:010d}.ulog were removed); re-read the database and "
                "resume from a new time stamp")

    @command
    def tune_replication(self, host: str | None = None, port: int | None = None, ts: int | str | None = None,
                         interval: float | None = None) -> Steps[bool]:
        """Point this server (a slave, started with ``-rts``) at a master: ``host`` (None or "": stop
        replicating), ``port`` (default 1978), ``ts`` (the time stamp to resume after, or ``"now"``;
        None keeps the slave's own), ``interval`` (the slave's ``-riv``; None keeps it). A server
        without ``-rts`` raises NotImplementedByServerError."""
        params: list[tuple[bytes, bytes]] = []
        if host:
            params.append((b"host", encode_text(host, "host")))
        if port is not None:
            if type(port) is not int or not 0 < port < 65536:
                raise InvalidArgumentError(f"port must be an int in 1..65535, got {port!r}")
            params.append((b"port", b"%d" % port))
        if ts is not None:
            if ts == "now":
                params.append((b"ts", b"now"))
            elif type(ts) is int and 0 <= ts < 1 << 64:
                params.append((b"ts", b"%d" % ts))
            else:
                raise InvalidArgumentError(f"ts must be an int in 0..2**64-1 or 'now', got {ts!r}")
        if interval is not None:
            if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
                raise InvalidArgumentError(f"interval must be a number of seconds >= 0, got {interval!r}")
            params.append((b"iv", repr(float(interval)).encode()))
        yield from self._rpc_ok("tune_replication", params)
        return True

    @command
    def synchronize(self, hard: bool = False, command: str | None = None, db: DbSpec = None) -> Steps[bool]:
        """Synchronize the database to its file (``hard``: to the device), then run ``command`` if given."""
        params = [(b"DB", self._hdb(db))]
        if hard:
            params.append((b"hard", b"1"))
        if command is not None:
            if not isinstance(command, (str, bytes)):
                raise InvalidTypeError(f"command must be a str, not {type(command).__name__}")
            params.append((b"command", encode_text(command, "command") if isinstance(command, str) else command))
        yield from self._rpc_ok("synchronize", params)
        return True

    @command
    def vacuum(self, step: int = 0, db: DbSpec = None) -> Steps[bool]:
        """Remove expired records (``step`` > 0: that many steps; 0: all)."""
        if type(step) is not int:
            raise InvalidTypeError(f"step must be an int, not {type(step).__name__}")
        if not 0 <= step <= _INT64_MAX:
            raise InvalidArgumentError(f"step must be between 0 and {_INT64_MAX}, not {step}")
        params = [(b"DB", self._hdb(db))]
        if step:
            params.append((b"step", b"%d" % step))
        yield from self._rpc_ok("vacuum", params)
        return True

    @command
    def count(self, db: DbSpec = None) -> Steps[int]:
        """The number of records in the database."""
        return _status_int((yield from self._rpc_ok("status", ((b"DB", self._hdb(db)),))), b"count")

    @command
    def __len__(self) -> Steps[int]:
        return (yield from KyotoCommands.count.fn(self))

    @command
    def _size(self) -> Steps[int]:
        return _status_int((yield from self._rpc_ok("status", ((b"DB", self._http_db),))), b"size")

    @property
    def size(self) -> Any:
        """The size of the default database, in bytes (status ``size``); an awaitable on the asyncio client."""
        return self._size()

    @command
    def _path(self) -> Steps[str]:
        path = (yield from self._rpc_ok("status", ((b"DB", self._http_db),))).get(b"path")
        if path is None:
            raise KyotoServerError("status reply without a path field")
        return path.decode("utf-8", "replace")

    @property
    def path(self) -> Any:
        """The path of the default database (status ``path``); an awaitable on the asyncio client."""
        return self._path()

    # ------------------------------------------------------------------ HTTP RPC: matching

    def _match(self, procedure: str, params: list[tuple[bytes, bytes]], max_keys: int | None,
               db: Any) -> Steps[list[Any]]:
        if max_keys is not None:
            if type(max_keys) is not int:
                raise InvalidTypeError(f"max_keys must be an int, not {type(max_keys).__name__}")
            if not 0 <= max_keys <= _INT64_MAX:
                raise InvalidArgumentError(f"max_keys must be between 0 and {_INT64_MAX}, not {max_keys}")
            params.append((b"max", b"%d" % max_keys))
        params.append((b"DB", self._hdb(db)))
        result = yield from self._rpc_ok(procedure, params)
        found = []
        for key, value in result.records:
            if key[:1] == b"_":
                try:
                    order = int(value)
                except ValueError:
                    order = 0
                found.append((order, key[1:]))
        # The value of each record is its rank in the server's answer; the TSV is sorted by key.
        found.sort(key=_first)
        if self.decode_keys:
            return [decode_key(k) for _, k in found]
        return [k for _, k in found]

    @command
    def match_prefix(self, prefix: KeyType, max_keys: int | None = None, db: DbSpec = None) -> Steps[list[Any]]:
        """Keys starting with ``prefix`` (at most ``max_keys``)."""
        return (yield from self._match("match_prefix", [(b"prefix", encode_key(prefix, "prefix"))], max_keys, db))

    @command
    def keys_nonlazy(self, db: DbSpec = None) -> Steps[list[Any]]:
        """Every key of the database, as a list fetched in one request (``match_prefix("")``)."""
        return (yield from self._match("match_prefix", [(b"prefix", b"")], None, db))

    @command
    def match_regex(self, regex: KeyType, max_keys: int | None = None, db: DbSpec = None) -> Steps[list[Any]]:
        """Keys matching the regular expression (at most ``max_keys``). An invalid regex raises."""
        return (yield from self._match("match_regex", [(b"regex", encode_key(regex, "regex"))], max_keys, db))

    @command
    def match_similar(self, origin: KeyType, distance: int | None = None, max_keys: int | None = None,
                      db: DbSpec = None) -> Steps[list[Any]]:
        """Keys within edit distance ``distance`` (server default 1) of ``origin``, nearest first.

        A ``str`` origin is compared by characters (UTF-8), a ``bytes`` origin by bytes.
        """
        params = [(b"origin", encode_key(origin, "origin"))]
        if distance is not None:
            if type(distance) is not int:
                raise InvalidTypeError(f"distance must be an int, not {type(distance).__name__}")
            if not 0 <= distance <= _INT64_MAX:
                raise InvalidArgumentError(f"distance must be between 0 and {_INT64_MAX}, not {distance}")
            params.append((b"range", b"%d" % distance))
        if isinstance(origin, str):
            params.append((b"utf", b"1"))
        return (yield from self._match("match_similar", params, max_keys, db))

    # ------------------------------------------------------------------ item access
    # The mapping dunders as commands: the asyncio client keeps __getitem__ (await client[key]) and
    # replaces the others, which Python cannot await (a blocking facade still runs these). The blocking
    # client has its own, which call its public methods as they always have.

    @command
    def __getitem__(self, key_or_keydb: Any) -> Steps[Any]:
        key, db = _key_db(key_or_keydb)
        return (yield from KyotoCommands.get.fn(self, key, db))

    @command
    def __setitem__(self, key_or_keydb: Any, value_or_valueexpire: Any) -> Steps[None]:
        key, db = _key_db(key_or_keydb)
        value, expire_time = _value_expire(value_or_valueexpire)
        yield from KyotoCommands.set.fn(self, key, value, db, expire_time)

    @command
    def __delitem__(self, key_or_keydb: Any) -> Steps[None]:
        key, db = _key_db(key_or_keydb)
        yield from KyotoCommands.remove.fn(self, key, db)

    @command
    def __contains__(self, key_or_keydb: Any) -> Steps[bool]:
        key, db = _key_db(key_or_keydb)
        return (yield from KyotoCommands.exists.fn(self, key, db))

    # ------------------------------------------------------------------ cursors and iteration

    def _cursor_args(self, db: DbSpec, cursor_id: int | None) -> tuple[int | str, bytes, int]:
        """What a client's ``cursor(db, cursor_id)`` gives its cursor class: the database (as given, or
        the default), its HTTP form and the cursor id (a new one unless given)."""
        if cursor_id is None:
            cursor_id = next(self._cursor_ids)
        elif type(cursor_id) is not int:
            raise InvalidTypeError(f"cursor_id must be an int, not {type(cursor_id).__name__}")
        elif not 0 <= cursor_id <= _INT64_MAX:
            # The server reads the id as a signed 64-bit integer: a larger one would wrap onto another cursor.
            raise InvalidArgumentError(f"cursor_id must be between 0 and {_INT64_MAX}, not {cursor_id}")
        return self.default_db if db is None else check_db(db), self._hdb(db), cursor_id

    def _walk(self, http_db: bytes, cursor_id: int, procedure: str, key_out: Callable[[bytes], Any],
              value_out: Callable[[bytes], Any]) -> Steps[None]:
        """Walk a database with ``procedure`` (cur_get_key, cur_get_value or cur_get) and ``step``.

        The requests are pipelined on a connection of the walk's own: a batch of N steps is one write
        and N replies. Gives keys, values or ``(key, value)`` pairs, through ``key_out``/``value_out``.
        """
        host = self._host_header
        cur = b"%d" % cursor_id
        pool = self.pool
        conn = yield Acquire()
        # Whether the connection may go back to the pool as it is: in step, and no cursor of this walk left
        # on the server. Otherwise (stopped early, failed, cancelled) it is closed, which drops the cursor.
        reusable = False
        try:
            jump = (yield Call(None, encode_rpc("cur_jump", ((b"CUR", cur), (b"DB", http_db)), host), read_rpc,
                               on=conn))[1]
            if jump.status == _STATUS_OK:
                yield from self._walk_steps(conn, cur, procedure, key_out, value_out)
            elif jump.status != _STATUS_LOGIC:
                reusable = True  # unknown database: no cursor was made
                raise jump.error()
            try:
                yield Call(None, encode_rpc("cur_delete", ((b"CUR", cur),), host), read_rpc, on=conn)
            except Exception:
                conn.close()
            reusable = True
        finally:
            if not reusable:
                conn.close()
            pool.release(conn)

    def _walk_steps(self, conn: Any, cur: bytes, procedure: str, key_out: Callable[[bytes], Any],
                    value_out: Callable[[bytes], Any]) -> Steps[None]:
        request = encode_rpc(procedure, ((b"CUR", cur), (b"step", b"1")), self._host_header)
        reply = Read(read_rpc, on=conn)  # one operation object for every reply: the runner only reads it
        want_key = procedure != "cur_get_value"
        want_value = procedure != "cur_get_key"
        batch = _WALK_FIRST_BATCH
        while True:
            yield Send(request * batch, on=conn)
            out: list[Any] = []
            done = False
            failed: BaseException | None = None
            for _ in range(batch):
                result: RpcResult = (yield reply)[1]
                if done:
                    continue
                status = result.status
                if status == _STATUS_OK:
                    key = result.get(b"key") if want_key else None
                    value = result.get(b"value") if want_value else None
                    if (want_key and key is None) or (want_value and value is None):
                        conn.close()
                        raise KyotoServerError(f"{procedure} reply without its record")
                    try:
                        if want_key and want_value:
                            out.append((key_out(key), value_out(value)))  # type: ignore[arg-type]
                        else:
                            out.append(key_out(key) if want_key else value_out(value))  # type: ignore[arg-type]
                    except Exception as exc:
                        # A value the serializer cannot read: the caller still gets the records before it.
                        conn.close()
                        failed = exc
                        break
                elif status == _STATUS_LOGIC:
                    done = True
                else:
                    conn.close()
                    raise result.error()  # type: ignore[misc]
            if out:
                yield Items(out)
            if failed is not None:
                raise failed
            if done:
                return
            batch = min(batch * 2, _WALK_MAX_BATCH)

    @iterator_command
    def keys(self, db: DbSpec = None) -> Generator[Any, None, None]:
        """Every key of the database, lazily (a cursor walk, several steps per round trip)."""
        key_out = decode_key if self.decode_keys else _identity
        yield from self._walk(self._hdb(db), next(self._cursor_ids), "cur_get_key", key_out, _identity)

    @iterator_command
    def values(self, db: DbSpec = None) -> Generator[Any, None, None]:
        """Every deserialized value of the database, lazily."""
        yield from self._walk(self._hdb(db), next(self._cursor_ids), "cur_get_value", _identity, self._loads)

    @iterator_command
    def items(self, db: DbSpec = None) -> Generator[tuple[Any, Any], None, None]:
        """Every (key, deserialized value) pair of the database, lazily."""
        key_out = decode_key if self.decode_keys else _identity
        yield from self._walk(self._hdb(db), next(self._cursor_ids), "cur_get", key_out, self._loads)

    @iterator_command
    def __iter__(self) -> Generator[Any, None, None]:
        return (yield from KyotoCommands.keys.fn(self))


def _key_db(key_or_keydb: Any) -> tuple[Any, Any]:
    """An item-access key: ``key`` or a ``(key, db)`` pair."""
    if type(key_or_keydb) is tuple:
        if len(key_or_keydb) != 2:
            raise InvalidTypeError(f"item key must be a key or a (key, db) pair, not a {len(key_or_keydb)}-tuple")
        return key_or_keydb[0], key_or_keydb[1]
    return key_or_keydb, None


def _value_expire(value_or_valueexpire: Any) -> tuple[Any, Any]:
    """An item-assignment value: ``value`` or a ``(value, expire_time)`` pair."""
    if type(value_or_valueexpire) is tuple:
        if len(value_or_valueexpire) != 2:
            raise InvalidTypeError("item value must be a value or a (value, expire_time) pair, "
                                   f"not a {len(value_or_valueexpire)}-tuple")
        return value_or_valueexpire[0], value_or_valueexpire[1]
    return value_or_valueexpire, None


def _identity(x: Any) -> Any:
    return x


def _first(pair: tuple[int, bytes]) -> int:
    return pair[0]


def _raw_value(value: Any, key: Any) -> bytes:
    if isinstance(value, str):
        return encode_text(value, f"script value of {key!r}")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidTypeError(f"with encode_values=False values must be str or bytes, not {type(value).__name__}")


_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _int64_text(n: Any, what: str) -> bytes:
    if type(n) is not int:
        raise InvalidTypeError(f"incr {what} must be an int, not {type(n).__name__}")
    # The server reads the number as a signed 64-bit integer and silently wraps a larger one.
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise InvalidArgumentError(f"incr {what} must fit in a signed 64-bit integer, not {n}")
    return b"%d" % n


def _float_text(n: Any, what: str) -> bytes:
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        raise InvalidTypeError(f"incr_double {what} must be a number, not {type(n).__name__}")
    n = float(n)
    if n != n or n in (float("inf"), float("-inf")):
        raise InvalidArgumentError(f"incr_double {what} must be finite, not {n}")
    text = repr(n)
    # The server parses plain decimals; avoid exponent notation.
    return (text if "e" not in text else f"{n:.20f}").encode("ascii")


def _ok(result: RpcResult) -> RpcResult:
    """The reply of an RPC that must succeed: any status but 200 raises."""
    if result.status != _STATUS_OK:
        raise result.error()  # type: ignore[misc]
    return result


def _true_or_false(result: RpcResult) -> bool:
    """200 -> True, 450 (logical inconsistency: exists, missing, mismatch) -> False; other errors raise."""
    status = result.status
    if status == _STATUS_OK:
        return True
    if status == _STATUS_LOGIC:
        return False
    raise result.error()  # type: ignore[misc]


def _num(result: RpcResult) -> bytes:
    records = result.records
    # The reply of increment / increment_double is the single record num (get() for anything else).
    num = records[0][1] if len(records) == 1 and records[0][0] == b"num" else result.get(b"num")
    if num is None:
        raise KyotoServerError("reply without a num field")
    return num


def _status_int(result: RpcResult, field: bytes) -> int:
    """A status field that must be an integer: a missing or malformed one raises, never reads as 0."""
    text = result.get(field)
    if text is None or not text.lstrip(b"-").isdigit():
        raise KyotoServerError(f"status reply {field.decode()} field is not an integer: {text!r}")
    return int(text)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_NS = 1_000_000_000


def _ulog_datetime(ts: int) -> datetime.datetime:
    """An update log time stamp (nanoseconds since the epoch) as a naive local datetime, to the microsecond."""
    try:
        return datetime.datetime.fromtimestamp(ts // _NS).replace(microsecond=ts % _NS // 1000)
    except (OverflowError, OSError, ValueError):
        raise KyotoServerError(f"ulog_list time stamp out of range: {ts}") from None


def _datetime_ns(dt: datetime.datetime) -> int:
    """``dt`` in nanoseconds since the epoch, exactly (a naive ``dt`` is local time)."""
    try:
        delta = (dt if dt.utcoffset() is not None else dt.astimezone()) - _EPOCH
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidArgumentError(f"max_dt out of range: {dt!r} ({exc})") from None
    ns = (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000
    if ns < 0:
        # The server would read a negative ts as a huge unsigned one and remove every file.
        raise InvalidArgumentError(f"max_dt must not be before the epoch: {dt!r}")
    return ns
