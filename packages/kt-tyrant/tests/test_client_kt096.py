"""TokyoTyrant and QueryBuilder as kt 0.9.6 programs use them: iteration, the admin calls (clear_cache,
defragment, restore, set_master), False on the server's refusal, misc's None, kt's search tuples,
QueryBuilder clones, status types, lua and close_idle.

Server tests run on the real ttserver where installed and on the stand-in. A refusal the server only
gives when told to (``ttserver -mask ...``) is tested on a private server started with that option.
"""

from __future__ import annotations

import datetime
import re
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from kt_core.codec import tyrant as T
from kt_core.errors import InvalidArgumentError, InvalidTypeError, TokyoTyrantError
from kt_core.io.pool import ThreadConnections
from kt_embedded.managers import STANDIN, EmbeddedTokyoTyrantServer, find_free_port
from kt_embedded.pytest_plugin import _start
from kt_tyrant import (
    INDEX_NUM,
    INDEX_STR,
    OP_NUM_GE,
    OP_NUM_LT,
    OP_STR_STARTSWITH,
    ORDER_NUM_ASC,
    ORDER_NUM_DESC,
    ORDER_STR_ASC,
    QueryBuilder,
    TokyoTyrant,
)

T0 = 1_500_000_000  # 2017-07-14, seconds: the update-log records below are stamped just after it
US = 1_000_000
PEOPLE = {"ann": {"name": "ann", "age": "31"}, "bob": {"name": "bob", "age": "25"},
          "cat": {"name": "cat", "age": "47"}, "dan": {"name": "dan", "age": "19"}}


# ---------------------------------------------------------------- helpers


@pytest.fixture
def private_tt(request: pytest.FixtureRequest, kt_backend: str, tmp_path: Path) -> Iterator[Callable[..., TokyoTyrant]]:
    """``start(*server_args, database="*")``: a server of its own (real or stand-in, as kt_backend) run in
    tmp_path, for options the shared servers do not have (-mask) and state they must not get (a master:
    ttserver then writes its replication time stamp file into its working directory)."""
    clients: list[TokyoTyrant] = []

    def start(*server_args: str, database: str = "*") -> TokyoTyrant:
        manager = EmbeddedTokyoTyrantServer(server="ttserver" if kt_backend == "real" else STANDIN, database=database,
                                            server_args=list(server_args), cwd=str(tmp_path))
        _start(request, manager)  # skips (or fails under KT_REQUIRE_REAL) without a real ttserver
        assert manager.port is not None
        client = TokyoTyrant(port=manager.port)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()


def _logged(request: bytes, succeeded: bool = True) -> bytes:
    """A request as ttserver's update log keeps it: misc without its options field, then 0 if it succeeded."""
    if request[1] == 0x90:
        request = request[:6] + request[10:]
    return request + (b"\x00" if succeeded else b"\x01")


def _write_ulog(directory: Path, records: list[tuple[int, bytes]], number: int = 1) -> Path:
    """An update-log file as ttserver -ulog writes it: per record 0xC9, time stamp, sid, mid, size, message."""
    directory.mkdir(parents=True, exist_ok=True)
    data = b"".join(struct.pack(">BQHHI", 0xC9, stamp, 1, 0, len(message)) + message for stamp, message in records)
    (directory / f"{number:08d}.ulog").write_bytes(data)
    return directory


LOG = [  # (time stamp in usec, logged message)
    (T0 * US + 1, _logged(T.encode_put(b"a", b"1"))),
    (T0 * US + 2, _logged(T.encode_put(b"b", b"2"))),
    (T0 * US + 3, _logged(T.encode_putcat(b"a", b"x"))),
    (T0 * US + 4, _logged(T.encode_out(b"b"))),
    (T0 * US + 5, _logged(T.encode_misc(b"putlist", [b"c", b"3", b"d", b"4"]))),
    (T0 * US + 7, _logged(T.encode_addint(b"n", 5))),
]


