"""Pipelines on both clients, blocking and asyncio, on every backend.

The main check is differential: one sequence of calls is made on a client directly, then (after the
same reset) queued in a pipeline, and every result must be equal, of the same type, or the same
exception. Every command a pipeline accepts appears in the sequences, so a new command without a
pipeline check fails ``test_every_pipelined_command_is_checked``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kt_core.command import commands_of
from kt_core.errors import InvalidArgumentError, KtConnectionError, PipelineError
from kt_embedded import EmbeddedTokyoTyrantServer, find_free_port
from kt_embedded.faultproxy import FaultProxy
from kt_kyoto.commands import KyotoCommands
from kt_tyrant.commands import TyrantCommands

pytestmark = pytest.mark.server

# (method, args, kwargs). Values vary between runs only where `_VOLATILE` says so.
KT_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("set", ("a", "1"), {}),
    ("set", ("b", "2"), {"db": 1}),
    ("get", ("a",), {}),
    ("get", ("missing",), {}),
    ("get_raw", ("a",), {}),
    ("exists", ("a",), {}),
    ("exists", ("b",), {}),
    ("add", ("a", "x"), {}),
    ("add", ("new", "x"), {"expire_time": 60}),
    ("replace", ("a", "r"), {}),
    ("replace", ("nope", "r"), {}),
    ("append", ("a", "+"), {}),
    ("cas", ("a", "r+", "z"), {}),
    ("cas", ("a", "wrong", "z"), {}),
    ("incr", ("n", 5), {}),
    ("incr", ("n",), {}),
    ("incr_double", ("f", 1.5), {}),
    ("set_bulk", ({"c": "3", "d": "4", "e": "5"},), {}),
    ("update", ({"g": "7"},), {}),
    ("get_bulk", (["a", "c", "nope"],), {}),
    ("get_bulk_raw", (["b"],), {"db": 1}),
    ("remove_bulk", (["d", "nope"],), {}),
    ("seize", ("c",), {}),
    ("seize", ("c",), {}),
    ("pop", ("e",), {}),
    ("remove", ("b",), {"db": 1}),
    ("remove", ("b",), {"db": 1}),
    ("script", ("echo", {"x": "y"}), {}),
    ("script", ("broken",), {}),
    ("match_prefix", ("a",), {}),
    ("match_regex", ("^[ac]",), {}),
    ("match_similar", ("a",), {"distance": 1}),
    ("keys_nonlazy", (), {}),
    ("count", (), {}),
    ("count", (), {"db": 1}),
    ("status", (), {}),
    ("report", (), {}),
    ("ulog_list", (), {}),
    ("ulog_remove", (None,), {}),
    ("synchronize", (), {}),
    ("vacuum", (), {}),
    ("tune_replication", (), {}),
    ("get", ("n",), {"db": 5}),
    ("clear", (), {"db": 1}),
    ("clear", (), {}),
]

TT_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("set", ("a", "1"), {}),
    ("get", ("a",), {}),
    ("get", ("missing",), {}),
    ("get_raw", ("a",), {}),
    ("add", ("a", "x"), {}),
    ("add", ("b", "2"), {}),
    ("append", ("a", "+"), {}),
    ("addshl", ("s", "abc", 2), {}),
    ("setnr", ("nr", "v"), {}),
    ("setnr_bulk", ({"nr1": "1", "nr2": "2"},), {}),
    ("setdup", ("a", "d"), {}),
    ("setdupback", ("a", "d"), {}),
    ("get_part", ("a", 1, 2), {}),
    ("exists", ("nr",), {}),
    ("length", ("a",), {}),
    ("length", ("missing",), {}),
    ("incr", ("n", 5), {}),
    ("incr_double", ("f", 2.5), {}),
    ("set_bulk", ({"c": "3", "d": "4"},), {}),
    ("update", ({"e": "5"},), {}),
    ("get_bulk", (["a", "c", "nope"],), {}),
    ("get_bulk_raw", (["c"],), {}),
    ("mget", (["d", "e"],), {}),
    ("remove_bulk", (["d"],), {}),
    ("remove", ("e",), {}),
    ("remove", ("e",), {}),
    ("script", ("pair", "k", "v"), {}),
    ("script", ("reject", "k", "v"), {}),
    ("misc", ("putlist", ["m1", "x", "m2", "y"]), {}),
    ("misc", ("getlist", ["m1", "m2"]), {}),
    ("match_prefix", ("m",), {}),
    ("match_regex", ("^[ab]",), {}),
    ("get_range", ("a", "z"), {}),
    ("count", (), {}),
    ("status", (), {}),
    ("optimize", (), {}),
    ("synchronize", (), {}),
    ("clear_cache", (), {}),
    ("defragment", (), {}),
    ("set_index", ("age", 0), {}),
    ("optimize_index", ("age",), {}),
    ("delete_index", ("age",), {}),
    ("search", ([("age", 0, "1")],), {}),
    ("genuid", (), {}),
    ("copy", ("pipeline-copy.tch",), {}),
    ("restore", ("no-such-ulog-dir", 0), {}),
    ("set_master", ("127.0.0.1", 1, 0), {}),
    ("clear", (), {}),
]

# Results whose values vary between two runs (timings, counters the server keeps): only their type is compared.
_VOLATILE = {"status", "report", "ulog_list"}


def _public_pipelined(commands: type) -> set[str]:
    return {name for name, cmd in commands_of(commands).items() if cmd.pipelined and not name.startswith("_")}


@pytest.mark.parametrize(("commands", "calls"), [(KyotoCommands, KT_CALLS), (TyrantCommands, TT_CALLS)],
                         ids=["kt", "tt"])
def test_every_pipelined_command_is_checked(commands: type, calls: list[Any]) -> None:
    assert _public_pipelined(commands) == {name for name, _, _ in calls}


def _outcome(call: Any) -> Any:
    try:
        return call()
    except Exception as exc:
        return exc


def _same(name: str, direct: Any, piped: Any) -> None:
    if isinstance(direct, Exception):
        assert type(piped) is type(direct), (name, direct, piped)
        return
    assert type(piped) is type(direct), (name, direct, piped)
    if name in _VOLATILE:
        if isinstance(direct, dict):
            assert set(piped) == set(direct), name
        return
    assert piped == direct, name


def _differential(make: Any, calls: list[Any], make_piped: Any = None) -> None:
    direct_client = make()
    direct_client.clear()
    direct = [_outcome(lambda c=c: getattr(direct_client, c[0])(*c[1], **c[2])) for c in calls]
    piped_client = (make_piped or make)()
    piped_client.clear()
    pipe = piped_client.pipeline()
    for name, args, kwargs in calls:
        getattr(pipe, name)(*args, **kwargs)
    piped = pipe.execute(raise_on_error=False)
    assert len(piped) == len(calls)
    for (name, _, _), one, two in zip(calls, direct, piped):
        _same(name, one, two)


def test_kt_pipeline_gives_what_the_client_gives(kt_client_factory: Any) -> None:
    _differential(lambda: kt_client_factory(default_db=0), KT_CALLS)


@pytest.fixture
def own_tt_servers(kt_backend: str, tmp_path: Any) -> Any:
    """Two Tokyo Tyrant servers of the test's own: the admin commands (set_master, copy) change them."""
    from kt_embedded import STANDIN, real_server_available

    if kt_backend == "real" and not real_server_available("ttserver"):
        pytest.skip("ttserver is not installed")
    # Each in a folder of the test's own: copy and set_master write files relative to the server's folder.
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        folder.mkdir()
    servers = [EmbeddedTokyoTyrantServer(server="ttserver" if kt_backend == "real" else STANDIN, database="*",
                                         port=find_free_port(), server_args=["-ext", str(_script("tt_test.lua"))],
                                         cwd=str(folder))
               for folder in folders]
    for server in servers:
        server.run()
    yield servers
    for server in servers:
        server.stop()


