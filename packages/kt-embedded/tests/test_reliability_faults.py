"""Faults between client and server: the fault-injection proxy, and real server kills.

What a user relies on: a failed request raises KtConnectionError (KtTimeoutError for a silent
server) or ProtocolError, never returns wrong data, never crashes; the same client object works
again once the server does; a late reply never answers a later request; and, on a file-backed
real server killed with SIGKILL, every write the client was told was stored is still there.

Each test runs on the blocking clients and on the asyncio ones (``client_flavor``; the asyncio
client behind a BlockingFacade, so the same assertions check it).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from kt_core.errors import KtConnectionError, KtTimeoutError, ProtocolError, ServerError
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer, find_free_port, real_server_available
from kt_embedded.blocking import BlockingFacade
from kt_embedded.faultproxy import FaultProxy

pytestmark = pytest.mark.server

TIMEOUT = 0.5


def kt_client(proxy: FaultProxy, flavor: str, **options: Any) -> Any:
    from kt_kyoto import AsyncKyotoTycoon, KyotoTycoon

    if flavor == "async":
        return BlockingFacade(AsyncKyotoTycoon(proxy.host, proxy.port, timeout=TIMEOUT, **options))
    return KyotoTycoon(proxy.host, proxy.port, timeout=TIMEOUT, **options)


def tt_client(proxy: FaultProxy, flavor: str, **options: Any) -> Any:
    from kt_tyrant import AsyncTokyoTyrant, TokyoTyrant

    if flavor == "async":
        return BlockingFacade(AsyncTokyoTyrant(proxy.host, proxy.port, timeout=TIMEOUT, **options))
    return TokyoTyrant(proxy.host, proxy.port, timeout=TIMEOUT, **options)


def _close(client: Any) -> None:
    client.close()
    if isinstance(client, BlockingFacade):
        client.close_loop()


@pytest.fixture(params=["kt", "tt"])
def proxied(request: pytest.FixtureRequest, kt_server: Any, tt_server: Any, client_flavor: str) -> Any:
    """(client, proxy) for each protocol, through a fault proxy to the session's server."""
    server = kt_server if request.param == "kt" else tt_server
    make = kt_client if request.param == "kt" else tt_client
    with FaultProxy(server.host, server.port) as proxy:
        client = make(proxy, client_flavor)
        client.clear()
        client.set("k", "v")
        yield client, proxy
        _close(client)


def test_stalled_server_times_out_and_the_late_reply_is_never_seen(proxied: Any) -> None:
    client, proxy = proxied
    client.set("late", "old")
    proxy.stall()
    started = time.monotonic()
    with pytest.raises(KtTimeoutError):
        client.get("late")
    elapsed = time.monotonic() - started
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 1.0
    # The late reply ("old") is released now; the client dropped that connection, so it must not
    # surface as the answer to any later request.
    client_after = client
    proxy.passthrough()
    client_after.set("late", "new")
    for _ in range(20):
        assert client_after.get("late") == "new"
        assert client_after.get("k") == "v"
    assert proxy.stats["stalled_bytes"] > 0


# Every cut is shorter than the shortest reply here (TT get of "v": 6 bytes).
@pytest.mark.parametrize("cut", [0, 1, 3, 5])
def test_connection_closed_mid_reply_raises_then_recovers(proxied: Any, cut: int) -> None:
    client, proxy = proxied
    proxy.close_after(cut)
    with pytest.raises((KtConnectionError, ProtocolError)):
        client.get("k")
    proxy.passthrough()
    assert client.get("k") == "v"


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4])
def test_corrupted_reply_framing_is_an_error_never_wrong_data(proxied: Any, offset: int) -> None:
    # The first bytes are the framing: KT binary magic + hit count, TT code + value length.
    # Flipping their top bit must give an error (or, for a length growing past the reply, a timeout).
    # A flipped TT code byte reads as a server error code: an error too, and the bytes left over
    # make the client drop that connection before its next request.
    client, proxy = proxied
    proxy.corrupt({offset: 0x80})
    try:
        value = client.get("k")
    except (KtConnectionError, ProtocolError, ServerError):
        pass
    else:
        assert value == "v", f"corrupted framing byte {offset} returned wrong data {value!r}"
    proxy.passthrough()
    assert client.get("k") == "v"


def test_refused_connection_fails_promptly_and_recovers(proxied: Any) -> None:
    client, proxy = proxied
    proxy.refuse()
    started = time.monotonic()
    with pytest.raises(KtConnectionError):
        client.get("k")
    assert time.monotonic() - started < TIMEOUT + 0.5
    proxy.passthrough()
    assert client.get("k") == "v"


def _kill(manager: Any) -> None:
    assert manager.process is not None
    os.kill(manager.process.pid, signal.SIGKILL)
    manager.process.wait(10)


def _restart(manager: Any) -> None:
    manager.process = None
    deadline = time.monotonic() + 15
    while True:
        try:
            manager.run()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


KILL_CASES = [
    pytest.param("kt", "real", id="kt-real"),
    pytest.param("kt", STANDIN, id="kt-standin"),
    pytest.param("tt", "real", id="tt-real"),
    pytest.param("tt", STANDIN, id="tt-standin"),
]


@pytest.mark.parametrize(("protocol", "backend"), KILL_CASES)
def test_sigkill_mid_request_then_restart(protocol: str, backend: str, tmp_path: Any, client_flavor: str) -> None:
    """Writes flow through a proxy that stalls one request; the server is SIGKILLed with it in flight
    and restarted on the same port. The in-flight call fails with a connection error, the same client
    object works afterwards and (file-backed real server) every acknowledged write survived."""
    real = backend == "real"
    if real and not real_server_available("ktserver" if protocol == "kt" else "ttserver"):
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail("real server not installed (KT_REQUIRE_REAL=1)")
        pytest.skip("real server not installed")
    port = find_free_port()
    if protocol == "kt":
        database = str(tmp_path / "kill.kch") if real else "*"
        manager: Any = EmbeddedServer(server="ktserver" if real else STANDIN, port=port, database=database)
    else:
        database = str(tmp_path / "kill.tch") if real else "*"
        manager = EmbeddedTokyoTyrantServer(server="ttserver" if real else STANDIN, port=port, database=database)
    manager.run()
    try:
        with FaultProxy(manager.host, port) as proxy:
            client = (kt_client if protocol == "kt" else tt_client)(proxy, client_flavor)
            acknowledged = {}
            for i in range(300):
                key, value = f"key{i}", f"value{i}"
                client.set(key, value)
                acknowledged[key] = value
            proxy.stall()  # the next request reaches the server; its reply is held
            with pytest.raises(KtConnectionError):
                # The reply never comes: the server dies while the request is in flight.
                _kill_during(manager, lambda: client.set("inflight", "x"))
            proxy.passthrough()
            _restart(manager)
            if not real:
                assert client.get("key0") is None  # the in-memory stand-in restarted empty
            client.set("after", "restart")
            assert client.get("after") == "restart"
            if real:
                got = client.get_bulk(list(acknowledged))
                lost = sorted(set(acknowledged) - set(got))
                assert not lost, f"acknowledged writes lost after SIGKILL: {lost[:10]}"
                assert got == acknowledged
            _close(client)
    finally:
        manager.stop()


def _kill_during(manager: Any, call: Any) -> None:
    import threading

    killer = threading.Timer(0.1, _kill, args=(manager,))
    killer.start()
    try:
        call()
    finally:
        killer.join()
