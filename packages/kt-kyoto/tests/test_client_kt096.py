"""KyotoTycoon members kt 0.9.6 programs use: keys_nonlazy(), report()/status() with raw bytes values,
count/size/path/len read from the right status fields, client.lua, close_idle(); on every backend."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kt_core.errors import InvalidTypeError
from kt_kyoto import KyotoTycoon


def test_keys_nonlazy_is_a_list_of_every_key(kt_client: KyotoTycoon) -> None:
    assert kt_client.keys_nonlazy() == [] and kt_client.keys_nonlazy(db=1) == []
    kt_client.set_bulk({"k3": "3", "k1": "1", "k2": "2"}, db=1)
    kt_client.set_bulk({"b": "1", "a": "2"})
    keys = kt_client.keys_nonlazy(db=1)
    assert type(keys) is list and keys == ["k1", "k2", "k3"]  # a tree database: in key order
    assert sorted(kt_client.keys_nonlazy()) == ["a", "b"] == sorted(kt_client.keys())
    assert kt_client.keys_nonlazy(db="%") == keys


def test_keys_nonlazy_follows_default_db_and_decode_keys(kt_client: KyotoTycoon, kt_client_factory: Any) -> None:
    # kt_client: both databases cleared first
    client = kt_client_factory(default_db=1, decode_keys=False)
    client.set_bulk({"\u00e9": "1", "z": "2"})
    assert client.keys_nonlazy() == [b"z", b"\xc3\xa9"]
    assert client.keys_nonlazy(db=0) == []


def test_report_values_are_raw_bytes(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2"})
    kt_client.set("c", "3", db=1)
    report = kt_client.report()
    assert all(type(k) is str and type(v) is bytes for k, v in report.items())
    assert report["db_0"].startswith(b"count=2 size=") and report["db_0"].endswith(b"path=*")
    assert report["db_1"].startswith(b"count=1 ") and report["db_1"].endswith(b"path=%")
    assert report["db_total_count"] == b"3"
    assert int(report["db_total_size"]) == int(kt_client.status()["size"]) + int(kt_client.status(db=1)["size"])
    assert report["conf_kt_version"].startswith(b"0.9.56")


def test_status_values_are_raw_bytes(kt_client: KyotoTycoon) -> None:
    kt_client.set_bulk({"a": "1", "b": "2", "c": "3"}, db=1)
    status = kt_client.status(db=1)
    assert all(type(k) is str and type(v) is bytes for k, v in status.items())
    assert status["count"] == b"3" and status["path"] == b"%"
    assert int(status["size"]) > 0
    assert kt_client.status()["count"] == b"0"


def test_report_and_status_keys_are_bytes_with_decode_keys_false(kt_client: KyotoTycoon,
                                                                 kt_client_factory: Any) -> None:
    # kt_client: both databases cleared first
    client = kt_client_factory(decode_keys=False)
    client.set("k", "v")
    status = client.status()
    assert status[b"count"] == b"1" and status[b"path"] == b"*"
    assert all(type(k) is bytes for k in status)
    report = client.report()
    assert report[b"db_0"].endswith(b"path=*") and all(type(k) is bytes for k in report)


def test_count_size_path_len_read_their_status_fields(kt_client: KyotoTycoon, kt_client_factory: Any) -> None:
    # kt_client: both databases cleared first
    client = kt_client_factory(default_db=1)
    client.set_bulk({"a": "1", "b": "22", "c": "333"})
    status = client.status()
    count, size, path = client.count(), client.size, client.path
    assert (type(count), type(size), type(path)) == (int, int, str)
    assert count == int(status["count"]) == 3 == len(client)
    assert size == int(status["size"])
    assert path == status["path"].decode() == "%"
    assert client.count(db=0) == 0 and client.count(db="*") == 0


def test_lua_runs_a_script_function(kt_client: KyotoTycoon) -> None:
    assert kt_client.lua.echo(key="x") == {"key": "x"}
    assert kt_client.lua.echo({"a": "1"}, b="2") == {"a": "1", "b": "2"}
    assert kt_client.lua.store(k="stored-by-lua") == {"stored": "1"}
    assert kt_client.get("k") == "stored-by-lua"


def test_lua_records_may_be_called_like_script_arguments(kt_client: KyotoTycoon) -> None:
    # script(name, name=...) would clash with its own argument; lua passes every keyword on as a record.
    assert kt_client.lua.echo(name="kt", __data="d") == {"name": "kt", "__data": "d"}
    assert kt_client.lua.echo({"name": "a"}, name="b") == {"name": "b"}  # keywords win, as in dict(m, **kw)
    assert kt_client.lua.echo(v="x", encode_values=False) == {"v": b"x"}  # still the script option


def test_lua_refuses_what_is_not_records(kt_client: KyotoTycoon) -> None:
    with pytest.raises(InvalidTypeError):
        kt_client.lua.echo("not a mapping")
    with pytest.raises(InvalidTypeError):
        kt_client.lua.echo({}, {})


def test_close_idle_closes_only_connections_idle_that_long(kt_client: KyotoTycoon) -> None:
    pool = kt_client.pool
    kt_client.set("k", "v")
    kt_client.checkin()  # the thread's connection goes back to the pool, idle
    idle = pool.idle_count
    assert idle >= 1
    assert kt_client.close_idle(3600) == 0 and pool.idle_count == idle
    time.sleep(0.05)
    assert kt_client.close_idle(0.01) == idle and pool.idle_count == 0
    assert kt_client.get("k") == "v"  # a new connection when one is needed
    assert kt_client.close_idle() == 0  # default n=60: the fresh one stays
