"""kt_tyrant.models (kt 0.9.6's kt.models) against a table database: field formats on the server,
defaults, expressions, every query shape, the Model API, indexes and field inheritance."""

from __future__ import annotations

import calendar
import datetime
import inspect
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kt_core.errors import ImproperlyConfigured, InvalidArgumentError, TokyoTyrantError
from kt_tyrant import (
    INDEX_NUM,
    INDEX_QGRAM,
    INDEX_STR,
    INDEX_TOKEN,
    KT_NONE,
    OP_FTS_ALL,
    OP_FTS_ANY,
    OP_FTS_EXPRESSION,
    OP_FTS_PHRASE,
    OP_NEGATE,
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
    TokyoTyrant,
)
from kt_tyrant.models import (
    BytesField,
    DateField,
    DateTimeField,
    Expression,
    Field,
    FloatField,
    IntegerField,
    KeyField,
    Model,
    ModelSearch,
    Ordering,
    SearchField,
    TableDatabase,
    TextField,
    TimestampField,
    TokenField,
)

# ---------------------------------------------------------------------------------------- models

class Base(Model):
    """Every model of these tests stores through Base.__database__ (set by the ``db`` fixture)."""


class Everything(Base):
    raw = BytesField()
    text = TextField()
    number = IntegerField()
    ratio = FloatField()
    moment = DateTimeField()
    day = DateField()
    stamp = TimestampField()
    local_stamp = TimestampField(utc=False)
    body = SearchField()
    tokens = TokenField()


class User(Base):
    name = TextField(index=True)
    age = IntegerField(index=True)
    score = FloatField()
    tags = TokenField(index=True)
    bio = SearchField(index=True)
    joined = DateTimeField()
    seen = TimestampField()


_counter = itertools.count(1)


class WithDefaults(Base):
    status = TextField(default="new")
    serial = IntegerField(default=lambda: next(_counter))
    tags = TokenField()


class Parent(Base):
    name = TextField(index=True)
    age = IntegerField()


class Child(Parent):
    age = FloatField()  # overrides the parent's field
    school = TextField(index=True)


class GrandChild(Child):
    nickname = TextField()


# Every column any model here indexes: dropped before each test (the server outlives tests).
INDEXED_COLUMNS = ["name", "age", "tags", "bio", "school"]

USERS = {
    "huey": dict(name="huey", age=3, score=1.5, tags="cat orange", bio="the fluffy cat sleeps",
                 joined=datetime.datetime(2020, 1, 1, 10, 0, 0, 500), seen=datetime.datetime(2020, 6, 1, 12)),
    "mickey": dict(name="mickey", age=5, score=2.25, tags="dog black", bio="a loud dog barks",
                   joined=datetime.datetime(2020, 2, 1, 9, 30), seen=datetime.datetime(2021, 6, 1, 12)),
    "zaizee": dict(name="zaizee", age=2, score=0.5, tags="cat grey", bio="the small cat purrs",
                   joined=datetime.datetime(2021, 3, 1, 8, 15), seen=datetime.datetime(2019, 6, 1, 12)),
    "beanie": dict(name="beanie", age=10, score=10.0, tags="dog brown", bio="an old dog sleeps",
                   joined=datetime.datetime(2019, 12, 31, 23, 59, 59, 999999), seen=datetime.datetime(2022, 6, 1)),
}
ALL_USERS = set(USERS)


def _drop_indexes(db: TokyoTyrant) -> None:
    for column in INDEXED_COLUMNS:
        db.delete_index(column)  # False where there was none


@pytest.fixture
def db(tt_table_server: Any) -> Iterator[TableDatabase]:
    """A cleared table database without indexes, set as every test model's database."""
    database = TableDatabase(host=tt_table_server.host, port=tt_table_server.port, timeout=10.0)
    database.clear()
    _drop_indexes(database)
    Base.__database__ = database
    try:
        yield database
    finally:
        Base.__database__ = None
        _drop_indexes(database)
        database.close()


@pytest.fixture
def raw(db: TableDatabase, tt_table_server: Any) -> Iterator[TokyoTyrant]:
    """A plain TT_TABLE client of the same server: the columns as the server holds them."""
    client = TokyoTyrant(host=tt_table_server.host, port=tt_table_server.port, serializer="table")
    yield client
    client.close()


@pytest.fixture
def users(db: TableDatabase) -> TableDatabase:
    for key, data in USERS.items():
        User.create(key, **data)
    return db


# ---------------------------------------------------------------------------------------- TableDatabase

