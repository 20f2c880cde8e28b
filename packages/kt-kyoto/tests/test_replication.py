"""KyotoTycoon.replicate (the update log read as a replication slave reads it, 0xB1) and
tune_replication, on the real ktserver 0.9.56 and on the stand-in."""

from __future__ import annotations

import datetime
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from kt_core.codec.kyoto_repl import (
    XTMAX,
    ClearChange,
    RemoveChange,
    ReplicationGapError,
    ReplicationRefusedError,
    SetChange,
)
from kt_core.errors import KtTimeoutError, NotImplementedByServerError
from kt_embedded.managers import STANDIN, EmbeddedServer, real_server_available
from kt_kyoto import KyotoTycoon

BACKENDS = ["real", "standin"]
ABS_XT = 2_000_000_000


@pytest.fixture
def start(request: pytest.FixtureRequest) -> Iterator[Callable[..., EmbeddedServer]]:
    started: list[EmbeddedServer] = []

    def run(backend: str, *server_args: str, database: Any = ("*", "%")) -> EmbeddedServer:
        if backend == "real" and not real_server_available("ktserver"):
            if os.environ.get("KT_REQUIRE_REAL") == "1":
                pytest.fail("ktserver is not installed")
            pytest.skip("ktserver is not installed")
        manager = EmbeddedServer(server="ktserver" if backend == "real" else STANDIN, database=list(database),
                                 server_args=list(server_args), quiet=True)
        started.append(manager)
        manager.run()
        return manager

    yield run
    for manager in started:
        manager.stop()


def master(start: Callable[..., EmbeddedServer], backend: str, tmp_path: Path, *args: str) -> EmbeddedServer:
    return start(backend, "-ulog", str(tmp_path / "ulog"), "-sid", "1", *args)


def every_operation(kt: KyotoTycoon) -> list[tuple[Any, ...]]:
    """One call of every writing operation; the changes each must log (type, db, key, value, expire)."""
    kt.set("a", b"1")
    kt.set("b", b"2", db=1, expire_time=datetime.datetime.fromtimestamp(ABS_XT))
    kt.add("c", b"3")
    kt.replace("a", b"11")
    kt.append("a", b"+")
    kt.incr("n", 5)
    kt.cas("a", b"11+", b"X")
    kt.cas("c", b"3", None)
    kt.remove("a")
    kt.seize("n")
    kt.set_bulk({"k1": b"v1", "k2": b"v2"})
    kt.remove_bulk(["k1"])
    kt.clear(db=1)
    return [
        (SetChange, 0, b"a", b"1", None),
        (SetChange, 1, b"b", b"2", ABS_XT),
        (SetChange, 0, b"c", b"3", None),
        (SetChange, 0, b"a", b"11", None),
        (SetChange, 0, b"a", b"11+", None),
        (SetChange, 0, b"n", (5).to_bytes(8, "big"), None),
        (SetChange, 0, b"a", b"X", None),
        (RemoveChange, 0, b"c"),
        (RemoveChange, 0, b"a"),
        (RemoveChange, 0, b"n"),
        (SetChange, 0, b"k1", b"v1", None),
        (SetChange, 0, b"k2", b"v2", None),
        (RemoveChange, 0, b"k1"),
        (ClearChange, 1),
    ]


def fields(change: Any) -> tuple[Any, ...]:
    if isinstance(change, SetChange):
        return (SetChange, change.db, change.key, change.value, change.expire)
    if isinstance(change, RemoveChange):
        return (RemoveChange, change.db, change.key)
    return (type(change), change.db)


