"""Cursor validity and members as kt 0.9.6 has them (is_valid, db, cursor_id, next, close() -> bool, reads
and writes on a cursor that is not valid), on every backend; plus our step= extras' validity."""

from __future__ import annotations

from typing import Any

import pytest
from kt_core.codec.kyoto_http import encode_reply
from kt_core.errors import NotImplementedByServerError
from kt_kyoto import AsyncCursor, Cursor, KyotoTycoon
from kt_kyoto.cursor import CursorNotImplementedError

FOUR = {"k1": "v1", "k2": "v2", "k3": "v3", "k4": "v4"}


@pytest.fixture
def tree(kt_client: KyotoTycoon) -> KyotoTycoon:
    """kt_client with k1..k4 in the tree database (db 1)."""
    kt_client.set_bulk(FOUR, db=1)
    return kt_client


def test_new_cursor_is_not_valid_and_its_reads_and_writes_do_nothing(tree: KyotoTycoon) -> None:
    cur = tree.cursor(db=1)
    assert cur.is_valid() is False
    assert cur.key() is None and cur.value() is None and cur.get() is None
    assert cur.key(step=True) is None and cur.get(step=True) is None
    assert cur.set_value("x") is False and cur.remove() is False and cur.seize() is None
    assert cur.is_valid() is False
    assert tree.get_bulk(list(FOUR), db=1) == FOUR  # nothing was written or removed
    cur.close()


def test_moves_set_validity(tree: KyotoTycoon) -> None:
    cur = tree.cursor(db=1)
    assert cur.jump("k3") is True and cur.is_valid() is True and cur.key() == "k3"
    assert cur.step() is True and cur.key() == "k4"
    assert cur.step() is False and cur.is_valid() is False
    assert cur.key() is None and cur.get() is None  # not valid: None, whatever the server holds
    assert cur.step_back() is False and cur.is_valid() is False  # a move is always sent
    assert cur.jump_back() is True and cur.is_valid() is True and cur.get() == ("k4", "v4")
    assert cur.jump("k9") is False and cur.is_valid() is False
    assert cur.jump_back("k0") is False and cur.is_valid() is False
    assert cur.jump_back("k2x") is True and cur.key() == "k2"
    assert cur.jump("k0") is True and cur.key() == "k1"
    assert cur.step_back() is False and cur.is_valid() is False
    cur.close()


def test_writes_update_validity_as_kt(tree: KyotoTycoon) -> None:
    # The sequence of kt 0.9.6's own cursor-write test, checked against the server's records.
    cur = tree.cursor(db=1)
    cur.jump("k2")
    assert cur.set_value("v2-x") is True and cur.get() == ("k2", "v2-x") and tree.get("k2", db=1) == "v2-x"
    assert cur.remove() is True and cur.get() == ("k3", "v3") and tree.exists("k2", db=1) is False
    assert cur.step_back() is True and cur.get() == ("k1", "v1")
    assert cur.seize() == ("k1", "v1")
    # After step_back the cursor goes backward: the seize left it before the first record.
    assert cur.seize() is None and cur.is_valid() is False
    assert cur.jump() is True and cur.seize() == ("k3", "v3")
    assert cur.jump_back() is True and cur.get() == ("k4", "v4")
    assert list(cur) == [("k4", "v4")]
    assert cur.is_valid() is False
    assert list(cur) == [("k4", "v4")]  # not valid: iterating jumps to the first record again
    assert cur.jump_back() is True and cur.remove() is True
    assert cur.is_valid() is True  # kt keeps a successful remove valid ...
    assert list(cur) == [] and cur.is_valid() is False  # ... until a read finds no record
    assert tree.count(db=1) == 0
    cur.close()


def test_a_failed_write_makes_the_cursor_not_valid(tree: KyotoTycoon, kt_client_factory: Any) -> None:
    other = kt_client_factory()
    for write, answer in (("set_value", False), ("remove", False), ("seize", None)):
        tree.set("k4", "v4", db=1)
        cur = tree.cursor(db=1)
        assert cur.jump_back() is True and cur.key() == "k4"
        assert other.remove("k4", db=1) == 1  # gone under the cursor, which was on the last record
        assert cur.is_valid() is True
        assert (cur.set_value("new") if write == "set_value" else getattr(cur, write)()) is answer, write
        assert cur.is_valid() is False, write
        assert cur.set_value("again") is False and cur.get() is None
        assert tree.get("k4", db=1) is None, write
        cur.close()