def test_table_database_signature_and_no_value_serializer(db: TableDatabase, raw: TokyoTyrant) -> None:
    params = inspect.signature(TableDatabase.__init__).parameters
    assert [(n, params[n].default) for n in ("host", "port", "decode_keys")] == [
        ("host", "127.0.0.1"), ("port", 1978), ("decode_keys", True)]
    assert db.serializer.name == KT_NONE
    assert db.set("k", b"a\x00\xff\x01\x00b\x002") is True
    assert db.get("k") == b"a\x00\xff\x01\x00b\x002"  # raw bytes, not a dict
    assert raw.get("k") == {"a": b"\xff\x01", "b": "2"}


def test_table_database_decode_keys_false_gives_bytes_keys(tt_table_server: Any, db: TableDatabase) -> None:
    User.create("huey", name="huey", age=3)
    bytes_db = TableDatabase(host=tt_table_server.host, port=tt_table_server.port, decode_keys=False)
    try:
        User.__database__ = bytes_db
        assert User.query().execute() == [b"huey"]
        assert User.get(b"huey").name == "huey"
        assert [u.key for u in User.get_list([b"huey", b"nobody"])] == [b"huey"]
    finally:
        del User.__database__  # back to Base's
        bytes_db.close()


def test_model_without_database_raises_improperly_configured() -> None:
    class Orphan(Model):
        name = TextField()

    with pytest.raises(ImproperlyConfigured):
        Orphan.get("x")
    with pytest.raises(ImproperlyConfigured):
        Orphan.create("x", name="y")


# ---------------------------------------------------------------------------------------- field formats

MOMENT = datetime.datetime(2020, 1, 2, 3, 4, 5, 678)
LOCAL_MOMENT = datetime.datetime(2020, 7, 8, 9, 10, 11, 12)


def test_every_field_round_trips_in_kt096_stored_format(db: TableDatabase, raw: TokyoTyrant) -> None:
    Everything.create("e1", raw=b"\xffbin\x01", text="h\u00e9llo w\u00f6rld", number=-42, ratio=1.5, moment=MOMENT,
                      day=datetime.date(2020, 1, 2), stamp=MOMENT, local_stamp=LOCAL_MOMENT,
                      body="the quick brown fox", tokens="red green")
    local_micros = int(time.mktime(LOCAL_MOMENT.timetuple())) * 1000000 + 12
    assert raw.get("e1") == {
        "raw": b"\xffbin\x01",
        "text": "h\u00e9llo w\u00f6rld",
        "number": "-42",
        "ratio": "1.5",
        "moment": "2020-01-02T03:04:05.000678",
        "day": "2020-01-02",
        "stamp": "1577934245000678",  # calendar.timegm(2020-01-02 03:04:05) * 10**6 + 678
        "local_stamp": str(local_micros),
        "body": "the quick brown fox",
        "tokens": "red green",
    }
    e = Everything.get("e1")
    assert e.key == "e1"
    assert e.raw == b"\xffbin\x01"
    assert e.text == "h\u00e9llo w\u00f6rld"
    assert e.number == -42 and type(e.number) is int
    assert e.ratio == 1.5 and type(e.ratio) is float
    assert e.moment == MOMENT and type(e.moment) is datetime.datetime
    assert e.day == datetime.date(2020, 1, 2) and type(e.day) is datetime.date
    assert e.stamp == MOMENT and e.stamp.tzinfo is None
    assert e.local_stamp == LOCAL_MOMENT
    assert e.body == "the quick brown fox"
    assert e.tokens == "red green"


def test_records_written_by_kt096_read_back(db: TableDatabase, raw: TokyoTyrant) -> None:
    # kt 0.9.6 writes "col NUL val NUL" with a trailing NUL, through a KT_NONE client.
    assert db.set("k1", b"text\x00huey\x00number\x003\x00") is True
    assert raw.get("k1") == {"text": "huey", "number": "3"}
    e = Everything.get("k1")
    assert (e.text, e.number, e.ratio) == ("huey", 3, None)
    # Every format as kt 0.9.6 stores it, written column by column.
    raw.set("k2", {"ratio": "2.5", "moment": "1999-12-31T23:59:58.000001", "day": "1999-12-31",
                   "stamp": "946684799000001", "local_stamp": "946684799000000.0", "raw": b"\x80\x81"})
    e = Everything.get("k2")
    assert e.ratio == 2.5
    assert e.moment == datetime.datetime(1999, 12, 31, 23, 59, 58, 1)
    assert e.day == datetime.date(1999, 12, 31)
    assert e.stamp == datetime.datetime(1999, 12, 31, 23, 59, 59, 1)
    # kt 0.9.6 with utc=False wrote the float text of the count: it still reads.
    assert e.local_stamp == datetime.datetime.fromtimestamp(946684799)
    assert e.raw == b"\x80\x81"


