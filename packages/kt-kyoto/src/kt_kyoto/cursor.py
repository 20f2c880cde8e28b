"""Kyoto Tycoon cursors (HTTP ``cur_*`` procedures) and the batched cursor walk behind keys()/values()/items().

The server keeps cursors per connection, so a cursor holds a connection of its own taken from the
client's pool (never the thread's): every ``cur_*`` call of that cursor runs on it. Closing or
dropping the cursor sends ``cur_delete`` and returns the connection to the pool.

Validity follows kt 0.9.6's Cursor: a cursor is valid after a move that landed on a record; reads
and writes on a cursor that is not valid answer None/False without asking the server.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from kt_core.connection import Connection
from kt_core.errors import KtConnectionError, KyotoServerError, NotImplementedByServerError
from kt_core.kyoto_http import RpcResult, encode_rpc, read_rpc
from kt_core.pool import ConnectionPool

from ._util import ExpireSpec, KeyType, decode_key, encode_key, expire_to_xt

if TYPE_CHECKING:
    from .client import KyotoTycoon

__all__ = ["Cursor", "CursorNotImplementedError", "walk"]

_STATUS_OK = 200
_STATUS_LOGIC = 450
_STATUS_NOIMPL = 501

# Pipelined steps per round trip in a walk: small first (a caller may stop early), then larger.
_WALK_FIRST_BATCH = 16
_WALK_MAX_BATCH = 512

_STEP = (b"step", b"1")


class CursorNotImplementedError(NotImplementedByServerError, NotImplementedError):
    """A cursor call the database does not support (HTTP 501: ``jump_back``/``step_back`` on a hash
    database). Also a :class:`NotImplementedError`, which kt 0.9.6 raised there."""


def _release(pool: ConnectionPool, conn: Connection, request: bytes, state: list[bool]) -> bool:
    """Delete the server's cursor (if it was ever created) and give the connection back.

    True if the server deleted the cursor.
    """
    deleted = False
    if state[0] and not conn.closed:
        try:
            result: RpcResult = conn.request(request, read_rpc)[1]
            deleted = result.status == _STATUS_OK
            if result.close:
                conn.close()
        except Exception:
            conn.close()
    state[0] = False
    try:
        pool.release(conn)
    except Exception:  # interpreter shutdown
        pass
    return deleted


class Cursor:
    """A Kyoto Tycoon cursor on one database. Create it with :meth:`KyotoTycoon.cursor`.

    As in kt 0.9.6: moves return whether the cursor is now on a record (see :meth:`is_valid`); reads
    return None and writes False when it is not; iterating yields ``(key, value)`` pairs from the
    current record (from the first one if the cursor is not valid) and steps forward.

    Beyond kt 0.9.6: ``step=True`` on reads and :meth:`set_value` (move on after it, in the cursor's
    direction), ``expire_time`` on :meth:`set_value`, :attr:`closed`, and use as a context manager.
    """

    def __init__(self, client: KyotoTycoon, db: int | str, http_db: bytes, cursor_id: int) -> None:
        self._client = client
        self._dbspec = db
        self._db = http_db
        self.cursor_id = cursor_id
        self._cur = b"%d" % cursor_id
        self._host = client._host_header
        self._delete = encode_rpc("cur_delete", ((b"CUR", self._cur),), self._host)
        self._valid = False
        self._conn: Connection | None = None
        # state[0]: the server may hold this cursor (it is created by the first cur_* call).
        self._state = [False]
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._open()

    def _open(self) -> Connection:
        pool = self._client.pool
        conn = self._conn = pool.acquire()
        self._state = state = [False]
        self._finalizer = weakref.finalize(self, _release, pool, conn, self._delete, state)
        return conn

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "valid" if self._valid else "not valid"
        return f"<Cursor id={self.cursor_id} db={self._dbspec!r} {state}>"

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

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

    def close(self) -> bool:
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
        return bool(finalizer()) and was_valid

    # ------------------------------------------------------------------ requests

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None:
            conn = self._open()
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

    def _rpc(self, procedure: str, params: list[tuple[bytes, bytes]]) -> RpcResult:
        request = self._request(procedure, params)
        conn = self._connection()
        result: RpcResult = conn.request(request, read_rpc)[1]
        if result.close:
            conn.close()
        return result

    def _rpc2(self, first: bytes, second: bytes) -> tuple[RpcResult, RpcResult]:
        """Two requests in one write, both replies read (one round trip)."""
        conn = self._connection()
        conn.send(first + second)
        one: RpcResult = conn.read(read_rpc)[1]
        if one.close:
            conn.close()
            raise KtConnectionError("the server closed the cursor's connection")
        two: RpcResult = conn.read(read_rpc)[1]
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

    def _ok(self, procedure: str, params: list[tuple[bytes, bytes]]) -> RpcResult | None:
        return self._check(self._rpc(procedure, params))

    def _stepped(self, procedure: str, params: list[tuple[bytes, bytes]]) -> RpcResult | None:
        """``procedure`` with ``step``, then whether the cursor still stands on a record (a ``cur_get_key``
        sent in the same write): the server moves in the cursor's own direction, the answer sets validity."""
        params.append(_STEP)
        one, two = self._rpc2(self._request(procedure, params), self._request("cur_get_key", []))
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

    def jump(self, key: KeyType | None = None) -> bool:
        """Move to the first record, or to ``key`` (or the next record after it). False if there is none."""
        params = [] if key is None else [(b"key", encode_key(key))]
        self._valid = self._ok("cur_jump", params) is not None
        return self._valid

    def jump_back(self, key: KeyType | None = None) -> bool:
        """Move to the last record, or to ``key`` (or the one before it). Tree databases only:
        a hash database raises :class:`CursorNotImplementedError`."""
        params = [] if key is None else [(b"key", encode_key(key))]
        self._valid = self._ok("cur_jump_back", params) is not None
        return self._valid

    def step(self) -> bool:
        """Move to the next record; False at the end."""
        self._valid = self._ok("cur_step", []) is not None
        return self._valid

    def step_back(self) -> bool:
        """Move to the previous record (tree databases only); False at the start."""
        self._valid = self._ok("cur_step_back", []) is not None
        return self._valid

    # ------------------------------------------------------------------ reads and writes

    def key(self, step: bool = False) -> Any:
        """The current key (then move on if ``step``), or None."""
        if not self._valid:
            return None
        result = self._stepped("cur_get_key", []) if step else self._ok("cur_get_key", [])
        return None if result is None else self._key_out(result.get(b"key"))

    def value(self, step: bool = False) -> Any:
        """The current deserialized value (then move on if ``step``), or None."""
        if not self._valid:
            return None
        result = self._stepped("cur_get_value", []) if step else self._ok("cur_get_value", [])
        return None if result is None else self._value_out(result.get(b"value"))

    def get(self, step: bool = False) -> tuple[Any, Any] | None:
        """The current ``(key, value)`` (then move on if ``step``), or None."""
        if not self._valid:
            return None
        result = self._stepped("cur_get", []) if step else self._ok("cur_get", [])
        return None if result is None else self._record(result)

    def set_value(self, value: Any, step: bool = False, expire_time: ExpireSpec = None) -> bool:
        """Replace the current record's value (then move on if ``step``). True if it was replaced;
        False, and the cursor no longer valid, if the cursor is not on a record."""
        params = [(b"value", self._client._dump(value))]
        if expire_time is not None:
            params.append((b"xt", b"%d" % expire_to_xt(expire_time)))
        if not self._valid:
            return False
        if step:
            return self._stepped("cur_set_value", params) is not None
        self._valid = self._ok("cur_set_value", params) is not None
        return self._valid

    def remove(self) -> bool:
        """Remove the current record; the cursor moves on to the next one. False, and the cursor no
        longer valid, if it was not on a record."""
        if not self._valid:
            return False
        self._valid = self._ok("cur_remove", []) is not None
        return self._valid

    def seize(self) -> tuple[Any, Any] | None:
        """Remove the current record and return its ``(key, value)``; the cursor moves on. None, and
        the cursor no longer valid, if it was not on a record."""
        if not self._valid:
            return None
        result = self._ok("cur_seize", [])
        if result is None:
            self._valid = False
            return None
        return self._record(result)

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if not self._valid:
            self.jump()
        return self

    def __next__(self) -> tuple[Any, Any]:
        if not self._valid:
            raise StopIteration
        # The record, then a step forward: two requests in one write.
        one, two = self._rpc2(self._request("cur_get", []), self._request("cur_step", []))
        result = self._check(one)
        stepped = self._check(two) is not None
        if result is None:
            self._valid = False
            raise StopIteration
        self._valid = stepped
        return self._record(result)

    next = __next__  # kt 0.9.6 (Python 2 style)


