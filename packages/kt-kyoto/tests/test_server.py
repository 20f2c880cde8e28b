"""KyotoTycoon against a running server (every backend the kt_embedded plugin provides: real and stand-in)."""

from __future__ import annotations

import datetime
import gc
import threading
from typing import Any

import pytest
from kt_core.errors import (
    BadRequestError,
    InvalidTypeError,
    KyotoServerError,
    LogicalInconsistencyError,
    NotImplementedByServerError,
)
from kt_kyoto import KT_JSON, KT_NONE, KT_PICKLE, AsyncCursor, Cursor, KyotoTycoon

pytestmark = pytest.mark.server

ALL_BYTES = bytes(range(256))
ODD_KEYS = ["tab\there", "new\nline", "cr\rlf\r\n", "nul\x00byte", "caf\u00e9 \u65e5\u672c", "sp ace=&%+", ""]


# ------------------------------------------------------------------ get / set / remove


def test_get_set_remove(kt_client: KyotoTycoon) -> None:
    assert kt_client.get("k") is None
    assert kt_client.get_raw("k") is None
    result = kt_client.set("k", "v\u00e9")
    assert result == 1 and type(result) is int
    value = kt_client.get("k")
    assert value == "v\u00e9" and type(value) is str
    assert kt_client.get_raw("k") == "v\u00e9".encode()
    removed = kt_client.remove("k")
    assert removed == 1 and type(removed) is int
    assert kt_client.remove("k") == 0
    assert kt_client.get("k") is None


def test_bytes_keys_and_decode_keys_false(kt_client_factory: Any) -> None:
    client = kt_client_factory(decode_keys=False)
    client.clear()
    client.set(b"\xff\xfe", b"v")
    client.set("s", "t")
    assert client.get(b"\xff\xfe") == "v"
    assert sorted(client.keys()) == [b"s", b"\xff\xfe"]
    assert client.get_bulk([b"s", "\xff"]) == {b"s": "t"}
    assert client.match_prefix("s") == [b"s"]


def test_odd_keys_round_trip_on_every_path(kt_client: KyotoTycoon) -> None:
    for i, key in enumerate(ODD_KEYS):
        value = ALL_BYTES + key.encode()
        assert kt_client.set(key, value) == 1
        assert kt_client.get_raw(key) == value
        assert kt_client.exists(key) is True
        assert kt_client.append(key, b"+") is True
        assert kt_client.replace(key, value) is True
        assert kt_client.cas(key, value, value + b"!") is True
        assert kt_client.seize(key) == value + b"!"
        assert kt_client.add(key, value, db=1) is True
        assert kt_client.get_bulk_raw([key], db=1) == {key: value}
        assert kt_client.match_prefix(key, db=1) == [key]
        assert sorted(kt_client.keys(db=1)) == [key]
        assert list(kt_client.items(db=1)) == [(key, value)]
        cur = kt_client.cursor(db=1)
        assert cur.jump(key) is True
        assert cur.key() == key
        assert cur.seize() == (key, value)
        cur.close()
        assert kt_client.incr(key, 3) == 3
        assert kt_client.remove(key) == 1
        assert kt_client.script("echo", {key: value}, encode_values=False) == {key: value}, i


@pytest.mark.parametrize("serializer", [KT_NONE, KT_JSON, KT_PICKLE])
def test_serializers_on_every_value_path(kt_client_factory: Any, serializer: str) -> None:
    client = kt_client_factory(serializer=serializer)
    client.clear()
    value: Any = ALL_BYTES if serializer == KT_NONE else {"a": [1, 2.5, "x\u00e9"], "b": None}
    other: Any = b"other" if serializer == KT_NONE else ["other"]
    assert client.set("k", value) == 1
    assert client.get("k") == value
    assert client.get_bulk(["k", "missing"]) == {"k": value}
    assert client.add("k", value) is False
    assert client.replace("k", other) is True
    assert client.cas("k", other, value) is True
    assert list(client.values()) == [value]
    assert list(client.items()) == [("k", value)]
    assert client.script("echo", {"x": value}) == {"x": value}
    assert client.seize("k") == value
    client.set_bulk({"a": value}, b=other)
    assert client.pop("b") == other


