"""Kyoto Tycoon cursors (HTTP ``cur_*`` procedures): the commands both cursors share, and the blocking one.

The server keeps cursors per connection, so a cursor holds a connection of its own taken from the
client's pool (never the one the client's calls use): every ``cur_*`` call of that cursor runs on
it. Closing the cursor sends ``cur_delete`` and returns the connection to the pool; so does
dropping a blocking cursor (an asyncio cursor, dropped, closes its connection instead, and the
server forgets the cursor with it).

Validity follows kt 0.9.6's Cursor: a cursor is valid after a move that landed on a record; reads
and writes on a cursor that is not valid answer None/False without asking the server.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kt_core.codec.kyoto_http import RpcResult, encode_rpc, read_rpc
from kt_core.command import (
    Acquire,
    Call,
    Items,
    Read,
    Send,
    Steps,
    SyncRunner,
    command,
    install_commands,
    iterator_command,
)
from kt_core.errors import KtConnectionError, KyotoServerError, NotImplementedByServerError

from ._util import ExpireSpec, KeyType, decode_key, encode_key, expire_to_xt

if TYPE_CHECKING:
    from .client import KyotoTycoon

__all__ = ["Cursor", "CursorCommands", "CursorNotImplementedError"]

_STATUS_OK = 200
_STATUS_LOGIC = 450
_STATUS_NOIMPL = 501

_STEP = (b"step", b"1")


class CursorNotImplementedError(NotImplementedByServerError, NotImplementedError):
    """A cursor call the database does not support (HTTP 501: ``jump_back``/``step_back`` on a hash
    database). Also a :class:`NotImplementedError`, which kt 0.9.6 raised there."""


def _delete_and_release(pool: Any, conn: Any, request: bytes, state: list[bool]) -> Steps[bool]:
    """Delete the server's cursor (if it was ever created) and give the connection back.

    True if the server deleted the cursor.
    """
    deleted = False
    try:
        if state[0] and not conn.closed:
            try:
                result: RpcResult = (yield Call(None, request, read_rpc, on=conn))[1]
            except Exception:
                conn.close()
            else:
                deleted = result.status == _STATUS_OK
                if result.close:
                    conn.close()
    except BaseException:
        conn.close()  # cancelled while the reply was on its way: the connection is out of step
        raise
    finally:
        state[0] = False
        pool.release(conn)
    return deleted


class CursorCommands:
    """The methods of the Kyoto Tycoon cursors, :class:`Cursor` and :class:`~kt_kyoto.AsyncCursor`.

    As in kt 0.9.6: moves return whether the cursor is now on a record (see :meth:`is_valid`); reads
    return None and writes False when it is not; iterating gives ``(key, value)`` pairs from the
    current record (from the first one if the cursor is not valid) and steps forward.

    Beyond kt 0.9.6: ``step=True`` on reads and :meth:`set_value` (move on after it, in the cursor's
    direction), ``expire_time`` on :meth:`set_value`, :attr:`closed`, and use as a context manager.
    """

    cursor_id: int
    _client: Any
    _conn: Any
    _finalizer: weakref.finalize[Any, Any] | None

    def _init_cursor(self, client: Any, db: int | str, http_db: bytes, cursor_id: int) -> None:
        self._client = client
        self._dbspec = db
        self._db = http_db
        self.cursor_id = cursor_id
        self._cur = b"%d" % cursor_id
        self._host = client._host_header
        self._delete = encode_rpc("cur_delete", ((b"CUR", self._cur),), self._host)
        self._valid = False
        self._conn = None
        # state[0]: the server may hold this cursor (it is created by the first cur_* call).
        self._state = [False]
        self._finalizer = None

    @staticmethod
    def _finalize(client: Any, pool: Any, conn: Any, request: bytes, state: list[bool]) -> None:
        """What a dropped cursor does with its connection (the blocking and the asyncio one differ)."""
        raise NotImplementedError

    def _attach(self, conn: Any) -> None:
        """Make ``conn`` (from the pool) the cursor's connection; a dropped cursor gives it back."""
        self._conn = conn
        self._state = state = [False]
        self._finalizer = weakref.finalize(self, self._finalize, self._client, self._client.pool, conn, self._delete,
                                           state)

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "valid" if self._valid else "not valid"
        return f"<{type(self).__name__} id={self.cursor_id} db={self._dbspec!r} {state}>"

    @property
    def db(self) -> int | str:
        """The database this cursor walks (the client's default database when none was given)."""
        return self._dbspec

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (until a move opens the cursor again)."""
        return self._conn is None

    def is_valid(self) -> bool:
        """True if the cursor stands on a record: its last move landed on one, and no write since
        found it gone."""
        return self._valid

    @command
    def close(self) -> Steps[bool]:
        """Delete the cursor on the server and return its connection to the pool.

        Returns True if the cursor was valid and the server deleted it, else False (as kt 0.9.6);
        the connection goes back either way. A later move opens the cursor again, unpositioned.
        """
        was_valid = self._valid
        self._valid = False
        finalizer = self._finalizer
        if self._conn is None or finalizer is None:
            return False
        self._conn = None
        self._finalizer = None
        detached = finalizer.detach()
        if detached is None:
            return False
        _, pool, conn, request, state = detached[2]
        deleted = yield from _delete_and_release(pool, conn, request, state)
        return deleted and was_valid

    # ------------------------------------------------------------------ requests

    def _connection(self) -> Steps[Any]:
        conn = self._conn
        if conn is None:
            conn = yield Acquire()
            self._attach(conn)
        elif self._state[0] and conn.closed:
            # The server dropped the cursor with the connection; a new connection would not have it.
            self._valid = False
            raise KtConnectionError("the cursor's connection was lost; create a new cursor")
        self._state[0] = True
        return conn

    def _request(self, procedure: str, params: list[tuple[bytes, bytes]]) -> bytes:
        params.append((b"CUR", self._cur))
        params.append((b"DB", self._db))
        return encode_rpc(procedure, params, self._host)

    def _rpc(self, procedure: str, params: list[tuple[bytes, bytes]]) -> Steps[RpcResult]:
        request = self._request(procedure, params)
        conn = yield from self._connection()
        result: RpcResult = (yield Call(None, request, read_rpc, on=conn))[1]
        if result.close:
            conn.close()
        return result

    def _rpc2(self, first: bytes, second: bytes) -> Steps[tuple[RpcResult, RpcResult]]:
        """Two requests in one write, both replies read (one round trip)."""
        conn = yield from self._connection()
        yield Send(first + second, on=conn)
        one: RpcResult = (yield Read(read_rpc, on=conn))[1]
        if one.close:
            conn.close()
            raise KtConnectionError("the server closed the cursor's connection")
        two: RpcResult = (yield Read(read_rpc, on=conn))[1]
        if two.close:
            conn.close()
        return one, two

    @staticmethod
    def _check(result: RpcResult) -> RpcResult | None:
        """The reply on 200, None on 450 (no record there); other statuses raise."""
        status = result.status
        if status == _STATUS_OK:
            return result
        if status == _STATUS_LOGIC:
            return None
        error = result.error()
        if status == _STATUS_NOIMPL:
            raise CursorNotImplementedError(error.message if error is not None else "not implemented",
                                            _STATUS_NOIMPL)
        raise error  # type: ignore[misc]

    def _ok(self, procedure: str, params: list[tuple[bytes, bytes]]) -> Steps[RpcResult | None]:
        return self._check((yield from self._rpc(procedure, params)))

    def _stepped(self, procedure: str, params: list[tuple[bytes, bytes]]) -> Steps[RpcResult | None]:
        """``procedure`` with ``step``, then whether the cursor still stands on a record (a ``cur_get_key``
        sent in the same write): the server moves in the cursor's own direction, the answer sets validity."""
        params.append(_STEP)
        one, two = yield from self._rpc2(self._request(procedure, params), self._request("cur_get_key", []))
        result = self._check(one)
        on_record = self._check(two) is not None
        self._valid = result is not None and on_record
        return result

    def _key_out(self, key: bytes | None) -> Any:
        if key is None:
            raise KyotoServerError("cursor reply without a key")
        return decode_key(key) if self._client.decode_keys else key

    def _value_out(self, value: bytes | None) -> Any:
        if value is None:
            raise KyotoServerError("cursor reply without a value")
        return self._client._loads(value)

    def _record(self, result: RpcResult) -> tuple[Any, Any]:
        return self._key_out(result.get(b"key")), self._value_out(result.get(b"value"))

    # ------------------------------------------------------------------ moves

    def _jump(self, procedure: str, key: KeyType | None) -> Steps[bool]:
        params = [] if key is None else [(b"key", encode_key(key))]
        self._valid = (yield from self._ok(procedure, params)) is not None
        return self._valid

    @command
    def jump(self, key: KeyType | None = None) -> Steps[bool]:
        """Move to the first record, or to ``key`` (or the next record after it). False if there is none."""
        return (yield from self._jump("cur_jump", key))

    @command
    def jump_back(self, key: KeyType | None = None) -> Steps[bool]:
        """Move to the last record, or to ``key`` (or the one before it). Tree databases only:
        a hash database raises :class:`CursorNotImplementedError`."""
        return (yield from self._jump("cur_jump_back", key))

    @command
    def step(self) -> Steps[bool]:
        """Move to the next record; False at the end."""
        self._valid = (yield from self._ok("cur_step", [])) is not None
        return self._valid

    @command
    def step_back(self) -> Steps[bool]:
        """Move to the previous record (tree databases only); False at the start."""
        self._valid = (yield from self._ok("cur_step_back", [])) is not None
        return self._valid

    # ------------------------------------------------------------------ reads and writes

    @command
    def key(self, step: bool = False) -> Steps[Any]:
        """The current key (then move on if ``step``), or None."""
        if not self._valid:
            return None
        result = (yield from self._stepped("cur_get_key", [])) if step else (yield from self._ok("cur_get_key", []))
        return None if result is None else self._key_out(result.get(b"key"))

    @command
    def value(self, step: bool = False) -> Steps[Any]:
        """The current deserialized value (then move on if ``step``), or None."""
        if not self._valid:
            return None
        result = (yield from self._stepped("cur_get_value", [])) if step else (yield from self._ok("cur_get_value", []))
        return None if result is None else self._value_out(result.get(b"value"))

    @command
    def get(self, step: bool = False) -> Steps[tuple[Any, Any] | None]:
        """The current ``(key, value)`` (then move on if ``step``), or None."""
        if not self._valid:
            return None
        result = (yield from self._stepped("cur_get", [])) if step else (yield from self._ok("cur_get", []))
        return None if result is None else self._record(result)

    @command
    def set_value(self, value: Any, step: bool = False, expire_time: ExpireSpec = None) -> Steps[bool]:
        """Replace the current record's value (then move on if ``step``). True if it was replaced;
        False, and the cursor no longer valid, if the cursor is not on a record."""
        params = [(b"value", self._client._dump(value))]
        if expire_time is not None:
            params.append((b"xt", b"%d" % expire_to_xt(expire_time)))
        if not self._valid:
            return False
        if step:
            return (yield from self._stepped("cur_set_value", params)) is not None
        self._valid = (yield from self._ok("cur_set_value", params)) is not None
        return self._valid

    @command
    def remove(self) -> Steps[bool]:
        """Remove the current record; the cursor moves on to the next one. False, and the cursor no
        longer valid, if it was not on a record."""
        if not self._valid:
            return False
        self._valid = (yield from self._ok("cur_remove", [])) is not None
        return self._valid

    @command
    def seize(self) -> Steps[tuple[Any, Any] | None]:
        """Remove the current record and return its ``(key, value)``; the cursor moves on. None, and
        the cursor no longer valid, if it was not on a record."""
        if not self._valid:
            return None
        result = yield from self._ok("cur_seize", [])
        if result is None:
            self._valid = False
            return None
        return self._record(result)

    # ------------------------------------------------------------------ iteration

    def _next_record(self) -> Steps[tuple[Any, Any] | None]:
        """The current record, then a step forward (two requests in one write); None at the end."""
        if not self._valid:
            return None
        one, two = yield from self._rpc2(self._request("cur_get", []), self._request("cur_step", []))
        result = self._check(one)
        stepped = self._check(two) is not None
        if result is None:
            self._valid = False
            return None
        self._valid = stepped
        return self._record(result)

    @command
    def _advance(self) -> Steps[tuple[Any, Any] | None]:
        """What ``next()`` gives, None at the end (a generator cannot raise StopIteration itself)."""
        return (yield from self._next_record())

    @iterator_command
    def _records(self) -> Steps[None]:
        """Iterating a cursor: from the current record, or from the first one if it is not valid."""
        if not self._valid:
            yield from self._jump("cur_jump", None)
        while True:
            record = yield from self._next_record()
            if record is None:
                return
            yield Items([record])


