"""KyotoTycoon member by member against the spec (kt-api.txt), on every backend: return values and their types,
server errors never read as False/None, decode_keys=False on every key-returning path, odd keys and big binary
values on the paths test_server.py does not cover."""

from __future__ import annotations

import datetime
import inspect
import threading
import types
from typing import Any

import pytest
from kt_core.errors import (
    BadRequestError,
    InternalServerError,
    KyotoServerError,
    LogicalInconsistencyError,
    NotImplementedByServerError,
)
from kt_kyoto import KT_NONE, AsyncCursor, Cursor, KyotoTycoon

pytestmark = pytest.mark.server

ALL_BYTES = bytes(range(256))
ODD_KEYS = ["tab\there", "new\nline", "cr\rlf\r\n", "nul\x00byte", "caf\u00e9 \u65e5\u672c", "sp ace=&%+"]


def fresh(kt_client_factory: Any, **options: Any) -> KyotoTycoon:
    """A factory client on empty databases (the factory does not clear them)."""
    client: KyotoTycoon = kt_client_factory(**options)
    client.clear(db=0)
    client.clear(db=1)
    return client


def typed(value: Any, expected: Any, kind: type) -> None:
    assert value == expected and type(value) is kind, (value, type(value))


# ------------------------------------------------------------------ return values and types


def test_record_methods_return_types(kt_client: KyotoTycoon) -> None:
    typed(kt_client.set("k", "v"), 1, int)
    typed(kt_client.remove("k"), 1, int)
    typed(kt_client.remove("k"), 0, int)
    typed(kt_client.add("k", "v"), True, bool)
    typed(kt_client.add("k", "v"), False, bool)
    typed(kt_client.replace("k", "w"), True, bool)
    typed(kt_client.replace("nope", "w"), False, bool)
    typed(kt_client.append("k", "x"), True, bool)
    typed(kt_client.cas("k", "wx", "y"), True, bool)
    typed(kt_client.cas("k", "wx", "z"), False, bool)
    typed(kt_client.exists("k"), True, bool)
    typed(kt_client.exists("nope"), False, bool)
    typed(kt_client.seize("k"), "y", str)
    assert kt_client.seize("k") is None
    typed(kt_client.set_bulk({"a": "1"}, b="2"), 2, int)
    typed(kt_client.update({"c": "3"}), 1, int)
    typed(kt_client.get_bulk(["a", "b", "c", "zz"]), {"a": "1", "b": "2", "c": "3"}, dict)
    typed(kt_client.get_bulk_raw(["a"]), {"a": b"1"}, dict)
    typed(kt_client.pop("c"), "3", str)
    typed(kt_client.remove_bulk(["a", "b", "c"]), 2, int)
    typed(kt_client.incr("n", 2, orig=40), 42, int)
    typed(kt_client.incr_double("f", 0.5, orig=1.0), 1.5, float)
    typed(kt_client.incr_double("g"), 1.0, float)  # n defaults to 1.0
    typed(kt_client.script("echo", {"a": "1"}), {"a": "1"}, dict)