def test_timestamp_field_accepts_date_int_seconds_and_aware_datetimes(db: TableDatabase, raw: TokyoTyrant) -> None:
    tz = datetime.timezone(datetime.timedelta(hours=2))
    Everything.create("d", stamp=datetime.date(2020, 1, 2))
    Everything.create("i", stamp=1577934245)
    Everything.create("a", stamp=datetime.datetime(2020, 1, 2, 5, 4, 5, tzinfo=tz))
    Everything.create("n", stamp=datetime.datetime(1969, 12, 31, 23, 59, 59, 500000))
    assert raw.get("d") == {"stamp": str(calendar.timegm((2020, 1, 2, 0, 0, 0)) * 1000000)}
    assert raw.get("i") == {"stamp": "1577934245000000"}
    assert raw.get("a") == {"stamp": "1577934245000000"}  # 05:04:05+02:00 is 03:04:05 UTC
    assert raw.get("n") == {"stamp": "-500000"}
    assert Everything.get("d").stamp == datetime.datetime(2020, 1, 2)
    assert Everything.get("i").stamp == datetime.datetime(2020, 1, 2, 3, 4, 5)
    assert Everything.get("a").stamp == datetime.datetime(2020, 1, 2, 3, 4, 5)
    assert Everything.get("n").stamp == datetime.datetime(1969, 12, 31, 23, 59, 59, 500000)


def test_none_values_are_not_stored_and_unknown_columns_become_attributes(db: TableDatabase,
                                                                         raw: TokyoTyrant) -> None:
    Everything.create("x", text="kept", number=None)
    assert raw.get("x") == {"text": "kept"}
    raw.set("y", {"text": "t", "extra": "value", "save": "not a method", "binary": b"\xfe"})
    y = Everything.get("y")
    assert y.extra == "value"
    assert y.binary == b"\xfe"
    assert callable(y.save)  # a column named like a Model attribute does not replace it
    y.text = "changed"
    assert y.save() is True
    assert raw.get("y") == {"text": "changed"}  # only fields are written back, as kt 0.9.6 does


def test_nul_byte_in_a_value_is_refused(db: TableDatabase) -> None:
    with pytest.raises(InvalidArgumentError):
        Everything.create("bad", text="a\x00b")
    assert db.get("bad") is None


# ---------------------------------------------------------------------------------------- defaults

def test_plain_and_callable_defaults(db: TableDatabase, raw: TokyoTyrant) -> None:
    a = WithDefaults(key="a")
    b = WithDefaults(key="b", status="old")
    assert a.status == "new" and b.status == "old"
    assert b.serial == a.serial + 1  # the callable runs for each instance
    assert a.tags is None
    a.save()
    b.save()
    assert raw.get("a") == {"status": "new", "serial": str(a.serial)}
    assert raw.get("b") == {"status": "old", "serial": str(b.serial)}
    # A column missing from the stored record reads back as the default, as in kt 0.9.6.
    raw.set("c", {"tags": "x y"})
    c = WithDefaults.get("c")
    assert (c.status, c.tags) == ("new", "x y")


# ---------------------------------------------------------------------------------------- expressions

