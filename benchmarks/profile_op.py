"""cProfile one benchmark operation against fresh servers.

    python benchmarks/profile_op.py OP [-n N] [--standin] [--top 25] [--sort tottime]
    KT_PUREPYTHON=1 python benchmarks/profile_op.py tt_get     # the pure codec

OP is a method of ``_worker.Bench`` (kt_get, kt_set, kt_incr, kt_get_bulk, tt_set, tt_get_bulk, ...).
The data is prepared untimed; only the timed loop runs under the profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _worker


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("op")
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--standin", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime")
    args = ap.parse_args()

    import kt_core
    from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer

    def pick(real: str) -> str:
        return STANDIN if args.standin or shutil.which(real) is None else real

    tmp = tempfile.TemporaryDirectory(prefix="kt-prof-")
    servers: list[Any] = []
    spec: dict[str, Any] = {"host": "127.0.0.1"}
    try:
        if args.op.startswith("kt_"):
            s = EmbeddedServer(server=pick("ktserver"), database=["*", "%"])
            s.run()
            servers.append(s)
            spec["kt_port"] = s.port
        else:
            s = EmbeddedTokyoTyrantServer(server=pick("ttserver"), database="*")
            s.run()
            servers.append(s)
            t = EmbeddedTokyoTyrantServer(server=pick("ttserver"), database=str(Path(tmp.name) / "p.tct"))
            t.run()
            servers.append(t)
            spec["tt_port"] = s.port
            spec["tt_table_port"] = t.port
        bench = _worker.Bench(spec)
        if args.op in ("kt_match_prefix", "kt_keys"):
            bench.kt_fill_walk()
        if args.op == "tt_query":
            bench.tt_fill_table()
        original = _worker._timed
        profiler = cProfile.Profile()
        elapsed: list[float] = []

        def profiled(fn: Any, n: int) -> float:
            profiler.enable()
            try:
                seconds = original(fn, n)
            finally:
                profiler.disable()
            elapsed.append(seconds)
            return seconds

        _worker._timed = profiled
        getattr(bench, args.op)(args.n)
        print(f"{args.op} x{args.n}, codec {kt_core.IMPLEMENTATION}, server {servers[0].backend}: "
              f"{args.n / elapsed[0]:,.0f} ops/s under the profiler")
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)
    finally:
        for s in servers:
            s.stop()
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
