"""get_bulk / get_bulk_raw / set_bulk take list fast paths (all-str or all-bytes keys, equal lengths);
every shape of input must give the same result and the same errors as the careful per-key path."""

from __future__ import annotations

import pytest
from kt_core.errors import InvalidArgumentError, InvalidTypeError


@pytest.mark.server
def test_str_keys_all_hit_partial_hit_and_duplicates(kt_client) -> None:
    data = {f"k{i:03d}": b"v%d" % i for i in range(50)}
    assert kt_client.set_bulk(data) == 50
    keys = list(data)
    assert kt_client.get_bulk_raw(keys) == data  # every key hit: the caller's own keys come back
    assert kt_client.get_bulk_raw(tuple(keys)) == data
    assert kt_client.get_bulk_raw(iter(keys)) == data  # an iterator: the per-key path
    assert kt_client.get_bulk_raw(["k001", "nope", "k002"]) == {"k001": b"v1", "k002": b"v2"}
    assert kt_client.get_bulk_raw(["k001", "k001"]) == {"k001": b"v1"}
    assert kt_client.get_bulk_raw([b"k001", "k002"]) == {"k001": b"v1", "k002": b"v2"}
    assert kt_client.get_bulk_raw([]) == {}


@pytest.mark.server
def test_varied_lengths_and_non_utf8_keys(kt_client_factory) -> None:
    client = kt_client_factory(serializer="none")
    data = {b"a": b"", b"bb": b"12345", b"\xff\xfe": b"x" * 1000, "é".encode(): b"e"}
    assert client.set_bulk(data) == 4
    assert client.get_bulk_raw(list(data)) == {"a": b"", "bb": b"12345", b"\xff\xfe": b"x" * 1000, "é": b"e"}
    raw = kt_client_factory(serializer="none", decode_keys=False)
    assert raw.get_bulk_raw(["a", "é", "zz"]) == {b"a": b"", "é".encode(): b"e"}
    assert raw.get_bulk([b"bb"]) == {b"bb": b"12345"}


@pytest.mark.server
def test_set_bulk_mapping_kwargs_and_expiry(kt_client) -> None:
    assert kt_client.set_bulk({"a": "1"}, b="2", expire_time=100) == 2
    assert kt_client.set_bulk(None, c="3") == 1
    assert kt_client.set_bulk({}) == 0
    assert kt_client.get_bulk(["a", "b", "c"]) == {"a": "1", "b": "2", "c": "3"}


@pytest.mark.parametrize("keys, error", [
    (["a", True], InvalidTypeError),
    ([b"a", None], InvalidTypeError),
    (["a", "\udc80"], InvalidArgumentError),
    ("abc", InvalidTypeError),
    (5, InvalidTypeError),
])
def test_bad_keys_refused_before_sending(keys, error) -> None:
    from kt_kyoto import KyotoTycoon

    client = KyotoTycoon("127.0.0.1", 1)  # nothing listens: an attempt to send would raise ConnectionError
    with pytest.raises(error):
        client.get_bulk_raw(keys)
    if not isinstance(keys, (str, int)):
        with pytest.raises(error):
            client.set_bulk(dict.fromkeys(keys, "v"))
    with pytest.raises(InvalidTypeError):
        client.set_bulk({"a": "1"}, db=1.5)
    with pytest.raises(InvalidTypeError):
        client.set_bulk({"a": object()})


@pytest.mark.server
@pytest.mark.parametrize("missing", ["none", "middle", "end"])
def test_large_replies_read_as_they_arrive(kt_client_factory, missing: str) -> None:
    # 6,000 keys of 200-byte values: a 1.3 MB reply, decoded record by record while it arrives, with the
    # str keys matched slice by slice (over LARGE_KEY_LIST) or against the bytes keys themselves.
    from kt_core.codec.progress import LARGE_KEY_LIST

    client = kt_client_factory(serializer="none")
    client.clear()
    keys = [f"big:{i:06d}" for i in range(6000)]
    assert len(keys) > LARGE_KEY_LIST
    stored = {k: (b"%06d" % i) * 34 for i, k in enumerate(keys)}
    skip = {"none": set(), "middle": {"big:003001"}, "end": {"big:005999"}}[missing]
    for i in range(0, len(keys), 1000):
        client.set_bulk({k: stored[k] for k in keys[i:i + 1000] if k not in skip})
    want = {k: v for k, v in stored.items() if k not in skip}
    assert client.get_bulk_raw(keys) == want
    assert client.get_bulk_raw(tuple(keys)) == want
    assert client.get_bulk_raw([k.encode() for k in keys]) == want
    assert client.get_bulk(keys) == want
    raw = kt_client_factory(serializer="none", decode_keys=False)
    assert raw.get_bulk_raw(keys) == {k.encode(): v for k, v in want.items()}
    assert raw.get_bulk_raw([k.encode() for k in keys]) == {k.encode(): v for k, v in want.items()}