def walk(client: KyotoTycoon, http_db: bytes, cursor_id: int, procedure: str) -> Generator[Any, None, None]:
    """Walk a database with ``procedure`` (cur_get_key, cur_get_value or cur_get) and ``step``.

    The requests are pipelined on a connection of the walk's own: a batch of N steps is one write
    and N replies. Yields raw keys, raw values, or ``(key, value)`` pairs.
    """
    pool = client.pool
    host = client._host_header
    cur = b"%d" % cursor_id
    conn = pool.acquire()
    pending = 0
    created = False
    try:
        created = True
        jump = conn.request(encode_rpc("cur_jump", ((b"CUR", cur), (b"DB", http_db)), host), read_rpc)[1]
        if jump.status == _STATUS_LOGIC:
            return
        if jump.status != _STATUS_OK:
            created = False  # unknown database: no cursor was made
            raise jump.error()
        request = encode_rpc(procedure, ((b"CUR", cur), (b"step", b"1")), host)
        batch = _WALK_FIRST_BATCH
        want_key = procedure != "cur_get_value"
        want_value = procedure != "cur_get_key"
        while True:
            conn.send(request * batch)
            pending = batch
            done = False
            while pending:
                result: RpcResult = conn.read(read_rpc)[1]
                pending -= 1
                if done:
                    continue
                status = result.status
                if status == _STATUS_OK:
                    key = result.get(b"key") if want_key else None
                    value = result.get(b"value") if want_value else None
                    if (want_key and key is None) or (want_value and value is None):
                        conn.close()
                        raise KyotoServerError(f"{procedure} reply without its record")
                    if want_key and want_value:
                        yield key, value
                    else:
                        yield key if want_key else value
                elif status == _STATUS_LOGIC:
                    done = True
                else:
                    conn.close()
                    raise result.error()  # type: ignore[misc]
            if done:
                return
            batch = min(batch * 2, _WALK_MAX_BATCH)
    finally:
        if pending and not conn.closed:
            # Replies still on their way: this connection is out of step and cannot be reused.
            conn.close()
        if created and not conn.closed:
            try:
                conn.request(encode_rpc("cur_delete", ((b"CUR", cur),), host), read_rpc)
            except Exception:
                conn.close()
        pool.release(conn)
