"""Models on a Tokyo Tyrant table database: kt 0.9.6's ``kt.models``, built on :class:`TokyoTyrant`
and :class:`QueryBuilder`.

A model class describes records of a table database (``.tct``). An instance's ``key`` is the
record's primary key; every other field is one column, stored as text in the format kt 0.9.6
uses, so records written by kt 0.9.6 read back here and the other way round:

=================  ===================================================================
field              stored column value
=================  ===================================================================
BytesField         the bytes as they are
TextField          UTF-8 (also TokenField, SearchField, KeyField)
IntegerField       decimal text (``str(value)``; FloatField too)
DateTimeField      ``%Y-%m-%dT%H:%M:%S.%f``
DateField          ``%Y-%m-%d``
TimestampField     microseconds since the epoch as decimal text
=================  ===================================================================

A field whose value is None is not stored. Comparing a field (``User.age > 30``) builds an
:class:`Expression`; :meth:`Model.query` returns a :class:`ModelSearch` whose builder methods each
return a new search, leaving the original as it was.

``Model.__database__`` must be a :class:`TableDatabase` (or another :class:`TokyoTyrant` that
does not serialize values): the model layer converts values itself.

On asyncio, subclass :class:`AsyncModel` and set ``__database__`` to an :class:`AsyncTableDatabase`:
every method that talks to the server is then a coroutine (``await User.get(key)``, ``await
user.save()``, ``await User.query().filter(...).get()``, ``async for key in search``), with the
same arguments, results and errors. The methods are written once: each hands the client's result
to the same finishing step, awaiting it first when the database is an asyncio client.
"""

from __future__ import annotations

import calendar
import datetime
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Mapping, Sequence
from copy import deepcopy
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Generic,
    NamedTuple,
    Optional,
    TypeVar,
    Union,
    cast,
    overload,
)

from kt_core.errors import ImproperlyConfigured, InvalidArgumentError, InvalidTypeError
from kt_core.io.aio_pooled import AsyncPooledClient
from kt_serializers import KT_NONE

from . import constants as C
from .aio import AsyncTokyoTyrant
from .client import TokyoTyrant
from .constants import (
    INDEX_NUM,
    INDEX_QGRAM,
    INDEX_STR,
    INDEX_TOKEN,
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
)
from .query import QueryBuilder

__all__ = [
    "TableDatabase",
    "AsyncTableDatabase",
    "AsyncModel",
    "AsyncModelSearch",
    "Expression",
    "Ordering",
    "Field",
    "KeyField",
    "BytesField",
    "TextField",
    "DateTimeField",
    "DateField",
    "IntegerField",
    "FloatField",
    "TimestampField",
    "SearchField",
    "TokenField",
    "BaseModel",
    "Model",
    "ModelSearch",
    "serialize_model",
    "deserialize_into_model",
    "clone_query",
    "encode",
    "decode",
    "string_type",
    "C",
    "KT_NONE",
    "TokyoTyrant",
    "QueryBuilder",
]

KeyType = Union[str, bytes]
_F = TypeVar("_F", bound="Field")
_M = TypeVar("_M", bound="Model")
_AM = TypeVar("_AM", bound="AsyncModel")
_T = TypeVar("_T")
_TOKEN_LISTS = (list, tuple, set, frozenset)
# Naive UTC datetimes are counted from here (datetime.utcfromtimestamp is deprecated since 3.12).
_EPOCH = datetime.datetime(1970, 1, 1)

#: kt 0.9.6's name for the text type (it also ran on Python 2).
string_type = str


def encode(value: Any) -> Optional[bytes]:
    """kt 0.9.6's ``encode``: str as UTF-8, bytes as they are, None stays None, anything else as
    the UTF-8 of ``str(value)``."""
    if value is None:
        return None
    return _utf8(value)


def decode(value: Any) -> Optional[str]:
    """kt 0.9.6's ``decode``: bytes as UTF-8 text, str as it is, None stays None, anything else
    as ``str(value)``."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8")
    return str(value)


def _utf8(value: Any) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate
            raise InvalidArgumentError(f"model value cannot be encoded as UTF-8: {exc}") from None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


def _text_or_bytes(raw: bytes) -> Union[str, bytes]:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


class TableDatabase(TokyoTyrant):
    """A :class:`TokyoTyrant` client for models: values travel as raw bytes (``KT_NONE``) because
    the model layer (de)serializes each column itself. Other keyword options (``timeout``,
    ``max_connections``, ``retry``...) go to :class:`TokyoTyrant`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1978, decode_keys: bool = True, **options: Any) -> None:
        super().__init__(host, port, KT_NONE, decode_keys, **options)


