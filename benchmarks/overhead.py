"""The client's own Python cost per call, without a server: the connection's socket is replaced by a
fake that swallows the request and hands back a canned reply, so only encode, the connection path,
decode and the client method are timed (no system calls, no scheduler). Steadier than the suite's
wall-clock rows on a loaded machine; compare runs of the same machine only.

    python benchmarks/overhead.py            # KT_REQUIRE_C=1 / KT_PUREPYTHON=1 pick the codec
"""

from __future__ import annotations

import struct
import time
from typing import Any, Callable

import kt_core
from kt_core.codec import kyoto_binary as kb
from kt_kyoto import KyotoTycoon
from kt_tyrant import TokyoTyrant

VALUE = b"v" * 100
KEYS = [b"key%09d" % i for i in range(100)]
STR_KEYS = [k.decode() for k in KEYS]


class FakeSocket:
    """Answers every recv_into with the same reply."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.size = len(reply)

    def sendall(self, data: bytes) -> None:
        pass

    def recv_into(self, buf: Any, *args: Any) -> int:
        buf[: self.size] = self.reply
        return self.size

    def settimeout(self, timeout: Any) -> None:
        pass

    def close(self) -> None:
        pass


def per_call(fn: Callable[[], Any], n: int) -> float:
    """Best of 5 runs of n calls, µs per call."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - started)
    return best / n * 1e6


def _http(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nServer: KyotoTycoon/0.9.56\r\nDate: Thu, 26 Nov 2026 16:00:00 GMT\r\n"
            b"Content-Type: text/tab-separated-values\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def main() -> None:
    def kt(reply: bytes) -> KyotoTycoon:
        client = KyotoTycoon("127.0.0.1", 1, serializer="none")
        client._conns.get().sock = FakeSocket(reply)  # type: ignore[assignment]
        client._conns.STALE_CHECK_AFTER = float("inf")  # the fake socket cannot be polled
        return client

    def tt(reply: bytes) -> TokyoTyrant:
        client = TokyoTyrant("127.0.0.1", 1, serializer="none")
        client._conns.get().sock = FakeSocket(reply)  # type: ignore[assignment]
        client._conns.STALE_CHECK_AFTER = float("inf")  # the fake socket cannot be polled
        return client

    key = KEYS[0]
    c_get = kt(kb.encode_get_bulk_reply([(0, key, VALUE, kb.XT_MAX_REPLY)]))
    c_set = kt(kb.encode_set_bulk_reply(1))
    c_remove = kt(kb.encode_remove_bulk_reply(1))
    c_incr = kt(_http(b"num\t5\n"))
    c_empty = kt(_http(b""))
    c_bulk = kt(kb.encode_get_bulk_reply([(0, k, VALUE, kb.XT_MAX_REPLY) for k in KEYS]))
    c_set_bulk = kt(kb.encode_set_bulk_reply(100))
    data = dict.fromkeys(KEYS, VALUE)
    str_data = dict.fromkeys(STR_KEYS, VALUE)
    t_get = tt(b"\x00" + struct.pack(">I", 100) + VALUE)
    t_set = tt(b"\x00")
    t_mget = tt(b"\x00" + struct.pack(">I", 100)
                + b"".join(struct.pack(">II", len(k), 100) + k + VALUE for k in KEYS))
    rows = [
        ("KT get", lambda: c_get.get(key), 20000),
        ("KT set", lambda: c_set.set(key, VALUE), 20000),
        ("KT remove", lambda: c_remove.remove(key), 20000),
        ("KT exists (HTTP)", lambda: c_empty.exists("key000000001"), 20000),
        ("KT incr (HTTP)", lambda: c_incr.incr("key000000001", 1), 20000),
        ("KT cas (HTTP)", lambda: c_empty.cas("key000000001", b"a", b"b"), 20000),
        ("KT get_bulk_raw 100", lambda: c_bulk.get_bulk_raw(KEYS), 2000),
        ("KT get_bulk_raw 100 str", lambda: c_bulk.get_bulk_raw(STR_KEYS), 2000),
        ("KT set_bulk 100", lambda: c_set_bulk.set_bulk(data), 2000),
        ("KT set_bulk 100 str", lambda: c_set_bulk.set_bulk(str_data), 2000),
        ("TT get", lambda: t_get.get(key), 20000),
        ("TT set", lambda: t_set.set(key, VALUE), 20000),
        ("TT get_bulk_raw (mget) 100", lambda: t_mget.get_bulk_raw(KEYS), 2000),
        ("TT get_bulk_raw 100 str", lambda: t_mget.get_bulk_raw(STR_KEYS), 2000),
    ]
    print(f"client Python cost per call, no I/O (codec {kt_core.IMPLEMENTATION}), µs, best of 5")
    for name, fn, n in rows:
        print(f"  {name:28s} {per_call(fn, n):8.2f}")


if __name__ == "__main__":
    main()
