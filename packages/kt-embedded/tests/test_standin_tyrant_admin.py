"""Tokyo Tyrant stand-in: -mask/-unmask, restore from update logs, setmst in stat, the in-memory
databases' misc iterinit/cacheclear/defrag.

Where ttserver is installed the same requests go to it too and the answers must match: what the
stand-in does here was read off ttserver 1.1.41 (and its source), not guessed.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kt_core.codec import tyrant as T
from kt_embedded.managers import EmbeddedTokyoTyrantServer, real_server_available
from kt_embedded.standin.tyrant import TokyoTyrantStandin, command_mask

pytestmark = pytest.mark.server

REAL = real_server_available("ttserver")
T0 = 1_500_000_000 * 1_000_000  # a time stamp (usec) for hand-written update logs


def _call(sock: socket.socket, request: bytes, reader: Any) -> tuple[int, Any]:
    sock.sendall(request)
    buf = b""
    while True:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buf += chunk
        r = reader(buf, 0, len(buf), 1 << 20)
        if not isinstance(r, int):
            return r[1], r[2]


@contextmanager
def _standin(records: dict[bytes, bytes] | None = None, **options: Any) -> Iterator[socket.socket]:
    with TokyoTyrantStandin(port=0, **options) as server:
        for key, value in (records or {}).items():
            server.db.put(key, value)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            yield sock


@contextmanager
def _real(cwd: Path, *args: str, database: str = "*") -> Iterator[socket.socket]:
    manager = EmbeddedTokyoTyrantServer(database=database, server_args=list(args), cwd=str(cwd))
    manager.run()
    try:
        assert manager.port is not None
        with socket.create_connection(("127.0.0.1", manager.port), timeout=5) as sock:
            yield sock
    finally:
        manager.stop()


def _logged(request: bytes, succeeded: bool = True) -> bytes:
    if request[1] == 0x90:  # misc: the update log leaves out the options field
        request = request[:6] + request[10:]
    return request + (b"\x00" if succeeded else b"\x01")


def _ulog(directory: Path, number: int, records: list[tuple[int, bytes]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = b"".join(struct.pack(">BQHHI", 0xC9, ts, 1, 0, len(m)) + m for ts, m in records)
    (directory / f"{number:08d}.ulog").write_bytes(data)


def _dump(sock: socket.socket) -> dict[bytes, bytes]:
    code, records = _call(sock, T.encode_misc(b"range", [b"", b"0"], T.RDBMONOULOG), T.read_misc)
    if code == 0:  # a tree: every record in key order
        return dict(zip(records[0::2], records[1::2]))
    assert _call(sock, T.encode_iterinit(), T.read_iterinit)[0] == 0
    out = {}
    while True:
        code, key = _call(sock, T.encode_iternext(), T.read_iternext)
        if code:
            return out
        out[key] = _call(sock, T.encode_get(key), T.read_get)[1]


# ---------------------------------------------------------------- -mask


def test_command_mask_reads_names_groups_and_hex_as_ttserver() -> None:
    assert command_mask("put") == 1
    assert command_mask("PUT,putKeep") == 0b11  # case-insensitive, comma-separated
    assert command_mask("put misc") == 1 | 1 << 24  # or space-separated
    assert command_mask("0x6") == 0b110 and command_mask("0X6") == 0b110 and command_mask("0x6zz") == 0b110
    assert command_mask("bogus,,") == 0  # unknown names are ignored
    assert command_mask("all") == (1 << 64) - 1
    assert command_mask("allorg") == 1 << 27 and command_mask("allwrite") == 1 << 31
    assert command_mask("allmanage") == 1 << 32 and command_mask("allread") == 1 << 30


# Every binary command once, with what ttserver 1.1.41 answers when it is forbidden (probed with -mask).
MASKED = [
    ("put", T.encode_put(b"k", b"v"), T.read_put, (1, None)),
    ("putkeep", T.encode_putkeep(b"k", b"v"), T.read_putkeep, (1, None)),
    ("putcat", T.encode_putcat(b"k", b"v"), T.read_putcat, (1, None)),
    ("putshl", T.encode_putshl(b"k", b"v", 1), T.read_putshl, (1, None)),
    ("out", T.encode_out(b"k"), T.read_out, (1, None)),
    ("get", T.encode_get(b"k"), T.read_get, (1, None)),
    ("mget", T.encode_mget([b"k"]), T.read_mget, (0, [])),
    ("vsiz", T.encode_vsiz(b"k"), T.read_vsiz, (1, None)),
    ("iterinit", T.encode_iterinit(), T.read_iterinit, (1, None)),
    ("iternext", T.encode_iternext(), T.read_iternext, (1, None)),
    ("fwmkeys", T.encode_fwmkeys(b"", -1), T.read_fwmkeys, (0, [])),
    ("addint", T.encode_addint(b"i", 1), T.read_addint, (1, None)),
    ("adddouble", T.encode_adddouble(b"d", 1.0), T.read_adddouble, (1, None)),
    ("ext", T.encode_ext(b"x"), T.read_ext, (1, None)),
    ("sync", T.encode_sync(), T.read_sync, (1, None)),
    ("optimize", T.encode_optimize(b""), T.read_optimize, (1, None)),
    ("vanish", T.encode_vanish(), T.read_vanish, (1, None)),
    ("copy", T.encode_copy(b"/nonexistent-dir/c.tch"), T.read_copy, (1, None)),
    ("restore", T.encode_restore(b"/", 0, 0), T.read_restore, (1, None)),
    ("setmst", T.encode_setmst(b"", 0, 0, 0), T.read_setmst, (1, None)),
    ("rnum", T.encode_rnum(), T.read_rnum, (0, 0)),
    ("size", T.encode_size(), T.read_size, (0, 0)),
    ("misc", T.encode_misc(b"put", [b"k", b"v"]), T.read_misc, (0, [])),  # success, nothing done
]


def _check_masked(sock: socket.socket) -> None:
    for name, request, reader, expected in MASKED:
        assert _call(sock, request, reader) == expected, name
    code, text = _call(sock, T.encode_stat(), T.read_stat)
    names = list(T.parse_stat(text))
    assert code == 0 and names and all(n.startswith("cnt_") for n in names)  # only the counters
    sock.sendall(T.encode_putnr(b"k", b"v"))  # no reply, forbidden or not
    assert _call(sock, T.encode_get(b"k"), T.read_get) == (1, None)


def test_mask_all_forbids_every_command_as_ttserver() -> None:
    with _standin(mask=command_mask("all")) as sock:
        _check_masked(sock)


@pytest.mark.skipif(not REAL, reason="ttserver is not installed")
def test_mask_all_on_ttserver(tmp_path: Path) -> None:
    with _real(tmp_path, "-mask", "all") as sock:
        _check_masked(sock)


@pytest.mark.parametrize(("expr", "allowed", "forbidden"), [
    ("allwrite", ["get", "sync", "copy", "rnum"], ["put", "putcat", "out", "addint", "vanish"]),
    ("allmanage", ["get", "put", "vanish"], ["sync", "optimize", "copy", "restore", "setmst"]),
    ("allread", ["put", "sync"], ["get", "vsiz", "iterinit"]),
    ("allorg", [], ["put", "get", "sync", "setmst", "vanish"]),
    ("0x1", ["putkeep", "get"], ["put"]),
])
def test_mask_groups(expr: str, allowed: list[str], forbidden: list[str], tmp_path: Path) -> None:
    requests = {name: (request, reader) for name, request, reader, _ in MASKED}
    requests["copy"] = (T.encode_copy(str(tmp_path / "c.tch").encode()), T.read_copy)
    requests["restore"] = (T.encode_restore(str(tmp_path).encode(), 0, 0), T.read_restore)
    requests["get"] = (T.encode_get(b"g"), T.read_get)  # a record that exists: only a forbidden get fails
    requests["vsiz"] = (T.encode_vsiz(b"g"), T.read_vsiz)
    with _standin(records={b"g": b"v"}, mask=command_mask(expr)) as sock:
        for name in allowed:
            assert _call(sock, *requests[name])[0] == 0, (expr, name)
        for name in forbidden:
            assert _call(sock, *requests[name])[0] == 1, (expr, name)


def _cli_put_code(args: list[str]) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "kt_embedded.standin.tyrant", "-port", "0", *args, "*"],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().rsplit(":", 1)[1])  # type: ignore[union-attr]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            return _call(sock, T.encode_put(b"k", b"v"), T.read_put)[0]
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_mask_and_unmask_apply_in_order() -> None:
    # ttserver: mask |= each -mask, mask &= ~each -unmask, left to right
    assert _cli_put_code(["-mask", "put"]) == 1
    assert _cli_put_code(["-mask", "put", "-unmask", "put"]) == 0
    assert _cli_put_code(["-unmask", "put", "-mask", "put"]) == 1
    assert _cli_put_code(["-mask", "allwrite,put", "-unmask", "allwrite"]) == 1  # put's own bit stays


# ---------------------------------------------------------------- restore


def test_restore_replays_records_from_the_time_stamp(tmp_path: Path) -> None:
    _ulog(tmp_path / "ulog", 1, [
        (T0 + 1, _logged(T.encode_put(b"a", b"1"))),
        (T0 + 2, _logged(T.encode_putshl(b"a", b"234", 3))),
        (T0 + 3, _logged(T.encode_adddouble(b"d", 1.5))),
        (T0 + 4, _logged(T.encode_misc(b"putlist", [b"b", b"2", b"c", b"3"]))),
        (T0 + 5, _logged(T.encode_misc(b"outlist", [b"c"]))),
    ])
    with _standin() as sock:
        path = str(tmp_path / "ulog").encode()
        assert _call(sock, T.encode_restore(path, 0, 0), T.read_restore) == (0, None)
        assert _dump(sock) == {b"a": b"234", b"b": b"2", b"d": struct.pack("<d", 1.5)}
        assert _call(sock, T.encode_vanish(), T.read_vanish)[0] == 0
        assert _call(sock, T.encode_restore(path, T0 + 4, 0), T.read_restore) == (0, None)
        assert _dump(sock) == {b"b": b"2"}


def _record(key: bytes, value: bytes) -> bytes:
    message = _logged(T.encode_put(key, value))
    return struct.pack(">BQHHI", 0xC9, T0, 1, 0, len(message)) + message


def _bad_records_case(tmp_path: Path) -> list[tuple[Path, dict[bytes, bytes]]]:
    """Logs with a bad record, and what a restore of each leaves (tculrdread's rules)."""
    cases = []
    for name, files in [
        # a bad magic byte ends the replay, with success
        ("magic", [_record(b"a", b"1") + b"\xc0" + _record(b"b", b"2")[1:], _record(b"c", b"3")]),
        # a record cut off in its message ends it too
        ("body", [_record(b"a", b"1") + _record(b"b", b"2")[:-3], _record(b"c", b"3")]),
        # a file ending inside a record's head is done with: the next file is read
        ("head", [_record(b"a", b"1") + _record(b"b", b"2")[:10], _record(b"c", b"3")]),
    ]:
        directory = tmp_path / name
        directory.mkdir()
        for number, data in enumerate(files, 1):
            (directory / f"{number:08d}.ulog").write_bytes(data)
        cases.append((directory, {b"a": b"1", b"c": b"3"} if name == "head" else {b"a": b"1"}))
    return cases


def _check_bad_records(sock: socket.socket, tmp_path: Path) -> None:
    for directory, expected in _bad_records_case(tmp_path):
        assert _call(sock, T.encode_vanish(), T.read_vanish)[0] == 0
        assert _call(sock, T.encode_restore(str(directory).encode(), 0, 0), T.read_restore) == (0, None)
        assert _dump(sock) == expected, directory.name


def test_restore_stops_quietly_at_a_bad_record(tmp_path: Path) -> None:
    with _standin() as sock:
        _check_bad_records(sock, tmp_path)


@pytest.mark.skipif(not REAL, reason="ttserver is not installed")
def test_restore_stops_quietly_at_a_bad_record_on_ttserver(tmp_path: Path) -> None:
    with _real(tmp_path) as sock:
        _check_bad_records(sock, tmp_path)


def _restore_case(tmp_path: Path) -> Path:
    # three files; the second is missing: the reader walks back from the newest file while they exist
    _ulog(tmp_path / "ulog", 1, [(T0 + 1, _logged(T.encode_put(b"one", b"1")))])
    _ulog(tmp_path / "ulog", 3, [(T0 + 3, _logged(T.encode_put(b"three", b"3")))])
    _ulog(tmp_path / "ulog", 4, [(T0 + 4, _logged(T.encode_putkeep(b"three", b"x"), succeeded=False))])
    (tmp_path / "ulog" / "notes.txt").write_text("not a log")
    return tmp_path / "ulog"


def _check_restore_case(sock: socket.socket, ulog: Path) -> None:
    path = str(ulog).encode()
    assert _call(sock, T.encode_restore(path, 0, 0), T.read_restore) == (0, None)
    assert _dump(sock) == {b"three": b"3"}  # file 1 is never reached past the gap
    # the putkeep was logged as failed and fails again: consistent, even with the check
    assert _call(sock, T.encode_restore(path, 0, T.RDBROCHKCON), T.read_restore) == (0, None)
    assert _call(sock, T.encode_out(b"three"), T.read_out)[0] == 0
    # now the putkeep succeeds where it had failed: inconsistent, and the check stops there
    assert _call(sock, T.encode_restore(path, T0 + 4, T.RDBROCHKCON), T.read_restore) == (1, None)
    assert _dump(sock) == {b"three": b"x"}


def test_restore_file_walk_and_consistency_check(tmp_path: Path) -> None:
    ulog = _restore_case(tmp_path)
    with _standin() as sock:
        _check_restore_case(sock, ulog)


@pytest.mark.skipif(not REAL, reason="ttserver is not installed")
def test_restore_file_walk_and_consistency_check_on_ttserver(tmp_path: Path) -> None:
    ulog = _restore_case(tmp_path)
    with _real(tmp_path) as sock:
        _check_restore_case(sock, ulog)


@pytest.mark.skipif(not REAL, reason="ttserver is not installed")
@pytest.mark.parametrize("database", ["*", "+", "db.tcb"])
def test_restore_replays_a_log_ttserver_wrote(tmp_path: Path, database: str) -> None:
    ulog = tmp_path / "ulog"
    ulog.mkdir()
    requests = [
        (T.encode_put(b"a", b"1"), T.read_put), (T.encode_putkeep(b"a", b"no"), T.read_putkeep),
        (T.encode_putkeep(b"b", b"2"), T.read_putkeep), (T.encode_putcat(b"a", b"+"), T.read_putcat),
        (T.encode_putshl(b"b", b"345", 2), T.read_putshl), (T.encode_addint(b"i", 7), T.read_addint),
        (T.encode_adddouble(b"f", 0.25), T.read_adddouble), (T.encode_out(b"missing"), T.read_out),
        (T.encode_misc(b"putlist", [b"c", b"3", b"d", b"4"]), T.read_misc),
        (T.encode_misc(b"outlist", [b"d"]), T.read_misc), (T.encode_misc(b"put", [b"e", b"5"]), T.read_misc),
        (T.encode_misc(b"put", [b"z", b"nolog"], T.RDBMONOULOG), T.read_misc),
        (T.encode_put(b"gone", b"x"), T.read_put), (T.encode_out(b"gone"), T.read_out),
    ]
    with _real(tmp_path, "-ulog", str(ulog), "-sid", "1", database="*") as source:
        for request, reader in requests:
            _call(source, request, reader)
        expected = _dump(source)
        del expected[b"z"]  # written without the update log
    assert any(ulog.glob("*.ulog"))
    db = database if database in ("*", "+") else str(tmp_path / database)
    with _standin(database=db) as sock:
        assert _call(sock, T.encode_restore(str(ulog).encode(), 0, T.RDBROCHKCON), T.read_restore) == (0, None)
        assert _dump(sock) == expected


# ---------------------------------------------------------------- setmst, iterinit, cacheclear, defrag


def test_setmst_shows_master_and_time_stamp_in_stat(tmp_path: Path) -> None:
    with _standin(rts=str(tmp_path / "ttserver.rts")) as sock:
        assert _call(sock, T.encode_setmst(b"master.example", 1979, 0, 0), T.read_setmst) == (0, None)
        stat = T.parse_stat(_call(sock, T.encode_stat(), T.read_stat)[1])
        names = list(stat)
        assert names[names.index("bigend") + 1:names.index("bigend") + 5] == ["mhost", "mport", "rts", "delay"]
        assert (stat["mhost"], stat["mport"], stat["rts"]) == ("master.example", 1979, 0)
        assert _call(sock, T.encode_setmst(b"master.example", 1979, T0, 1), T.read_setmst) == (0, None)
        # As on ttserver, the slave takes the new time stamp at its next round (once a second).
        deadline = time.monotonic() + 10
        while True:
            stat = T.parse_stat(_call(sock, T.encode_stat(), T.read_stat)[1])
            if stat["rts"] == T0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert stat["rts"] == T0 and abs(float(stat["delay"]) - (time.time() - T0 / 1e6)) < 5
        assert _call(sock, T.encode_setmst(b"", 0, 0, 0), T.read_setmst) == (0, None)
        assert "mhost" not in T.parse_stat(_call(sock, T.encode_stat(), T.read_stat)[1])


def _misc(sock: socket.socket, name: bytes, *args: bytes) -> tuple[int, Any]:
    return _call(sock, T.encode_misc(name, list(args), T.RDBMONOULOG), T.read_misc)


def _check_memory_iterinit(sock: socket.socket, tree: bool) -> None:
    for key in (b"a", b"b", b"c"):
        _call(sock, T.encode_put(key, key), T.read_put)
    assert _misc(sock, b"iterinit", b"b")[0] == 0
    assert _misc(sock, b"iternext")[1][0] == b"b"
    if tree:
        assert _misc(sock, b"iterinit", b"bb") == (0, [])  # the next key on
        assert _misc(sock, b"iternext") == (0, [b"c", b"c"])
        assert _misc(sock, b"iterinit", b"zz") == (0, [])  # past the end: nothing left, no error
        assert _misc(sock, b"iternext") == (1, [])
    else:
        while _misc(sock, b"iternext")[0] == 0:
            pass  # to the end
        assert _misc(sock, b"iterinit", b"missing") == (0, [])  # ignored: the iterator stays at the end
        assert _misc(sock, b"iternext") == (1, [])
    for name in (b"cacheclear", b"defrag"):
        assert _misc(sock, name) == (1, []), name  # not functions of the in-memory databases


@pytest.mark.parametrize("database", ["*", "+"])
def test_memory_databases_misc_iterinit_cacheclear_defrag(database: str) -> None:
    with _standin(database=database) as sock:
        _check_memory_iterinit(sock, tree=database == "+")


@pytest.mark.skipif(not REAL, reason="ttserver is not installed")
@pytest.mark.parametrize("database", ["*", "+"])
def test_memory_databases_misc_iterinit_cacheclear_defrag_on_ttserver(database: str, tmp_path: Path) -> None:
    with _real(tmp_path, database=database) as sock:
        _check_memory_iterinit(sock, tree=database == "+")


@pytest.mark.parametrize("database", ["t.tch", "t.tcb", "t.tct"])
def test_file_databases_misc_iterinit_cacheclear_defrag(database: str, tmp_path: Path) -> None:
    with _standin(database=str(tmp_path / database)) as sock:
        if database.endswith(".tct"):
            _call(sock, T.encode_put(b"a", b"c\x00v"), T.read_put)
        else:
            _call(sock, T.encode_put(b"a", b"v"), T.read_put)
        assert _misc(sock, b"iterinit", b"zz")[0] == 1  # the file databases refuse a key they cannot start at
        for name in (b"cacheclear", b"defrag"):
            assert _misc(sock, name) == (0, []), name
        assert _misc(sock, b"defrag", b"5") == (0, [])