def _records(client: TokyoTyrant) -> dict[str, Any]:
    found = client.get_bulk_raw(["a", "b", "c", "d", "n"])
    return {k: (int.from_bytes(v, "little") if k == "n" else v.decode()) for k, v in found.items()}


def _wait_for_status(client: TokyoTyrant, name: str, value: object, seconds: float = 6.0) -> dict[str, Any]:
    """The status once ``name`` shows ``value`` (ttserver's replication thread updates rts once a second)."""
    deadline = time.monotonic() + seconds
    while True:
        status = client.status()
        if status.get(name) == value or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def _kt096_status(text: str) -> dict[str, Any]:
    """kt 0.9.6's TokyoTyrant.status(): digits -> int, d.d -> float, the rest str."""
    status: dict[str, Any] = {}
    for key_value in text.splitlines():
        key, value = key_value.split("\t", 1)
        if value.isdigit():
            status[key] = int(value)
        elif re.match(r"^\d+\.\d+$", value):
            status[key] = float(value)
        else:
            status[key] = value
    return status


def _raw_stat(client: TokyoTyrant) -> str:
    with socket.create_connection((client.host, client.port), timeout=10) as sock:
        sock.sendall(T.encode_stat())
        buf = b""
        while True:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection"
            buf += chunk
            r = T.read_stat(buf, 0, len(buf), 1 << 20)
            if not isinstance(r, int):
                assert r[1] == 0
                return str(r[2])


# ---------------------------------------------------------------- iteration


def _check_iteration(client: TokyoTyrant, ordered: bool) -> None:
    assert list(client) == []
    client.set_bulk({"b": "2", "a": "1", "c": "3"})
    keys = [key for key in client]
    assert sorted(keys) == ["a", "b", "c"] and all(type(k) is str for k in keys)
    if ordered:
        assert keys == ["a", "b", "c"]  # a tree iterates in key order
    assert set(iter(client)) == set(client.keys())


def test_iterating_a_hash_gives_every_key(tt_client: TokyoTyrant) -> None:
    _check_iteration(tt_client, ordered=False)


def test_iterating_a_memory_tree_gives_every_key_in_order(tt_tree_client: TokyoTyrant) -> None:
    _check_iteration(tt_tree_client, ordered=True)


def test_iterating_a_btree_file_gives_every_key_in_order(tt_btree_client: TokyoTyrant) -> None:
    _check_iteration(tt_btree_client, ordered=True)


def test_items_from_a_start_key_on_a_memory_tree(tt_tree_client: TokyoTyrant) -> None:
    _check_tree_items(tt_tree_client)


def test_items_from_a_start_key_on_a_btree_file(tt_btree_client: TokyoTyrant) -> None:
    _check_tree_items(tt_btree_client)


def _check_tree_items(client: TokyoTyrant) -> None:
    client.set_bulk({"a": "1", "b": "2", "c": "3", "d": "4"})
    everything = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
    assert client.items() == everything
    assert client.items(None) == everything
    assert client.items("") == everything  # kt 0.9.6: an empty start key starts at the beginning
    rest = client.items("c")
    assert type(rest) is list and rest == [("c", "3"), ("d", "4")]
    assert client.items("bb") == [("c", "3"), ("d", "4")]  # a tree starts at the next key
    assert client.items(b"b") == [("b", "2"), ("c", "3"), ("d", "4")]


def test_items_from_a_start_key_keeps_duplicates(tt_btree_client: TokyoTyrant) -> None:
    tt_btree_client.set("k", "1")
    assert tt_btree_client.setdup("k", "2") is True
    tt_btree_client.set("m", "3")
    assert tt_btree_client.items("k") == [("k", "1"), ("k", "2"), ("m", "3")]
    assert tt_btree_client.iter_from("k") == {"k": "2", "m": "3"}  # a dict keeps one value per key


def test_items_from_a_start_key_on_a_hash(tt_client: TokyoTyrant) -> None:
    tt_client.set_bulk({f"k{i}": str(i) for i in range(10)})
    order = tt_client.items()
    assert sorted(order) == sorted((f"k{i}", str(i)) for i in range(10))
    start = order[4][0]
    assert tt_client.items(start) == order[4:]  # the hash's own order, from that key on


