"""TokyoTyrant.from_url: tt://host:port?options, as redis-py's from_url reads its URLs."""

from __future__ import annotations

from typing import Any

import pytest
from kt_core.errors import ImproperlyConfigured, InvalidArgumentError, InvalidTypeError
from kt_tyrant import TokyoTyrant


def test_defaults() -> None:
    client = TokyoTyrant.from_url("tt://")
    assert (client.host, client.port, client.timeout) == ("127.0.0.1", 1978, None)
    assert client.serializer.name == "binary" and client.decode_keys is True


@pytest.mark.parametrize(("url", "host", "port"), [
    ("tt://example.org:2000", "example.org", 2000),
    ("tt://example.org:2000/", "example.org", 2000),
    ("tt://h/0", "h", 1978),
    ("tt://[::1]:3000", "::1", 3000),
    ("TT://H:5", "h", 5),
])
def test_host_and_port(url: str, host: str, port: int) -> None:
    client = TokyoTyrant.from_url(url)
    assert (client.host, client.port) == (host, port)


def test_query_options() -> None:
    client = TokyoTyrant.from_url("tt://h?timeout=2.5&serializer=table&decode_keys=0&retry=2&max_connections=4")
    assert client.timeout == 2.5
    assert client.serializer.name == "table"
    assert client.decode_keys is False
    assert client._retry.retries == 2
    assert client.pool.max_connections == 4


def test_keywords_go_to_the_constructor_and_the_url_wins() -> None:
    client = TokyoTyrant.from_url("tt://h?timeout=2", timeout=9, serializer="json")
    assert client.timeout == 2.0
    assert client.serializer.name == "json"


@pytest.mark.parametrize(("url", "message"), [
    ("kt://h:1", "tt:// URL"),
    ("tt+cluster://h:1", "tt:// URL"),
    ("tt://h:0", "port"),
    ("tt://h:x", "port"),
    ("tt://u:p@h", "no user"),
    ("tt://h/1", "single database"),
    ("tt://h/db", "single database"),
    ("tt://h?db=1", "unknown option 'db'"),
    ("tt://h?timeout=", "timeout"),
    ("tt://h?decode_keys=2", "decode_keys"),
    ("tt://h?max_connections=many", "max_connections"),
    ("tt://h?retry=1&retry=1", "twice"),
])
def test_bad_urls_raise_before_connecting(url: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        TokyoTyrant.from_url(url)


def test_bad_types_and_serializers() -> None:
    with pytest.raises(InvalidTypeError):
        TokyoTyrant.from_url(None)  # type: ignore[arg-type]
    with pytest.raises(ImproperlyConfigured):
        TokyoTyrant.from_url("tt://h?serializer=no-such-serializer")


def test_a_client_from_a_url_talks_to_the_server(tt_server: Any, tt_client: Any) -> None:
    with TokyoTyrant.from_url(f"tt://{tt_server.host}:{tt_server.port}?timeout=5") as client:
        assert client.set("k", "v") is True
        assert client.get("k") == "v"
    assert tt_client.get("k") == "v"
