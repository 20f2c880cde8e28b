"""The Kyoto Tycoon stand-in's Lua scripts (``-scr FILE.lua``, kt_embedded.standin.kt_lua) against ktserver 0.9.56.

Each procedure of lua/kt_api.lua exercises part of the scripting API and answers what it saw; the
answers must equal what ktserver 0.9.56 gave (recorded in lua/kt_api_expected.json), on the real
server where it is installed and on the stand-in. Run with ``KT_LUA_RECORD=1`` on the real backend
to record them again. Then come the failures (unsupported functions, script errors, runaway loops
and allocations, a missing lupa) and the project's own kt_test.lua, run by the checks the client
tests make with it.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kt_core.codec import kyoto_binary, kyoto_http
from kt_core.codec.reader import NEED_MORE, Reader
from kt_core.errors import KyotoServerError, ScriptError
from kt_embedded.managers import STANDIN, EmbeddedServer, real_server_available, script_path
from kt_embedded.standin import kt_lua
from kt_embedded.standin.kt_lua import LuaScripts, LuaUnavailableError
from kt_embedded.standin.kyoto import KyotoTycoonStandin, load_scripts, main
from kt_kyoto import KyotoTycoon, deserialize_dict, deserialize_list, serialize_dict, serialize_list

LUA = Path(__file__).resolve().parent / "lua"
API = LUA / "kt_api.lua"
EXPECTED_FILE = LUA / "kt_api_expected.json"
CHUNK = '[string "-- Procedures for test_standin_kyoto_lua.py..."]'  # ktserver names the chunk by its text
ALL_BYTES = bytes(range(256))


class Conn:
    """One connection: play_script over HTTP (status and records) and over the binary protocol."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = Reader()

    def _call(self, request: bytes, reader_fn: Any) -> Any:
        self.sock.sendall(request)
        while True:
            result = self.reader.read(reader_fn)
            if result is not NEED_MORE:
                return result[1]
            data = self.sock.recv(1 << 20)
            assert data, "connection closed"
            self.reader.feed(data)

    def rpc(self, proc: str, *params: tuple[bytes, bytes]) -> kyoto_http.RpcResult:
        return self._call(kyoto_http.encode_rpc(proc, list(params)), kyoto_http.read_rpc)

    def play(self, name: str, inmap: dict[bytes, bytes] | None = None) -> tuple[int, dict[bytes, bytes]]:
        """``play_script`` over HTTP: (status, records without their "_")."""
        params = [(b"name", name.encode())] + [(b"_" + k, v) for k, v in (inmap or {}).items()]
        res = self.rpc("play_script", *params)
        return res.status, {k[1:]: v for k, v in res.params().items() if k.startswith(b"_")}

    def play_binary(self, name: str, inmap: dict[bytes, bytes] | None = None) -> Any:
        """``play_script`` over the binary protocol: the records, or the error for 0xBF."""
        return self._call(kyoto_binary.encode_play_script(name.encode(), sorted((inmap or {}).items())),
                          kyoto_binary.read_play_script)

    def close(self) -> None:
        self.sock.close()


def _need_real(request: pytest.FixtureRequest, backend: str) -> None:
    if backend == "real" and not real_server_available("ktserver"):
        if request.config.getoption("--kt-require-real") or os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail("ktserver is not installed")
        pytest.skip("ktserver is not installed")


class Server:
    def __init__(self, manager: EmbeddedServer, log: Path) -> None:
        self.manager = manager
        self.log_path = log
        assert manager.port is not None
        self.conn = Conn(manager.port)

    def log_lines(self, needle: str, timeout: float = 5.0) -> list[str]:
        """The log lines holding ``needle`` (waiting for one to come)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
            lines = [line for line in text.splitlines() if needle in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@pytest.fixture(scope="module")
def api(request: pytest.FixtureRequest, kt_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The backend running lua/kt_api.lua, databases ``*`` and ``%``, its log in a file."""
    _need_real(request, kt_backend)
    log = tmp_path_factory.mktemp(f"kt-lua-{kt_backend}") / "server.log"
    manager = EmbeddedServer(server="ktserver" if kt_backend == "real" else STANDIN, database=["*", "%"],
                             server_args=["-scr", str(API), "-log", str(log)])
    manager.run()
    server = Server(manager, log)
    yield server
    server.conn.close()
    manager.stop()