def test_items_from_a_missing_start_key(tt_client: TokyoTyrant, tt_tree_client: TokyoTyrant,
                                        tt_btree_client: TokyoTyrant, tt_table_client: TokyoTyrant) -> None:
    tt_tree_client.set_bulk({"a": "1", "b": "2"})
    assert tt_tree_client.items("zz") == []  # the in-memory tree: nothing past the end, no error
    tt_btree_client.set_bulk({"a": "1", "b": "2"})
    with pytest.raises(TokyoTyrantError):  # the B+ tree file cannot jump past its last key
        tt_btree_client.items("zz")
    tt_client.set_bulk({"a": "1", "b": "2"})
    assert len(tt_client.items()) == 2  # leaves the shared iterator at the end
    assert tt_client.items("missing") == []  # the in-memory hash ignores a missing key: still at the end
    tt_table_client.set("a", {"c": "1"})
    with pytest.raises(TokyoTyrantError):  # the table (a file) refuses a key it cannot start at
        tt_table_client.items("missing")
    assert tt_table_client.items("a") == [("a", {"c": "1"})]


# ---------------------------------------------------------------- clear_cache and defragment


def test_clear_cache_and_defragment_on_a_btree_file(tt_btree_client: TokyoTyrant) -> None:
    _check_cache_and_defrag(tt_btree_client, "v")


def test_clear_cache_and_defragment_on_a_table(tt_table_client: TokyoTyrant) -> None:
    _check_cache_and_defrag(tt_table_client, {"c": "v"})


def _check_cache_and_defrag(client: TokyoTyrant, value: Any) -> None:
    client.set_bulk({f"k{i}": value for i in range(100)})
    client.remove_bulk([f"k{i}" for i in range(0, 100, 2)])
    assert client.clear_cache() is True
    assert client.defragment() is True
    assert client.defragment(1) is True
    assert client.defragment(nsteps=1000) is True
    assert client.count() == 50 and client.get("k1") == value and client.get("k0") is None


def test_clear_cache_and_defragment_refused_by_memory_databases(tt_client: TokyoTyrant,
                                                                 tt_tree_client: TokyoTyrant) -> None:
    for client in (tt_client, tt_tree_client):
        client.set("k", "v")
        assert client.clear_cache() is False  # tcadb has neither for `*` and `+`: ttserver answers code 1
        assert client.defragment() is False
        assert client.defragment(10) is False
        assert client.get("k") == "v"


def test_defragment_checks_nsteps(tt_client: TokyoTyrant) -> None:
    with pytest.raises(InvalidArgumentError):
        tt_client.defragment(-1)
    with pytest.raises(InvalidTypeError):
        tt_client.defragment("10")  # type: ignore[arg-type]


# ---------------------------------------------------------------- restore


def test_restore_replays_an_update_log(tt_client: TokyoTyrant, tmp_path: Path) -> None:
    ulog = _write_ulog(tmp_path / "ulog", LOG)
    tt_client.set("b", "old")
    assert tt_client.restore(str(ulog), 0) is True
    assert _records(tt_client) == {"a": "1x", "c": "3", "d": "4", "n": 5}
    tt_client.clear()
    assert tt_client.restore(str(ulog).encode(), T0 * US + 4) is True  # a bytes path; earlier records skipped
    assert _records(tt_client) == {"c": "3", "d": "4", "n": 5}


