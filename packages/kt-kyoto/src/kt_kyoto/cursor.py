"""Kyoto Tycoon cursors (HTTP ``cur_*`` procedures) and the batched cursor walk behind keys()/values()/items().

The server keeps cursors per connection, so a cursor holds a connection of its own taken from the
client's pool (never the thread's): every ``cur_*`` call of that cursor runs on it. Closing or
dropping the cursor sends ``cur_delete`` and returns the connection to the pool.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from kt_core.connection import Connection
from kt_core.errors import KtConnectionError, KyotoServerError
from kt_core.kyoto_http import RpcResult, encode_rpc, read_rpc
from kt_core.pool import ConnectionPool

from ._util import ExpireSpec, KeyType, decode_key, encode_key, expire_to_xt

if TYPE_CHECKING:
    from .client import KyotoTycoon

__all__ = ["Cursor", "walk"]

_STATUS_OK = 200
_STATUS_LOGIC = 450

# Pipelined steps per round trip in a walk: small first (a caller may stop early), then larger.
_WALK_FIRST_BATCH = 16
_WALK_MAX_BATCH = 512


def _release(pool: ConnectionPool, conn: Connection, request: bytes, state: list[bool]) -> None:
    """Delete the server's cursor (if it was ever created) and give the connection back."""
    if state[0] and not conn.closed:
        try:
            conn.request(request, read_rpc)
        except Exception:
            conn.close()
    state[0] = False
    try:
        pool.release(conn)
    except Exception:  # interpreter shutdown
        pass


class Cursor:
    """A Kyoto Tycoon cursor on one database. Create it with :meth:`KyotoTycoon.cursor`.

    Moves return booleans (False: no record there); reads return None when the cursor is not on a
    record. Iterating yields ``(key, value)`` pairs from the current position (from the first record
    if the cursor was never positioned).
    """

    def __init__(self, client: KyotoTycoon, http_db: bytes, cursor_id: int) -> None:
        self._client = client
        self._db = http_db
        self.cursor_id = cursor_id
        self._cur = b"%d" % cursor_id
        self._host = client._host_header
        self._conn: Connection | None = client.pool.acquire()
        # state[0]: the server may hold this cursor (it is created by the first cur_* call).
        self._state = [False]
        self._positioned = False
        self._finalizer = weakref.finalize(
            self, _release, client.pool, self._conn,
            encode_rpc("cur_delete", ((b"CUR", self._cur),), self._host), self._state)

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"<Cursor id={self.cursor_id} db={self._db.decode('utf-8', 'replace')!r} {state}>"

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        """Delete the cursor on the server and return its connection to the pool."""
        if self._conn is not None:
            self._conn = None
            self._finalizer()

    # ------------------------------------------------------------------ requests

    def _rpc(self, procedure: str, params: list[tuple[bytes, bytes]]) -> RpcResult:
        conn = self._conn
        if conn is None:
            raise KtConnectionError("the cursor is closed")
        if self._state[0] and conn.closed:
            # The server dropped the cursor with the connection; a new connection would not have it.
            raise KtConnectionError("the cursor's connection was lost; create a new cursor")
        params.append((b"CUR", self._cur))
        params.append((b"DB", self._db))
        self._state[0] = True
        result: RpcResult = conn.request(encode_rpc(procedure, params, self._host), read_rpc)[1]
        if result.close:
            conn.close()
        return result

    def _ok(self, procedure: str, params: list[tuple[bytes, bytes]]) -> RpcResult | None:
        """The reply on 200, None on 450 (no record there); other statuses raise."""
        result = self._rpc(procedure, params)
        if result.status == _STATUS_OK:
            return result
        if result.status == _STATUS_LOGIC:
            return None
        raise result.error()  # type: ignore[misc]

    def _key_out(self, key: bytes | None) -> Any:
        if key is None:
            raise KyotoServerError("cursor reply without a key")
        return decode_key(key) if self._client.decode_keys else key

    def _value_out(self, value: bytes | None) -> Any:
        if value is None:
            raise KyotoServerError("cursor reply without a value")
        return self._client._loads(value)

    # ------------------------------------------------------------------ moves

    def jump(self, key: KeyType | None = None) -> bool:
        """Move to the first record, or to ``key`` (or the next record after it). False if there is none."""
        params = [] if key is None else [(b"key", encode_key(key))]
        ok = self._ok("cur_jump", params) is not None
        self._positioned = True
        return ok

    def jump_back(self, key: KeyType | None = None) -> bool:
        """Move to the last record, or to ``key`` (or the one before it). Tree databases only:
        a hash database raises NotImplementedByServerError."""
        params = [] if key is None else [(b"key", encode_key(key))]
        ok = self._ok("cur_jump_back", params) is not None
        self._positioned = True
        return ok

    def step(self) -> bool:
        """Move to the next record; False at the end."""
        return self._ok("cur_step", []) is not None

    def step_back(self) -> bool:
        """Move to the previous record (tree databases only); False at the start."""
        return self._ok("cur_step_back", []) is not None

    # ------------------------------------------------------------------ reads and writes

    def key(self, step: bool = False) -> Any:
        """The current key (then move on if ``step``), or None."""
        result = self._ok("cur_get_key", [(b"step", b"1")] if step else [])
        return None if result is None else self._key_out(result.get(b"key"))

    def value(self, step: bool = False) -> Any:
        """The current deserialized value (then move on if ``step``), or None."""
        result = self._ok("cur_get_value", [(b"step", b"1")] if step else [])
        return None if result is None else self._value_out(result.get(b"value"))

    def get(self, step: bool = False) -> tuple[Any, Any] | None:
        """The current ``(key, value)`` (then move on if ``step``), or None."""
        result = self._ok("cur_get", [(b"step", b"1")] if step else [])
        if result is None:
            return None
        return self._key_out(result.get(b"key")), self._value_out(result.get(b"value"))

    def set_value(self, value: Any, step: bool = False, expire_time: ExpireSpec = None) -> bool:
        """Replace the current record's value (then move on if ``step``); False if not on a record."""
        params = [(b"value", self._client._dump(value))]
        if step:
            params.append((b"step", b"1"))
        if expire_time is not None:
            params.append((b"xt", b"%d" % expire_to_xt(expire_time)))
        return self._ok("cur_set_value", params) is not None

    def remove(self) -> bool:
        """Remove the current record (the cursor moves to the next one); False if not on a record."""
        return self._ok("cur_remove", []) is not None

    def seize(self) -> tuple[Any, Any] | None:
        """Remove the current record and return its ``(key, value)``, or None."""
        result = self._ok("cur_seize", [])
        if result is None:
            return None
        return self._key_out(result.get(b"key")), self._value_out(result.get(b"value"))

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if not self._positioned:
            self.jump()
        return self

    def __next__(self) -> tuple[Any, Any]:
        item = self.get(step=True)
        if item is None:
            raise StopIteration
        return item


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