def test_large_value_32mb(kt_client_factory: Any) -> None:
    client = kt_client_factory(serializer=KT_NONE)
    client.clear()
    big = ALL_BYTES * (32 * 1024 * 1024 // 256)
    assert client.set("big", big) == 1
    assert client.get("big") == big
    assert client.get_bulk(["big"]) == {"big": big}
    assert client.cas("big", big, big + b"x") is True
    assert next(iter(client.values())) == big + b"x"
    assert client.seize("big") == big + b"x"
    assert client.script("echo", {"big": big}) == {"big": big}


# ------------------------------------------------------------------ bulk


def test_bulk(kt_client: KyotoTycoon) -> None:
    n = kt_client.set_bulk({"a": "1", "b": "2"}, c="3")
    assert n == 3 and type(n) is int
    found = kt_client.get_bulk(["a", "c", "zz"])
    assert found == {"a": "1", "c": "3"} and type(found) is dict
    assert kt_client.get_bulk_raw(["b"]) == {"b": b"2"}
    assert kt_client.update({"d": "4"}) == 1
    assert kt_client.set_bulk({}) == 0
    assert kt_client.remove_bulk(["a", "b", "zz"]) == 2
    assert kt_client.remove_bulk([]) == 0
    assert kt_client.count() == 2


# ------------------------------------------------------------------ conditional writes


def test_add_replace_append_cas(kt_client: KyotoTycoon) -> None:
    assert kt_client.add("k", "1") is True
    assert kt_client.add("k", "2") is False
    assert kt_client.replace("k", "3") is True
    assert kt_client.replace("nope", "3") is False
    assert kt_client.append("k", "4") is True
    assert kt_client.append("fresh", "x") is True  # a missing key is stored
    assert kt_client.get("k") == "34" and kt_client.get("fresh") == "x"
    assert kt_client.cas("k", "34", "5") is True
    assert kt_client.cas("k", "34", "6") is False
    assert kt_client.cas("new", None, "n") is True  # old None: must not exist
    assert kt_client.cas("new", "n", None) is True  # new None: remove
    assert kt_client.exists("new") is False
    assert kt_client.get("k") == "5"


def test_server_error_is_not_false(kt_client: KyotoTycoon) -> None:
    with pytest.raises(BadRequestError, match="no such database"):
        kt_client.add("k", "v", db="no-such-db")
    with pytest.raises(BadRequestError, match="no such database"):
        kt_client.cas("k", "a", "b", db=9)
    with pytest.raises(BadRequestError):
        kt_client.get("k", db=9)  # the binary protocol would skip it silently
    with pytest.raises(BadRequestError):
        kt_client.set("k", "v", db="no-such-db")
    assert kt_client.count() == 0


def test_exists_seize_pop(kt_client: KyotoTycoon) -> None:
    kt_client.set("k", "v")
    assert kt_client.exists("k") is True and "k" in kt_client
    assert kt_client.exists("zz") is False and "zz" not in kt_client
    assert kt_client.seize("k") == "v"
    assert kt_client.seize("k") is None
    kt_client.set("p", "q")
    assert kt_client.pop("p") == "q" and kt_client.get("p") is None


def test_incr(kt_client: KyotoTycoon) -> None:
    assert kt_client.incr("n") == 1
    result = kt_client.incr("n", 5)
    assert result == 6 and type(result) is int
    assert kt_client.incr("o", 1, orig=10) == 11
    assert kt_client.incr("n", -10) == -4
    d = kt_client.incr_double("d", 1.5)
    assert d == 1.5 and type(d) is float
    assert kt_client.incr_double("d", 0.25) == 1.75
    assert kt_client.incr_double("e", 1.0, orig=2.5) == 3.5
    kt_client.set("text", "abc")
    with pytest.raises(LogicalInconsistencyError):
        kt_client.incr("text")


# ------------------------------------------------------------------ expiry


def test_expire_time_forms(kt_client: KyotoTycoon) -> None:
    kt_client.set("past", "v", expire_time=datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc))
    assert kt_client.get("past") is None  # absolute time in the past: already expired
    kt_client.set("rel", "v", expire_time=datetime.timedelta(hours=1))
    kt_client.set("abs", "v", expire_time=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1))
    kt_client.set("int", "v", expire_time=3600)
    assert kt_client.add("addx", "v", expire_time=datetime.timedelta(hours=1)) is True
    assert kt_client.get_bulk(["rel", "abs", "int", "addx"]) == {"rel": "v", "abs": "v", "int": "v", "addx": "v"}
    assert kt_client.replace("addx", "w", expire_time=-978307200) is True  # KT form: -epoch, in the past
    assert kt_client.get("addx") is None