EXPRESSIONS = [
    ("bytes ==", lambda: Everything.raw == b"x", Everything.raw, OP_STR_EQ, b"x"),
    ("bytes !=", lambda: Everything.raw != b"x", Everything.raw, OP_STR_EQ | OP_NEGATE, b"x"),
    ("text ==", lambda: User.name == "a", User.name, OP_STR_EQ, "a"),
    ("text !=", lambda: User.name != "a", User.name, OP_STR_EQ | OP_NEGATE, "a"),
    ("contains", lambda: User.name.contains("a"), User.name, OP_STR_CONTAINS, "a"),
    ("startswith", lambda: User.name.startswith("a"), User.name, OP_STR_STARTSWITH, "a"),
    ("endswith", lambda: User.name.endswith("a"), User.name, OP_STR_ENDSWITH, "a"),
    ("contains_all", lambda: User.tags.contains_all("a", "b"), User.tags, OP_STR_ALL, ("a", "b")),
    ("contains_any", lambda: User.tags.contains_any("a", "b"), User.tags, OP_STR_ANY, ("a", "b")),
    ("contains_any list", lambda: User.tags.contains_any(["a", "b"]), User.tags, OP_STR_ANY, ("a", "b")),
    ("contains_any_exact", lambda: User.name.contains_any_exact("a", "b"), User.name, OP_STR_ANYEXACT, ("a", "b")),
    ("regex", lambda: User.name.regex("^a"), User.name, OP_STR_REGEX, "^a"),
    ("datetime ==", lambda: User.joined == MOMENT, User.joined, OP_STR_EQ, MOMENT),
    ("date startswith", lambda: Everything.day.startswith("2020"), Everything.day, OP_STR_STARTSWITH, "2020"),
    ("key ==", lambda: User.key == "k", User.key, OP_STR_EQ, "k"),
    ("int ==", lambda: User.age == 1, User.age, OP_NUM_EQ, 1),
    ("int !=", lambda: User.age != 1, User.age, OP_NUM_EQ | OP_NEGATE, 1),
    ("int <", lambda: User.age < 1, User.age, OP_NUM_LT, 1),
    ("int <=", lambda: User.age <= 1, User.age, OP_NUM_LE, 1),
    ("int >", lambda: User.age > 1, User.age, OP_NUM_GT, 1),
    ("int >=", lambda: User.age >= 1, User.age, OP_NUM_GE, 1),
    ("between", lambda: User.age.between(1, 5), User.age, OP_NUM_BETWEEN, (1, 5)),
    ("matches_any", lambda: User.age.matches_any(1, 2, 3), User.age, OP_NUM_ANYEXACT, (1, 2, 3)),
    ("float >", lambda: User.score > 1.5, User.score, OP_NUM_GT, 1.5),
    ("timestamp <", lambda: User.seen < MOMENT, User.seen, OP_NUM_LT, MOMENT),
    ("search ==", lambda: User.bio == "a", User.bio, OP_STR_EQ, "a"),
    ("search !=", lambda: User.bio != "a", User.bio, OP_STR_EQ | OP_NEGATE, "a"),
    ("match", lambda: User.bio.match("a b"), User.bio, OP_FTS_PHRASE, "a b"),
    ("match_all", lambda: User.bio.match_all("a", "b"), User.bio, OP_FTS_ALL, ("a", "b")),
    ("match_any", lambda: User.bio.match_any("a", "b"), User.bio, OP_FTS_ANY, ("a", "b")),
    ("search", lambda: User.bio.search("a || b"), User.bio, OP_FTS_EXPRESSION, "a || b"),
]


@pytest.mark.parametrize(("build", "field", "op", "rhs"), [e[1:] for e in EXPRESSIONS],
                         ids=[e[0] for e in EXPRESSIONS])
def test_operator_builds_expression(build: Any, field: Field, op: int, rhs: Any) -> None:
    expression = build()
    assert type(expression) is Expression
    assert expression.lhs is field
    assert expression.op == op
    assert expression.rhs == rhs


def test_operator_sets_follow_kt096_field_types() -> None:
    # Numeric comparisons exist on number fields only, full-text methods on SearchField only.
    assert not hasattr(TextField, "between") and not hasattr(TextField, "match")
    assert not hasattr(IntegerField, "contains") and not hasattr(IntegerField, "match")
    assert not hasattr(SearchField, "contains") and not hasattr(SearchField, "between")
    with pytest.raises(TypeError):
        User.name < "a"  # noqa: B015


@pytest.mark.parametrize(("field", "asc", "desc"), [
    (User.name, ORDER_STR_ASC, ORDER_STR_DESC),
    (User.joined, ORDER_STR_ASC, ORDER_STR_DESC),
    (User.bio, ORDER_STR_ASC, ORDER_STR_DESC),
    (User.age, ORDER_NUM_ASC, ORDER_NUM_DESC),
    (User.score, ORDER_NUM_ASC, ORDER_NUM_DESC),
    (User.seen, ORDER_NUM_ASC, ORDER_NUM_DESC),
], ids=["text", "datetime", "search", "int", "float", "timestamp"])
def test_asc_and_desc_build_orderings(field: Field, asc: int, desc: int) -> None:
    for ordering, value in ((field.asc(), asc), (field.desc(), desc)):
        assert type(ordering) is Ordering
        assert ordering.field is field
        assert ordering.value == value


def test_field_index_kinds() -> None:
    assert [(f.name, f._index_type) for f in User.__indexes__] == [
        ("name", INDEX_STR), ("age", INDEX_NUM), ("tags", INDEX_TOKEN), ("bio", INDEX_QGRAM)]
    assert isinstance(User.key, KeyField)
    assert User.name.model is User and User.name.name == "name"
    assert hash(User.name) != hash(User.age)  # fields stay hashable despite ==
    assert {User.name: 1}[User.name] == 1


# ---------------------------------------------------------------------------------------- queries