def read_all(kt: KyotoTycoon, since: int = 0) -> list[Any]:
    time.sleep(0.3)  # the log is flushed every 0.1 s
    return list(kt.replicate(since=since, wait=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_operation_kind_in_the_stream(start: Callable[..., EmbeddedServer], backend: str,
                                            tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    kt = server.client
    expected = every_operation(kt)
    changes = read_all(kt)
    assert [fields(c) for c in changes] == expected
    assert all(c.sid == 1 for c in changes)
    tss = [c.ts for c in changes]
    assert tss == sorted(set(tss))
    now_ms = time.time() * 1000
    assert all(abs(ts // 1_000_000 - now_ms) < 60_000 for ts in tss)
    # resuming after any change gives exactly the rest
    for i in (0, 5, len(changes) - 1):
        assert read_all(kt, changes[i].ts) == changes[i + 1 :]
    # the writer's own server id is skipped
    assert list(kt.replicate(sid=1, wait=0)) == []
    # a relative expiry is logged as the absolute one
    before = int(time.time())
    kt.set("t", b"x", expire_time=100)
    (last,) = read_all(kt, changes[-1].ts)
    assert before + 100 <= last.expire <= int(time.time()) + 100 < XTMAX


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_a_killed_consumer_loses_and_repeats_nothing(
        start: Callable[..., EmbeddedServer], backend: str, tmp_path: Path) -> None:
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
            stream = consumer.replicate(since=position, wait=2)
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
def test_a_consumer_behind_removed_log_files_gets_an_error(
        start: Callable[..., EmbeddedServer], backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path, "-ulim", "2k")
    kt = server.client
    kt.set("first", b"x")
    (first,) = read_all(kt)
    for i in range(40):  # about 2 KiB a file: several files
        kt.set(f"key{i}", b"v" * 100)
        time.sleep(0.11 if i % 5 == 0 else 0)
    time.sleep(0.3)
    assert len(kt.ulog_list()) >= 3
    kept = read_all(kt)
    assert kt.ulog_remove(None)
    time.sleep(0.1)
    files = kt.ulog_list()
    assert 1 <= len(files) < 4
    remaining = read_all(kt, 0) if True else []
    assert remaining and remaining[0].ts > first.ts
    with pytest.raises(ReplicationGapError):
        kt.replicate(since=first.ts)
    # at or after the oldest change left, or with the check off, it streams
    assert list(kt.replicate(since=remaining[0].ts, wait=0)) == remaining[1:]
    assert list(kt.replicate(since=first.ts, wait=0, check_gap=False)) == remaining
    assert kept[-len(remaining):] == remaining


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_update_log_refuses(start: Callable[..., EmbeddedServer], backend: str) -> None:
    server = start(backend)
    with pytest.raises(ReplicationRefusedError):
        list(server.client.replicate(wait=0))
    with pytest.raises(ReplicationRefusedError):
        list(server.client.replicate(since=5, wait=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_follow_and_wait(start: Callable[..., EmbeddedServer], backend: str, tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    kt = server.client
    t0 = time.monotonic()
    assert list(kt.replicate(wait=0.5)) == []
    assert 0.4 < time.monotonic() - t0 < 5
    stream = kt.replicate(wait=None, timeout=5)
    threading.Timer(0.3, lambda: server.make_client().set("late", b"1")).start()
    change = next(stream)
    assert isinstance(change, SetChange) and change.key == b"late"
    stream.close()  # type: ignore[attr-defined]
    # the stream used a connection of its own: the pooled one still works
    assert kt.get_raw("late") == b"1"


def test_a_silent_master_times_out() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(15)
        conn.sendall(b"\xb1")
        time.sleep(1.5)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    kt = KyotoTycoon(port=port)
    with pytest.raises(KtTimeoutError):
        list(kt.replicate(timeout=0.3))
    listener.close()


def test_argument_checks() -> None:
    kt = KyotoTycoon(port=1)
    for kwargs in ({"since": -1}, {"sid": 70000}, {"wait": -1}, {"since": 1.5}):
        with pytest.raises((ValueError, TypeError)):
            kt.replicate(**kwargs)
    for kwargs in ({"port": 0}, {"ts": "later"}, {"interval": -2}):
        with pytest.raises(ValueError):
            kt.tune_replication(**kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tune_replication(start: Callable[..., EmbeddedServer], backend: str, tmp_path: Path) -> None:
    plain = start(backend)
    with pytest.raises(NotImplementedByServerError):
        plain.client.tune_replication("127.0.0.1", 1978)
    src = master(start, backend, tmp_path)
    slave = start(backend, "-ulog", str(tmp_path / "slave-ulog"), "-sid", "2", "-rts", str(tmp_path / "slave.rts"))
    src.client.set("before", b"1")
    assert slave.client.tune_replication("127.0.0.1", src.port, ts=0, interval=0)
    deadline = time.monotonic() + 10
    while slave.client.get_raw("before") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert slave.client.get_raw("before") == b"1"
    assert slave.client.tune_replication()  # stop


CONSUMER = r'''
import os, sys
from kt_kyoto import KyotoTycoon

port, out_path, wait = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
# the consumer's state is its output file: one "ts key" line per change applied; a line cut by a kill is dropped
data = open(out_path, "rb").read() if os.path.exists(out_path) else b""
data = data[: data.rfind(b"\n") + 1]
since = int(data.splitlines()[-1].split()[0]) if data else 0
with open(out_path, "wb") as out:
    out.write(data)
    for change in KyotoTycoon(port=port).replicate(since=since, wait=wait):
        out.write(b"%d %s\n" % (change.ts, change.key))
        out.flush()
'''


@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_after_sigkill_of_the_consumer_process(start: Callable[..., EmbeddedServer], backend: str,
                                                      tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

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
        for delay in (0.6, 0.4, 0.5):
            proc = subprocess.Popen([sys.executable, str(script), str(server.port), str(out), "30"])
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            counts.append(out.read_bytes().count(b"\n") if out.exists() else 0)
    finally:
        thread.join()
    assert any(0 < n < total for n in counts), counts  # killed mid-stream
    time.sleep(0.3)
    subprocess.run([sys.executable, str(script), str(server.port), str(out), "0.5"], check=True, timeout=60)
    lines = out.read_bytes().splitlines()
    assert [line.split()[1] for line in lines] == [b"k%d" % i for i in range(total)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_applies_the_clients_serializer(start: Callable[..., EmbeddedServer], backend: str,
                                               tmp_path: Path) -> None:
    server = master(start, backend, tmp_path)
    kt = server.make_client(serializer="json")
    kt.set("k", {"x": [1, 2]})
    kt.remove("k")
    kt.clear(db=1)
    raw = read_all(kt)
    assert [(type(c), getattr(c, "key", None)) for c in raw] == [(SetChange, b"k"), (RemoveChange, b"k"),
                                                                   (ClearChange, None)]
    assert raw[0].value == b'{"x":[1,2]}'
    decoded = list(kt.replicate(wait=0, decode=True))
    assert [(getattr(c, "key", None), getattr(c, "value", None)) for c in decoded] == [
        ("k", {"x": [1, 2]}), ("k", None), (None, None)]
    assert [c.ts for c in decoded] == [c.ts for c in raw]
