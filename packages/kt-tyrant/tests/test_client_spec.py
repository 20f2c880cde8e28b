"""Every documented TokyoTyrant member (kt-api.txt, "Tokyo Tyrant client"): result value AND type,
on the real ttserver and the stand-in."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kt_core.errors import TokyoTyrantError
from kt_tyrant import TokyoTyrant

pytestmark = pytest.mark.server


# tcutil.c tcerrmsg for the codes these tests can cause
KNOWN_ERRORS = {(0, "success"), (21, "existing record"), (22, "no record found")}


def _is(value: object, kind: type, expected: object) -> None:
    assert type(value) is kind, (value, kind)
    assert value == expected


def test_get_get_raw_set_types(tt_client: TokyoTyrant) -> None:
    _is(tt_client.set("k", "v\u00e9"), bool, True)
    _is(tt_client.get("k"), str, "v\u00e9")
    _is(tt_client.get_raw("k"), bytes, "v\u00e9".encode())
    assert tt_client.get("nope") is None
    assert tt_client.get_raw("nope") is None
    _is(tt_client.set("k", b"\xff"), bool, True)
    _is(tt_client.get("k"), bytes, b"\xff")  # KT_BINARY: bytes that are not UTF-8 stay bytes


def test_remove_returns_int_rows(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "v")
    _is(tt_client.remove("k"), int, 1)
    _is(tt_client.remove("k"), int, 0)
    del tt_client["absent"]  # __delitem__ of a missing key is not an error (remove -> 0)


def test_bulk_types(tt_client: TokyoTyrant) -> None:
    _is(tt_client.set_bulk({"a": "1"}, b="2"), bool, True)
    found = tt_client.get_bulk(["a", "b", "zz"])
    _is(found, dict, {"a": "1", "b": "2"})
    assert all(type(k) is str and type(v) is str for k, v in found.items())
    raw = tt_client.get_bulk_raw(["a", "zz"])
    _is(raw, dict, {"a": b"1"})
    assert type(raw["a"]) is bytes
    _is(tt_client.get_bulk(["zz"]), dict, {})
    _is(tt_client.remove_bulk(["a", "zz"]), bool, True)
    _is(tt_client.remove_bulk(["zz"]), bool, True)  # nothing to remove is still success
    _is(tt_client.update({"c": "3"}, d="4"), bool, True)
    _is(tt_client.get_bulk(["b", "c", "d"]), dict, {"b": "2", "c": "3", "d": "4"})


def test_clear_status_types(tt_client: TokyoTyrant) -> None:
    tt_client.set("a", "1")
    _is(tt_client.clear(), bool, True)
    _is(tt_client.count(), int, 0)
    status = tt_client.status()
    assert type(status) is dict
    _is(status["rnum"], int, 0)
    assert type(status["size"]) is int
    assert type(status["pid"]) is int and status["pid"] > 0
    assert type(status["time"]) is float
    assert type(status["protver"]) is float
    _is(status["version"], str, "1.1.41")
    assert type(status["type"]) is str
    counters = {k: v for k, v in status.items() if k.startswith("cnt_")}
    assert counters and all(type(v) is int for v in counters.values())


def test_add_append_addshl_types(tt_client: TokyoTyrant) -> None:
    _is(tt_client.add("k", "ab"), bool, True)
    _is(tt_client.add("k", "zz"), bool, False)
    _is(tt_client.append("k", "cd"), bool, True)
    _is(tt_client.append("new", "x"), bool, True)  # missing key: like set
    _is(tt_client.get("new"), str, "x")
    _is(tt_client.addshl("k", "ef", 4), bool, True)
    _is(tt_client.get("k"), str, "cdef")
    _is(tt_client.addshl("k", "gh", 10), bool, True)  # width past the length keeps everything
    _is(tt_client.get("k"), str, "cdefgh")


def test_setnr_returns_none_and_stays_in_step(tt_client: TokyoTyrant) -> None:
    for i in range(50):
        assert tt_client.setnr(f"n{i}", f"v{i}") is None
    _is(tt_client.get("n49"), str, "v49")  # its own reply, not a stray one
    assert tt_client.setnr_bulk({f"b{i}": str(i) for i in range(50)}, kw="x") is None
    _is(tt_client.get("kw"), str, "x")
    _is(tt_client.count(), int, 101)


def test_get_part_values_and_false_cases(tt_client: TokyoTyrant) -> None:
    tt_client.set("s", "hello")
    _is(tt_client.get_part("s"), str, "hello")
    _is(tt_client.get_part("s", 1), str, "ello")
    _is(tt_client.get_part("s", 1, 3), str, "ell")
    _is(tt_client.get_part("s", 4, 10), str, "o")  # end past the value: up to its end
    _is(tt_client.get_part("s", 2, 0), str, "")
    _is(tt_client.get_part("s", 5), bool, False)  # start == length
    _is(tt_client.get_part("s", 6, 1), bool, False)  # start past the end
    _is(tt_client.get_part("absent"), bool, False)
    _is(tt_client.get("s"), str, "hello")  # in step


def test_exists_length_types(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "\u00e9")
    _is(tt_client.exists("k"), bool, True)
    _is(tt_client.exists("absent"), bool, False)
    _is("k" in tt_client, bool, True)
    _is(tt_client.length("k"), int, 2)  # bytes, not characters
    assert tt_client.length("absent") is None
    tt_client.set("e", "")
    _is(tt_client.length("e"), int, 0)
    _is(tt_client.exists("e"), bool, True)


def test_incr_types(tt_client: TokyoTyrant) -> None:
    _is(tt_client.incr("i"), int, 1)
    _is(tt_client.incr("i", -5), int, -4)
    _is(tt_client.incr("i", 0), int, -4)
    _is(tt_client.incr("i", 2**31 - 1), int, 2**31 - 5)
    _is(tt_client.incr_double("d"), float, 1.0)
    _is(tt_client.incr_double("d", -3.5), float, -2.5)
    _is(tt_client.incr_double("d", 2), float, -0.5)  # an int n is added as a double


def test_misc_types_and_update_log(tt_client: TokyoTyrant) -> None:
    result = tt_client.misc("putlist", ["a", "1", b"b", b"2"])
    _is(result, list, [])
    got = tt_client.misc("getlist", ["a", "b", "zz"], update_log=False)
    assert type(got) is list and all(type(x) is bytes for x in got)
    assert dict(zip(got[0::2], got[1::2])) == {b"a": b"1", b"b": b"2"}
    _is(tt_client.misc("put", ["n", 5], update_log=False), list, [])  # int args go as decimal text
    _is(tt_client.get("n"), str, "5")
    _is(tt_client.misc("out", ["n"], update_log=False), list, [])
    assert tt_client.get("n") is None


def test_count_len_size_types(tt_client: TokyoTyrant) -> None:
    tt_client.set_bulk({"a": "1", "b": "2"})
    _is(tt_client.count(), int, 2)
    _is(len(tt_client), int, 2)
    size = tt_client.size
    assert type(size) is int and size > 0
    assert size == tt_client.status()["size"]


def test_error_types(tt_client: TokyoTyrant, tt_tree_client: TokyoTyrant, tt_btree_client: TokyoTyrant) -> None:
    assert tt_client.error is None
    assert tt_tree_client.error is None
    error = tt_btree_client.error
    assert type(error) is tuple and len(error) == 2
    assert type(error[0]) is int and type(error[1]) is str
    assert error in KNOWN_ERRORS
    assert tt_btree_client.exists("absent") is False
    # Tokyo Cabinet keeps the last error per server worker thread, so the real server may answer
    # with another thread's error (or success): only the shape and the code/message pairing hold.
    after = tt_btree_client.error
    assert type(after) is tuple and after in KNOWN_ERRORS


def test_error_reports_the_miss_on_the_standin(tt_btree_client: TokyoTyrant, tt_btree_server) -> None:  # type: ignore[no-untyped-def]
    if tt_btree_server.backend == "real":
        pytest.skip("ttserver keeps the last error per worker thread: which one answers is not fixed")
    tt_btree_client.exists("absent")
    _is(tt_btree_client.error, tuple, (22, "no record found"))


def test_optimize_synchronize_types(tt_client: TokyoTyrant, tt_btree_client: TokyoTyrant) -> None:
    for client in (tt_client, tt_btree_client):
        client.set("k", "v")
        _is(client.optimize(), bool, True)
        _is(client.synchronize(), bool, True)
        _is(client.get("k"), str, "v")
    _is(tt_btree_client.optimize("lmemb=64"), bool, True)  # TT option string: tcbdboptimize tuning
    _is(tt_btree_client.get("k"), str, "v")


def test_copy_writes_a_file(tt_btree_client: TokyoTyrant, tmp_path: Path) -> None:
    tt_btree_client.set_bulk({f"k{i}": "v" * 100 for i in range(50)})
    target = tmp_path / "backup.tcb"
    _is(tt_btree_client.copy(str(target)), bool, True)
    assert target.is_file() and target.stat().st_size > 0
    # A failed copy (False) is in test_client_kt096.py, on an in-memory database: on a file database
    # ttserver keeps the copy's error afterwards, which would change later tests on this shared server.
    _is(tt_btree_client.get("k1"), str, "v" * 100)


def test_get_range_types_tree_only(tt_tree_client: TokyoTyrant, tt_client: TokyoTyrant) -> None:
    tt_tree_client.set_bulk({"a": "1", "b": "2", "c": "3"})
    _is(tt_tree_client.get_range("a", "c"), dict, {"a": "1", "b": "2"})
    _is(tt_tree_client.get_range("a", max_keys=1), dict, {"a": "1"})
    _is(tt_tree_client.get_range("x"), dict, {})
    with pytest.raises(TokyoTyrantError):
        tt_client.get_range("a")


def test_match_prefix_regex_types(tt_client: TokyoTyrant) -> None:
    tt_client.set_bulk({f"p{i}": "v" for i in range(10)} | {"q": "v"})
    keys = tt_client.match_prefix("p")
    assert type(keys) is list and sorted(keys) == [f"p{i}" for i in range(10)]
    assert all(type(k) is str for k in keys)
    _is(len(tt_client.match_prefix("p", 3)), int, 3)
    _is(tt_client.match_prefix("p", 0), list, [])
    _is(len(tt_client.match_prefix("p", None)), int, 10)
    found = tt_client.match_regex("^p[0-4]$")
    assert type(found) is list and sorted(found) == ["p0", "p1", "p2", "p3", "p4"]
    _is(len(tt_client.match_regex("^p", 2)), int, 2)
    _is(tt_client.match_regex("^zz"), list, [])
    _is(tt_client.match_regex("^p", 0), list, [])  # like match_prefix (the server reads 0 as no limit)
    _is(len(tt_client.match_regex("^p", None)), int, 10)
    _is(tt_client.match_regex("*^P1$"), list, ["p1"])  # a leading * ignores case


def test_iteration_types(tt_tree_client: TokyoTyrant) -> None:
    tt_tree_client.set_bulk({"a": "1", "b": "2", "c": "3"})
    _is(tt_tree_client.iter_from("b"), dict, {"b": "2", "c": "3"})  # spec: "Return type: dict"
    _is(tt_tree_client.keys(), list, ["a", "b", "c"])
    items = tt_tree_client.items()
    _is(items, list, [("a", "1"), ("b", "2"), ("c", "3")])
    assert all(type(i) is tuple for i in items)


def test_item_access_and_slices_on_btree(tt_btree_client: TokyoTyrant) -> None:
    tt_btree_client["a"] = "1"
    tt_btree_client["b"] = "2"
    tt_btree_client["c"] = "3"
    _is(tt_btree_client["b"], str, "2")
    _is(tt_btree_client["a":"c"], dict, {"a": "1", "b": "2"})
    _is(tt_btree_client["b":], dict, {"b": "2", "c": "3"})
    _is(tt_btree_client[:], dict, {"a": "1", "b": "2", "c": "3"})
    del tt_btree_client["b"]
    _is("b" in tt_btree_client, bool, False)
    assert tt_btree_client["b"] is None


def test_setdup_setdupback_order_on_btree(tt_btree_client: TokyoTyrant) -> None:
    # Spec: setdup adds the new value at the end, setdupback at the front; the real server agrees.
    tt_btree_client.set("k", "1")
    _is(tt_btree_client.setdup("k", "2"), bool, True)
    _is(tt_btree_client.setdup("k", "3"), bool, True)
    _is(tt_btree_client.setdupback("k", "0"), bool, True)
    _is(tt_btree_client.setdupback("k", "-1"), bool, True)
    assert tt_btree_client.misc("getlist", ["k"])[1::2] == [b"-1", b"0", b"1", b"2", b"3"]
    _is(tt_btree_client.count(), int, 5)
    _is(tt_btree_client.get("k"), str, "-1")  # get returns the first duplicate
    _is(tt_btree_client.get_bulk(["k"]), dict, {"k": "-1"})
    # dict results keep one value per key: the last duplicate
    _is(tt_btree_client.get_range("k", "l"), dict, {"k": "3"})
    _is(tt_btree_client.iter_from("k"), dict, {"k": "3"})
    _is(tt_btree_client.keys(), list, ["k"] * 5)
    _is(tt_btree_client.remove("k"), int, 1)  # out removes one duplicate (the first)
    _is(tt_btree_client.count(), int, 4)
    _is(tt_btree_client.get("k"), str, "0")


def test_script_flags(tt_client: TokyoTyrant) -> None:
    _is(tt_client.script("pair", "k", "v"), bytes, b"k=v")
    _is(tt_client.script("pair", "k", "v", decode_result=True), str, "k=v")
    _is(tt_client.script("rawbytes", decode_result=False), bytes, b"\xff\x00\xfe\x00\x01\r\n")
    _is(tt_client.script("getset", "s", "new", lock_records=True), bytes, b"")
    _is(tt_client.get("s"), str, "new")
    _is(tt_client.script("getset", "s", "newer", lock_all=True), bytes, b"new")
    _is(tt_client.script("getset", "s", "x", lock_records=True, lock_all=True), bytes, b"newer")


@pytest.mark.parametrize("flags", [{"lock_records": True}, {"lock_all": True}])
def test_script_locking_makes_read_modify_write_atomic(tt_server, tt_client_factory,  # type: ignore[no-untyped-def]
                                                        flags: dict[str, bool]) -> None:
    # add reads, adds and writes back in Lua: only with a lock do concurrent calls lose no update.
    clients = [tt_client_factory(tt_server) for _ in range(6)]
    clients[0].remove("ctr")
    errors: list[BaseException] = []

    def worker(client: TokyoTyrant) -> None:
        try:
            for _ in range(100):
                client.script("add", "ctr", "1", **flags)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _is(clients[0].get("ctr"), str, "600")


def test_genuid_type(tt_table_client: TokyoTyrant) -> None:
    uid = tt_table_client.genuid()
    assert type(uid) is int and uid >= 1
    _is(tt_table_client.genuid(), int, uid + 1)


@pytest.mark.blocking_client  # threads share the client
def test_threads_on_every_command_family_do_not_cross_talk(tt_tree_client: TokyoTyrant) -> None:
    # Each thread mixes replies of different shapes (value, int, list, dict) on the shared client.
    # No range/iteration commands here: the real in-memory tree serves `range` from one shared
    # iterator (see the README's iteration caveat), so concurrent ranges race inside the server.
    errors: list[str] = []

    def worker(n: int) -> None:
        prefix = f"t{n:02d}-"
        for i in range(60):
            key = f"{prefix}{i:03d}"
            value = f"{n}:{i}" * (1 + i % 5)
            checks = [
                (tt_client_set := tt_tree_client.set(key, value), True),
                (tt_tree_client.get(key), value),
                (tt_tree_client.length(key), len(value)),
                (tt_tree_client.incr(f"{prefix}ctr"), i + 1),
                (tt_tree_client.get_bulk([key, "absent"]), {key: value}),
                (len(tt_tree_client.match_prefix(prefix + "0", None)), min(i + 1, 100)),
                (tt_tree_client.get_part(key, 0, 2), value[:2]),
            ]
            del tt_client_set
            for got, want in checks:
                if got != want:
                    errors.append(f"{key}: {got!r} != {want!r}")
        tt_tree_client.checkin()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _is(tt_tree_client.count(), int, 8 * 61)


def test_get_range_past_the_last_key_is_empty_after_a_cut_short_range(tt_tree_client: TokyoTyrant) -> None:
    # The real in-memory tree leaves its iterator where a max_keys range stopped; a range starting
    # past the last key then got the rest of that earlier range (the client drops keys below start).
    tt_tree_client.set_bulk({"a": "1", "b": "2", "c": "3"})
    _is(tt_tree_client.get_range("a", max_keys=1), dict, {"a": "1"})
    _is(tt_tree_client.get_range("x"), dict, {})
    _is(tt_tree_client.get_range("a", max_keys=2), dict, {"a": "1", "b": "2"})
    _is(tt_tree_client.get_range("bb", "z"), dict, {"c": "3"})


def test_checkin_and_close_return_none_and_the_client_goes_on(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "v")
    assert tt_client.checkin() is None
    _is(tt_client.get("k"), str, "v")  # a pooled connection again
    assert tt_client.close() is None
    _is(tt_client.get("k"), str, "v")  # a new connection after close
    _is(tt_client.count(), int, 1)


def test_decode_keys_false_gives_bytes_keys(tt_server, tt_client_factory) -> None:  # type: ignore[no-untyped-def]
    client = tt_client_factory(tt_server, decode_keys=False)
    client.clear()
    client.set_bulk({"a": "1", "b": "2"})
    keys = client.match_prefix("a")
    _is(keys, list, [b"a"])
    assert all(type(k) is bytes for k in client.keys())
    _is(client.get_bulk(["a"]), dict, {b"a": "1"})
    assert all(type(k) is bytes for k, _ in client.items())


def test_table_iteration_and_get_range_types(tt_table_client: TokyoTyrant) -> None:
    tt_table_client.set_bulk({"p1": {"a": "1", "b": "x"}, "p2": {"a": "2"}})
    items = dict(tt_table_client.items())
    _is(items, dict, {"p1": {"a": "1", "b": "x"}, "p2": {"a": "2"}})
    order = tt_table_client.keys()
    assert type(order) is list and sorted(order) == ["p1", "p2"]
    rest = tt_table_client.iter_from(order[1])
    _is(rest, dict, {order[1]: items[order[1]]})
    _is(tt_table_client.get_part("p2"), bytes, b"a\x002")  # a table record's raw columns
    with pytest.raises(TokyoTyrantError):
        tt_table_client.get_range("p1")  # B+ trees only
