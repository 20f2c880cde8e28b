"""The asyncio clients beside the blocking ones: ops/s with 1, 8, 32 and 128 tasks on one client.

    python benchmarks/async_clients.py [--quick] [--standin] [--loop asyncio|uvloop] [--rounds N]

Rows: KT get and set (binary protocol), KT incr (HTTP RPC), TT get and set. Columns: the blocking
client on 1 thread and on 8 threads (one client shared, a connection per thread), then one asyncio
client shared by 1, 8, 32 and 128 tasks (``max_connections`` 32: the tasks beyond it wait). Servers:
ktserver ``*`` and ttserver ``*`` where installed, else the stand-ins (``--standin`` forces them),
started fresh. Serializer ``none``, 16-byte keys, 100-byte values. Each cell is the median over
rounds of a fixed number of calls, rounds interleaved; ``x1`` columns are the ratio to the blocking
client on one thread (targets: at least 2.5 with 32 tasks, at least 0.85 with 1 task).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer
from kt_kyoto import AsyncKyotoTycoon, KyotoTycoon
from kt_tyrant import AsyncTokyoTyrant, TokyoTyrant

VALUE = b"v" * 100
TASKS = (1, 8, 32, 128)
KEYS = [b"key:%012d" % i for i in range(1000)]


def _sync_ops(client: Any, op: str) -> Callable[[int], Any]:
    if op == "get":
        return lambda i: client.get(KEYS[i % 1000])
    if op == "set":
        return lambda i: client.set(KEYS[i % 1000], VALUE)
    return lambda i: client.incr("counter")


def _async_ops(client: Any, op: str) -> Callable[[int], Awaitable[Any]]:
    if op == "get":
        return lambda i: client.get(KEYS[i % 1000])
    if op == "set":
        return lambda i: client.set(KEYS[i % 1000], VALUE)
    return lambda i: client.incr("counter")


def sync_rate(client: Any, op: str, n: int, threads: int) -> float:
    call = _sync_ops(client, op)
    per = n // threads
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for i in range(per):
            call(i)
        client.checkin()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    return per * threads / (time.perf_counter() - started)


def async_rate(loop: asyncio.AbstractEventLoop, client: Any, op: str, n: int, tasks: int) -> float:
    call = _async_ops(client, op)
    per = n // tasks

    async def worker() -> None:
        for i in range(per):
            await call(i)

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return per * tasks / (time.perf_counter() - started)

    return loop.run_until_complete(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--standin", action="store_true", help="use the stand-in servers even where real ones exist")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    n = 4000 if args.quick else 16000
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()

    kt_kind = STANDIN if args.standin else None
    kt = EmbeddedServer(database="*", **({"server": kt_kind} if kt_kind else {}))
    tt = EmbeddedTokyoTyrantServer(database="*", **({"server": kt_kind} if kt_kind else {}))
    kt.run()
    tt.run()
    try:
        assert kt.port is not None and tt.port is not None
        kt_sync = KyotoTycoon(port=kt.port, serializer="none")
        tt_sync = TokyoTyrant(port=tt.port, serializer="none")
        kt_async = AsyncKyotoTycoon(port=kt.port, serializer="none", max_connections=32)
        tt_async = AsyncTokyoTyrant(port=tt.port, serializer="none", max_connections=32)
        for key in KEYS:
            kt_sync.set(key, VALUE)
            tt_sync.set(key, VALUE)
        rows = [("KT get", kt_sync, kt_async, "get"), ("KT set", kt_sync, kt_async, "set"),
                ("KT incr (HTTP)", kt_sync, kt_async, "incr"), ("TT get", tt_sync, tt_async, "get"),
                ("TT set", tt_sync, tt_async, "set")]
        columns = ["sync 1 thr", "sync 8 thr", *[f"async {t}" for t in TASKS]]
        results: dict[str, dict[str, list[float]]] = {row[0]: {c: [] for c in columns} for row in rows}
        for r in range(rounds):
            for label, sync_client, async_client, op in rows[r % len(rows):] + rows[:r % len(rows)]:
                cells = results[label]
                cells["sync 1 thr"].append(sync_rate(sync_client, op, n, 1))
                cells["sync 8 thr"].append(sync_rate(sync_client, op, n, 8))
                for t in TASKS:
                    cells[f"async {t}"].append(async_rate(loop, async_client, op, n, t))
        kind = "stand-in" if args.standin or kt.server == STANDIN else "real"
        print(f"servers: {kind} (ktserver {kt.server}, ttserver {tt.server}); loop: {args.loop}; "
              f"{n} calls per cell, median of {rounds} rounds; ops/s")
        header = f"{'row':16s}" + "".join(f"{c:>12s}" for c in columns) + f"{'1 task x1':>11s}{'32 x1':>8s}"
        print(header)
        for label, *_ in rows:
            med = {c: statistics.median(v) for c, v in results[label].items()}
            base = med["sync 1 thr"]
            line = f"{label:16s}" + "".join(f"{med[c]:12.0f}" for c in columns)
            line += f"{med['async 1'] / base:11.2f}{med['async 32'] / base:8.2f}"
            print(line)
        loop.run_until_complete(kt_async.close())
        loop.run_until_complete(tt_async.close())
        kt_sync.close()
        tt_sync.close()
    finally:
        kt.stop()
        tt.stop()
        loop.close()


if __name__ == "__main__":
    main()