FILTERS = [
    ("text ==", lambda: User.name == "huey", {"huey"}),
    ("text !=", lambda: User.name != "huey", ALL_USERS - {"huey"}),
    ("contains", lambda: User.name.contains("i"), {"mickey", "zaizee", "beanie"}),
    ("startswith", lambda: User.name.startswith("m"), {"mickey"}),
    ("endswith", lambda: User.name.endswith("ee"), {"zaizee"}),
    ("contains_all", lambda: User.tags.contains_all("cat", "orange"), {"huey"}),
    ("contains_any", lambda: User.tags.contains_any("orange", "brown"), {"huey", "beanie"}),
    ("contains_any list", lambda: User.tags.contains_any(["grey", "black"]), {"zaizee", "mickey"}),
    ("contains_any_exact", lambda: User.name.contains_any_exact("huey", "beanie", "nobody"), {"huey", "beanie"}),
    ("regex", lambda: User.name.regex("^[hz]"), {"huey", "zaizee"}),
    ("negated contains", lambda: Expression(User.name, OP_STR_CONTAINS | OP_NEGATE, "i"), {"huey"}),
    ("negated contains_any", lambda: Expression(User.tags, OP_STR_ANY | OP_NEGATE, ("cat", "brown")), {"mickey"}),
    ("int ==", lambda: User.age == 3, {"huey"}),
    ("int !=", lambda: User.age != 3, ALL_USERS - {"huey"}),
    ("int <", lambda: User.age < 3, {"zaizee"}),
    ("int <=", lambda: User.age <= 3, {"zaizee", "huey"}),
    ("int >", lambda: User.age > 5, {"beanie"}),
    ("int >=", lambda: User.age >= 5, {"mickey", "beanie"}),
    ("between", lambda: User.age.between(3, 5), {"huey", "mickey"}),
    ("negated between", lambda: Expression(User.age, OP_NUM_BETWEEN | OP_NEGATE, (3, 5)), {"zaizee", "beanie"}),
    ("matches_any", lambda: User.age.matches_any(2, 10, 99), {"zaizee", "beanie"}),
    ("float ==", lambda: User.score == 2.25, {"mickey"}),
    ("float >", lambda: User.score > 1.5, {"mickey", "beanie"}),
    ("match", lambda: User.bio.match("dog barks"), {"mickey"}),
    ("match_all", lambda: User.bio.match_all("cat", "sleeps"), {"huey"}),
    ("match_any", lambda: User.bio.match_any("purrs", "barks"), {"zaizee", "mickey"}),
    ("search", lambda: User.bio.search("fluffy || old"), {"huey", "beanie"}),
    ("negated match", lambda: Expression(User.bio, OP_FTS_PHRASE | OP_NEGATE, "cat"), {"mickey", "beanie"}),
    ("search ==", lambda: User.bio == "a loud dog barks", {"mickey"}),
    ("search !=", lambda: User.bio != "a loud dog barks", ALL_USERS - {"mickey"}),
    # Values compare in the field's stored format.
    ("datetime ==", lambda: User.joined == datetime.datetime(2020, 1, 1, 10, 0, 0, 500), {"huey"}),
    ("datetime startswith", lambda: User.joined.startswith("2020-"), {"huey", "mickey"}),
    ("datetime any exact", lambda: User.joined.contains_any_exact(
        datetime.datetime(2021, 3, 1, 8, 15), "2020-02-01T09:30:00.000000"), {"zaizee", "mickey"}),
    ("timestamp >", lambda: User.seen > datetime.datetime(2020, 6, 1, 12), {"mickey", "beanie"}),
    ("timestamp between dates", lambda: User.seen.between(datetime.date(2019, 1, 1), datetime.date(2021, 1, 1)),
     {"zaizee", "huey"}),
    ("timestamp < int seconds", lambda: User.seen < calendar.timegm((2020, 1, 1, 0, 0, 0)), {"zaizee"}),
    ("key ==", lambda: User.key == "mickey", {"mickey"}),
    ("key startswith", lambda: User.key.startswith("z"), {"zaizee"}),
]


@pytest.mark.parametrize("indexed", [False, True], ids=["no-index", "index"])
@pytest.mark.parametrize(("build", "expected"), [f[1:] for f in FILTERS], ids=[f[0] for f in FILTERS])
def test_filter_matches(users: TableDatabase, indexed: bool, build: Any, expected: set[str]) -> None:
    if indexed:
        User.create_indexes()
    query = User.query().filter(build())
    assert set(query.execute()) == expected
    assert query.count() == len(expected)
    assert {u.key for u in query.get()} == expected


