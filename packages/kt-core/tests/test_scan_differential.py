"""Differential tests: the C and pure-Python scanners give the same result or the same exception class."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kt_core.codec import _scan_pure as P

if os.environ.get("KT_PUREPYTHON") == "1":
    pytest.skip("KT_PUREPYTHON=1: no C codec to compare", allow_module_level=True)
from kt_core.codec import _scan_c as C

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"


def outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # the class is what must match
        return ("raise", type(exc))


# The C functions themselves: the public C-module scanners hand tiny frames and fixed-size shapes to the pure
# twin, so comparing those would mostly compare the twin with itself.
C_DIRECT = {"scan_ktb": C._c_scan_ktb, "scan_tt": C._c_scan_tt, "decode_tsv": C._c_decode_tsv,
            "scan_http": C.scan_http, "split_records": C._c_split_records}


def same(name, *args):
    a = outcome(getattr(P, name), *args)
    b = outcome(C_DIRECT[name], *args)
    assert a == b, (name, args[1:], a, b)
    return a


def test_the_c_side_is_compared_not_the_dispatcher():
    # A frame shorter than SMALL_FRAME goes to the pure twin through C.scan_tt, but never through C_DIRECT.
    frame = b"\x00" + struct.pack(">I", 3) + b"abc"
    assert len(frame) < C.SMALL_FRAME
    calls = []
    real = C.lib.kt_scan_tt

    class Spy:
        def __getattr__(self, name):
            return getattr(C.lib, name)

        def kt_scan_tt(self, *args):
            calls.append(args)
            return real(*args)

    saved, C.lib = C.lib, Spy()
    try:
        assert C_DIRECT["scan_tt"](frame, 0, len(frame), P.TT_DATA, 1 << 20) == P.scan_tt(frame, 0, len(frame),
                                                                                            P.TT_DATA, 1 << 20)
        assert len(calls) == 1
        C.scan_tt(frame, 0, len(frame), P.TT_DATA, 1 << 20)
        assert len(calls) == 1  # the dispatcher took the pure path
    finally:
        C.lib = saved


def all_scanners(buf, pos, end, limit):
    for magic in (0xB8, 0xB9, 0xBA, 0xB4):
        same("scan_ktb", buf, pos, end, magic, limit)
    for shape in range(7):
        same("scan_tt", buf, pos, end, shape, limit)
    r = same("scan_http", buf, pos, end, limit)
    if r[0] == "ok" and isinstance(r[1], tuple):
        _, _, off, length, colenc, _ = r[1]
        same("decode_tsv", buf, off, length, colenc)
    for colenc in (0, 66, 85, 81):
        same("decode_tsv", buf, pos, end - pos, colenc)


limits = st.one_of(st.just(1 << 28), st.integers(0, 300))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.data())
def test_random_bytes(data, draw):
    pos = draw.draw(st.integers(0, len(data)))
    end = draw.draw(st.integers(pos, len(data)))
    all_scanners(data, pos, end, draw.draw(limits))


def _vector_responses():
    out = []
    for name in ("kt-binary.json", "tt-binary.json", "kt-http.json"):
        with open(VECTORS / name, encoding="utf-8") as f:
            out += [bytes.fromhex(v["response_hex"]) for v in json.load(f) if v["response_hex"]]
    return out


RESPONSES = _vector_responses()


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(RESPONSES), st.data())
def test_mutated_vectors(resp, draw):
    buf = bytearray(resp)
    for _ in range(draw.draw(st.integers(0, 4))):
        i = draw.draw(st.integers(0, len(buf) - 1))
        buf[i] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(buf)))
    all_scanners(bytes(buf), 0, cut, draw.draw(limits))
    all_scanners(memoryview(buf), 0, len(buf), 1 << 28)


tsv_field = st.binary(max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(tsv_field, tsv_field), max_size=8), st.sampled_from(["B", "U", "Q"]))
def test_valid_tsv(records, enc):
    import base64
    import urllib.parse

    def e(x):
        if enc == "B":
            return base64.b64encode(x)
        if enc == "U":
            return urllib.parse.quote_from_bytes(x, safe="").encode()
        return b"".join(b"=%02X" % c for c in x)

    body = b"".join(e(k) + b"\t" + e(v) + b"\n" for k, v in records)
    r = same("decode_tsv", body, 0, len(body), ord(enc))
    assert r == ("ok", [(k, v) for k, v in records])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 65535), st.integers(-(1 << 63), (1 << 63) - 1), st.binary(max_size=20),
                          st.binary(max_size=20)), max_size=6), st.data())
def test_valid_ktb_and_tt(recs, draw):
    gb = struct.pack(">BI", 0xBA, len(recs))
    ps = struct.pack(">BI", 0xB4, len(recs))
    kv = struct.pack(">BI", 0, len(recs))
    ls = struct.pack(">BI", 0, len(recs))
    for dbidx, xt, k, v in recs:
        gb += struct.pack(">HIIq", dbidx, len(k), len(v), xt) + k + v
        ps += struct.pack(">II", len(k), len(v)) + k + v
        kv += struct.pack(">II", len(k), len(v)) + k + v
        ls += struct.pack(">I", len(k)) + k
    for frame, fn, arg in ((gb, "scan_ktb", 0xBA), (ps, "scan_ktb", 0xB4), (kv, "scan_tt", 6), (ls, "scan_tt", 5)):
        cut = draw.draw(st.integers(0, len(frame)))
        r = same(fn, frame, 0, len(frame), arg, 1 << 28)
        assert r[0] == "ok" and r[1][0] == len(frame)
        same(fn, frame, 0, cut, arg, 1 << 28)
        same(fn, frame, 0, len(frame), arg, draw.draw(st.integers(0, len(frame) + 2)))