# ---------------------------------------------------------------------------------------- the API

# (procedure, inmap): each answer must be the one ktserver 0.9.56 gave.
CASES: list[tuple[str, str, dict[bytes, bytes]]] = [
    ("members", "members", {}),  # every field of __kyototycoon__, its classes and their objects
    ("constants", "constants", {}),  # RV codes, classes, kt.db / kt.dbs, paths, tostring(db)
    ("outtypes", "outtypes", {}),  # outmap keys and values of every Lua type
    ("inmapview", "inmapview", {b"a": b"1", b"b": b"\x00\xff", b"": b"empty key"}),
    ("single", "single", {}),  # get set add replace append remove check seize count size clear __index __newindex
    ("expiry", "expiry", {}),  # xt for writes and reads
    ("numbers", "numbers", {}),  # increment increment_double
    ("cas", "casops", {}),
    ("bulk", "bulk", {}),  # set_bulk get_bulk remove_bulk
    ("matching", "matching", {}),  # match_prefix match_regex match_similar
    ("visitors", "visitors", {}),  # accept (function and table visitors) accept_bulk iterate Visitor
    ("visitorhooks", "visitorhooks", {}),  # visit_before / visit_after, the xt a visitor returns
    ("cursors", "cursors", {}),  # every cursor method, pairs, cursor_process, a hash database's cursor
    ("transactions", "transactions", {}),  # transaction begin_transaction end_transaction
    ("split", "splitting", {}),
    ("codec", "codecs", {}),
    ("codec-allbytes", "codecs", {b"data": ALL_BYTES}),
    ("hashes", "hashing", {}),  # hash_murmur hash_fnv
    ("dumps", "dumps", {}),  # arraydump arrayload mapdump mapload
    ("strings", "strings", {}),  # atoi atoix atof levdist bit strstr strfwm strbwm regex pack unpack
    ("errors", "errors", {}),  # Error, db:error()
    ("misc", "misc", {}),  # merge synchronize occupy status FileProcessor
    ("log", "logging", {}),
    ("coroutines", "coroutines", {}),  # pcall xpcall coroutine.create/resume/wrap (the stand-in wraps them)
]


def _encode(out: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in sorted(out.items())}


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    if os.environ.get("KT_LUA_RECORD") == "1":
        return {}
    return json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))  # a missing file fails the test


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_procedure_answers_as_ktserver(api: Server, kt_backend: str, expected: dict[str, Any],
                                       case: tuple[str, str, dict[bytes, bytes]]) -> None:
    label, name, inmap = case
    status, out = api.conn.play(name, inmap)
    got = {"status": status, "outmap": _encode(out)}
    if os.environ.get("KT_LUA_RECORD") == "1":
        assert kt_backend == "real", "record from the real ktserver (--kt-backend=real)"
        data = json.loads(EXPECTED_FILE.read_text(encoding="utf-8")) if EXPECTED_FILE.exists() else {}
        data[label] = got
        EXPECTED_FILE.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n", encoding="utf-8")
        return
    assert label in expected, f"no recorded answer for {label}"
    want = expected[label]
    assert got["status"] == want["status"]
    for key in sorted(set(got["outmap"]) | set(want["outmap"])):
        assert got["outmap"].get(key) == want["outmap"].get(key), f"{label}: {key}"


def test_the_binary_protocol_gets_the_same_records(api: Server) -> None:
    status, http = api.conn.play("outtypes")
    assert status == 200
    assert dict(api.conn.play_binary("outtypes")) == http
    assert dict(api.conn.play_binary("inmapview", {b"k": ALL_BYTES})) == {b"view": b"{s:k=s:" + ALL_BYTES + b"}"}


