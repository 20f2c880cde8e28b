"""The Tokyo Tyrant stand-in's update log and repl: it streams and writes what the real ttserver 1.1.41
streams and writes (testdata/vectors/tt-repl.json, time stamps masked), a real ttserver slave
replicates from it and it from a real master with the same records, and two servers are each
other's master."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from kt_core.codec import tyrant_repl as repl
from kt_embedded.managers import STANDIN, EmbeddedTokyoTyrantServer, real_server_available
from kt_embedded.standin.tt_ulog import UpdateLog

ROOT = Path(__file__).resolve().parents[3]
VECTORS = json.loads((ROOT / "testdata" / "vectors" / "tt-repl.json").read_text())


def _recorder() -> Any:
    path = ROOT / "packages" / "kt-core" / "tests" / "test_tyrant_repl_record.py"
    spec = importlib.util.spec_from_file_location("tt_repl_recorder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _masked(hex_bytes: str, ranges: list[list[int]]) -> bytes:
    data = bytearray(bytes.fromhex(hex_bytes))
    for off, length in ranges:
        data[off : off + length] = b"\0" * length
    return bytes(data)


def test_standin_streams_and_logs_what_the_real_server_did() -> None:
    fresh = {v["name"]: v for v in _recorder().record([sys.executable, "-m", "kt_embedded.standin.tyrant"])}
    assert list(fresh) == [v["name"] for v in VECTORS]
    for v in VECTORS:
        got = fresh[v["name"]]
        assert got["decoded"] == v["decoded"], v["name"]
        assert got["volatile_ranges"] == v["volatile_ranges"], v["name"]
        assert _masked(got["response_hex"], v["volatile_ranges"]) == _masked(v["response_hex"], v["volatile_ranges"])
        if v["name"] != "repl_resume":  # its ts is the run's own
            assert got["request_hex"] == v["request_hex"]


def test_update_log_reader_follows_rotation_and_starts_at_the_oldest_file_left(tmp_path: Path) -> None:
    log = UpdateLog(str(tmp_path), limit=100)
    try:
        message = repl.encode_log_message(b"\xc8\x20\x00\x00\x00\x01k", True)
        tss = [log.write(1, 0, message) for _ in range(30)]
        assert tss == sorted(set(tss))
        files = sorted(os.listdir(tmp_path))
        assert len(files) > 3 and files[0] == "00000001.ulog"
        reader = log.reader(1)
        got = []
        while (rec := reader.read()) is not None:
            got.append(rec)
        assert [r[0] for r in got] == tss and all(r[1:] == (1, 0, message) for r in got)
        resumed = log.reader(tss[10] + 1)
        assert resumed.read() == got[11]
        # files removed by hand: a new reader starts at the oldest one left, whatever its time stamp
        os.remove(tmp_path / files[0])
        os.remove(tmp_path / files[1])
        after = log.reader(1)
        first = after.read()
        assert first is not None and first[0] > tss[0] and first in got
        log.write(2, 1, message)
        last = None
        while (rec := reader.read()) is not None:  # it follows the log as it grows
            last = rec
        assert last is not None and last[1:] == (2, 1, message)
        for r in (reader, resumed, after):
            r.close()
    finally:
        log.close()
    # a directory written before is continued: its highest file, time stamps after the last
    again = UpdateLog(str(tmp_path), limit=100)
    try:
        assert again.max == max(int(n[:8]) for n in os.listdir(tmp_path))
    finally:
        again.close()


@pytest.fixture
def start() -> Iterator[Callable[..., EmbeddedTokyoTyrantServer]]:
    started: list[EmbeddedTokyoTyrantServer] = []

    def run(server: str, *server_args: str) -> EmbeddedTokyoTyrantServer:
        manager = EmbeddedTokyoTyrantServer(server=server, database="*", server_args=list(server_args), quiet=True)
        started.append(manager)
        manager.run()
        return manager

    yield run
    for manager in reversed(started):
        manager.stop()


def _need_real(*servers: str) -> None:
    if "ttserver" in servers and not real_server_available("ttserver"):
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail("ttserver is not installed")
        pytest.skip("ttserver is not installed")


def _ulog(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.mkdir()
    return str(path)


def _dump(tt: Any) -> dict[bytes, bytes]:
    return tt.get_bulk_raw(tt.keys())  # type: ignore[no-any-return]


def _changes(tt: Any) -> list[tuple[Any, ...]]:
    """The data changes of a server's log, without their time stamps."""
    out = []
    for c in tt.replicate(wait=0, sid=9):
        if isinstance(c, repl.OtherChange):
            continue
        fields = {k: v for k, v in vars(c).items() if k != "ts"}
        out.append((type(c).__name__, tuple(sorted(fields.items()))))
    return out