class AsyncTableDatabase(AsyncTokyoTyrant):
    """:class:`TableDatabase` on asyncio: an :class:`~kt_tyrant.AsyncTokyoTyrant` whose values
    travel as raw bytes, for :class:`AsyncModel`. Other keyword options (``timeout``,
    ``max_connections``, ``wait_timeout``...) go to :class:`~kt_tyrant.AsyncTokyoTyrant`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1978, decode_keys: bool = True, **options: Any) -> None:
        super().__init__(host, port, KT_NONE, decode_keys, **options)


Database = Union[TokyoTyrant, AsyncTokyoTyrant]


def _then(db: Database, result: Any, finish: Callable[[Any], _T]) -> Any:
    """``finish(result)``; on an asyncio database ``result`` is the call's coroutine, and this is a
    coroutine that awaits it, then finishes, so one method body serves both kinds of database."""
    if isinstance(db, AsyncPooledClient):
        return _await_then(result, finish)
    return finish(result)


async def _await_then(result: Awaitable[Any], finish: Callable[[Any], _T]) -> _T:
    return finish(await result)


def _each_then(db: Database, calls: Sequence[Callable[[], Any]], finish: Callable[[list[Any]], _T]) -> Any:
    """The calls one after the other (each awaited before the next starts on an asyncio database),
    then ``finish`` of their results."""
    if isinstance(db, AsyncPooledClient):
        return _await_each(calls, finish)
    return finish([call() for call in calls])


async def _await_each(calls: Sequence[Callable[[], Any]], finish: Callable[[list[Any]], _T]) -> _T:
    return finish([await call() for call in calls])


def _refuse_async(db: Database, what: str, instead: str) -> None:
    if isinstance(db, AsyncPooledClient):
        raise TypeError(f"{what} cannot be awaited on an asyncio database: use {instead}")


class Expression(NamedTuple):
    """One query condition: ``lhs`` (a field) ``op`` (an ``OP_*`` constant) ``rhs`` (the value,
    or a tuple of values for the operators that take a list)."""

    lhs: Field
    op: int
    rhs: Any


class Ordering(NamedTuple):
    """An ordering of query results: ``field`` and ``value`` (an ``ORDER_*`` constant)."""

    field: Field
    value: int


def _values(rhs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values given as arguments (kt 0.9.6's form, ``f.contains_any('a', 'b')``) or as one list."""
    if len(rhs) == 1 and isinstance(rhs[0], _TOKEN_LISTS):
        return tuple(rhs[0])
    return rhs


class Field:
    """A model attribute stored in one column. ``index``: :meth:`Model.create_indexes` creates an
    index of the field's kind on the column. ``default``: the value of a new instance (a callable
    is called for each instance).

    The base class stores bytes as they are; subclasses convert their Python type in
    :meth:`serialize` / :meth:`deserialize`.
    """

    _index_type: ClassVar[int] = INDEX_STR
    _order_asc: ClassVar[int] = ORDER_STR_ASC
    _order_desc: ClassVar[int] = ORDER_STR_DESC

    def __init__(self, index: bool = False, default: Any = None) -> None:
        self._index = index
        self._default = default
        self.name: Optional[str] = None
        self.model: Optional[type[Model]] = None

    def __repr__(self) -> str:
        owner = self.model.__name__ if self.model is not None else "?"
        return f"<{type(self).__name__}: {owner}.{self.name}>"

    def __hash__(self) -> int:
        # Subclasses overload == to build expressions; fields stay hashable by identity.
        return id(self)

    @property
    def _attr(self) -> str:
        if self.name is None:
            raise InvalidArgumentError(f"{type(self).__name__} is not bound to a model class")
        return self.name

    @property
    def column(self) -> str:
        """The table column this field is stored in (its attribute name)."""
        return self._attr

    def serialize(self, value: Any) -> bytes:
        """The column bytes for ``value``."""
        if isinstance(value, (bytes, bytearray, memoryview, str)):
            return _utf8(value)
        raise InvalidTypeError(f"{type(self).__name__} {self.name!r} stores bytes, got {type(value).__name__}")

    def deserialize(self, raw_value: bytes) -> Any:
        """The Python value of stored column bytes."""
        return raw_value

    def asc(self) -> Ordering:
        """Ascending order by this field (string order, or numeric for number fields)."""
        return Ordering(self, self._order_asc)

    def desc(self) -> Ordering:
        """Descending order by this field."""
        return Ordering(self, self._order_desc)

    def add_to_class(self, model: type[Model], name: str) -> None:
        """Bind the field to ``model`` as attribute ``name`` (done by the model metaclass)."""
        self.model = model
        self.name = name
        setattr(model, name, self)

    @overload
    def __get__(self: _F, instance: None, owner: Any = None) -> _F: ...

    @overload
    def __get__(self, instance: object, owner: Any = None) -> Any: ...

    def __get__(self, instance: object, owner: Any = None) -> Any:
        if instance is None:
            return self
        return cast(Model, instance).__data__.get(self._attr)

    def __set__(self, instance: Model, value: Any) -> None:
        instance.__data__[self._attr] = value