def test_every_procedure_of_the_api_script_is_checked() -> None:
    lua = API.read_text(encoding="utf-8")
    names = {line.split()[1].split("(")[0] for line in lua.splitlines() if line.startswith("function ")}
    checked = {c[1] for c in CASES} | {"rv", "failing", "failtable", "clock", "txnerror", "undecodable", "txlog"}
    stand_in_only = {"mapreduce", "dump", "newdb", "catchunsupported", "txnopen", "spin", "spincatch", "spinco",
                     "hog", "hogtable", "spindb", "sleeper", "getbig"}
    assert names == checked | stand_in_only
    assert [n for n in names if "_" in n] == []  # ktserver answers 400 to an HTTP play_script naming one


@pytest.mark.parametrize(("rv", "raw", "status"), [
    ("0", False, 200), ("1", False, 501), ("2", False, 400), ("3", False, 450), ("4", False, 503), ("5", False, 500),
    ("6", False, 500), ("15", False, 500), ("-1", False, 500), ("2.9", False, 400), ("-0.5", False, 200),
    ("nil", False, 200), ("true", False, 200), ("abc", True, 200), ("0x3", True, 450), ("1e300", False, 200),
    ("4294967298", False, 400),
])
def test_the_return_value_is_the_status(api: Server, rv: str, raw: bool, status: int) -> None:
    """lua_tointeger of what the procedure returns, as an RV: 0 200, 1 501, 2 400, 3 450, 4 503, else 500."""
    inmap = {b"rv": rv.encode()}
    if raw:
        inmap[b"raw"] = b"1"
    got, out = api.conn.play("rv", inmap)
    assert got == status
    assert out == ({b"x": b"y"} if status == 200 else {})  # a failed call's outmap is dropped
    binary = api.conn.play_binary("rv", inmap)
    if status == 200:
        assert binary == [(b"x", b"y")]
    else:
        assert isinstance(binary, KyotoServerError)


def test_a_script_error_is_a_500_logged_with_its_message(api: Server) -> None:
    res = api.conn.rpc("play_script", (b"name", b"failing"))
    assert res.status == 500 and res.params() == {b"ERROR": b"the scripting procedure failed"}
    assert isinstance(api.conn.play_binary("failing"), KyotoServerError)
    line = re.escape(f"[ERROR]: [SCRIPT]: failing: {CHUNK}:") + r"\d+: kt_api\.failing$"
    assert any(re.search(line, got) for got in api.log_lines("[SCRIPT]: failing:")), api.log_lines("failing")
    assert api.conn.play("failtable")[0] == 500
    assert api.log_lines("[SCRIPT]: failtable: (null)")
    assert api.conn.play("txnerror")[0] == 500  # an error inside transaction(): aborted, and the call fails
    assert api.conn.play("inmapview", {b"still": b"answered"}) == (200, {b"view": b"{s:still=s:answered}"})


def test_an_unknown_procedure_is_not_implemented(api: Server) -> None:
    res = api.conn.rpc("play_script", (b"name", b"nosuchprocedure"))
    assert res.status == 501 and res.params() == {b"ERROR": b"no such scripting procedure"}
    assert api.conn.play("kt")[0] == 501  # a global that is no function
    assert isinstance(api.conn.play_binary("nosuchprocedure"), KyotoServerError)


def test_the_log_gets_kt_log_with_its_kind(api: Server) -> None:
    assert api.conn.play("logging") == (200, {b"bad": b"E", b"ret": b""})
    for kind, text in (("INFO", "kt_api says info"), ("ERROR", "kt_api says error"),
                       ("SYSTEM", "kt_api says system"), ("DEBUG", "kt_api says debug"), ("DEBUG", "42")):
        assert any(line.endswith(f"[{kind}]: [SCRIPT]: {text}") for line in api.log_lines(f"[SCRIPT]: {text}")), text


def test_time_and_sleep(api: Server) -> None:
    before = time.time()
    status, out = api.conn.play("clock")
    assert status == 200
    assert out[b"type"] == b"number" and out[b"slept"] == b"true" and out[b"bad"] == b"E"
    assert before - 1 <= float(out[b"now"]) <= time.time() + 1


