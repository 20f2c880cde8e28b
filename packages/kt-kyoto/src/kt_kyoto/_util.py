"""Argument conversion shared by the client and its cursors: keys, databases, expiry times."""

from __future__ import annotations

import datetime
from typing import Any, Union

from kt_core.codec.kyoto_binary import XT_NONE
from kt_core.errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "DbSpec",
    "ExpireSpec",
    "KeyType",
    "decode_key",
    "encode_key",
    "encode_text",
    "expire_to_xt",
    "http_db",
]

KeyType = Union[str, bytes, bytearray, memoryview]
DbSpec = Union[int, str, None]
ExpireSpec = Union[int, float, datetime.timedelta, datetime.datetime, None]

# The binary protocol carries the database index as a u16.
MAX_DB_INDEX = 0xFFFF


def encode_text(text: str, what: str) -> bytes:
    """``text`` (the caller's argument ``what``) as UTF-8; a lone surrogate is refused before sending."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(f"{what} cannot be encoded as UTF-8: {exc}") from None


def encode_key(key: Any, what: str = "key") -> bytes:
    """A key as bytes: ``str`` is UTF-8 encoded, a number is its text; anything else is refused before sending.

    ``what`` names the argument in the exception (``prefix``, ``regex``, ``origin`` go through here too).
    """
    if type(key) is str:
        try:
            return key.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"{what} cannot be encoded as UTF-8: {exc}") from None
    if type(key) is bytes:
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    if isinstance(key, str):
        return encode_key(str(key), what)
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return str(key).encode("ascii")  # as kt 0.9.6 sends a number
    raise InvalidTypeError(f"{what} must be str, bytes, int or float, not {type(key).__name__}")


def decode_key(key: bytes) -> str | bytes:
    """A key read back with ``decode_keys=True``: str when valid UTF-8, else the bytes unchanged."""
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return key


def check_db_index(db: int) -> int:
    if db < 0 or db > MAX_DB_INDEX:
        raise InvalidArgumentError(f"database index must be between 0 and {MAX_DB_INDEX}, not {db}")
    return db


def check_db(db: Any) -> int | str:
    """Validate a database given by index (int >= 0) or by name (non-empty str)."""
    if type(db) is int:
        return check_db_index(db)
    if isinstance(db, str) and not isinstance(db, bool):
        if not db:
            raise InvalidArgumentError("database name must not be empty")
        encode_text(db, "database name")  # a lone surrogate: refused here, before any report lookup
        return db
    raise InvalidTypeError(f"db must be an int index or a str name, not {type(db).__name__}")


def http_db(db: Any) -> bytes:
    """The ``DB`` parameter of an RPC: the index in decimal, or the name (the server resolves it)."""
    db = check_db(db)
    if type(db) is int:
        return b"%d" % db
    if db[:1].isdigit():
        # The server reads a value starting with a digit as an index, so such a name cannot be addressed.
        raise InvalidArgumentError(f"database name {db!r} starts with a digit; address it by index")
    return encode_text(db, "database name")


def expire_to_xt(expire_time: Any) -> int:
    """Kyoto Tycoon's ``xt``: positive = seconds from now, negative = ``-epoch`` (absolute).

    ``None`` is "never" (``XT_NONE``); a ``timedelta`` is relative; a ``datetime`` is absolute (a naive one
    is local time, as :meth:`datetime.datetime.timestamp` reads it); an int/float is used as KT reads it.
    """
    if expire_time is None:
        return XT_NONE
    xt = _expire_to_xt(expire_time)
    # Both protocols carry xt as a signed 64-bit number; the server would wrap a larger one.
    if not -_INT64_LIMIT < xt < _INT64_LIMIT:
        raise InvalidArgumentError(f"expire_time out of range: {expire_time!r}")
    return xt


_INT64_LIMIT = 1 << 63


def _expire_to_xt(expire_time: Any) -> int:
    t = type(expire_time)
    if t is int:
        return expire_time
    if t is float:
        if expire_time != expire_time or expire_time in (float("inf"), float("-inf")):
            raise InvalidArgumentError(f"expire_time must be finite, not {expire_time}")
        return int(expire_time)
    if isinstance(expire_time, datetime.datetime):
        epoch = int(expire_time.timestamp())
        if epoch <= 0:
            raise InvalidArgumentError(f"expire_time {expire_time!r} is not after the epoch")
        return -epoch
    if isinstance(expire_time, datetime.timedelta):
        seconds = int(expire_time.total_seconds())
        if seconds < 0:
            raise InvalidArgumentError(f"expire_time timedelta must not be negative: {expire_time!r}")
        return seconds
    if isinstance(expire_time, int) and not isinstance(expire_time, bool):
        return int(expire_time)
    raise InvalidTypeError(
        f"expire_time must be an int (seconds), a timedelta or a datetime, not {type(expire_time).__name__}")