class BytesField(Field):
    """Bytes, stored as they are; string conditions."""

    def __eq__(self, rhs: object) -> Expression:  # type: ignore[override]
        return Expression(self, OP_STR_EQ, rhs)

    def __ne__(self, rhs: object) -> Expression:  # type: ignore[override]
        return Expression(self, OP_STR_EQ | OP_NEGATE, rhs)

    __hash__ = Field.__hash__

    def contains(self, rhs: Any) -> Expression:
        return Expression(self, OP_STR_CONTAINS, rhs)

    def startswith(self, rhs: Any) -> Expression:
        return Expression(self, OP_STR_STARTSWITH, rhs)

    def endswith(self, rhs: Any) -> Expression:
        return Expression(self, OP_STR_ENDSWITH, rhs)

    def contains_all(self, *rhs: Any) -> Expression:
        """The value holds every one of these tokens (space- or comma-separated in the value)."""
        return Expression(self, OP_STR_ALL, _values(rhs))

    def contains_any(self, *rhs: Any) -> Expression:
        """The value holds at least one of these tokens."""
        return Expression(self, OP_STR_ANY, _values(rhs))

    def contains_any_exact(self, *rhs: Any) -> Expression:
        """The whole value equals one of these."""
        return Expression(self, OP_STR_ANYEXACT, _values(rhs))

    def regex(self, rhs: Any) -> Expression:
        return Expression(self, OP_STR_REGEX, rhs)


class TextField(BytesField):
    """Text, stored as UTF-8."""

    def serialize(self, value: Any) -> bytes:
        return _utf8(value)

    def deserialize(self, raw_value: bytes) -> Any:
        return raw_value.decode("utf-8")


class KeyField(TextField):
    """The primary key. It is not a column: conditions and orderings on it use the primary key
    (the server's empty column name)."""

    @property
    def column(self) -> str:
        return ""

    def __set__(self, instance: Model, value: Any) -> None:
        instance.__data__[self._attr] = value
        instance.__key__ = value


class DateTimeField(BytesField):
    """A datetime, stored as ``%Y-%m-%dT%H:%M:%S.%f`` (string conditions and order)."""

    _format: ClassVar[str] = "%Y-%m-%dT%H:%M:%S.%f"

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, datetime.date):  # datetime is a date
            return value.strftime(self._format).encode("ascii")
        raise InvalidTypeError(f"{type(self).__name__} {self.name!r} stores a date or datetime, "
                               f"got {type(value).__name__}")

    def deserialize(self, raw_value: bytes) -> Any:
        return datetime.datetime.strptime(raw_value.decode("ascii"), self._format)


class DateField(DateTimeField):
    """A date, stored as ``%Y-%m-%d``."""

    _format: ClassVar[str] = "%Y-%m-%d"

    def deserialize(self, raw_value: bytes) -> Any:
        return datetime.datetime.strptime(raw_value.decode("ascii"), self._format).date()