def test_restore_takes_a_datetime(tt_client: TokyoTyrant, tmp_path: Path) -> None:
    ulog = str(_write_ulog(tmp_path / "ulog", LOG))
    # A naive datetime is local time (kt 0.9.6: mktime(timetuple()) * 1e6 + microsecond): T0 + 6 usec.
    naive = datetime.datetime.fromtimestamp(T0).replace(microsecond=6)
    assert tt_client.restore(ulog, naive) is True
    assert _records(tt_client) == {"n": 5}
    tt_client.clear()
    # An aware datetime is its own instant, whatever the local zone: T0 + 5 usec.
    aware = datetime.datetime.fromtimestamp(T0, datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    assert tt_client.restore(ulog, aware.replace(microsecond=5)) is True
    assert _records(tt_client) == {"c": "3", "d": "4", "n": 5}
    tt_client.clear()
    assert tt_client.restore(ulog, float(T0 * US + 7)) is True  # a float is microseconds too
    assert _records(tt_client) == {"n": 5}


def test_restore_refusals(tt_client: TokyoTyrant, tmp_path: Path) -> None:
    assert tt_client.restore(str(tmp_path / "missing"), 0) is False
    (tmp_path / "file").write_bytes(b"x")
    assert tt_client.restore(str(tmp_path / "file"), 0) is False  # not a directory
    (tmp_path / "empty").mkdir()
    assert tt_client.restore(str(tmp_path / "empty"), 0) is True  # nothing to replay
    bad = _write_ulog(tmp_path / "bad", [(T0 * US, _logged(T.encode_put(b"x", b"1"))), (T0 * US + 1, b"\xc8\x99\x00")])
    assert tt_client.restore(str(bad), 0) is False  # a command the log reader does not know
    assert tt_client.get("x") == "1"  # what came before it was replayed
    assert tt_client.count() == 1


def test_restore_consistency_check_option(tt_client: TokyoTyrant, tmp_path: Path) -> None:
    ulog = str(_write_ulog(tmp_path / "ulog", LOG))
    # From T0+4 on, the first record is "out b", logged as a success: with no b here its replay fails.
    assert tt_client.restore(ulog, T0 * US + 4, options=1) is False  # RDBROCHKCON stops there
    assert _records(tt_client) == {}
    assert tt_client.restore(ulog, T0 * US + 4) is True  # without it the replay goes on
    assert _records(tt_client) == {"c": "3", "d": "4", "n": 5}


def test_restore_checks_its_arguments(tt_client: TokyoTyrant, tmp_path: Path) -> None:
    for stamp in (-1, 1 << 64, float("nan")):
        with pytest.raises(InvalidArgumentError):
            tt_client.restore(str(tmp_path), stamp)
    for stamp in ("0", None, True, datetime.date(2020, 1, 1)):
        with pytest.raises(InvalidTypeError):
            tt_client.restore(str(tmp_path), stamp)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        tt_client.restore(str(tmp_path), 0, options="1")  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        tt_client.restore(3, 0)  # type: ignore[arg-type]
    assert tt_client.count() == 0  # and the connection is still in step


# ---------------------------------------------------------------- set_master


def test_set_master_shows_in_status(private_tt: Callable[..., TokyoTyrant]) -> None:
    client = private_tt()
    nobody = find_free_port()  # no master answers there: the server keeps trying, harmlessly
    assert "mhost" not in client.status()
    assert client.set_master("127.0.0.1", nobody, 0) is True
    status = client.status()
    assert status["mhost"] == "127.0.0.1" and status["mport"] == nobody and type(status["mport"]) is int
    assert client.set_master("", 0, 0) is True  # no master any more
    assert "mhost" not in client.status() and "mport" not in client.status()


def test_set_master_time_stamp_as_the_server_reads_it(private_tt: Callable[..., TokyoTyrant]) -> None:
    client = private_tt()
    nobody = find_free_port()
    stamp = (T0 + 60) * US + 123
    assert client.set_master("127.0.0.1", nobody, stamp) is True
    assert _wait_for_status(client, "rts", stamp)["rts"] == stamp
    naive = datetime.datetime.fromtimestamp(T0 + 120).replace(microsecond=456)
    assert client.set_master("127.0.0.1", nobody, naive) is True
    assert _wait_for_status(client, "rts", (T0 + 120) * US + 456)["rts"] == (T0 + 120) * US + 456
    aware = datetime.datetime.fromtimestamp(T0 + 180, datetime.timezone(datetime.timedelta(hours=-7)))
    assert client.set_master("127.0.0.1", nobody, aware.replace(microsecond=789), options=1) is True
    status = _wait_for_status(client, "rts", (T0 + 180) * US + 789)
    assert status["rts"] == (T0 + 180) * US + 789 and type(status["delay"]) is float
    assert client.set_master("", 0, 0) is True


def test_set_master_checks_its_arguments(tt_client: TokyoTyrant) -> None:
    with pytest.raises(InvalidTypeError):
        tt_client.set_master("127.0.0.1", "1978", 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        tt_client.set_master("127.0.0.1", -1, 0)
    with pytest.raises(InvalidArgumentError):
        tt_client.set_master("127.0.0.1", 1978, -5)
    with pytest.raises(InvalidTypeError):
        tt_client.set_master(None, 1978, 0)  # type: ignore[arg-type]
    assert "mhost" not in tt_client.status()  # nothing was sent


# ---------------------------------------------------------------- False when the server refuses


def test_refused_binary_commands_return_false(private_tt: Callable[..., TokyoTyrant], tmp_path: Path) -> None:
    client = private_tt("-mask", "put,putcat,putshl,vanish,sync,optimize,copy,restore,setmst")
    assert client.set("k", "v") is False
    assert client.get("k") is None
    assert client.add("k", "v") is True  # putkeep is not masked
    assert client.append("k", "w") is False
    assert client.addshl("k", "w", 1) is False
    assert client.get("k") == "v"
    assert client.clear() is False
    assert client.count() == 1
    assert client.synchronize() is False
    assert client.optimize("") is False
    assert client.copy(str(tmp_path / "copy.tch")) is False
    assert not (tmp_path / "copy.tch").exists()
    (tmp_path / "empty").mkdir()
    assert client.restore(str(tmp_path / "empty"), 0) is False
    assert client.set_master("127.0.0.1", find_free_port(), 0) is False
    assert "mhost" not in client.status()
    assert client.get("k") == "v"  # in step after every refusal


def test_masked_misc_answers_success_without_doing_anything(private_tt: Callable[..., TokyoTyrant]) -> None:
    # A ttserver quirk the client cannot see through: a -mask'ed misc call answers code 0 with no result.
    client = private_tt("-mask", "misc")
    assert client.misc("put", ["k", "v"]) == []
    assert client.misc("get", ["k"]) == []
    assert client.set_bulk({"a": "1"}) is True
    assert client.get("a") is None
    assert client.set("a", "1") is True and client.get("a") == "1"


def test_copy_to_a_missing_directory_is_false(tt_client: TokyoTyrant, tmp_path: Path) -> None:
    tt_client.set("k", "v")
    assert tt_client.copy(str(tmp_path / "missing" / "copy.tch")) is False
    assert not (tmp_path / "missing").exists()
    assert tt_client.copy(str(tmp_path / "copy.tch")) is True
    assert (tmp_path / "copy.tch").is_file()
    assert tt_client.get("k") == "v"


def test_synchronize_optimize_clear_succeed(tt_btree_client: TokyoTyrant) -> None:
    tt_btree_client.set_bulk({"a": "1", "b": "2"})
    assert tt_btree_client.synchronize() is True
    assert tt_btree_client.optimize("") is True
    assert tt_btree_client.get_bulk(["a", "b"]) == {"a": "1", "b": "2"}
    assert tt_btree_client.clear() is True
    assert tt_btree_client.count() == 0


def test_index_calls_refused_return_false(tt_client: TokyoTyrant, tt_table_client: TokyoTyrant) -> None:
    assert tt_client.set_index("age", INDEX_NUM) is False  # not a table database
    assert tt_client.optimize_index("age") is False
    assert tt_client.delete_index("age") is False
    for column in ("age", "name"):
        tt_table_client.delete_index(column)  # whatever an earlier test left
    assert tt_table_client.delete_index("age") is False  # no index on it
    assert tt_table_client.optimize_index("age") is False
    assert tt_table_client.set_index("age", INDEX_NUM) is True
    assert tt_table_client.optimize_index("age") is True
    with pytest.raises(TokyoTyrantError) as info:  # the API: check_exists raises for an existing index
        tt_table_client.set_index("age", INDEX_STR, check_exists=True)
    assert info.value.code == 1
    assert tt_table_client.delete_index("age") is True
    assert tt_table_client.delete_index("age") is False


def test_query_delete_refused_by_a_hash_is_false(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "v")
    query = QueryBuilder().filter("age", OP_NUM_GE, 1)
    assert query.delete(tt_client) is False
    assert tt_client.search(query.build_search(), "out") is False
    assert tt_client.get("k") == "v"
    with pytest.raises(TokyoTyrantError):  # a list of keys has no False: still an error
        query.execute(tt_client)
    with pytest.raises(TokyoTyrantError):
        query.count(tt_client)


def test_bulk_and_dup_calls_answer_booleans(tt_client: TokyoTyrant, tt_btree_client: TokyoTyrant) -> None:
    assert tt_client.set_bulk({"a": "1", "b": "2"}) is True
    assert tt_client.remove_bulk(["a", "missing"]) is True  # a missing key is no refusal
    assert tt_client.get_bulk(["a", "b"]) == {"b": "2"}
    assert tt_client.setdup("b", "3") is False  # only a B+ tree file keeps duplicates
    assert tt_client.setdupback("b", "3") is False
    assert tt_client.get("b") == "2"
    assert tt_btree_client.setdup("b", "3") is True and tt_btree_client.setdupback("b", "1") is True
    assert tt_btree_client.misc("getlist", ["b"]) == [b"b", b"1", b"b", b"3"]


# ---------------------------------------------------------------- misc


def test_misc_returns_none_when_refused(tt_client: TokyoTyrant, tt_table_client: TokyoTyrant) -> None:
    assert tt_client.misc("put", ["k", "v"]) == []
    got = tt_client.misc("get", ["k"], update_log=False)
    assert type(got) is list and got == [b"v"]
    assert tt_client.misc("get", [b"missing"]) is None  # kt 0.9.6: tt.misc('get', [b'missing']) is None
    assert tt_client.misc("out", ["missing"]) is None
    assert tt_client.misc("range", ["a"]) is None  # a hash has no range
    assert tt_client.misc("no such function") is None
    assert tt_client.misc("getpart", ["k", 0, 1]) == [b"v"]
    assert tt_table_client.misc("genuid") is not None
    assert tt_client.misc("get", ["k"]) == [b"v"]  # still in step


# ---------------------------------------------------------------- search with kt 0.9.6 expressions


def _people(client: TokyoTyrant) -> None:
    for column in ("age", "name"):
        client.delete_index(column)
    assert client.set_bulk(PEOPLE) is True


def test_search_takes_kt096_tuples(tt_table_client: TokyoTyrant) -> None:
    _people(tt_table_client)
    older = [("addcond", "age", OP_NUM_GE, 25), ("setorder", "age", ORDER_NUM_DESC)]
    assert tt_table_client.search(older) == ["cat", "ann", "bob"]
    assert tt_table_client.search([*older, ("setlimit", 2, 1)]) == ["ann", "bob"]
    assert tt_table_client.search(older, "count") == 3
    assert tt_table_client.search([("addcond", "name", OP_STR_STARTSWITH, b"b")], "get") == [("bob", PEOPLE["bob"])]
    # the same as the bytes form QueryBuilder builds, and the two mix
    built = QueryBuilder().filter("age", OP_NUM_GE, 25).order_by("age", ORDER_NUM_DESC).build_search()
    assert tt_table_client.search(built) == ["cat", "ann", "bob"]
    assert tt_table_client.search([built[0], ["setorder", "name", ORDER_STR_ASC]]) == ["ann", "bob", "cat"]
    assert tt_table_client.search([("addcond", "age", OP_NUM_LT, 20.5)], "out") is True
    assert sorted(tt_table_client.keys()) == ["ann", "bob", "cat"]


def test_search_tuples_are_checked(tt_table_client: TokyoTyrant) -> None:
    with pytest.raises(InvalidArgumentError):
        tt_table_client.search([("addcond", "a\x00b", OP_NUM_GE, 1)])  # a NUL would shift the fields
    with pytest.raises(InvalidTypeError):
        tt_table_client.search(("addcond", "age", OP_NUM_GE, 1))  # type: ignore[arg-type]  # one tuple, not a list
    with pytest.raises(InvalidTypeError):
        tt_table_client.search("addcond")  # type: ignore[arg-type]
    assert tt_table_client.search([]) == []  # still in step


# ---------------------------------------------------------------- QueryBuilder clones


def test_query_builder_methods_return_new_builders() -> None:
    base = QueryBuilder()
    refined = base.filter("age", OP_NUM_GE, 30)
    assert refined is not base and base.build_search() == []
    ordered = refined.order_by("age", ORDER_NUM_ASC)
    limited = ordered.limit(2)
    skipped = limited.offset(1)
    assert refined.build_search() == [b"addcond\x00age\x0010\x0030"]
    assert ordered.build_search() == [b"addcond\x00age\x0010\x0030", b"setorder\x00age\x002"]
    assert limited.build_search()[-1] == b"setlimit\x002\x000"
    assert skipped.build_search()[-1] == b"setlimit\x002\x001"
    assert len({id(q) for q in (base, refined, ordered, limited, skipped)}) == 5


def test_query_builder_clone_is_independent() -> None:
    query = QueryBuilder().filter("age", OP_NUM_GE, 30).order_by("age").limit(5).offset(1)
    copy = query.clone()
    assert copy is not query and copy.build_search() == query.build_search()
    changed = copy.filter("name", OP_STR_STARTSWITH, "a").order_by("name", ORDER_NUM_DESC).limit(None).offset(None)
    assert query.build_search() == copy.build_search()  # neither the clone nor the original changed
    assert changed.build_search() == [b"addcond\x00age\x0010\x0030", b"addcond\x00name\x002\x00a",
                                      b"setorder\x00name\x003"]
    assert QueryBuilder().clone().build_search() == []


def test_query_builder_checks_arguments_before_cloning() -> None:
    query = QueryBuilder().filter("age", OP_NUM_GE, 30)
    for bad in (lambda: query.filter("age", 99, 1), lambda: query.order_by("age", 9), lambda: query.limit(-1),
                lambda: query.offset("1")):
        with pytest.raises((InvalidArgumentError, InvalidTypeError)):
            bad()
    assert query.build_search() == [b"addcond\x00age\x0010\x0030"]


def test_query_builder_refined_two_ways_on_the_server(tt_table_client: TokyoTyrant) -> None:
    _people(tt_table_client)
    adults = QueryBuilder().filter("age", OP_NUM_GE, 25)
    oldest = adults.order_by("age", ORDER_NUM_DESC).limit(1)
    b_names = adults.filter("name", OP_STR_STARTSWITH, "b")
    assert oldest.execute(tt_table_client) == ["cat"]
    assert b_names.execute(tt_table_client) == ["bob"]
    assert sorted(adults.execute(tt_table_client)) == ["ann", "bob", "cat"]  # the base query is unchanged
    assert adults.count(tt_table_client) == 3
    assert b_names.delete(tt_table_client) is True
    assert adults.count(tt_table_client) == 2 and oldest.get(tt_table_client) == [("cat", PEOPLE["cat"])]


# ---------------------------------------------------------------- status types


def test_status_types_match_kt096(tt_client: TokyoTyrant) -> None:
    ours = tt_client.status()
    theirs = _kt096_status(_raw_stat(tt_client))
    assert set(ours) == set(theirs)
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}
    for name in ("version", "libver", "protver", "type", "path", "pid", "sid", "bigend"):
        assert ours[name] == theirs[name], name
    assert type(ours["version"]) is str and type(ours["rnum"]) is int and type(ours["time"]) is float
    assert type(ours["protver"]) is float and ours["type"] == "on-memory hash"


def test_status_types_with_a_master(private_tt: Callable[..., TokyoTyrant]) -> None:
    client = private_tt()
    assert client.set_master("127.0.0.1", find_free_port(), 0) is True
    ours = client.status()
    theirs = _kt096_status(_raw_stat(client))
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}
    assert type(ours["mhost"]) is str and type(ours["mport"]) is int and type(ours["rts"]) is int
    assert type(ours["delay"]) is float


