"""Servers for the cluster tests: three of a kind, on every available backend (stand-in and real)."""

from __future__ import annotations

import os
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


def skip_unless_installed(backend: str, kind: str, config: pytest.Config | None = None) -> None:
    """Skip a backend that --kt-backend / KT_TEST_BACKEND leaves out, or a real server that is not installed
    (a failure with --kt-require-real / KT_REQUIRE_REAL=1), as kt_embedded's fixtures do."""
    chosen = (config.getoption("--kt-backend") if config else None) or os.environ.get("KT_TEST_BACKEND") or "all"
    if chosen not in ("all", backend):
        pytest.skip(f"backend {backend} not selected")
    if backend == "real" and not real_server_available("ktserver" if kind == "kt" else "ttserver"):
        message = "the real server is not installed"
        if os.environ.get("KT_REQUIRE_REAL") == "1" or (config is not None and config.getoption("--kt-require-real")):
            pytest.fail(message + " (--kt-require-real)")
        pytest.skip(message)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if {"servers", "tables"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="module", params=[("kt", "standin"), ("kt", "real"), ("tt", "standin"), ("tt", "real")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[Any]]]:
    kind, backend = request.param
    skip_unless_installed(backend, kind, request.config)
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
    skip_unless_installed(request.param, "tt", request.config)
    folder: Path = tmp_path_factory.mktemp(f"tables-{request.param}")
    managers = [start("tt", request.param, str(folder / f"shard{i}.tct")) for i in range(3)]
    try:
        with TokyoTyrantCluster([f"{m.host}:{m.port}" for m in managers], serializer=TT_TABLE) as cluster:
            yield cluster
    finally:
        for manager in managers:
            manager.stop()
