"""kt benchmark suite: our clients against fresh servers, with the servers' own C++ clients as reference.

    python benchmarks/run.py [--quick] [--only kt|tt] [--rounds N] [--impl c,python] [--standin] [--json FILE]
                             [--kt096 PYTHON] [--baseline PYTHON]

Starts the real ``ktserver``/``ttserver`` when installed (otherwise the stand-ins) and says which;
runs ``ktremotetest``/``tcrmttest`` on the same servers when installed. Rounds are interleaved
(native, then each codec implementation, op by op, with the order rotated every round) and the
table reports medians. Each codec implementation runs in a worker subprocess of its own
(``KT_PUREPYTHON=1`` for the pure one), so both are measured honestly. With ``--kt096 PYTHON`` (or
``KT096_PYTHON``: a Python with kt 0.9.6 installed), the rows marked for it also run kt 0.9.6's
clients in the same rounds, and a second table compares them. With ``--baseline PYTHON`` (a Python with
another checkout of kt installed, say the commit before a change), that checkout's C codec runs every row
in the same rounds as a column ``before``, and a last table gives ours / before: a before-and-after
comparison measured in one run. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- native reference clients

_PHASE = re.compile(r"^([a-z][a-z ]+):\s*$")
_TIME = re.compile(r"^time:\s*([0-9.]+)")


def parse_phases(output: str) -> dict[str, float]:
    """``{"setting records": seconds, ...}`` from a ktremotetest/tcrmttest transcript."""
    phases: dict[str, float] = {}
    current = None
    for line in output.splitlines():
        m = _PHASE.match(line)
        if m:
            current = m.group(1)
            continue
        m = _TIME.match(line)
        if m:
            phases[current or "total"] = float(m.group(1))
            current = None
    return phases


_LAST_CPU: list[float] = [0.0]  # CPU seconds (user + system) of the last native run


def _run(argv: list[str]) -> str:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _LAST_CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0 or "\nok" not in "\n" + proc.stdout:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}")
    return proc.stdout


def _cpu_us(ops: int) -> float:
    """CPU µs per operation of the last native run, averaged over all its ``ops`` (every phase)."""
    return _LAST_CPU[0] * 1e6 / ops


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def native_kt_bin1(host: str, port: int, n: int) -> dict[str, float]:
    """ktremotetest bulk -bin -bulk 1: single-record binary set/get/remove (one round trip each)."""
    p = parse_phases(_run(["ktremotetest", "bulk", "-bin", "-bulk", "1", "-host", host, "-port", str(port), str(n)]))
    cpu = _cpu_us(4 * n)  # set, get, remove and a mixed phase, n each
    return {"get": _rate(n, p["getting records"]), "set": _rate(n, p["setting records"]),
            "remove": _rate(n, p["removing records"]), "cpu:get": cpu, "cpu:set": cpu, "cpu:remove": cpu}


def native_kt_http(host: str, port: int, n: int) -> dict[str, float]:
    """ktremotetest order -etc: HTTP set/add/append/get/remove, one record per request, and a cursor walk."""
    p = parse_phases(_run(["ktremotetest", "order", "-etc", "-host", host, "-port", str(port), str(n)]))
    return {"set": _rate(n, p["setting records"]), "add": _rate(n, p["adding records"]),
            "get": _rate(n, p["geting records"]), "remove": _rate(n, p["removing records"]),
            "walk_keys": _rate(n, p["traversing the database by the outer cursor"]),
            **{f"cpu:{k}": _cpu_us(6 * n) for k in ("set", "add", "get")}}  # 6 phases of n requests


def native_kt_bulk100(host: str, port: int, calls: int) -> dict[str, float]:
    """ktremotetest bulk -bin -bulk 100: binary set_bulk/get_bulk of 100 records per call."""
    n = calls * 100
    p = parse_phases(_run(["ktremotetest", "bulk", "-bin", "-bulk", "100", "-host", host, "-port", str(port), str(n)]))
    cpu = _cpu_us(4 * calls)  # set, get, remove and mixed phases
    return {"get_bulk": _rate(calls, p["getting records"]), "set_bulk": _rate(calls, p["setting records"]),
            "cpu:get_bulk": cpu, "cpu:set_bulk": cpu}


def native_tt(host: str, port: int, n: int) -> dict[str, float]:
    """tcrmttest write / read / read -mul 100 on a vanished database (read expects exactly its own records)."""
    _run_quiet(["tcrmgr", "vanish", "-port", str(port), host])
    w = parse_phases(_run(["tcrmttest", "write", "-port", str(port), "-tnum", "1", host, str(n)]))
    cpu = {"cpu:set": _cpu_us(n)}
    r = parse_phases(_run(["tcrmttest", "read", "-port", str(port), "-tnum", "1", host]))
    cpu["cpu:get"] = _cpu_us(n)
    m = parse_phases(_run(["tcrmttest", "read", "-port", str(port), "-tnum", "1", "-mul", "100", host]))
    cpu["cpu:get_bulk"] = _cpu_us(n // 100)
    _run_quiet(["tcrmgr", "vanish", "-port", str(port), host])
    return {"set": _rate(n, w["total"]), "get": _rate(n, r["total"]), "get_bulk": _rate(n // 100, m["total"]), **cpu}


def _run_quiet(argv: list[str]) -> None:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=True)


# ---------------------------------------------------------------- workers (one per codec implementation)


class Worker:
    def __init__(self, impl: str, spec: dict[str, Any], python: str = sys.executable) -> None:
        env = dict(os.environ)
        env.pop("KT_PUREPYTHON", None)
        env.pop("KT_REQUIRE_C", None)
        cwd = None
        if impl == "python":
            env["KT_PUREPYTHON"] = "1"
        elif impl in ("kt096", "before"):
            if impl == "kt096":
                env["KT_BENCH_CLIENT"] = "kt096"
            else:
                env["KT_REQUIRE_C"] = "1"
            env.pop("PYTHONPATH", None)
            cwd = tempfile.gettempdir()  # nothing of this checkout on its path
        else:
            env["KT_REQUIRE_C"] = "1"
        self.impl = impl
        self.proc = subprocess.Popen([python, str(HERE / "_worker.py"), json.dumps(spec)], cwd=cwd,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        hello = json.loads(self._readline())
        if hello["implementation"] != ("c" if impl == "before" else impl):
            raise RuntimeError(f"worker for {impl} runs {hello['implementation']}")

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.impl} worker died")
        return line

    def call(self, op: str, n: int | None = None, fmt: str | None = None) -> Any:
        assert self.proc.stdin is not None
        cmd: dict[str, Any] = {"op": op}
        if n is not None:
            cmd["n"] = n
        if fmt is not None:
            cmd["fmt"] = fmt
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self._readline())
        if not reply["ok"]:
            raise RuntimeError(f"{self.impl} {op}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(10)


# ---------------------------------------------------------------- the rows


@dataclass
class Row:
    label: str
    op: str  # worker method
    n: int  # calls per measurement (full mode)
    unit: str = "ops/s"
    native: tuple[str, str] | None = None  # (native group, key)
    native_note: str = ""
    target: float | None = None
    scale: float = 1.0  # our ops/s multiplied by this (e.g. keys per walk)
    fmt: str = "issue"  # record format: "issue" (100-byte values) or "native" (the C++ tool's 8-byte key = value)
    kt096: float | None = None  # compared with kt 0.9.6 (--kt096): the target ratio ours / kt 0.9.6
    ours: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # client CPU µs per call


NATIVE_FMT = "[native fmt]"
# Rows measured a second time with the native tool's own records, for a like-for-like ratio.
_TWINNED = ("kt_get", "kt_set", "kt_remove", "kt_exists", "kt_incr", "kt_add", "kt_cas", "kt_get_bulk", "kt_set_bulk",
            "tt_get", "tt_set", "tt_get_bulk")


def native_fmt_twins(rows: list[Row]) -> list[Row]:
    """Copies of the rows in ``_TWINNED`` that run with key = value = "%08d" (8 bytes), as ktremotetest/tcrmttest."""
    return [dataclasses.replace(r, label=f"{r.label} {NATIVE_FMT}", fmt="native", ours={}, cpu={})
            for r in rows if r.op in _TWINNED]


def kt_rows() -> list[Row]:
    rows = [
        Row("KT get (binary)", "kt_get", 4000, native=("kt_bin1", "get"), native_note="bulk -bin -bulk 1", target=0.9),
        Row("KT set (binary)", "kt_set", 4000, native=("kt_bin1", "set"), native_note="bulk -bin -bulk 1", target=0.9),
        Row("KT remove (binary)", "kt_remove", 4000, native=("kt_bin1", "remove"), native_note="bulk -bin -bulk 1",
            target=0.9),
        Row("KT exists (HTTP)", "kt_exists", 3000, native=("kt_http", "get"), native_note="order: HTTP get",
            target=0.85),
        Row("KT incr (HTTP)", "kt_incr", 3000, native=("kt_http", "set"), native_note="order: HTTP set", target=0.85),
        Row("KT add (HTTP)", "kt_add", 3000, native=("kt_http", "add"), native_note="order: HTTP add", target=0.85),
        Row("KT cas (HTTP)", "kt_cas", 3000, native=("kt_http", "set"), native_note="order: HTTP set", target=0.85),
        Row("KT get_bulk 100", "kt_get_bulk", 400, "calls/s", native=("kt_bulk100", "get_bulk"),
            native_note="bulk -bin -bulk 100", target=0.8),
        Row("KT set_bulk 100", "kt_set_bulk", 400, "calls/s", native=("kt_bulk100", "set_bulk"),
            native_note="bulk -bin -bulk 100", target=0.8),
        Row("KT match_prefix (1,000 of 10,000)", "kt_match_prefix", 100, "calls/s", kt096=1.0),
        Row("KT keys() walk of 10,000", "kt_keys", 3, "keys/s", native=("kt_http", "walk_keys"),
            native_note="order: cursor walk", scale=10000),
        Row("KT get, pipelined 100", "kt_get_pipe", 100, native=("kt_bin1", "get"), native_note="bulk -bin -bulk 1",
            target=3.0, scale=100),
        Row("KT set, pipelined 100", "kt_set_pipe", 100, native=("kt_bin1", "set"), native_note="bulk -bin -bulk 1",
            target=3.0, scale=100),
        Row("KT incr (HTTP), pipelined 100", "kt_incr_pipe", 100, native=("kt_http", "set"),
            native_note="order: HTTP set", target=3.0, scale=100),
        Row("KT get, async pipelines 100 x 8 tasks", "kt_get_apipe", 96, native=("kt_bin1", "get"),
            native_note="bulk -bin -bulk 1", scale=100),
    ]
    return rows + native_fmt_twins(rows)


def tt_rows() -> list[Row]:
    rows = [
        Row("TT get", "tt_get", 4000, native=("tt", "get"), native_note="read", target=0.95),
        Row("TT set", "tt_set", 4000, native=("tt", "set"), native_note="write", target=0.95),
        Row("TT get_bulk (mget) 100", "tt_get_bulk", 400, "calls/s", native=("tt", "get_bulk"),
            native_note="read -mul 100", target=0.95),
        Row("TT set_bulk (putlist) 100", "tt_set_bulk", 400, "calls/s", kt096=1.0),
        Row("TT incr (addint)", "tt_incr", 4000, kt096=1.0),
        Row("TT query (indexed num, 100 hits)", "tt_query", 300, "calls/s"),
        Row("TT get, pipelined 100", "tt_get_pipe", 100, native=("tt", "get"), native_note="read", target=4.0,
            scale=100),
        Row("TT set, pipelined 100", "tt_set_pipe", 100, native=("tt", "set"), native_note="write", target=4.0,
            scale=100),
        Row("TT get, async pipelines 100 x 8 tasks", "tt_get_apipe", 96, native=("tt", "get"), native_note="read",
            scale=100),
    ]
    return rows + native_fmt_twins(rows)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer, shorter rounds (under a minute)")
    ap.add_argument("--only", choices=("kt", "tt"))
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--impl", default="c,python", help="codec implementations to run (c,python)")
    ap.add_argument("--standin", action="store_true", help="run the stand-in servers even if the real ones exist")
    ap.add_argument("--no-native", action="store_true", help="skip ktremotetest/tcrmttest")
    ap.add_argument("--json", help="also write the raw figures to this file")
    ap.add_argument("--kt096", default=os.environ.get("KT096_PYTHON"),
                    help="a Python with kt 0.9.6 installed: its clients run the rows compared with it")
    ap.add_argument("--baseline", help="a Python with another checkout of kt installed: its C codec runs every row "
                                       "as the column 'before', and a table gives ours / before")
    args = ap.parse_args(argv)

    from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer

    rounds = args.rounds or (3 if args.quick else 5)
    shrink = 4 if args.quick else 1
    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    if args.baseline:
        impls.append("before")
    do_kt = args.only in (None, "kt")
    do_tt = args.only in (None, "tt")
    host = "127.0.0.1"
    tmp = tempfile.TemporaryDirectory(prefix="kt-bench-")
    servers: list[Any] = []
    spec: dict[str, Any] = {"host": host}
    backends: dict[str, str] = {}

    def start(cls: Any, real: str, database: Any) -> Any:
        server = STANDIN if (args.standin or shutil.which(real) is None) else real
        manager = cls(server=server, host=host, database=database)
        manager.run()
        servers.append(manager)
        return manager

    rows: list[Row] = []
    if do_kt:
        kt = start(EmbeddedServer, "ktserver", ["*", "%"])
        spec["kt_port"] = kt.port
        backends["kt"] = kt.backend
        rows += kt_rows()
    if do_tt:
        tt = start(EmbeddedTokyoTyrantServer, "ttserver", "*")
        ttq = start(EmbeddedTokyoTyrantServer, "ttserver", str(Path(tmp.name) / "bench.tct"))
        spec["tt_port"] = tt.port
        spec["tt_table_port"] = ttq.port
        backends["tt"] = tt.backend
        rows += tt_rows()

    have_kt_native = do_kt and not args.no_native and shutil.which("ktremotetest") is not None
    have_tt_native = (do_tt and not args.no_native and shutil.which("tcrmttest") is not None
                      and shutil.which("tcrmgr") is not None)
    natives: dict[str, Any] = {}
    if have_kt_native:
        natives["kt_bin1"] = lambda: native_kt_bin1(host, spec["kt_port"], 20000 // shrink)
        natives["kt_http"] = lambda: native_kt_http(host, spec["kt_port"], 5000 // shrink)
        natives["kt_bulk100"] = lambda: native_kt_bulk100(host, spec["kt_port"], 400 // shrink)
    if have_tt_native:
        natives["tt"] = lambda: native_tt(host, spec["tt_port"], 50000 // shrink)
    native_figures: dict[str, dict[str, list[float]]] = {g: {} for g in natives}
    native_errors: dict[str, str] = {}

    print(f"kt benchmarks: {platform.node()} ({os.cpu_count()} cpus), python {platform.python_version()}, "
          f"rounds={rounds}{' quick' if args.quick else ''}", flush=True)
    for what, backend in backends.items():
        print(f"  {what.upper()} server: {backend} ({'ktserver' if what == 'kt' else 'ttserver'}"
              f"{' stand-in' if backend == STANDIN else ''})", flush=True)
    print(f"  native reference: {', '.join(sorted(natives)) or 'none installed'}", flush=True)

    # slot: each worker keeps its native-format keys (bare numbers) apart from the other's
    workers = {impl: Worker(impl, {**spec, "slot": i}, python=args.baseline if impl == "before" else sys.executable)
               for i, impl in enumerate(impls)}
    if args.kt096:
        workers["kt096"] = Worker("kt096", {**spec, "slot": len(impls)}, python=args.kt096)
    extras: dict[str, Any] = {}
    t0 = time.monotonic()
    try:
        first = workers[impls[0]]
        if do_kt:
            first.call("kt_fill_walk")
        if do_tt:
            first.call("tt_fill_table")
        # Groups: a native reference and the rows measured against it (both record formats), run back to back.
        groups: dict[str, list[Row]] = {}
        for row in rows:
            groups.setdefault(row.native[0] if row.native else "_" + row.op[:2], []).append(row)
        order = list(groups)
        for r in range(rounds):
            k = r % len(order)
            for g in order[k:] + order[:k]:
                if g in natives:
                    try:
                        for key, value in natives[g]().items():
                            native_figures[g].setdefault(key, []).append(value)
                    except Exception as exc:  # shown under the table
                        native_errors[g] = str(exc).splitlines()[0]
                for row in groups[g]:
                    run_order = impls if r % 2 == 0 else impls[::-1]
                    if row.kt096 is not None and "kt096" in workers and row.fmt == "issue":
                        run_order = [*run_order, "kt096"] if r % 2 == 0 else ["kt096", *run_order]
                    for impl in run_order:
                        n = max(1, row.n // shrink)
                        res = workers[impl].call(row.op, n, row.fmt)
                        row.ours.setdefault(impl, []).append(res["ops_per_s"] * row.scale)
                        row.cpu.setdefault(impl, []).append(res["cpu_us_per_op"])
            print(f"  round {r + 1}/{rounds} done ({time.monotonic() - t0:.0f}s)", flush=True)
        for impl in impls:
            if do_kt:
                extras.setdefault("round_trips", {})[impl] = workers[impl].call("kt_round_trips")
                extras.setdefault("memory", {}).setdefault(impl, {}).update(workers[impl].call("kt_memory", 100000))
            if do_tt:
                extras.setdefault("memory", {}).setdefault(impl, {}).update(workers[impl].call("tt_memory", 100000))
    finally:
        for w in workers.values():
            w.close()
        for s in servers:
            s.stop()
        tmp.cleanup()

    print_table(rows, impls, native_figures, natives)
    if "kt096" in workers:
        print_kt096_table(rows, impls)
    if "before" in workers:
        print_baseline_table(rows, [i for i in impls if i != "before"])
    for g, err in native_errors.items():
        print(f"  native {g} failed: {err}")
    if "round_trips" in extras:
        print("\nRound trips (counted at a relaying proxy: each client write after a server reply):")
        for impl, rt in extras["round_trips"].items():
            mp, ks = rt["match_prefix"], rt["keys"]
            print(f"  {impl:6} match_prefix: {mp['round_trips']} for {mp['keys']} keys; "
                  f"keys() walk: {ks['round_trips']} for {ks['keys']} keys "
                  f"({ks['round_trips'] / max(1, ks['keys']):.3f} per key)")
    if "memory" in extras:
        print("\nMemory of get_bulk_raw of 100,000 records (10-byte keys, 100-byte values; decode_keys=True), "
              "tracemalloc:\npeak during the call and retained after it, both above the state before the call")
        for case, title in MEMORY_CASES:
            per_impl = {impl: m[case] for impl, m in extras["memory"].items() if case in m}
            if per_impl:
                print(f"  {title}:")
            for impl, m in per_impl.items():
                ratio = m["peak"] / m["payload"] if m["payload"] else float("inf")
                print(f"    {impl:6} records={m['records']} payload={m['payload'] / 1e6:.1f} MB "
                      f"peak={m['peak'] / 1e6:.1f} MB ({ratio:.2f}x payload; target <= 2x: "
                      f"{'ok' if ratio <= 2 else 'ABOVE'}) retained={m['retained'] / 1e6:.1f} MB")
    print(f"\ntotal {time.monotonic() - t0:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "backends": backends, "rounds": rounds, "quick": args.quick,
            "rows": [{"label": r.label, "op": r.op, "record_format": r.fmt, "unit": r.unit, "ours": r.ours,
                      "cpu_us": r.cpu,
                      "native": native_figures.get(r.native[0], {}).get(r.native[1]) if r.native else None,
                      "target": r.target} for r in rows],
            "extras": extras}, indent=1))
    return 0


MEMORY_CASES = (
    ("kt_str", "KT get_bulk_raw, str keys in (the common call)"),
    ("kt_bytes", "KT get_bulk_raw, bytes keys in (every key decoded to a new str)"),
    ("tt_str", "TT get_bulk_raw (mget), str keys in"),
)


def print_baseline_table(rows: list[Row], impls: list[str]) -> None:
    """This checkout beside the baseline checkout (--baseline), medians of the same rounds."""
    print("\nAgainst the baseline checkout (its C codec; same servers, same rounds, medians):")
    print(f"  {'operation':48} {'unit':8} {'before':>12} " + " ".join(f"{'ours ' + i:>12}" for i in impls)
          + " " + " ".join(f"{i + ' / before':>14}" for i in impls))
    for row in rows:
        if not row.ours.get("before"):
            continue
        before = statistics.median(row.ours["before"])
        med = {i: statistics.median(row.ours[i]) for i in impls if row.ours.get(i)}
        print(f"  {row.label:48} {row.unit:8} {_fmt(before):>12} " + " ".join(f"{_fmt(med.get(i)):>12}" for i in impls)
              + " " + " ".join(f"{med[i] / before:>14.2f}" if i in med and before else f"{'-':>14}" for i in impls))


def print_kt096_table(rows: list[Row], impls: list[str]) -> None:
    """Ours beside kt 0.9.6 (its Cython build), medians of the same rounds."""
    print("\nAgainst kt 0.9.6 (same servers, same rounds, medians):")
    print(f"  {'operation':40} {'unit':8} " + " ".join(f"{'ours ' + i:>12}" for i in impls)
          + f" {'kt 0.9.6':>12} " + " ".join(f"{i + ' / kt096':>14}" for i in impls) + "  target")
    for row in rows:
        if row.kt096 is None or not row.ours.get("kt096") or row.fmt != "issue":
            continue
        theirs = statistics.median(row.ours["kt096"])
        ours = {i: statistics.median(row.ours[i]) for i in impls if row.ours.get(i)}
        print(f"  {row.label:40} {row.unit:8} " + " ".join(f"{_fmt(ours.get(i)):>12}" for i in impls)
              + f" {_fmt(theirs):>12} "
              + " ".join(f"{(ours[i] / theirs if i in ours else float('nan')):>14.2f}" for i in impls)
              + f"  > {row.kt096:.2f}")


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def print_table(rows: list[Row], impls: list[str], native: dict[str, dict[str, list[float]]],
                natives: dict[str, Any]) -> None:
    head = (["operation", "unit"] + [f"ours {i}" for i in impls] + ["native", "ratio", "target", ""]
            + [f"cpu µs {i}" for i in impls] + ["cpu µs native", "native client"])
    table: list[list[str] | None] = [head]
    issue_rows = [r for r in rows if r.fmt == "issue"]
    twin_rows = [r for r in rows if r.fmt != "issue"]
    for row in issue_rows + ([None] if twin_rows else []) + twin_rows:  # type: ignore[operator]
        if row is None:
            table.append(None)  # section break before the native-format rows
            continue
        med = {i: statistics.median(row.ours[i]) for i in impls if row.ours.get(i)}
        nat = None
        if row.native and row.native[0] in native and native[row.native[0]].get(row.native[1]):
            nat = statistics.median(native[row.native[0]][row.native[1]])
        ncpu = (native.get(row.native[0], {}).get("cpu:" + row.native[1]) if row.native else None)
        best = med.get("c", med.get(impls[0]))
        ratio = best / nat if (nat and best) else None
        verdict = ""
        if ratio is not None and row.target is not None:
            verdict = "ok" if ratio >= row.target else "BELOW"
        table.append([row.label, row.unit] + [_fmt(med.get(i)) for i in impls]
                     + [_fmt(nat), f"{ratio:.2f}" if ratio is not None else "-",
                        f">={row.target}" if row.target else "-", verdict]
                     + [f"{statistics.median(row.cpu[i]):.1f}" if row.cpu.get(i) else "-" for i in impls]
                     + [f"{statistics.median(ncpu):.1f}" if ncpu else "-"]
                     + [row.native_note if row.native and row.native[0] in natives else "-"])
    widths = [max(len(r[c]) for r in table if r is not None) for c in range(len(head))]
    print()
    for j, r in enumerate(table):
        if r is None:
            print(f"-- {NATIVE_FMT}: same records as the native client, key = value = \"%08d\" (8 bytes each); "
                  "like for like")
            continue
        print("  ".join(cell.ljust(widths[c]) if c in (0, 1, len(head) - 1) else cell.rjust(widths[c])
                        for c, cell in enumerate(r)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    print("medians of interleaved rounds; ratio = ours (C codec) / native C++ client, same server, one thread;\n"
          "rows without [native fmt]: the issue's workload (12-20 byte keys, 100-byte values) vs the native client's\n"
          "8-byte records; [native fmt] rows: the native client's own records, measured in the same groups;\n"
          "cpu µs = client process CPU time (user+system) per call: the part a client can shave (native: the\n"
          "tool's whole-run CPU over all its requests, KT tools run several phases so that figure is an average)")


if __name__ == "__main__":
    sys.exit(main())