# ---------------------------------------------------------------- lua and close_idle


def test_lua_calls_the_ext_functions(tt_client: TokyoTyrant) -> None:
    assert tt_client.lua.pair("k", "v") == b"k=v"
    assert tt_client.lua.pair(key="a", value="b") == b"a=b"
    assert tt_client.lua.getset("g", "new") == b""
    assert tt_client.lua.getset("g", "newer") == b"new"
    assert tt_client.get("g") == "newer"
    assert tt_client.lua.pair("k", "v", decode_result=True) == "k=v"
    with pytest.raises(TokyoTyrantError):
        tt_client.lua.reject("k", "v")


def test_close_idle_closes_connections_idle_longer_than_n(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "v")
    tt_client.checkin()
    assert tt_client.pool.idle_count == 1
    assert tt_client.close_idle(60) == 0  # idle for less than a minute
    assert tt_client.close_idle() == 0  # n=60 by default
    time.sleep(0.2)
    assert tt_client.close_idle(0.1) == 1
    assert tt_client.pool.idle_count == 0
    assert tt_client.get("k") == "v"  # a new connection
    tt_client.checkin()
    assert tt_client.close_idle(0) == 1


# ---------------------------------------------------------------- reply codes other than the refusal


class _Code2Handler(socketserver.BaseRequestHandler):
    """Answers every request with reply code 2, which ttserver never sends."""

    def handle(self) -> None:
        buf = b""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            buf += chunk
            while buf:
                r = T.parse_request(buf, 0, len(buf), 1 << 20)
                if isinstance(r, int):
                    break
                command = r[1][0]
                buf = buf[r[0]:]
                self.request.sendall(b"\x02\x00\x00\x00\x00" if command == "misc" else b"\x02")


