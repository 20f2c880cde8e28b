"""The change streams' throughput: KyotoTycoon.replicate and TokyoTyrant.replicate, in changes/s.

    python benchmarks/change_stream.py [--quick] [--standin] [--only kt|tt]

Servers: ktserver (``*``) and ttserver (``*``), each started fresh with an update log (``-ulog DIR
-sid 1``) where installed, else the stand-ins (``--standin`` forces them). One consumer, one thread,
16-byte keys, 100-byte values, the default ``sid``.

- backlog: N changes are written first (KT: set_bulk of 1,000; TT: pipelines of 1,000 sets, one log
  record each; the writer's rate is shown), then one consumer reads them all (``wait=0``). The rate
  counts from the first change received to the last; ``first`` is the time from the call to the
  first change (ttserver waits up to a second before its first round).
- live: a writer on one connection makes M single sets while the consumer follows (``wait=None``):
  the writer's rate, the consumer's (changes over the time from the writer's start to the last change
  received), and the lag: from the writer's last reply to the consumer's last change.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from typing import Any

from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer
from kt_embedded.managers import real_server_available

VALUE = b"v" * 100


def key(i: int) -> str:
    return f"key:{i:012d}"


def start(kind: str, standin: bool) -> Any:
    ulog = tempfile.mkdtemp(prefix=f"bench-{kind}-ulog-")
    args = ["-ulog", ulog, "-sid", "1"]
    if kind == "kt":
        real = not standin and real_server_available("ktserver")
        manager: Any = EmbeddedServer(server="ktserver" if real else STANDIN, database="*", server_args=args,
                                      quiet=True)
    else:
        real = not standin and real_server_available("ttserver")
        manager = EmbeddedTokyoTyrantServer(server="ttserver" if real else STANDIN, database="*",
                                            server_args=args, quiet=True)
    manager.run()
    manager.label = ("ktserver" if kind == "kt" else "ttserver") if real else f"{kind} stand-in"
    return manager


def write_backlog(kind: str, client: Any, n: int) -> float:
    t0 = time.perf_counter()
    for base in range(0, n, 1000):
        if kind == "kt":
            client.set_bulk({key(i): VALUE for i in range(base, min(base + 1000, n))})
        else:
            pipe = client.pipeline()
            for i in range(base, min(base + 1000, n)):
                pipe.set(key(i), VALUE)
            pipe.execute()
    return n / (time.perf_counter() - t0)


def read_backlog(client: Any, n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = last = 0.0
    count = 0
    for _ in client.replicate(wait=0):
        count += 1
        last = time.perf_counter()
        if count == 1:
            first = last
    assert count == n, (count, n)
    return (count - 1) / (last - first), first - t0


def live(server: Any, consumer: Any, m: int, since: int) -> tuple[float, float, float]:
    writer = server.make_client()
    stream = consumer.replicate(since=since, wait=None, timeout=30)
    ready = threading.Event()
    times: dict[str, float] = {}

    def write() -> None:
        ready.wait()
        times["start"] = time.perf_counter()
        for i in range(m):
            writer.set(f"live:{i:011d}", VALUE)
        times["end"] = time.perf_counter()

    thread = threading.Thread(target=write)
    thread.start()
    ready.set()
    count = 0
    for _ in stream:
        count += 1
        if count == m:
            break
    got = time.perf_counter()
    stream.close()
    thread.join()
    # the last change can arrive before the writer has read its reply: no lag then
    return m / (times["end"] - times["start"]), m / (got - times["start"]), max(got - times["end"], 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 backlog and 2,000 live changes")
    parser.add_argument("--standin", action="store_true", help="use the stand-ins even where the servers exist")
    parser.add_argument("--only", choices=("kt", "tt"))
    args = parser.parse_args()
    n, m = (20000, 2000) if args.quick else (100000, 5000)
    rows = []
    for kind in ("kt", "tt"):
        if args.only and kind != args.only:
            continue
        server = start(kind, args.standin)
        try:
            client = server.make_client()
            wrote = write_backlog(kind, client, n)
            time.sleep(0.3)  # ktserver writes its log every 0.1 s
            rate, first = read_backlog(client, n)
            last_ts = list(client.replicate(wait=0))[-1].ts
            w, c, lag = live(server, client, m, last_ts)
            rows.append((server.label, wrote, rate, first, w, c, lag))
        finally:
            server.stop()
    print(f"backlog {n:,} changes, live {m:,} single sets")
    head = ("server", "backlog write/s", "backlog read changes/s", "first", "live writer/s", "live consumer/s", "lag")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, wrote, rate, first, w, c, lag in rows:
        print(f"| {label} | {wrote:,.0f} | {rate:,.0f} | {first:.2f} s | {w:,.0f} | {c:,.0f} | {lag:.2f} s |")


if __name__ == "__main__":
    main()
