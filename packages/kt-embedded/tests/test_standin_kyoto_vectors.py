"""Fidelity: every recorded Kyoto Tycoon vector (HTTP and binary) is reproduced by the stand-in.

Each vector file is replayed in file order per ``server`` on one TCP connection per ``connection``
value, against a stand-in started with the vector's ``server_args``: ``-scr kt-vectors.lua`` runs
that very file (testdata/vectors/kt-vectors.lua, the script the vectors were recorded with) in the
stand-in's Lua. Responses are compared byte for byte with the volatile fields masked.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from kt_embedded.standin.kt_lua import LuaScripts
from kt_embedded.standin.kyoto import KyotoTycoonStandin, load_scripts

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"
SCRIPT = VECTORS / "kt-vectors.lua"  # the script ktserver ran while the vectors were recorded


def _load(name: str) -> list[dict[str, Any]]:
    path = VECTORS / name
    assert path.is_file(), f"missing vector file {path}"  # fail, never skip
    return json.loads(path.read_text(encoding="utf-8"))


def _groups(vectors: list[dict[str, Any]]) -> OrderedDict[str, list[dict[str, Any]]]:
    groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for vec in vectors:
        groups.setdefault(vec["server"], []).append(vec)
    return groups


def _start(server_args: list[str]) -> KyotoTycoonStandin:
    args = list(server_args)
    scripts = None
    if "-scr" in args:
        i = args.index("-scr")
        assert args[i + 1] == SCRIPT.name
        assert SCRIPT.is_file(), f"missing {SCRIPT}"  # fail, never skip
        scripts = load_scripts(str(SCRIPT))
        del args[i : i + 2]
    return KyotoTycoonStandin(databases=args, scripts=scripts).start()


def _recv_exactly(sock: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _recv_http(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """One HTTP response: headers, then Content-Length bytes of body."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"\r\nContent-Length: (\d+)", head)
    need = int(m.group(1)) if m else 0
    if len(body) < need:
        body += _recv_exactly(sock, need - len(body), timeout)
    return head + b"\r\n\r\n" + body


def _expect_silence(sock: socket.socket) -> None:
    sock.settimeout(0.3)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return
    raise AssertionError(f"expected no reply, got {data!r}")


def _expect_closed(sock: socket.socket) -> None:
    sock.settimeout(3.0)
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        return
    assert data == b"", f"expected the connection closed, got {data!r}"


def _mask_binary(data: bytes, ranges: list[list[int]]) -> bytes:
    buf = bytearray(data)
    for off, length in ranges:
        end = len(buf) if length == -1 else off + length
        buf[off:end] = b"\0" * (end - off)
    return bytes(buf)


def _split_http(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
    return lines[0], headers, body  # type: ignore[return-value]


def _body_records(body: bytes) -> list[tuple[bytes, bytes]]:
    return [tuple(line.split(b"\t", 1)) for line in body.split(b"\n") if line]  # type: ignore[misc]


def _compare_http(vec: dict[str, Any], got: bytes) -> None:
    want = bytes.fromhex(vec["response_hex"])
    volatile = vec.get("volatile", [])
    vol_headers = {v.split(":", 1)[1].lower().encode() for v in volatile if v.startswith("header:")}
    vol_records = {v.split(":", 1)[1].encode() for v in volatile if v.startswith("record:")}
    wline, wheaders, wbody = _split_http(want)
    gline, gheaders, gbody = _split_http(got)
    name = vec["name"]
    assert gline == wline, f"{name}: status line {gline!r} != {wline!r}"
    assert [h[0] for h in gheaders] == [h[0] for h in wheaders], f"{name}: header names {gheaders} != {wheaders}"
    for (hname, gval), (_, wval) in zip(gheaders, wheaders):
        if hname.lower() not in vol_headers:
            assert gval == wval, f"{name}: header {hname!r}: {gval!r} != {wval!r}"
    if b"*" in vol_records:
        return
    if not vol_records:
        assert gbody == wbody, f"{name}: body {gbody!r} != {wbody!r}"
        return
    grecs, wrecs = _body_records(gbody), _body_records(wbody)
    assert [k for k, _ in grecs] == [k for k, _ in wrecs], f"{name}: record keys differ: {grecs} vs {wrecs}"
    for (key, gval), (_, wval) in zip(grecs, wrecs):
        if key not in vol_records:
            assert gval == wval, f"{name}: record {key!r}: {gval!r} != {wval!r}"


def _replay(vectors: list[dict[str, Any]], http: bool) -> int:
    compared = 0
    for server_name, group in _groups(vectors).items():
        server = _start(group[0]["server_args"])
        conns: dict[str, socket.socket] = {}
        try:
            for vec in group:
                sock = conns.get(vec["connection"])
                if sock is None:
                    sock = conns[vec["connection"]] = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                sock.sendall(bytes.fromhex(vec["request_hex"]))
                if vec["reply"] == "none":
                    _expect_silence(sock)
                elif vec["reply"] == "closed":
                    _expect_closed(sock)
                    del conns[vec["connection"]]
                    sock.close()
                elif http:
                    _compare_http(vec, _recv_http(sock))
                    if vec["decoded"].get("connection_closed"):
                        _expect_closed(sock)
                        del conns[vec["connection"]]
                        sock.close()
                else:
                    want = bytes.fromhex(vec["response_hex"])
                    got = _recv_exactly(sock, len(want))
                    ranges = vec.get("volatile_ranges") or []
                    assert _mask_binary(got, ranges) == _mask_binary(want, ranges), (
                        f"{server_name}/{vec['name']}: {got[:80].hex()} != {want[:80].hex()}"
                    )
                    _expect_silence(sock) if vec is group[-1] else None
                compared += 1
        finally:
            for sock in conns.values():
                sock.close()
            server.stop()
    return compared


def test_http_vectors_reproduced() -> None:
    vectors = _load("kt-http.json")
    assert _replay(vectors, http=True) == len(vectors)


def test_binary_vectors_reproduced() -> None:
    vectors = _load("kt-binary.json")
    assert _replay(vectors, http=False) == len(vectors)


@pytest.mark.parametrize("name", ["get_bulk_relative_xt"])
def test_relative_xt_is_now_plus_seconds(name: str) -> None:
    """The masked xt of a relative-expiry record is still checked: it is about now + 3600."""
    vec = next(v for v in _load("kt-binary.json") if v["name"] == name)
    with _start(["*", "%"]) as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(bytes.fromhex("b8000000000000000100000000000500000005") + (3600).to_bytes(8, "big")
                     + b"gammathree")
        assert _recv_exactly(sock, 5) == b"\xb8\x00\x00\x00\x01"
        sock.sendall(bytes.fromhex(vec["request_hex"]))
        got = _recv_exactly(sock, len(bytes.fromhex(vec["response_hex"])))
        xt = int.from_bytes(got[15:23], "big")
        assert abs(xt - (time.time() + 3600)) < 5


def test_every_function_of_the_recorded_script_runs_on_the_standin() -> None:
    """The stand-in runs kt-vectors.lua itself: each of its functions answers (none is "not implemented")."""
    lua = SCRIPT.read_text(encoding="utf-8")
    names = [line.split()[1].split("(")[0] for line in lua.splitlines() if line.startswith("function ")]
    assert names
    scripts = load_scripts(str(SCRIPT))
    assert isinstance(scripts, LuaScripts)
    with KyotoTycoonStandin(databases=("*",), scripts=scripts) as server:
        for name in names:
            assert server._call_script(name, {})[0] != 501, name
        assert server._call_script("nosuchfunction", {})[0] == 501
