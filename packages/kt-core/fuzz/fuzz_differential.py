"""Differential fuzzing of the codec: the pure-Python scanners against the C ones, and every message reader and
server-side request parser run on top of each, with random and vector-mutated frames.

Checked for every input (``check``):
- the pure scanner, the always-C scanner (``_c_scan_ktb``/``_c_scan_tt``/``_c_decode_tsv``/``_c_split_records``)
  and the dispatching C-module one give the same result or raise the same exception class;
- the readers (``kyoto_binary.read_*``, ``kyoto_http.read_rpc``, ``tyrant.read_*``) and the parsers
  (``kyoto_binary.parse_request``, ``kyoto_http.parse_request``, ``tyrant.parse_request``) give the same result
  or exception class whichever scanner they are bound to;
- only ``ProtocolError`` (and subclasses) is ever raised (the arguments are always valid here);
- an incomplete result is a ``need`` > ``end``; a complete one ends inside ``(pos, end]``, and the same frame cut
  short is incomplete (never an error, never another result), while the frame alone gives the same result.

Run (atheris if installed, else a seeded random-mutation loop)::

    python fuzz_differential.py --seconds 600            # random mutation loop
    python fuzz_differential.py --atheris -max_total_time=600 /tmp/kt-pycorpus

Under ASan: see README.md. ``tests/test_fuzz_differential.py`` runs a few seconds of the loop in CI.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

from kt_core.codec import _scan_pure as P
from kt_core.codec import kyoto_binary, kyoto_http, tyrant
from kt_core.codec import progress as _progress
from kt_core.errors import ProtocolError

try:
    from kt_core.codec import _scan_c as C
except ImportError:  # no C module: the readers and parsers are still fuzzed on the pure scanners
    C = None  # type: ignore[assignment]

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"
LIMITS = (0, 5, 9, 64, 300, 1 << 16, 1 << 28, 1 << 62, 1 << 70)
MAGICS = (0xB8, 0xB9, 0xBA, 0xB4)
COLENCS = (0, 66, 85, 81)


class Finding(AssertionError):
    """A property failed; the message holds what is needed to reproduce it."""


def _scanner_sets() -> dict[str, dict[str, Callable[..., Any]]]:
    sets = {"pure": {"scan_ktb": P.scan_ktb, "scan_tt": P.scan_tt, "scan_http": P.scan_http,
                     "decode_tsv": P.decode_tsv, "split_records": P.split_records}}
    if C is not None:
        sets["c"] = {"scan_ktb": C._c_scan_ktb, "scan_tt": C._c_scan_tt, "scan_http": C.scan_http,
                     "decode_tsv": C._c_decode_tsv, "split_records": C._c_split_records}
        sets["dispatch"] = {"scan_ktb": C.scan_ktb, "scan_tt": C.scan_tt, "scan_http": C.scan_http,
                            "decode_tsv": C.decode_tsv, "split_records": C.split_records}
    return sets


SCANNERS = _scanner_sets()

# Where each reader module looks its scanners up (module globals, rebound per implementation).
_BINDINGS = ((kyoto_binary, ("scan_ktb", "split_records")), (kyoto_http, ("scan_http", "decode_tsv")),
             (tyrant, ("scan_tt", "split_records")), (_progress, ("split_records",)))

READERS: list[tuple[str, Callable[..., Any]]] = [
    ("kyoto_binary.read_set_bulk", kyoto_binary.read_set_bulk),
    ("kyoto_binary.read_remove_bulk", kyoto_binary.read_remove_bulk),
    ("kyoto_binary.read_get_bulk", kyoto_binary.read_get_bulk),
    ("kyoto_binary.read_play_script", kyoto_binary.read_play_script),
    ("kyoto_http.read_rpc", kyoto_http.read_rpc),
    *sorted({fn.__name__: ("tyrant." + fn.__name__, fn) for fn in tyrant.READERS.values()}.values()),
]
PARSERS: list[tuple[str, Callable[..., Any]]] = [
    ("kyoto_binary.parse_request", kyoto_binary.parse_request),
    ("kyoto_http.parse_request", kyoto_http.parse_request),
    ("tyrant.parse_request", tyrant.parse_request),
]


def _bind(impl: str) -> None:
    funcs = SCANNERS[impl]
    for module, names in _BINDINGS:
        for name in names:
            setattr(module, name, funcs[name])


_ORIGINAL = {(m.__name__, n): getattr(m, n) for m, names in _BINDINGS for n in names}


def _restore() -> None:
    for module, names in _BINDINGS:
        for name in names:
            setattr(module, name, _ORIGINAL[(module.__name__, name)])


def _norm(value: Any) -> Any:
    """A comparable form of a result (reader results hold objects without __eq__)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, BaseException):
        return ("exc-value", type(value), str(value))
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_norm(v) for v in value]
    if isinstance(value, dict):
        return sorted((_norm(k), _norm(v)) for k, v in value.items())
    if hasattr(value, "__dict__") or hasattr(value, "__slots__"):
        slots = getattr(type(value), "__slots__", ())
        attrs = dict(vars(value)) if hasattr(value, "__dict__") else {}
        attrs.update({s: getattr(value, s) for s in slots if hasattr(value, s)})
        return type(value).__name__, _norm(attrs)
    return value