def test_filter_ands_expressions_and_chained_filters(users: TableDatabase) -> None:
    both = User.query().filter(User.tags.contains_any("cat"), User.age > 2)
    assert both.execute() == ["huey"]
    chained = User.query().filter(User.tags.contains_any("cat")).filter(User.age > 2)
    assert chained.execute() == ["huey"]
    assert User.query().filter(User.name == "huey", User.age == 5).execute() == []


def test_filter_refuses_bad_values_before_sending(users: TableDatabase) -> None:
    with pytest.raises(InvalidArgumentError):
        User.query().filter(User.name == None)  # noqa: E711
    with pytest.raises(InvalidArgumentError):
        User.query().filter(User.tags.contains_any("two words"))
    with pytest.raises(InvalidArgumentError):
        User.query().filter(User.age.between(1, 2, 3))
    with pytest.raises(TypeError):
        User.query().filter(("name", OP_STR_EQ, "huey"))  # type: ignore[arg-type]


ORDERS = [
    ("text asc (bare field)", lambda q: q.order_by(User.name), ["beanie", "huey", "mickey", "zaizee"]),
    ("text asc", lambda q: q.order_by(User.name.asc()), ["beanie", "huey", "mickey", "zaizee"]),
    ("text desc", lambda q: q.order_by(User.name.desc()), ["zaizee", "mickey", "huey", "beanie"]),
    ("int asc", lambda q: q.order_by(User.age), ["zaizee", "huey", "mickey", "beanie"]),  # 10 last: numeric
    ("int desc", lambda q: q.order_by(User.age.desc()), ["beanie", "mickey", "huey", "zaizee"]),
    ("float asc", lambda q: q.order_by(User.score.asc()), ["zaizee", "huey", "mickey", "beanie"]),
    ("datetime asc", lambda q: q.order_by(User.joined), ["beanie", "huey", "mickey", "zaizee"]),
    ("timestamp desc", lambda q: q.order_by(User.seen.desc()), ["beanie", "mickey", "huey", "zaizee"]),
    ("key desc", lambda q: q.order_by(User.key.desc()), ["zaizee", "mickey", "huey", "beanie"]),
    ("last ordering wins", lambda q: q.order_by(User.name, User.age.desc()), ["beanie", "mickey", "huey", "zaizee"]),
    ("last order_by call wins", lambda q: q.order_by(User.age.desc()).order_by(User.name),
     ["beanie", "huey", "mickey", "zaizee"]),
]


@pytest.mark.parametrize("indexed", [False, True], ids=["no-index", "index"])
@pytest.mark.parametrize(("build", "expected"), [o[1:] for o in ORDERS], ids=[o[0] for o in ORDERS])
def test_order_by(users: TableDatabase, indexed: bool, build: Any, expected: list[str]) -> None:
    if indexed:
        User.create_indexes()
    query = build(User.query())
    assert query.execute() == expected
    assert [u.key for u in query.get()] == expected


def test_order_by_with_filter(users: TableDatabase) -> None:
    query = User.query().filter(User.tags.contains_any("dog")).order_by(User.age.desc())
    assert query.execute() == ["beanie", "mickey"]


def test_limit_and_offset(users: TableDatabase) -> None:
    by_age = User.query().order_by(User.age)
    assert by_age.limit(2).execute() == ["zaizee", "huey"]
    assert by_age.offset(1).limit(2).execute() == ["huey", "mickey"]
    assert by_age.offset(3).execute() == ["beanie"]
    assert by_age.limit(2).limit(None).execute() == ["zaizee", "huey", "mickey", "beanie"]
    assert by_age.offset(2).offset(None).execute() == ["zaizee", "huey", "mickey", "beanie"]
    assert by_age.limit(0).execute() == []
    assert by_age.limit(2).count() == 2  # the server applies limit to a count
    assert by_age.offset(3).count() == 1
    with pytest.raises(InvalidArgumentError):
        by_age.limit(-1)


def test_count_get_iteration_and_delete(users: TableDatabase, raw: TokyoTyrant) -> None:
    young = User.query().filter(User.age < 4)
    assert young.count() == 2
    assert User.query().count() == 4
    got = young.order_by(User.age).get()
    assert [type(u) for u in got] == [User, User]
    assert [(u.key, u.name, u.age, u.score, u.joined) for u in got] == [
        ("zaizee", "zaizee", 2, 0.5, USERS["zaizee"]["joined"]),
        ("huey", "huey", 3, 1.5, USERS["huey"]["joined"])]
    assert list(young.order_by(User.age)) == ["zaizee", "huey"]  # iterating gives keys, as kt 0.9.6
    assert young.delete() is True
    assert sorted(raw.keys()) == ["beanie", "mickey"]
    assert young.count() == 0


