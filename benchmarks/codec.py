"""Codec micro-benchmark: the message layer (encode/decode, no I/O) with the C and the pure scanners.

    python benchmarks/codec.py [--quick]

The message modules bind their scanner at import, so each implementation runs in a child
process (``KT_PUREPYTHON=1`` for the pure one, ``KT_REQUIRE_C=1`` for C). Decoders are fed a
memoryview of a bytearray, exactly as the connection's Reader feeds them. The scanner rows call
``kt_core.codec._scan_pure`` and ``kt_core.codec._scan_c`` directly, side by side in one process.
Figures are the best of several repeats (micro-benchmarks: the minimum is the least noisy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

N_RECORDS = 1000
VALUE = b"v" * 100
LIMIT = 1 << 30
_DATE = "Thu, 26 Nov 2026 16:00:00 GMT"


def _best(fn: Callable[[], Any], number: int, repeat: int) -> float:
    """Seconds per call, best of ``repeat`` runs of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / number


def _view(frame: bytes) -> memoryview:
    return memoryview(bytearray(frame))


def child(quick: bool) -> dict[str, float]:
    import kt_core
    from kt_core.codec import kyoto_binary as kb
    from kt_core.codec import kyoto_http as kh
    from kt_core.codec import tyrant as tt

    keys = [b"key:%08d" % i for i in range(N_RECORDS)]
    big, small = (20, 5) if quick else (100, 7)
    tiny = 2000 if quick else 20000
    out: dict[str, float] = {"implementation": kt_core.IMPLEMENTATION}  # type: ignore[dict-item]

    # KT get_bulk reply of 1,000 records: decode.
    frame = kb.encode_get_bulk_reply([(0, k, VALUE, 0x7FFFFFFFFFFFFFFF) for k in keys])
    v = _view(frame)
    assert len(kb.read_get_bulk(v, 0, len(v), LIMIT)[1]) == N_RECORDS
    out["KT get_bulk reply decode (1,000 x 100 B)"] = _best(lambda: kb.read_get_bulk(v, 0, len(v), LIMIT), big, small)
    # KT set_bulk request of 1,000 records: encode.
    records = [(0, k, VALUE, 0x7FFFFFFFFFFFFFFF) for k in keys]
    out["KT set_bulk encode (1,000 x 100 B)"] = _best(lambda: kb.encode_set_bulk(records), big, small)
    # TT mget reply of 1,000 records: decode.
    frame = tt.encode_kvlist_reply(0, [(k, VALUE) for k in keys])
    v = _view(frame)
    assert len(tt.read_mget(v, 0, len(v), LIMIT)[2]) == N_RECORDS
    out["TT mget reply decode (1,000 x 100 B)"] = _best(lambda: tt.read_mget(v, 0, len(v), LIMIT), big, small)
    # KT HTTP: a 1,000-line TSV reply (match_prefix-like), scan + decode.
    frame = kh.encode_reply(200, [(b"_" + k, b"%d" % i) for i, k in enumerate(keys)], date=_DATE)
    v = _view(frame)
    out["KT HTTP TSV reply decode (1,000 lines)"] = _best(lambda: kh.read_rpc(v, 0, len(v), LIMIT), big, small)

    # Single frames: encode the request and decode the reply.
    key = b"key:00000001"
    get_reply = _view(kb.encode_get_bulk_reply([(0, key, VALUE, 0x7FFFFFFFFFFFFFFF)]))
    set_reply = _view(kb.encode_set_bulk_reply(1))

    def kt_get() -> None:
        kb.encode_get_bulk([(0, key)])
        kb.read_get_bulk(get_reply, 0, len(get_reply), LIMIT)

    def kt_set() -> None:
        kb.encode_set_bulk([(0, key, VALUE, 0x7FFFFFFFFFFFFFFF)])
        kb.read_set_bulk(set_reply, 0, len(set_reply), LIMIT)

    tt_get_reply = _view(tt.encode_data_reply(VALUE))
    tt_put_reply = _view(tt.encode_code_reply(0))

    def tt_get() -> None:
        tt.encode_get(key)
        tt.read_get(tt_get_reply, 0, len(tt_get_reply), LIMIT)

    def tt_set() -> None:
        tt.encode_put(key, VALUE)
        tt.read_put(tt_put_reply, 0, len(tt_put_reply), LIMIT)

    http_reply = _view(kh.encode_reply(200, [(b"num", b"42")], date=_DATE))

    def kt_http() -> None:
        kh.encode_rpc("increment", ((b"key", key), (b"num", b"1")), "127.0.0.1")
        kh.read_rpc(http_reply, 0, len(http_reply), LIMIT)

    out["KT get frame encode+decode"] = _best(kt_get, tiny, small)
    out["KT set frame encode+decode"] = _best(kt_set, tiny, small)
    out["KT HTTP increment encode+decode"] = _best(kt_http, tiny, small)
    out["TT get frame encode+decode"] = _best(tt_get, tiny, small)
    out["TT put frame encode+decode"] = _best(tt_set, tiny, small)
    out["TT get reply decode only"] = _best(
        lambda: tt.read_get(tt_get_reply, 0, len(tt_get_reply), LIMIT), tiny, small)
    return out


