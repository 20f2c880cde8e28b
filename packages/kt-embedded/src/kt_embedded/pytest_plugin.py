"""pytest fixtures: running Kyoto Tycoon / Tokyo Tyrant servers and clients for tests.

Registered through the ``pytest11`` entry point, so installing kt-embedded makes them available.
Every server fixture is parametrized over the backends: ``real`` (the installed ``ktserver`` /
``ttserver``) and ``standin`` (the bundled stand-in server), so each test runs against every
backend there is. A missing real server skips its half, or fails it under ``--kt-require-real``.

Options (or environment variables):

- ``--kt-backend=all|real|standin`` (``KT_TEST_BACKEND``): which backends to run.
- ``--kt-require-real`` (``KT_REQUIRE_REAL=1``): fail instead of skipping without real servers.
- ``--kt-client=all|sync|async`` (``KT_TEST_CLIENT``): which clients the client fixtures give. Every
  client fixture is parametrized over ``client_flavor``: ``sync`` (KyotoTycoon / TokyoTyrant) and
  ``async`` (AsyncKyotoTycoon / AsyncTokyoTyrant behind a :class:`~kt_embedded.blocking.BlockingFacade`),
  so a test written for the blocking client checks the asyncio one too. A test that is about the
  blocking client only (threads, its pool) is marked ``blocking_client``.

Fixtures: ``kt_server``, ``kt_client``, ``kt_client_factory``; ``tt_server``, ``tt_client``;
``tt_tree_server``, ``tt_tree_client``; ``tt_btree_server``, ``tt_btree_client``;
``tt_table_server``, ``tt_table_client``; ``tt_client_factory``; ``client_flavor``. Async fixtures
(pytest-asyncio): ``kt_async_client``, ``tt_async_client``, ``tt_table_async_client``.
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
FLAVORS = ("sync", "async")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kt", "kt embedded servers")
    group.addoption("--kt-backend", choices=["all", "real", "standin"], default=None,
                    help="server backends to test against (default: all available; env KT_TEST_BACKEND)")
    group.addoption("--kt-require-real", action="store_true", default=None,
                    help="fail, instead of skipping, when ktserver/ttserver is not installed (env KT_REQUIRE_REAL=1)")
    group.addoption("--kt-client", choices=["all", "sync", "async"], default=None,
                    help="clients the client fixtures give (default: both; env KT_TEST_CLIENT)")


SERVER_FIXTURES = frozenset({
    "kt_backend", "kt_server", "kt_client", "kt_client_factory", "tt_server", "tt_client", "tt_tree_server",
    "tt_tree_client", "tt_btree_server", "tt_btree_client", "tt_table_server", "tt_table_client",
    "kt_async_client", "tt_async_client", "tt_table_async_client",
})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "server: needs a running server (every available backend)")
    config.addinivalue_line("markers", "blocking_client: about the blocking client only (the client fixtures give "
                                       "no asyncio client to it)")


def _selected_backends(config: pytest.Config) -> tuple[str, ...]:
    choice = config.getoption("--kt-backend") or os.environ.get("KT_TEST_BACKEND") or "all"
    return BACKENDS if choice == "all" else (choice,)


def _selected_flavors(config: pytest.Config) -> tuple[str, ...]:
    choice = config.getoption("--kt-client") or os.environ.get("KT_TEST_CLIENT") or "all"
    return FLAVORS if choice == "all" else (choice,)


def _require_real(config: pytest.Config) -> bool:
    return bool(config.getoption("--kt-require-real")) or os.environ.get("KT_REQUIRE_REAL") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = _selected_backends(config)
    flavors = _selected_flavors(config)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        # A test that uses a server fixture is a server test, marked or not: `-m "not server"` selects
        # exactly the tests that need no server.
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("kt_backend") if callspec is not None else None
        flavor = callspec.params.get("client_flavor") if callspec is not None else None
        unwanted = (backend is not None and backend not in selected) or (flavor is not None and flavor not in flavors)
        if flavor == "async" and item.get_closest_marker("blocking_client") is not None:
            unwanted = True
        (drop if unwanted else keep).append(item)
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


@pytest.fixture(params=FLAVORS)
def client_flavor(request: pytest.FixtureRequest) -> str:
    """``sync`` or ``async``: which client the client fixtures give (see the module doc)."""
    flavor: str = request.param
    return flavor


def _close_clients(made: list[Any]) -> None:
    from .blocking import BlockingFacade

    for client in made:
        client.close()
        if isinstance(client, BlockingFacade):
            client.close_loop()


def _make_client(flavor: str, sync_cls: Callable[..., Any], async_cls: Callable[..., Any], **options: Any) -> Any:
    if flavor == "sync":
        return sync_cls(**options)
    from .blocking import BlockingFacade

    return BlockingFacade(async_cls(**options))


@pytest.fixture
def kt_client_factory(kt_server: EmbeddedServer, client_flavor: str) -> Iterator[Callable[..., Any]]:
    """Make clients of ``kt_server`` with any options (KyotoTycoon, or AsyncKyotoTycoon behind a
    BlockingFacade: ``client_flavor``); all are closed after the test."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        from kt_kyoto import AsyncKyotoTycoon, KyotoTycoon

        assert kt_server.port is not None
        client = _make_client(client_flavor, KyotoTycoon, AsyncKyotoTycoon, host=kt_server.host, port=kt_server.port,
                              **options)
        made.append(client)
        return client

    yield make
    _close_clients(made)


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
def tt_client_factory(client_flavor: str) -> Iterator[Callable[..., Any]]:
    """``make(server, **options)``: a TokyoTyrant client of ``server`` (or AsyncTokyoTyrant behind a
    BlockingFacade: ``client_flavor``); closed after the test."""
    made: list[Any] = []

    def make(server: EmbeddedTokyoTyrantServer, **options: Any) -> Any:
        from kt_tyrant import AsyncTokyoTyrant, TokyoTyrant

        assert server.port is not None
        client = _make_client(client_flavor, TokyoTyrant, AsyncTokyoTyrant, host=server.host, port=server.port,
                              **options)
        made.append(client)
        return client

    yield make
    _close_clients(made)


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


