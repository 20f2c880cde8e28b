"""Load: 32 threads share one client, mixing single and bulk operations with self-describing values.

Each writer ``w`` writes only its own keys (``w{w}:{seq}``) with the value ``"{w}:{seq}:{round}"``, so
any reply that carries another thread's data (cross-talk) or a missing record (a lost write) is
seen at once. The CI size is bounded (``KT_LOAD_OPS`` operations per thread, default 200); the long
run is ``python tools/soak.py``.
"""

from __future__ import annotations

import gc
import os
import threading
from typing import Any, Callable

import pytest

THREADS = 32
OPS = int(os.environ.get("KT_LOAD_OPS", "200"))


def open_sockets() -> int:
    """Sockets this process holds open (Linux: /proc/self/fd)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets through /proc")


def run_writers(client: Any, ops: int, round_no: int, db: int | None = 0) -> tuple[int, list[str]]:
    """Run THREADS writers; returns (operations done, problems seen). ``db=None``: a client without dbs (TT)."""
    dbkw: dict[str, Any] = {} if db is None else {"db": db}
    problems: list[str] = []
    done = [0] * THREADS
    start = threading.Barrier(THREADS)

    def writer(w: int) -> None:
        try:
            start.wait()
            seq = 0
            while seq < ops:
                kind = seq % 4
                if kind == 3 and seq + 3 <= ops:
                    batch = {f"w{w}:{seq + i}": f"{w}:{seq + i}:{round_no}" for i in range(3)}
                    assert client.set_bulk(batch, **dbkw) in (3, True)
                    got = client.get_bulk(list(batch), **dbkw)
                    if got != batch:
                        problems.append(f"writer {w} bulk {seq}: {got!r} != {batch!r}")
                    seq += 3
                    done[w] += 2
                    continue
                key, value = f"w{w}:{seq}", f"{w}:{seq}:{round_no}"
                assert client.set(key, value, **dbkw) in (1, True)
                got = client.get(key, **dbkw)
                if got != value:
                    problems.append(f"writer {w} get {key}: {got!r} != {value!r}")
                seq += 1
                done[w] += 2
        except Exception as exc:  # any error is a failure of the run, reported with its writer
            problems.append(f"writer {w}: {type(exc).__name__}: {exc}")
        finally:
            client.checkin()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return sum(done), problems


def verify_all(client: Any, ops: int, round_no: int, db: int | None = 0) -> int:
    """Every acknowledged write is there with its own value; returns how many were checked."""
    dbkw: dict[str, Any] = {} if db is None else {"db": db}
    checked = 0
    for w in range(THREADS):
        expected = {f"w{w}:{seq}": f"{w}:{seq}:{round_no}" for seq in range(ops)}
        got = client.get_bulk(list(expected), **dbkw)
        missing = sorted(set(expected) - set(got))
        assert not missing, f"lost writes of writer {w}: {missing[:10]}"
        wrong = {k: v for k, v in got.items() if v != expected[k]}
        assert not wrong, f"cross-talk in writer {w}'s records: {dict(list(wrong.items())[:5])}"
        checked += len(expected)
    return checked


@pytest.mark.server
@needs_proc
@pytest.mark.blocking_client
def test_kt_32_threads_share_one_client(kt_server: Any, kt_client_factory: Callable[..., Any]) -> None:
    client = kt_client_factory(timeout=30)
    gc.collect()  # sockets earlier tests left to the garbage collector must not close mid-count
    sockets_before = open_sockets()  # before the client's first connection
    client.clear()
    # Round 0 warms up (connections, caches); memory is measured across the next rounds.
    ops, problems = run_writers(client, OPS, 0)
    assert not problems, problems[:10]
    gc.collect()
    rss_after_warmup = rss_bytes()
    for round_no in (1, 2):
        ops, problems = run_writers(client, OPS, round_no)
        assert not problems, problems[:10]
        assert ops > THREADS * OPS  # every writer finished its share (a set and a read per record)
    assert verify_all(client, OPS, 2) == THREADS * OPS
    gc.collect()
    growth = rss_bytes() - rss_after_warmup
    assert growth < 32 * 1024 * 1024, f"memory grew by {growth} bytes over two rounds"
    # Every thread checked its connection in (this one too): none is in use, and the idle ones are bounded.
    client.checkin()
    assert client.pool.in_use_count == 0
    assert open_sockets() - sockets_before <= THREADS
    client.close()
    assert open_sockets() == sockets_before, "sockets leaked after close()"


@pytest.mark.server
@needs_proc
@pytest.mark.blocking_client
def test_tt_32_threads_share_one_client(tt_server: Any, tt_client_factory: Callable[..., Any]) -> None:
    client = tt_client_factory(tt_server, timeout=30)
    gc.collect()  # sockets earlier tests left to the garbage collector must not close mid-count
    sockets_before = open_sockets()  # before the client's first connection
    client.clear()
    _, problems = run_writers(client, OPS, 0, db=None)
    assert not problems, problems[:10]
    gc.collect()
    rss_after_warmup = rss_bytes()
    for round_no in (1, 2):
        _, problems = run_writers(client, OPS, round_no, db=None)
        assert not problems, problems[:10]
    assert verify_all(client, OPS, 2, db=None) == THREADS * OPS
    client.checkin()
    gc.collect()
    growth = rss_bytes() - rss_after_warmup
    assert growth < 32 * 1024 * 1024, f"memory grew by {growth} bytes over two rounds"
    assert open_sockets() - sockets_before <= THREADS
    client.close()
    assert open_sockets() == sockets_before, "sockets leaked after close()"