def _wait_for(check: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize(("master_server", "slave_server"),
                         [(STANDIN, "ttserver"), ("ttserver", STANDIN), (STANDIN, STANDIN)],
                         ids=["standin-master-real-slave", "real-master-standin-slave", "standin-both"])
def test_slave_replicates_from_master(start: Callable[..., EmbeddedTokyoTyrantServer], tmp_path: Path,
                                      master_server: str, slave_server: str) -> None:
    _need_real(master_server, slave_server)
    master = start(master_server, "-ulog", _ulog(tmp_path, "m-ulog"), "-sid", "1")
    tt = master.make_client(decode_keys=False)
    tt.set("a", b"1")
    tt.add("a", b"2")  # fails: logged, replayed as a failure
    tt.append("a", b"+")
    tt.addshl("a", b"xyz", 3)
    tt.incr("n", 5)
    tt.incr_double("d", 1.5)
    tt.set_bulk({"k1": b"v1", "k2": b"v2", "k3": b""})
    tt.remove_bulk(["k1"])
    tt.remove("k3")
    tt.set("x", b"\0\xff")
    slave = start(slave_server, "-ulog", _ulog(tmp_path, "s-ulog"), "-sid", "2", "-mhost", "127.0.0.1",
                  "-mport", str(master.port), "-rts", str(tmp_path / "slave.rts"))
    stt = slave.make_client(decode_keys=False)
    want = _dump(tt)
    assert _wait_for(lambda: _dump(stt) == want)
    # a write while the slave follows arrives too, and a vanish
    tt.set("late", b"L")
    tt.clear()
    tt.set("after", b"A")
    assert _wait_for(lambda: _dump(stt) == {b"after": b"A"})
    # the slave logged the same changes under the master's server id
    assert _changes(stt) == _changes(tt)
    assert {c.sid for c in stt.replicate(wait=0, sid=9)} == {1}
    # the slave's RTS file holds the last time stamp applied
    last = list(tt.replicate(wait=0, sid=9))[-1]
    assert _wait_for(lambda: int((tmp_path / "slave.rts").read_text().split()[0]) == last.ts)


@pytest.mark.parametrize(("one", "other"), [(STANDIN, STANDIN), (STANDIN, "ttserver")],
                         ids=["standin-standin", "standin-real"])
def test_dual_masters_replicate_each_other_once(start: Callable[..., EmbeddedTokyoTyrantServer], tmp_path: Path,
                                                one: str, other: str) -> None:
    _need_real(one, other)
    from kt_embedded.managers import find_free_port

    ports = [find_free_port(), find_free_port()]
    while ports[1] == ports[0]:
        ports[1] = find_free_port()
    servers = []
    for i, (kind, port, peer) in enumerate(((one, ports[0], ports[1]), (other, ports[1], ports[0]))):
        manager = EmbeddedTokyoTyrantServer(server=kind, port=port, database="*", quiet=True, server_args=[
            "-ulog", _ulog(tmp_path, f"ulog{i}"), "-sid", str(i + 1), "-mhost", "127.0.0.1", "-mport", str(peer),
            "-rts", str(tmp_path / f"{i}.rts")])
        manager.run()
        servers.append(manager)
    try:
        a, b = (s.make_client(decode_keys=False) for s in servers)
        a.set("from-a", b"1")
        b.set("from-b", b"2")
        a.incr("count", 1)
        b.incr("count", 1)
        want = {b"from-a": b"1", b"from-b": b"2", b"count": (2).to_bytes(4, "little")}
        assert _wait_for(lambda: _dump(a) == want and _dump(b) == want)
        time.sleep(2.5)  # long enough for an echo to come back, if there were one
        assert _dump(a) == want and _dump(b) == want
        for client in (a, b):
            changes = list(client.replicate(wait=0, sid=9))
            assert sorted((c.sid, c.key) for c in changes) == [  # type: ignore[attr-defined]
                (1, b"count"), (1, b"from-a"), (2, b"count"), (2, b"from-b")]
    finally:
        for manager in reversed(servers):
            manager.stop()
