"""Kyoto Tycoon stand-in: the update log (``-ulog DIR -sid N [-ulim SIZE]``) and ulog_list/ulog_remove.

The same scenario runs on the stand-in and, where it is installed, on the real ktserver 0.9.56; their
log files must hold the same records (time stamps aside) and their answers must agree. The byte
values expected without a real server are the ones ktserver 0.9.56 wrote for the same requests.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from kt_core.codec import kyoto_binary, kyoto_http
from kt_core.codec.reader import NEED_MORE, Reader
from kt_embedded.managers import STANDIN, EmbeddedServer, real_server_available, script_path

BACKENDS = ["standin", "real"]
HEAD = struct.Struct(">BQQ")
RECORD = struct.Struct(">BQI")


class Conn:
    """One connection: HTTP RPCs and binary requests, replies read whole."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = Reader()

    def _call(self, request: bytes, reader_fn: Any) -> Any:
        self.sock.sendall(request)
        while True:
            result = self.reader.read(reader_fn)
            if result is not NEED_MORE:
                return result[1]
            data = self.sock.recv(65536)
            assert data, "connection closed"
            self.reader.feed(data)

    def rpc(self, proc: str, *params: tuple[bytes, bytes]) -> kyoto_http.RpcResult:
        return self._call(kyoto_http.encode_rpc(proc, list(params)), kyoto_http.read_rpc)

    def binary(self, request: bytes, reader_fn: Any) -> Any:
        return self._call(request, reader_fn)

    def close(self) -> None:
        self.sock.close()


def read_log(directory: Path) -> list[tuple[str, int, int, list[bytes]]]:
    """Every ``*.ulog`` file: (name, head size, head time stamp, messages), the framing checked."""
    files = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".ulog"):
            continue
        data = (directory / name).read_bytes()
        magic, size, head_ts = HEAD.unpack_from(data)
        assert magic == 0xA0 and size == len(data), name
        pos, messages, stamps = HEAD.size, [], []
        while pos < len(data):
            begin, ts, n = RECORD.unpack_from(data, pos)
            pos += RECORD.size
            assert begin == 0xA1 and data[pos + n] == 0xA2, (name, pos)
            messages.append(data[pos:pos + n])
            stamps.append(ts)
            pos += n + 1
        assert stamps == sorted(stamps) and head_ts == max(stamps, default=head_ts), name
        files.append((name, size, head_ts, messages))
    return files


