"""Records testdata/vectors/tt-repl.json from the real ttserver 1.1.41 (replication: the repl command).

Run ``python packages/kt-core/tests/test_tyrant_repl_record.py [ttserver]`` to record the file again.
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
from kt_core.codec import tyrant as tt
from kt_core.codec import tyrant_repl as repl
from kt_core.codec.reader import NEED_MORE, Reader

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "tt-repl.json"

# Every updating command (and one read through misc, which ttserver logs too), as (request, reader).
OPERATIONS: list[tuple[bytes, Any]] = [
    (tt.encode_put(b"a", b"1"), tt.read_put),
    (tt.encode_putkeep(b"a", b"2"), tt.read_putkeep),  # fails: logged with its failure
    (tt.encode_putkeep(b"c", b"3"), tt.read_putkeep),
    (tt.encode_putcat(b"a", b"+"), tt.read_putcat),
    (tt.encode_putshl(b"a", b"xyz", 3), tt.read_putshl),
    (tt.encode_putnr(b"p", b"9"), None),
    (tt.encode_out(b"c"), tt.read_out),
    (tt.encode_out(b"missing"), tt.read_out),  # fails
    (tt.encode_addint(b"n", 5), tt.read_addint),
    (tt.encode_addint(b"n", 0), tt.read_addint),  # adding 0 is not logged
    (tt.encode_adddouble(b"d", 1.5), tt.read_adddouble),
    (tt.encode_misc(b"putlist", [b"k1", b"v1", b"k2", b"v2"]), tt.read_misc),
    (tt.encode_misc(b"outlist", [b"k1"]), tt.read_misc),
    (tt.encode_misc(b"getlist", [b"k2"]), tt.read_misc),  # a read, logged: no RDBMONOULOG
    (tt.encode_misc(b"getlist", [b"k2"], tt.RDBMONOULOG), tt.read_misc),  # not logged
    (tt.encode_sync(), tt.read_sync),
    (tt.encode_optimize(b""), tt.read_optimize),
    (tt.encode_vanish(), tt.read_vanish),
    (tt.encode_put(b"bin", b"\x00\xff"), tt.read_put),
]


class _Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = Reader()

    def call(self, request: bytes, reader_fn: Any) -> Any:
        self.sock.sendall(request)
        if reader_fn is None:
            return None
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
    proc = subprocess.Popen([*command, "-host", "127.0.0.1", "-port", str(port), "-log", "server.log", *args, "*"],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("ttserver did not start")


def _stream(port: int, ts: int, sid: int) -> tuple[bytes, bytes]:
    """Open a repl stream; the request and every byte up to and including the second NOP (or until
    the server closes)."""
    request = repl.encode_repl(ts, sid) if ts > 0 and sid > 0 else (
        bytes((tt.MAGIC, repl.CMD_REPL)) + ts.to_bytes(8, "big") + sid.to_bytes(4, "big"))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request)
    buf = bytearray()
    pos = 0
    nops = 0
    try:
        while True:
            while True:
                fn = repl.read_repl_open if pos == 0 else repl.read_repl_frame
                r = fn(buf, pos, len(buf), 1 << 20)
                if isinstance(r, int):
                    break
                pos = r[0]
                if fn is repl.read_repl_frame and r[3] is None:
                    nops += 1
                    if nops == 2:
                        return request, bytes(buf[:pos])
            data = sock.recv(65536)
            if not data:
                return request, bytes(buf)
            buf += data
    finally:
        sock.close()


def _frames(data: bytes, pos: int, reader: Any) -> tuple[list[dict[str, Any]], list[list[int]]]:
    frames: list[dict[str, Any]] = []
    volatile: list[list[int]] = []
    while pos < len(data):
        f = reader(data, pos, len(data), 1 << 20)
        assert not isinstance(f, int)
        if reader is repl.read_repl_frame and f[3] is None:
            frames.append({"frame": "nop"})
            pos = f[0]
            continue
        volatile.append([pos + 1, 8])
        if reader is repl.read_repl_frame:
            nxt, _ts, sid, message = f
            rec: dict[str, Any] = {"frame": "record", "sid": sid}
        else:
            nxt, _ts, sid, mid, message = f
            rec = {"frame": "ulog_record", "sid": sid, "mid": mid}
        change = repl.decode_message(message, 0, sid)
        rec["change"] = type(change).__name__
        rec["ok"] = change.ok
        for field in ("key", "value", "keep", "width", "num", "name", "args", "op", "body"):
            if hasattr(change, field):
                v = getattr(change, field)
                if isinstance(v, bytes):
                    v = v.decode("latin-1")
                elif isinstance(v, tuple):
                    v = [a.decode("latin-1") for a in v]
                rec[field] = v
        frames.append(rec)
        pos = nxt
    return frames, volatile


def _decode(response: bytes) -> tuple[dict[str, Any], list[list[int]]]:
    """``decoded`` (see VECTORS.md) and the volatile ranges (the time stamps) of a recorded stream."""
    if len(response) < 4:
        return {"master_sid": None, "frames": []}, []
    frames, volatile = _frames(response, 4, repl.read_repl_frame)
    return {"master_sid": int.from_bytes(response[:4], "big"), "frames": frames}, volatile


def record(executable: str | list[str]) -> list[dict[str, Any]]:
    """The scenario, run on ``executable`` (a path, or a command such as the stand-in's)."""
    command = [executable] if isinstance(executable, str) else list(executable)
    vectors: list[dict[str, Any]] = []

    def add(name: str, description: str, server: str, args: list[str], request: bytes, response: bytes) -> None:
        decoded, volatile = _decode(response)
        vectors.append({"name": name, "description": description, "server": server, "server_args": args,
                        "request_hex": request.hex(), "response_hex": response.hex(),
                        "volatile": ["frames[*].ts"], "volatile_ranges": volatile, "decoded": decoded})

    work = tempfile.mkdtemp(prefix="tt-repl-")
    try:
        os.mkdir(f"{work}/ulog")
        args = ["-ulog", "ulog", "-sid", "1"]
        proc, port = _start(command, work, args)
        try:
            conn = _Conn(port)
            for request, reader_fn in OPERATIONS:
                conn.call(request, reader_fn)
            conn.call(tt.encode_rnum(), tt.read_rnum)  # putnr has been applied once a later reply came
            req, resp = _stream(port, 1, 2)
            add("repl_all", "ts=1 sid=2: the master's sid, a NOP, every logged change (each update; a failed "
                "putkeep/out with its failure; addint 0 and a misc with RDBMONOULOG not logged; a misc read "
                "logged), then the next NOP", "ulog", args, req, resp)
            pos = 4
            ts5 = 0
            for _ in range(6):  # the NOP, then 5 records
                f = repl.read_repl_frame(resp, pos, len(resp), 1 << 20)
                assert not isinstance(f, int)
                pos, ts5 = f[0], f[1]
            req, resp = _stream(port, ts5 + 1, 2)
            add("repl_resume", "ts=<the 5th record's ts + 1> sid=2: only the records after it", "ulog", args,
                req, resp)
            req, resp = _stream(port, 1, 1)
            add("repl_own_sid", "ts=1 sid=1 (the master's own id): circular replication is refused, the "
                "connection closed without a byte", "ulog", args, req, resp)
            req, resp = _stream(port, 0, 2)
            add("repl_ts_zero", "ts=0: invalid, the connection closed without a byte", "ulog", args, req, resp)
            conn.sock.close()
        finally:
            proc.terminate()
            proc.wait(10)
        data = Path(f"{work}/ulog/00000001.ulog").read_bytes()
        frames, volatile = _frames(data, 0, repl.read_ulog_record)
        vectors.append({"name": "ulog_file", "description": "the update log file those changes left "
                        "(ulog/00000001.ulog: records without a file head)", "server": "ulog",
                        "server_args": args, "request_hex": "", "response_hex": data.hex(),
                        "volatile": ["frames[*].ts"], "volatile_ranges": volatile,
                        "decoded": {"frames": frames}})
        for args, server, what in ((["-sid", "1"], "sid", "-sid 1 without -ulog"), ([], "plain", "no -sid")):
            proc, port = _start(command, work, args)
            try:
                req, resp = _stream(port, 1, 2)
                add(f"repl_no_ulog_{server}", f"{what}: the master's sid, then the connection closed", server,
                    args, req, resp)
            finally:
                proc.terminate()
                proc.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return vectors


def _key(v: dict[str, Any]) -> tuple[str, str, Any]:
    return v["name"], v["request_hex"] if v["name"] != "repl_resume" else v["request_hex"][:4], v["decoded"]


def test_real_server_answers_as_recorded() -> None:
    executable = shutil.which("ttserver")
    if executable is None:
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail("ttserver is not installed")
        pytest.skip("ttserver is not installed")
    recorded = json.loads(VECTORS.read_text())
    fresh = record(executable)
    assert [_key(v) for v in fresh] == [_key(v) for v in recorded]


if __name__ == "__main__":
    exe = sys.argv[1] if len(sys.argv) > 1 else (shutil.which("ttserver") or "ttserver")
    VECTORS.write_text(json.dumps(record(exe), indent=1) + "\n")
    print(f"wrote {VECTORS}")