@pytest.mark.parametrize(("mode", "data", "result"), [
    ("~zlib", b"not compressed", b"nil"), ("~gzip", b"nope", b"nil"), ("~deflate", b"zzzz", b"nil"),
    ("~hex", b"", b"s:"), ("~base", b"", b"s:"),
])
def test_codec_of_data_a_decoder_refuses(api: Server, mode: str, data: bytes, result: bytes) -> None:
    assert api.conn.play("undecodable", {b"mode": mode.encode(), b"data": data}) == (200, {b"result": result})


def test_a_transaction_is_in_the_update_log_once_committed(request: pytest.FixtureRequest, kt_backend: str,
                                                          tmp_path: Path) -> None:
    _need_real(request, kt_backend)
    ulog = tmp_path / "ulog"
    manager = EmbeddedServer(server="ktserver" if kt_backend == "real" else STANDIN, database="*",
                             server_args=["-ulog", str(ulog), "-sid", "1", "-scr", str(API)])
    with manager:
        assert manager.port is not None
        conn = Conn(manager.port)
        assert conn.play("txlog") == (200, {})
        conn.close()
    data = (ulog / "0000000001.ulog").read_bytes()
    messages, pos = [], 17
    while pos < len(data):
        size = int.from_bytes(data[pos + 9:pos + 13], "big")
        messages.append(data[pos + 13:pos + 13 + size])
        pos += 14 + size
    none = b"\xff" * 5  # no expiry
    assert messages == [b"\x00\x01\x00\x00\xa1\x06\x06before" + none + b"1",
                        b"\x00\x01\x00\x00\xa1\x04\x06kept" + none + b"2",
                        b"\x00\x01\x00\x00\xa1\x05\x06after" + none + b"3"]


# ---------------------------------------------------------------- what the stand-in does not run


def _standin(time_limit: float = 0.5, memory_limit: int = 32 << 20) -> tuple[KyotoTycoonStandin, io.StringIO]:
    log = io.StringIO()
    scripts = LuaScripts(str(API), time_limit=time_limit, memory_limit=memory_limit)
    return KyotoTycoonStandin(databases=("*", "%"), scripts=scripts, log=log).start(), log


@pytest.fixture
def small() -> Iterator[tuple[KyotoTycoonStandin, Conn, io.StringIO]]:
    """An in-process stand-in running kt_api.lua with a 0.5 s time limit and 32 MiB of memory."""
    server, log = _standin()
    conn = Conn(server.port)
    yield server, conn, log
    conn.close()
    server.stop()


def _script_errors(log: io.StringIO, name: str) -> list[str]:
    return [line.split(f"[SCRIPT]: {name}: ", 1)[1] for line in log.getvalue().splitlines()
            if f"[ERROR]: [SCRIPT]: {name}: " in line]


@pytest.mark.parametrize(("name", "function"), [("mapreduce", "db:mapreduce"), ("dump", "db:dump_snapshot"),
                                                ("newdb", "DB:new"), ("catchunsupported", "db:mapreduce")])
def test_an_unsupported_function_fails_the_call_naming_it(small: Any, name: str, function: str) -> None:
    """The call fails as a failing script does on ktserver (500, binary 0xBF), even inside pcall."""
    _, conn, log = small
    assert conn.play(name) == (500, {})
    assert isinstance(conn.play_binary(name), KyotoServerError)
    assert _script_errors(log, name) == [f"{kt_lua.MARKER}{function} is not supported by the Kyoto Tycoon stand-in "
                                         "(kt-embedded); ktserver runs it"] * 2
    assert conn.play("inmapview") == (200, {b"view": b"{}"})


