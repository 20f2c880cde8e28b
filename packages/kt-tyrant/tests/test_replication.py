"""TokyoTyrant.replicate and AsyncTokyoTyrant.replicate (the update log read as a replication slave reads
it: repl), on the real ttserver 1.1.41 and on the stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from kt_core.codec import tyrant as tt
from kt_core.codec.tyrant_repl import (
    AddChange,
    AppendChange,
    ClearChange,
    MiscChange,
    OtherChange,
    RemoveChange,
    ReplicationGapError,
    ReplicationRefusedError,
    SetChange,
)
from kt_core.errors import InvalidArgumentError, KtTimeoutError
from kt_embedded.managers import STANDIN, EmbeddedTokyoTyrantServer, real_server_available
from kt_tyrant import AsyncTokyoTyrant, TokyoTyrant

BACKENDS = ["real", "standin"]


@pytest.fixture
def start() -> Iterator[Callable[..., EmbeddedTokyoTyrantServer]]:
    started: list[EmbeddedTokyoTyrantServer] = []

    def run(backend: str, *server_args: str, port: int | None = None) -> EmbeddedTokyoTyrantServer:
        if backend == "real" and not real_server_available("ttserver"):
            if os.environ.get("KT_REQUIRE_REAL") == "1":
                pytest.fail("ttserver is not installed")
            pytest.skip("ttserver is not installed")
        manager = EmbeddedTokyoTyrantServer(server="ttserver" if backend == "real" else STANDIN, port=port,
                                            database="*", server_args=list(server_args), quiet=True)
        started.append(manager)
        manager.run()
        return manager

    yield run
    for manager in started:
        manager.stop()


def master(start: Callable[..., EmbeddedTokyoTyrantServer], backend: str, tmp_path: Path, *args: str,
           port: int | None = None) -> EmbeddedTokyoTyrantServer:
    ulog = tmp_path / "ulog"
    ulog.mkdir(exist_ok=True)
    return start(backend, "-ulog", str(ulog), "-sid", "1", *args, port=port)


def every_operation(t: TokyoTyrant) -> list[tuple[Any, ...]]:
    """One call of every updating method; the change each must log (type, ok, then its fields)."""
    t.set("a", b"1")
    t.add("a", b"2")
    t.add("c", b"3")
    t.append("a", b"+")
    t.addshl("a", b"xyz", 3)
    t.setnr("p", b"9")
    t.remove("c")
    t.remove("missing")
    t.incr("n", 5)
    t.incr_double("d", 1.5)
    t.set_bulk({"k1": b"v1", "k2": b"v2"})
    t.remove_bulk(["k1"])
    t.misc("getlist", ["k2"], update_log=True)
    t.misc("getlist", ["k2"], update_log=False)  # not logged
    t.synchronize()
    t.optimize()
    t.clear()
    t.set("bin", b"\0\xff")
    return [
        (SetChange, True, b"a", b"1", False),
        (SetChange, False, b"a", b"2", True),
        (SetChange, True, b"c", b"3", True),
        (AppendChange, True, b"a", b"+", None),
        (AppendChange, True, b"a", b"xyz", 3),
        (SetChange, True, b"p", b"9", False),
        (RemoveChange, True, b"c"),
        (RemoveChange, False, b"missing"),
        (AddChange, True, b"n", 5),
        (AddChange, True, b"d", 1.5),
        (MiscChange, True, "putlist", (b"k1", b"v1", b"k2", b"v2")),
        (MiscChange, True, "outlist", (b"k1",)),
        (MiscChange, True, "getlist", (b"k2",)),
        (OtherChange, True, tt.COMMANDS["sync"], b""),
        (OtherChange, True, tt.COMMANDS["optimize"], b"\0\0\0\0"),
        (ClearChange, True),
        (SetChange, True, b"bin", b"\0\xff", False),
    ]


def fields(change: Any) -> tuple[Any, ...]:
    names = {SetChange: ("key", "value", "keep"), AppendChange: ("key", "value", "width"),
             AddChange: ("key", "num"), RemoveChange: ("key",), MiscChange: ("name", "args"),
             OtherChange: ("op", "body"), ClearChange: ()}[type(change)]
    return (type(change), change.ok, *(getattr(change, n) for n in names))


def read_all(t: Any, since: int = 0) -> list[Any]:
    return list(t.replicate(since=since, wait=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_operation_kind_in_the_stream(start: Callable[..., EmbeddedTokyoTyrantServer], backend: str,
                                            tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    t = server.client
    expected = every_operation(t)
    changes = read_all(t)
    assert [fields(c) for c in changes] == expected
    assert all(c.sid == 1 for c in changes)
    tss = [c.ts for c in changes]
    assert tss == sorted(set(tss))
    now_us = time.time() * 1e6
    assert all(abs(ts - now_us) < 60e6 for ts in tss)  # microseconds of the wall clock
    # resuming after any change gives exactly the rest
    for i in (0, 5, len(changes) - 2):
        assert read_all(t, changes[i].ts) == changes[i + 1 :]
    assert read_all(t, changes[-1].ts) == []
    # the server's own id is refused (circular replication), and so is it after the gap check
    with pytest.raises(ReplicationRefusedError):
        list(t.replicate(sid=1, wait=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_asyncio_client_streams_the_same_changes(start: Callable[..., EmbeddedTokyoTyrantServer],
                                                     backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    t = server.client
    t.set("a", b"1")
    t.remove("a")
    t.set("b", b"2")
    blocking = read_all(t)

    async def main() -> tuple[list[Any], list[Any]]:
        async with AsyncTokyoTyrant(port=server.port) as client:
            every = [c async for c in client.replicate(wait=0)]
            rest = [c async for c in client.replicate(since=every[0].ts, wait=0)]
            with pytest.raises(ReplicationGapError):
                async for _ in client.replicate(since=every[0].ts - 1000):
                    pass
            return every, rest

    every, rest = asyncio.run(main())
    assert every == blocking and rest == blocking[1:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_applies_the_clients_serializer(start: Callable[..., EmbeddedTokyoTyrantServer], backend: str,
                                               tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    t = server.make_client(serializer="json")
    t.set("k", {"x": [1, 2]})
    t.remove("k")
    raw = read_all(t)
    assert [(type(c), c.key) for c in raw] == [(SetChange, b"k"), (RemoveChange, b"k")]
    assert raw[0].value == b'{"x":[1,2]}'
    decoded = list(t.replicate(wait=0, decode=True))
    assert [(c.key, getattr(c, "value", None)) for c in decoded] == [("k", {"x": [1, 2]}), ("k", None)]
    assert [c.ts for c in decoded] == [c.ts for c in raw]


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_a_killed_consumer_loses_and_repeats_nothing(
        start: Callable[..., EmbeddedTokyoTyrantServer], backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    writer = server.make_client()
    total = 600
    done = threading.Event()

    def write() -> None:
        for i in range(total):
            writer.set(f"k{i}", b"%d" % i)
            if i % 50 == 0:
                time.sleep(0.02)
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    consumer = server.make_client()
    got: list[Any] = []
    position = 0
    kills = 0
    try:
        while len(got) < total:
            stream = consumer.replicate(since=position, wait=3)
            for n, change in enumerate(stream):
                got.append(change)
                position = change.ts  # the consumer's stored position
                if n == 97:  # the consumer dies mid-stream: its connection goes away unread
                    kills += 1
                    break
            stream.close()  # type: ignore[attr-defined]
            assert kills < 50
    finally:
        thread.join()
    assert done.is_set() and kills >= 5
    assert [c.key for c in got] == [b"k%d" % i for i in range(total)]
    assert got == read_all(consumer)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_a_server_restart_from_the_log_on_disk(start: Callable[..., EmbeddedTokyoTyrantServer],
                                                           backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    t = server.make_client()
    for i in range(50):
        t.set(f"a{i}", b"x")
    position = 0
    for n, change in enumerate(t.replicate(wait=0)):
        position = change.ts
        if n == 19:
            break
    port = server.port
    server.stop()
    again = master(start, backend, tmp_path, port=port)
    t2 = again.make_client()
    for i in range(30):
        t2.set(f"b{i}", b"y")
    rest = read_all(t2, position)
    assert [c.key for c in rest] == [b"a%d" % i for i in range(20, 50)] + [b"b%d" % i for i in range(30)]
    tss = [c.ts for c in rest]
    assert tss == sorted(set(tss)) and tss[0] > position


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_consumer_behind_removed_log_files_gets_an_error(
        start: Callable[..., EmbeddedTokyoTyrantServer], backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path, "-ulim", "1k")
    t = server.client
    t.set("first", b"x")
    (first,) = read_all(t)
    for i in range(40):  # about 120 bytes a record: several files
        t.set(f"key{i}", b"v" * 100)
    files = sorted((tmp_path / "ulog").iterdir())
    assert len(files) >= 4
    everything = read_all(t)
    for path in files[:2]:  # the operator removes the oldest files by hand
        path.unlink()
    remaining = read_all(t)
    assert remaining and remaining[0].ts > first.ts and remaining == everything[-len(remaining):]
    with pytest.raises(ReplicationGapError):
        t.replicate(since=first.ts)
    # at or after the oldest change left, or with the check off, it streams
    assert list(t.replicate(since=remaining[0].ts, wait=0)) == remaining[1:]
    assert list(t.replicate(since=first.ts, wait=0, check_gap=False)) == remaining
    # a log emptied entirely is a gap too
    for path in (tmp_path / "ulog").iterdir():
        path.unlink()
    with pytest.raises(ReplicationGapError):
        t.replicate(since=first.ts)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_update_log_refuses(start: Callable[..., EmbeddedTokyoTyrantServer], backend: str) -> None:
    for args in ((), ("-sid", "1")):
        server = start(backend, *args)
        with pytest.raises(ReplicationRefusedError):
            list(server.client.replicate(wait=0))
        with pytest.raises(ReplicationRefusedError):
            list(server.client.replicate(since=5, wait=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_follow_and_wait(start: Callable[..., EmbeddedTokyoTyrantServer], backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    t = server.client
    assert list(t.replicate(wait=0.5)) == []
    stream = t.replicate(wait=None, timeout=5)
    threading.Timer(0.3, lambda: server.make_client().set("late", b"1")).start()
    change = next(stream)
    assert isinstance(change, SetChange) and change.key == b"late"
    stream.close()  # type: ignore[attr-defined]
    # the stream used a connection of its own: the pooled one still works
    assert t.get_raw("late") == b"1"


def test_a_silent_master_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(14)
        conn.sendall(b"\x00\x00\x00\x01\xca")
        time.sleep(1.5)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    t = TokyoTyrant(port=port)
    with pytest.raises(KtTimeoutError):
        list(t.replicate(timeout=0.3))
    listener.close()


def test_argument_checks() -> None:
    t = TokyoTyrant(port=1)
    for kwargs in ({"since": -1}, {"sid": 0}, {"sid": 1 << 32}, {"wait": -1}, {"since": 1.5}, {"since": 1 << 64}):
        with pytest.raises((InvalidArgumentError, TypeError)):
            t.replicate(**kwargs)


CONSUMER = r'''
import os, sys
from kt_tyrant import TokyoTyrant

port, out_path, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
# the consumer's state is its output file: one "ts key" line per change applied; a line cut by a kill is dropped
data = open(out_path, "rb").read() if os.path.exists(out_path) else b""
data = data[: data.rfind(b"\n") + 1]
since = int(data.splitlines()[-1].split()[0]) if data else 0
with open(out_path, "wb") as out:
    out.write(data)
    for change in TokyoTyrant(port=port).replicate(since=since, wait=wait):
        out.write(b"%d %s\n" % (change.ts, change.key))
        out.flush()
'''


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_sigkill_of_the_consumer_process(start: Callable[..., EmbeddedTokyoTyrantServer],
                                                      backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    writer = server.make_client()
    total = 1500

    def write() -> None:
        for i in range(total):
            writer.set(f"k{i}", b"")
            time.sleep(0.001)

    thread = threading.Thread(target=write)
    out = tmp_path / "consumer.out"
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER)
    counts = []
    thread.start()
    try:
        for delay in (1.5, 1.5, 1.5):
            proc = subprocess.Popen([sys.executable, str(script), str(server.port), str(out), "30"])
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            counts.append(out.read_bytes().count(b"\n") if out.exists() else 0)
    finally:
        thread.join()
    assert any(0 < n < total for n in counts), counts  # killed mid-stream
    subprocess.run([sys.executable, str(script), str(server.port), str(out), "0.5"], check=True, timeout=60)
    lines = out.read_bytes().splitlines()
    assert [line.split()[1] for line in lines] == [b"k%d" % i for i in range(total)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lua_misc_with_a_dollar_name_stays_out_of_the_log(start: Callable[..., EmbeddedTokyoTyrantServer],
                                                          backend: str, tmp_path: Path) -> None:
    if backend == "standin":
        pytest.importorskip("lupa")
    script = tmp_path / "misc.lua"
    script.write_text('function logged(key, value) return _misc("put", key, value) and "ok" end\n'
                      'function unlogged(key, value) return _misc("$put", key, value) and "ok" end\n')
    server = master(start, backend, tmp_path, "-ext", str(script))
    t = TokyoTyrant(host=server.host, port=server.port)
    try:
        assert t.script("unlogged", "quiet", "1") == b"ok"
        assert t.script("logged", "loud", "2") == b"ok"
        assert t.get_raw("quiet") == b"1" and t.get_raw("loud") == b"2"
        changes = read_all(t)
    finally:
        t.close()
    assert [fields(c) for c in changes] == [(MiscChange, True, "put", (b"loud", b"2"))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_set_master_starts_and_stops_a_slave(backend: str, tmp_path: Path) -> None:
    if backend == "real" and not real_server_available("ttserver"):
        pytest.skip("ttserver is not installed")
    server = "ttserver" if backend == "real" else STANDIN
    (tmp_path / "ulog").mkdir()
    managers = [EmbeddedTokyoTyrantServer(server=server, database="*", cwd=str(tmp_path), quiet=True,
                                          server_args=["-ulog", str(tmp_path / "ulog"), "-sid", "1"]),
                EmbeddedTokyoTyrantServer(server=server, database="*", cwd=str(tmp_path), quiet=True,
                                          server_args=["-sid", "2"])]
    try:
        for manager in managers:
            manager.run()
        master, slave = (TokyoTyrant(host=m.host, port=m.port) for m in managers)
        master.set_bulk({"a": "1", "b": "2"})
        assert slave.count() == 0 and "mhost" not in slave.status()
        assert slave.set_master(master.host, master.port, 0) is True

        def wait_for(check: Callable[[], bool]) -> None:
            deadline = time.monotonic() + 30
            while not check():
                assert time.monotonic() < deadline, "the slave did not catch up"
                time.sleep(0.05)

        wait_for(lambda: slave.get_bulk(["a", "b"]) == {"a": "1", "b": "2"})
        master.set("c", "3")
        wait_for(lambda: slave.get("c") == "3")
        status = slave.status()
        assert status["mhost"] == master.host and status["mport"] == master.port
        assert status["rts"] == list(master.replicate(since=0, wait=0))[-1].ts  # the last record applied
        assert slave.set_master("", 0, 0) is True
        assert "mhost" not in slave.status()
        time.sleep(1.5)  # a slave runs once a second: long enough for one to have started again
        master.set("d", "4")
        time.sleep(1.5)
        assert slave.get("d") is None  # no master, no replication
        master.close()
        slave.close()
    finally:
        for manager in managers:
            manager.stop()
