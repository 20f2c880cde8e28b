"""QueryBuilder: table-database queries for Tokyo Tyrant (misc ``search``).

A query is a list of misc ``search`` arguments, each NUL-separated as the server's
``tcrdbqryaddcond``/``tcrdbqrysetorder``/``tcrdbqrysetlimit`` build them:

- ``addcond NUL column NUL op NUL expression`` (op as decimal text, flags or-ed in),
- ``setorder NUL column NUL type``,
- ``setlimit NUL max NUL skip`` (max -1: no limit).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, overload

from kt_core.errors import InvalidArgumentError, InvalidTypeError

from .constants import ALL_OPS, MULTI_TOKEN_OPS, OP_NEGATE, OP_NOINDEX, OP_NUM_BETWEEN, ORDER_STR_ASC, ORDERS

if TYPE_CHECKING:
    from .aio import AsyncTokyoTyrant
    from .client import TokyoTyrant

__all__ = ["QueryBuilder", "SearchClient", "encode_expression"]


class SearchClient(Protocol):
    """What a query runs on: an object with the clients' ``search`` (a TokyoTyrant, an
    AsyncTokyoTyrant, whose ``search`` gives a coroutine, or a sharded cluster of them)."""

    def search(self, expressions: Any, cmd: str | None = None) -> Any: ...

# The server splits string token lists at any byte <= 0x20 and at commas (number lists at space and
# comma; a decimal index also at tab, CR, LF): a token holding one of these would be split. We join with a comma.
_SPLITTING_BYTES = frozenset(range(0x21)) | {ord(",")}
_FLAGS = OP_NEGATE | OP_NOINDEX


def _text(value: object, what: str) -> bytes:
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: refuse it before anything is sent
            raise InvalidArgumentError(f"query {what} cannot be encoded as UTF-8: {exc}") from None
    elif isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        data = repr(value).encode("ascii") if isinstance(value, float) else str(value).encode("ascii")
    else:
        raise InvalidTypeError(f"query {what} must be str, bytes, int or float, got {type(value).__name__}")
    if b"\x00" in data:
        raise InvalidArgumentError(f"query {what} cannot contain a NUL byte: {value!r}")
    return data


def _name(value: object, what: str) -> bytes:
    if not isinstance(value, (str, bytes, bytearray)):
        raise InvalidTypeError(f"query {what} must be str or bytes, got {type(value).__name__}")
    return _text(value, what)


def encode_expression(op: int, value: Any) -> bytes:
    """The expression text of a condition: numbers as decimal text, token lists comma-joined."""
    base = op & ~_FLAGS
    if isinstance(value, (list, tuple, set, frozenset)):
        if base not in MULTI_TOKEN_OPS:
            raise InvalidArgumentError(f"query operator {op} takes one value, not a {type(value).__name__}")
        if base == OP_NUM_BETWEEN and len(value) != 2:
            raise InvalidArgumentError(f"query OP_NUM_BETWEEN takes exactly two bounds, got {len(value)}")
        tokens = [_text(v, "token") for v in value]
        for t in tokens:
            if not t or not _SPLITTING_BYTES.isdisjoint(t):
                raise InvalidArgumentError(
                    f"query token {t!r} is empty or holds a separator (a comma, space or other byte <= 0x20)")
        return b",".join(tokens)
    return _text(value, "value")


def _check_int(value: object, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTypeError(f"query {what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise InvalidArgumentError(f"query {what} must be >= {minimum}, got {value}")
    return value


class QueryBuilder:
    """Construct and execute table queries.

    As in kt 0.9.6, ``filter``, ``order_by``, ``limit`` and ``offset`` each return a NEW builder
    (a :meth:`clone` with the change) and leave this one as it was, so a base query can be
    refined in several ways::

        adults = QueryBuilder().filter("age", OP_NUM_GE, 18)
        oldest = adults.order_by("age", ORDER_NUM_DESC).limit(3)   # adults is unchanged

    Assign the result: ``q.filter(...)`` on its own line changes nothing.

    ``order_by`` keeps only the last ordering given: Tokyo Tyrant 1.1.41 orders by one column.
    """

    def __init__(self) -> None:
        self._conditions: list[bytes] = []
        self._order: bytes | None = None
        self._limit: int | None = None
        self._offset: int | None = None

    def __repr__(self) -> str:
        return (f"<QueryBuilder conditions={len(self._conditions)} order={self._order!r} "
                f"limit={self._limit} offset={self._offset}>")

    def clone(self) -> QueryBuilder:
        """A copy of this query (conditions, ordering, limit and offset); changing one leaves the other."""
        other = QueryBuilder()
        other._conditions = list(self._conditions)
        other._order = self._order
        other._limit = self._limit
        other._offset = self._offset
        return other

    def filter(self, column: str | bytes, op: int, value: Any) -> QueryBuilder:
        """A new query with this condition added; ``op`` is an ``OP_*`` constant, optionally or-ed with
        OP_NEGATE/OP_NOINDEX. Arguments are checked here, before anything is sent."""
        col = _name(column, "column")
        if not isinstance(op, int) or isinstance(op, bool) or (op & ~_FLAGS) not in ALL_OPS or op < 0:
            raise InvalidArgumentError(f"query operator must be an OP_* constant (| OP_NEGATE, OP_NOINDEX), got {op!r}")
        expr = encode_expression(op, value)
        other = self.clone()
        other._conditions.append(b"addcond\x00" + col + b"\x00" + str(op).encode("ascii") + b"\x00" + expr)
        return other

    def order_by(self, column: str | bytes, ordering: int | None = None) -> QueryBuilder:
        """A new query with results ordered by ``column`` (``ORDER_*``, default ORDER_STR_ASC)."""
        col = _name(column, "column")
        if ordering is None:
            ordering = ORDER_STR_ASC
        if ordering not in ORDERS or isinstance(ordering, bool):
            raise InvalidArgumentError(f"query ordering must be an ORDER_* constant, got {ordering!r}")
        other = self.clone()
        other._order = b"setorder\x00" + col + b"\x00" + str(ordering).encode("ascii")
        return other

    def limit(self, limit: int | None = None) -> QueryBuilder:
        """A new query returning at most ``limit`` results (None: no limit)."""
        checked = None if limit is None else _check_int(limit, "limit", 0)
        other = self.clone()
        other._limit = checked
        return other

    def offset(self, offset: int | None = None) -> QueryBuilder:
        """A new query skipping the first ``offset`` results (None: none)."""
        checked = None if offset is None else _check_int(offset, "offset", 0)
        other = self.clone()
        other._offset = checked
        return other

    def build_search(self) -> list[bytes]:
        """The misc ``search`` arguments of this query (without the final command)."""
        args = list(self._conditions)
        if self._order is not None:
            args.append(self._order)
        if self._limit is not None or self._offset is not None:
            limit = -1 if self._limit is None else self._limit
            args.append(b"setlimit\x00%d\x00%d" % (limit, self._offset or 0))
        return args

    # Each runs the client's search, and so is what that search is: on a TokyoTyrant the result, on
    # an AsyncTokyoTyrant a coroutine of it (``await query.execute(client)``). Nothing here does I/O.

    @overload
    def execute(self, client: TokyoTyrant) -> list[Any]: ...
    @overload
    def execute(self, client: AsyncTokyoTyrant) -> Awaitable[list[Any]]: ...
    @overload
    def execute(self, client: SearchClient) -> Any: ...

    def execute(self, client: SearchClient) -> Any:
        """The primary keys of the matching records (awaitable with an asyncio client)."""
        return client.search(self.build_search())

    @overload
    def get(self, client: TokyoTyrant) -> list[tuple[Any, Any]]: ...
    @overload
    def get(self, client: AsyncTokyoTyrant) -> Awaitable[list[tuple[Any, Any]]]: ...
    @overload
    def get(self, client: SearchClient) -> Any: ...

    def get(self, client: SearchClient) -> Any:
        """``(key, value)`` for each matching record; with TT_TABLE the value is a dict of columns
        (awaitable with an asyncio client)."""
        return client.search(self.build_search(), "get")

    @overload
    def count(self, client: TokyoTyrant) -> int: ...
    @overload
    def count(self, client: AsyncTokyoTyrant) -> Awaitable[int]: ...
    @overload
    def count(self, client: SearchClient) -> Any: ...

    def count(self, client: SearchClient) -> Any:
        """The number of matching records (the server applies limit and offset to the count too;
        awaitable with an asyncio client)."""
        return client.search(self.build_search(), "count")

    @overload
    def delete(self, client: TokyoTyrant) -> bool: ...
    @overload
    def delete(self, client: AsyncTokyoTyrant) -> Awaitable[bool]: ...
    @overload
    def delete(self, client: SearchClient) -> Any: ...

    def delete(self, client: SearchClient) -> Any:
        """Remove the matching records; True on success, False if the server refused (not a table
        database; awaitable with an asyncio client)."""
        return client.search(self.build_search(), "out")
