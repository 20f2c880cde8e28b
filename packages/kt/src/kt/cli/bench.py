"""``kt bench``: a quick latency and throughput table for one server.

Each single-record operation is timed one request at a time (latency percentiles); the bulk
operations are timed per batch (records a second). The records live under a key prefix of the
run's own and are removed afterwards, whatever happens.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from .targets import Target


@dataclass
class BenchRow:
    operation: str
    requests: int
    records: int
    seconds: float
    latencies: list[float]  # seconds, one per request

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
        return ordered[index]

    def as_json(self) -> dict[str, Any]:
        return {"operation": self.operation, "requests": self.requests, "records": self.records,
                "records_per_second": round(self.records / self.seconds, 1) if self.seconds else None,
                "p50_ms": round(self.percentile(0.50) * 1000, 4), "p99_ms": round(self.percentile(0.99) * 1000, 4),
                "max_ms": round(max(self.latencies, default=0.0) * 1000, 4)}


def _timed(operation: str, calls: list[Callable[[], Any]], records_per_call: int,
           advance: Callable[[int], None]) -> BenchRow:
    latencies = []
    clock = time.perf_counter
    start = clock()
    for call in calls:
        t0 = clock()
        call()
        latencies.append(clock() - t0)
        advance(1)
    return BenchRow(operation, len(calls), len(calls) * records_per_call, clock() - start, latencies)


def bench(target: Target, requests: int, size: int, batch: int, advance: Callable[[int], None]) -> list[BenchRow]:
    """Run set, get, set_bulk, get_bulk and remove ``requests`` times each (bulk: ``requests // batch``)."""
    client = target.client
    prefix = f"kt-bench:{uuid.uuid4().hex[:12]}:".encode()
    keys = [prefix + b"%08d" % i for i in range(requests)]
    value = os.urandom(size)
    batches = [keys[i:i + batch] for i in range(0, requests, batch)]
    rows: list[BenchRow] = []
    removed = False
    try:
        rows.append(_timed("set", [partial(client.set, k, value) for k in keys], 1, advance))
        rows.append(_timed("get", [partial(client.get_raw, k) for k in keys], 1, advance))
        rows.append(_timed(f"set_bulk ({batch})", [partial(client.set_bulk, dict.fromkeys(b, value))
                                                   for b in batches], batch, advance))
        rows.append(_timed(f"get_bulk ({batch})", [partial(client.get_bulk_raw, b) for b in batches],
                           batch, advance))
        rows.append(_timed("remove", [partial(client.remove, k) for k in keys], 1, advance))
        removed = True
    finally:
        if not removed:  # whatever failed, leave no benchmark records behind
            for chunk in batches:
                target.remove(chunk)
    return rows


def total_steps(requests: int, batch: int) -> int:
    return 3 * requests + 2 * -(-requests // batch)
