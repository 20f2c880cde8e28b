"""TokyoTyrant against a server (the real ttserver where installed, and the stand-in)."""

from __future__ import annotations

import math
import threading

import pytest
from kt_core.errors import InvalidTypeError, TokyoTyrantError
from kt_tyrant import KT_JSON, KT_NONE, TokyoTyrant

pytestmark = pytest.mark.server


def test_get_set_get_raw(tt_client: TokyoTyrant) -> None:
    assert tt_client.set("k1", "v1") is True
    assert tt_client.get("k1") == "v1"
    assert tt_client.get_raw("k1") == b"v1"
    assert tt_client.get("missing") is None
    assert tt_client.get_raw("missing") is None
    assert tt_client.set(b"k1", "\u00e9t\u00e9") is True
    assert tt_client.get_raw("k1") == "\u00e9t\u00e9".encode()


def test_remove_counts_rows(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "v")
    assert tt_client.remove("k") == 1
    assert tt_client.remove("k") == 0
    assert tt_client.get("k") is None


def test_add_false_when_present(tt_client: TokyoTyrant) -> None:
    assert tt_client.add("k", "first") is True
    assert tt_client.add("k", "second") is False
    assert tt_client.get("k") == "first"


def test_append_and_addshl(tt_client: TokyoTyrant) -> None:
    assert tt_client.append("k", "ab") is True  # creates
    assert tt_client.append("k", "cd") is True
    assert tt_client.get("k") == "abcd"
    assert tt_client.addshl("k", "ef", 3) is True
    assert tt_client.get("k") == "def"


def test_setnr_keeps_the_connection_in_step(tt_client: TokyoTyrant) -> None:
    assert tt_client.setnr("n", "v") is None
    # The next request on the same connection must get its own reply, not a stray one.
    assert tt_client.get("n") == "v"
    assert tt_client.setnr_bulk({"a": "1", "b": "2"}, c="3") is None
    assert tt_client.get_bulk(["a", "b", "c"]) == {"a": "1", "b": "2", "c": "3"}
    assert tt_client.count() == 4


def test_bulk(tt_client: TokyoTyrant) -> None:
    assert tt_client.set_bulk({"a": "1", "b": "2"}, c="3") is True
    assert tt_client.get_bulk(["a", "b", "c", "zz"]) == {"a": "1", "b": "2", "c": "3"}
    assert tt_client.mget(["a"]) == {"a": "1"}
    assert tt_client.get_bulk_raw(["a", "c"]) == {"a": b"1", "c": b"3"}
    assert tt_client.remove_bulk(["a", "zz"]) is True
    assert tt_client.get_bulk(["a", "b"]) == {"b": "2"}
    assert tt_client.update({"d": "4"}, e="5") is True
    assert tt_client.get_bulk(["d", "e"]) == {"d": "4", "e": "5"}


def test_get_part(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "hello world")
    assert tt_client.get_part("k") == "hello world"
    assert tt_client.get_part("k", 6) == "world"
    assert tt_client.get_part("k", 0, 5) == "hello"
    assert tt_client.get_part("k", 4, 3) == "o w"
    assert tt_client.get_part("k", 11) is False  # start at the end
    assert tt_client.get_part("k", 100) is False
    assert tt_client.get_part("missing") is False


def test_exists_length(tt_client: TokyoTyrant) -> None:
    tt_client.set("k", "four")
    assert tt_client.exists("k") is True
    assert "k" in tt_client
    assert tt_client.exists("nope") is False
    assert "nope" not in tt_client
    assert tt_client.length("k") == 4
    assert tt_client.length("nope") is None


def test_incr(tt_client: TokyoTyrant) -> None:
    assert tt_client.incr("i") == 1
    assert tt_client.incr("i", 10) == 11
    assert tt_client.incr("i", -20) == -9
    assert tt_client.get_raw("i") == (-9).to_bytes(4, "little", signed=True)
    tt_client.set("s", "not a number")
    with pytest.raises(TokyoTyrantError) as info:
        tt_client.incr("s")
    assert info.value.code == 1


def test_incr_double(tt_client: TokyoTyrant) -> None:
    assert tt_client.incr_double("d", 1.5) == 1.5
    assert tt_client.incr_double("d", -2.25) == -0.75
    assert math.isclose(tt_client.incr_double("d"), 0.25)
    tt_client.set("s", "xy")
    with pytest.raises(TokyoTyrantError):
        tt_client.incr_double("s", 1.0)


def test_misc(tt_client: TokyoTyrant) -> None:
    assert tt_client.misc("put", ["k", "v"]) == []
    assert tt_client.misc("get", ["k"], update_log=False) == [b"v"]
    assert tt_client.misc("putlist", [b"a", b"1", "b", "2"]) == []
    assert tt_client.get_bulk(["a", "b"]) == {"a": "1", "b": "2"}
    assert tt_client.misc("get", ["missing"]) is None  # refused (code 1), as kt 0.9.6 answers it
    assert tt_client.misc("no-such-function") is None
    assert tt_client.get("k") == "v"  # still in step after the refusals


