"""Records testdata/vectors/kt-repl.json from the real ktserver 0.9.56 (replication, magic 0xB1).

Run ``python packages/kt-core/tests/test_kyoto_repl_record.py [ktserver]`` to record the file again.
As a test, it checks that the real server (when installed) still answers as recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from kt_core.codec import kyoto_binary, kyoto_http, kyoto_repl
from kt_core.codec.reader import NEED_MORE, Reader

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "kt-repl.json"
ABS_XT = 2_000_000_000

# Every writing operation over HTTP (server id 1), then binary set_bulk/remove_bulk.
OPERATIONS: list[tuple[str, list[tuple[bytes, bytes]]]] = [
    ("set", [(b"key", b"a"), (b"value", b"1")]),
    ("set", [(b"key", b"b"), (b"value", b"2"), (b"xt", b"-%d" % ABS_XT), (b"DB", b"1")]),
    ("add", [(b"key", b"c"), (b"value", b"3")]),
    ("replace", [(b"key", b"a"), (b"value", b"11")]),
    ("append", [(b"key", b"a"), (b"value", b"+")]),
    ("increment", [(b"key", b"n"), (b"num", b"5")]),
    ("increment_double", [(b"key", b"d"), (b"num", b"1.5")]),
    ("cas", [(b"key", b"a"), (b"oval", b"11+"), (b"nval", b"X")]),
    ("cas", [(b"key", b"c"), (b"oval", b"3")]),
    ("remove", [(b"key", b"a")]),
    ("seize", [(b"key", b"n")]),
    ("set_bulk", [(b"_k1", b"v1"), (b"_k2", b"v2")]),
    ("remove_bulk", [(b"_k1", b"")]),
    ("clear", [(b"DB", b"1")]),
]


class _Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = Reader()

    def call(self, request: bytes, reader_fn: Any) -> Any:
        self.sock.sendall(request)
        return self.read(reader_fn)

    def read(self, reader_fn: Any) -> Any:
        while True:
            result = self.reader.read(reader_fn)
            if result is not NEED_MORE:
                return result
            data = self.sock.recv(65536)
            assert data, "connection closed"
            self.reader.feed(data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return port if port < 32768 else 20000 + port % 12000


def _start(command: list[str], workdir: str, args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen([*command, "-host", "127.0.0.1", "-port", str(port), "-log", "server.log", *args,
                             "*", "%"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("ktserver did not start")


def _stream(port: int, ts: int, sid: int, flags: int = 0) -> tuple[bytes, bytes]:
    """Open a replication stream; the request and every byte up to and including the first NOP."""
    request = kyoto_repl.encode_replication(ts, sid, flags)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(request)
    buf = bytearray()
    pos = 0
    try:
        while True:
            while True:
                fn = kyoto_repl.read_replication_open if pos == 0 else kyoto_repl.read_replication_frame
                r = fn(buf, pos, len(buf), 1 << 20)
                if isinstance(r, int):
                    break
                pos = r[0]
                if fn is kyoto_repl.read_replication_open and not r[1]:
                    return request, bytes(buf[:pos])
                if fn is kyoto_repl.read_replication_frame and r[2] is None:
                    return request, bytes(buf[:pos])
            data = sock.recv(65536)
            if not data:
                return request, bytes(buf)
            buf += data
    finally:
        sock.close()


def _decode(response: bytes) -> tuple[dict[str, Any], list[list[int]]]:
    """``decoded`` (see VECTORS.md) and the volatile ranges (the time stamps) of a recorded stream."""
    r = kyoto_repl.read_replication_open(response, 0, len(response), 1 << 20)
    assert not isinstance(r, int)
    pos, accepted = r
    frames: list[dict[str, Any]] = []
    volatile: list[list[int]] = []
    while pos < len(response):
        f = kyoto_repl.read_replication_frame(response, pos, len(response), 1 << 20)
        assert not isinstance(f, int)
        volatile.append([pos + 1, 8])
        nxt, _ts, message = f
        if message is None:
            frames.append({"frame": "nop"})
        elif message == b"":
            frames.append({"frame": "keepalive"})
        else:
            c = kyoto_repl.decode_message(message, 0)
            rec: dict[str, Any] = {"frame": "message", "op": type(c).__name__, "sid": c.sid, "db": c.db}
            for field in ("key", "value"):
                if hasattr(c, field):
                    rec[field] = getattr(c, field).decode("latin-1")
            if isinstance(c, kyoto_repl.SetChange):
                rec["expire"] = c.expire
            frames.append(rec)
        pos = nxt
    return {"accepted": accepted, "frames": frames}, volatile


def record(executable: str | list[str]) -> list[dict[str, Any]]:
    """The scenario, run on ``executable`` (a path, or a command such as the stand-in's)."""
    command = [executable] if isinstance(executable, str) else list(executable)
    vectors: list[dict[str, Any]] = []

    def add(name: str, description: str, server: str, args: list[str], request: bytes, response: bytes) -> None:
        decoded, volatile = _decode(response)
        vectors.append({"name": name, "description": description, "server": server, "server_args": args,
                        "request_hex": request.hex(), "response_hex": response.hex(),
                        "volatile": ["frames[*].ts"], "volatile_ranges": volatile, "decoded": decoded})

    work = tempfile.mkdtemp(prefix="kt-repl-")
    try:
        args = ["-ulog", "ulog", "-sid", "1"]
        proc, port = _start(command, work, args)
        try:
            conn = _Conn(port)
            for proc_name, params in OPERATIONS:
                conn.call(kyoto_http.encode_rpc(proc_name, params), kyoto_http.read_rpc)
            conn.call(kyoto_binary.encode_set_bulk([(0, b"bin", b"\x00\xff", -ABS_XT)]), kyoto_binary.read_set_bulk)
            conn.call(kyoto_binary.encode_remove_bulk([(0, b"bin")]), kyoto_binary.read_remove_bulk)
            time.sleep(0.5)  # the update log is flushed every 0.1 s
            req, resp = _stream(port, 0, 2)
            add("repl_all", "ts=0 sid=2: every logged change (HTTP ops as sid 1, then binary set_bulk/remove_bulk),"
                " then a NOP", "ulog", args, req, resp)
            # the 5th message's time stamp: resume after it
            pos = 1
            for _ in range(5):
                f = kyoto_repl.read_replication_frame(resp, pos, len(resp), 1 << 20)
                assert not isinstance(f, int)
                pos, ts5, _m = f
            req, resp = _stream(port, ts5, 2)
            add("repl_resume", "ts=<the 5th message's ts> sid=2: only the messages after it (ts strictly greater)",
                "ulog", args, req, resp)
            req, resp = _stream(port, 0, 1)
            add("repl_own_sid", "ts=0 sid=1 (the writer's server id): its messages are skipped, only a NOP",
                "ulog", args, req, resp)
            req, resp = _stream(port, 0, 1, kyoto_repl.WHITESID)
            add("repl_whitesid", "ts=0 sid=1 flags=WHITESID: only the messages of server id 1 (all of them)",
                "ulog", args, req, resp)
            req, resp = _stream(port, 0, 2, kyoto_repl.WHITESID)
            add("repl_whitesid_other", "ts=0 sid=2 flags=WHITESID: no message has server id 2: only a NOP",
                "ulog", args, req, resp)
            for i in range(300):
                conn.call(kyoto_http.encode_rpc("set", [(b"key", b"k%03d" % i), (b"value", b"")]),
                          kyoto_http.read_rpc)
            time.sleep(0.5)
            req, resp = _stream(port, 0, 1)
            add("repl_keepalive", "ts=0 sid=1 after 316 messages: one keep-alive (size 0) per 256 skipped, then a NOP",
                "ulog", args, req, resp)
        finally:
            proc.terminate()
            proc.wait(10)
        proc, port = _start(command, work, [])
        try:
            req, resp = _stream(port, 0, 2)
            add("repl_no_ulog", "a server without -ulog refuses: 0xBF, then closes", "plain", [], req, resp)
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return vectors


def test_real_server_answers_as_recorded() -> None:
    executable = shutil.which("ktserver")
    if executable is None:
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail("ktserver is not installed")
        pytest.skip("ktserver is not installed")
    recorded = json.loads(VECTORS.read_text())
    fresh = record(executable)
    def key(v: dict[str, Any]) -> tuple[str, str, str, Any]:  # the request's ts (bytes 5..12) varies
        return v["name"], v["request_hex"][:10], v["request_hex"][26:], v["decoded"]

    assert [key(v) for v in fresh] == [key(v) for v in recorded]


if __name__ == "__main__":
    exe = sys.argv[1] if len(sys.argv) > 1 else (shutil.which("ktserver") or "ktserver")
    VECTORS.write_text(json.dumps(record(exe), indent=1) + "\n")
    print(f"wrote {VECTORS}")
