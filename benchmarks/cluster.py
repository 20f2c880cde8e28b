"""The sharded clients' cost: ring lookups, and get/set/get_bulk with 1, 3 and 6 shards beside one
KyotoTycoon client (target: the cluster layer costs at most 10 % on one shard); then the asyncio
cluster's get_bulk beside one AsyncKyotoTycoon (one task, and 32 tasks at once).

    python benchmarks/cluster.py [--quick] [--standin] [--skip-async]

Servers: ktserver (``*``) where installed, else the stand-in (``--standin`` forces it), started
fresh. One thread, serializer KT_NONE, 16-byte keys, 100-byte values. Rounds are interleaved (each
round runs every row, in a rotated order) and the table shows medians; ``cpu µs`` is this process's
CPU time per call (the part the client layer adds), ``wall µs`` includes the server and the scheduler.

The steadiest figure of the layer's cost is the first table after the lookups: a one-shard cluster
over a client whose socket is overhead.py's fake (canned replies, no I/O), beside that client alone.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import functools
import hashlib
import statistics
import time
from typing import Any, Callable

from kt_cluster import AsyncKyotoCluster, KyotoCluster, Placement
from kt_embedded import STANDIN, EmbeddedServer
from kt_kyoto import AsyncKyotoTycoon, KyotoTycoon
from kt_serializers import KT_NONE
from uhashring import HashRing

VALUE = b"v" * 100


def timed(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(wall µs, cpu µs) per call over n calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6


def lookups(quick: bool) -> None:
    keys = [f"key:{i:012d}" for i in range(20000 if quick else 100000)]
    print("ring lookup (µs per key, best of 3)")
    for n in (1, 3, 6, 64):
        names = [f"10.0.0.{i}:1978" for i in range(n)]
        placement = Placement([(name, 1) for name in names])
        ring = HashRing(nodes={name: {"weight": 1} for name in names}, hash_fn="ketama")
        # The hand-written alternative the issue mentions: md5 + bisect over the same points.
        points = sorted(ring.runtime._keys)
        owner = dict(ring.runtime._ring)

        def by_hand(key: str, points: list[int] = points, owner: dict[int, str] = owner) -> str:
            h = hashlib.md5(key.encode()).digest()
            i = bisect.bisect_right(points, h[0] | h[1] << 8 | h[2] << 16 | h[3] << 24)
            return owner[points[i % len(points)]]

        rows = {"Placement.node_for": placement.node_for, "uhashring get_node": ring.get_node, "md5+bisect": by_hand}
        figures = []
        for label, fn in rows.items():
            best = min(_loop(fn, keys) for _ in range(3))
            figures.append(f"{label} {best:.2f}")
        print(f"  {n:3d} nodes: " + ", ".join(figures))


def _loop(fn: Callable[[str], Any], keys: list[str]) -> float:
    started = time.perf_counter()
    for key in keys:
        fn(key)
    return (time.perf_counter() - started) / len(keys) * 1e6


def layer_cost() -> None:
    from kt_core.codec import kyoto_binary as kb
    from overhead import VALUE as OVERHEAD_VALUE  # benchmarks/overhead.py: the fake socket and its replies
    from overhead import FakeSocket

    def fake(reply: bytes) -> KyotoTycoon:
        client = KyotoTycoon("127.0.0.1", 1, serializer="none")
        client._conns.get().sock = FakeSocket(reply)  # type: ignore[assignment]
        client._conns.STALE_CHECK_AFTER = float("inf")
        return client

    keys = [b"key%09d" % i for i in range(100)]
    rows = [
        ("get", fake(kb.encode_get_bulk_reply([(0, keys[0], OVERHEAD_VALUE, kb.XT_MAX_REPLY)])),
         lambda c: c.get(keys[0]), 20000),
        ("set", fake(kb.encode_set_bulk_reply(1)), lambda c: c.set(keys[0], OVERHEAD_VALUE), 20000),
        ("get_bulk_raw(100)", fake(kb.encode_get_bulk_reply([(0, k, OVERHEAD_VALUE, kb.XT_MAX_REPLY) for k in keys])),
         lambda c: c.get_bulk_raw(keys), 2000),
    ]
    print("\none shard, no I/O: the layer's own cost (µs per call, best of 5)")
    for name, client, call, n in rows:
        cluster = KyotoCluster([client])
        alone = min(timed(functools.partial(call, client), n)[1] for _ in range(5))
        layered = min(timed(functools.partial(call, cluster), n)[1] for _ in range(5))
        print(f"  {name:18s} client {alone:6.2f}  cluster {layered:6.2f}  layer +{layered - alone:5.2f} µs")


def servers_rows(quick: bool, standin: bool) -> None:
    managers = [EmbeddedServer(server=STANDIN if standin else "ktserver", database="*", quiet=True) for _ in range(6)]
    for manager in managers:
        manager.run()
    try:
        addresses = [f"127.0.0.1:{m.port}" for m in managers]
        clients: dict[str, Any] = {"single client": KyotoTycoon(port=managers[0].port, serializer=KT_NONE)}
        for n in (1, 3, 6):
            clients[f"cluster {n} shard{'s' if n > 1 else ''}"] = KyotoCluster(addresses[:n], serializer=KT_NONE)
        # get_bulk(100) runs shard after shard by default (concurrent_bulk_keys=256); these run it on threads.
        for n in (3, 6):
            clients[f"cluster {n} threads"] = KyotoCluster(addresses[:n], serializer=KT_NONE, concurrent_bulk_keys=0)
        keys = [b"key:%012d" % i for i in range(1000)]
        bulk = keys[:100]
        for c in clients.values():
            c.set_bulk({k: VALUE for k in keys})
        n_single, n_bulk = (1000, 100) if quick else (4000, 400)
        ops: dict[str, Callable[[Any], Callable[[], Any]]] = {
            "get": lambda c: _cycle(lambda k: c.get(k), keys),
            "set": lambda c: _cycle(lambda k: c.set(k, VALUE), keys),
            "get_bulk(100)": lambda c: lambda: c.get_bulk(bulk),
            "get_bulk(1000)": lambda c: lambda: c.get_bulk(keys),
        }
        rounds = 3 if quick else 5
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        names = list(clients)
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for op, make in ops.items():
                for name in order:
                    if "threads" in name and "bulk" not in op:
                        continue
                    fn = make(clients[name])
                    fn()  # warm: connections open, thread pool up
                    n = n_single if "bulk" not in op else n_bulk if "100)" in op else n_bulk // 4
                    results.setdefault((op, name), []).append(timed(fn, n))
        backend = managers[0].backend
        print(f"\nagainst {backend} ktserver, medians of {rounds} rounds (wall µs / cpu µs per call; "
              "overhead vs single client)")
        for op in ops:
            base_wall = statistics.median(w for w, _ in results[(op, "single client")])
            base_cpu = statistics.median(c for _, c in results[(op, "single client")])
            for name in names:
                if (op, name) not in results:
                    continue
                wall = statistics.median(w for w, _ in results[(op, name)])
                cpu = statistics.median(c for _, c in results[(op, name)])
                print(f"  {op:14s} {name:16s} wall {wall:8.1f}  cpu {cpu:7.1f}   "
                      f"wall {100 * (wall / base_wall - 1):+6.1f} %  cpu {100 * (cpu / base_cpu - 1):+6.1f} %")
        for c in clients.values():
            c.close()
    finally:
        for manager in managers:
            manager.stop()


def async_rows(quick: bool, standin: bool) -> None:
    managers = [EmbeddedServer(server=STANDIN if standin else "ktserver", database="*", quiet=True) for _ in range(6)]
    for manager in managers:
        manager.run()
    try:
        asyncio.run(_async_rows(quick, [f"127.0.0.1:{m.port}" for m in managers], managers[0].backend))
    finally:
        for manager in managers:
            manager.stop()


async def _async_rows(quick: bool, addresses: list[str], backend: str | None) -> None:
    clients: dict[str, Any] = {"single client": AsyncKyotoTycoon(port=int(addresses[0].rsplit(":")[1]),
                                                                 serializer=KT_NONE)}
    for n in (1, 3, 6):
        clients[f"cluster {n} shard{'s' if n > 1 else ''}"] = AsyncKyotoCluster(addresses[:n], serializer=KT_NONE)
    keys = [b"key:%012d" % i for i in range(1000)]
    for c in clients.values():
        await c.set_bulk({k: VALUE for k in keys})
    rounds, n = (3, 100) if quick else (5, 400)
    results: dict[tuple[str, str], list[float]] = {}
    names = list(clients)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for label, size, tasks in (("get_bulk(100)", 100, 1), ("get_bulk(1000)", 1000, 1),
                                   ("get_bulk(100) x32 tasks", 100, 32)):
            for name in order:
                c = clients[name]
                batch = keys[:size]
                calls = max(1, n // (4 if size == 1000 else 1) // tasks)
                await c.get_bulk(batch)  # warm

                async def task(c: Any = c, batch: list[bytes] = batch, calls: int = calls) -> None:
                    for _ in range(calls):
                        await c.get_bulk(batch)

                started = time.perf_counter()
                await asyncio.gather(*(task() for _ in range(tasks)))
                results.setdefault((label, name), []).append((time.perf_counter() - started) / (calls * tasks) * 1e6)
    print(f"\nasyncio, against {backend} ktserver, medians of {rounds} rounds (wall µs per call; vs single client)")
    for label in ("get_bulk(100)", "get_bulk(1000)", "get_bulk(100) x32 tasks"):
        base = statistics.median(results[(label, "single client")])
        for name in names:
            wall = statistics.median(results[(label, name)])
            print(f"  {label:24s} {name:16s} wall {wall:8.1f}   {100 * (wall / base - 1):+6.1f} %")
    for c in clients.values():
        await c.close()


def _cycle(fn: Callable[[Any], Any], keys: list[bytes]) -> Callable[[], Any]:
    state = [0]

    def call() -> Any:
        i = state[0] = (state[0] + 1) % len(keys)
        return fn(keys[i])

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--standin", action="store_true", help="use the stand-in servers")
    parser.add_argument("--skip-async", action="store_true", help="leave out the asyncio cluster's rows")
    args = parser.parse_args()
    lookups(args.quick)
    layer_cost()
    servers_rows(args.quick, args.standin)
    if not args.skip_async:
        async_rows(args.quick, args.standin)


if __name__ == "__main__":
    main()