class IntegerField(Field):
    """An int, stored as decimal text; numeric conditions, index and order."""

    _index_type: ClassVar[int] = INDEX_NUM
    _order_asc: ClassVar[int] = ORDER_NUM_ASC
    _order_desc: ClassVar[int] = ORDER_NUM_DESC

    def __eq__(self, rhs: object) -> Expression:  # type: ignore[override]
        return Expression(self, OP_NUM_EQ, rhs)

    def __ne__(self, rhs: object) -> Expression:  # type: ignore[override]
        return Expression(self, OP_NUM_EQ | OP_NEGATE, rhs)

    __hash__ = Field.__hash__

    def __lt__(self, rhs: Any) -> Expression:
        return Expression(self, OP_NUM_LT, rhs)

    def __le__(self, rhs: Any) -> Expression:
        return Expression(self, OP_NUM_LE, rhs)

    def __gt__(self, rhs: Any) -> Expression:
        return Expression(self, OP_NUM_GT, rhs)

    def __ge__(self, rhs: Any) -> Expression:
        return Expression(self, OP_NUM_GE, rhs)

    def between(self, *rhs: Any) -> Expression:
        """``low <= value <= high`` (both bounds included)."""
        return Expression(self, OP_NUM_BETWEEN, _values(rhs))

    def matches_any(self, *rhs: Any) -> Expression:
        """The value equals one of these numbers."""
        return Expression(self, OP_NUM_ANYEXACT, _values(rhs))

    def serialize(self, value: Any) -> bytes:
        return str(value).encode("ascii")

    def deserialize(self, raw_value: bytes) -> Any:
        return int(raw_value.decode("ascii"))


class FloatField(IntegerField):
    """A float, stored as decimal text."""

    def deserialize(self, raw_value: bytes) -> Any:
        return float(raw_value.decode("ascii"))


class TimestampField(IntegerField):
    """A datetime, stored as microseconds since the epoch (numeric conditions and order).

    ``utc=True``: values are naive UTC datetimes (an aware datetime is converted to UTC);
    ``utc=False``: naive local time. :meth:`serialize` also takes a date (its midnight) and an
    int (seconds since the epoch).
    """

    def __init__(self, utc: bool = True, index: bool = False, default: Any = None) -> None:
        super().__init__(index, default)
        self._utc = utc

    def serialize(self, value: Any) -> bytes:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value * 1000000).encode("ascii")
        if isinstance(value, datetime.datetime):
            dt = value
        elif isinstance(value, datetime.date):
            dt = datetime.datetime(value.year, value.month, value.day)
        else:
            raise InvalidTypeError(f"TimestampField {self.name!r} stores a datetime, date or int seconds, "
                                   f"got {type(value).__name__}")
        if self._utc:
            seconds = calendar.timegm(dt.utctimetuple())
        else:
            seconds = int(time.mktime(dt.timetuple()))
        return str(seconds * 1000000 + dt.microsecond).encode("ascii")

    def deserialize(self, raw_value: bytes) -> Any:
        text = raw_value.decode("ascii")
        try:
            micros = int(text)
        except ValueError:
            # kt 0.9.6 with utc=False wrote the float text of the count ("1500000000000000.0").
            try:
                micros = int(Decimal(text))
            except InvalidOperation:
                raise ValueError(f"TimestampField {self.name!r}: {text!r} is not a number") from None
        if self._utc:
            return _EPOCH + datetime.timedelta(microseconds=micros)
        seconds, microsecond = divmod(micros, 1000000)
        return datetime.datetime.fromtimestamp(seconds).replace(microsecond=microsecond)


class SearchField(Field):
    """Text for full-text search (q-gram index), stored as UTF-8."""

    _index_type: ClassVar[int] = INDEX_QGRAM

    def __eq__(self, rhs: object) -> Expression:  # type: ignore[override]
        return Expression(self, OP_STR_EQ, rhs)

    def __ne__(self, rhs: object) -> Expression:  # type: ignore[override]
        return Expression(self, OP_STR_EQ | OP_NEGATE, rhs)

    __hash__ = Field.__hash__

    def match(self, rhs: Any) -> Expression:
        """The text holds this phrase."""
        return Expression(self, OP_FTS_PHRASE, rhs)

    def match_all(self, *rhs: Any) -> Expression:
        """The text holds every one of these words."""
        return Expression(self, OP_FTS_ALL, _values(rhs))

    def match_any(self, *rhs: Any) -> Expression:
        """The text holds at least one of these words."""
        return Expression(self, OP_FTS_ANY, _values(rhs))

    def search(self, rhs: Any) -> Expression:
        """A compound full-text expression (``"a b" || c``, ``&&``)."""
        return Expression(self, OP_FTS_EXPRESSION, rhs)

    def serialize(self, value: Any) -> bytes:
        return _utf8(value)

    def deserialize(self, raw_value: bytes) -> Any:
        return raw_value.decode("utf-8")


