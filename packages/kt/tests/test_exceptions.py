"""kt.exceptions: kt 0.9.6's exception names on our tree, checked with errors the clients really raise."""

from __future__ import annotations

from typing import Any

import kt
import kt.exceptions
import pytest
from kt import KT_BINARY, STANDIN, EmbeddedServer, KyotoTycoon, TokyoTyrant
from kt.exceptions import (
    ImproperlyConfigured,
    KyotoTycoonError,
    ProtocolError,
    ScriptError,
    ServerConnectionError,
    ServerError,
)
from kt_embedded import find_free_port

KT_096_NAMES = {"KyotoTycoonError", "ImproperlyConfigured", "ProtocolError", "ScriptError", "ServerConnectionError",
                "ServerError"}


def test_kt_exceptions_has_kt_096s_names_also_at_kt() -> None:
    assert set(kt.exceptions.__all__) == KT_096_NAMES
    for name in KT_096_NAMES:
        assert getattr(kt, name) is getattr(kt.exceptions, name)


def test_kyoto_tycoon_error_is_the_root_of_every_kt_error() -> None:
    assert KyotoTycoonError is kt.KtError
    for name in kt.__all__:
        obj = getattr(kt, name)
        # kt_serializers depends on nothing of ours, so get_serializer's own errors are outside the tree;
        # the clients raise them as ImproperlyConfigured (below).
        if isinstance(obj, type) and issubclass(obj, BaseException) and not obj.__module__.startswith("kt_serializers"):
            assert issubclass(obj, KyotoTycoonError), name


@pytest.mark.parametrize("make", [KyotoTycoon, TokyoTyrant], ids=["kt", "tt"])
def test_server_connection_error_catches_a_refused_connection(make: Any) -> None:
    client = make(port=find_free_port(), timeout=2)
    with pytest.raises(ServerConnectionError) as info:
        client.get("k")
    assert isinstance(info.value, ConnectionError)  # the builtin still catches it too
    assert isinstance(info.value, KyotoTycoonError)


@pytest.mark.parametrize("make", [KyotoTycoon, TokyoTyrant], ids=["kt", "tt"])
def test_improperly_configured_for_an_unknown_serializer(make: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown serializer 'yaml'"):
        make(serializer="yaml")
    with pytest.raises(KyotoTycoonError):
        make(serializer="yaml")
    make(serializer=KT_BINARY)  # a known one is fine


@pytest.mark.server
def test_script_error_catches_a_missing_kt_function(kt_client: KyotoTycoon) -> None:
    with pytest.raises(ScriptError) as info:
        kt_client.lua.nosuchfunction(key="x")
    assert isinstance(info.value, ServerError)


@pytest.mark.server
def test_script_error_catches_a_failing_kt_function(kt_client: KyotoTycoon) -> None:
    with pytest.raises(ScriptError):
        kt_client.script("conflict")
    with pytest.raises(ScriptError):
        kt_client.lua.broken()


@pytest.mark.server
def test_script_error_catches_a_missing_tt_function(tt_client: TokyoTyrant) -> None:
    with pytest.raises(ScriptError) as info:
        tt_client.lua.nosuchfunction("k", "v")
    assert isinstance(info.value, ServerError)


@pytest.mark.server
def test_server_error_catches_what_the_kt_server_refuses(kt_client: KyotoTycoon) -> None:
    kt_client.set("text", "not a number")
    with pytest.raises(ServerError) as info:
        kt_client.incr("text")
    assert isinstance(info.value, KyotoTycoonError)
    assert not isinstance(info.value, ProtocolError)  # kt 0.9.6 raised ProtocolError here: see the README


@pytest.mark.server
def test_server_error_catches_what_the_tt_server_refuses(tt_client: TokyoTyrant) -> None:
    tt_client.set("text", "abc")
    with pytest.raises(ServerError):
        tt_client.incr("text")  # not a 4-byte integer


def test_a_bad_argument_is_a_kyoto_tycoon_error_and_a_type_error() -> None:
    with pytest.raises(KyotoTycoonError) as info:
        KyotoTycoon(port=1).get(None)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)


def test_an_embedded_server_error_is_a_kyoto_tycoon_error() -> None:
    server = EmbeddedServer(server=STANDIN)
    with pytest.raises(KyotoTycoonError, match="not running"):
        server.client  # noqa: B018
