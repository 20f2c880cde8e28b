"""Kyoto Tycoon stand-in: safety, lifecycle, CLI and script loading (fidelity: test_standin_kyoto_vectors.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kt_core.codec import kyoto_binary, kyoto_http
from kt_core.codec.reader import NEED_MORE, Reader
from kt_embedded.standin.kt_db import KtDatabase
from kt_embedded.standin.kyoto import KyotoTycoonStandin, load_scripts

SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "src" / "kt_embedded" / "scripts"


def _call(sock: socket.socket, request: bytes, reader_fn=kyoto_http.read_rpc):
    sock.sendall(request)
    reader = Reader()
    while True:
        result = reader.read(reader_fn)
        if result is not NEED_MORE:
            return result[1]
        data = sock.recv(65536)
        assert data, "connection closed"
        reader.feed(data)


def _rpc(sock: socket.socket, proc: str, params=()):
    return _call(sock, kyoto_http.encode_rpc(proc, list(params)))


@pytest.fixture()
def server():
    with KyotoTycoonStandin(databases=("*", "%"), scripts=load_scripts(str(SCRIPTS_DIR / "kt_test.lua"))) as srv:
        yield srv


def test_binds_loopback_by_default() -> None:
    with KyotoTycoonStandin() as srv:
        assert srv.host == "127.0.0.1"
        assert srv._listener.getsockname()[0] == "127.0.0.1"
        assert srv.port > 0


def test_malformed_input_closes_only_that_connection(server: KyotoTycoonStandin) -> None:
    good = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    assert _rpc(good, "set", [(b"key", b"k"), (b"value", b"v")]).status == 200
    for garbage in (b"\xb5" + b"\0" * 8, b"GARBAGE\r\n\r\n", b"POST /rpc/void HTTP/1.1\r\nContent-Length: x\r\n\r\n"):
        bad = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        bad.sendall(garbage)
        assert bad.recv(10) == b"", f"{garbage!r} should close the connection"
        bad.close()
    assert _rpc(good, "get", [(b"key", b"k")]).get(b"value") == b"v"
    fresh = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    assert _rpc(fresh, "void").status == 200
    good.close()
    fresh.close()


def test_oversized_request_is_refused() -> None:
    with KyotoTycoonStandin(max_request_size=1024) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.settimeout(5)
        s.sendall(kyoto_binary.encode_set_bulk([(0, b"k", b"x" * 4096, kyoto_binary.XT_NONE)]))
        assert s.recv(10) == b""
        assert srv.databases[0].count() == 0


def test_http_and_binary_share_a_connection(server: KyotoTycoonStandin) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        assert _call(s, kyoto_binary.encode_set_bulk([(1, b"b", b"2", kyoto_binary.XT_NONE)]),
                     kyoto_binary.read_set_bulk) == 1
        assert _rpc(s, "get", [(b"DB", b"%"), (b"key", b"b")]).get(b"value") == b"2"


def test_scripts_reach_both_play_script_paths(server: KyotoTycoonStandin) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        res = _rpc(s, "play_script", [(b"name", b"store"), (b"_x", b"1"), (b"_y", b"2")])
        assert res.status == 200 and res.params() == {b"_stored": b"2"}
        got = _call(s, kyoto_binary.encode_play_script(b"fetch", [(b"x", b""), (b"nope", b"")]),
                    kyoto_binary.read_play_script)
        assert got == [(b"x", b"1")]
        assert _call(s, kyoto_binary.encode_play_script(b"count", []), kyoto_binary.read_play_script) == [
            (b"count", b"2")]
        assert _rpc(s, "play_script", [(b"name", b"conflict")]).status == 450
        assert _rpc(s, "play_script", [(b"name", b"badinput")]).status == 400
        assert _rpc(s, "play_script", [(b"name", b"broken")]).status == 500
        err = _call(s, kyoto_binary.encode_play_script(b"broken", []), kyoto_binary.read_play_script)
        assert isinstance(err, Exception)
        assert _rpc(s, "void").status == 200  # a crashing script never takes the server down


def test_cursors_are_per_connection(server: KyotoTycoonStandin) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as a, \
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as b:
        _rpc(a, "set_bulk", [(b"DB", b"1"), (b"_k1", b"1"), (b"_k2", b"2")])
        assert _rpc(a, "cur_jump", [(b"DB", b"1"), (b"CUR", b"1"), (b"key", b"k2")]).status == 200
        assert _rpc(b, "cur_jump", [(b"DB", b"1"), (b"CUR", b"1")]).status == 200
        assert _rpc(a, "cur_get_key", [(b"CUR", b"1")]).get(b"key") == b"k2"
        assert _rpc(b, "cur_get_key", [(b"CUR", b"1")]).get(b"key") == b"k1"


def test_expired_records_vanish() -> None:
    db = KtDatabase("%", ordered=True)
    db.set(b"gone", b"v", -int(time.time()) + 10)
    db.set(b"kept", b"v", 3600)
    db.set(b"forever", b"v")
    assert db.keys() == [b"forever", b"kept"]
    assert db.find(b"gone") is None
    assert db.get(b"kept")[1] >= int(time.time()) + 3590


def test_hash_cursor_walks_in_insertion_order_through_changes() -> None:
    from kt_embedded.standin.kt_db import DBError, KtCursor

    db = KtDatabase("*")
    for key in (b"a", b"b", b"c", b"d"):
        db.set(key, b"v")
    cursor = KtCursor(db)
    cursor.jump()
    seen = [cursor.get()[0]]
    cursor.step()
    seen.append(cursor.get()[0])  # b
    db.remove(b"c")  # not reached yet: skipped
    db.set(b"e", b"v")  # added at the end: reached
    db.set(b"a", b"new")  # an update keeps the order
    while True:
        try:
            cursor.step()
            seen.append(cursor.get()[0])
        except DBError:
            break
    assert seen == [b"a", b"b", b"d", b"e"]


def test_in_process_start_is_fast() -> None:
    t0 = time.perf_counter()
    srv = KyotoTycoonStandin(databases=("*", "%", "a.kch", "b.kct")).start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            assert _rpc(s, "status", [(b"DB", b"b.kct")]).get(b"count") == b"0"
        assert time.perf_counter() - t0 < 0.5
    finally:
        srv.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_subprocess_starts_fast_and_serves(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kt_embedded.standin.kyoto", "-host", "127.0.0.1", "-port", str(port),
         "-scr", str(SCRIPTS_DIR / "kt_test.lua"), "-log", str(tmp_path / "kt.log"), "*", "%"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.time() + 5
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.01)
        startup = time.perf_counter() - t0
        with sock:
            res = _rpc(sock, "play_script", [(b"name", b"sample")])
            assert res.params()[b"_tab_lf"] == b"a\tb\nc"
        assert startup < 1.0, f"startup took {startup:.2f}s"
        assert "starting the server: expr=127.0.0.1:" in (tmp_path / "kt.log").read_text()
    finally:
        proc.terminate()
        proc.wait(5)


def test_unknown_database_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown database type"):
        KyotoTycoonStandin(databases=("x.txt",))


def test_project_script_procedures_are_named_for_http() -> None:
    lua = (SCRIPTS_DIR / "kt_test.lua").read_text()
    lua_functions = {line.split()[1].split("(")[0] for line in lua.splitlines() if line.startswith("function ")}
    assert {"echo", "sample", "conflict", "store", "fetch"} <= lua_functions
    # the real ktserver answers 400 to an HTTP play_script whose name has "_", so none may
    assert [name for name in lua_functions if "_" in name] == []


def test_concurrent_connections_do_not_cross_talk(server: KyotoTycoonStandin) -> None:
    """8 connections on 8 threads: every reply belongs to its own request (the server is threaded)."""
    import threading

    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                for i in range(150):
                    key, value = f"t{n}-{i}".encode(), (f"{n}:{i}" * (i % 7 + 1)).encode()
                    assert _rpc(s, "set", [(b"key", key), (b"value", value)]).status == 200
                    assert _rpc(s, "get", [(b"key", key)]).get(b"value") == value
                    assert _rpc(s, "increment", [(b"key", f"ctr{n}".encode()), (b"num", b"1")]).get(b"num") == \
                        str(i + 1).encode()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert server.databases[0].count() == 8 * 151