def _outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return ("ok", _norm(fn(*args)))
    except ProtocolError as exc:
        return ("raise", type(exc))
    except Exception as exc:
        raise Finding(f"{getattr(fn, '__qualname__', fn)} raised {type(exc).__name__}: {exc!r} on args "
                      f"{_show(args)}") from exc


def _show(args: tuple[Any, ...]) -> str:
    buf, rest = args[0], args[1:]
    return f"buf={bytes(buf)[:400].hex()} ({type(buf).__name__}, len {len(buf)}) rest={rest}"


def _check_shape(what: str, r: tuple[str, Any], pos: int, end: int, args: tuple[Any, ...]) -> None:
    if r[0] != "ok":
        return
    value = r[1]
    if isinstance(value, int):
        if not value > end:
            raise Finding(f"{what}: need {value} not > end {end}: {_show(args)}")
    else:
        nxt = value[1][0]
        if not pos < nxt <= end:
            raise Finding(f"{what}: next_pos {nxt} outside ({pos}, {end}]: {_show(args)}")


def _same(what: str, calls: list[tuple[str, Callable[..., Any]]], args: tuple[Any, ...],
          pos: int, end: int) -> tuple[str, Any]:
    first_name, first_fn = calls[0]
    first = _outcome(first_fn, *args)
    for name, fn in calls[1:]:
        other = _outcome(fn, *args)
        if other != first:
            raise Finding(f"{what}: {first_name} -> {first!r} but {name} -> {other!r}; {_show(args)}")
    if pos >= 0:
        _check_shape(what, first, pos, end, args)
    return first


def _prefix_property(what: str, fn: Callable[..., Any], buf: Any, pos: int, end: int, extra: tuple[Any, ...],
                     full: tuple[str, Any], cut: int) -> None:
    """A complete frame seen only up to ``cut`` is incomplete; seen exactly, it decodes the same."""
    if full[0] != "ok" or isinstance(full[1], int):
        return
    nxt = full[1][1][0]
    exact = _outcome(fn, buf, pos, nxt, *extra)
    if exact != full:
        raise Finding(f"{what}: frame alone [{pos}:{nxt}] -> {exact!r}, with trailing bytes -> {full!r}; "
                      f"{_show((buf, pos, end, *extra))}")
    short = pos + cut % (nxt - pos)
    r = _outcome(fn, buf, pos, short, *extra)
    if r[0] != "ok" or not isinstance(r[1], int) or not short < r[1] <= nxt:
        raise Finding(f"{what}: cut at {short} (frame ends {nxt}) -> {r!r}; {_show((buf, pos, end, *extra))}")