def _release(client: Any, pool: Any, conn: Any, request: bytes, state: list[bool]) -> None:
    """A dropped blocking cursor: delete it on the server and give the connection back."""
    try:
        client._run(_delete_and_release(pool, conn, request, state))
    except Exception:  # interpreter shutdown, or the server is gone: nothing left to tell
        pass


@install_commands
class Cursor(CursorCommands, SyncRunner):
    """A Kyoto Tycoon cursor on one database. Create it with :meth:`KyotoTycoon.cursor`.

    As in kt 0.9.6: moves return whether the cursor is now on a record (see :meth:`is_valid`); reads
    return None and writes False when it is not; iterating yields ``(key, value)`` pairs from the
    current record (from the first one if the cursor is not valid) and steps forward.

    Beyond kt 0.9.6: ``step=True`` on reads and :meth:`set_value` (move on after it, in the cursor's
    direction), ``expire_time`` on :meth:`set_value`, :attr:`closed`, and use as a context manager.
    """

    _finalize = staticmethod(_release)

    def __init__(self, client: KyotoTycoon, db: int | str, http_db: bytes, cursor_id: int) -> None:
        self._init_cursor(client, db, http_db, cursor_id)
        self._attach(client.pool.acquire())

    def _run(self, steps: Steps[Any]) -> Any:
        return self._client._run(steps)

    def _run_iter(self, steps: Steps[Any]) -> Iterator[Any]:
        return self._client._run_iter(steps)

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if not self._valid:
            self.jump()
        return self

    def __next__(self) -> tuple[Any, Any]:
        record = self._advance()
        if record is None:
            raise StopIteration
        return record

    next = __next__  # kt 0.9.6 (Python 2 style)
