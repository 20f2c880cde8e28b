"""get_bulk / get_bulk_raw (mget) take list fast paths (all-str keys, equal lengths); every shape of
input must give the same result and the same errors as the careful per-key path."""

from __future__ import annotations

import pytest
from kt_core.errors import InvalidArgumentError, InvalidTypeError


@pytest.mark.server
def test_str_keys_all_hit_partial_hit_and_duplicates(tt_client, tt_client_factory, tt_server) -> None:
    client = tt_client_factory(tt_server, serializer="none")
    data = {f"k{i:03d}": b"v%d" % i for i in range(50)}
    client.set_bulk(data)
    keys = list(data)
    assert client.get_bulk_raw(keys) == data  # every key hit: the caller's own keys come back
    assert client.get_bulk_raw(tuple(keys)) == data
    assert client.get_bulk_raw(iter(keys)) == data
    assert client.get_bulk_raw(["k001", "nope", "k002"]) == {"k001": b"v1", "k002": b"v2"}
    assert client.get_bulk_raw(["k001", "k001"]) == {"k001": b"v1"}
    assert client.get_bulk_raw([b"k001", "k002"]) == {"k001": b"v1", "k002": b"v2"}
    assert client.get_bulk_raw([]) == {}
    assert client.get_bulk(["k003"]) == {"k003": b"v3"}


@pytest.mark.server
def test_varied_lengths_and_non_utf8_keys(tt_client, tt_client_factory, tt_server) -> None:
    client = tt_client_factory(tt_server, serializer="none")
    data = {b"a": b"", b"bb": b"12345", b"\xff\xfe": b"x" * 1000, "é".encode(): b"e"}
    client.set_bulk(data)
    assert client.get_bulk_raw(list(data)) == {"a": b"", "bb": b"12345", b"\xff\xfe": b"x" * 1000, "é": b"e"}
    raw = tt_client_factory(tt_server, serializer="none", decode_keys=False)
    assert raw.get_bulk_raw(["a", "é", "zz"]) == {b"a": b"", "é".encode(): b"e"}
    assert raw.get_bulk([b"bb"]) == {b"bb": b"12345"}


@pytest.mark.parametrize("keys, error", [
    (["a", True], InvalidTypeError),
    ([b"a", None], InvalidTypeError),
    (["a", "\udc80"], InvalidArgumentError),
    ("abc", InvalidTypeError),
    (5, InvalidTypeError),
])
def test_bad_keys_refused_before_sending(keys, error) -> None:
    from kt_tyrant import TokyoTyrant

    client = TokyoTyrant("127.0.0.1", 1)  # nothing listens: an attempt to send would raise ConnectionError
    with pytest.raises(error):
        client.get_bulk_raw(keys)
    with pytest.raises(error):
        client.get_bulk(keys)


@pytest.mark.server
@pytest.mark.parametrize("missing", ["none", "middle", "end"])
def test_large_replies_read_as_they_arrive(tt_client, tt_client_factory, tt_server, missing: str) -> None:
    # 6,000 keys of 200-byte values: a 1.3 MB mget reply, decoded record by record while it arrives, with
    # the str keys matched slice by slice (over LARGE_KEY_LIST) or against the bytes keys themselves.
    from kt_core.codec.progress import LARGE_KEY_LIST

    client = tt_client_factory(tt_server, serializer="none")
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
    raw = tt_client_factory(tt_server, serializer="none", decode_keys=False)
    assert raw.get_bulk_raw(keys) == {k.encode(): v for k, v in want.items()}
    assert raw.get_bulk_raw([k.encode() for k in keys]) == {k.encode(): v for k, v in want.items()}