def check(buf: Any, pos: int, end: int, limit: int, cut: int = 0) -> None:
    """Run every property on ``buf[pos:end]`` (all arguments valid)."""
    impls = list(SCANNERS)
    for magic in MAGICS:
        args = (buf, pos, end, magic, limit)
        r = _same(f"scan_ktb magic={magic:#x}", [(i, SCANNERS[i]["scan_ktb"]) for i in impls], args, -1, end)
        if r[0] == "ok" and isinstance(r[1], int) and r[1] <= end:
            raise Finding(f"scan_ktb: need {r[1]} <= end: {_show(args)}")
        for i in impls:
            _prefix_property(f"{i} scan_ktb", SCANNERS[i]["scan_ktb"], buf, pos, end, (magic, limit), r, cut)
    for shape in range(7):
        args = (buf, pos, end, shape, limit)
        r = _same(f"scan_tt shape={shape}", [(i, SCANNERS[i]["scan_tt"]) for i in impls], args, -1, end)
        for i in impls:
            _prefix_property(f"{i} scan_tt", SCANNERS[i]["scan_tt"], buf, pos, end, (shape, limit), r, cut)
    args = (buf, pos, end, limit)
    r = _same("scan_http", [(i, SCANNERS[i]["scan_http"]) for i in impls], args, -1, end)
    for i in impls:
        _prefix_property(f"{i} scan_http", SCANNERS[i]["scan_http"], buf, pos, end, (limit,), r, cut)
    if r[0] == "ok" and not isinstance(r[1], int):
        _, _, off, length, colenc, _ = r[1][1]
        _same("decode_tsv(http body)", [(i, SCANNERS[i]["decode_tsv"]) for i in impls], (buf, off, length, colenc),
              -1, end)
    for layout in (P.REC_GET_BULK, P.REC_KV):
        for count in (0, 1, 3, 1 << 20):
            for stop in (pos + limit, end, pos):
                _same(f"split_records layout={layout} count={count} stop={stop}",
                      [(i, SCANNERS[i]["split_records"]) for i in impls], (buf, pos, end, layout, count, stop), -1, end)
    for colenc in COLENCS:
        _same(f"decode_tsv colenc={colenc}", [(i, SCANNERS[i]["decode_tsv"]) for i in impls],
              (buf, pos, end - pos, colenc), -1, end)

    def bound(impl: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*a: Any) -> Any:
            _bind(impl)
            try:
                return fn(*a)
            finally:
                _restore()

        call.__qualname__ = f"{impl}:{fn.__module__}.{fn.__name__}"
        return call

    for name, fn in READERS + PARSERS:
        r = _same(name, [(i, bound(i, fn)) for i in impls], (buf, pos, end, limit), pos, end)
        _prefix_property(name, fn, buf, pos, end, (limit,), r, cut)


def _load_seeds() -> list[bytes]:
    seeds: list[bytes] = []
    for name in ("kt-binary.json", "kt-http.json", "tt-binary.json"):
        with open(VECTORS / name, encoding="utf-8") as f:
            for vec in json.load(f):
                for field in ("request_hex", "response_hex"):
                    if vec.get(field):
                        seeds.append(bytes.fromhex(vec[field]))
    return seeds


SEEDS = _load_seeds()
_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0xB4, 0xB8, 0xBA, 0xBF, ord("\t"), ord("\n"), ord("\r"), ord("="), ord("%"))


