"""KyotoTycoon without a server: argument checks raise before sending, expiry conversion, request bytes."""

from __future__ import annotations

import datetime
import socket
import struct
import time
from typing import Any

import pytest
from kt_core.codec.kyoto_binary import (
    XT_NONE,
    encode_error_reply,
    encode_get_bulk,
    encode_get_bulk_reply,
    encode_play_script,
    encode_play_script_reply,
    encode_remove_bulk,
    encode_remove_bulk_reply,
    encode_set_bulk,
    encode_set_bulk_reply,
    read_get_bulk,
)
from kt_core.codec.kyoto_http import encode_reply, parse_request, read_rpc
from kt_core.errors import (
    BadRequestError,
    InvalidArgumentError,
    InvalidTypeError,
    KyotoServerError,
    LogicalInconsistencyError,
)
from kt_kyoto import KT_NONE, Cursor, KyotoTycoon
from kt_kyoto._util import expire_to_xt


class FakeConnection:
    """Records every request and answers with canned reply bytes through the real codec readers."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)
        self.sent: list[bytes] = []
        self.closed = False

    def request(self, data: bytes, read_fn: Any, *args: Any) -> Any:
        self.sent.append(data)
        reply = self.replies.pop(0)
        result = read_fn(reply, 0, len(reply), 1 << 30, *args)
        assert type(result) is tuple and result[0] == len(reply)
        return result

    def close(self) -> None:
        self.closed = True


def free_port() -> int:
    # A port nobody listens on: any attempt to send would raise a connection error.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def offline() -> KyotoTycoon:
    return KyotoTycoon(port=free_port(), timeout=1)


def fake(client: KyotoTycoon, *replies: bytes) -> FakeConnection:
    conn = FakeConnection(list(replies))
    client._conns.get = lambda: conn  # type: ignore[method-assign]
    return conn


def http_records(data: bytes) -> tuple[str, dict[bytes, bytes]]:
    r = parse_request(data, 0, len(data), 1 << 30)
    assert type(r) is tuple and r[0] == len(data)
    return r[1].procedure, r[1].params()


# ------------------------------------------------------------------ argument checks: nothing is sent


@pytest.mark.parametrize("call", [
    lambda c: c.get(True),
    lambda c: c.get_raw(None),
    lambda c: c.set(("k",), "v"),
    lambda c: c.set("k", None),  # KT_BINARY takes text, bytes and numbers only
    lambda c: c.remove(object()),
    lambda c: c.get_bulk("abc"),
    lambda c: c.get_bulk([None]),
    lambda c: c.set_bulk(["not", "a", "mapping"]),
    lambda c: c.remove_bulk([False]),
    lambda c: c.add(["k"], "v"),
    lambda c: c.cas("k", [1], "v"),
    lambda c: c.incr("k", 1.5),
    lambda c: c.incr("k", 1, orig="x"),
    lambda c: c.incr_double("k", "1"),
    lambda c: c.get("k", db=1.0),
    lambda c: c.set("k", "v", expire_time="soon"),
    lambda c: c.match_prefix("p", max_keys="3"),
    lambda c: c.vacuum("1"),
    lambda c: c.script(42),
    lambda c: c.script("echo", {"a": 1}, encode_values=False),
    lambda c: c.cursor(cursor_id="1"),
])
def test_wrong_type_raises_before_sending(offline: KyotoTycoon, call: Any) -> None:
    with pytest.raises(InvalidTypeError):
        call(offline)
    assert offline.pool.in_use_count == 0  # no connection was even taken


@pytest.mark.parametrize("call", [
    lambda c: c.get("k", db=-1),
    lambda c: c.set("k", "v", db=70000),
    lambda c: c.status(db=-3),
    lambda c: c.get("k", db=""),
    lambda c: c.set("k", "v", expire_time=datetime.timedelta(seconds=-5)),
    lambda c: c.set("k", "v", expire_time=float("nan")),
    lambda c: c.match_regex("x", max_keys=-1),
    lambda c: c.match_similar("x", distance=-1),
    lambda c: c.vacuum(-1),
    lambda c: c.script(""),
    lambda c: c.incr_double("k", float("inf")),
    lambda c: c.get("\ud800"),  # a lone surrogate has no UTF-8 form
])
def test_bad_value_raises_before_sending(offline: KyotoTycoon, call: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        call(offline)
    assert offline.pool.in_use_count == 0


def test_kt_none_refuses_str_value_before_sending() -> None:
    client = KyotoTycoon(port=free_port(), serializer=KT_NONE)
    with pytest.raises(InvalidTypeError, match="KT_NONE"):
        client.set("k", "text")
    with pytest.raises(InvalidTypeError):
        client.set_bulk({"k": "text"})
    assert client.pool.in_use_count == 0


def test_constructor_checks() -> None:
    with pytest.raises(InvalidTypeError):
        KyotoTycoon(port="1978")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        KyotoTycoon(default_db=-1)
    with pytest.raises(InvalidTypeError):
        KyotoTycoon(default_db=1.0)  # type: ignore[arg-type]


def test_set_database_checks_and_changes_default() -> None:
    client = KyotoTycoon()
    client.set_database(3)
    assert client.default_db == 3
    client.set_database("users.kct")
    assert client.default_db == "users.kct"
    with pytest.raises(InvalidArgumentError):
        client.set_database(-2)
    with pytest.raises(InvalidArgumentError, match="digit"):
        client.set_database("1abc")


# ------------------------------------------------------------------ expire_time


def test_expire_time_conversion() -> None:
    assert expire_to_xt(None) == XT_NONE
    assert expire_to_xt(60) == 60
    assert expire_to_xt(2.9) == 2
    assert expire_to_xt(datetime.timedelta(minutes=2)) == 120
    when = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert expire_to_xt(when) == -int(when.timestamp())
    naive = datetime.datetime.now() + datetime.timedelta(hours=1)
    assert abs(-expire_to_xt(naive) - (time.time() + 3600)) < 2
    assert expire_to_xt(-1893456000) == -1893456000  # already KT's absolute form
    with pytest.raises(InvalidTypeError):
        expire_to_xt(True)


# ------------------------------------------------------------------ request bytes and reply handling


def test_get_sends_one_get_bulk_and_returns_value_or_none() -> None:
    client = KyotoTycoon()
    conn = fake(client, encode_get_bulk_reply([(0, b"k\t\n", b"v\xff", 1 << 40 - 1)]), encode_get_bulk_reply([]))
    assert client.get("k\t\n") == b"v\xff"  # not UTF-8: KT_BINARY returns the bytes
    assert client.get("missing") is None
    assert conn.sent == [encode_get_bulk([(0, b"k\t\n")]), encode_get_bulk([(0, b"missing")])]


def test_binary_error_raises_never_none() -> None:
    client = KyotoTycoon()
    fake(client, encode_error_reply(), encode_error_reply(), encode_error_reply(), encode_error_reply())
    with pytest.raises(KyotoServerError):
        client.get("k")
    with pytest.raises(KyotoServerError):
        client.set("k", "v")
    with pytest.raises(KyotoServerError):
        client.remove("k")
    with pytest.raises(KyotoServerError):
        client.script("echo")


def test_set_request_bytes_with_expiry() -> None:
    client = KyotoTycoon()
    conn = fake(client, encode_set_bulk_reply(1), encode_set_bulk_reply(1))
    assert client.set(b"k", "v\u00e9") == 1
    assert client.set("k", b"\x00", expire_time=datetime.timedelta(seconds=30)) == 1
    assert conn.sent == [encode_set_bulk([(0, b"k", "v\u00e9".encode(), XT_NONE)]),
                         encode_set_bulk([(0, b"k", b"\x00", 30)])]


def test_remove_and_bulk_request_bytes() -> None:
    client = KyotoTycoon(decode_keys=False)
    conn = fake(client, encode_remove_bulk_reply(0), encode_set_bulk_reply(2), encode_remove_bulk_reply(2),
                encode_get_bulk_reply([(0, b"a", b"1", 5)]))
    assert client.remove("gone") == 0
    assert client.set_bulk({"a": "1"}, b="2") == 2
    assert client.remove_bulk(["a", b"b"]) == 2
    assert client.get_bulk(["a", "b"]) == {b"a": "1"}
    assert conn.sent[0] == encode_remove_bulk([(0, b"gone")])
    assert conn.sent[1] == encode_set_bulk([(0, b"a", b"1", XT_NONE), (0, b"b", b"2", XT_NONE)])
    assert conn.sent[2] == encode_remove_bulk([(0, b"a"), (0, b"b")])
    assert conn.sent[3] == encode_get_bulk([(0, b"a"), (0, b"b")])


def test_script_request_bytes_and_encode_values() -> None:
    client = KyotoTycoon(serializer="json")
    conn = fake(client, encode_play_script_reply([(b"a", b"[1,2]")]), encode_play_script_reply([(b"a", b"[1,2]")]))
    assert client.script("echo", {"a": [1, 2]}) == {"a": [1, 2]}
    assert client.script("echo", encode_values=False, a="[1,2]") == {"a": b"[1,2]"}
    assert conn.sent == [encode_play_script(b"echo", [(b"a", b"[1,2]")])] * 2


def test_http_params_and_statuses() -> None:
    client = KyotoTycoon()
    logic = encode_reply(450, {b"ERROR": b"DB: 6: record duplication"})
    bad = encode_reply(400, {b"ERROR": b"no such database"})
    conn = fake(client, encode_reply(200, {}), logic, bad, logic, encode_reply(501, {b"ERROR": b"not implemented"}))
    assert client.add("k\t1", "v\n", expire_time=10) is True
    assert client.add("k\t1", "v\n") is False
    with pytest.raises(BadRequestError, match="no such database"):  # an error is never a False
        client.add("k", "v", db="nope")
    assert client.cas("k", "a", "b", db=1) is False
    with pytest.raises(KyotoServerError, match="not implemented"):
        client.replace("k", "v")
    assert http_records(conn.sent[0]) == ("add", {b"key": b"k\t1", b"value": b"v\n", b"DB": b"0", b"xt": b"10"})
    assert http_records(conn.sent[2])[1][b"DB"] == b"nope"
    assert http_records(conn.sent[3]) == ("cas", {b"key": b"k", b"oval": b"a", b"nval": b"b", b"DB": b"1"})


def test_incr_parsing_and_errors() -> None:
    client = KyotoTycoon()
    conn = fake(client, encode_reply(200, {b"num": b"11"}), encode_reply(200, {b"num": b"2.500000"}),
                encode_reply(450, {b"ERROR": b"DB: 8: logical inconsistency"}))
    result = client.incr("n", 1, orig=10)
    assert result == 11 and type(result) is int
    fresult = client.incr_double("d", 0.5, orig=2.0)
    assert fresult == 2.5 and type(fresult) is float
    with pytest.raises(LogicalInconsistencyError):
        client.incr("text")
    assert http_records(conn.sent[0])[1] == {b"key": b"n", b"num": b"1", b"orig": b"10", b"DB": b"0"}
    assert http_records(conn.sent[1])[1][b"num"] == b"0.5"


def test_status_values_raw_bytes_and_match_order() -> None:
    client = KyotoTycoon()
    fake(client, encode_reply(200, {b"count": b"3", b"path": b"*", b"ratio": b"0.5"}),
         encode_reply(200, {b"_b": b"0", b"_a": b"1", b"num": b"2"}))
    assert client.status() == {"count": b"3", "path": b"*", "ratio": b"0.5"}
    assert client.match_prefix("") == ["b", "a"]  # the server's order, not the TSV's


def test_item_access_forms() -> None:
    client = KyotoTycoon()
    calls: list[tuple[Any, ...]] = []
    client.get = lambda key, db=None: calls.append(("get", key, db))  # type: ignore[method-assign]
    client.set = lambda key, value, db=None, expire_time=None: calls.append(  # type: ignore[method-assign]
        ("set", key, value, db, expire_time))
    client.remove = lambda key, db=None: calls.append(("remove", key, db))  # type: ignore[method-assign]
    client.exists = lambda key, db=None: calls.append(("exists", key, db)) or True  # type: ignore[method-assign]
    client["a"]
    client["a", 1]
    client["a"] = "v"
    client["a", 1] = ("v", 5)
    del client["a", 1]
    assert ("a", 1) in client
    assert calls == [("get", "a", None), ("get", "a", 1), ("set", "a", "v", None, None), ("set", "a", "v", 1, 5),
                     ("remove", "a", 1), ("exists", "a", 1)]


def test_read_get_bulk_reply_shape_used_by_client() -> None:
    # The client relies on the reader giving (dbidx, key, value, xt) hits in request order.
    reply = encode_get_bulk_reply([(1, b"k", b"v", 7)])
    assert read_get_bulk(reply, 0, len(reply), 1 << 20) == (len(reply), [(1, b"k", b"v", 7)])
    assert struct.unpack(">BI", reply[:5]) == (0xBA, 1)
    ok = encode_reply(200, {})
    assert read_rpc(ok, 0, len(ok), 1 << 20)[1].status == 200


def test_exports_repr_and_context_manager() -> None:
    with KyotoTycoon("localhost", 1979, serializer="json", default_db=1) as client:
        assert repr(client) == "<KyotoTycoon localhost:1979 db=1 serializer='json'>"
    assert Cursor.__name__ == "Cursor"
