"""Tokyo Tyrant stand-in as a server: CLI, malformed input, the shared iterator, ext scripts."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kt_core.codec import tyrant as T
from kt_embedded.standin.tyrant import TokyoTyrantStandin

SCRIPTS = Path(__file__).resolve().parents[1] / "src" / "kt_embedded" / "scripts"


def _call(sock: socket.socket, request: bytes, reader: object) -> tuple[int, object]:
    sock.sendall(request)
    buf = b""
    while True:
        chunk = sock.recv(65536)
        assert chunk
        buf += chunk
        r = reader(buf, 0, len(buf), 1 << 20)  # type: ignore[operator]
        if not isinstance(r, int):
            return r[1], r[2]


@pytest.mark.server
def test_cli_subprocess_port_0_runs_the_lua_ext(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kt_embedded.standin.tyrant", "-port", "0", "-ext",
                             str(SCRIPTS / "tt_test.lua"), "*"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            assert _call(s, T.encode_ext(b"pair", b"k", b"v"), T.read_ext) == (0, b"k=v")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.server
def test_malformed_input_closes_only_that_connection() -> None:
    with TokyoTyrantStandin(port=0) as server:
        good = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        bad = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        bad.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert bad.recv(1) == b""
        assert _call(good, T.encode_put(b"a", b"1"), T.read_put) == (0, None)
        huge = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        huge.sendall(b"\xc8\x10\xff\xff\xff\xff\xff\xff\xff\xff")  # lengths beyond the request bound
        assert huge.recv(1) == b""
        assert _call(good, T.encode_get(b"a"), T.read_get) == (0, b"1")
        for s in (good, bad, huge):
            s.close()


@pytest.mark.server
def test_one_iterator_shared_by_all_clients() -> None:
    with TokyoTyrantStandin(port=0, database="+") as server:
        a = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        b = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        for k in (b"x", b"y", b"z"):
            _call(a, T.encode_put(k, k), T.read_put)
        assert _call(a, T.encode_iterinit(), T.read_iterinit)[0] == 0
        assert _call(a, T.encode_iternext(), T.read_iternext) == (0, b"x")
        assert _call(b, T.encode_iternext(), T.read_iternext) == (0, b"y")  # b continues a's iteration
        assert _call(a, T.encode_iternext(), T.read_iternext) == (0, b"z")
        assert _call(b, T.encode_iternext(), T.read_iternext)[0] == 1
        a.close()
        b.close()


@pytest.mark.server
def test_tt_test_script_functions() -> None:
    with TokyoTyrantStandin(port=0, scripts=SCRIPTS / "tt_test.lua") as server:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        assert _call(s, T.encode_ext(b"add", b"n", b"2"), T.read_ext) == (0, b"2")
        assert _call(s, T.encode_ext(b"add", b"n", b"-5", T.RDBXOLCKGLB), T.read_ext) == (0, b"-3")
        assert _call(s, T.encode_ext(b"add", b"n", b"1.5"), T.read_ext) == (1, None)  # integers only
        assert _call(s, T.encode_ext(b"getset", b"n", b"new"), T.read_ext) == (0, b"-3")
        assert _call(s, T.encode_ext(b"add", b"n", b"1"), T.read_ext) == (1, None)  # "new" is no integer
        assert _call(s, T.encode_ext(b"getset", b"fresh", b"x"), T.read_ext) == (0, b"")
        assert _call(s, T.encode_ext(b"lines"), T.read_ext) == (0, b"first\nsecond\tcolumn\n\nlast")
        assert _call(s, T.encode_ext(b"rawbytes"), T.read_ext) == (0, b"\xff\x00\xfe\x00\x01\r\n")
        assert _call(s, T.encode_ext(b"reject"), T.read_ext) == (1, None)
        assert _call(s, T.encode_ext(b"nosuch"), T.read_ext) == (1, None)
        s.close()



@pytest.mark.server
@pytest.mark.parametrize(("spec", "type_name"), [
    ("*", "on-memory hash"), ("+", "on-memory tree"), ("t.tch", "hash"), ("t.tcb", "B+ tree"), ("t.tct", "table"),
])
def test_stat_type_names_as_ttserver(spec: str, type_name: str, tmp_path: Path) -> None:
    # the names the real ttserver 1.1.41 reports in stat for each database spec
    database = spec if spec in ("*", "+") else str(tmp_path / spec)
    with TokyoTyrantStandin(port=0, database=database) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        code, text = _call(sock, T.encode_stat(), T.read_stat)
        assert code == 0
        assert T.parse_stat(text)["type"] == type_name  # type: ignore[arg-type]