def test_close_returns_whether_a_valid_cursor_was_deleted(tree: KyotoTycoon) -> None:
    pool = tree.pool
    in_use = pool.in_use_count
    cur = tree.cursor(db=1)
    assert cur.close() is False  # never valid
    cur = tree.cursor(db=1)
    assert cur.jump() is True and cur.close() is True
    assert cur.closed is True and cur.is_valid() is False
    assert cur.close() is False  # already closed
    cur = tree.cursor(db=1)
    assert cur.jump_back() is True and cur.step() is False
    assert cur.close() is False  # not valid
    assert pool.in_use_count == in_use  # every cursor gave its connection back


def test_a_closed_cursor_reads_nothing_and_reopens_on_a_move(tree: KyotoTycoon) -> None:
    with tree.cursor(db=1) as cur:
        assert cur.jump("k2") is True
    assert cur.closed and cur.key() is None and cur.seize() is None
    assert tree.count(db=1) == 4
    assert cur.step() is False  # reopened: a new server cursor, not positioned
    assert cur.closed is False
    assert cur.jump() is True and cur.get() == ("k1", "v1")
    assert cur.close() is True


def test_iteration_and_next_as_kt(tree: KyotoTycoon) -> None:
    cur = tree.cursor(db=1)
    assert list(cur) == list(FOUR.items())  # not valid: iterating starts at the first record
    assert cur.is_valid() is False
    assert cur.jump("k3") is True
    assert next(cur) == ("k3", "v3")  # valid: from the current record
    assert cur.next() == ("k4", "v4")  # kt's Python 2 style name
    assert cur.is_valid() is False
    with pytest.raises(StopIteration):
        next(cur)
    assert cur.jump_back("k2") is True
    assert list(cur) == [("k2", "v2"), ("k3", "v3"), ("k4", "v4")]  # iteration steps forward
    cur.close()