def test_count_len_size_status(tt_client: TokyoTyrant) -> None:
    assert tt_client.count() == 0
    assert len(tt_client) == 0
    tt_client.set_bulk({"a": "1", "b": "2"})
    assert tt_client.count() == 2
    assert len(tt_client) == 2
    status = tt_client.status()
    assert status["rnum"] == 2
    assert status["type"] == "on-memory hash"
    assert isinstance(status["size"], int)
    assert tt_client.size == status["size"] or tt_client.size > 0


def test_clear(tt_client: TokyoTyrant) -> None:
    tt_client.set_bulk({"a": "1", "b": "2"})
    assert tt_client.clear() is True
    assert tt_client.count() == 0


def test_error_is_none_on_memory_db(tt_client: TokyoTyrant) -> None:
    assert tt_client.error is None


def test_error_on_file_db(tt_btree_client: TokyoTyrant) -> None:
    # ttserver keeps the last error per worker thread (see test_client_spec.test_error_types): shape only.
    assert tt_btree_client.exists("absent") is False
    code, message = tt_btree_client.error  # type: ignore[misc]
    assert (code, message) in {(0, "success"), (21, "existing record"), (22, "no record found")}


def test_optimize_synchronize(tt_client: TokyoTyrant, tt_btree_client: TokyoTyrant) -> None:
    tt_client.set("k", "v")
    assert tt_client.optimize() is True
    assert tt_client.synchronize() is True
    tt_btree_client.set("k", "v")
    assert tt_btree_client.optimize("") is True
    assert tt_btree_client.synchronize() is True
    assert tt_btree_client.get("k") == "v"


