"""Hostile caller input: each bad call raises a clear kt exception and the client stays usable."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from kt_core.errors import (
    BadRequestError,
    InvalidArgumentError,
    InvalidTypeError,
    KtError,
    LogicalInconsistencyError,
    TokyoTyrantError,
)

pytestmark = pytest.mark.server


class Unencodable:
    pass


KT_CASES: list[tuple[str, Callable[[Any, Any], Any], type[Exception]]] = [
    ("key None", lambda c, f: c.get(None), InvalidTypeError),
    ("key bool", lambda c, f: c.get(True), InvalidTypeError),
    ("key list", lambda c, f: c.set(["a"], "v"), InvalidTypeError),
    ("bulk key None", lambda c, f: c.get_bulk(["a", None]), InvalidTypeError),
    ("set_bulk not a mapping", lambda c, f: c.set_bulk([1, 2]), InvalidTypeError),
    ("db negative", lambda c, f: c.get("k", db=-1), InvalidArgumentError),
    ("db float", lambda c, f: c.get("k", db=1.5), InvalidTypeError),
    ("db unknown index (binary)", lambda c, f: c.get("k", db=99), BadRequestError),
    ("db unknown name (binary)", lambda c, f: c.set("k", "v", db="nope.kch"), BadRequestError),
    ("db unknown index (http)", lambda c, f: c.status(db=99), BadRequestError),
    ("expire str", lambda c, f: c.set("k", "v", expire_time="soon"), InvalidTypeError),
    ("expire nan", lambda c, f: c.set("k", "v", expire_time=float("nan")), InvalidArgumentError),
    ("key lone surrogate", lambda c, f: c.get("\ud800"), InvalidArgumentError),
    ("regex the server rejects", lambda c, f: c.match_regex("(["), LogicalInconsistencyError),
    ("incr n str", lambda c, f: c.incr("k", "x"), InvalidTypeError),
    ("binary: object value", lambda c, f: c.set("k", Unencodable()), InvalidTypeError),
    ("none: str value", lambda c, f: f(serializer="none").set("k", "str"), InvalidTypeError),
    ("json: object value", lambda c, f: f(serializer="json").set("k", Unencodable()), InvalidTypeError),
    ("json: complex dict key", lambda c, f: f(serializer="json").set("k", {1j: 1}), InvalidArgumentError),
]


@pytest.mark.parametrize(("name", "call", "error"), KT_CASES, ids=[c[0] for c in KT_CASES])
def test_kt_bad_input_raises_clearly_and_client_stays_usable(
        kt_client: Any, kt_client_factory: Callable[..., Any], name: str, call: Any, error: type[Exception]) -> None:
    kt_client.set("ok", "fine")
    with pytest.raises(error) as info:
        call(kt_client, kt_client_factory)
    assert isinstance(info.value, KtError)
    assert str(info.value)  # says what was wrong
    assert kt_client.get("ok") == "fine"
    assert kt_client.set_bulk({"a": "1", "b": "2"}) == 2


def test_kt_huge_key_round_trips(kt_client: Any) -> None:
    key = "k" * (1 << 20)
    assert kt_client.get(key) is None
    assert kt_client.set(key, "v") == 1
    assert kt_client.get(key) == "v"


def test_kt_non_utf8_keys_with_decode_keys(kt_client: Any) -> None:
    # decode_keys=True: a key that is not UTF-8 comes back as bytes, never mangled or an error.
    assert kt_client.set(b"\xff\xfe", "v") == 1
    assert kt_client.get(b"\xff\xfe") == "v"
    assert kt_client.get_bulk([b"\xff\xfe"]) == {b"\xff\xfe": "v"}


TT_CASES: list[tuple[str, Callable[[Any], Any], type[Exception]]] = [
    ("key None", lambda c: c.get(None), InvalidTypeError),
    ("key bool", lambda c: c.set(False, "v"), InvalidTypeError),
    ("object value", lambda c: c.set("k", Unencodable()), InvalidTypeError),
    ("regex the server rejects", lambda c: c.match_regex("(["), TokyoTyrantError),
    ("key lone surrogate", lambda c: c.get("\udfff"), InvalidArgumentError),
    ("key lone surrogate (set)", lambda c: c.set("\udfff", "v"), InvalidArgumentError),
    ("bulk key lone surrogate", lambda c: c.get_bulk(["a", "\udfff"]), InvalidArgumentError),
    ("get_bulk None", lambda c: c.get_bulk(None), InvalidTypeError),
]


@pytest.mark.parametrize(("name", "call", "error"), TT_CASES)
def test_tt_bad_input_raises_clearly_and_client_stays_usable(
        tt_client: Any, name: str, call: Any, error: type[Exception]) -> None:
    tt_client.set("ok", "fine")
    with pytest.raises(error) as info:
        call(tt_client)
    assert isinstance(info.value, KtError)
    assert str(info.value)  # says what was wrong
    assert tt_client.get("ok") == "fine"


def test_kt_get_bulk_none_is_a_kt_error(kt_client: Any) -> None:
    with pytest.raises(InvalidTypeError):
        kt_client.get_bulk(None)
    with pytest.raises(InvalidTypeError):
        kt_client.remove_bulk(None)
