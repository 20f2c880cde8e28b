"""pytest fixtures: running Kyoto Tycoon / Tokyo Tyrant servers and clients for tests.

Registered through the ``pytest11`` entry point, so installing kt-embedded makes them available.
Every server fixture is parametrized over the backends: ``real`` (the installed ``ktserver`` /
``ttserver``) and ``standin`` (the bundled stand-in server), so each test runs against every
backend there is. A missing real server skips its half, or fails it under ``--kt-require-real``.

Options (or environment variables):

- ``--kt-backend=all|real|standin`` (``KT_TEST_BACKEND``): which backends to run.
- ``--kt-require-real`` (``KT_REQUIRE_REAL=1``): fail instead of skipping without real servers.

Fixtures: ``kt_server``, ``kt_client``, ``kt_client_factory``; ``tt_server``, ``tt_client``;
``tt_tree_server``, ``tt_tree_client``; ``tt_btree_server``, ``tt_btree_client``;
``tt_table_server``, ``tt_table_client``; ``tt_client_factory``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from .managers import (
    STANDIN,
    EmbeddedServer,
    EmbeddedTokyoTyrantServer,
    _Manager,
    real_server_available,
    script_path,
)

BACKENDS = ("real", "standin")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kt", "kt embedded servers")
    group.addoption("--kt-backend", choices=["all", "real", "standin"], default=None,
                    help="server backends to test against (default: all available; env KT_TEST_BACKEND)")
    group.addoption("--kt-require-real", action="store_true", default=None,
                    help="fail, instead of skipping, when ktserver/ttserver is not installed (env KT_REQUIRE_REAL=1)")


SERVER_FIXTURES = frozenset({
    "kt_backend", "kt_server", "kt_client", "kt_client_factory", "tt_server", "tt_client", "tt_tree_server",
    "tt_tree_client", "tt_btree_server", "tt_btree_client", "tt_table_server", "tt_table_client",
})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "server: needs a running server (every available backend)")


def _selected_backends(config: pytest.Config) -> tuple[str, ...]:
    choice = config.getoption("--kt-backend") or os.environ.get("KT_TEST_BACKEND") or "all"
    return BACKENDS if choice == "all" else (choice,)


def _require_real(config: pytest.Config) -> bool:
    return bool(config.getoption("--kt-require-real")) or os.environ.get("KT_REQUIRE_REAL") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = _selected_backends(config)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        # A test that uses a server fixture is a server test, marked or not: `-m "not server"` selects
        # exactly the tests that need no server.
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("kt_backend") if callspec is not None else None
        (drop if backend is not None and backend not in selected else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=BACKENDS)
def kt_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


def _start(request: pytest.FixtureRequest, manager: _Manager) -> _Manager:
    if manager.server != STANDIN and not real_server_available(manager.server):
        message = f"{manager.server} is not installed; the real-server half of this test cannot run"
        if _require_real(request.config):
            pytest.fail(message + " (--kt-require-real)")
        pytest.skip(message)
    manager.run()
    request.addfinalizer(manager.stop)
    return manager


def _script_args(backend: str, flag: str, stem: str) -> list[str]:
    # Both backends run the same Lua file (the stand-in through lupa: the kt-embedded[lua] extra).
    return [flag, str(script_path(stem + ".lua"))]


@pytest.fixture(scope="session")
def kt_server(request: pytest.FixtureRequest, kt_backend: str) -> Iterator[EmbeddedServer]:
    """A Kyoto Tycoon server with db 0 ``*`` (hash) and db 1 ``%`` (tree) and the kt_test script."""
    manager = EmbeddedServer(server="ktserver" if kt_backend == "real" else STANDIN,
                             database=["*", "%"], server_args=_script_args(kt_backend, "-scr", "kt_test"))
    _start(request, manager)
    yield manager


@pytest.fixture
def kt_client_factory(kt_server: EmbeddedServer) -> Iterator[Callable[..., Any]]:
    """Make clients of ``kt_server`` with any options; all are closed after the test."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        from kt_kyoto import KyotoTycoon

        assert kt_server.port is not None
        client = KyotoTycoon(host=kt_server.host, port=kt_server.port, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def kt_client(kt_client_factory: Callable[..., Any]) -> Any:
    """A KyotoTycoon client (KT_BINARY) on ``kt_server`` with both databases cleared."""
    client = kt_client_factory()
    client.clear(db=0)
    client.clear(db=1)
    return client


def _tt_server(request: pytest.FixtureRequest, backend: str, database: str,
               tmp_path_factory: pytest.TempPathFactory, with_script: bool = True) -> EmbeddedTokyoTyrantServer:
    if database.startswith("."):
        database = str(tmp_path_factory.mktemp(f"tt-{backend}") / f"test{database}")
    manager = EmbeddedTokyoTyrantServer(server="ttserver" if backend == "real" else STANDIN, database=database,
                                        server_args=_script_args(backend, "-ext", "tt_test") if with_script else [])
    _start(request, manager)
    return manager


@pytest.fixture(scope="session")
def tt_server(request: pytest.FixtureRequest, kt_backend: str,
              tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTokyoTyrantServer:
    """A Tokyo Tyrant in-memory hash database (``*``) with the tt_test ext script."""
    return _tt_server(request, kt_backend, "*", tmp_path_factory)


@pytest.fixture(scope="session")
def tt_tree_server(request: pytest.FixtureRequest, kt_backend: str,
                   tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTokyoTyrantServer:
    """A Tokyo Tyrant in-memory B+ tree database (``+``)."""
    return _tt_server(request, kt_backend, "+", tmp_path_factory)


@pytest.fixture(scope="session")
def tt_btree_server(request: pytest.FixtureRequest, kt_backend: str,
                    tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTokyoTyrantServer:
    """A Tokyo Tyrant B+ tree file database (``.tcb``: duplicates, range, error)."""
    return _tt_server(request, kt_backend, ".tcb", tmp_path_factory)


@pytest.fixture(scope="session")
def tt_table_server(request: pytest.FixtureRequest, kt_backend: str,
                    tmp_path_factory: pytest.TempPathFactory) -> EmbeddedTokyoTyrantServer:
    """A Tokyo Tyrant table database (``.tct``)."""
    return _tt_server(request, kt_backend, ".tct", tmp_path_factory)


@pytest.fixture
def tt_client_factory() -> Iterator[Callable[..., Any]]:
    """``make(server, **options)``: a TokyoTyrant client of ``server``; closed after the test."""
    made: list[Any] = []

    def make(server: EmbeddedTokyoTyrantServer, **options: Any) -> Any:
        from kt_tyrant import TokyoTyrant

        assert server.port is not None
        client = TokyoTyrant(host=server.host, port=server.port, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _cleared(client: Any) -> Any:
    client.clear()
    return client


@pytest.fixture
def tt_client(tt_server: EmbeddedTokyoTyrantServer, tt_client_factory: Callable[..., Any]) -> Any:
    return _cleared(tt_client_factory(tt_server))


@pytest.fixture
def tt_tree_client(tt_tree_server: EmbeddedTokyoTyrantServer, tt_client_factory: Callable[..., Any]) -> Any:
    return _cleared(tt_client_factory(tt_tree_server))


@pytest.fixture
def tt_btree_client(tt_btree_server: EmbeddedTokyoTyrantServer, tt_client_factory: Callable[..., Any]) -> Any:
    return _cleared(tt_client_factory(tt_btree_server))


@pytest.fixture
def tt_table_client(tt_table_server: EmbeddedTokyoTyrantServer, tt_client_factory: Callable[..., Any]) -> Any:
    from kt_serializers import TT_TABLE

    return _cleared(tt_client_factory(tt_table_server, serializer=TT_TABLE))