def test_every_unsupported_function_fails_the_call_naming_it(tmp_path: Path) -> None:
    calls = {"db:": "kt.db:{}()", "DB:": "kt.DB:{}()", "os.": "os.{}(0)", "debug.": "debug.{}()"}
    lua = ["kt = __kyototycoon__"]
    for i, name in enumerate(kt_lua.UNSUPPORTED):
        prefix, method = name.split(":") if ":" in name else name.split(".")
        template = calls[prefix + (":" if ":" in name else ".")]
        lua.append(f"function f{i}(inmap, outmap) pcall(function() {template.format(method)} end) return 0 end")
    path = tmp_path / "unsupported.lua"
    path.write_text("\n".join(lua) + "\n")
    log = io.StringIO()
    with KyotoTycoonStandin(scripts=LuaScripts(str(path)), log=log) as server:
        for i, name in enumerate(kt_lua.UNSUPPORTED):
            assert server._call_script(f"f{i}", {}) == (500, {}), name
            assert f"[SCRIPT]: f{i}: {kt_lua.MARKER}{name} is not supported" in log.getvalue(), name
        assert server._call_script("f0", {}) == (500, {})  # and the stand-in is still there to say it


def test_a_failing_script_on_ktserver_gets_the_status_an_unsupported_function_gets(api: Server) -> None:
    assert api.conn.play("failing")[0] == 500


@pytest.mark.parametrize("name", ["spin", "spincatch", "spinco", "spindb", "sleeper"])
def test_a_runaway_loop_fails_at_the_time_limit(small: Any, name: str) -> None:
    _, conn, log = small
    t0 = time.monotonic()
    assert conn.play(name) == (500, {})
    assert 0.4 < time.monotonic() - t0 < 3
    assert _script_errors(log, name) == [f"{kt_lua.MARKER}the script ran past the stand-in's time limit (0.5 s)"]
    assert conn.play("inmapview", {b"a": b"1"}) == (200, {b"view": b"{s:a=s:1}"})
    assert isinstance(conn.play_binary(name), KyotoServerError)
    assert conn.rpc("void").status == 200


@pytest.mark.parametrize("name", ["hog", "hogtable"])
def test_a_runaway_allocation_fails_at_the_memory_limit(small: Any, name: str) -> None:
    server, conn, log = small
    assert conn.play(name) == (500, {})
    assert _script_errors(log, name) == ["not enough memory"]
    assert server._lua is not None and server._lua._rt.get_memory_used() < 8 << 20  # collected after the call
    big = b"v" * (4 << 20)
    assert conn.play("inmapview", {b"k": big}) == (200, {b"view": b"{s:k=s:" + big + b"}"})
    assert conn.play(name) == (500, {})
    assert conn.rpc("void").status == 200


def test_an_input_past_the_memory_limit_fails_the_call(small: Any) -> None:
    _, conn, log = small
    assert conn.play("inmapview", {b"k": b"x" * (40 << 20)}) == (500, {})
    assert "does not fit in the memory limit (32 MiB)" in log.getvalue()
    assert conn.play("inmapview", {b"k": b"x"}) == (200, {b"view": b"{s:k=s:x}"})


def test_a_value_past_the_memory_limit_fails_the_call(small: Any) -> None:
    """A record too big for the Lua state is refused before it reaches the script."""
    server, conn, log = small
    server.databases[0].set(b"huge", b"h" * (40 << 20))
    assert conn.play("getbig") == (500, {})
    assert _script_errors(log, "getbig") == [f"{kt_lua.MARKER}the script went past the stand-in's memory limit "
                                             "(32 MiB)"]
    server.databases[0].set(b"huge", b"h" * (1 << 20))
    assert conn.play("getbig") == (200, {b"size": b"1048576"})


def test_other_connections_are_answered_while_a_script_runs_away(small: Any) -> None:
    server, conn, _ = small
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(conn.play("spin")))
    thread.start()
    time.sleep(0.1)
    other = Conn(server.port)
    t0 = time.monotonic()
    assert other.rpc("set", (b"key", b"k"), (b"value", b"v")).status == 200
    assert other.rpc("get", (b"key", b"k")).get(b"value") == b"v"
    assert time.monotonic() - t0 < 0.3 and thread.is_alive()
    thread.join(5)
    other.close()
    assert done == [(500, {})]


def test_a_transaction_left_open_is_aborted_and_fails_the_call(small: Any) -> None:
    server, conn, log = small
    assert conn.play("txnopen") == (500, {})
    assert server.databases[0].find(b"txnopen") is None and not server.databases[0].in_transaction
    assert "left a transaction open on database 0" in log.getvalue()
    assert conn.play("transactions")[0] == 200