def scanners(quick: bool) -> dict[str, dict[str, float]]:
    """The raw scanners, both implementations in this one process."""
    from kt_core.codec import _scan_pure as pure
    from kt_core.codec import tyrant as tt

    impls: dict[str, Any] = {"python": pure}
    try:
        from kt_core.codec import _scan_c as c
        impls["c"] = c
    except ImportError:
        pass
    tiny = 2000 if quick else 20000
    small_frame = _view(tt.encode_data_reply(VALUE))
    code_frame = _view(tt.encode_code_reply(0))
    rows: dict[str, dict[str, float]] = {}
    for name, mod in impls.items():
        rows.setdefault("scan_tt TT_DATA 100 B (scanner only)", {})[name] = _best(
            lambda m=mod: m.scan_tt(small_frame, 0, len(small_frame), m.TT_DATA, LIMIT), tiny, 7)
        rows.setdefault("scan_tt TT_CODE (scanner only)", {})[name] = _best(
            lambda m=mod: m.scan_tt(code_frame, 0, len(code_frame), m.TT_CODE, LIMIT), tiny, 7)
    return rows


def main() -> int:
    quick = "--quick" in sys.argv
    if "--child" in sys.argv:
        print(json.dumps(child(quick)))
        return 0
    results: dict[str, dict[str, float]] = {}
    for impl in ("python", "c"):
        env = dict(os.environ)
        env.pop("KT_PUREPYTHON", None)
        env.pop("KT_REQUIRE_C", None)
        env["KT_PUREPYTHON" if impl == "python" else "KT_REQUIRE_C"] = "1"
        proc = subprocess.run([sys.executable, __file__, "--child"] + (["--quick"] if quick else []),
                              env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            print(f"{impl}: child failed", file=sys.stderr)
            continue
        data = json.loads(proc.stdout)
        if data.pop("implementation") != impl:
            raise RuntimeError(f"child for {impl} ran another implementation")
        for case, seconds in data.items():
            results.setdefault(case, {})[impl] = seconds
    results.update(scanners(quick))

    width = max(len(c) for c in results)
    print(f"{'case':{width}}  {'pure µs':>10}  {'C µs':>10}  {'C speed-up':>10}")
    print("-" * width + "  " + "  ".join(["-" * 10] * 3))
    for case, per in results.items():
        p, c = per.get("python"), per.get("c")
        speed = f"{p / c:.2f}x" if p and c else "-"
        print(f"{case:{width}}  {_us(p):>10}  {_us(c):>10}  {speed:>10}")
    print("µs per call, best of repeats; 1,000-record rows are one whole message")
    return 0


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.2f}"


if __name__ == "__main__":
    sys.exit(main())
