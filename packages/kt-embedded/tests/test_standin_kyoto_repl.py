"""The Kyoto Tycoon stand-in as a replication master (0xB1): it streams what the real ktserver 0.9.56
streams (testdata/vectors/kt-repl.json, time stamps masked), and a real ktserver slave replicates from
it with the same records."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from kt_core.codec import kyoto_repl
from kt_embedded.managers import STANDIN, EmbeddedServer, real_server_available
from kt_embedded.standin.kt_db import UpdateLog

ROOT = Path(__file__).resolve().parents[3]
VECTORS = json.loads((ROOT / "testdata" / "vectors" / "kt-repl.json").read_text())


def _recorder() -> Any:
    path = ROOT / "packages" / "kt-core" / "tests" / "test_kyoto_repl_record.py"
    spec = importlib.util.spec_from_file_location("kt_repl_recorder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _masked(hex_bytes: str, ranges: list[list[int]]) -> bytes:
    data = bytearray(bytes.fromhex(hex_bytes))
    for off, length in ranges:
        data[off : off + length] = b"\0" * length
    return bytes(data)


def test_standin_streams_what_the_real_server_streamed() -> None:
    fresh = {v["name"]: v for v in _recorder().record([sys.executable, "-m", "kt_embedded.standin.kyoto"])}
    assert list(fresh) == [v["name"] for v in VECTORS]
    for v in VECTORS:
        got = fresh[v["name"]]
        assert got["decoded"] == v["decoded"], v["name"]
        assert got["volatile_ranges"] == v["volatile_ranges"], v["name"]
        assert _masked(got["response_hex"], v["volatile_ranges"]) == _masked(v["response_hex"], v["volatile_ranges"])
        if v["name"] != "repl_resume":  # its ts is the run's own
            assert got["request_hex"] == v["request_hex"]


def test_reader_follows_rotation_and_removal(tmp_path: Path) -> None:
    log = UpdateLog(str(tmp_path / "ulog"), limit=100)
    try:
        for i in range(30):
            log.write(b"\0\1\0\0" + kyoto_repl.encode_uremove(b"k%d" % i))
            if i % 4 == 3:
                log.flush()
        log.flush()
        assert len(log.list_files()) > 3
        reader = log.reader(0)
        got = []
        while (rec := reader.read()) is not None:
            got.append(rec)
        tss = [ts for ts, _ in got]
        assert tss == sorted(set(tss)) and len(got) == 30
        assert [kyoto_repl.decode_message(m, ts).key for ts, m in got] == [b"k%d" % i for i in range(30)]  # type: ignore[attr-defined]
        # a reader opened after removals starts at the oldest record left; one resumed mid-way, after it
        resumed = log.reader(tss[10])
        rest = []
        while (rec := resumed.read()) is not None:
            rest.append(rec)
        assert rest == got[11:]
        first_file_ts = log.list_files()[0][2]
        assert log.remove_files(first_file_ts) == []
        after = log.reader(0)
        left = []
        while (rec := after.read()) is not None:
            left.append(rec)
        after.close()
        assert 0 < len(left) < len(got) and left == got[-len(left) :] and left[0][0] > first_file_ts
        log.write(b"\0\1\0\0" + kyoto_repl.encode_uclear())
        log.flush()
        assert reader.read() is not None and reader.read() is None  # it follows the log as it grows
        reader.close()
        resumed.close()
    finally:
        log.close()


@pytest.fixture
def start() -> Iterator[Callable[..., EmbeddedServer]]:
    started: list[EmbeddedServer] = []

    def run(server: str, *server_args: str, database: Any = ("*", "%")) -> EmbeddedServer:
        manager = EmbeddedServer(server=server, database=list(database), server_args=list(server_args), quiet=True)
        started.append(manager)
        manager.run()
        return manager

    yield run
    for manager in reversed(started):
        manager.stop()


def _dump(kt: Any) -> list[dict[bytes, bytes]]:
    return [{k: v for k, v in kt.get_bulk_raw(kt.match_prefix("", db=db), db=db).items()} for db in (0, 1)]


@pytest.mark.parametrize(("master_server", "slave_server"),
                         [(STANDIN, "ktserver"), ("ktserver", STANDIN), (STANDIN, STANDIN)],
                         ids=["standin-master-real-slave", "real-master-standin-slave", "standin-both"])
def test_slave_replicates_from_master(start: Callable[..., EmbeddedServer], tmp_path: Path, master_server: str,
                                      slave_server: str) -> None:
    if "ktserver" in (master_server, slave_server) and not real_server_available("ktserver"):
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail("ktserver is not installed")
        pytest.skip("ktserver is not installed")
    master = start(master_server, "-ulog", str(tmp_path / "m-ulog"), "-sid", "1")
    kt = master.make_client(decode_keys=False)
    kt.set("a", b"1")
    kt.set("b", b"2", db=1, expire_time=datetime.datetime.fromtimestamp(2_000_000_000))
    kt.add("c", b"3")
    kt.append("a", b"+")
    kt.incr("n", 5)
    kt.cas("c", b"3", None)
    kt.set_bulk({"k1": b"v1", "k2": b"v2", "k3": b""})
    kt.remove_bulk(["k1"])
    kt.set("x", b"y", db=1)
    kt.clear(db=1)
    kt.set("z", b"\0\xff", db=1)
    slave = start(slave_server, "-ulog", str(tmp_path / "s-ulog"), "-sid", "2", "-mhost", "127.0.0.1",
                  "-mport", str(master.port), "-rts", str(tmp_path / "slave.rts"), "-riv", "0")
    skt = slave.make_client(decode_keys=False)
    want = _dump(kt)
    deadline = time.monotonic() + 15
    while _dump(skt) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _dump(skt) == want
    # the slave logged the same changes (under the master's server id), and expiries came across
    time.sleep(0.3)

    def changes(client: Any) -> list[Any]:
        return [(type(c), c.sid, c.db, getattr(c, "key", None), getattr(c, "value", None), getattr(c, "expire", None))
                for c in client.replicate(wait=0, sid=9)]

    assert changes(skt) == changes(kt)
    # a write while the slave follows arrives too
    kt.set("late", b"L")
    deadline = time.monotonic() + 10
    while skt.get_raw("late") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert skt.get_raw("late") == b"L"
    # the slave skips changes of its own server id coming back (a master-master pair)
    assert all(c.sid == 1 for c in skt.replicate(wait=0, sid=9))
