"""Every KyotoTycoon method that answers with a bool, None or an empty result raises on a server error
(400/500/501) instead: an error is never read as False, None or "nothing found"."""

from __future__ import annotations

from typing import Any

import pytest
from kt_core.codec.kyoto_http import encode_reply
from kt_core.errors import BadRequestError, InternalServerError, KyotoServerError, NotImplementedByServerError
from kt_kyoto import KyotoTycoon

STATUSES = [(400, BadRequestError), (500, InternalServerError), (501, NotImplementedByServerError)]


class OneReply:
    """A connection that answers every request with one canned HTTP reply."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sent: list[bytes] = []
        self.closed = False

    def request(self, data: bytes, read_fn: Any, *args: Any) -> Any:
        self.sent.append(data)
        return read_fn(self.reply, 0, len(self.reply), 1 << 30, *args)

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def read(self, read_fn: Any) -> Any:
        return read_fn(self.reply, 0, len(self.reply), 1 << 30)

    def close(self) -> None:
        self.closed = True


CLIENT_CALLS = {
    "add": lambda c: c.add("k", "v"),
    "replace": lambda c: c.replace("k", "v"),
    "append": lambda c: c.append("k", "v"),
    "cas": lambda c: c.cas("k", "a", "b"),
    "exists": lambda c: c.exists("k"),
    "contains": lambda c: "k" in c,
    "seize": lambda c: c.seize("k"),
    "pop": lambda c: c.pop("k"),
    "clear": lambda c: c.clear(),
    "synchronize": lambda c: c.synchronize(hard=True, command="x"),
    "vacuum": lambda c: c.vacuum(3),
    "count": lambda c: c.count(),
    "len": lambda c: len(c),
    "size": lambda c: c.size,
    "path": lambda c: c.path,
    "status": lambda c: c.status(),
    "report": lambda c: c.report(),
    "match_prefix": lambda c: c.match_prefix("k"),
    "match_regex": lambda c: c.match_regex("k"),
    "match_similar": lambda c: c.match_similar("k", 2),
    "incr": lambda c: c.incr("k"),
    "incr_double": lambda c: c.incr_double("k"),
}

CURSOR_CALLS = {
    "jump": lambda cur: cur.jump(),
    "jump_key": lambda cur: cur.jump("k"),
    "jump_back": lambda cur: cur.jump_back(),
    "step": lambda cur: cur.step(),
    "step_back": lambda cur: cur.step_back(),
    "key": lambda cur: cur.key(),
    "value": lambda cur: cur.value(step=True),
    "get": lambda cur: cur.get(),
    "set_value": lambda cur: cur.set_value("v"),
    "remove": lambda cur: cur.remove(),
    "seize": lambda cur: cur.seize(),
}


@pytest.mark.parametrize(("status", "error"), STATUSES)
@pytest.mark.parametrize("name", sorted(CLIENT_CALLS))
def test_client_method_raises_on_server_error(name: str, status: int, error: type) -> None:
    client = KyotoTycoon()
    conn = OneReply(encode_reply(status, {b"ERROR": b"DB: 1: some server error"}))
    client._conns.get = lambda: conn  # type: ignore[method-assign]
    with pytest.raises(error, match="some server error"):
        CLIENT_CALLS[name](client)
    assert len(conn.sent) == 1


@pytest.mark.parametrize(("status", "error"), STATUSES)
@pytest.mark.parametrize("name", sorted(CURSOR_CALLS))
def test_cursor_method_raises_on_server_error(name: str, status: int, error: type) -> None:
    client = KyotoTycoon()
    cur = client.cursor()
    conn = OneReply(encode_reply(status, {b"ERROR": b"DB: 1: some server error"}))
    cur._conn = conn  # type: ignore[assignment]
    cur._valid = True  # on a record: reads and writes ask the server (a cursor not valid answers None/False itself)
    with pytest.raises(error, match="some server error"):
        CURSOR_CALLS[name](cur)
    cur._state[0] = False  # nothing to delete on a server that never existed
    cur.close()


@pytest.mark.parametrize(("status", "error"), STATUSES)
@pytest.mark.parametrize("walk", ["keys", "values", "items"])
@pytest.mark.parametrize("at", ["jump", "step"])
def test_walk_raises_on_server_error(walk: str, at: str, status: int, error: type) -> None:
    client = KyotoTycoon()
    conn = OneReply(encode_reply(status, {b"ERROR": b"DB: 1: some server error"}))
    if at == "step":
        # The walk's cur_jump succeeds; the error comes in a pipelined batch of steps.
        ok = encode_reply(200, {})
        conn.request = lambda data, read_fn, *args: read_fn(ok, 0, len(ok), 1 << 30)  # type: ignore[method-assign]
    client.pool.acquire = lambda: conn  # type: ignore[method-assign]
    client.pool.release = lambda c: None  # type: ignore[method-assign]
    with pytest.raises(error, match="some server error"):
        list(getattr(client, walk)())
    # After a failed batch the connection has replies still coming: it must not be reused.
    assert conn.closed is (at == "step")


@pytest.mark.parametrize("fields", [
    {},
    {b"count": b"", b"size": b"x1", b"path": b"*"},
    {b"count": b"1.5", b"size": b"-"},
])
@pytest.mark.parametrize("name", ["count", "len", "size", "path"])
def test_status_without_its_field_raises_never_zero(name: str, fields: dict) -> None:
    client = KyotoTycoon()
    client._conns.get = lambda: OneReply(encode_reply(200, fields))  # type: ignore[method-assign]
    if name == "path" and b"path" in fields:
        assert client.path == "*"
        return
    with pytest.raises(KyotoServerError, match="status reply"):
        CLIENT_CALLS[name](client)
