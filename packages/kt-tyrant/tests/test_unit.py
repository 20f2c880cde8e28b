"""kt_tyrant without a server: constants, argument checks before any send, query encoding."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import kt_tyrant
import pytest
from kt_core.errors import InvalidArgumentError, InvalidTypeError
from kt_core.io.pool import ThreadConnections
from kt_tyrant import (
    INDEX_NUM,
    INDEX_QGRAM,
    INDEX_STR,
    INDEX_TOKEN,
    OP_FTS_ALL,
    OP_FTS_ANY,
    OP_FTS_EXPRESSION,
    OP_FTS_PHRASE,
    OP_NEGATE,
    OP_NOINDEX,
    OP_NUM_ANYEXACT,
    OP_NUM_BETWEEN,
    OP_NUM_EQ,
    OP_NUM_GE,
    OP_NUM_GT,
    OP_NUM_LE,
    OP_NUM_LT,
    OP_STR_ALL,
    OP_STR_ANY,
    OP_STR_ANYEXACT,
    OP_STR_CONTAINS,
    OP_STR_ENDSWITH,
    OP_STR_EQ,
    OP_STR_REGEX,
    OP_STR_STARTSWITH,
    ORDER_NUM_ASC,
    ORDER_NUM_DESC,
    ORDER_STR_ASC,
    ORDER_STR_DESC,
    QueryBuilder,
    TokyoTyrant,
)

# tctdb.h: TDBITLEXICAL.., TDBQCSTREQ.., TDBQCNEGATE = 1 << 24, TDBQCNOIDX = 1 << 25, TDBQOSTRASC..
EXPECTED_CONSTANTS = {
    "INDEX_STR": 0, "INDEX_NUM": 1, "INDEX_TOKEN": 2, "INDEX_QGRAM": 3,
    "OP_STR_EQ": 0, "OP_STR_CONTAINS": 1, "OP_STR_STARTSWITH": 2, "OP_STR_ENDSWITH": 3, "OP_STR_ALL": 4,
    "OP_STR_ANY": 5, "OP_STR_ANYEXACT": 6, "OP_STR_REGEX": 7, "OP_NUM_EQ": 8, "OP_NUM_GT": 9, "OP_NUM_GE": 10,
    "OP_NUM_LT": 11, "OP_NUM_LE": 12, "OP_NUM_BETWEEN": 13, "OP_NUM_ANYEXACT": 14, "OP_FTS_PHRASE": 15,
    "OP_FTS_ALL": 16, "OP_FTS_ANY": 17, "OP_FTS_EXPRESSION": 18, "OP_NEGATE": 1 << 24, "OP_NOINDEX": 1 << 25,
    "ORDER_STR_ASC": 0, "ORDER_STR_DESC": 1, "ORDER_NUM_ASC": 2, "ORDER_NUM_DESC": 3,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_CONSTANTS))
def test_constant_values_match_tctdb(name: str) -> None:
    value = getattr(kt_tyrant, name)
    assert type(value) is int and value == EXPECTED_CONSTANTS[name]
    assert name in kt_tyrant.__all__


def test_exports() -> None:
    assert kt_tyrant.TokyoTyrant is TokyoTyrant
    assert kt_tyrant.QueryBuilder is QueryBuilder
    assert set(EXPECTED_CONSTANTS) <= set(kt_tyrant.__all__)


class _NoSend(ThreadConnections):
    """Fails the test if the client asks for a connection at all."""

    def get(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a request was about to be sent")


@pytest.fixture
def offline() -> TokyoTyrant:
    client = TokyoTyrant(port=1)
    client._conns = _NoSend(client.pool)
    return client


def test_default_db_only_zero() -> None:
    assert TokyoTyrant(default_db=0).port == 1978
    assert TokyoTyrant(default_db=None).port == 1978
    with pytest.raises(InvalidArgumentError, match="single database"):
        TokyoTyrant(default_db=1)


def test_repr_and_context_manager() -> None:
    with TokyoTyrant(host="127.0.0.1", port=1999) as client:
        assert repr(client) == "<TokyoTyrant 127.0.0.1:1999 serializer=BinarySerializer()>"


@pytest.mark.parametrize("call", [
    lambda c: c.get(True),
    lambda c: c.get_raw(None),
    lambda c: c.set(["k"], "v"),
    lambda c: c.set("k", None),  # KT_BINARY stores text, bytes and numbers only
    lambda c: c.remove(object()),
    lambda c: c.add("k", object()),
    lambda c: c.append(["k"], "v"),
    lambda c: c.addshl("k", "v", "3"),
    lambda c: c.setnr(None, "v"),
    lambda c: c.setnr_bulk({None: "v"}),
    lambda c: c.setdup("k", [3]),
    lambda c: c.setdupback(None, "v"),
    lambda c: c.get_part("k", "1"),
    lambda c: c.get_part("k", 0, 1.5),
    lambda c: c.exists(b"k".decode, ),
    lambda c: c.length({7}),
    lambda c: c.incr("k", 1.5),
    lambda c: c.incr("k", True),
    lambda c: c.incr_double("k", "1"),
    lambda c: c.get_bulk("abc"),
    lambda c: c.get_bulk([False]),
    lambda c: c.get_bulk_raw([None]),
    lambda c: c.set_bulk([("k", "v")]),
    lambda c: c.set_bulk({"k": None}),
    lambda c: c.remove_bulk("key"),
    lambda c: c.script(3),
    lambda c: c.script("f", key=[4]),
    lambda c: c.script("f", value=5, encode_value=False),
    lambda c: c.misc("get", "k"),
    lambda c: c.misc(None),
    lambda c: c.misc("get", [None]),
    lambda c: c.optimize(3.5),
    lambda c: c.copy(None),
    lambda c: c.get_range(object()),
    lambda c: c.get_range("a", "b", "10"),
    lambda c: c.match_prefix(None),
    lambda c: c.match_prefix("a", "10"),
    lambda c: c.match_regex(None),
    lambda c: c.iter_from(True),
    lambda c: c.set_index(1, INDEX_STR),
    lambda c: c.optimize_index(None),
    lambda c: c.delete_index(2.5),
    lambda c: c.search("addcond"),
    lambda c: c.search([None]),
])
def test_bad_argument_types_raise_before_sending(offline: TokyoTyrant, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidTypeError):
        call(offline)


@pytest.mark.parametrize("call", [
    lambda c: c.addshl("k", "v", -1),
    lambda c: c.get_part("k", -1),
    lambda c: c.get_part("k", 0, -2),
    lambda c: c.incr("k", 1 << 31),
    lambda c: c.get_range("a", "b", -1),
    lambda c: c.match_prefix("a", -5),
    lambda c: c.set_index("col", 7),
    lambda c: c.set_index("col", INDEX_STR | OP_NEGATE),
    lambda c: c.search([], "bogus"),
    lambda c: c.update({"k": "v"}, db=1),
    lambda c: c.update({"k": "v"}, expire_time=10),
    lambda c: c[1:5:2],
])
def test_bad_argument_values_raise_before_sending(offline: TokyoTyrant, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError):
        call(offline)


def test_empty_bulk_calls_send_nothing(offline: TokyoTyrant) -> None:
    assert offline.get_bulk([]) == {}
    assert offline.get_bulk_raw([]) == {}
    assert offline.set_bulk({}) is True
    assert offline.remove_bulk([]) is True
    assert offline.setnr_bulk() is None


# ---------------------------------------------------------------- QueryBuilder encoding


def test_query_filter_encodes_like_tcrdbqryaddcond() -> None:
    q = QueryBuilder().filter("name", OP_STR_EQ, "alice")
    assert q.build_search() == [b"addcond\x00name\x000\x00alice"]


def test_query_numbers_are_decimal_text() -> None:
    q = QueryBuilder().filter("age", OP_NUM_GE, 30).filter(b"score", OP_NUM_LT, 2.5)
    assert q.build_search() == [b"addcond\x00age\x0010\x0030", b"addcond\x00score\x0011\x002.5"]


@pytest.mark.parametrize(("op", "values", "expr"), [
    (OP_STR_ANY, ["a", "b"], b"a,b"),
    (OP_STR_ALL, ("x", b"y"), b"x,y"),
    (OP_STR_ANYEXACT, ["p", "q", "r"], b"p,q,r"),
    (OP_NUM_BETWEEN, [1, 10], b"1,10"),
    (OP_NUM_ANYEXACT, [3, 4.5], b"3,4.5"),
    (OP_FTS_ALL, ["quick", "fox"], b"quick,fox"),
    (OP_FTS_ANY, ["quick", "dog"], b"quick,dog"),
])
def test_query_token_lists_are_comma_joined(op: int, values: object, expr: bytes) -> None:
    (arg,) = QueryBuilder().filter("c", op, values).build_search()
    assert arg == b"addcond\x00c\x00" + str(op).encode() + b"\x00" + expr


def test_query_flags_are_or_ed_into_the_operator() -> None:
    (arg,) = QueryBuilder().filter("c", OP_STR_CONTAINS | OP_NEGATE | OP_NOINDEX, "x").build_search()
    assert arg == b"addcond\x00c\x00" + str(1 | (1 << 24) | (1 << 25)).encode() + b"\x00x"


@pytest.mark.parametrize("op", [OP_STR_EQ, OP_STR_CONTAINS, OP_STR_STARTSWITH, OP_STR_ENDSWITH, OP_STR_REGEX,
                                OP_NUM_EQ, OP_NUM_GT, OP_NUM_GE, OP_NUM_LT, OP_NUM_LE, OP_FTS_PHRASE,
                                OP_FTS_EXPRESSION])
def test_query_single_value_operators_refuse_lists(op: int) -> None:
    with pytest.raises(InvalidArgumentError):
        QueryBuilder().filter("c", op, ["a", "b"])


def test_query_rejects_bad_input() -> None:
    with pytest.raises(InvalidArgumentError):
        QueryBuilder().filter("c", 99, "x")
    with pytest.raises(InvalidArgumentError):
        QueryBuilder().filter("c", OP_STR_ANY, ["a b", "c"])  # the server would split "a b"
    with pytest.raises(InvalidArgumentError):
        QueryBuilder().filter("c", OP_STR_EQ, "a\x00b")
    with pytest.raises(InvalidTypeError):
        QueryBuilder().filter("c", OP_STR_EQ, None)
    with pytest.raises(InvalidTypeError):
        QueryBuilder().filter("c", OP_NUM_EQ, True)
    with pytest.raises(InvalidTypeError):
        QueryBuilder().filter(3, OP_STR_EQ, "x")
    with pytest.raises(InvalidArgumentError):
        QueryBuilder().order_by("c", 4)
    with pytest.raises(InvalidArgumentError):
        QueryBuilder().limit(-1)
    with pytest.raises(InvalidTypeError):
        QueryBuilder().offset("3")


@pytest.mark.parametrize("ordering", [ORDER_STR_ASC, ORDER_STR_DESC, ORDER_NUM_ASC, ORDER_NUM_DESC])
def test_query_order_limit_offset(ordering: int) -> None:
    q = QueryBuilder().order_by("age", ordering).limit(10).offset(5)
    assert q.build_search() == [b"setorder\x00age\x00" + str(ordering).encode(), b"setlimit\x0010\x005"]


def test_query_defaults() -> None:
    assert QueryBuilder().order_by("n").build_search() == [b"setorder\x00n\x000"]
    assert QueryBuilder().offset(3).build_search() == [b"setlimit\x00-1\x003"]
    assert QueryBuilder().limit(2).build_search() == [b"setlimit\x002\x000"]
    assert QueryBuilder().limit(2).limit(None).build_search() == []
    assert QueryBuilder().order_by("a").order_by("b", ORDER_NUM_DESC).build_search() == [b"setorder\x00b\x003"]


def test_index_constants_are_distinct() -> None:
    assert len({INDEX_STR, INDEX_NUM, INDEX_TOKEN, INDEX_QGRAM}) == 4


# ---------------------------------------------------------------- lone surrogates in caller text

BAD = "x\ud800y"  # a lone surrogate: str that has no UTF-8 encoding


@pytest.mark.parametrize(("call", "names"), [
    (lambda c: c.get(BAD), "key"),
    (lambda c: c.get_raw(BAD), "key"),
    (lambda c: c.set(BAD, "v"), "key"),
    (lambda c: c.set("k", BAD), "value"),
    (lambda c: c.remove(BAD), "key"),
    (lambda c: c.add("k", BAD), "value"),
    (lambda c: c.append(BAD, "v"), "key"),
    (lambda c: c.addshl("k", BAD, 3), "value"),
    (lambda c: c.setnr("k", BAD), "value"),
    (lambda c: c.setnr_bulk({BAD: "v"}), "key"),
    (lambda c: c.setdup("k", BAD), "value"),
    (lambda c: c.setdupback(BAD, "v"), "key"),
    (lambda c: c.get_part(BAD), "key"),
    (lambda c: c.exists(BAD), "key"),
    (lambda c: c.length(BAD), "key"),
    (lambda c: c.incr(BAD), "key"),
    (lambda c: c.incr_double(BAD), "key"),
    (lambda c: c.get_bulk(["k", BAD]), "key"),
    (lambda c: c.get_bulk_raw([BAD]), "key"),
    (lambda c: c.set_bulk({"k": BAD}), "value"),
    (lambda c: c.update(k=BAD), "value"),
    (lambda c: c.remove_bulk([BAD]), "key"),
    (lambda c: c.script(BAD), "script name"),
    (lambda c: c.script("f", BAD), "key"),
    (lambda c: c.script("f", "k", BAD), "value"),
    (lambda c: c.script("f", "k", BAD, encode_value=False), "value"),
    (lambda c: c.misc(BAD), "misc command"),
    (lambda c: c.misc("get", [BAD]), "misc argument"),
    (lambda c: c.optimize(BAD), "optimize options"),
    (lambda c: c.copy(BAD), "copy path"),
    (lambda c: c.get_range(BAD), "key"),
    (lambda c: c.get_range("a", BAD), "key"),
    (lambda c: c.match_prefix(BAD), "key"),
    (lambda c: c.match_regex(BAD), "regex"),
    (lambda c: c.iter_from(BAD), "key"),
    (lambda c: c[BAD], "key"),
    (lambda c: c.__setitem__(BAD, "v"), "key"),
    (lambda c: c.__delitem__(BAD), "key"),
    (lambda c: BAD in c, "key"),
    (lambda c: c.set_index(BAD, INDEX_STR), "column name"),
    (lambda c: c.optimize_index(BAD), "column name"),
    (lambda c: c.delete_index(BAD), "column name"),
    (lambda c: c.search([BAD]), "search expression"),
])
def test_lone_surrogate_raises_invalid_argument_naming_it(offline: TokyoTyrant, call, names: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError, match=names) as info:
        call(offline)
    assert not isinstance(info.value, UnicodeError)


@pytest.mark.parametrize(("build", "names"), [
    (lambda: QueryBuilder().filter(BAD, OP_STR_EQ, "v"), "column"),
    (lambda: QueryBuilder().filter("c", OP_STR_EQ, BAD), "value"),
    (lambda: QueryBuilder().filter("c", OP_STR_ANY, ["a", BAD]), "token"),
    (lambda: QueryBuilder().filter("c", OP_FTS_EXPRESSION, BAD), "value"),
    (lambda: QueryBuilder().order_by(BAD), "column"),
])
def test_query_lone_surrogate_raises_invalid_argument_naming_it(build, names: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgumentError, match=names) as info:
        build()
    assert not isinstance(info.value, UnicodeError)


def test_table_value_with_lone_surrogate_raises_before_sending() -> None:
    client = TokyoTyrant(port=1, serializer=kt_tyrant.TT_TABLE)
    client._conns = _NoSend(client.pool)
    with pytest.raises(InvalidArgumentError, match="value"):
        client.set("k", {"col": BAD})
    with pytest.raises(InvalidArgumentError, match="value"):
        client.set("k", {BAD: "v"})


# ---------------------------------------------------------------- option bits on the wire


class _Captured(Exception):
    pass


class _Answering(ThreadConnections):
    """Gives every thread a stand-in connection whose ``request(data, reader)`` is the test's function."""

    def __init__(self, pool: Any, request: Callable[[bytes, object], object]) -> None:
        super().__init__(pool)
        self.conn = types.SimpleNamespace(request=request)

    def get(self):  # type: ignore[no-untyped-def]
        return self.conn