@pytest.fixture
def code2_client() -> Iterator[TokyoTyrant]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Code2Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = TokyoTyrant(port=server.server_address[1], timeout=5)
    yield client
    client.close()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("call", [
    lambda c: c.set("k", "v"), lambda c: c.append("k", "v"), lambda c: c.addshl("k", "v", 2),
    lambda c: c.clear(), lambda c: c.synchronize(), lambda c: c.optimize(""), lambda c: c.copy("/tmp/x"),
    lambda c: c.restore("/tmp", 0), lambda c: c.set_master("h", 1, 0), lambda c: c.set_bulk({"a": "1"}),
    lambda c: c.remove_bulk(["a"]), lambda c: c.setdup("k", "v"), lambda c: c.setdupback("k", "v"),
    lambda c: c.set_index("c", INDEX_NUM), lambda c: c.optimize_index("c"), lambda c: c.delete_index("c"),
    lambda c: c.clear_cache(), lambda c: c.defragment(), lambda c: c.misc("get", ["k"]),
    lambda c: QueryBuilder().delete(c),
])
def test_an_unexpected_reply_code_raises(code2_client: TokyoTyrant, call: Callable[[TokyoTyrant], Any]) -> None:
    with pytest.raises(TokyoTyrantError) as info:
        call(code2_client)
    assert info.value.code == 2


class _NoSend(ThreadConnections):
    def get(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a request was about to be sent")


def test_items_start_key_type_is_checked_before_sending() -> None:
    client = TokyoTyrant(port=1)
    client._conns = _NoSend(client.pool)
    with pytest.raises(InvalidTypeError):
        client.items(start_key=["k"])  # type: ignore[arg-type]


def test_path_names_the_database(tt_client: TokyoTyrant, tt_btree_client: TokyoTyrant) -> None:
    assert tt_client.path == "*"
    assert tt_btree_client.path.endswith(".tcb")
    assert tt_btree_client.path == tt_btree_client.status()["path"]
