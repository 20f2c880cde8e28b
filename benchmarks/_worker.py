"""Benchmark worker: one process per codec implementation (the driver sets KT_PUREPYTHON).

With ``KT_BENCH_CLIENT=kt096`` it runs kt 0.9.6's clients instead (the driver starts it with a
Python where kt 0.9.6 is installed), for the rows compared with kt 0.9.6; their API is the same.

Reads one JSON command per line on stdin, runs it, answers one JSON line on stdout. Each
measurement prepares its data untimed, then times ``n`` calls of one client method on one
thread and one connection. Not a test and not part of the package.
"""

from __future__ import annotations

import gc
import json
import os
import select
import socket
import sys
import threading
import time
import tracemalloc
from typing import Any, Callable

KT096 = os.environ.get("KT_BENCH_CLIENT") == "kt096"
if not KT096:
    import kt_core

VALUE = b"v" * 100  # the issue's workload: 100-byte values
ISSUE, NATIVE = "issue", "native"  # record formats: ours (12-20 byte keys, 100-byte values) or the C++ tools'


def _key(prefix: str, i: int) -> bytes:
    return b"%s%08d" % (prefix.encode(), i)


class CountingProxy:
    """A TCP relay that counts round trips: each time the client speaks after the server has."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.round_trips = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        last = "server"
        try:
            while True:
                readable, _, _ = select.select([client, server], [], [])
                for s in readable:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    if s is client:
                        if last == "server":
                            with self._lock:
                                self.round_trips += 1
                        last = "client"
                        server.sendall(data)
                    else:
                        last = "server"
                        client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()


CPU: list[float] = []  # client CPU seconds of the last timed loop (user + system of this process)


def _timed(fn: Callable[[int], Any], n: int) -> float:
    cpu = time.process_time()
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    elapsed = time.perf_counter() - start
    CPU[:] = [time.process_time() - cpu]
    return elapsed


class Bench:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.kt: Any = None
        self.tt: Any = None
        self.tq: Any = None
        self.run_id = 0
        self.fmt = ISSUE  # set by main() for each command
        # Native-format keys are bare 8-digit numbers, so each worker draws from its own range (the
        # other worker shares the servers) starting above the tools' own 1..N.
        self.native_next = 10_000_000 * (1 + int(spec.get("slot", 0)))

    # -- clients ----------------------------------------------------------------------
    def kt_client(self, port: int | None = None) -> Any:
        if KT096:
            import kt
            return kt.KyotoTycoon(self.spec["host"], port or self.spec["kt_port"], serializer=kt.KT_NONE)
        from kt_kyoto import KyotoTycoon
        return KyotoTycoon(self.spec["host"], port or self.spec["kt_port"], serializer="none")

    def ktc(self) -> Any:
        if self.kt is None:
            self.kt = self.kt_client()
        return self.kt

    def ttc(self) -> Any:
        if self.tt is None and KT096:
            import kt
            self.tt = kt.TokyoTyrant(self.spec["host"], self.spec["tt_port"], serializer=kt.KT_NONE)
        if self.tt is None:
            from kt_tyrant import TokyoTyrant
            self.tt = TokyoTyrant(self.spec["host"], self.spec["tt_port"], serializer="none")
        return self.tt

    def ttq(self) -> Any:
        if self.tq is None:
            from kt_tyrant import TokyoTyrant
            self.tq = TokyoTyrant(self.spec["host"], self.spec["tt_table_port"], serializer="table")
        return self.tq

    def _prefix(self, what: str) -> str:
        self.run_id += 1
        return f"{what}{os.getpid()}.{self.run_id}:"

    # -- record formats ---------------------------------------------------------------
    def _records(self, what: str, n: int) -> tuple[list[bytes], list[bytes]]:
        """Keys and values for one measurement, in the current record format, not stored yet."""
        if self.fmt == NATIVE:
            # ktremotetest and tcrmttest store key = value = sprintf("%08d", i): 8 bytes each.
            base = self.native_next
            self.native_next += n
            keys = [b"%08d" % (base + i) for i in range(n)]
            return keys, keys
        prefix = self._prefix(what)
        return [_key(prefix, i) for i in range(n)], [VALUE] * n

    def _value_size(self) -> int:
        return 8 if self.fmt == NATIVE else len(VALUE)

    def _batches(self, what: str) -> list[dict[bytes, bytes]]:
        """Ten batches of 100 records for the bulk rows."""
        keys, values = self._records(what, 1000)
        return [dict(zip(keys[b:b + 100], values[b:b + 100])) for b in range(0, 1000, 100)]

    # -- Kyoto Tycoon -----------------------------------------------------------------
    def _kt_fill(self, what: str, n: int) -> list[bytes]:
        c = self.ktc()
        keys, values = self._records(what, n)
        for i in range(0, n, 1000):
            c.set_bulk(dict(zip(keys[i:i + 1000], values[i:i + 1000])))
        return keys

    def kt_get(self, n: int) -> float:
        keys = self._kt_fill("g", n)
        get = self.ktc().get
        return _timed(lambda i: get(keys[i]), n)

    def kt_set(self, n: int) -> float:
        keys, values = self._records("s", n)
        set_ = self.ktc().set
        return _timed(lambda i: set_(keys[i], values[i]), n)

    def kt_remove(self, n: int) -> float:
        keys = self._kt_fill("r", n)
        remove = self.ktc().remove
        return _timed(lambda i: remove(keys[i]), n)

    def kt_exists(self, n: int) -> float:
        keys = self._kt_fill("e", n)
        exists = self.ktc().exists
        return _timed(lambda i: exists(keys[i]), n)

    def kt_incr(self, n: int) -> float:
        key = self._records("i", 1)[0][0]
        incr = self.ktc().incr
        return _timed(lambda i: incr(key, 1), n)

    def kt_add(self, n: int) -> float:
        keys, values = self._records("a", n)
        add = self.ktc().add
        return _timed(lambda i: add(keys[i], values[i]), n)

    def kt_cas(self, n: int) -> float:
        key = self._records("c", 1)[0][0]
        size = self._value_size()
        values = (b"a" * size, b"b" * size)
        c = self.ktc()
        c.set(key, values[0])
        cas = c.cas

        def one(i: int) -> None:
            if not cas(key, values[i & 1], values[(i + 1) & 1]):
                raise AssertionError("cas failed")
        return _timed(one, n)

    def kt_get_bulk(self, n: int) -> float:
        batches = [self._kt_fill("gb", 100) for _ in range(10)]
        get_bulk = self.ktc().get_bulk_raw
        return _timed(lambda i: get_bulk(batches[i % 10]), n)

    def kt_set_bulk(self, n: int) -> float:
        batches = self._batches("sb")
        set_bulk = self.ktc().set_bulk
        return _timed(lambda i: set_bulk(batches[i % 10]), n)

    def kt_match_prefix(self, n: int) -> float:
        match_prefix = self.ktc().match_prefix

        def one(i: int) -> None:
            if len(match_prefix(f"w:{i % 10}", db=1)) != 1000:
                raise AssertionError("match_prefix count")
        return _timed(one, n)

    def kt_keys(self, n: int) -> float:
        c = self.ktc()

        def one(i: int) -> None:
            if sum(1 for _ in c.keys(db=1)) != 10000:
                raise AssertionError("keys() walk count")
        return _timed(one, n)

    def kt_fill_walk(self) -> dict[str, Any]:
        c = self.ktc()
        c.clear(db=1)
        for d in range(10):
            c.set_bulk({b"w:%d%04d" % (d, j): b"x" for j in range(1000)}, db=1)
        return {"count": c.count(db=1)}

    def kt_round_trips(self) -> dict[str, Any]:
        proxy = CountingProxy(self.spec["host"], self.spec["kt_port"])
        c = self.kt_client(proxy.port)
        c.count(db=1)  # connect and load what the client caches
        out: dict[str, Any] = {}
        before = proxy.round_trips
        found = c.match_prefix("w:1", db=1)
        out["match_prefix"] = {"keys": len(found), "round_trips": proxy.round_trips - before}
        before = proxy.round_trips
        walked = sum(1 for _ in c.keys(db=1))
        out["keys"] = {"keys": walked, "round_trips": proxy.round_trips - before}
        c.close()
        return out

    @staticmethod
    def _memory(call: Callable[[list[Any]], dict[Any, bytes]], keys: list[Any]) -> dict[str, Any]:
        """tracemalloc's peak during ``call(keys)`` above the state before it, and what the result keeps."""
        gc.collect()  # nothing of an earlier measurement left to be freed inside the window
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = call(keys)
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        payload = sum(len(k.encode() if isinstance(k, str) else k) + len(v) for k, v in result.items())
        found = len(result)
        del result
        gc.collect()
        return {"records": found, "payload": payload, "peak": peak - base, "retained": retained - base}

    def kt_memory(self, n: int) -> dict[str, Any]:
        """get_bulk_raw of n keys (decode_keys=True, the default): str keys in, then bytes keys in."""
        c = self.ktc()
        c.clear(db=1)
        str_keys = [f"m:{i:08d}" for i in range(n)]
        bytes_keys = [k.encode() for k in str_keys]
        for i in range(0, n, 1000):
            c.set_bulk({k: VALUE for k in bytes_keys[i:i + 1000]}, db=1)

        def get_bulk(keys: list[Any]) -> dict[Any, bytes]:
            return c.get_bulk_raw(keys, db=1)
        out = {"kt_str": self._memory(get_bulk, str_keys), "kt_bytes": self._memory(get_bulk, bytes_keys)}
        del str_keys, bytes_keys
        c.clear(db=1)
        self.kt_fill_walk()
        return out

    # -- Tokyo Tyrant -----------------------------------------------------------------
    def _tt_fill(self, what: str, n: int) -> list[bytes]:
        c = self.ttc()
        keys, values = self._records(what, n)
        for i in range(0, n, 1000):
            c.set_bulk(dict(zip(keys[i:i + 1000], values[i:i + 1000])))
        return keys

    def tt_get(self, n: int) -> float:
        keys = self._tt_fill("g", n)
        get = self.ttc().get
        return _timed(lambda i: get(keys[i]), n)

    def tt_set(self, n: int) -> float:
        keys, values = self._records("s", n)
        set_ = self.ttc().set
        return _timed(lambda i: set_(keys[i], values[i]), n)

    def tt_get_bulk(self, n: int) -> float:
        batches = [self._tt_fill("gb", 100) for _ in range(10)]
        get_bulk = self.ttc().get_bulk_raw
        return _timed(lambda i: get_bulk(batches[i % 10]), n)

    def tt_set_bulk(self, n: int) -> float:
        batches = self._batches("sb")
        set_bulk = self.ttc().set_bulk
        return _timed(lambda i: set_bulk(batches[i % 10]), n)

    def tt_incr(self, n: int) -> float:
        key = self._records("i", 1)[0][0]
        incr = self.ttc().incr
        return _timed(lambda i: incr(key, 1), n)

    # -- pipelines of 100 commands (n pipelines per measurement) ------------------------------
    def _piped(self, client: Any, method: str, calls: list[tuple[Any, ...]], n: int) -> float:
        def one(i: int) -> None:
            pipe = client.pipeline()
            queue = getattr(pipe, method)
            for args in calls[(i % 10) * 100:(i % 10) * 100 + 100]:
                queue(*args)
            pipe.execute()
        return _timed(one, n)

    def _apiped(self, make: Callable[[], Any], method: str, calls: list[tuple[Any, ...]], n: int) -> float:
        """n pipelines of 100 shared by 8 asyncio tasks on one client."""
        import asyncio

        async def main() -> float:
            client = make()
            per = max(1, n // 8)

            async def worker(w: int) -> None:
                for i in range(per):
                    pipe = client.pipeline()
                    queue = getattr(pipe, method)
                    for args in calls[((w + i) % 10) * 100:((w + i) % 10) * 100 + 100]:
                        queue(*args)
                    await pipe.execute()

            cpu = time.process_time()
            start = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(8)))
            elapsed = time.perf_counter() - start
            CPU[:] = [time.process_time() - cpu]
            await client.close()
            return elapsed * n / (per * 8)

        return asyncio.run(main())

    def kt_get_pipe(self, n: int) -> float:
        return self._piped(self.ktc(), "get", [(k,) for k in self._kt_fill("gp", 1000)], n)

    def kt_set_pipe(self, n: int) -> float:
        keys, values = self._records("sp", 1000)
        return self._piped(self.ktc(), "set", list(zip(keys, values)), n)

    def kt_incr_pipe(self, n: int) -> float:
        key = self._records("ip", 1)[0][0]
        return self._piped(self.ktc(), "incr", [(key, 1)] * 1000, n)

    def tt_get_pipe(self, n: int) -> float:
        return self._piped(self.ttc(), "get", [(k,) for k in self._tt_fill("gp", 1000)], n)

    def tt_set_pipe(self, n: int) -> float:
        keys, values = self._records("sp", 1000)
        return self._piped(self.ttc(), "set", list(zip(keys, values)), n)

    def tt_get_apipe(self, n: int) -> float:
        from kt_tyrant import AsyncTokyoTyrant
        calls = [(k,) for k in self._tt_fill("ga", 1000)]
        return self._apiped(lambda: AsyncTokyoTyrant(self.spec["host"], self.spec["tt_port"], serializer="none"),
                            "get", calls, n)

    def kt_get_apipe(self, n: int) -> float:
        from kt_kyoto import AsyncKyotoTycoon
        calls = [(k,) for k in self._kt_fill("ga", 1000)]
        return self._apiped(lambda: AsyncKyotoTycoon(self.spec["host"], self.spec["kt_port"], serializer="none"),
                            "get", calls, n)

    def tt_memory(self, n: int) -> dict[str, Any]:
        """get_bulk_raw (mget) of n str keys (decode_keys=True, the default)."""
        c = self.ttc()
        c.clear()
        str_keys = [f"m:{i:08d}" for i in range(n)]
        for i in range(0, n, 1000):
            c.set_bulk({k.encode(): VALUE for k in str_keys[i:i + 1000]})
        out = {"tt_str": self._memory(c.get_bulk_raw, str_keys)}
        del str_keys
        c.clear()
        return out

    def tt_fill_table(self) -> dict[str, Any]:
        from kt_tyrant import INDEX_NUM
        c = self.ttq()
        c.clear()
        c.set_index("num", INDEX_NUM)
        for b in range(0, 10000, 1000):
            c.set_bulk({f"row{i:05d}": {"name": f"n{i}", "num": str(i)} for i in range(b, b + 1000)})
        return {"count": len(c)}

    def tt_query(self, n: int) -> float:
        from kt_tyrant import OP_NUM_BETWEEN, QueryBuilder
        c = self.ttq()
        queries = []
        for q in range(10):
            queries.append(QueryBuilder().filter("num", OP_NUM_BETWEEN, [q * 1000, q * 1000 + 99]))

        def one(i: int) -> None:
            if len(queries[i % 10].execute(c)) != 100:
                raise AssertionError("query result count")
        return _timed(one, n)


def main() -> None:
    spec = json.loads(sys.argv[1])
    bench = Bench(spec)
    print(json.dumps({"ready": True, "implementation": "kt096" if KT096 else kt_core.IMPLEMENTATION}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            fn = getattr(bench, cmd["op"])
            bench.fmt = cmd.get("fmt", ISSUE)
            if "n" in cmd:
                result = fn(cmd["n"])
                if isinstance(result, float):
                    result = {"seconds": result, "ops_per_s": cmd["n"] / result,
                              "cpu_us_per_op": CPU[0] * 1e6 / cmd["n"]}
            else:
                result = fn()
            reply = {"ok": True, "result": result}
        except Exception as exc:  # reported in the table, never hidden
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