# ---------------------------------------------------------------------- asyncio fixtures
# Defined only where pytest-asyncio is installed (a test dependency, not one of kt-embedded's).
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - without pytest-asyncio there are no async fixtures
    pytest_asyncio = None  # type: ignore[assignment]

if pytest_asyncio is not None:
    from collections.abc import AsyncIterator

    @pytest_asyncio.fixture
    async def kt_async_client(kt_server: EmbeddedServer) -> AsyncIterator[Any]:
        """An AsyncKyotoTycoon (KT_BINARY) on ``kt_server`` with both databases cleared; closed after the test."""
        from kt_kyoto import AsyncKyotoTycoon

        assert kt_server.port is not None
        async with AsyncKyotoTycoon(host=kt_server.host, port=kt_server.port) as client:
            await client.clear(db=0)
            await client.clear(db=1)
            yield client

    @pytest_asyncio.fixture
    async def tt_async_client(tt_server: EmbeddedTokyoTyrantServer) -> AsyncIterator[Any]:
        """An AsyncTokyoTyrant on ``tt_server``, cleared; closed after the test."""
        from kt_tyrant import AsyncTokyoTyrant

        assert tt_server.port is not None
        async with AsyncTokyoTyrant(host=tt_server.host, port=tt_server.port) as client:
            await client.clear()
            yield client

    @pytest_asyncio.fixture
    async def tt_table_async_client(tt_table_server: EmbeddedTokyoTyrantServer) -> AsyncIterator[Any]:
        """An AsyncTokyoTyrant (TT_TABLE) on ``tt_table_server``, cleared; closed after the test."""
        from kt_serializers import TT_TABLE
        from kt_tyrant import AsyncTokyoTyrant

        assert tt_table_server.port is not None
        async with AsyncTokyoTyrant(host=tt_table_server.host, port=tt_table_server.port,
                                    serializer=TT_TABLE) as client:
            await client.clear()
            yield client