def wait_for(probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last answer {got!r}")
        time.sleep(0.02)


@pytest.fixture
def start(request: pytest.FixtureRequest) -> Iterator[Callable[..., EmbeddedServer]]:
    """``start(backend, *server_args, database=...)``: a running server (real: skipped if not installed)."""
    started: list[EmbeddedServer] = []

    def run(backend: str, *server_args: str, database: Any = ("*", "%")) -> EmbeddedServer:
        if backend == "real" and not real_server_available("ktserver"):
            if request.config.getoption("--kt-require-real") or os.environ.get("KT_REQUIRE_REAL") == "1":
                pytest.fail("ktserver is not installed")
            pytest.skip("ktserver is not installed")
        manager = EmbeddedServer(server="ktserver" if backend == "real" else STANDIN, database=list(database),
                                 server_args=list(server_args))
        started.append(manager)
        manager.run()
        return manager

    yield run
    for manager in started:
        manager.stop()


ABS_XT = 2_000_000_000  # an absolute expiry (2033), the same on both servers whenever the test runs


def every_logged_path(conn: Conn) -> None:
    """One request of every kind that writes (and a few that fail or only read)."""
    ok = [
        conn.rpc("set", (b"key", b"a"), (b"value", b"1")),
        conn.rpc("set", (b"key", b"b"), (b"value", b"2"), (b"xt", b"-%d" % ABS_XT), (b"DB", b"1")),
        conn.rpc("add", (b"key", b"c"), (b"value", b"3")),
        conn.rpc("replace", (b"key", b"a"), (b"value", b"11")),
        conn.rpc("append", (b"key", b"a"), (b"value", b"+")),
        conn.rpc("increment", (b"key", b"n"), (b"num", b"5")),
        conn.rpc("increment", (b"key", b"n"), (b"num", b"0")),
        conn.rpc("increment_double", (b"key", b"d"), (b"num", b"1.5")),
        conn.rpc("cas", (b"key", b"a"), (b"oval", b"11+"), (b"nval", b"X")),
        conn.rpc("cas", (b"key", b"c"), (b"oval", b"3")),
        conn.rpc("remove", (b"key", b"a")),
        conn.rpc("seize", (b"key", b"b"), (b"DB", b"1")),
        conn.rpc("set_bulk", (b"_x", b"1"), (b"_y", b"2")),
        conn.rpc("remove_bulk", (b"_x", b""), (b"_nope", b"")),
        conn.rpc("get", (b"key", b"y")),
        conn.rpc("play_script", (b"name", b"store"), (b"_s", b"stored")),
    ]
    assert [r.status for r in ok] == [200] * len(ok)
    misses = [
        conn.rpc("add", (b"key", b"y"), (b"value", b"dup")),
        conn.rpc("replace", (b"key", b"zz"), (b"value", b"v")),
        conn.rpc("cas", (b"key", b"y"), (b"oval", b"wrong"), (b"nval", b"v")),
        conn.rpc("remove", (b"key", b"nope")),  # logged all the same
        conn.rpc("seize", (b"key", b"nope")),  # not logged
        conn.rpc("increment", (b"key", b"y"), (b"num", b"1")),  # not a number
    ]
    assert [r.status for r in misses] == [450] * len(misses)
    records = [(0, b"k1", b"v1", kyoto_binary.XT_NONE), (1, b"k2", b"v2", -ABS_XT)]
    assert conn.binary(kyoto_binary.encode_set_bulk(records), kyoto_binary.read_set_bulk) == 2
    removes = kyoto_binary.encode_remove_bulk([(0, b"k1"), (0, b"missing")])
    assert conn.binary(removes, kyoto_binary.read_remove_bulk) == 1
    assert conn.rpc("set_bulk", (b"_p1", b"1"), (b"_p2", b"2"), (b"_p3", b"3"), (b"DB", b"1")).status == 200
    cursor = [(b"CUR", b"1"), (b"DB", b"1")]
    assert conn.rpc("cur_jump", *cursor).status == 200
    assert conn.rpc("cur_set_value", (b"value", b"P"), *cursor).status == 200
    assert conn.rpc("cur_remove", *cursor).status == 200
    assert conn.rpc("cur_get", *cursor).status == 200
    assert conn.rpc("cur_seize", *cursor).status == 200
    assert conn.rpc("cur_delete", (b"CUR", b"1")).status == 200
    assert conn.rpc("clear", (b"DB", b"1")).status == 200


def run_every_logged_path(start: Any, backend: str, tmp_path: Path) -> list[bytes]:
    ulog = tmp_path / backend
    script = str(script_path("kt_test.lua"))  # the stand-in runs the same Lua
    server = start(backend, "-ulog", str(ulog), "-sid", "3", "-scr", script)
    conn = Conn(server.port)
    every_logged_path(conn)
    clear_db1 = b"\x00\x03\x00\x01\xa5"
    files = wait_for(lambda: (f := read_log(ulog)) and f[-1][3][-1:] == [clear_db1] and f)
    conn.close()
    assert [name for name, *_ in files] == ["0000000001.ulog"]
    return files[0][3]


# What ktserver 0.9.56 logged for the first requests (server id 3): ids, then the TimedDB message.
REAL_FIRST_MESSAGES = [
    b"\x00\x03\x00\x00\xa1\x01\x06a\xff\xff\xff\xff\xff1",  # set a=1, db 0, no expiry
    b"\x00\x03\x00\x01\xa1\x01\x06b" + struct.pack(">Q", ABS_XT)[3:] + b"2",  # db 1, absolute expiry
    b"\x00\x03\x00\x00\xa1\x01\x06c\xff\xff\xff\xff\xff3",  # add c
]


def test_standin_logs_what_ktserver_logs(start: Any, tmp_path: Path) -> None:
    standin = run_every_logged_path(start, "standin", tmp_path)
    assert standin[:3] == REAL_FIRST_MESSAGES
    # A remove of no record is logged (twice here: remove_bulk, remove), a seize of none is not; HTTP
    # remove_bulk goes in key order ("_nope" before "_x").
    assert standin[13:15] == [b"\x00\x03\x00\x00\xa2\x04nope", b"\x00\x03\x00\x00\xa2\x01x"]
    assert standin.count(b"\x00\x03\x00\x00\xa2\x04nope") == 2
    assert len(standin) == 28
    if real_server_available("ktserver"):
        assert run_every_logged_path(start, "real", tmp_path) == standin


@pytest.mark.parametrize("backend", BACKENDS)
def test_ulog_without_sid_refuses_to_start(start: Any, backend: str, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="update log requires the server ID"):
        start(backend, "-ulog", str(tmp_path / "ulog"))
    assert not (tmp_path / "ulog").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ulog_on_a_regular_file_refuses_to_start(start: Any, backend: str, tmp_path: Path) -> None:
    (tmp_path / "afile").write_bytes(b"x")
    with pytest.raises(Exception, match="exited with code 1"):
        start(backend, "-ulog", str(tmp_path / "afile"), "-sid", "1")


def rotation_and_removal(start: Any, backend: str, tmp_path: Path) -> list[Any]:
    """-ulim 1k, a restart on the same directory, files from elsewhere, every form of ulog_remove's ts."""
    ulog = tmp_path / backend
    ulog.mkdir()
    (ulog / "0.dat").write_bytes(HEAD.pack(0xA0, 17, 5))  # a head: listed, whatever its name
    (ulog / "README").write_bytes(b"not a log")  # no head: not listed
    seen: list[Any] = []

    def listing(conn: Conn) -> list[tuple[str, int]]:
        result = conn.rpc("ulog_list")
        assert result.status == 200
        # ktserver names files by the directory it was given; the time stamps vary between runs.
        return [(os.path.relpath(k.decode(), ulog), int(v.split(b":")[0])) for k, v in result.records]

    server = start(backend, "-ulog", str(ulog), "-sid", "9", "-ulim", "1k", database=("*",))
    conn = Conn(server.port)
    assert conn.rpc("set", (b"key", b"big"), (b"value", b"v" * 1100)).status == 200
    wait_for(lambda: listing(conn)[-1][1] > 17)
    assert conn.rpc("set", (b"key", b"k"), (b"value", b"v")).status == 200  # the first file is full now
    seen.append(wait_for(lambda: len(listing(conn)) == 3 and listing(conn)))
    conn.close()
    server.stop()

    server = start(backend, "-ulog", str(ulog), "-sid", "9", "-ulim", "1k", database=("*",))
    conn = Conn(server.port)
    seen.append(listing(conn))  # the restarted server goes on with the highest-numbered file
    assert conn.rpc("set", (b"key", b"k2"), (b"value", b"v")).status == 200
    seen.append(wait_for(lambda: listing(conn) != seen[-1] and listing(conn)))
    for ts in (b"abc", b"4", b"5"):  # not a number reads as 0; "0.dat" has time stamp 5
        assert conn.rpc("ulog_remove", (b"ts", ts)).status == 200
        seen.append(listing(conn))
    assert conn.rpc("ulog_remove", (b"ts", b"now")).status == 200
    seen.append(listing(conn))
    assert conn.rpc("set", (b"key", b"big2"), (b"value", b"v" * 1100)).status == 200
    wait_for(lambda: listing(conn)[-1][1] > 1100)
    assert conn.rpc("set", (b"key", b"k3"), (b"value", b"v")).status == 200
    seen.append(wait_for(lambda: len(listing(conn)) == 2 and listing(conn)))
    assert conn.rpc("ulog_remove").status == 200  # no ts: every file but the newest
    seen.append(listing(conn))
    seen.append(conn.rpc("ulog_list", (b"DB", b"99")).status)  # no database needed
    conn.close()
    return seen


def test_standin_ulog_rotation_restart_and_removal_as_ktserver(start: Any, tmp_path: Path) -> None:
    standin = rotation_and_removal(start, "standin", tmp_path)
    first, second = ("0000000001.ulog", 17 + 28 + 1100 + 2), ("0000000002.ulog", 17 + 28)
    assert standin == [
        [("0.dat", 17), first, second],
        [("0.dat", 17), first, second],
        [("0.dat", 17), first, ("0000000002.ulog", 17 + 28 + 29)],  # under 1k: the same file goes on
        [("0.dat", 17), first, ("0000000002.ulog", 74)],  # ts "abc" = 0: nothing that old
        [("0.dat", 17), first, ("0000000002.ulog", 74)],
        [first, ("0000000002.ulog", 74)],  # ts 5: "0.dat" goes
        [("0000000002.ulog", 74)],  # now: all but the newest
        [("0000000002.ulog", 74 + 31 + 1100), ("0000000003.ulog", 17 + 29)],
        [("0000000003.ulog", 17 + 29)],
        200,
    ]
    assert sorted(os.listdir(tmp_path / "standin")) == ["0000000003.ulog", "README"]
    if real_server_available("ktserver"):
        assert rotation_and_removal(start, "real", tmp_path) == standin


@pytest.mark.parametrize("backend", BACKENDS)
def test_ulog_procedures_without_ulog_answer_400(start: Any, backend: str) -> None:
    server = start(backend)
    conn = Conn(server.port)
    for proc, params in (("ulog_list", ()), ("ulog_remove", ((b"ts", b"now"),))):
        result = conn.rpc(proc, *params)
        assert (result.status, result.get(b"ERROR")) == (400, b"no update log allows no replication")
    conn.close()


def test_standin_update_log_in_process(tmp_path: Path) -> None:
    from kt_embedded.standin.kyoto import KyotoTycoonStandin

    with KyotoTycoonStandin(ulog=str(tmp_path / "u"), sid=2) as server:
        conn = Conn(server.port)
        assert conn.rpc("set", (b"key", b"a"), (b"value", b"1")).status == 200
        conn.close()
    # stop() wrote what was still cached
    assert read_log(tmp_path / "u")[0][3] == [b"\x00\x02\x00\x00\xa1\x01\x06a\xff\xff\xff\xff\xff1"]