def _script(name: str) -> Any:
    from kt_embedded.managers import script_path

    return script_path(name)


def test_tt_pipeline_gives_what_the_client_gives(own_tt_servers: Any, tt_client_factory: Any) -> None:
    _differential(lambda: tt_client_factory(own_tt_servers[0]), TT_CALLS,
                  lambda: tt_client_factory(own_tt_servers[1]))


def test_raise_on_error_raises_the_first_error_after_reading_every_reply(tt_client: Any) -> None:
    pipe = tt_client.pipeline()
    pipe.set("k", "v").script("reject", "a", "b").get_part("missing", 0, 1).incr("n")
    with pytest.raises(Exception) as info:
        pipe.execute()
    assert "reject" in str(info.value) or info.value is not None
    # Every reply was read: the connection is in step and the commands after the error ran.
    assert tt_client.get("k") == "v"
    assert tt_client.incr("n") == 2


def test_a_bad_argument_is_that_commands_error_and_is_never_sent(kt_client: Any) -> None:
    pipe = kt_client.pipeline()
    pipe.set("k", "v").set("bad", object()).get("k")
    results = pipe.execute(raise_on_error=False)
    assert results[0] == 1 and isinstance(results[1], InvalidArgumentError) and results[2] == "v"
    assert kt_client.get("bad") is None


