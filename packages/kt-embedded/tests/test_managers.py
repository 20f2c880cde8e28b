"""EmbeddedServer / EmbeddedTokyoTyrantServer against every backend: run, stop, client, failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from kt_embedded import (
    STANDIN,
    EmbeddedServer,
    EmbeddedServerError,
    EmbeddedTokyoTyrantServer,
    ServerNotInstalledWarning,
    find_free_port,
    real_server_available,
)

MANAGERS = [EmbeddedServer, EmbeddedTokyoTyrantServer]


def _backend_server(cls: type, backend: str) -> str:
    executable = cls.executable
    if backend == "standin":
        return STANDIN
    if not real_server_available(executable):
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail(f"{executable} is not installed (KT_REQUIRE_REAL=1)")
        pytest.skip(f"{executable} is not installed")
    return executable


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); Popen.wait() reaped ours, so it must be gone.
    return False


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_run_client_stop(cls: type, kt_backend: str) -> None:
    server = cls(server=_backend_server(cls, kt_backend))
    assert server.run() is True
    try:
        assert server.backend == ("real" if kt_backend == "real" else "standin")
        assert 20000 <= server.port <= 32767  # ktserver refuses ports above 32767
        assert server.host == "127.0.0.1"
        client = server.client
        assert server.client is client
        result = client.set("k1", "v1")
        assert result == (1 if cls is EmbeddedServer else True)
        assert client.get("k1") == "v1"
        pid = server.process.pid
    finally:
        assert server.stop() is True
    assert _process_gone(pid)
    assert server.stop() is False  # idempotent
    assert not server.is_running


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_context_manager_and_client_options(cls: type, kt_backend: str) -> None:
    from kt_serializers import KT_JSON

    with cls(server=_backend_server(cls, kt_backend), client_options={"serializer": KT_JSON}) as server:
        server.client.set("doc", {"a": [1, 2]})
        assert server.client.get("doc") == {"a": [1, 2]}
        other = server.make_client(serializer="none")
        assert other.get("doc") == b'{"a":[1,2]}'
        pid = server.process.pid
    assert _process_gone(pid)


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_bad_argument_reports_server_output(cls: type, kt_backend: str) -> None:
    server = cls(server=_backend_server(cls, kt_backend), server_args=["-no-such-option"])
    started = time.monotonic()
    with pytest.raises(EmbeddedServerError) as info:
        server.run()
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "-no-such-option" in message  # the command line
    assert "usage" in message.lower() or "unrecognized" in message.lower() or "invalid" in message.lower()
    assert not server.is_running


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_port_in_use_reports_server_output(cls: type, kt_backend: str) -> None:
    port = find_free_port()
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", port))
        blocker.listen(1)
        server = cls(server=_backend_server(cls, kt_backend), port=port, startup_timeout=5)
        with pytest.raises(EmbeddedServerError) as info:
            server.run()
        assert str(port) in str(info.value)
    assert not server.is_running


def test_missing_explicit_executable_is_an_error() -> None:
    server = EmbeddedServer(server="/nonexistent/ktserver")
    with pytest.raises(EmbeddedServerError, match=r"not found.*standin"):
        server.run()


@pytest.mark.server
def test_missing_default_executable_falls_back_to_standin_with_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    server = EmbeddedTokyoTyrantServer()
    with pytest.warns(ServerNotInstalledWarning, match="ttserver is not installed"):
        assert server.run() is True
    try:
        assert server.backend == "standin"
        assert server.client.set("a", "b") is True
    finally:
        server.stop()


def test_make_client_before_run_is_an_error() -> None:
    with pytest.raises(EmbeddedServerError, match="not running"):
        EmbeddedServer(server=STANDIN).make_client()


@pytest.mark.server
def test_chatty_server_never_blocks_on_its_output(tmp_path) -> None:
    # A server that prints far more than a pipe holds must keep running and serving.
    script = tmp_path / "chatty.py"
    script.write_text(
        "import socket, sys\n"
        "args = sys.argv[1:]\n"
        "port = int(args[args.index('-port') + 1])\n"
        "sys.stdout.write('x' * 200 + '\\n') if False else None\n"
        "for i in range(20000): print('line', i, 'x' * 100)\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', port)); s.listen(5)\n"
        "while True: s.accept()[0].close()\n")
    launcher = tmp_path / "chatty-server"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    launcher.chmod(0o755)
    server = EmbeddedServer(server=str(launcher))
    assert server.run() is True
    try:
        assert "line 19999" in server.output
        assert len(server.output.splitlines()) <= 200  # only the last lines are kept
    finally:
        server.stop()


def test_no_server_survives_interpreter_exit(tmp_path) -> None:
    # run() without stop(): the atexit hook must end the server when the interpreter exits.
    code = ("import sys\nfrom kt_embedded import EmbeddedTokyoTyrantServer\n"
            "s = EmbeddedTokyoTyrantServer(server='standin'); s.run(); print(s.process.pid, flush=True)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 5
    while not _process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _process_gone(pid), f"stand-in server {pid} survived its parent"


# ------------------------------------------------------------------ kt 0.9.6's options: serializer, quiet, pid


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_serializer_option_reaches_the_client(cls: type, kt_backend: str) -> None:
    from kt_serializers import KT_JSON

    with cls(server=_backend_server(cls, kt_backend), serializer=KT_JSON) as server:
        client = server.client
        client.set("doc", {"a": [1, 2]})
        assert client.get("doc") == {"a": [1, 2]}
        assert client.get_raw("doc") == b'{"a":[1,2]}'
        assert server.make_client().get("doc") == {"a": [1, 2]}  # make_client too
        assert server.make_client(serializer="binary").get("doc") == '{"a":[1,2]}'  # an explicit option wins


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_pid_is_the_running_process(cls: type, kt_backend: str) -> None:
    server = cls(server=_backend_server(cls, kt_backend))
    assert server.pid is None
    server.run()
    try:
        pid = server.pid
        assert isinstance(pid, int) and pid == server.process.pid
        os.kill(pid, 0)  # a live process
    finally:
        server.stop()
    assert server.pid is None
    assert _process_gone(pid)


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_quiet_discards_the_server_output(cls: type, kt_backend: str, capfd: pytest.CaptureFixture[str]) -> None:
    with cls(server=_backend_server(cls, kt_backend), quiet=True) as server:
        server.client.set("k", "v")
        assert server.client.get("k") == "v"
    assert server.output == ""
    assert capfd.readouterr().err == ""


@pytest.mark.server
@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_quiet_false_echoes_the_server_output(cls: type, kt_backend: str, capfd: pytest.CaptureFixture[str]) -> None:
    with cls(server=_backend_server(cls, kt_backend), quiet=False) as server:
        server.client.set("k", "v")
    echoed = capfd.readouterr().err
    assert server.output and server.output.splitlines()[0] in echoed


@pytest.mark.parametrize("cls", MANAGERS, ids=["kt", "tt"])
def test_client_of_a_stopped_server_raises_a_kt_error(cls: type) -> None:
    from kt_core.errors import KyotoTycoonError  # kt 0.9.6's root name

    server = cls(server=STANDIN)
    with pytest.raises(KyotoTycoonError, match="not running"):
        server.client  # noqa: B018
    server.run()
    server.stop()
    with pytest.raises(EmbeddedServerError, match="not running"):
        server.client  # noqa: B018