def mutate(rng: random.Random, data: bytes) -> bytes:
    """A few byte-level mutations (flip, set, insert, delete, splice, big-endian length overwrite)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(8)
        i = rng.randrange(len(buf) + 1)
        if op == 0 and buf and i < len(buf):
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and i < len(buf):
            buf[i] = rng.choice(_INTERESTING) if rng.random() < 0.5 else rng.randrange(256)
        elif op == 2:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and buf:
            del buf[i:i + rng.randint(1, 16)]
        elif op == 4:
            other = rng.choice(SEEDS)
            j = rng.randrange(len(other) + 1)
            buf[i:] = other[j:] if rng.random() < 0.5 else other[j:] + buf[i:]
        elif op == 5 and len(buf) >= 4:
            i = rng.randrange(len(buf) - 3)
            n = rng.choice((0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, rng.randrange(1 << 32), rng.randrange(300)))
            buf[i:i + 4] = n.to_bytes(4, "big")
        elif op == 6 and buf:
            del buf[i:]
        elif op == 7 and buf:
            k = rng.randrange(len(buf))
            buf[i:i] = buf[k:k + rng.randint(1, 32)] * rng.randint(1, 4)
    return bytes(buf)


def one_input(rng: random.Random) -> tuple[Any, int, int, int, int]:
    """A random frame and valid window: a mutated vector, a vector as is, or random bytes."""
    roll = rng.random()
    if roll < 0.8:
        data = mutate(rng, rng.choice(SEEDS))
    elif roll < 0.9:
        data = rng.choice(SEEDS)
    else:
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    prefix = bytes(rng.randrange(256) for _ in range(rng.choice((0, 0, 0, 1, 7))))
    whole = prefix + data + (rng.choice(SEEDS)[:rng.randint(0, 20)] if rng.random() < 0.3 else b"")
    pos = len(prefix)
    end = len(whole) if rng.random() < 0.7 else rng.randint(pos, len(whole))
    kind = rng.randrange(3)
    buf: Any = whole if kind == 0 else bytearray(whole) if kind == 1 else memoryview(bytearray(whole))
    limit = rng.choice(LIMITS) if rng.random() < 0.8 else rng.randint(0, 2 * len(whole) + 2)
    return buf, pos, end, limit, rng.randrange(1 << 30)


def run_loop(seconds: float, seed: int, max_inputs: int | None = None, report_every: float = 30.0) -> int:
    """Check random inputs for ``seconds`` (or ``max_inputs``); return the count. Raises ``Finding``."""
    rng = random.Random(seed)
    stop = time.monotonic() + seconds
    next_report = time.monotonic() + report_every
    n = 0
    while time.monotonic() < stop and (max_inputs is None or n < max_inputs):
        buf, pos, end, limit, cut = one_input(rng)
        check(buf, pos, end, limit, cut)
        n += 1
        if report_every and time.monotonic() >= next_report:
            print(f"  {n} inputs", file=sys.stderr, flush=True)
            next_report += report_every
    return n


def atheris_main(argv: list[str]) -> None:
    import atheris  # type: ignore[import-not-found]

    def test_one(data: bytes) -> None:
        if len(data) < 4:
            return
        sel, cutb, body = data[0], data[1:4], data[4:]
        pos = sel & 3 if sel & 3 <= len(body) else 0
        end = len(body) if sel & 4 else pos + int.from_bytes(cutb[:2], "big") % (len(body) - pos + 1)
        kind = (sel >> 3) % 3
        buf: Any = body if kind == 0 else bytearray(body) if kind == 1 else memoryview(bytearray(body))
        check(buf, pos, end, LIMITS[(sel >> 5) % len(LIMITS)], cutb[2] * 7919)

    print(f"fuzz_differential (atheris): implementations {', '.join(SCANNERS)}", flush=True)
    atheris.instrument_all()  # coverage feedback from the Python code (the readers, parsers, pure scanners)
    atheris.Setup([sys.argv[0], *argv], test_one)
    atheris.Fuzz()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--atheris", action="store_true", help="run under atheris; remaining args go to libFuzzer")
    ap.add_argument("--write-seeds", metavar="DIR", help="write an atheris seed corpus (4-byte header + vector)")
    opts, rest = ap.parse_known_args()
    if opts.write_seeds:
        out = Path(opts.write_seeds)
        out.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(SEEDS):
            (out / f"seed{i:04d}").write_bytes(bytes((4 | (6 << 5), 0, 0, 0)) + s)
        print(f"{len(SEEDS)} seeds -> {out}")
        return
    if opts.atheris:
        atheris_main(rest)
        return
    seed = opts.seed if opts.seed is not None else random.randrange(1 << 32)
    impls = ", ".join(SCANNERS)
    where = str(Path(C.__file__).parent) if C is not None else "none"
    print(f"fuzz_differential: seed {seed}, {opts.seconds:.0f} s, implementations: {impls} (C module {where})",
          flush=True)
    t0 = time.monotonic()
    n = run_loop(opts.seconds, seed)
    print(f"fuzz_differential: {n} inputs in {time.monotonic() - t0:.0f} s, no findings", flush=True)


if __name__ == "__main__":
    main()
