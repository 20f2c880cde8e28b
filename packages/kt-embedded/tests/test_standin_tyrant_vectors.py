"""Replay every recorded Tokyo Tyrant vector against the stand-in and compare the bytes.

The vectors were recorded on ttserver -ext tt-vectors.lua; the stand-in runs that same Lua file.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from kt_embedded.standin.tyrant import TokyoTyrantStandin

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "tt-binary.json"
SCRIPT = VECTORS.parent / "tt-vectors.lua"  # the ext script the vectors were recorded with


def _load() -> list[dict[str, Any]]:
    return json.loads(VECTORS.read_text())  # a missing file fails the test run, as it must


def _servers() -> list[str]:
    seen: list[str] = []
    for v in _load():
        if v["server"] not in seen:
            seen.append(v["server"])
    return seen


def _mask(data: bytes, ranges: list[list[int]]) -> bytes:
    out = bytearray(data)
    for off, length in ranges or ():
        if length < 0:  # "to the end": the length itself varies (stat text)
            del out[off:]
            break
        stop = off + length
        for i in range(off, min(stop, len(out))):
            out[i] = 0
    return bytes(out)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def _start(server_args: list[str], workdir: Path) -> TokyoTyrantStandin:
    scripts: Path | None = None
    args = list(server_args)
    if "-ext" in args:
        i = args.index("-ext")
        assert args[i + 1] == SCRIPT.name
        scripts = SCRIPT
        del args[i:i + 2]
    (database,) = args
    return TokyoTyrantStandin(port=0, database=database, scripts=scripts, workdir=workdir).start()


@pytest.mark.server
@pytest.mark.parametrize("server_name", _servers())
def test_replay_vectors(server_name: str, tmp_path: Path) -> None:
    vectors = [v for v in _load() if v["server"] == server_name]
    server = _start(vectors[0]["server_args"], tmp_path)
    conns: dict[str, socket.socket] = {}
    try:
        for v in vectors:
            conn = conns.get(v["connection"])
            if conn is None:
                conn = conns[v["connection"]] = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            conn.sendall(bytes.fromhex(v["request_hex"]))
            expected = bytes.fromhex(v["response_hex"])
            if v["reply"] == "none":
                conn.settimeout(0.3)
                with pytest.raises(socket.timeout):
                    conn.recv(1)
                conn.settimeout(5)
                continue
            if v["reply"] == "closed":
                assert conn.recv(1) == b"", v["name"]
                del conns[v["connection"]]
                conn.close()
                continue
            # volatile fields may change the length (stat text): read what the length prefix says
            got = _recv_exactly(conn, len(expected)) if not v.get("volatile_ranges") else _read_data(conn, expected)
            assert _mask(got, v.get("volatile_ranges")) == _mask(expected, v.get("volatile_ranges")), v["name"]
            if v["name"] == "stat":  # the values vary; the field names and their order must not
                names = [line.split(b"\t")[0] for line in got[5:].splitlines()]
                assert names == [line.split(b"\t")[0] for line in expected[5:].splitlines()]
    finally:
        for conn in conns.values():
            conn.close()
        server.stop()


def _read_data(conn: socket.socket, expected: bytes) -> bytes:
    if len(expected) == 9:  # size: code + u64
        return _recv_exactly(conn, 9)
    head = _recv_exactly(conn, 5)  # stat: code + u32 size + text
    return head + _recv_exactly(conn, int.from_bytes(head[1:5], "big"))


def test_copy_vector_writes_the_file_in_the_workdir(tmp_path: Path) -> None:
    server = _start(["*"], tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(bytes.fromhex("c8730000000b74742d636f70792e746368"))
            assert conn.recv(1) == b"\x00"
        assert (tmp_path / "tt-copy.tch").exists()
    finally:
        server.stop()


def test_every_function_of_the_vector_script_is_replayed() -> None:
    lua = SCRIPT.read_text(encoding="utf-8")  # a missing file fails the test
    functions = {line.split()[1].split("(")[0] for line in lua.splitlines() if line.startswith("function ")}
    called = set()
    for v in _load():
        request = bytes.fromhex(v["request_hex"])
        if request[:2] == b"\xc8\x68":  # ext: magic, command, then the name's size and the options
            size = int.from_bytes(request[2:6], "big")
            called.add(request[18:18 + size].decode())
    assert functions and functions <= called