@pytest.fixture
def capture(offline: TokyoTyrant) -> tuple[TokyoTyrant, list[bytes]]:
    sent: list[bytes] = []

    def request(data: bytes, reader: object) -> object:
        sent.append(data)
        raise _Captured

    offline._conns = _Answering(offline.pool, request)
    return offline, sent


@pytest.mark.parametrize(("flags", "opts"), [
    ({}, 0),
    ({"lock_records": True}, 1),  # RDBXOLCKREC
    ({"lock_all": True}, 2),  # RDBXOLCKGLB
    ({"lock_records": True, "lock_all": True}, 3),
])
def test_script_lock_flags_set_the_ext_options(capture, flags: dict[str, bool], opts: int) -> None:  # type: ignore[no-untyped-def]
    client, sent = capture
    with pytest.raises(_Captured):
        client.script("fn", "k", "v", **flags)
    # ext: magic, 0x68, name size, options, key size, value size (big-endian 32-bit), then the bytes
    assert sent == [b"\xc8\x68" + (2).to_bytes(4, "big") + opts.to_bytes(4, "big") + (1).to_bytes(4, "big")
                    + (1).to_bytes(4, "big") + b"fnkv"]


def test_script_encode_value_serializes_only_when_asked() -> None:
    client = TokyoTyrant(port=1, serializer=kt_tyrant.KT_JSON)
    sent: list[bytes] = []

    def request(data: bytes, reader: object) -> object:
        sent.append(data)
        return (0x68, 0, b'{"r":2}')

    client._conns = _Answering(client.pool, request)
    assert client.script("f", "k", {"a": 1}) == b'{"r":2}'  # decode_result=False: the bytes
    assert sent[-1].endswith(b'k{"a":1}')
    assert client.script("f", "k", '{"raw"', encode_value=False, decode_result=True) == {"r": 2}
    assert sent[-1].endswith(b'k{"raw"')


@pytest.mark.parametrize(("update_log", "opts"), [(True, 0), (False, 1)])  # RDBMONOULOG
def test_misc_update_log_sets_the_misc_options(capture, update_log: bool, opts: int) -> None:  # type: ignore[no-untyped-def]
    client, sent = capture
    with pytest.raises(_Captured):
        client.misc("put", ["k", 7], update_log=update_log)
    # misc: magic, 0x90, name size, options, argument count, name, then each argument size + bytes
    assert sent == [b"\xc8\x90" + (3).to_bytes(4, "big") + opts.to_bytes(4, "big") + (2).to_bytes(4, "big")
                    + b"put" + (1).to_bytes(4, "big") + b"k" + (1).to_bytes(4, "big") + b"7"]