class TokenField(TextField):
    """Text of space-separated tokens (token inverted index)."""

    _index_type: ClassVar[int] = INDEX_TOKEN


class BaseModel(type):
    """The model metaclass: collects the fields (copying those of base models, so a subclass's
    fields are its own objects), their defaults and indexed fields; ``Model[key]``,
    ``Model[keys]``, ``Model[key] = instance_or_dict`` and ``del Model[key]`` work on the class."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> BaseModel:
        for base in bases:
            for attr, value in vars(base).items():
                if attr not in attrs and isinstance(value, Field):
                    attrs[attr] = deepcopy(value)
        model = cast("type[Model]", super().__new__(mcs, name, bases, attrs))
        fields: dict[str, Field] = {}
        defaults: dict[str, Any] = {}
        indexes: list[Field] = []
        for attr, value in list(vars(model).items()):
            if isinstance(value, Field):
                value.add_to_class(model, attr)
                fields[attr] = value
                if value._default is not None:
                    defaults[attr] = value._default
                if value._index:
                    indexes.append(value)
        model.__fields__ = fields
        model.__defaults__ = defaults
        model.__indexes__ = indexes
        return cast(BaseModel, model)

    def __getitem__(cls, key: Any) -> Any:
        model = cast("type[Model]", cls)
        if isinstance(key, (list, tuple, set, frozenset)):
            return model.get_list(key)
        return model.get(key)

    def __setitem__(cls, key: KeyType, value: Union[Model, Mapping[str, Any]]) -> None:
        model = cast("type[Model]", cls)
        instance = model(**value) if isinstance(value, Mapping) else value
        if instance.key and instance.key != key:
            raise ValueError(f"the data's key {instance.key!r} does not match the key {key!r} it is stored under")
        db = model._database()
        _refuse_async(db, "Model[key] = value", "await Model.create(key, **data) or await instance.save()")
        _, data = serialize_model(instance)
        db.set(key, data)

    def __delitem__(cls, key: Any) -> None:
        model = cast("type[Model]", cls)
        _refuse_async(model._database(), "del Model[key]", "await Model.delete_list(keys) or await instance.delete()")
        if isinstance(key, (list, tuple, set, frozenset)):
            model._database().remove_bulk(list(key))
        else:
            model._database().remove(key)


def serialize_model(model: Model) -> tuple[Any, bytes]:
    """``(key, record)``: the model's key and its columns as the table record ``col NUL val ...``.
    Fields whose value is None are left out."""
    parts: list[bytes] = []
    for name, field in type(model).__fields__.items():
        if isinstance(field, KeyField):
            continue
        value = model.__data__.get(name)
        if value is None:
            continue
        column, data = _utf8(name), field.serialize(value)
        if b"\x00" in column or b"\x00" in data:
            raise InvalidArgumentError(f"a table column cannot hold a NUL byte (field {name!r})")
        parts.append(column)
        parts.append(data)
    return model.key, b"\x00".join(parts)


def deserialize_into_model(model_class: type[_M], key: Any, raw_data: Union[bytes, str]) -> _M:
    """A ``model_class`` instance from a stored record. Columns without a field become plain
    attributes (text, or bytes when not UTF-8) unless the class already has that attribute."""
    if isinstance(raw_data, str):  # a client that decodes values gave text
        raw_data = raw_data.encode("utf-8")
    items = raw_data.split(b"\x00") if raw_data else []
    fields = model_class.__fields__
    data: dict[str, Any] = {}
    for raw_name, value in zip(items[0::2], items[1::2]):  # an odd trailing field (a trailing NUL) is ignored
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            continue
        field = fields.get(name)
        if field is None:
            if not hasattr(model_class, name):
                data[name] = _text_or_bytes(value)
        elif not isinstance(field, KeyField):
            data[name] = field.deserialize(value)
    data["key"] = key
    return model_class(**data)


class Model(metaclass=BaseModel):
    """A record of a table database. Subclass it, set ``__database__`` (a :class:`TableDatabase`)
    and declare fields as class attributes; ``key`` is the primary key."""

    __database__: ClassVar[Optional[Database]] = None
    __fields__: ClassVar[dict[str, Field]]
    __defaults__: ClassVar[dict[str, Any]]
    __indexes__: ClassVar[list[Field]]

    key = KeyField()

    def __init__(self, **kwargs: Any) -> None:
        self.__data__: dict[str, Any] = {}
        self.__key__: Any = None
        for name, default in type(self).__defaults__.items():
            setattr(self, name, default() if callable(default) else default)
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __getitem__(self, attr: str) -> Any:
        return getattr(self, attr)

    def __setitem__(self, attr: str, value: Any) -> None:
        setattr(self, attr, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.key}>"

    @classmethod
    def _database(cls) -> Any:
        db = cls.__database__
        if db is None:
            raise ImproperlyConfigured(f"model {cls.__name__} has no __database__ (set it to a TableDatabase)")
        return db

    def save(self) -> bool:
        """Store the instance under its key, replacing the whole record. True."""
        if not self.key:
            raise ValueError("cannot save a model without a key")
        key, data = serialize_model(self)
        return cast(bool, self._database().set(key, data))

    def delete(self) -> int:
        """Remove the instance's record: 1, or 0 if it was not stored."""
        if not self.key:
            raise ValueError("cannot delete a model without a key")
        return cast(int, self._database().remove(self.key))

    @classmethod
    def create_indexes(cls, safe: bool = True) -> bool:
        """Create the indexes of the fields declared with ``index=True`` (an existing one is
        rebuilt). With ``safe=False`` an index that already exists raises TokyoTyrantError.
        True if the server made every one (kt 0.9.6 returned nothing)."""
        db = cls._database()
        calls = [partial(db.set_index, field.column, field._index_type, not safe) for field in cls.__indexes__]
        return cast(bool, _each_then(db, calls, all))

    @classmethod
    def drop_indexes(cls) -> bool:
        """Remove the indexes of the indexed fields. True if every one was there to remove."""
        db = cls._database()
        return cast(bool, _each_then(db, [partial(db.delete_index, field.column) for field in cls.__indexes__], all))

    @classmethod
    def optimize_indexes(cls) -> bool:
        """Optimize the indexes of the indexed fields. True if every one was there to optimize."""
        db = cls._database()
        return cast(bool, _each_then(db, [partial(db.optimize_index, field.column) for field in cls.__indexes__], all))

    @classmethod
    def create(cls: type[_M], key: KeyType, **data: Any) -> _M:
        """A new instance with ``key`` and ``data``, saved."""
        model = cls(key=key, **data)
        return cast(_M, _then(cls._database(), model.save(), lambda _saved: model))

    @classmethod
    def get(cls: type[_M], key: KeyType) -> _M:
        """The instance stored under ``key``; KeyError if there is none."""
        def finish(data: Optional[bytes]) -> _M:
            if data is None:
                raise KeyError(key)
            return deserialize_into_model(cls, key, data)

        db = cls._database()
        return cast(_M, _then(db, db.get_raw(key), finish))

    @classmethod
    def get_list(cls: type[_M], keys: Iterable[KeyType]) -> list[_M]:
        """The instances stored under ``keys``, in the order of ``keys``; missing keys are left out."""
        keys = list(keys)

        def finish(data: dict[Any, bytes]) -> list[_M]:
            out = []
            for key in keys:
                raw = data.get(key)
                if raw is None and isinstance(key, bytes):  # the client may have returned it decoded
                    raw = data.get(_text_or_bytes(key))
                if raw is not None:
                    out.append(deserialize_into_model(cls, key, raw))
            return out

        db = cls._database()
        return cast("list[_M]", _then(db, db.get_bulk_raw(keys), finish))

    @classmethod
    def create_list(cls, models: Iterable[Model]) -> bool:
        """Store several instances in one request. True."""
        records: dict[KeyType, bytes] = {}
        for model in models:
            if not model.key:
                raise ValueError("cannot save a model without a key")
            key, data = serialize_model(model)
            records[key] = data
        return cast(bool, cls._database().set_bulk(records))

    @classmethod
    def delete_list(cls, keys: Iterable[KeyType]) -> bool:
        """Remove the records of ``keys`` in one request (missing keys are ignored). True."""
        return cast(bool, cls._database().remove_bulk(list(keys)))

    @classmethod
    def all(cls: type[_M]) -> list[_M]:
        """Every stored record as an instance."""
        return cls.query().get()

    @classmethod
    def query(cls: type[_M]) -> ModelSearch[_M]:
        """A search of this model's records (every record until filtered)."""
        return ModelSearch(cls)

    @classmethod
    def count(cls) -> int:
        """The number of records in the database."""
        return cls.query().count()


