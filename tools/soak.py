"""The long load and fault runs (CI runs bounded versions of the same suites).

    python tools/soak.py                       # load: 32 threads x 5000 ops, both protocols, every backend
    python tools/soak.py --ops 20000 --fuzz 1800

Runs the reliability suites with bigger numbers through their environment knobs (KT_LOAD_OPS,
KT_FUZZ_SECONDS), once with the C codec and once with the pure-Python one, and prints pytest's
summary for each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = ["packages/kt-embedded/tests/" + name for name in (
    "test_reliability_load.py", "test_reliability_faults.py", "test_reliability_fuzz.py")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=5000, help="operations per thread in the load suite")
    parser.add_argument("--fuzz", type=float, default=300.0, help="seconds of stand-in fuzzing")
    args = parser.parse_args(argv)
    rc = 0
    for codec in ("KT_REQUIRE_C", "KT_PUREPYTHON"):
        env = dict(os.environ, KT_LOAD_OPS=str(args.ops), KT_FUZZ_SECONDS=str(args.fuzz), **{codec: "1"})
        cmd = [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "-q", "-o", "timeout=0", *SUITES]
        print(f"== {codec}: {' '.join(cmd)}", flush=True)
        rc |= subprocess.call(cmd, cwd=ROOT, env=env)
    return rc


if __name__ == "__main__":
    sys.exit(main())