def test_a_decoder_input_ktserver_crashes_on_fails_the_call(small: Any) -> None:
    """ktserver 0.9.56 allocates until it dies on a truncated zlib stream; the stand-in fails that call."""
    _, conn, log = small
    for data in (b"", b"x\x9c", b"x\x9cKTHRK"):
        assert conn.play("undecodable", {b"mode": b"~deflate", b"data": data}) == (500, {})
    assert "ends before its compressed stream does" in log.getvalue()
    assert conn.play("undecodable", {b"mode": b"~hex", b"data": b"41"}) == (200, {b"result": b"s:A"})


# ------------------------------------------------------------------------------- loading scripts


def test_a_script_that_does_not_load_stops_the_stand_in_but_not_ktserver(request: pytest.FixtureRequest,
                                                                         kt_backend: str, tmp_path: Path) -> None:
    """ktserver logs the error and runs without the procedures; the stand-in refuses to start (a deliberate
    difference: a test would otherwise run against procedures that are not there)."""
    _need_real(request, kt_backend)
    for script, defined in ((LUA / "kt_badsyntax.lua", []), (LUA / "kt_loaderror.lua", ["echo"])):
        manager = EmbeddedServer(server="ktserver" if kt_backend == "real" else STANDIN, database="*",
                                 server_args=["-scr", str(script)], startup_timeout=10)
        if kt_backend == "standin":
            with pytest.raises(Exception, match=r"could not load the script|expected near"):
                manager.run()
            continue
        with manager:
            assert manager.port is not None
            conn = Conn(manager.port)
            assert conn.play("broken")[0] == 501
            assert conn.play("echo")[0] == (200 if defined else 501)
            conn.close()
    for script, message in ((LUA / "kt_badsyntax.lua", "')' expected near 'return'"),
                            (LUA / "kt_loaderror.lua", "kt_loaderror: failing at load")):
        with pytest.raises(ValueError, match=re.escape(message)):
            KyotoTycoonStandin(scripts=load_scripts(str(script)))


def test_a_script_looping_at_load_fails_at_the_time_limit(tmp_path: Path) -> None:
    path = tmp_path / "loop.lua"
    path.write_text("while true do end\n")
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="time limit"):
        KyotoTycoonStandin(scripts=LuaScripts(str(path), time_limit=0.3))
    assert time.monotonic() - t0 < 3


def test_without_lupa_a_lua_script_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "lupa", None)
    monkeypatch.setitem(sys.modules, "lupa.lua51", None)
    with pytest.raises(LuaUnavailableError, match=re.escape("pip install 'kt-embedded[lua]'")):
        load_scripts(str(API))
    with pytest.raises(ImportError, match="needs lupa"):
        LuaScripts(str(API))
    assert main(["-port", "0", "-scr", str(API)]) == 1
    assert "kt-embedded[lua]" in capsys.readouterr().err
    # Python scripts need no lupa
    python_script = tmp_path / "procs.py"
    python_script.write_text("def echo(inmap):\n    return dict(inmap)\n")
    assert "echo" in load_scripts(str(python_script))


