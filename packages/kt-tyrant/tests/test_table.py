"""Table databases: TT_TABLE records, indexes, genuid and QueryBuilder searches (every operator family)."""

from __future__ import annotations

import pytest
from kt_core.errors import TokyoTyrantError
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

pytestmark = pytest.mark.server

RECORDS = {
    "1": {"name": "alice", "age": "30", "tags": "red blue", "text": "the quick brown fox"},
    "2": {"name": "bob", "age": "4", "tags": "green", "text": "lazy dog sleeps"},
    "3": {"name": "carl", "age": "100", "tags": "red green blue", "text": "quick lazy cat"},
    "4": {"name": "dave", "age": "55", "tags": "yellow", "text": "nothing here"},
}
INDEXES = {"name": INDEX_STR, "age": INDEX_NUM, "tags": INDEX_TOKEN, "text": INDEX_QGRAM}

# (column, op, value, matching primary keys): at least one per operator.
CASES = [
    ("name", OP_STR_EQ, "alice", {"1"}),
    ("name", OP_STR_CONTAINS, "a", {"1", "3", "4"}),
    ("name", OP_STR_STARTSWITH, "b", {"2"}),
    ("name", OP_STR_ENDSWITH, "e", {"1", "4"}),
    ("tags", OP_STR_ALL, ["red", "blue"], {"1", "3"}),
    ("tags", OP_STR_ANY, ["green", "yellow"], {"2", "3", "4"}),
    ("name", OP_STR_ANYEXACT, ["bob", "carl"], {"2", "3"}),
    ("name", OP_STR_REGEX, "^[ab]", {"1", "2"}),
    ("age", OP_NUM_EQ, 30, {"1"}),
    ("age", OP_NUM_GT, 30, {"3", "4"}),
    ("age", OP_NUM_GE, 30, {"1", "3", "4"}),
    ("age", OP_NUM_LT, 30, {"2"}),
    ("age", OP_NUM_LE, 30.0, {"1", "2"}),
    ("age", OP_NUM_BETWEEN, [4, 55], {"1", "2", "4"}),
    ("age", OP_NUM_ANYEXACT, [4, 100], {"2", "3"}),
    ("text", OP_FTS_PHRASE, "quick brown", {"1"}),
    ("text", OP_FTS_ALL, ["quick", "lazy"], {"3"}),
    ("text", OP_FTS_ANY, ["fox", "dog"], {"1", "2"}),
    ("text", OP_FTS_EXPRESSION, "fox || dog", {"1", "2"}),
]
ALL_KEYS = set(RECORDS)


def _drop_indexes(client: TokyoTyrant) -> None:
    for column in INDEXES:
        try:
            client.delete_index(column)
        except TokyoTyrantError:
            pass  # there was none


def _load(client: TokyoTyrant, indexed: bool) -> None:
    _drop_indexes(client)
    assert client.set_bulk(RECORDS) is True
    if indexed:
        for column, kind in INDEXES.items():
            assert client.set_index(column, kind) is True


@pytest.mark.parametrize("mode", ["no-index", "index", "index+OP_NOINDEX"])
def test_every_operator(tt_table_client: TokyoTyrant, mode: str) -> None:
    _load(tt_table_client, indexed=mode != "no-index")
    flag = OP_NOINDEX if mode == "index+OP_NOINDEX" else 0
    for column, op, value, expected in CASES:
        q = QueryBuilder().filter(column, op | flag, value)
        assert set(q.execute(tt_table_client)) == expected, (column, op, value)
        assert q.count(tt_table_client) == len(expected), (column, op, value)
        negated = QueryBuilder().filter(column, op | flag | OP_NEGATE, value)
        assert set(negated.execute(tt_table_client)) == ALL_KEYS - expected, ("negated", column, op, value)


@pytest.mark.parametrize(("ordering", "expected"), [
    (ORDER_STR_ASC, ["3", "1", "2", "4"]),  # "100" < "30" < "4" < "55" as text
    (ORDER_STR_DESC, ["4", "2", "1", "3"]),
    (ORDER_NUM_ASC, ["2", "1", "4", "3"]),
    (ORDER_NUM_DESC, ["3", "4", "1", "2"]),
])
def test_order_by(tt_table_client: TokyoTyrant, ordering: int, expected: list[str]) -> None:
    _load(tt_table_client, indexed=False)
    assert QueryBuilder().order_by("age", ordering).execute(tt_table_client) == expected


def test_order_by_default_is_lexical(tt_table_client: TokyoTyrant) -> None:
    _load(tt_table_client, indexed=False)
    assert QueryBuilder().order_by("name").execute(tt_table_client) == ["1", "2", "3", "4"]