def test_builder_methods_return_new_searches(users: TableDatabase) -> None:
    base = User.query().filter(User.tags.contains_any("cat"))
    derived = base.filter(User.age > 2)
    ordered = base.order_by(User.age.desc())
    limited = ordered.limit(1)
    skipped = ordered.offset(1)
    assert all(type(q) is ModelSearch for q in (derived, ordered, limited, skipped))
    assert len({id(q) for q in (base, derived, ordered, limited, skipped)}) == 5
    assert set(base.execute()) == {"huey", "zaizee"}  # the original is unchanged by every call
    assert derived.execute() == ["huey"]
    assert ordered.execute() == ["huey", "zaizee"]
    assert limited.execute() == ["huey"]
    assert skipped.execute() == ["zaizee"]
    assert ordered.execute() == ["huey", "zaizee"]


def test_clone_is_independent(users: TableDatabase) -> None:
    query = User.query().filter(User.age > 2).order_by(User.age)
    copy = query.clone()
    assert copy is not query
    assert copy.execute() == query.execute() == ["huey", "mickey", "beanie"]
    copy._conditions.append(("name", OP_STR_EQ, "huey"))  # changing the copy's state...
    copy._order_by.append(("age", ORDER_NUM_DESC))
    copy._limit = 1
    assert copy.execute() == ["huey"]
    assert query.execute() == ["huey", "mickey", "beanie"]  # ...leaves the original as it was


# ---------------------------------------------------------------------------------------- Model API

def test_create_get_and_save(db: TableDatabase, raw: TokyoTyrant) -> None:
    huey = User.create("huey", name="huey", age=3)
    assert isinstance(huey, User) and huey.key == "huey"
    assert raw.get("huey") == {"name": "huey", "age": "3"}
    got = User.get("huey")
    assert (got.key, got.name, got.age, got.score) == ("huey", "huey", 3, None)
    got.age = 4
    got.score = 0.25
    assert got.save() is True
    assert raw.get("huey") == {"name": "huey", "age": "4", "score": "0.25"}
    got.score = None
    got.save()
    assert raw.get("huey") == {"name": "huey", "age": "4"}  # save replaces the whole record
    u = User(name="nokey")
    with pytest.raises(ValueError):
        u.save()
    with pytest.raises(ValueError):
        u.delete()


def test_get_missing_key_raises_key_error(db: TableDatabase) -> None:
    with pytest.raises(KeyError):
        User.get("nobody")
    with pytest.raises(KeyError):
        User["nobody"]


def test_delete_instance(db: TableDatabase, raw: TokyoTyrant) -> None:
    huey = User.create("huey", name="huey")
    User.create("mickey", name="mickey")
    assert huey.delete() == 1
    assert huey.delete() == 0
    assert raw.keys() == ["mickey"]


def test_get_list_create_list_delete_list(db: TableDatabase, raw: TokyoTyrant) -> None:
    assert User.create_list([User(key=k, name=k, age=i) for i, k in enumerate(["a", "b", "c", "d"])]) is True
    assert raw.get("c") == {"name": "c", "age": "2"}
    got = User.get_list(["d", "missing", "a", "c"])
    assert [(u.key, u.name, u.age) for u in got] == [("d", "d", 3), ("a", "a", 0), ("c", "c", 2)]
    assert User.get_list([]) == []
    assert User.delete_list(["a", "c", "missing"]) is True
    assert sorted(raw.keys()) == ["b", "d"]
    with pytest.raises(ValueError):
        User.create_list([User(name="nokey")])


def test_all_and_count(db: TableDatabase) -> None:
    assert User.all() == [] and User.count() == 0
    User.create("a", name="x", age=1)
    User.create("b", name="y", age=2)
    assert sorted((u.key, u.name, u.age) for u in User.all()) == [("a", "x", 1), ("b", "y", 2)]
    assert User.count() == 2


def test_class_item_access(db: TableDatabase, raw: TokyoTyrant) -> None:
    User["a"] = User(name="from instance", age=1)
    User["b"] = {"name": "from dict", "age": 2}
    User["c"] = User(key="c", name="matching key")
    assert raw.get("a") == {"name": "from instance", "age": "1"}
    assert raw.get("b") == {"name": "from dict", "age": "2"}
    assert User["a"].name == "from instance"
    assert [u.key for u in User[["c", "a", "zz"]]] == ["c", "a"]
    assert [u.key for u in User[("b",)]] == ["b"]
    with pytest.raises(ValueError):
        User["d"] = User(key="other", name="x")
    assert raw.get("d") is None
    del User["a"]
    assert sorted(raw.keys()) == ["b", "c"]
    del User[["b", "c"]]
    assert raw.keys() == []