@pytest.mark.parametrize("name", ["keys", "values", "items"])
def test_streaming_commands_are_refused_when_queued(kt_client: Any, name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="pipeline"):
        getattr(kt_client.pipeline(), name)()


@pytest.mark.parametrize("name", ["keys", "items", "iter_from"])
def test_tyrant_iteration_is_refused_when_queued(tt_client: Any, name: str) -> None:
    args = ("a",) if name == "iter_from" else ()
    with pytest.raises(InvalidArgumentError, match="pipeline"):
        getattr(tt_client.pipeline(), name)(*args)


def test_context_manager_drops_what_was_not_executed(tt_client: Any) -> None:
    with tt_client.pipeline() as pipe:
        pipe.set("k", "v")
        assert len(pipe) == 1
    assert len(pipe) == 0
    assert tt_client.get("k") is None


def test_a_pipeline_of_100000_commands_fills_both_socket_buffers(tt_client: Any) -> None:
    value = "v" * 1000  # 100 MB of requests, 100 MB of replies: far beyond both kernel buffers
    pipe = tt_client.pipeline()
    for i in range(50000):
        pipe.set(f"k{i}", value)
    for i in range(50000):
        pipe.get(f"k{i}")
    results = pipe.execute()
    assert results[:50000] == [True] * 50000
    assert results[50000:] == [value] * 50000


def test_kt_pipeline_mixes_binary_and_http_in_order(kt_client: Any) -> None:
    pipe = kt_client.pipeline()
    for i in range(300):
        pipe.set(f"k{i}", str(i)).incr("n").get(f"k{i}")
    results = pipe.execute()
    assert results[0::3] == [1] * 300
    assert results[1::3] == list(range(1, 301))
    assert results[2::3] == [str(i) for i in range(300)]


@pytest.mark.parametrize("cut_after", [0, 3, 200])
def test_connection_failure_mid_pipeline_says_how_many_replies_were_read(
        tt_server: Any, tt_client_factory: Any, cut_after: int) -> None:
    with FaultProxy(tt_server.host, tt_server.port) as proxy:
        client = tt_client_factory(_Address(proxy.host, proxy.port), timeout=2)
        client.set("warm", "up")
        proxy.close_after(cut_after)  # this many more reply bytes, then the connection is cut
        pipe = client.pipeline()
        for _ in range(1000):
            pipe.get("warm")
        with pytest.raises(PipelineError) as info:
            pipe.execute()
        error = info.value
        assert isinstance(error, KtConnectionError)
        assert error.commands == 1000 and 0 <= error.replies_read < 1000
        assert error.replies_read == cut_after // 7  # a TT get reply of "up": code, length, value
        assert f"after {error.replies_read} replies were read" in str(error)
        proxy.passthrough()
        assert client.get("warm") == "up"  # the failed connection was dropped; a new one works


class _Address:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port


@pytest.mark.blocking_client
def test_blocking_pipelines_on_threads_do_not_mix(tt_client: Any) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for _ in range(20):
                pipe = tt_client.pipeline()
                for i in range(50):
                    pipe.set(f"t{t}:{i}", str(i)).get(f"t{t}:{i}")
                results = pipe.execute()
                assert results[1::2] == [str(i) for i in range(50)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