def test_database_methods_return_types(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2"})
    typed(kt_client.count(), 2, int)
    typed(len(kt_client), 2, int)
    typed(kt_client.clear(db=1), True, bool)
    typed(kt_client.synchronize(), True, bool)
    typed(kt_client.synchronize(hard=True), True, bool)
    typed(kt_client.synchronize(command=""), True, bool)  # an empty command is no command
    typed(kt_client.vacuum(), True, bool)
    typed(kt_client.vacuum(step=1), True, bool)
    assert type(kt_client.size) is int and kt_client.size > 0
    typed(kt_client.path, "*", str)
    status = kt_client.status()
    assert type(status) is dict and status["count"] == b"2" and status["path"] == b"*"
    assert all(type(k) is str and type(v) is bytes for k, v in status.items())
    report = kt_client.report()
    assert type(report) is dict and report["db_total_count"] == b"2"
    assert all(type(k) is str and type(v) is bytes for k, v in report.items())
    typed(kt_client.match_prefix("a"), ["a"], list)
    typed(kt_client.match_regex("^b$"), ["b"], list)
    typed(kt_client.match_similar("a", 0), ["a"], list)
    for gen in (kt_client.keys(), kt_client.values(), kt_client.items()):
        assert isinstance(gen, types.GeneratorType) and inspect.isgenerator(gen)
        gen.close()
    assert sorted(kt_client.items()) == [("a", "1"), ("b", "2")]
    assert sorted(kt_client.values()) == ["1", "2"]
    assert sorted(kt_client) == ["a", "b"]


def test_cursor_method_return_types(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2", "c": "3"}, db=1)
    cur = kt_client.cursor(db=1, cursor_id=5)
    assert isinstance(getattr(cur, "wrapped", cur), (Cursor, AsyncCursor)) and cur.cursor_id == 5
    typed(cur.jump(), True, bool)
    typed(cur.key(), "a", str)
    typed(cur.value(), "1", str)
    typed(cur.get(), ("a", "1"), tuple)
    typed(cur.step(), True, bool)
    typed(cur.step_back(), True, bool)
    typed(cur.jump_back(), True, bool)
    typed(cur.set_value("C", expire_time=datetime.timedelta(hours=1)), True, bool)
    typed(cur.seize(), ("c", "C"), tuple)
    typed(cur.jump("a"), True, bool)
    typed(cur.remove(), True, bool)
    typed(cur.key(step=True), "b", str)
    typed(cur.step(), False, bool)
    typed(cur.jump("zz"), False, bool)
    typed(cur.jump_back("0"), False, bool)
    cur.close()
    assert cur.closed is True


def test_item_access_forms_on_server(kt_client: KyotoTycoon) -> None:
    kt_client["k", 1] = ("v", datetime.timedelta(hours=1))
    kt_client["x", 1] = ("gone", -1)  # KT's -epoch form: 1 second after the epoch, long past
    assert kt_client["k", 1] == "v" and kt_client["x", 1] is None
    assert ("k", 1) in kt_client and ("k", "%") in kt_client and "k" not in kt_client
    del kt_client["k", "%"]
    assert kt_client["k", 1] is None and kt_client.get_bulk(["k", "x"], db=1) == {}


def test_set_database_switches_every_path(kt_client_factory: Any) -> None:
    client = fresh(kt_client_factory)
    client.set_database(1)
    assert client.set("k", "v") == 1 and client.add("a", "1") is True
    assert client.count() == 2 and client.path == "%" and client.match_prefix("") == ["a", "k"]
    assert list(client.keys()) == ["a", "k"] and client.get_bulk(["k"]) == {"k": "v"}
    client.set_database("*")
    assert client.count() == 0 and client.get("k") is None and client.count(db=1) == 2


def test_checkin_and_close_then_reuse(kt_client_factory: Any) -> None:
    client = fresh(kt_client_factory)
    client.set("k", "v")
    client.checkin()
    assert client.get("k") == "v" and client.add("k", "w") is False
    client.close()
    assert client.get("k") == "v" and client.exists("k") is True
    cur = client.cursor()
    assert cur.jump() is True
    client.close()  # the cursor holds a connection of its own
    assert cur.key() == "k"
    cur.close()
    client.close()
    client.close()  # twice is harmless
    assert client.count() == 1


# ------------------------------------------------------------------ semantics the spec leaves open


def test_synchronize_command_failure_raises(kt_client: KyotoTycoon) -> None:
    # Without -cmd the server cannot run any command: 500, never a False.
    with pytest.raises(InternalServerError, match="postprocessing failed"):
        kt_client.synchronize(command="no-such-command")
    with pytest.raises(InternalServerError):
        kt_client.synchronize(hard=True, command="a/b", db=1)


def test_vacuum_steps_and_expiry(kt_client: KyotoTycoon) -> None:
    kt_client.set("old", "v", expire_time=-1)
    kt_client.set("new", "v", expire_time=3600)
    assert kt_client.get("old") is None and kt_client.exists("old") is False
    assert kt_client.vacuum(step=1) is True and kt_client.vacuum() is True
    assert kt_client.get_bulk(["old", "new"]) == {"new": "v"}
    assert kt_client.count() == 1


def test_match_similar_distance(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({k: "1" for k in ["abc", "abd", "ab", "abcde", "xyz"]})
    assert kt_client.match_similar("abc") == ["abc", "ab", "abd"]  # server default distance 1, nearest first
    assert kt_client.match_similar("abc", 1) == ["abc", "ab", "abd"]
    assert kt_client.match_similar("abc", 0) == ["abc"]
    assert kt_client.match_similar("abc", 2) == ["abc", "ab", "abd", "abcde"]
    assert sorted(kt_client.match_similar("abc", 3)) == ["ab", "abc", "abcde", "abd", "xyz"]
    assert kt_client.match_similar("abc", 3, max_keys=2) == ["abc", "ab"]
    kt_client.set("caf\u00e9", "1")
    assert kt_client.match_similar("cafe", 1) == ["caf\u00e9"]  # str origin: compared by characters
    assert kt_client.match_similar(b"cafe", 1) == []  # bytes: \u00e9 is 2 bytes, distance 2


def test_expire_time_datetime_and_timedelta_every_writer(kt_client: KyotoTycoon) -> None:
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    later = datetime.timedelta(hours=1)
    kt_client.set_bulk({"b1": "v"}, expire_time=past)
    kt_client.set_bulk({"b2": "v"}, expire_time=later)
    assert kt_client.add("a1", "v", expire_time=past) is True
    kt_client.set("r", "v")
    assert kt_client.replace("r", "w", expire_time=past) is True
    assert kt_client.append("p", "v", expire_time=past) is True
    assert kt_client.cas("c", None, "v", expire_time=past) is True
    assert kt_client.incr("i", 1, expire_time=past) == 1
    assert kt_client.incr_double("d", 1.0, expire_time=later) == 1.0
    found = kt_client.get_bulk_raw(["b1", "b2", "a1", "r", "p", "c", "i", "d"])
    assert sorted(found) == ["b2", "d"]  # every record written with a past datetime is gone
    assert found["b2"] == b"v"


def test_incr_double_result_beyond_server_buffer_raises(kt_client: KyotoTycoon) -> None:
    # ktserver prints the result with %f into 128 bytes and marks the cut with '*': not a number to return.
    with pytest.raises(KyotoServerError, match="not a number"):
        kt_client.incr_double("huge", 1e300)
    assert kt_client.exists("huge") is True
    typed(kt_client.incr_double("small", 1e-3), 0.001, float)
    typed(kt_client.incr_double("neg", -2.5), -2.5, float)


# ------------------------------------------------------------------ server errors are never False / None


@pytest.mark.parametrize("call", [
    lambda c: c.add("k", "v", db="nodb"),
    lambda c: c.replace("k", "v", db="nodb"),
    lambda c: c.append("k", "v", db="nodb"),
    lambda c: c.cas("k", "a", "b", db="nodb"),
    lambda c: c.cas("k", None, None, db=9),
    lambda c: c.exists("k", db="nodb"),
    lambda c: c.exists("k", db=9),
    lambda c: c.seize("k", db="nodb"),
    lambda c: c.clear(db="nodb"),
    lambda c: c.clear(db=9),
    lambda c: c.synchronize(db="nodb"),
    lambda c: c.vacuum(db="nodb"),
    lambda c: c.vacuum(step=2, db=9),
    lambda c: c.count(db="nodb"),
    lambda c: c.status(db=9),
    lambda c: c.match_prefix("k", db="nodb"),
    lambda c: c.match_regex("k", db=9),
    lambda c: c.match_similar("k", db="nodb"),
    lambda c: c.incr("k", db="nodb"),
    lambda c: c.incr_double("k", db=9),
    lambda c: c.get("k", db="nodb"),
    lambda c: c.get_raw("k", db=9),
    lambda c: c.get_bulk(["k"], db=9),
    lambda c: c.get_bulk_raw(["k"], db="nodb"),
    lambda c: c.set_bulk({"k": "v"}, db=9),
    lambda c: c.remove("k", db=9),
    lambda c: c.remove_bulk(["k"], db="nodb"),
    lambda c: list(c.keys(db="nodb")),
    lambda c: list(c.values(db=9)),
    lambda c: list(c.items(db="nodb")),
    lambda c: c.cursor(db="nodb").jump(),
    lambda c: c.cursor(db=9).step(),
])
def test_unknown_database_raises(kt_client: KyotoTycoon, call: Any) -> None:
    with pytest.raises(BadRequestError):
        call(kt_client)
    assert kt_client.count() == 0 and kt_client.count(db=1) == 0


def test_default_db_unknown_raises_on_properties(kt_client_factory: Any) -> None:
    client = kt_client_factory(default_db=5)
    for call in (lambda: client.size, lambda: client.path, lambda: len(client), lambda: client.get("k"),
                 lambda: client.set("k", "v"), lambda: client.exists("k")):
        with pytest.raises(BadRequestError):
            call()


def test_other_server_errors_raise(kt_client: KyotoTycoon) -> None:
    with pytest.raises(NotImplementedByServerError):
        kt_client.cursor().jump_back()  # 501 on a hash database
    with pytest.raises(LogicalInconsistencyError):
        kt_client.match_regex("(")  # 450 here is an error, not an empty list
    kt_client.set("text", "abc")
    with pytest.raises(LogicalInconsistencyError):
        kt_client.incr_double("text", 1.0)
    with pytest.raises(KyotoServerError):
        kt_client.script("conflict")  # the function reports failure
    with pytest.raises(KyotoServerError):
        kt_client.script("no_such_procedure")


# ------------------------------------------------------------------ decode_keys=False: bytes keys everywhere


def test_decode_keys_false_every_key_path(kt_client_factory: Any) -> None:
    client = fresh(kt_client_factory, decode_keys=False)
    data = {"a\u00e9": "1", "b": "2"}
    client.set_bulk(data, db=1)
    client.set(b"\xff", "3", db=1)
    keys = [b"a\xc3\xa9", b"b", b"\xff"]
    typed(client.get_bulk(["a\u00e9", "b", b"\xff"], db=1), {keys[0]: "1", b"b": "2", b"\xff": "3"}, dict)
    assert client.get_bulk_raw(keys, db=1) == {keys[0]: b"1", b"b": b"2", b"\xff": b"3"}
    assert client.match_prefix("", db=1) == keys
    assert client.match_regex(".", db=1) == keys
    assert client.match_similar("b", 0, db=1) == [b"b"]
    assert list(client.keys(db=1)) == keys
    assert list(client.items(db=1)) == [(keys[0], "1"), (b"b", "2"), (b"\xff", "3")]
    assert list(client) == []
    cur = client.cursor(db=1)
    assert cur.jump() is True
    typed(cur.key(), keys[0], bytes)
    assert cur.get(step=True) == (keys[0], "1")
    assert cur.seize() == (b"b", "2")
    assert list(cur) == [(b"\xff", "3")]
    cur.close()
    assert client.script("echo", {"k\u00e9": "v"}) == {b"k\xc3\xa9": "v"}
    assert client.script("echo", {b"\xfe": b"v"}, encode_values=False) == {b"\xfe": b"v"}


def test_decode_keys_true_leaves_non_utf8_keys_as_bytes(kt_client: KyotoTycoon) -> None:
    kt_client.set(b"\xfe\xff", "v")
    kt_client.set("s", "v")
    assert sorted(kt_client.keys(), key=repr) == ["s", b"\xfe\xff"]
    assert kt_client.match_prefix(b"\xfe") == [b"\xfe\xff"]
    assert kt_client.get_bulk([b"\xfe\xff"]) == {b"\xfe\xff": "v"}


# ------------------------------------------------------------------ odd keys and values on the remaining paths


def test_odd_keys_on_bulk_match_and_cursor_paths(kt_client: KyotoTycoon) -> None:
    values = {key: ALL_BYTES + key.encode() for key in ODD_KEYS}
    assert kt_client.set_bulk(values, db=1) == len(ODD_KEYS)
    assert kt_client.get_bulk_raw(ODD_KEYS, db=1) == values
    for key in values:
        pattern = "^" + "".join("\\" + c if c in "+.*?()[]{}|^$\\" else c for c in key) + "$"
        if "\0" in key:
            # ktserver reads the regex, the keys it matches and the similarity origin as C strings (up to the NUL).
            assert kt_client.match_regex(pattern, db=1) == [key]
            assert kt_client.match_regex("^nul$", db=1) == [key]
            assert kt_client.match_similar(key, 0, db=1) == []  # the origin "nul" is 5 edits from the key
            assert kt_client.match_similar(key, 5, db=1) == [key]
            continue
        assert kt_client.match_regex(pattern, db=1) == [key], key
        assert kt_client.match_similar(key, 0, db=1) == [key]
        assert kt_client.exists(key, db=1) is True
        assert kt_client.incr_double(key + "#", 0.5) == 0.5
    cur = kt_client.cursor(db=1)
    assert cur.jump() is True
    seen = {}
    for key, _ in cur:
        seen[key] = kt_client.get_raw(key, db=1)
    assert seen == values
    assert cur.jump(ODD_KEYS[0]) is True and cur.set_value(b"x" + ALL_BYTES) is True
    assert kt_client.get_raw(ODD_KEYS[0], db=1) == b"x" + ALL_BYTES
    cur.close()
    assert kt_client.remove_bulk(ODD_KEYS, db=1) == len(ODD_KEYS)


def test_big_binary_values_on_http_paths(kt_client_factory: Any) -> None:
    client = fresh(kt_client_factory, serializer=KT_NONE)
    big = ALL_BYTES * (32 * 1024 * 1024 // 256)
    assert client.add("big", big, db=1) is True
    assert client.replace("big", big[::-1], db=1) is True
    assert client.append("big", ALL_BYTES, db=1) is True
    assert client.get_raw("big", db=1) == big[::-1] + ALL_BYTES
    assert client.set_bulk({"big2": big}, db=1) == 1
    assert client.get_bulk_raw(["big", "big2"], db=1) == {"big": big[::-1] + ALL_BYTES, "big2": big}
    items = dict(client.items(db=1))
    assert items == {"big": big[::-1] + ALL_BYTES, "big2": big}
    cur = client.cursor(db=1)
    assert cur.jump("big2") is True and cur.value() == big
    assert cur.set_value(big + b"!") is True
    assert cur.get() == ("big2", big + b"!")
    assert cur.seize() == ("big2", big + b"!")
    cur.close()
    assert client.script("echo", {"v": big}, encode_values=False) == {"v": big}


# ------------------------------------------------------------------ threads


@pytest.mark.blocking_client  # threads share the client
def test_threads_no_cross_talk_on_every_path(kt_client_factory: Any) -> None:
    client = fresh(kt_client_factory, serializer=KT_NONE)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(n: int) -> None:
        try:
            start.wait()
            mine = {f"t{n}\t{i}": bytes([n]) * (i * 97 % 5000) + ALL_BYTES for i in range(40)}
            assert client.set_bulk(mine, db=1) == 40
            for i, (key, value) in enumerate(mine.items()):
                assert client.get(key, db=1) == value
                assert client.add(key, b"x", db=1) is False
                assert client.cas(key, value, value + b"!", db=1) is True
                assert client.seize(key, db=1) == value + b"!"
                assert client.set(key, value, db=1) == 1
                assert client.script("echo", {key: value}) == {key: value}
                assert client.incr(f"ctr{n}") == i + 1
            assert client.get_bulk(list(mine), db=1) == mine
            assert sorted(client.match_prefix(f"t{n}\t", db=1)) == sorted(mine)
            with client.cursor(db=1) as cur:
                assert cur.jump(f"t{n}\t") is True
                got = {}
                for key, value in cur:
                    if not key.startswith(f"t{n}\t"):
                        break
                    got[key] = value
            assert got == mine
            assert {k: v for k, v in client.items(db=1) if k.startswith(f"t{n}\t")} == mine
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert client.count(db=1) == 6 * 40
    assert [client.get(f"ctr{n}") for n in range(6)] == [b"\x00" * 7 + b"\x28"] * 6


def test_key_of_every_byte_value_on_every_path(kt_client_factory: Any) -> None:
    client = fresh(kt_client_factory, serializer=KT_NONE, decode_keys=False)
    key = ALL_BYTES
    assert client.set(key, ALL_BYTES) == 1 and client.get(key) == ALL_BYTES
    assert client.get_bulk([key]) == {key: ALL_BYTES}
    assert client.exists(key) is True and client.add(key, b"x") is False
    assert client.replace(key, b"r") is True and client.append(key, ALL_BYTES) is True
    assert client.cas(key, b"r" + ALL_BYTES, ALL_BYTES) is True
    assert client.match_prefix(key[:200]) == [key]
    assert client.match_similar(key[1:], 1) == [key]  # one insertion away (an origin with no NUL)
    assert client.incr(key + b"#", 1) == 1
    assert client.remove(key + b"#") == 1
    assert list(client.keys()) == [key] and list(client.items()) == [(key, ALL_BYTES)]
    with client.cursor() as cur:
        assert cur.jump(key) is True and cur.key() == key and cur.get() == (key, ALL_BYTES)
        assert cur.seize() == (key, ALL_BYTES)
    assert client.set_bulk({key: ALL_BYTES}) == 1
    assert client.script("echo", {key: ALL_BYTES}) == {key: ALL_BYTES}
    assert client.seize(key) == ALL_BYTES and client.remove_bulk([key]) == 0