# ------------------------------------------------------------------ matching


def test_match(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"pa": "1", "pb": "2", "pc": "3", "q": "4"})
    result = kt_client.match_prefix("p")
    assert sorted(result) == ["pa", "pb", "pc"] and type(result) is list
    assert len(kt_client.match_prefix("p", max_keys=2)) == 2
    assert sorted(kt_client.match_regex("^p[ab]$")) == ["pa", "pb"]
    assert kt_client.match_regex("x") == []
    with pytest.raises(LogicalInconsistencyError):
        kt_client.match_regex("[")
    assert sorted(kt_client.match_similar("pa", 1)) == ["pa", "pb", "pc"]
    assert kt_client.match_similar("pa", 0) == ["pa"]
    assert len(kt_client.match_similar("pa", 2, max_keys=1)) == 1


# ------------------------------------------------------------------ database info and maintenance


def test_count_len_size_path_status_report(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2"})
    kt_client.set("c", "3", db=1)
    assert kt_client.count() == 2 and type(kt_client.count()) is int
    assert len(kt_client) == 2
    assert kt_client.count(db=1) == 1
    assert kt_client.count(db="%") == 1
    assert type(kt_client.size) is int and kt_client.size > 0
    assert kt_client.path == "*"
    # status/report values are the server's raw bytes, as kt 0.9.6 returns them.
    status = kt_client.status(db=1)
    assert status["count"] == b"1" and status["path"] == b"%" and status["size"].isdigit()
    report = kt_client.report()
    assert type(report) is dict and report["db_total_count"] == b"3"
    assert report["db_1"] == b"count=1 size=" + status["size"] + b" path=%"
    assert float(report["serv_current_time"]) > 0
    with pytest.raises(BadRequestError):
        kt_client.status(db=7)


def test_clear_synchronize_vacuum(kt_client: KyotoTycoon) -> None:
    kt_client.set("a", "1")
    assert kt_client.clear() is True
    assert kt_client.count() == 0
    assert kt_client.synchronize() is True
    assert kt_client.synchronize(hard=True, db=1) is True
    assert kt_client.vacuum() is True
    assert kt_client.vacuum(step=2, db=1) is True


def test_default_db(kt_client_factory: Any) -> None:
    client = kt_client_factory(default_db=1)
    client.clear()
    client["k"] = "v"
    assert client.get("k", db=0) is None and client.get("k", db="%") == "v"
    client.set_database("*")
    assert client.get("k") is None
    client.set_database(1)
    assert client["k"] == "v" and client.path == "%"


def test_item_access(kt_client: KyotoTycoon) -> None:
    kt_client["a"] = "1"
    kt_client["b", 1] = ("2", 3600)
    assert kt_client["a"] == "1"
    assert kt_client["b", 1] == "2" and kt_client["b"] is None
    assert ("b", 1) in kt_client and ("b", 0) not in kt_client
    del kt_client["b", 1]
    assert kt_client["b", 1] is None
    del kt_client["a"]
    assert kt_client["a"] is None


# ------------------------------------------------------------------ script


def test_script(kt_client: KyotoTycoon) -> None:
    result = kt_client.script("echo", {"a": "1"}, b="x\u00e9")
    assert result == {"a": "1", "b": "x\u00e9"} and type(result) is dict
    raw = kt_client.script("echo", {"k": ALL_BYTES}, encode_values=False)
    assert raw == {"k": ALL_BYTES}
    assert kt_client.script("echo") == {}
    with pytest.raises(KyotoServerError):
        kt_client.script("no_such_function_anywhere")


def test_script_fixed_records_failures_and_db(kt_client: KyotoTycoon) -> None:
    assert kt_client.script("sample", encode_values=False) == {
        "empty": b"", "tab_lf": b"a\tb\nc", "controls": b"\x01\x08\r\x1b\x7f", "high": b"\x80\xff", "text": b"kt"}
    for name in ("conflict", "badinput", "broken"):  # 450 / 400 / 500 over HTTP; 0xBF on the binary protocol
        with pytest.raises(KyotoServerError):
            kt_client.script(name, {"k": "v"})
    assert kt_client.script("echo", {"still": "in step"}) == {"still": "in step"}
    kt_client.set("a", "1")
    assert kt_client.script("store", {"b": "2", "c": "3"}) == {"stored": "2"}  # the script writes db 0
    assert kt_client.get("c") == "3"
    assert kt_client.script("count") == {"count": "3"}
    assert kt_client.script("fetch", {"a": "", "b": "", "missing": ""}) == {"a": "1", "b": "2"}


# ------------------------------------------------------------------ cursors and iteration


def test_cursor_moves_tree(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2", "c": "3"}, db=1)
    cur = kt_client.cursor(db=1)
    assert isinstance(getattr(cur, "wrapped", cur), (Cursor, AsyncCursor))  # the asyncio one behind a facade
    assert cur.jump() is True
    assert cur.key() == "a" and cur.value() == "1" and cur.get() == ("a", "1")
    assert cur.step() is True and cur.key() == "b"
    assert cur.step_back() is True and cur.key() == "a"
    assert cur.jump("b") is True and cur.get(step=True) == ("b", "2")
    assert cur.key() == "c"
    assert cur.step() is False
    assert cur.key() is None and cur.value() is None and cur.get() is None
    assert cur.jump_back() is True and cur.key() == "c"
    assert cur.jump_back("b") is True and cur.value(step=True) == "2"
    assert cur.key(step=True) == "a"
    assert cur.step_back() is False
    assert cur.jump("b") is True
    assert cur.set_value("B", step=True) is True and cur.key() == "c"
    assert kt_client.get("b", db=1) == "B"
    assert cur.jump("a") is True and cur.remove() is True and cur.key() == "b"
    assert cur.seize() == ("b", "B") and kt_client.count(db=1) == 1
    cur.close()
    assert cur.closed
    assert cur.key() is None  # a closed cursor is not valid: reads answer None without the server


def test_cursor_iteration_and_hash_limits(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2"})
    with kt_client.cursor() as cur:
        assert sorted(cur) == [("a", "1"), ("b", "2")]
        with pytest.raises(NotImplementedByServerError):
            cur.jump_back()
    empty = kt_client.cursor(db=1)
    assert empty.jump() is False and list(empty) == []
    assert empty.set_value("x") is False and empty.remove() is False and empty.seize() is None


def test_cursor_closed_on_server_when_dropped(kt_client: KyotoTycoon) -> None:
    kt_client.set("a", "1")
    pool = kt_client.pool
    in_use = pool.in_use_count
    cur = kt_client.cursor(cursor_id=77)
    assert cur.jump() is True
    assert pool.in_use_count == in_use + 1
    del cur
    gc.collect()
    assert pool.in_use_count == in_use
    # The connection came back to the pool without the cursor: a fresh cursor with the same id starts unpositioned.
    again = kt_client.cursor(cursor_id=77)
    assert again.key() is None
    again.close()


def test_keys_values_items_lazy(kt_client: KyotoTycoon) -> None:
    data = {f"k{i:04d}": f"v{i}" for i in range(1500)}
    kt_client.set_bulk(data, db=1)
    keys = kt_client.keys(db=1)
    assert next(keys) == "k0000"  # a generator: nothing more fetched yet than one batch
    keys.close()
    assert list(kt_client.keys(db=1)) == sorted(data)
    assert list(kt_client.values(db=1)) == [data[k] for k in sorted(data)]
    assert dict(kt_client.items(db=1)) == data
    assert list(kt_client.keys()) == []
    # An abandoned walk leaves the client usable.
    walk = kt_client.items(db=1)
    next(walk)
    del walk
    assert kt_client.count(db=1) == 1500


# ------------------------------------------------------------------ errors and threads


def test_wrong_types_raise(kt_client: KyotoTycoon) -> None:
    with pytest.raises(InvalidTypeError):
        kt_client.set(None, "v")  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        kt_client.set("k", [12])
    assert kt_client.count() == 0


@pytest.mark.blocking_client  # threads share the client
def test_threads_do_not_cross_talk(kt_client: KyotoTycoon) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(150):
                key = f"t{n}-{i}"
                value = f"{n}:{i}" * (i % 7 + 1)
                kt_client.set(key, value)
                assert kt_client.get(key) == value
                assert kt_client.exists(key) is True
                assert kt_client.incr(f"ctr{n}") == i + 1
            assert sorted(kt_client.match_prefix(f"t{n}-")) == sorted(f"t{n}-{i}" for i in range(150))
            kt_client.checkin()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert kt_client.count() == 8 * 151


def test_close_and_context_manager(kt_client_factory: Any) -> None:
    with kt_client_factory() as client:
        client.set("k", "v")
    client.close()
    assert client.get("k") == "v"  # a closed client reconnects on demand
    client.checkin()
