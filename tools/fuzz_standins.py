"""Fuzz the stand-in servers over sockets with random and mutated request frames.

Seeds are the recorded request frames in testdata/vectors (KT binary, KT HTTP, TT binary). Each
case opens a connection, sends one random or mutated frame (bit flips, truncation, spliced
frames, huge length fields, random bytes), reads whatever comes back for a moment and closes.
Every ``check_every`` cases, and at the end, the server must still be running and must answer a
well-formed request correctly through the real client.

    python tools/fuzz_standins.py --seconds 600 --seed 1      # the long run
    KT_REQUIRE_C=1 python tools/fuzz_standins.py --seconds 60 # C codec inside the stand-ins

The bounded version runs in CI as packages/kt-embedded/tests/test_reliability_fuzz.py.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[1] / "testdata" / "vectors"


def load_seeds() -> dict[str, list[bytes]]:
    """Recorded request frames per protocol (a missing vector file is an error, not a skip)."""
    seeds: dict[str, list[bytes]] = {"kt": [], "tt": []}
    for name, proto in (("kt-binary.json", "kt"), ("kt-http.json", "kt"), ("tt-binary.json", "tt")):
        for vector in json.loads((VECTORS / name).read_text()):
            if vector.get("request_hex"):
                seeds[proto].append(bytes.fromhex(vector["request_hex"]))
    if not seeds["kt"] or not seeds["tt"]:
        raise RuntimeError(f"no request vectors found in {VECTORS}")
    return seeds


def mutate(rng: random.Random, frame: bytes, seeds: list[bytes]) -> bytes:
    data = bytearray(frame)
    how = rng.randrange(7)
    if how == 0 and data:  # bit flips
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == 1 and data:  # truncation
        del data[rng.randrange(len(data)):]
    elif how == 2:  # two frames spliced
        other = rng.choice(seeds)
        data = data[: rng.randint(0, len(data))] + other[rng.randint(0, len(other)):]
    elif how == 3 and len(data) >= 5:  # a huge or negative 32-bit length field somewhere
        pos = rng.randrange(1, len(data) - 3)
        data[pos : pos + 4] = struct.pack(">I", rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1 << 28]))
    elif how == 4:  # random bytes
        data = bytearray(rng.randbytes(rng.randint(0, 64)))
    elif how == 5 and data:  # a byte replaced by a boundary value
        data[rng.randrange(len(data))] = rng.choice([0x00, 0x0A, 0x0D, 0x09, 0x25, 0x7F, 0x80, 0xFF])
    else:  # duplicated frame followed by garbage
        data = data + data + rng.randbytes(rng.randint(0, 8))
    return bytes(data)


def send_case(host: str, port: int, data: bytes) -> None:
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.settimeout(0.05)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass  # the server may close or reset: fine, it must only stay up


def check_alive(proto: str, manager: Any, client: Any, n: int) -> None:
    if not manager.is_running:
        raise AssertionError(f"{proto} stand-in died after {n} cases:\n{manager.output}")
    client.set("fuzz-canary", f"alive-{n}")
    if client.get("fuzz-canary") != f"alive-{n}":
        raise AssertionError(f"{proto} stand-in answered the canary wrongly after {n} cases")


def fuzz(seconds: float, seed: int = 0, check_every: int = 200) -> dict[str, int]:
    """Fuzz both stand-ins for ``seconds`` in total; returns case counts. Raises if a server fails."""
    from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer

    rng = random.Random(seed)
    seeds = load_seeds()
    stats = {"kt_cases": 0, "tt_cases": 0, "checks": 0}
    # Fuzzed TT `copy`/`restore` frames name arbitrary files: keep them inside a scratch folder.
    workdir = tempfile.TemporaryDirectory(prefix="kt-fuzz-")
    for proto, manager in (("kt", EmbeddedServer(server=STANDIN, database=["*", "%"], cwd=workdir.name)),
                           ("tt", EmbeddedTokyoTyrantServer(server=STANDIN, cwd=workdir.name))):
        manager.run()
        try:
            client = manager.make_client(timeout=5)
            deadline = time.monotonic() + seconds / 2
            n = 0
            while time.monotonic() < deadline:
                frame = rng.choice(seeds[proto])
                data = rng.randbytes(rng.randint(1, 256)) if rng.random() < 0.1 else mutate(rng, frame, seeds[proto])
                send_case(manager.host, manager.port, data)
                n += 1
                if n % check_every == 0:
                    check_alive(proto, manager, client, n)
                    stats["checks"] += 1
            check_alive(proto, manager, client, n)
            stats["checks"] += 1
            stats[f"{proto}_cases"] = n
        finally:
            manager.stop()
    workdir.cleanup()
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stats = fuzz(args.seconds, args.seed)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