def test_limit_offset(tt_table_client: TokyoTyrant) -> None:
    _load(tt_table_client, indexed=False)
    q = QueryBuilder().order_by("age", ORDER_NUM_ASC)
    two = q.limit(2)
    assert two.execute(tt_table_client) == ["2", "1"]
    assert two.offset(1).execute(tt_table_client) == ["1", "4"]
    assert q.offset(1).execute(tt_table_client) == ["1", "4", "3"]  # q itself never got the limit
    assert two.offset(1).limit(None).execute(tt_table_client) == ["1", "4", "3"]
    assert two.limit(None).offset(None).execute(tt_table_client) == ["2", "1", "4", "3"]
    assert q.execute(tt_table_client) == ["2", "1", "4", "3"]


def test_get_returns_key_and_column_dicts(tt_table_client: TokyoTyrant) -> None:
    _load(tt_table_client, indexed=False)
    rows = QueryBuilder().filter("age", OP_NUM_GE, 55).order_by("age", ORDER_NUM_ASC).get(tt_table_client)
    assert rows == [("4", RECORDS["4"]), ("3", RECORDS["3"])]


def test_count_and_delete(tt_table_client: TokyoTyrant) -> None:
    _load(tt_table_client, indexed=True)
    q = QueryBuilder().filter("age", OP_NUM_LT, 50)
    assert q.count(tt_table_client) == 2
    assert q.delete(tt_table_client) is True
    assert sorted(tt_table_client.keys()) == ["3", "4"]
    assert q.count(tt_table_client) == 0


def test_search_direct(tt_table_client: TokyoTyrant) -> None:
    _load(tt_table_client, indexed=False)
    expr = QueryBuilder().filter("name", OP_STR_EQ, "bob").build_search()
    assert tt_table_client.search(expr) == ["2"]
    count = tt_table_client.search(expr, "count")
    assert type(count) is int and count == 1
    assert tt_table_client.search(expr, "get") == [("2", RECORDS["2"])]
    assert tt_table_client.search(expr, "out") is True
    assert tt_table_client.search([], "count") == 3


def test_table_records_are_dicts_without_the_key(tt_table_client: TokyoTyrant) -> None:
    assert tt_table_client.set("pk1", {"a": "1", "n": 42}) is True
    assert tt_table_client.get("pk1") == {"a": "1", "n": "42"}  # numbers come back as text
    assert tt_table_client.get("missing") is None
    tt_table_client.set_bulk({"pk2": {"b": "2"}})
    assert tt_table_client.get_bulk(["pk1", "pk2", "x"]) == {"pk1": {"a": "1", "n": "42"}, "pk2": {"b": "2"}}
    assert sorted(tt_table_client.keys()) == ["pk1", "pk2"]
    assert dict(tt_table_client.items()) == {"pk1": {"a": "1", "n": "42"}, "pk2": {"b": "2"}}
    assert tt_table_client.misc("get", ["pk2"]) == [b"b", b"2"]
    assert tt_table_client.add("pk2", {"c": "3"}) is False
    assert tt_table_client.remove("pk2") == 1
    assert tt_table_client.count() == 1


def test_genuid_increases(tt_table_client: TokyoTyrant) -> None:
    first = tt_table_client.genuid()
    second = tt_table_client.genuid()
    assert isinstance(first, int) and first >= 1
    assert second == first + 1


def test_index_management(tt_table_client: TokyoTyrant) -> None:
    _drop_indexes(tt_table_client)
    tt_table_client.set_bulk(RECORDS)
    assert tt_table_client.set_index("age", INDEX_NUM) is True
    assert tt_table_client.set_index("age", INDEX_NUM) is True  # replacing is allowed
    with pytest.raises(TokyoTyrantError) as info:
        tt_table_client.set_index("age", INDEX_NUM, check_exists=True)
    assert info.value.code == 1
    assert tt_table_client.optimize_index("age") is True
    assert tt_table_client.delete_index("age") is True
    assert tt_table_client.delete_index("age") is False  # no index left to delete: refused
    assert tt_table_client.set_index("age", INDEX_NUM, check_exists=True) is True
    assert QueryBuilder().filter("age", OP_NUM_EQ, 4).execute(tt_table_client) == ["2"]
    _drop_indexes(tt_table_client)


def test_table_error_and_status(tt_table_client: TokyoTyrant) -> None:
    assert tt_table_client.misc("out", ["missing"]) is None  # refused: no such record
    # The database's last error: ttserver keeps it per worker thread, so a real server may answer with
    # another thread's (or success); only the shape holds (README: where the spec and the server differ).
    code, message = tt_table_client.error  # type: ignore[misc]
    assert type(code) is int and code >= 0
    assert type(message) is str and message
    assert tt_table_client.status()["type"] == "table"
