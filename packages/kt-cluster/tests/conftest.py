"""Servers for the cluster tests: three of a kind, on every available backend (stand-in and real)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kt_cluster import TokyoTyrantCluster
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer
from kt_embedded.managers import real_server_available
from kt_serializers import TT_TABLE

SHARDS = 3


def start(kind: str, backend: str, database: Any = None) -> Any:
    if kind == "kt":
        manager: Any = EmbeddedServer(server="ktserver" if backend == "real" else STANDIN,
                                      database=database or ["*", "%"], quiet=True)
    else:
        manager = EmbeddedTokyoTyrantServer(server="ttserver" if backend == "real" else STANDIN,
                                            database=database or "*", quiet=True)
    manager.run()
    return manager


def skip_unless_installed(backend: str, kind: str) -> None:
    if backend == "real" and not real_server_available("ktserver" if kind == "kt" else "ttserver"):
        pytest.skip("the real server is not installed")


@pytest.fixture(scope="module", params=[("kt", "standin"), ("kt", "real"), ("tt", "standin"), ("tt", "real")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[Any]]]:
    kind, backend = request.param
    skip_unless_installed(backend, kind)
    managers: list[Any] = []
    try:
        for _ in range(SHARDS):
            managers.append(start(kind, backend))
        yield kind, managers
    finally:
        for manager in managers:
            manager.stop()


@pytest.fixture(scope="module", params=["standin", "real"])
def tables(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A TokyoTyrantCluster (TT_TABLE) over three table databases (.tct)."""
    skip_unless_installed(request.param, "tt")
    folder: Path = tmp_path_factory.mktemp(f"tables-{request.param}")
    managers = [start("tt", request.param, str(folder / f"shard{i}.tct")) for i in range(3)]
    try:
        with TokyoTyrantCluster([f"{m.host}:{m.port}" for m in managers], serializer=TT_TABLE) as cluster:
            yield cluster
    finally:
        for manager in managers:
            manager.stop()
