"""Security defaults: loopback-only listeners, and the pickle serializer's documented risk."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer
from kt_embedded.faultproxy import FaultProxy


def _non_loopback_ipv4() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            addr: str = s.getsockname()[0]
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.server
@pytest.mark.parametrize("manager_class", [EmbeddedServer, EmbeddedTokyoTyrantServer])
def test_standins_bind_loopback_by_default(manager_class: Any) -> None:
    other = _non_loopback_ipv4()
    with manager_class(server=STANDIN) as manager:
        assert manager.host == "127.0.0.1"
        assert _reachable("127.0.0.1", manager.port)
        if other is not None:
            assert not _reachable(other, manager.port), f"stand-in reachable on {other}"


def test_fault_proxy_binds_loopback_by_default() -> None:
    other = _non_loopback_ipv4()
    with FaultProxy("127.0.0.1", 9) as proxy:
        assert proxy.host == "127.0.0.1"
        if other is not None:
            assert not _reachable(other, proxy.port)


def test_pickle_serializer_documents_its_risk() -> None:
    import kt_serializers.builtin as builtin

    text = (builtin.__doc__ or "") + "".join((getattr(builtin, name).__doc__ or "") for name in dir(builtin)
                                            if "ickle" in name)
    assert "arbitrary code" in text.lower()
