"""Every str argument a caller passes is UTF-8 encoded before sending; one that cannot be (a lone surrogate)
raises InvalidArgumentError naming the argument, and nothing is sent."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from kt_core.errors import InvalidArgumentError, InvalidTypeError
from kt_kyoto import KyotoTycoon

LONE = "a\ud800b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("call", "named"), [
    (lambda c: c.script(LONE), "script name"),
    (lambda c: c.script("echo", {"k": LONE}, encode_values=False), "script value of 'k'"),
    (lambda c: c.script("echo", encode_values=False, k=LONE), "script value of 'k'"),
    (lambda c: c.script("echo", {LONE: "v"}), "key"),
    (lambda c: c.script("echo", {"k": LONE}), "serializer"),  # the value goes through KT_BINARY
    (lambda c: c.synchronize(command=LONE), "command"),
    (lambda c: c.synchronize(db=LONE), "database name"),
    (lambda c: c.get("k", db=LONE), "database name"),
    (lambda c: c.set("k", "v", db=LONE), "database name"),
    (lambda c: c.set_database(LONE), "database name"),
    (lambda c: c.cursor(db=LONE), "database name"),
    (lambda c: list(c.keys(db=LONE)), "database name"),
    (lambda c: c.set(LONE, "v"), "key"),
    (lambda c: c.set("k", LONE), "serializer"),
    (lambda c: c.set_bulk({"k": LONE}), "serializer"),
    (lambda c: c.get_bulk(["k", LONE]), "key"),
    (lambda c: c.remove_bulk([LONE]), "key"),
    (lambda c: c.add(LONE, "v"), "key"),
    (lambda c: c.cas("k", LONE, "v"), "serializer"),
    (lambda c: c.incr(LONE), "key"),
    (lambda c: c.match_prefix(LONE), "prefix"),
    (lambda c: c.match_regex(LONE), "regex"),
    (lambda c: c.match_similar(LONE), "origin"),
])
def test_lone_surrogate_raises_naming_the_argument(call: Any, named: str) -> None:
    client = KyotoTycoon(port=free_port(), timeout=1)
    with pytest.raises(InvalidArgumentError) as info:
        call(client)
    assert type(info.value) is InvalidArgumentError
    assert named in str(info.value)
    assert client.pool.in_use_count == 0  # nothing was sent: no connection was even taken


def test_cursor_key_lone_surrogate_raises_before_sending() -> None:
    client = KyotoTycoon(port=free_port(), timeout=1)
    cur = client.cursor()
    with pytest.raises(InvalidArgumentError, match="key"):
        cur.jump(LONE)
    with pytest.raises(InvalidArgumentError, match="key"):
        cur.jump_back(LONE)
    assert cur._state == [False]  # no cur_* request went out, so the server never had this cursor
    cur.close()


# ------------------------------------------------------------------ incr numbers


@pytest.mark.parametrize("call", [
    lambda c: c.incr("k", 1 << 63),
    lambda c: c.incr("k", -(1 << 63) - 1),
    lambda c: c.incr("k", 1, orig=1 << 64),
    lambda c: c.cursor(cursor_id=1 << 63),
    lambda c: c.vacuum(1 << 63),
    lambda c: c.match_prefix("p", max_keys=1 << 63),
    lambda c: c.match_similar("p", distance=1 << 64),
])
def test_int64_argument_out_of_range_raises_before_sending(call: Any) -> None:
    # ktserver would wrap such a number silently (99999999999999999999999 becomes 200376420520689663).
    client = KyotoTycoon(port=free_port(), timeout=1)
    with pytest.raises(InvalidArgumentError, match=r"64-bit|9223372036854775807"):
        call(client)
    assert client.pool.in_use_count == 0


def test_host_lone_surrogate_raises_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="host"):
        KyotoTycoon(LONE)


@pytest.mark.parametrize("call", [
    lambda c: c["k", 1, 2],
    lambda c: c.__setitem__(("k",), "v"),
    lambda c: c.__setitem__("k", ("v", 10, "extra")),
    lambda c: c.__delitem__(()),
    lambda c: ("k", 0, 1) in c,
])
def test_item_access_tuple_of_wrong_length_raises_before_sending(call: Any) -> None:
    client = KyotoTycoon(port=free_port(), timeout=1)
    with pytest.raises(InvalidTypeError, match="pair"):
        call(client)
    assert client.pool.in_use_count == 0


@pytest.mark.parametrize("call", [
    lambda c: c.set("k", "v", expire_time=1 << 63),
    lambda c: c.set("k", "v", expire_time=-(1 << 70)),
    lambda c: c.set_bulk({"k": "v"}, expire_time=1e30),
    lambda c: c.add("k", "v", expire_time=1 << 70),
    lambda c: c.incr("k", expire_time=1 << 64),
    lambda c: c.cas("k", None, "v", expire_time=1 << 64),
])
def test_expire_time_out_of_range_raises_before_sending(call: Any) -> None:
    client = KyotoTycoon(port=free_port(), timeout=1)
    with pytest.raises(InvalidArgumentError, match="expire_time out of range"):
        call(client)
    assert client.pool.in_use_count == 0
