"""Servers for the cluster tests: three of a kind, on every available backend (stand-in and real); and
the clusters of either flavour: the blocking ones, or the asyncio ones behind kt_embedded's
BlockingFacade, so one test runs on both."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kt_cluster import AsyncKyotoCluster, AsyncTokyoTyrantCluster, KyotoCluster, TokyoTyrantCluster
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer
from kt_embedded.blocking import BlockingFacade
from kt_embedded.managers import real_server_available
from kt_serializers import TT_TABLE

SHARDS = 3
FLAVORS = ["blocking", "async"]
CLUSTERS = {("kt", "blocking"): KyotoCluster, ("kt", "async"): AsyncKyotoCluster,
            ("tt", "blocking"): TokyoTyrantCluster, ("tt", "async"): AsyncTokyoTyrantCluster}


class ClusterFacade(BlockingFacade):
    """An asyncio cluster run on the facade's own loop; it closes that loop when the cluster is closed."""

    def __exit__(self, *exc_info: object) -> None:
        super().__exit__(*exc_info)
        self.close_loop()

    def close(self) -> None:
        self._resolve(self.wrapped.close())
        self.close_loop()


def make_cluster(kind: str, nodes: list[Any], flavor: str = "blocking", **options: Any) -> Any:
    """A cluster of ``kind`` ("kt"/"tt") and ``flavor``; an asyncio one is built inside its loop (its
    health-check task needs one)."""
    cls = CLUSTERS[kind, flavor]
    if flavor == "blocking":
        return cls(nodes, **options)
    loop = asyncio.new_event_loop()

    async def build() -> Any:
        return cls(nodes, **options)

    try:
        cluster = loop.run_until_complete(build())
    except BaseException:
        loop.close()
        raise
    facade = ClusterFacade(cluster, loop)
    object.__setattr__(facade, "_owns_loop", True)
    return facade


def pause(cluster: Any, seconds: float) -> None:
    """Let time pass; for an asyncio cluster its loop runs meanwhile (its background tasks go on)."""
    if isinstance(cluster, BlockingFacade):
        cluster._loop.run_until_complete(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


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
        if {"servers", "tables", "table_servers"} & set(getattr(item, "fixturenames", ())):
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


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> str:
    """"blocking" or "async": which cluster classes a test runs on."""
    return str(request.param)


@pytest.fixture
def require_backend(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``require_backend(backend, kind)``: skip (or fail) as :func:`skip_unless_installed` does."""
    return functools.partial(lambda config, backend, kind: skip_unless_installed(backend, kind, config),
                             request.config)


@pytest.fixture
def new_cluster(flavor: str) -> Callable[..., Any]:
    """``new_cluster(kind, nodes, **options)``: a cluster of the test's flavour (the test closes it)."""
    return functools.partial(make_cluster, flavor=flavor)


@pytest.fixture
def let_time_pass() -> Callable[[Any, float], None]:
    """``let_time_pass(cluster, seconds)``: see :func:`pause`."""
    return pause


@pytest.fixture(scope="module", params=["standin", "real"])
def table_servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    """Three TT servers of table databases (.tct)."""
    skip_unless_installed(request.param, "tt", request.config)
    folder: Path = tmp_path_factory.mktemp(f"tables-{request.param}")
    managers = [start("tt", request.param, str(folder / f"shard{i}.tct")) for i in range(3)]
    try:
        yield managers
    finally:
        for manager in managers:
            manager.stop()


@pytest.fixture
def tables(table_servers: list[Any], flavor: str) -> Iterator[Any]:
    """A TokyoTyrantCluster (TT_TABLE) over the table servers, of either flavour."""
    with make_cluster("tt", [f"{m.host}:{m.port}" for m in table_servers], flavor, serializer=TT_TABLE) as cluster:
        yield cluster