def test_the_command_line_takes_the_limits(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kt_embedded.standin.kyoto", "-port", "0", "-lua-time-limit", "0", "-scr", str(API)],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "limits must be positive" in proc.stderr


# ------------------------------------------------------------------ the project's kt_test.lua


@pytest.fixture(scope="module")
def kt_test(request: pytest.FixtureRequest, kt_backend: str) -> Iterator[EmbeddedServer]:
    """kt_test.lua on the backend (the stand-in runs the very file ktserver runs), databases ``*`` and ``%``."""
    _need_real(request, kt_backend)
    manager = EmbeddedServer(server="ktserver" if kt_backend == "real" else STANDIN, database=["*", "%"],
                             server_args=["-scr", str(script_path("kt_test.lua"))])
    manager.run()
    yield manager
    manager.stop()


@pytest.fixture
def client(kt_test: EmbeddedServer) -> Iterator[KyotoTycoon]:
    made = kt_test.make_client()
    made.clear(db=0)
    made.clear(db=1)
    yield made
    made.close()


def test_kt_test_echo(client: KyotoTycoon) -> None:
    result = client.script("echo", {"a": "1"}, b="x\u00e9")
    assert result == {"a": "1", "b": "x\u00e9"} and type(result) is dict
    assert client.script("echo", {"k": ALL_BYTES}, encode_values=False) == {"k": ALL_BYTES}
    assert client.script("echo") == {}
    with pytest.raises(KyotoServerError):
        client.script("no_such_function_anywhere")


def test_kt_test_fixed_records_failures_and_db(client: KyotoTycoon) -> None:
    assert client.script("sample", encode_values=False) == {
        "empty": b"", "tab_lf": b"a\tb\nc", "controls": b"\x01\x08\r\x1b\x7f", "high": b"\x80\xff", "text": b"kt"}
    for name in ("conflict", "badinput", "broken"):  # 450 / 400 / 500 over HTTP; 0xBF on the binary protocol
        with pytest.raises(KyotoServerError):
            client.script(name, {"k": "v"})
    assert client.script("echo", {"still": "in step"}) == {"still": "in step"}
    client.set("a", "1")
    assert client.script("store", {"b": "2", "c": "3"}) == {"stored": "2"}  # the script writes db 0
    assert client.get("c") == "3"
    assert client.script("count") == {"count": "3"}
    assert client.script("fetch", {"a": "", "b": "", "missing": ""}) == {"a": "1", "b": "2"}


def test_kt_test_statuses(kt_test: EmbeddedServer) -> None:
    assert kt_test.port is not None
    conn = Conn(kt_test.port)
    assert [conn.play(n)[0] for n in ("conflict", "badinput", "broken", "echo", "nosuch")] == [450, 400, 500, 200, 501]
    assert all(isinstance(conn.play_binary(n), KyotoServerError) for n in ("conflict", "badinput", "broken"))
    conn.close()


def test_kt_test_script_errors(client: KyotoTycoon) -> None:
    with pytest.raises(ScriptError):
        client.script("conflict")
    with pytest.raises(ScriptError):
        client.lua.broken()
    with pytest.raises(ScriptError):
        client.lua.nosuchfunction(key="x")


ELEMENTS = [b"", b"a", b"tab\there", b"\x00\x01\xff", "é東京".encode(), b"x" * 127, b"y" * 128, b"z" * 20000]


def test_kt_test_arraydump_and_arrayload(client: KyotoTycoon) -> None:
    records = {f"{i:03d}": data for i, data in enumerate(ELEMENTS)}
    dump = client.script("listdump", records, encode_values=False)["dump"]
    assert dump == serialize_list(ELEMENTS)
    assert deserialize_list(dump, decode_values=False) == ELEMENTS
    loaded = client.script("listload", {"dump": serialize_list(ELEMENTS)}, encode_values=False)
    assert [loaded[str(i)] for i in range(1, len(ELEMENTS) + 1)] == ELEMENTS and len(loaded) == len(ELEMENTS)


def test_kt_test_mapdump_and_mapload(client: KyotoTycoon) -> None:
    records = {"empty": b"", "bin": b"\x00\xff", "text": "東京".encode(), "long": b"v" * 300}
    dump = client.script("mapdump", records, encode_values=False)["dump"]
    assert deserialize_dict(dump, decode_values=False) == records
    data = {"a": b"1", "b": b"", "c": b"\x80\x81", "long": b"w" * 4000}
    assert client.script("mapload", {"dump": serialize_dict(data)}, encode_values=False) == data
    dump = client.script("listdump", {"1": "x", "2": "y"}, encode_values=False)["dump"]
    client.set("stored", dump)
    assert deserialize_list(client.get_raw("stored")) == ["x", "y"]


def test_kt_test_big_echo(client: KyotoTycoon) -> None:
    big = ALL_BYTES * (32 * 1024 * 1024 // 256)
    assert client.script("echo", {"big": big}, encode_values=False) == {"big": big}