class AsyncModel(Model):
    """:class:`Model` on an :class:`AsyncTableDatabase`: the same fields, arguments and results,
    with every method that talks to the server a coroutine, and :meth:`query` an
    :class:`AsyncModelSearch`. ``await Model[key]`` works; ``Model[key] = value`` and ``del
    Model[key]`` cannot be awaited and raise TypeError naming the coroutine to use."""

    __database__: ClassVar[Optional[Database]] = None

    if TYPE_CHECKING:
        # The inherited bodies return the database call's coroutine here; these are their types.
        def save(self) -> Awaitable[bool]: ...  # type: ignore[override]
        def delete(self) -> Awaitable[int]: ...  # type: ignore[override]
        @classmethod
        def create_indexes(cls, safe: bool = True) -> Awaitable[bool]: ...  # type: ignore[override]
        @classmethod
        def drop_indexes(cls) -> Awaitable[bool]: ...  # type: ignore[override]
        @classmethod
        def optimize_indexes(cls) -> Awaitable[bool]: ...  # type: ignore[override]
        @classmethod
        def create(cls: type[_AM], key: KeyType, **data: Any) -> Awaitable[_AM]: ...  # type: ignore[override]
        @classmethod
        def get(cls: type[_AM], key: KeyType) -> Awaitable[_AM]: ...  # type: ignore[override]
        @classmethod
        def get_list(cls: type[_AM], keys: Iterable[KeyType]) -> Awaitable[list[_AM]]: ...  # type: ignore[override]
        @classmethod
        def create_list(cls, models: Iterable[Model]) -> Awaitable[bool]: ...  # type: ignore[override]
        @classmethod
        def delete_list(cls, keys: Iterable[KeyType]) -> Awaitable[bool]: ...  # type: ignore[override]
        @classmethod
        def all(cls: type[_AM]) -> Awaitable[list[_AM]]: ...  # type: ignore[override]
        @classmethod
        def count(cls) -> Awaitable[int]: ...  # type: ignore[override]

    @classmethod
    def query(cls: type[_AM]) -> AsyncModelSearch[_AM]:
        """A search of this model's records; its ``execute``, ``get``, ``delete`` and ``count`` are
        coroutines and ``async for key in search`` walks its keys."""
        return AsyncModelSearch(cls)


