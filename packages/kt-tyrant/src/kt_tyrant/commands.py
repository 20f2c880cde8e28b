"""TyrantCommands: every Tokyo Tyrant 1.1.41 method, written once for the blocking and the asyncio client.

Each method is a command (kt_core.command, docs/async-and-commands.md): it checks its arguments,
builds its request with :mod:`kt_core.codec.tyrant`'s encoders, yields it as an operation and maps the
reply code to its return value. :class:`~kt_tyrant.TokyoTyrant` runs the commands on the calling
thread's pooled connection; :class:`~kt_tyrant.AsyncTokyoTyrant` runs them as coroutines.

Reply codes. Tokyo Tyrant answers every failure with code 1, whatever the cause, so a code can
only be read as an expected outcome where the command has one. Where the API documents "boolean
indicating success", code 1 is that refusal and the method returns ``False``:

============================  =======================  ==============================================================
method                        command                  code 1 means
============================  =======================  ==============================================================
get, get_raw                  get                      missing key -> ``None``
remove                        out                      missing key -> ``0``
add                           putkeep                  key exists -> ``False``
exists, length                vsiz                     missing key -> ``False`` / ``None``
get_part                      misc getpart             missing key or start past the end -> ``False``
error                         misc error               not a file database -> ``None``
misc                          misc                     the function refused (or does not exist) -> ``None``
set, append, addshl           put, putcat, putshl      refused (``ttserver -mask put``...) -> ``False``
clear                         vanish                   refused (``-mask vanish``) -> ``False``
synchronize, optimize         sync, optimize           refused (``-mask sync``...) -> ``False``
copy                          copy                     the copy failed (a missing directory...) -> ``False``
restore                       restore                  no update-log directory, or a replay failed -> ``False``
set_master                    setmst                   refused (``-mask setmst``) -> ``False``
set_bulk, remove_bulk         misc putlist, outlist    refused -> ``False``
setdup, setdupback            misc putdup, putdupback  not a B+ tree file database -> ``False``
set_index                     misc setindex            not a table database... -> ``False``; raises with check_exists
optimize_index, delete_index  misc setindex            not a table database, no such index -> ``False``
clear_cache, defragment       misc cacheclear, defrag  an in-memory database -> ``False``
search(cmd="out")             misc search              not a table database -> ``False``
QueryBuilder.delete           misc search              not a table database -> ``False``
everything else               ...                      :class:`TokyoTyrantError` (code, message)
============================  =======================  ==============================================================

ttserver answers a ``-mask``-ed *misc* call with code 0 and nothing done, so the misc-based methods
cannot see that refusal (they return True, ``misc`` an empty list).

A reply code other than 0 or 1 is never expected and always raises. Connection failures raise
:class:`~kt_core.errors.KtConnectionError`, bad reply bytes :class:`~kt_core.errors.ProtocolError`,
bad arguments :class:`~kt_core.errors.InvalidArgumentError` / ``InvalidTypeError`` before anything
is sent: none of them is ever turned into ``False`` or ``None``.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Union

from kt_core.codec.progress import expected_keys, hit_keys
from kt_core.codec.tyrant import (
    RDBMONOULOG,
    RDBXOLCKGLB,
    RDBXOLCKREC,
    encode_adddouble,
    encode_addint,
    encode_copy,
    encode_ext,
    encode_fwmkeys,
    encode_get,
    encode_iterinit,
    encode_iternext,
    encode_mget,
    encode_misc,
    encode_optimize,
    encode_out,
    encode_put,
    encode_putcat,
    encode_putkeep,
    encode_putnr,
    encode_putshl,
    encode_restore,
    encode_rnum,
    encode_setmst,
    encode_size,
    encode_stat,
    encode_sync,
    encode_vanish,
    encode_vsiz,
    parse_stat,
    read_adddouble,
    read_addint,
    read_copy,
    read_ext,
    read_fwmkeys,
    read_get,
    read_iterinit,
    read_iternext,
    read_mget_kv,
    read_misc,
    read_optimize,
    read_out,
    read_put,
    read_putcat,
    read_putkeep,
    read_putshl,
    read_restore,
    read_rnum,
    read_setmst,
    read_size,
    read_stat,
    read_sync,
    read_vanish,
    read_vsiz,
)
from kt_core.codec.tyrant_repl import (
    Change,
    ReplicationGapError,
    ReplicationRefusedError,
    SetChange,
    decode_message,
    encode_repl,
    read_repl_frame,
    read_repl_frames,
    read_repl_open,
)
from kt_core.command import Acquire, Call, Items, Read, Send, Steps, SyncRunner, command, iterator_command, unpipelined
from kt_core.errors import (
    InvalidArgumentError,
    InvalidTypeError,
    KtConnectionError,
    KtTimeoutError,
    TokyoTyrantError,
    TokyoTyrantScriptError,
)
from kt_core.io.pooled import parse_server_url
from kt_serializers import BinarySerializer, NoneSerializer, get_serializer

from .constants import INDEX_KEEP, INDEX_OPTIMIZE, INDEX_TYPES, INDEX_VOID

__all__ = ["KeyType", "TyrantCommands"]

KeyType = Union[str, bytes]

_ITER_BATCH_FIRST = 64
_ITER_BATCH_MAX = 1024
_SEARCH_COMMANDS = ("get", "out", "count")
# misc commands safe to repeat after an unknown outcome; any other (putlist adds duplicates on a B+ tree
# file, putdup, genuid, setindex with keep...) is sent as operation "misc", which is never retried.
_MISC_RETRYABLE = frozenset({"getpart", "outlist", "range", "regex", "search", "error", "cacheclear", "defrag"})
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(f"tyrant {what} cannot be encoded as UTF-8: {exc}") from None


_STR_ONLY = frozenset((str,))
_BYTES_ONLY = frozenset((bytes,))


def _key_slow(key: object) -> bytes:
    if isinstance(key, str):
        return _utf8(key, "key")
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return str(key).encode("ascii")  # as kt 0.9.6 sends a number
    raise InvalidTypeError(f"tyrant keys must be str, bytes, int or float, got {type(key).__name__}")


def _text(value: object, what: str, numbers: bool = False) -> bytes:
    """A name, path, option string or misc argument as bytes (str is UTF-8; ints decimal if ``numbers``)."""
    if isinstance(value, str):
        return _utf8(value, what)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode("ascii")
    raise InvalidTypeError(f"tyrant {what} must be str or bytes, got {type(value).__name__}")


def _search_expression(expression: object) -> bytes:
    """One misc search argument: bytes/str as given, or a kt 0.9.6 tuple joined with NUL (as its _pack_misc_cmd)."""
    if isinstance(expression, (tuple, list)):
        parts = []
        for item in expression:
            part = _text(item if isinstance(item, (str, bytes, bytearray)) else str(item), "search expression item")
            if b"\x00" in part:
                raise InvalidArgumentError(f"tyrant search: an expression item cannot contain a NUL byte: {item!r}")
            parts.append(part)
        return b"\x00".join(parts)
    return _text(expression, "search expression")


def _count(value: object, what: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTypeError(f"tyrant {what} must be an int or None, got {type(value).__name__}")
    if value < 0:
        raise InvalidArgumentError(f"tyrant {what} must be >= 0, got {value}")
    return value


def _failed(command: str, code: int, detail: str = "") -> TokyoTyrantError:
    message = f"tyrant {command} failed" + (f": {detail}" if detail else "")
    return TokyoTyrantError(message, code)


def _timestamp(value: object, what: str) -> int:
    """A replication time stamp in microseconds since the epoch, as the server takes it.

    A number is taken as microseconds already. A naive ``datetime`` is local time, converted as kt
    0.9.6 does (``mktime(timetuple()) * 1e6 + microsecond``); an aware one uses its own offset.
    """
    if isinstance(value, datetime.datetime):
        if value.utcoffset() is not None:
            value = (value - _EPOCH) // _MICROSECOND
        else:
            try:
                seconds = time.mktime(value.timetuple())
            except (OverflowError, ValueError) as exc:
                raise InvalidArgumentError(f"tyrant {what}: {value!r} is out of range: {exc}") from None
            value = int(seconds) * 1000000 + value.microsecond
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTypeError(f"tyrant {what} must be microseconds (an int) or a datetime, got {type(value).__name__}")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidArgumentError(f"tyrant {what} must be a finite number, got {value!r}")
        value = int(value)
    if not 0 <= value < 1 << 64:
        raise InvalidArgumentError(f"tyrant {what} must be >= 0 microseconds since the epoch, got {value!r}")
    return value


def _options(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(f"tyrant {what}: options must be an int, got {type(value).__name__}")
    if not 0 <= value < 1 << 32:
        raise InvalidArgumentError(f"tyrant {what}: options must be in 0..2**32-1, got {value!r}")
    return value


# One operation object for every pipelined iternext reply: an operation is only read by the runner.
_READ_ITERNEXT = Read(read_iternext)
_READ_MISC = Read(read_misc)


class TyrantCommands:
    """The Tokyo Tyrant methods of :class:`~kt_tyrant.TokyoTyrant` and :class:`~kt_tyrant.AsyncTokyoTyrant`.

    On the asyncio client every method is a coroutine (``await client.get(key)``) and the
    properties that ask the server (``size``, ``path``, ``error``) are awaitables.
    """

    host: str
    port: int
    decode_keys: bool
    serializer: Any
    _dumps_fn: Callable[[Any], bytes]
    _loads: Callable[[bytes], Any]
    _part_loads: Callable[[bytes], Any]

    # ------------------------------------------------------------------ construction (no I/O)

    @staticmethod
    def _check_default_db(default_db: int | None) -> None:
        if default_db not in (0, None) or isinstance(default_db, bool):
            raise InvalidArgumentError(
                f"Tokyo Tyrant serves a single database: default_db must be 0 or None, got {default_db!r}")

    def _init_tyrant(self, serializer: Any, decode_keys: bool) -> None:
        self.decode_keys = bool(decode_keys)
        self.serializer = self._init_serializer(serializer, get_serializer)  # type: ignore[attr-defined]
        self._dumps_fn = self.serializer.dumps
        self._loads = self.serializer.loads
        # get_part returns a slice of the stored bytes: only text-like serializers can decode one.
        self._part_loads = self._loads if isinstance(self.serializer, (BinarySerializer, NoneSerializer)) else bytes
        # Their dumps gives a bytes value back unchanged (documented): the bulk encoder skips the call.
        self._bytes_as_is = isinstance(self.serializer, (BinarySerializer, NoneSerializer))

    @staticmethod
    def _url_options(url: str, client: str) -> dict[str, Any]:
        """The constructor options of a ``tt://`` URL (see ``from_url``)."""
        path, options, _ = parse_server_url(url, "tt", client, ("retry", "max_connections"))
        if path not in ("", "/", "/0"):
            raise InvalidArgumentError(f"a Tokyo Tyrant server has a single database: no path in {url!r}")
        return options

    # ------------------------------------------------------------------ encoding and decoding (no I/O)

    def _dumps(self, value: Any) -> bytes:
        try:
            return self._dumps_fn(value)
        except TypeError as exc:
            raise InvalidTypeError(f"tyrant value cannot be serialized: {exc}") from exc
        except ValueError as exc:  # UnicodeEncodeError (a str with a lone surrogate) included
            raise InvalidArgumentError(f"tyrant value cannot be serialized: {exc}") from exc

    def _value(self, value: Any, encode: bool) -> bytes:
        return self._dumps(value) if encode else _text(value, "value")

    def _decode_key(self, key: bytes) -> KeyType:
        if not self.decode_keys:
            return key
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            return key

    def _decode_keys(self, keys: Iterable[bytes]) -> list[KeyType]:
        if not self.decode_keys:
            return list(keys)
        return [self._decode_key(k) for k in keys]

    def _pairs_to_dict(self, items: list[bytes]) -> dict[KeyType, Any]:
        loads = self._loads
        decode = self._decode_key
        return {decode(items[i]): loads(items[i + 1]) for i in range(0, len(items) - 1, 2)}

    def _bulk_args(self, data: Mapping[KeyType, Any] | None, kwargs: Mapping[str, Any]) -> list[bytes]:
        """``[key, value, key, value, ...]`` as bytes: what putlist takes."""
        if data.__class__ is dict and not kwargs:
            # The common call, a plain dict of str or bytes keys: one loop, no call per key. Anything
            # unusual (another key type, a value the serializer refuses) takes the checked path,
            # which raises the documented errors.
            dumps = self._dumps_fn
            as_is = self._bytes_as_is
            args: list[bytes] = []
            append = args.append
            try:
                for k, v in data.items():
                    cls = k.__class__
                    if cls is str:
                        append(k.encode("utf-8"))
                    elif cls is bytes:
                        append(k)
                    else:
                        break
                    append(v if as_is and v.__class__ is bytes else dumps(v))
                else:
                    return args
            except (TypeError, ValueError):
                pass
        return [x for kv in self._bulk_items(data, kwargs) for x in kv]

    def _bulk_items(self, data: Mapping[KeyType, Any] | None, kwargs: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
        if data is not None and not isinstance(data, Mapping):
            raise InvalidTypeError(f"tyrant bulk data must be a mapping, got {type(data).__name__}")
        items: list[tuple[bytes, bytes]] = []
        dumps = self._dumps
        for source in (data or {}, kwargs):
            for k, v in source.items():
                items.append((_key_slow(k), dumps(v)))
        return items

    # ------------------------------------------------------------------ shared steps

    def _misc(self, command: str, args: Iterable[bytes], update_log: bool = True,
              retryable: bool = True) -> Steps[tuple[int, list[bytes]]]:
        request = encode_misc(command.encode("ascii"), args, 0 if update_log else RDBMONOULOG)
        operation = command if retryable and command in _MISC_RETRYABLE else "misc"
        r = yield Call(operation, request, read_misc)
        return r[1], r[2]

    def _misc_ok(self, command: str, args: Iterable[bytes], update_log: bool = True) -> Steps[list[bytes]]:
        code, items = yield from self._misc(command, args, update_log)
        if code:
            raise _failed(f"misc {command}", code)
        return items

    def _misc_bool(self, command: str, args: Iterable[bytes], update_log: bool = True,
                   retryable: bool = True) -> Steps[bool]:
        """True on success, False when the server refuses (code 1); any other code raises."""
        code, _ = yield from self._misc(command, args, update_log, retryable)
        if code:
            if code == 1:
                return False
            raise _failed(f"misc {command}", code)
        return True

    def _simple(self, command: str, request: bytes, read_fn: Callable[..., Any]) -> Steps[bool]:
        """True on success, False when the server refuses (code 1); any other code raises."""
        r = yield Call(command, request, read_fn)
        if r[1]:
            if r[1] == 1:
                return False
            raise _failed(command, r[1])
        return True

    # mget in two plain halves around the command's one request (get_bulk, get_bulk_raw): a shared
    # generator would cost every bulk call a second one.

    def _mget_request(self, keys: Iterable[KeyType]) -> tuple[bytes, Any, bool] | None:
        """The mget request for ``keys``, the keys its reply is matched against, and whether they are all
        str; None for no keys."""
        if isinstance(keys, (str, bytes, bytearray)):
            raise InvalidTypeError("tyrant get_bulk: keys must be a list of keys, not a single key")
        all_str = False
        if (type(keys) is list or type(keys) is tuple) and _STR_ONLY.issuperset(map(type, keys)):
            # All str: one comprehension; a lone surrogate falls to the per-key path and its error.
            try:
                raw = [k.encode("utf-8") for k in keys]
                all_str = True
            except UnicodeEncodeError:
                raw = [_key_slow(k) for k in keys]
        elif (type(keys) is list or type(keys) is tuple) and _BYTES_ONLY.issuperset(map(type, keys)):
            raw = list(keys)
        elif not isinstance(keys, Iterable):
            raise InvalidTypeError(f"tyrant get_bulk: keys must be a list of keys, got {type(keys).__name__}")
        else:
            raw = [k if k.__class__ is bytes else _key_slow(k) for k in keys]
        if not raw:
            return None
        # Only `expect` outlives this: a large reply is matched against it as it arrives, with no
        # second list of keys meanwhile.
        return encode_mget(raw), expected_keys(keys, raw, all_str), all_str

    def _mget_hits(self, reply: Any, keys: Iterable[KeyType], expect: Any, all_str: bool) -> tuple[
            list[Any], list[bytes]]:
        """The hits of an mget reply as ``(keys, values)``; keys are the caller's own str keys when that is
        what came back."""
        if reply[1]:
            raise _failed("mget", reply[1])
        found, values = reply[2]
        return hit_keys(found, len(values), keys, expect, all_str, self.decode_keys,
                        self._decode_key), values

    def _set_bulk(self, data: Mapping[KeyType, Any] | None, kwargs: Mapping[str, Any]) -> Steps[bool]:
        args = self._bulk_args(data, kwargs)
        if not args:
            return True
        return (yield from self._misc_bool("putlist", args))

    def _status(self) -> Steps[dict[str, int | float | str]]:
        r = yield Call("stat", encode_stat(), read_stat)
        if r[1]:
            raise _failed("stat", r[1])
        return parse_stat(r[2])

    def _get_range(self, start: KeyType | None, stop: KeyType | None, max_keys: int | None) -> Steps[
            dict[KeyType, Any]]:
        low = b"" if start is None else _key_slow(start)
        args = [low, b"%d" % _count(max_keys, "max_keys", 0)]
        if stop is not None:
            args.append(_key_slow(stop))
        items = yield from self._misc_ok("range", args, update_log=False)
        if low and items and items[0] < low:
            # ttserver's in-memory tree ("+") runs range on its shared iterator: when ``start`` is past
            # the last key the iterator is not reset, and the rest of an earlier, cut-short range comes back.
            keep = [i for i in range(0, len(items) - 1, 2) if items[i] >= low]
            items = [x for i in keep for x in (items[i], items[i + 1])]
        return self._pairs_to_dict(items)

    def _iterate(self, first: bytes, next_request: bytes, read_first: Callable[..., Any],
                 read_next: Read, command: str) -> Steps[list[Any]]:
        """Reset the iterator and collect iternext replies, pipelined in growing batches on one connection.

        Every reply sent for is read, even after the end or an error, so the connection stays in step.
        """
        batch = _ITER_BATCH_FIRST
        yield Send(first + next_request * batch)
        init = yield Read(read_first)
        results: list[Any] = []
        done = bool(init[1])
        while True:
            for _ in range(batch):
                r = yield read_next
                if r[1]:
                    done = True
                elif not done:
                    results.append(r[2])
            if done:
                break
            batch = min(batch * 2, _ITER_BATCH_MAX)
            yield Send(next_request * batch)
        if init[1]:
            raise _failed(command, init[1])
        return results

    def _keys(self) -> Steps[list[KeyType]]:
        keys = yield from self._iterate(encode_iterinit(), encode_iternext(), read_iterinit, _READ_ITERNEXT,
                                        "iterinit")
        return self._decode_keys(keys)

    def _misc_iterate(self, start: bytes | None) -> Steps[list[tuple[KeyType, Any]]]:
        init = encode_misc(b"iterinit", [] if start is None else [start], RDBMONOULOG)
        records = yield from self._iterate(init, encode_misc(b"iternext", [], RDBMONOULOG), read_misc, _READ_MISC,
                                           "misc iterinit")
        loads = self._loads
        decode = self._decode_key
        return [(decode(rec[0]), loads(rec[1] if len(rec) > 1 else b"")) for rec in records]

    # ------------------------------------------------------------------ records

    # get, get_raw and set encode the key inline, and get does not delegate to get_raw: they are the
    # hot paths, and each extra generator or call is a measurable part of a request's own cost.

    @command
    def get(self, key: KeyType) -> Steps[Any]:
        """The deserialized value of ``key``, or None if it does not exist."""
        if key.__class__ is str:
            try:
                key = key.encode("utf-8")
            except UnicodeEncodeError:
                key = _key_slow(key)  # raises InvalidArgumentError
        elif key.__class__ is not bytes:
            key = _key_slow(key)
        r = yield Call("get", encode_get(key), read_get)
        if r[1]:
            if r[1] == 1:
                return None
            raise _failed("get", r[1])
        return self._loads(r[2])

    @command
    def get_raw(self, key: KeyType) -> Steps[bytes | None]:
        """The stored bytes of ``key``, or None if it does not exist."""
        if key.__class__ is str:
            try:
                key = key.encode("utf-8")
            except UnicodeEncodeError:
                key = _key_slow(key)  # raises InvalidArgumentError
        elif key.__class__ is not bytes:
            key = _key_slow(key)
        r = yield Call("get", encode_get(key), read_get)
        if r[1]:
            if r[1] == 1:
                return None
            raise _failed("get", r[1])
        return r[2]

    @command
    def set(self, key: KeyType, value: Any) -> Steps[bool]:
        """Store ``value`` (serialized) under ``key``, overwriting. True; False if the server refused."""
        if key.__class__ is str:
            try:
                key = key.encode("utf-8")
            except UnicodeEncodeError:
                key = _key_slow(key)  # raises InvalidArgumentError
        elif key.__class__ is not bytes:
            key = _key_slow(key)
        try:
            data = self._dumps_fn(value)
        except (TypeError, ValueError):
            data = self._dumps(value)  # raises the argument error that names the value
        r = yield Call("set", encode_put(key, data), read_put)
        if r[1]:
            if r[1] == 1:
                return False
            raise _failed("put", r[1])
        return True

    @command
    def remove(self, key: KeyType) -> Steps[int]:
        """Remove ``key``: the number of records removed (1, or 0 if it did not exist)."""
        r = yield Call("remove", encode_out(_key_slow(key)), read_out)
        if r[1]:
            if r[1] == 1:
                return 0
            raise _failed("out", r[1])
        return 1

    @command
    def add(self, key: KeyType, value: Any) -> Steps[bool]:
        """Store only if ``key`` does not exist (putkeep): True if added, False if it existed."""
        r = yield Call("add", encode_putkeep(_key_slow(key), self._dumps(value)), read_putkeep)
        if r[1]:
            if r[1] == 1:
                return False
            raise _failed("putkeep", r[1])
        return True

    @command
    def append(self, key: KeyType, value: Any) -> Steps[bool]:
        """Append the serialized ``value`` to the record (putcat; creates it if missing).

        True; False if the server refused."""
        return (yield from self._simple("putcat", encode_putcat(_key_slow(key), self._dumps(value)), read_putcat))

    @command
    def addshl(self, key: KeyType, value: Any, width: int) -> Steps[bool]:
        """Append ``value`` then keep only the last ``width`` bytes of the record (putshl).

        True; False if the server refused."""
        if not isinstance(width, int) or isinstance(width, bool):
            raise InvalidTypeError(f"tyrant addshl: width must be an int, got {type(width).__name__}")
        return (yield from self._simple("putshl", encode_putshl(_key_slow(key), self._dumps(value), width),
                                        read_putshl))

    @command
    def setnr(self, key: KeyType, value: Any) -> Steps[None]:
        """Store without waiting for a reply (putnr: the server never answers it)."""
        yield Send(encode_putnr(_key_slow(key), self._dumps(value)))

    # The parameter is named as it was when the method was written in TokyoTyrant itself, where
    # ``__data`` was mangled to this: the signature, and a ``__data=`` keyword landing in **kwargs, stay.
    @command
    def setnr_bulk(self, _TokyoTyrant__data: Mapping[KeyType, Any] | None = None, **kwargs: Any) -> Steps[None]:
        """Store several records with putnr, all in one write; nothing is read back."""
        items = self._bulk_items(_TokyoTyrant__data, kwargs)
        if items:
            yield Send(b"".join([encode_putnr(k, v) for k, v in items]))

    @command
    def setdup(self, key: KeyType, value: Any) -> Steps[bool]:
        """Store ``value``; on a B+ tree file database an existing key keeps its old values too (misc putdup).

        True; False where the server refuses it: the in-memory tree, the hash and table databases.
        """
        return (yield from self._misc_bool("putdup", [_key_slow(key), self._dumps(value)]))

    @command
    def setdupback(self, key: KeyType, value: Any) -> Steps[bool]:
        """Like :meth:`setdup`, but the new value goes before the existing ones (misc putdupback)."""
        return (yield from self._misc_bool("putdupback", [_key_slow(key), self._dumps(value)]))

    @command
    def get_part(self, key: KeyType, start: int | None = None, end: int | None = None) -> Steps[Any]:
        """Part of the value of ``key``: ``end`` bytes (all if None) from offset ``start`` (0 if None).

        False if the key does not exist or ``start`` is not below the value's length. With KT_BINARY
        the part is decoded like a value (str, or bytes if it is not UTF-8); with KT_NONE it is bytes;
        with any other serializer it is the raw bytes (a slice of serialized data cannot be decoded).
        """
        args = [_key_slow(key), b"%d" % _count(start, "get_part start", 0)]
        if end is not None:
            args.append(b"%d" % _count(end, "get_part end", 0))
        code, items = yield from self._misc("getpart", args, update_log=False)
        if code == 1:
            return False
        if code or not items:
            raise _failed("misc getpart", code, "no part in the reply")
        return self._part_loads(items[0])

    @command
    def exists(self, key: KeyType) -> Steps[bool]:
        """True if ``key`` exists (vsiz)."""
        r = yield Call("exists", encode_vsiz(_key_slow(key)), read_vsiz)
        if r[1] and r[1] != 1:
            raise _failed("vsiz", r[1])
        return not r[1]

    @command
    def length(self, key: KeyType) -> Steps[int | None]:
        """The size in bytes of the value of ``key`` (vsiz), or None if it does not exist."""
        r = yield Call("exists", encode_vsiz(_key_slow(key)), read_vsiz)
        if r[1]:
            if r[1] == 1:
                return None
            raise _failed("vsiz", r[1])
        return r[2]

    @command
    def incr(self, key: KeyType, n: int = 1) -> Steps[int]:
        """Add ``n`` (may be negative) to the 4-byte integer record (addint); the new value.

        A missing record starts at 0. A record that is not a 4-byte integer raises TokyoTyrantError.
        """
        if not isinstance(n, int) or isinstance(n, bool):
            raise InvalidTypeError(f"tyrant incr: n must be an int, got {type(n).__name__}")
        r = yield Call("addint", encode_addint(_key_slow(key), n), read_addint)
        if r[1]:
            raise _failed("addint", r[1], "the existing record is not a 4-byte integer")
        return r[2]

    @command
    def incr_double(self, key: KeyType, n: float = 1.0) -> Steps[float]:
        """Add ``n`` to the 8-byte double record (adddouble); the new value."""
        if not isinstance(n, (int, float)) or isinstance(n, bool):
            raise InvalidTypeError(f"tyrant incr_double: n must be a number, got {type(n).__name__}")
        r = yield Call("adddouble", encode_adddouble(_key_slow(key), float(n)), read_adddouble)
        if r[1]:
            raise _failed("adddouble", r[1], "the existing record is not an 8-byte double")
        return r[2]

    # ------------------------------------------------------------------ bulk

    @command
    def get_bulk(self, keys: Iterable[KeyType]) -> Steps[dict[KeyType, Any]]:
        """A dict of the keys that exist and their deserialized values (mget)."""
        prepared = self._mget_request(keys)
        if prepared is None:
            return {}
        request, expect, all_str = prepared
        del prepared
        reply = yield Call("mget", request, read_mget_kv, expect)
        del request
        found, values = self._mget_hits(reply, keys, expect, all_str)
        return dict(zip(found, map(self._loads, values)))

    @command
    def get_bulk_raw(self, keys: Iterable[KeyType]) -> Steps[dict[KeyType, bytes]]:
        """A dict of the keys that exist and their stored bytes (mget)."""
        prepared = self._mget_request(keys)
        if prepared is None:
            return {}
        request, expect, all_str = prepared
        del prepared
        reply = yield Call("mget", request, read_mget_kv, expect)
        del request
        found, values = self._mget_hits(reply, keys, expect, all_str)
        return dict(zip(found, values))

    mget = get_bulk

    @command
    def set_bulk(self, _TokyoTyrant__data: Mapping[KeyType, Any] | None = None, **kwargs: Any) -> Steps[bool]:
        """Store several records in one request (misc putlist). True; False if the server refused.

        On a B+ tree *file* database (``.tcb``) the server's putlist adds duplicates (it calls
        putdup): an existing key keeps its old value first. Use :meth:`set` there to overwrite.
        """
        return (yield from self._set_bulk(_TokyoTyrant__data, kwargs))

    @command
    def update(self, _TokyoTyrant__data: Mapping[KeyType, Any] | None = None, db: int | None = None,
               expire_time: int | None = None, **kwargs: Any) -> Steps[bool]:
        """See :meth:`set_bulk`. ``db`` and ``expire_time`` exist for KyotoTycoon compatibility only:
        Tokyo Tyrant has one database and no expiry, so a value other than None raises."""
        if db not in (None, 0) or isinstance(db, bool):
            raise InvalidArgumentError("Tokyo Tyrant serves a single database: db must be None or 0")
        if expire_time is not None:
            raise InvalidArgumentError("Tokyo Tyrant has no record expiry: expire_time must be None")
        return (yield from self._set_bulk(_TokyoTyrant__data, kwargs))

    @command
    def remove_bulk(self, keys: Iterable[KeyType]) -> Steps[bool]:
        """Remove several keys in one request (misc outlist); missing keys are ignored.

        True; False if the server refused."""
        if isinstance(keys, (str, bytes, bytearray)):
            raise InvalidTypeError("tyrant remove_bulk: keys must be a list of keys, not a single key")
        if not isinstance(keys, Iterable):
            raise InvalidTypeError(f"tyrant remove_bulk: keys must be a list of keys, got {type(keys).__name__}")
        raw = [_key_slow(k) for k in keys]
        if not raw:
            return True
        return (yield from self._misc_bool("outlist", raw))

    # ------------------------------------------------------------------ scripting and misc

    @command
    def script(self, name: str | bytes, key: KeyType | None = None, value: Any = None, lock_records: bool = False,
               lock_all: bool = False, encode_value: bool = True, decode_result: bool = False) -> Steps[Any]:
        """Call the Lua extension function ``name(key, value)`` (ext) and return its result.

        ``value`` is serialized when ``encode_value`` (else it must be str/bytes); the result is
        deserialized when ``decode_result`` (else bytes). A missing function, or one that returned
        nil (failure), raises TokyoTyrantError.
        """
        opts = (RDBXOLCKREC if lock_records else 0) | (RDBXOLCKGLB if lock_all else 0)
        raw_key = b"" if key is None else _key_slow(key)
        raw_value = b"" if value is None else self._value(value, encode_value)
        fn = _text(name, "script name")
        r = yield Call("ext", encode_ext(fn, raw_key, raw_value, opts), read_ext)
        if r[1]:
            raise TokyoTyrantScriptError(
                f"tyrant ext failed: function {fn.decode('utf-8', 'replace')!r} is missing or failed", r[1])
        return self._loads(r[2]) if decode_result else r[2]

    @command
    def misc(self, cmd: str | bytes, args: Iterable[str | bytes | int] | None = None,
             update_log: bool = True) -> Steps[list[bytes] | None]:
        """Run a misc database function: its result list of bytes, or None if the server refused
        (code 1: a missing record for ``get``, a function the database lacks...).

        ``args`` are str (sent as UTF-8), bytes or ints (decimal). ``update_log=False`` keeps the
        call out of the server's update log (RDBMONOULOG).
        """
        if isinstance(args, (str, bytes, bytearray)):
            raise InvalidTypeError("tyrant misc: args must be a list, not a single string")
        name = _text(cmd, "misc command")
        raw = [_text(a, "misc argument", numbers=True) for a in (args or ())]
        r = yield Call("misc", encode_misc(name, raw, 0 if update_log else RDBMONOULOG), read_misc)
        if r[1]:
            if r[1] == 1:
                return None
            raise _failed(f"misc {name.decode('utf-8', 'replace')}", r[1])
        return r[2]

    # ------------------------------------------------------------------ database

    @command
    def clear(self) -> Steps[bool]:
        """Remove every record (vanish). True; False if the server refused."""
        return (yield from self._simple("vanish", encode_vanish(), read_vanish))

    @command
    def status(self) -> Steps[dict[str, int | float | str]]:
        """The server's status (stat), numbers parsed."""
        return (yield from self._status())

    @command
    def count(self) -> Steps[int]:
        """The number of records (rnum)."""
        r = yield Call("rnum", encode_rnum(), read_rnum)
        if r[1]:
            raise _failed("rnum", r[1])
        return r[2]

    @command
    def __len__(self) -> Steps[int]:
        return (yield from TyrantCommands.count.fn(self))

    @command
    def _db_size(self) -> Steps[int]:
        r = yield Call("size", encode_size(), read_size)
        if r[1]:
            raise _failed("size", r[1])
        return r[2]

    @property
    def size(self) -> Any:
        """The database size in bytes (size)."""
        return self._db_size()

    @command
    def _db_path(self) -> Steps[str]:
        status = yield from self._status()
        path = status.get("path")
        if not isinstance(path, str):
            raise _failed("stat", 0, f"the reply has no path field: {path!r}")
        return path

    @property
    def path(self) -> Any:
        """The database's path as the server names it (stat ``path``): the file, or ``*``/``+`` in memory."""
        return self._db_path()

    @command
    def _last_error(self) -> Steps[tuple[int, str] | None]:
        code, items = yield from self._misc("error", [], update_log=False)
        if code == 1:
            return None
        if code or not items:
            raise _failed("misc error", code)
        text = items[0].decode("utf-8", "replace")
        number, _, message = text.partition(": ")
        try:
            return int(number), message
        except ValueError:
            return -1, text

    @property
    def error(self) -> Any:
        """``(code, message)`` of the database's last error (misc error), e.g. ``(0, 'success')``.

        Only file databases report one; on the in-memory databases this is None.
        """
        return self._last_error()

    @command
    def optimize(self, options: str | bytes = "") -> Steps[bool]:
        """Rebuild the database with tuning ``options`` (e.g. ``"bnum=1000"``). True; False if refused."""
        return (yield from self._simple("optimize", encode_optimize(_text(options, "optimize options")),
                                        read_optimize))

    @command
    def synchronize(self) -> Steps[bool]:
        """Flush the database to disk (sync). True; False if the server refused."""
        return (yield from self._simple("sync", encode_sync(), read_sync))

    @command
    def copy(self, path: str | bytes) -> Steps[bool]:
        """Copy the database file to ``path`` on the server (copy). True; False if the copy failed
        (a missing directory, say; an in-memory database copies to a ``.tch``/``.tcb``... path only).

        A file database whose copy failed may keep reporting that error (see :attr:`error`).
        """
        return (yield from self._simple("copy", encode_copy(_text(path, "copy path")), read_copy))

    @command
    def restore(self, path: str | bytes, timestamp: int | float | datetime.datetime, options: int = 0) -> Steps[bool]:
        """Replay the update logs in directory ``path`` on the server (restore), from ``timestamp`` on.

        ``timestamp``: microseconds since the epoch, or a ``datetime`` (a naive one is local time);
        records logged before it are skipped. ``options``: ``1`` (RDBROCHKCON) fails on the first
        record whose replay does not end as it did when logged. True; False if ``path`` is not a
        directory or a replay failed.
        """
        request = encode_restore(_text(path, "restore path"), _timestamp(timestamp, "restore timestamp"),
                                 _options(options, "restore"))
        # Never retried, whatever the policy: replaying the same log twice doubles every putcat/addint in it.
        r = yield Call(None, request, read_restore)
        if r[1]:
            if r[1] == 1:
                return False
            raise _failed("restore", r[1])
        return True

    @command
    def set_master(self, host: str | bytes, port: int, timestamp: int | float | datetime.datetime,
                   options: int = 0) -> Steps[bool]:
        """Make the server replicate from the master at ``host``:``port`` (setmst), from ``timestamp`` on.

        ``timestamp`` as for :meth:`restore` (0: from where the server's replication time stamp
        file says); an empty ``host`` stops replication. ``options``: ``1`` (RDBROCHKCON) checks
        consistency. True; False if the server refused. :meth:`status` then shows ``mhost``,
        ``mport`` and (once the server has started replicating) ``rts``.
        """
        if isinstance(port, bool) or not isinstance(port, int):
            raise InvalidTypeError(f"tyrant set_master: port must be an int, got {type(port).__name__}")
        if not 0 <= port < 1 << 31:
            raise InvalidArgumentError(f"tyrant set_master: port must be >= 0, got {port}")
        request = encode_setmst(_text(host, "master host"), port, _timestamp(timestamp, "set_master timestamp"),
                                _options(options, "set_master"))
        return (yield from self._simple("setmst", request, read_setmst))

    @command
    def clear_cache(self) -> Steps[bool]:
        """Clear the database's record cache (misc cacheclear). True; False on an in-memory database."""
        return (yield from self._misc_bool("cacheclear", [], update_log=False))

    @command
    def defragment(self, nsteps: int | None = None) -> Steps[bool]:
        """Defragment the database file (misc defrag): ``nsteps`` steps, or all of it when None.

        True; False on an in-memory database.
        """
        args = [] if nsteps is None else [b"%d" % _count(nsteps, "defragment nsteps", 0)]
        return (yield from self._misc_bool("defrag", args))

    # ------------------------------------------------------------------ ranges and iteration

    @command
    def get_range(self, start: KeyType | None, stop: KeyType | None = None, max_keys: int | None = 0) -> Steps[
            dict[KeyType, Any]]:
        """Records with ``start <= key < stop`` in key order (misc range); B+ tree databases only.

        ``start`` None begins at the first key, ``stop`` None runs to the end; ``max_keys`` 0 or
        None: no limit. Other database types refuse it (TokyoTyrantError).
        """
        return (yield from self._get_range(start, stop, max_keys))

    @command
    def match_prefix(self, prefix: KeyType, max_keys: int | None = 1024) -> Steps[list[KeyType]]:
        """Keys starting with ``prefix`` (fwmkeys), at most ``max_keys`` (None: no limit)."""
        limit = -1 if max_keys is None else _count(max_keys, "max_keys", 0)
        r = yield Call("fwmkeys", encode_fwmkeys(_key_slow(prefix), limit), read_fwmkeys)
        if r[1]:
            raise _failed("fwmkeys", r[1])
        return self._decode_keys(r[2])

    @command
    def match_regex(self, regex: str | bytes, max_keys: int | None = 1024) -> Steps[list[KeyType]]:
        """Keys matching the POSIX extended ``regex`` (misc regex; a leading ``*`` ignores case), at most
        ``max_keys`` (None: no limit)."""
        limit = _count(max_keys, "max_keys", 0)
        pattern = _text(regex, "regex")
        if max_keys == 0:
            # the server reads a 0 maximum as "no limit"; 0 keys is what was asked for (as match_prefix gives)
            return []
        args = [pattern, b"%d" % limit]
        items = yield from self._misc_ok("regex", args, update_log=False)
        return self._decode_keys(items[0::2])

    @unpipelined  # its iternext batches are pipelined on the runner's connection: a pipeline cannot carry them
    @command
    def keys(self) -> Steps[list[KeyType]]:
        """Every key (iterinit/iternext).

        The server has ONE iterator per database, shared by all clients: while another client
        iterates (keys, items, iter_from), the results of both are wrong. Prefer
        :meth:`match_prefix` or :meth:`get_range` where they give the answer you need.
        """
        return (yield from self._keys())

    @unpipelined
    @command
    def items(self, start_key: KeyType | None = None) -> Steps[list[tuple[KeyType, Any]]]:
        """Every ``(key, value)`` (misc iterinit/iternext), in the iterator's order; from ``start_key``
        on if one is given (as :meth:`iter_from`, but a list: a B+ tree file's duplicates all appear).

        As in kt 0.9.6 an empty ``start_key`` (``""``/``b""``) starts at the beginning, like None.
        Not safe while another client iterates: see :meth:`keys`.
        """
        if start_key is None or (isinstance(start_key, (str, bytes, bytearray)) and not start_key):
            return (yield from self._misc_iterate(None))
        return (yield from self._misc_iterate(_key_slow(start_key)))

    @command
    def __iter__(self) -> Steps[Iterator[KeyType]]:
        """Iterate over every key (:meth:`keys`: all of them are read first)."""
        keys = yield from self._keys()
        return iter(keys)

    @unpipelined
    @command
    def iter_from(self, start_key: KeyType) -> Steps[dict[KeyType, Any]]:
        """Records from ``start_key`` on, in the iterator's order (key order on a B+ tree).

        Not safe while another client iterates (see :meth:`keys`); on a B+ tree prefer :meth:`get_range`.
        """
        return dict((yield from self._misc_iterate(_key_slow(start_key))))

    # ------------------------------------------------------------------ item access
    # Each dunder runs the steps of the command it stands for (``TyrantCommands.x.fn``): one
    # description of each request, whichever spelling the caller used.

    @command
    def __getitem__(self, key: KeyType | slice) -> Steps[Any]:
        """``client[key]`` is :meth:`get`; on a B+ tree ``client['a':'c']`` is ``get_range('a', 'c')``."""
        if isinstance(key, slice):
            if key.step is not None:
                raise InvalidArgumentError("tyrant key slices take no step")
            return (yield from self._get_range(key.start, key.stop, 0))
        return (yield from TyrantCommands.get.fn(self, key))

    @command
    def __setitem__(self, key: KeyType, value: Any) -> Steps[None]:
        yield from TyrantCommands.set.fn(self, key, value)

    @command
    def __delitem__(self, key: KeyType) -> Steps[None]:
        yield from TyrantCommands.remove.fn(self, key)

    @command
    def __contains__(self, key: KeyType) -> Steps[bool]:
        return (yield from TyrantCommands.exists.fn(self, key))

    # ------------------------------------------------------------------ table databases

    @command
    def set_index(self, name: str | bytes, index_type: int, check_exists: bool = False) -> Steps[bool]:
        """Create an ``INDEX_*`` index on column ``name`` (misc setindex); an existing one is replaced.

        True; False if the server refused (not a table database). With ``check_exists`` the
        server refuses an existing index, and that raises TokyoTyrantError (as the API documents).
        """
        if index_type not in INDEX_TYPES or isinstance(index_type, bool):
            raise InvalidArgumentError(f"index_type must be an INDEX_* constant, got {index_type!r}")
        kind = index_type | INDEX_KEEP if check_exists else index_type
        args = [_text(name, "column name"), b"%d" % kind]
        if check_exists:
            yield from self._misc_ok("setindex", args)
            return True
        return (yield from self._misc_bool("setindex", args))

    @command
    def optimize_index(self, name: str | bytes) -> Steps[bool]:
        """Optimize the index on column ``name``. True; False if refused (no such index, not a table)."""
        return (yield from self._misc_bool("setindex", [_text(name, "column name"), b"%d" % INDEX_OPTIMIZE]))

    @command
    def delete_index(self, name: str | bytes) -> Steps[bool]:
        """Remove the index on column ``name``. True; False if refused (no such index, not a table)."""
        return (yield from self._misc_bool("setindex", [_text(name, "column name"), b"%d" % INDEX_VOID]))

    @command
    def search(self, expressions: Iterable[str | bytes | tuple[Any, ...] | list[Any]],
               cmd: str | None = None) -> Steps[Any]:
        """Run a table query (misc search) built from ``expressions``.

        Each expression is one misc argument: bytes/str as :meth:`QueryBuilder.build_search` gives
        them (``b"addcond\\0col\\0op\\0value"``), or kt 0.9.6's tuples such as
        ``("addcond", column, op, value)``, ``("setorder", column, type)``, ``("setlimit", max, skip)``,
        whose items are joined with NUL (non-text items as ``str(item)``).

        ``cmd`` None: the matching primary keys; ``"get"``: ``[(key, value), ...]``; ``"count"``: an
        int; ``"out"``: remove the matches, True (False if the server refused: not a table database).
        """
        if isinstance(expressions, (str, bytes, bytearray)):
            raise InvalidTypeError("tyrant search: expressions must be a list")
        if cmd is not None and cmd not in _SEARCH_COMMANDS:
            raise InvalidArgumentError(f"tyrant search: cmd must be None, 'get', 'out' or 'count', got {cmd!r}")
        args = [_search_expression(e) for e in expressions]
        if cmd is not None:
            args.append(cmd.encode("ascii"))
        if cmd == "out":
            # A delete is never repeated after an unknown outcome: records written since would go too.
            return (yield from self._misc_bool("search", args, retryable=False))
        items = yield from self._misc_ok("search", args, update_log=False)
        if cmd is None:
            return self._decode_keys(items)
        if cmd == "count":
            try:
                return int(items[0])
            except (IndexError, ValueError):
                raise _failed("misc search", 0, f"count reply {items!r} is not a number") from None
        loads = self._loads
        decode = self._decode_key
        out = []
        for element in items:
            # "\0pk\0col\0val...": the primary key is stored under the empty column name, first.
            pos = element.find(b"\x00", 1)
            if pos < 0:
                out.append((decode(element[1:]), loads(b"")))
            else:
                out.append((decode(element[1:pos]), loads(element[pos + 1:])))
        return out

    @command
    def genuid(self) -> Steps[int]:
        """A new unique id from a table database (misc genuid)."""
        items = yield from self._misc_ok("genuid", [])
        try:
            return int(items[0])
        except (IndexError, ValueError):
            raise _failed("misc genuid", 0, f"reply {items!r} is not a number") from None

    # ------------------------------------------------------------------ the change stream (repl)

    def replicate(self, since: int = 0, sid: int = 65535, wait: float | None = None, *,
                  timeout: float | None = 30.0, check_gap: bool = True, decode: bool = False) -> Any:
        """The server's change stream (its update log, read as a replication slave reads it: ``repl``):
        every change stamped after ``since``, in log order, as typed records of
        :mod:`kt_core.codec.tyrant_repl` (``SetChange``, ``AppendChange``, ``AddChange``, ``RemoveChange``,
        ``ClearChange``, ``MiscChange``, ``OtherChange``; each has ``ts``, ``sid`` and ``ok``; no
        database number and no expiry: Tokyo Tyrant has neither). An iterator on the blocking client,
        an async iterator (``async for``) on the asyncio client. The server needs ``-ulog`` and ``-sid``.

        Resuming: store the ``ts`` of the last change applied and pass it as ``since``: the stream
        continues strictly after it, so nothing is missed or repeated across a reconnect (ttserver
        stamps a change with its clock in microseconds; two changes logged in the same microsecond
        would share a stamp, and one could be skipped, as ttserver's own slaves would skip it).
        ``since=0`` starts at the oldest change the server still has.

        ``sid``: the server skips the changes made by, or replicated from, server id ``sid`` (a
        slave's own); the default 65535 is one no server is expected to use, and the server's own id
        is refused. ``wait``: once caught up, how long to wait for the next change before the
        iteration ends (seconds; 0 ends it as soon as it is caught up; None follows the log for
        ever). The server says it is caught up only with its idle signal, sent at most once a second
        by ttserver, so a stream lasts about a second at least. ``timeout``: how long a read may wait
        (an idle ttserver sends its signal every second, so silence means a broken stream).
        ``decode``: values of ``SetChange`` records through the client's serializer and keys as the
        client's ``decode_keys`` says (the default gives the stored bytes; appended pieces, numbers
        and misc arguments always stay as logged).

        The stream runs on a connection of its own (not a pooled one), closed when the iteration
        ends, is closed or fails. A server that closes it at once (no update log, ``sid`` its own,
        ``-mask repl``) raises :class:`~kt_core.codec.tyrant_repl.ReplicationRefusedError`. With
        ``check_gap`` (the default) and ``since`` > 0, a server whose oldest change left is newer than
        ``since`` (update log files were removed) raises
        :class:`~kt_core.codec.tyrant_repl.ReplicationGapError` rather than silently skipping what was
        removed. The server does not say which files it removed, so this also fires for a ``since``
        older than its first change ever (a position that is not a change's ``ts``): pass
        ``check_gap=False`` for that. The blocking client checks at the call, the asyncio client when
        the iteration starts.
        """
        for name, value in (("since", since), ("sid", sid)):
            if type(value) is not int:
                raise InvalidTypeError(f"{name} must be an int, not {type(value).__name__}")
        if not 0 <= since < (1 << 64) - 1:
            raise InvalidArgumentError(f"since must be in 0..2**64-2, got {since}")
        if not 0 < sid < 1 << 32:
            raise InvalidArgumentError(f"sid must be in 1..2**32-1, got {sid}")
        if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0):
            raise InvalidArgumentError(f"wait must be a number of seconds >= 0 or None, got {wait!r}")
        check_first = check_gap and since > 0
        if check_first and isinstance(self, SyncRunner):
            # A blocking call can do the round trips before it returns the stream; an async iterator
            # can only do them once it is iterated.
            self._run(self._check_repl_gap(since, timeout))
            check_first = False
        return self._replication(since, sid, wait, timeout, check_first, decode)

    def _open_repl(self, ts: int, sid: int, timeout: float | None) -> Steps[Any]:
        """A new connection (not pooled) on which the server streams its records from ``ts`` on; the
        server's first NOP read."""
        conn = yield Acquire(fresh=True, timeout=timeout)
        try:
            yield Send(encode_repl(ts, sid), on=conn)
            try:
                yield Read(read_repl_open, on=conn)
                yield Read(read_repl_frame, on=conn)  # its first NOP, sent at once
            except KtTimeoutError:
                raise
            except KtConnectionError:
                raise ReplicationRefusedError(
                    f"{self.host}:{self.port} refused replication (a server needs -ulog and -sid to serve it, "
                    f"and refuses its own sid)") from None
        except BaseException:
            conn.close()
            raise
        return conn

    @iterator_command
    def _replication(self, since: int, sid: int, wait: float | None, timeout: float | None,
                     check_gap: bool, decode: bool) -> Steps[None]:
        if check_gap:
            yield from self._check_repl_gap(since, timeout)
        conn = yield from self._open_repl(since + 1, sid, timeout)
        try:
            frames = Read(read_repl_frames, on=conn)  # one operation object for every batch
            idle_since = time.monotonic()
            while True:
                _, batch = yield frames
                out = []
                for ts, rsid, message in batch:
                    if message is not None:
                        change = decode_message(message, ts, rsid)
                        out.append(self._decode_change(change) if decode else change)
                        continue
                    # a NOP after the first: the server sent what it had
                    now = time.monotonic()
                    if out:
                        idle_since = now
                    if wait is not None and now - idle_since >= wait:
                        if out:
                            yield Items(out)
                        return
                if out:
                    yield Items(out)
                    idle_since = time.monotonic()
        finally:
            conn.close()

    def _decode_change(self, change: Change) -> Change:
        key = getattr(change, "key", None)
        if isinstance(change, SetChange):
            # a key that decode_keys turns into a str: the records say bytes, for the default case
            return dataclasses.replace(change, key=self._decode_key(change.key),  # type: ignore[arg-type]
                                       value=self._loads(change.value))
        if key is not None:
            return dataclasses.replace(change, key=self._decode_key(key))  # type: ignore[call-arg]
        return change

    def _check_repl_gap(self, since: int, timeout: float | None) -> Steps[None]:
        """Raise ReplicationGapError when the server's oldest change left is newer than ``since`` (or it
        has none): ttserver would silently start at its oldest file left."""
        conn = yield from self._open_repl(1, _PROBE_SID, timeout)
        try:
            _, first, _, message = yield Read(read_repl_frame, on=conn)
        finally:
            conn.close()
        if message is None:
            first = 0  # a NOP after the first: the log is empty
        if first <= since:
            if first:
                return
            raise ReplicationGapError(
                f"changes after ts {since} may be gone: the server's update log holds no change (its files were "
                "removed?); re-read the database and resume from a new time stamp, or pass check_gap=False")
        raise ReplicationGapError(
            f"changes after ts {since} may be gone: the server's oldest change left is ts {first} (update log "
            "files were removed?); re-read the database and resume from a new time stamp, or pass check_gap=False")


#: The server id the gap check replicates as: one no server is expected to use, so nothing is skipped.
_PROBE_SID = 65535
