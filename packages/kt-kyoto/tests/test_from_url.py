"""KyotoTycoon.from_url: kt://host:port/db?options, as redis-py's from_url reads its URLs."""

from __future__ import annotations

from typing import Any

import pytest
from kt_core.errors import ImproperlyConfigured, InvalidArgumentError, InvalidTypeError
from kt_kyoto import KyotoTycoon


def test_defaults() -> None:
    client = KyotoTycoon.from_url("kt://")
    assert (client.host, client.port, client.default_db, client.timeout) == ("127.0.0.1", 1978, 0, None)
    assert client.serializer.name == "binary" and client.decode_keys is True


@pytest.mark.parametrize(("url", "host", "port", "db"), [
    ("kt://example.org:2000", "example.org", 2000, 0),
    ("kt://example.org:2000/", "example.org", 2000, 0),
    ("kt://h/1", "h", 1978, 1),
    ("kt://h:1/users.kct", "h", 1, "users.kct"),
    ("kt://h/%25", "h", 1978, "%"),
    ("kt://h/%", "h", 1978, "%"),
    ("kt://h/*", "h", 1978, "*"),
    ("kt://[::1]:3000/2", "::1", 3000, 2),
    ("KT://H:5", "h", 5, 0),
    ("kt:///1", "127.0.0.1", 1978, 1),
    ("kt://h?db=%25", "h", 1978, "%"),
])
def test_host_port_and_database(url: str, host: str, port: int, db: Any) -> None:
    client = KyotoTycoon.from_url(url)
    assert (client.host, client.port, client.default_db) == (host, port, db)


def test_query_options() -> None:
    client = KyotoTycoon.from_url("kt://h?timeout=2.5&serializer=json&decode_keys=false&retry=3")
    assert client.timeout == 2.5
    assert client.serializer.name == "json"
    assert client.decode_keys is False
    assert client._retry.retries == 3


def test_keywords_go_to_the_constructor_and_the_url_wins() -> None:
    client = KyotoTycoon.from_url("kt://h/1?timeout=2", timeout=9, serializer="json", default_db=5)
    assert client.timeout == 2.0  # in the URL: the URL wins
    assert client.default_db == 1
    assert client.serializer.name == "json"  # not in the URL: the keyword is used
    assert KyotoTycoon.from_url("kt://h", default_db=3).default_db == 3


@pytest.mark.parametrize(("url", "message"), [
    ("tt://h:1", "kt:// URL"),
    ("kt+async://h:1", "kt:// URL"),
    ("http://h:1", "kt:// URL"),
    ("h:1", "kt:// URL"),
    ("kt://h:99999", "port"),
    ("kt://h:x", "port"),
    ("kt://user@h", "no user"),
    ("kt://h#frag", "no user"),
    ("kt://h?nope=1", "unknown option 'nope'"),
    ("kt://h?timeout=soon", "timeout"),
    ("kt://h?decode_keys=maybe", "decode_keys"),
    ("kt://h?retry=-1", "retry"),
    ("kt://h?timeout=1&timeout=2", "twice"),
    ("kt://h/1?db=2", "twice"),
])
def test_bad_urls_raise_before_connecting(url: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        KyotoTycoon.from_url(url)


def test_bad_types_and_serializers() -> None:
    with pytest.raises(InvalidTypeError):
        KyotoTycoon.from_url(b"kt://h")  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured):
        KyotoTycoon.from_url("kt://h?serializer=no-such-serializer")


def test_a_client_from_a_url_talks_to_the_server(kt_server: Any, kt_client: Any) -> None:
    url = f"kt://{kt_server.host}:{kt_server.port}/%25?timeout=5"
    with KyotoTycoon.from_url(url) as client:
        assert client.set("k", "tree") == 1
        assert client.get("k") == "tree"
    assert kt_client.get("k", db=1) == "tree" and kt_client.get("k", db=0) is None
    with KyotoTycoon.from_url(f"kt://{kt_server.host}:{kt_server.port}?serializer=json") as client:
        client.set("doc", {"a": [1]})
        assert client.get("doc") == {"a": [1]}
