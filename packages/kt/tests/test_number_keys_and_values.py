"""Numbers as keys and KT_BINARY values, stored as their text as kt 0.9.6 stores them, on both clients and every
backend; what stays refused is refused before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from kt import InvalidTypeError, KyotoTycoon, TokyoTyrant

pytestmark = pytest.mark.server


def test_kt_int_and_float_values_are_stored_as_text(kt_client: KyotoTycoon) -> None:
    assert kt_client.set("k", 1) == 1
    assert kt_client.get_raw("k") == b"1"
    assert kt_client.get("k") == "1"
    kt_client.set("f", 2.5)
    assert kt_client.get_raw("f") == b"2.5"
    kt_client["big"] = 2**70
    assert kt_client["big"] == str(2**70)
    assert kt_client.set_bulk({"a": -3, "b": 0.0}) == 2
    assert kt_client.get_bulk_raw(["a", "b"]) == {"a": b"-3", "b": b"0.0"}
    assert kt_client.add("n", 7) is True and kt_client.get("n") == "7"
    assert kt_client.cas("n", 7, 8) is True and kt_client.get("n") == "8"


def test_kt_int_and_float_keys_are_sent_as_text(kt_client: KyotoTycoon) -> None:
    assert kt_client.set(1, "one") == 1
    assert kt_client.get("1") == "one"
    assert kt_client.get(1) == "one"
    kt_client.set(1.5, "x")
    assert kt_client.exists("1.5") is True
    assert kt_client.get_bulk([1, 1.5, 99]) == {"1": "one", "1.5": "x"}
    assert kt_client.remove(1) == 1
    assert kt_client.get("1") is None
    assert kt_client.match_prefix(1) == ["1.5"]


def test_tt_int_and_float_keys_and_values_are_text(tt_client: TokyoTyrant) -> None:
    assert tt_client.set(1, "x") is True
    assert tt_client.get("1") == "x"
    assert tt_client.set("v", 42) is True
    assert tt_client.get_raw("v") == b"42"
    tt_client[2.5] = 3.25
    assert tt_client.get_raw("2.5") == b"3.25"
    assert tt_client.get_bulk([1, 2.5, 3]) == {"1": "x", "2.5": "3.25"}
    assert tt_client.remove(1) == 1
    assert 1 not in tt_client


@pytest.mark.parametrize("value", [None, True, ["a"], {"a": 1}, object()])
def test_kt_other_values_stay_refused(kt_client: KyotoTycoon, value: Any) -> None:
    with pytest.raises(InvalidTypeError):
        kt_client.set("k", value)
    assert kt_client.count() == 0


@pytest.mark.parametrize("key", [None, False, ("k",), b"k".decode])
def test_tt_other_keys_stay_refused(tt_client: TokyoTyrant, key: Any) -> None:
    with pytest.raises(InvalidTypeError):
        tt_client.set(key, "v")
    assert tt_client.count() == 0
