"""How the servers' answer time depends on the client's think time (the time between receiving one reply
and sending the next request), with no client library involved.

    python benchmarks/think_time.py [--standin] [-n 10000] [--rounds 5]

Each row is a raw loop on one socket: ``sendall`` of a prebuilt request, ``recv_into`` of the reply,
then a busy wait of the given think time (0 = none), for a KT binary get, a KT HTTP increment and a
TT get. It prints the wall time per request, and the extra over think time 0 minus the think time
itself: what waiting that long costs on the server's side. A client's Python work between two
requests is think time, so this shows what each microsecond of it costs on this machine. See
RESULTS.md ("Think time") for what it showed.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import time
from typing import Callable

from kt_embedded import EmbeddedServer, EmbeddedTokyoTyrantServer

THINK_US = (0, 1, 2, 4, 8, 16)


def loop(sock: socket.socket, request: bytes, n: int, think_us: float) -> float:
    """µs per request of n requests, each followed by think_us of busy waiting."""
    buf = bytearray(65536)
    send, recv, clock = sock.sendall, sock.recv_into, time.perf_counter
    wait = think_us * 1e-6
    started = clock()
    for _ in range(n):
        send(request)
        recv(buf)  # every reply here is far below one segment and arrives in one piece
        if wait:
            until = clock() + wait
            while clock() < until:
                pass
    return (clock() - started) / n * 1e6


def connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def kt_requests() -> dict[str, bytes]:
    body = b"key\tk1\nnum\t1\n"
    http = (b"POST /rpc/increment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/tab-separated-values\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    binary_get = struct.pack(">BIIHI", 0xBA, 0, 1, 0, 2) + b"k2"
    return {"KT get (binary)": binary_get, "KT increment (HTTP)": http}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--standin", action="store_true", help="use the stand-ins even where the real servers exist")
    parser.add_argument("-n", type=int, default=10000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians are printed)")
    args = parser.parse_args()
    server = {"server": "standin"} if args.standin else {}
    # Logs to /dev/null: a log line per HTTP request read by this process would compete with the loop.
    quiet = ["-log", os.devnull]
    with EmbeddedServer(server_args=quiet, **server) as kt, \
            EmbeddedTokyoTyrantServer(server_args=quiet, **server) as tt:
        print(f"KT server: {kt.backend}, TT server: {tt.backend}; {args.n} requests x {args.rounds} rounds, "
              "medians, µs per request")
        rows: dict[str, Callable[[float], float]] = {}
        for name, request in kt_requests().items():
            sock = connect(kt.host, kt.port)
            rows[name] = lambda think, s=sock, r=request: loop(s, r, args.n, think)
        tt_sock = connect(tt.host, tt.port)
        tt_sock.sendall(struct.pack(">BBII", 0xC8, 0x10, 2, 1) + b"k1" + b"v")  # put k1 = "v"
        tt_sock.recv(16)
        tt_get = struct.pack(">BBI", 0xC8, 0x30, 2) + b"k1"
        rows["TT get"] = lambda think: loop(tt_sock, tt_get, args.n, think)
        results: dict[tuple[str, float], list[float]] = {}
        for _ in range(args.rounds):
            for name, fn in rows.items():
                for think in THINK_US:
                    results.setdefault((name, think), []).append(fn(think))
        print(f"{'request':22s}" + "".join(f"{f'think {t} µs':>14s}" for t in THINK_US))
        for name in rows:
            base = statistics.median(results[(name, 0)])
            cells = []
            for think in THINK_US:
                wall = statistics.median(results[(name, think)])
                cells.append(f"{wall:7.1f}" + (f" ({wall - base - think:+4.0f})" if think else "       "))
            print(f"{name:22s}" + "".join(f"{c:>14s}" for c in cells))
        print("(in parentheses: wall time added beyond the think time itself, against think time 0)")


if __name__ == "__main__":
    main()