def test_instance_item_access_and_repr(db: TableDatabase) -> None:
    u = User(key="huey", name="huey")
    assert u["name"] == "huey"
    u["age"] = 7
    assert u.age == 7
    assert repr(u) == "<User: huey>"
    u.save()
    assert User.get("huey").age == 7


# ---------------------------------------------------------------------------------------- indexes

def test_create_indexes_makes_them_on_the_server(users: TableDatabase) -> None:
    User.create_indexes()
    for field in User.__indexes__:
        with pytest.raises(TokyoTyrantError):  # check_exists: the index is there
            users.set_index(field.name, field._index_type, check_exists=True)
    assert User.create_indexes() is True  # safe=True: existing indexes are fine
    with pytest.raises(TokyoTyrantError):
        User.create_indexes(safe=False)
    assert User.optimize_indexes() is True
    assert User.query().filter(User.bio.match("cat")).order_by(User.age).execute() == ["zaizee", "huey"]


def test_drop_indexes_removes_them_and_queries_still_work(users: TableDatabase) -> None:
    assert User.create_indexes() is True
    assert User.drop_indexes() is True
    for field in User.__indexes__:
        assert users.optimize_index(field.name) is False  # the server has no such index
        assert users.set_index(field.name, field._index_type, check_exists=True) is True
        assert users.delete_index(field.name) is True
    assert User.optimize_indexes() is False  # nothing to optimize
    assert User.drop_indexes() is False
    assert set(User.query().filter(User.age > 2, User.tags.contains_any("cat")).execute()) == {"huey"}


# ---------------------------------------------------------------------------------------- inheritance

def test_subclass_fields_are_copies_of_the_parents(db: TableDatabase, raw: TokyoTyrant) -> None:
    assert set(Parent.__fields__) == {"key", "name", "age"}
    assert set(Child.__fields__) == {"key", "name", "age", "school"}
    assert set(GrandChild.__fields__) == {"key", "name", "age", "school", "nickname"}
    assert Child.name is not Parent.name and Child.name.model is Child and Parent.name.model is Parent
    assert GrandChild.school is not Child.school and GrandChild.school.model is GrandChild
    assert type(Child.age) is FloatField and type(Parent.age) is IntegerField
    assert type(GrandChild.age) is FloatField
    assert sorted(f.name for f in Child.__indexes__) == ["name", "school"]
    assert [f.name for f in Parent.__indexes__] == ["name"]
    GrandChild.create("g", name="gina", age=1.5, school="north", nickname="gg")
    assert raw.get("g") == {"name": "gina", "age": "1.5", "school": "north", "nickname": "gg"}
    g = GrandChild.get("g")
    assert (g.name, g.age, g.school, g.nickname) == ("gina", 1.5, "north", "gg")
    assert GrandChild.query().filter(GrandChild.name == "gina", GrandChild.age > 1).execute() == ["g"]
    Parent.create("p", name="pat", age=2)
    assert set(Parent.query().filter(Parent.name.contains("a")).execute()) == {"g", "p"}
    assert Parent.get("p").age == 2


# ---------------------------------------------------------------------------------------- kt.models

KT096_MODELS_NAMES = [
    "TableDatabase", "Expression", "Ordering", "Field", "BytesField", "TextField", "DateTimeField", "DateField",
    "IntegerField", "FloatField", "TimestampField", "SearchField", "TokenField", "BaseModel", "KeyField", "Model",
    "ModelSearch", "serialize_model", "deserialize_into_model", "clone_query", "encode", "decode", "string_type",
    "C", "KT_NONE", "QueryBuilder", "TokyoTyrant",
]


def test_kt_models_star_import_gives_kt096_names() -> None:
    import kt.models
    import kt_tyrant.models

    namespace: dict[str, Any] = {}
    exec("from kt.models import *", namespace)
    missing = [name for name in KT096_MODELS_NAMES if name not in namespace]
    assert missing == []
    assert sorted(kt.models.__all__) == sorted(kt_tyrant.models.__all__)
    for name in kt.models.__all__:
        assert namespace[name] is getattr(kt_tyrant.models, name), name
    assert namespace["Model"] is Model and namespace["TokyoTyrant"] is TokyoTyrant
    assert namespace["C"].OP_STR_EQ == OP_STR_EQ
    assert namespace["encode"]("\u00e9") == b"\xc3\xa9" and namespace["decode"](b"\xc3\xa9") == "\u00e9"