def clone_query(method: Callable[..., Any]) -> Callable[..., Any]:
    """kt 0.9.6's decorator: the method runs on a clone of the search, which it returns."""

    def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
        clone = self.clone()
        method(clone, *args, **kwargs)
        return clone

    inner.__name__ = getattr(method, "__name__", "inner")
    inner.__doc__ = method.__doc__
    return inner


def _query_value(field: Field, value: Any) -> Any:
    """A condition value as the server compares it: str and bytes as given, anything else in the
    field's stored format (so a date compares as the column holds it); lists item by item."""
    if value is None:
        raise InvalidArgumentError(f"a condition on {field.name!r} needs a value, not None")
    if isinstance(value, _TOKEN_LISTS):
        return [_query_value(field, item) for item in value]
    if isinstance(value, (str, bytes, bytearray)):
        return value
    return field.serialize(value)


class ModelSearch(Generic[_M]):
    """A table query over a model's records. :meth:`filter`, :meth:`order_by`, :meth:`limit` and
    :meth:`offset` return a new search; the one they are called on is not changed."""

    def __init__(self, model: type[_M]) -> None:
        self._model = model
        self._conditions: list[tuple[str, int, Any]] = []
        self._order_by: list[tuple[str, int]] = []
        self._limit: Optional[int] = None
        self._offset: Optional[int] = None

    def __repr__(self) -> str:
        return (f"<ModelSearch {self._model.__name__} conditions={len(self._conditions)} "
                f"order={self._order_by[-1:]} limit={self._limit} offset={self._offset}>")

    def clone(self) -> ModelSearch[_M]:
        """An independent copy of this search."""
        obj = type(self)(self._model)
        obj._conditions = list(self._conditions)
        obj._order_by = list(self._order_by)
        obj._limit = self._limit
        obj._offset = self._offset
        return obj

    def filter(self, *expressions: Expression) -> ModelSearch[_M]:
        """Only records matching every expression (``User.age > 30``, ``User.name.startswith('a')``)."""
        clone = self.clone()
        for expression in expressions:
            field, op, value = expression
            if not isinstance(field, Field):
                raise InvalidTypeError(f"filter takes expressions on model fields, got {expression!r}")
            condition = (field.column, op, _query_value(field, value))
            QueryBuilder().filter(*condition)  # refuse a bad value or operator here, not at execute
            clone._conditions.append(condition)
        return clone

    def order_by(self, *ordering: Union[Field, Ordering]) -> ModelSearch[_M]:
        """Order by a field (ascending) or an ordering (``User.age.desc()``).

        Tokyo Tyrant orders by one column: with several orderings (in one call or several) the last
        one given is the one used.
        """
        clone = self.clone()
        for item in ordering:
            if isinstance(item, Field):
                item = item.asc()
            if not isinstance(item, Ordering):
                raise InvalidTypeError(f"order_by takes fields or orderings, got {item!r}")
            clone._order_by.append((item.field.column, item.value))
        return clone

    def limit(self, limit: Optional[int] = None) -> ModelSearch[_M]:
        """At most ``limit`` results (None: no limit)."""
        QueryBuilder().limit(limit)
        clone = self.clone()
        clone._limit = limit
        return clone

    def offset(self, offset: Optional[int] = None) -> ModelSearch[_M]:
        """Skip the first ``offset`` results (None: none)."""
        QueryBuilder().offset(offset)
        clone = self.clone()
        clone._offset = offset
        return clone

    def query_builder(self) -> QueryBuilder:
        """This search as a :class:`QueryBuilder`."""
        # Each builder method's result is used, whether it returns a new builder or the same one.
        q = QueryBuilder()
        for column, op, value in self._conditions:
            q = q.filter(column, op, value)
        for column, order in self._order_by:
            q = q.order_by(column, order)
        if self._limit is not None:
            q = q.limit(self._limit)
        if self._offset is not None:
            q = q.offset(self._offset)
        return q

    def _search(self, cmd: Optional[str] = None, finish: Callable[[Any], Any] = lambda result: result) -> Any:
        db = self._model._database()
        return _then(db, db.search(self.query_builder().build_search(), cmd), finish)

    def execute(self) -> list[KeyType]:
        """The primary keys of the matching records."""
        return cast("list[KeyType]", self._search())

    def get(self) -> list[_M]:
        """The matching records as model instances."""
        return cast("list[_M]", self._search("get", lambda records: [
            deserialize_into_model(self._model, key, raw) for key, raw in records]))

    def delete(self) -> bool:
        """Remove the matching records. True."""
        return cast(bool, self._search("out"))

    def count(self) -> int:
        """The number of matching records (limit and offset apply)."""
        return cast(int, self._search("count"))

    def __iter__(self) -> Iterator[KeyType]:
        """The primary keys of the matching records (as :meth:`execute`)."""
        _refuse_async(self._model._database(), "iterating a search with for", "async for key in search")
        return iter(self.execute())

    def __aiter__(self) -> AsyncIterator[KeyType]:
        """``async for key in search`` on an asyncio database: the keys :meth:`execute` gives."""
        return self._each_key()

    async def _each_key(self) -> AsyncIterator[KeyType]:
        for key in await cast("Awaitable[list[KeyType]]", self.execute()):
            yield key


class AsyncModelSearch(ModelSearch[_AM]):
    """:class:`ModelSearch` of an :class:`AsyncModel`: the same builder methods; the ones that talk
    to the server are coroutines."""

    if TYPE_CHECKING:
        def clone(self) -> AsyncModelSearch[_AM]: ...
        def filter(self, *expressions: Expression) -> AsyncModelSearch[_AM]: ...
        def order_by(self, *ordering: Union[Field, Ordering]) -> AsyncModelSearch[_AM]: ...
        def limit(self, limit: Optional[int] = None) -> AsyncModelSearch[_AM]: ...
        def offset(self, offset: Optional[int] = None) -> AsyncModelSearch[_AM]: ...
        def execute(self) -> Awaitable[list[KeyType]]: ...  # type: ignore[override]
        def get(self) -> Awaitable[list[_AM]]: ...  # type: ignore[override]
        def delete(self) -> Awaitable[bool]: ...  # type: ignore[override]
        def count(self) -> Awaitable[int]: ...  # type: ignore[override]