def test_iteration_on_hash_database(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2", "c": "3"})
    with kt_client.cursor() as cur:
        assert sorted(cur) == [("a", "1"), ("b", "2"), ("c", "3")]
        assert cur.is_valid() is False
        with pytest.raises(NotImplementedError):  # what kt 0.9.6 raised for a 501
            cur.jump_back()
        with pytest.raises(NotImplementedByServerError):  # and our tree's class for it
            cur.step_back()


def test_step_reads_and_writes_know_their_validity(tree: KyotoTycoon) -> None:
    cur = tree.cursor(db=1)
    assert cur.jump("k3") is True
    assert cur.key(step=True) == "k3" and cur.is_valid() is True and cur.key() == "k4"
    assert cur.value(step=True) == "v4" and cur.is_valid() is False  # stepped past the last record
    assert cur.value(step=True) is None
    assert cur.jump_back() is True
    # After jump_back a step moves backward, as the server does it.
    assert cur.get(step=True) == ("k4", "v4") and cur.is_valid() is True and cur.key() == "k3"
    assert cur.set_value("V3", step=True) is True and cur.key() == "k2"
    assert tree.get("k3", db=1) == "V3"
    assert cur.jump("k1") is True and cur.step_back() is False and cur.jump() is True
    assert cur.set_value("V1", step=True) is True and cur.is_valid() is True
    assert cur.jump("k4") is True and cur.set_value("V4", step=True) is True  # written, then past the end
    assert cur.is_valid() is False and tree.get("k4", db=1) == "V4"
    cur.close()


def test_cursor_id_and_db_attributes(kt_client_factory: Any) -> None:
    client = kt_client_factory(default_db=1)
    client.set_bulk({"a": "1"})
    cur = client.cursor()
    plain = getattr(cur, "wrapped", cur)  # the asyncio cursor behind a blocking facade
    assert isinstance(plain, (Cursor, AsyncCursor)) and type(cur.cursor_id) is int
    assert cur.db == 1  # the client's default database
    assert cur.jump() is True and cur.key() == "a"  # ... which it walks
    named = client.cursor(db="*", cursor_id=41)
    assert (named.db, named.cursor_id) == ("*", 41) and named.jump() is False
    assert client.cursor(db=0).db == 0
    assert cur.cursor_id != client.cursor().cursor_id  # ids are made unique per client
    assert repr(plain) == f"<{type(plain).__name__} id={cur.cursor_id} db=1 valid>"
    cur.close()
    named.close()


# ------------------------------------------------------------------ no server: what goes out


class Recorder:
    """A connection that records every request and answers 200 with ``key``/``value`` records."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.reply = encode_reply(200, {b"key": b"k", b"value": b"v"})
        self.pending = 0

    def request(self, data: bytes, read_fn: Any, *args: Any) -> Any:
        self.sent.append(data)
        return read_fn(self.reply, 0, len(self.reply), 1 << 30, *args)

    def send(self, data: bytes) -> None:
        self.sent.append(data)
        self.pending += data.count(b"POST /rpc/")

    def read(self, read_fn: Any) -> Any:
        assert self.pending > 0, "read with no request pending"
        self.pending -= 1
        return read_fn(self.reply, 0, len(self.reply), 1 << 30)

    def close(self) -> None:
        self.closed = True

    def procedures(self) -> list[str]:
        return [p.split(b" ", 1)[0].decode() for req in self.sent for p in req.split(b"POST /rpc/")[1:]]


def recorded_cursor() -> tuple[Cursor, Recorder]:
    client = KyotoTycoon()
    conn = Recorder()
    client.pool.acquire = lambda: conn  # type: ignore[assignment,method-assign,return-value]
    client.pool.release = lambda c: None  # type: ignore[method-assign]
    return client.cursor(), conn


def test_a_cursor_not_valid_sends_no_read_or_write() -> None:
    cur, conn = recorded_cursor()
    assert (cur.key(), cur.value(), cur.get(), cur.get(step=True)) == (None, None, None, None)
    assert (cur.set_value("x"), cur.remove(), cur.seize()) == (False, False, None)
    with pytest.raises(StopIteration):
        next(cur)
    assert conn.sent == []
    assert cur.jump() is True
    assert cur.key() == "k" and cur.get() == ("k", "v")
    assert conn.procedures() == ["cur_jump", "cur_get_key", "cur_get"]
    cur.close()


def test_next_and_step_reads_pipeline_two_requests_in_one_write() -> None:
    cur, conn = recorded_cursor()
    cur._valid = True
    assert next(cur) == ("k", "v") and cur.is_valid() is True
    assert cur.value(step=True) == "v"
    assert len(conn.sent) == 2 and conn.pending == 0  # one write each, both replies read
    assert conn.procedures() == ["cur_get", "cur_step", "cur_get_value", "cur_get_key"]
    assert b"step\t1" in conn.sent[1].split(b"POST /rpc/")[1]


def test_close_deletes_the_server_cursor_valid_or_not() -> None:
    cur, conn = recorded_cursor()
    cur.jump()
    cur._valid = False  # e.g. stepped past the end: the server still holds the cursor
    assert cur.close() is False
    assert conn.procedures() == ["cur_jump", "cur_delete"]
    cur, conn = recorded_cursor()
    cur.jump()
    assert cur.close() is True and conn.procedures() == ["cur_jump", "cur_delete"]
    cur, conn = recorded_cursor()
    assert cur.close() is False and conn.sent == []  # never used: nothing to delete


def test_not_implemented_is_both_error_classes() -> None:
    cur, conn = recorded_cursor()
    conn.reply = encode_reply(501, {b"ERROR": b"DB: 1: not implemented: not implemented"})
    with pytest.raises(CursorNotImplementedError, match="not implemented") as info:
        cur.jump_back()
    assert isinstance(info.value, NotImplementedError) and isinstance(info.value, NotImplementedByServerError)
    assert info.value.code == 501
