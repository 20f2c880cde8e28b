"""QueryBuilder and search against the spec: chaining, result types, and how the server reads
expression text (token separators, BETWEEN bounds), with and without an index, on both backends."""

from __future__ import annotations

import pytest
from kt_core.errors import InvalidArgumentError, TokyoTyrantError
from kt_tyrant import (
    INDEX_NUM,
    INDEX_TOKEN,
    OP_NOINDEX,
    OP_NUM_ANYEXACT,
    OP_NUM_BETWEEN,
    OP_NUM_GE,
    OP_STR_ALL,
    OP_STR_ANY,
    OP_STR_ANYEXACT,
    ORDER_NUM_DESC,
    QueryBuilder,
    TokyoTyrant,
)

RECORDS = {
    "1": {"t": "a b c", "n": "5"},
    "2": {"t": "a,b", "n": "10"},
    "3": {"t": "c\td", "n": "7.5"},
    "4": {"t": "x", "n": "-3"},
}


def _load(client: TokyoTyrant, indexed: bool) -> None:
    for column in ("t", "n"):
        try:
            client.delete_index(column)
        except TokyoTyrantError:
            pass  # there was none
    client.set_bulk(RECORDS)
    if indexed:
        client.set_index("t", INDEX_TOKEN)
        client.set_index("n", INDEX_NUM)


def _search(client: TokyoTyrant, column: str, op: int, expr: bytes) -> list[str]:
    return sorted(client.search([b"addcond\x00" + column.encode() + b"\x00%d\x00" % op + expr]))


@pytest.mark.server
@pytest.mark.parametrize("indexed", [False, True], ids=["no-index", "index"])
def test_token_lists_split_at_spaces_commas_and_control_bytes(tt_table_client: TokyoTyrant, indexed: bool) -> None:
    _load(tt_table_client, indexed)
    for expr in (b"a b", b"a,b", b"a, b", b" a  b ", b"a\tb"):
        assert _search(tt_table_client, "t", OP_STR_ALL, expr) == ["1", "2"], expr
        assert _search(tt_table_client, "t", OP_STR_ANY, expr) == ["1", "2"], expr
    assert _search(tt_table_client, "t", OP_STR_ANY, b"a\nd") == ["1", "2", "3"]
    # a column value holding a tab is itself two tokens: ANYEXACT compares whole values
    assert _search(tt_table_client, "t", OP_STR_ANYEXACT, b"c\td") == []
    assert _search(tt_table_client, "t", OP_STR_ANYEXACT, b"x,y") == ["4"]


@pytest.mark.server
@pytest.mark.parametrize("indexed", [False, True], ids=["no-index", "index"])
def test_between_bounds(tt_table_client: TokyoTyrant, indexed: bool) -> None:
    _load(tt_table_client, indexed)
    assert _search(tt_table_client, "n", OP_NUM_BETWEEN, b"5 10") == ["1", "2", "3"]
    assert _search(tt_table_client, "n", OP_NUM_BETWEEN, b"5,10") == ["1", "2", "3"]
    assert _search(tt_table_client, "n", OP_NUM_BETWEEN, b"10 5") == ["1", "2", "3"]  # swapped bounds
    assert _search(tt_table_client, "n", OP_NUM_BETWEEN, b"6.5 7.6") == ["3"]  # decimals compare as numbers
    # one number: the other bound is 0 (the server reads the missing second number as 0)
    assert _search(tt_table_client, "n", OP_NUM_BETWEEN, b"7") == ["1"]
    assert _search(tt_table_client, "n", OP_NUM_BETWEEN, b"-3") == ["4"]
    # BETWEEN splits at space and comma only: "5\t10" is one number, 5, so 0..5
    assert _search(tt_table_client, "n", OP_NUM_BETWEEN, b"5\t10") == ["1"]


@pytest.mark.server
def test_anyexact_number_tab_depends_on_the_index(tt_table_client: TokyoTyrant) -> None:
    # A scan splits NUMOREQ at space and comma only; a decimal index also at tab, CR and LF.
    _load(tt_table_client, indexed=False)
    assert _search(tt_table_client, "n", OP_NUM_ANYEXACT, b"5\t10") == ["1"]
    assert _search(tt_table_client, "n", OP_NUM_ANYEXACT, b"5 10") == ["1", "2"]
    _load(tt_table_client, indexed=True)
    assert _search(tt_table_client, "n", OP_NUM_ANYEXACT, b"5\t10") == ["1", "2"]
    assert _search(tt_table_client, "n", OP_NUM_ANYEXACT | OP_NOINDEX, b"5\t10") == ["1"]


@pytest.mark.server
def test_query_builder_lists_are_read_as_the_tokens_given(tt_table_client: TokyoTyrant) -> None:
    _load(tt_table_client, indexed=False)
    assert sorted(QueryBuilder().filter("t", OP_STR_ALL, ["a", "b"]).execute(tt_table_client)) == ["1", "2"]
    assert sorted(QueryBuilder().filter("n", OP_NUM_BETWEEN, [5, 10]).execute(tt_table_client)) == ["1", "2", "3"]
    assert sorted(QueryBuilder().filter("n", OP_NUM_BETWEEN, (6.5, 7.6)).execute(tt_table_client)) == ["3"]
    assert sorted(QueryBuilder().filter("n", OP_NUM_ANYEXACT, [-3, 10]).execute(tt_table_client)) == ["2", "4"]
    assert QueryBuilder().filter("t", OP_STR_ANYEXACT, ["x", "zz"]).execute(tt_table_client) == ["4"]


@pytest.mark.server
def test_query_builder_result_types(tt_table_client: TokyoTyrant) -> None:
    _load(tt_table_client, indexed=False)
    q = QueryBuilder().filter("n", OP_NUM_GE, 5).order_by("n", ORDER_NUM_DESC).limit(2).offset(1)
    keys = q.execute(tt_table_client)
    assert type(keys) is list and keys == ["3", "1"] and all(type(k) is str for k in keys)
    rows = q.get(tt_table_client)
    assert type(rows) is list and all(type(r) is tuple and len(r) == 2 for r in rows)
    assert rows == [("3", RECORDS["3"]), ("1", RECORDS["1"])]
    count = q.count(tt_table_client)
    assert type(count) is int and count == 2
    assert QueryBuilder().filter("n", OP_NUM_GE, 5).count(tt_table_client) == 3
    deleted = q.limit(None).offset(None).delete(tt_table_client)
    assert type(deleted) is bool and deleted is True
    assert sorted(tt_table_client.keys()) == ["4"]
    assert QueryBuilder().execute(tt_table_client) == ["4"]  # no condition: every record
    assert type(QueryBuilder().filter("n", OP_NUM_GE, 100).count(tt_table_client)) is int


def test_between_takes_exactly_two_values() -> None:
    for values in ([1], [1, 2, 3], []):
        with pytest.raises(InvalidArgumentError, match="BETWEEN"):
            QueryBuilder().filter("n", OP_NUM_BETWEEN, values)
    (arg,) = QueryBuilder().filter("n", OP_NUM_BETWEEN, [1, 2]).build_search()
    assert arg.endswith(b"\x001,2")


@pytest.mark.parametrize("token", ["a\x0bb", "a\x0cb", "a\x01b", "a\x1fb", "a b", "a,b", "a\tb", ""])
def test_tokens_the_server_would_split_are_refused(token: str) -> None:
    with pytest.raises(InvalidArgumentError):
        QueryBuilder().filter("t", OP_STR_ANY, ["x", token])