def test_copy(tt_btree_client: TokyoTyrant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tt_btree_client.set("k", "v")
    target = tmp_path / "copy.tcb"
    assert tt_btree_client.copy(str(target)) is True
    assert target.exists() and target.stat().st_size > 0


def test_match_prefix_and_regex(tt_client: TokyoTyrant) -> None:
    tt_client.set_bulk({"aa1": "x", "aa2": "y", "ab": "z", "b": "w"})
    assert sorted(tt_client.match_prefix("aa")) == ["aa1", "aa2"]
    assert len(tt_client.match_prefix("a", 2)) == 2
    assert tt_client.match_prefix("zz") == []
    assert sorted(tt_client.match_regex("^a.$")) == ["ab"]
    assert sorted(tt_client.match_regex("[12]$")) == ["aa1", "aa2"]
    assert len(tt_client.match_regex("^a", max_keys=1)) == 1


def test_keys_items_iter_from(tt_client: TokyoTyrant) -> None:
    data = {f"k{i:03d}": f"v{i}" for i in range(150)}  # more than one pipelined batch
    tt_client.set_bulk(data)
    assert sorted(tt_client.keys()) == sorted(data)
    assert dict(tt_client.items()) == data
    assert len(tt_client.items()) == 150
    assert tt_client.get("k001") == "v1"  # still in step after pipelined iteration


def test_iter_from_tree_is_key_ordered(tt_tree_client: TokyoTyrant) -> None:
    tt_tree_client.set_bulk({"a": "1", "b": "2", "c": "3", "d": "4"})
    assert tt_tree_client.iter_from("b") == {"b": "2", "c": "3", "d": "4"}
    assert list(tt_tree_client.iter_from("b")) == ["b", "c", "d"]
    assert tt_tree_client.keys() == ["a", "b", "c", "d"]
    assert tt_tree_client.items() == [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]


def test_iter_from_hash_starts_at_key(tt_client: TokyoTyrant) -> None:
    tt_client.set_bulk({"a": "1", "b": "2", "c": "3"})
    order = tt_client.keys()
    assert list(tt_client.iter_from(order[1])) == order[1:]


def _check_range_and_slices(client: TokyoTyrant) -> None:
    client.set_bulk({"a": "1", "b": "2", "c": "3", "d": "4"})
    assert client.get_range("b", "d") == {"b": "2", "c": "3"}
    assert client.get_range("b") == {"b": "2", "c": "3", "d": "4"}
    assert client.get_range(None, None, 2) == {"a": "1", "b": "2"}
    assert client["a":"c"] == {"a": "1", "b": "2"}
    assert client["c":] == {"c": "3", "d": "4"}
    assert client[:"b"] == {"a": "1"}


def test_get_range_and_slices_memory_tree(tt_tree_client: TokyoTyrant) -> None:
    _check_range_and_slices(tt_tree_client)


def test_get_range_and_slices_btree_file(tt_btree_client: TokyoTyrant) -> None:
    _check_range_and_slices(tt_btree_client)


def test_get_range_refused_by_hash(tt_client: TokyoTyrant) -> None:
    with pytest.raises(TokyoTyrantError) as info:
        tt_client.get_range("a", "z")
    assert info.value.code == 1


def test_item_access(tt_client: TokyoTyrant) -> None:
    tt_client["k"] = "v"
    assert tt_client["k"] == "v"
    assert tt_client["missing"] is None
    del tt_client["k"]
    assert "k" not in tt_client


def test_setdup_on_btree_file(tt_btree_client: TokyoTyrant) -> None:
    assert tt_btree_client.set("k", "1") is True
    assert tt_btree_client.setdup("k", "2") is True
    assert tt_btree_client.setdupback("k", "0") is True
    assert tt_btree_client.count() == 3
    assert tt_btree_client.get("k") == "0"  # setdupback put it in front
    assert tt_btree_client.misc("getlist", ["k"]) == [b"k", b"0", b"k", b"1", b"k", b"2"]
    assert tt_btree_client.remove_bulk(["k"]) is True  # outlist removes every duplicate
    assert tt_btree_client.count() == 0


def test_set_bulk_on_btree_file_keeps_duplicates(tt_btree_client: TokyoTyrant) -> None:
    # Documented server behaviour: putlist on a B+ tree file calls putdup.
    tt_btree_client.set("k", "old")
    tt_btree_client.set_bulk({"k": "new"})
    assert tt_btree_client.count() == 2
    assert tt_btree_client.get("k") == "old"


def _check_setdup_refused(client: TokyoTyrant) -> None:
    assert client.setdup("k", "v") is False  # refused: only a B+ tree file keeps duplicates
    assert client.setdupback("k", "v") is False
    assert client.get("k") is None  # nothing was stored
    assert client.set("k", "v") is True  # still in step


def test_setdup_refused_by_memory_hash(tt_client: TokyoTyrant) -> None:
    _check_setdup_refused(tt_client)


def test_setdup_refused_by_memory_tree(tt_tree_client: TokyoTyrant) -> None:
    _check_setdup_refused(tt_tree_client)


def test_genuid_refused_by_hash(tt_client: TokyoTyrant) -> None:
    with pytest.raises(TokyoTyrantError):
        tt_client.genuid()


def test_script(tt_client: TokyoTyrant) -> None:
    assert tt_client.script("pair", "k", "v") == b"k=v"
    assert tt_client.script("pair", "k", "v", lock_records=True) == b"k=v"
    assert tt_client.script("pair", "k", "v", lock_all=True) == b"k=v"
    assert tt_client.script("pair") == b"="
    assert tt_client.script("pair", "k", "v", decode_result=True) == "k=v"
    assert tt_client.script("pair", "k", b"\xff", encode_value=False) == b"k=\xff"
    assert tt_client.script("lines", decode_result=True) == "first\nsecond\tcolumn\n\nlast"
    assert tt_client.script("rawbytes") == b"\xff\x00\xfe\x00\x01\r\n"
    with pytest.raises(TokyoTyrantError) as info:
        tt_client.script("reject", "k", "v")
    assert info.value.code == 1
    with pytest.raises(TokyoTyrantError):
        tt_client.script("no_such_function")
    assert tt_client.script("pair", "a", "b") == b"a=b"  # still in step


def test_script_encodes_value_with_serializer(tt_server, tt_client_factory) -> None:  # type: ignore[no-untyped-def]
    client = tt_client_factory(tt_server, serializer=KT_JSON)
    assert client.script("pair", "k", {"a": 1}) == b'k={"a":1}'
    assert client.script("pair", "k", '"x"', encode_value=False) == b'k="x"'


def test_serializers_and_decode_keys(tt_server, tt_client_factory) -> None:  # type: ignore[no-untyped-def]
    client = tt_client_factory(tt_server, serializer=KT_JSON, decode_keys=False)
    client.clear()
    assert client.set("k", {"a": [1, 2]}) is True
    assert client.get("k") == {"a": [1, 2]}
    assert client.get_raw("k") == b'{"a":[1,2]}'
    assert client.get_bulk(["k"]) == {b"k": {"a": [1, 2]}}
    assert client.keys() == [b"k"]
    raw = tt_client_factory(tt_server, serializer=KT_NONE)
    with pytest.raises(InvalidTypeError):
        raw.set("k", "text")  # KT_NONE stores bytes only, refused before sending
    assert raw.get("k") == b'{"a":[1,2]}'


@pytest.mark.blocking_client  # threads share the client
def test_threads_do_not_cross_talk(tt_client: TokyoTyrant) -> None:
    errors: list[str] = []

    def worker(n: int) -> None:
        for i in range(200):
            key = f"t{n}-{i}"
            value = f"value-{n}-{i}" * (1 + i % 7)
            tt_client.set(key, value)
            got = tt_client.get(key)
            if got != value:
                errors.append(f"{key}: {got!r}")
            if i % 50 == 0:
                bulk = tt_client.get_bulk([key, "absent"])
                if bulk != {key: value}:
                    errors.append(f"bulk {key}: {bulk!r}")
        tt_client.checkin()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert tt_client.count() == 8 * 200
