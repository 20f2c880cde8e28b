"""A bounded run of fuzz/fuzz_differential.py (the long run and its figures: fuzz/README.md).

Random and vector-mutated frames go to the pure and C scanners, the message readers and the server-side
request parsers: same result or exception class between implementations, only ProtocolError raised.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "fuzz" / "fuzz_differential.py"
_spec = importlib.util.spec_from_file_location("kt_fuzz_differential", _PATH)
assert _spec is not None and _spec.loader is not None
fd = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fd
_spec.loader.exec_module(fd)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_and_mutated_frames(seed):
    n = fd.run_loop(seconds=20.0, seed=seed, max_inputs=500, report_every=0)
    assert n == 500


def test_seeds_cover_every_vector_file():
    # 28 + 101 + 128 recorded exchanges, request and response each (a few have no response).
    assert len(fd.SEEDS) > 400


def test_a_diverging_scanner_is_reported(monkeypatch):
    if "c" not in fd.SCANNERS:
        pytest.skip("no C module to diverge")
    real = fd.SCANNERS["c"]["scan_ktb"]

    def off_by_one(*args):
        r = real(*args)
        return r if isinstance(r, int) else (r[0], r[1], r[2] + 1, r[3])

    monkeypatch.setitem(fd.SCANNERS["c"], "scan_ktb", off_by_one)
    with pytest.raises(fd.Finding, match="scan_ktb"):
        fd.run_loop(seconds=20.0, seed=1, max_inputs=2000, report_every=0)


def test_an_unexpected_exception_is_reported(monkeypatch):
    def broken_reader(buf, pos, end, limit):
        raise IndexError("reader bug")

    monkeypatch.setattr(fd, "READERS", [("broken", broken_reader)])
    with pytest.raises(fd.Finding, match="IndexError"):
        fd.check(b"\x00\x00\x00\x00\x01", 0, 5, 1 << 28)


# ----------------------------------------------------------------------------- findings of the long runs


@pytest.mark.parametrize("digit", [b"\xb9", b"\xb2", b"1\xb3"])
def test_http_parse_request_non_ascii_digit_content_length(digit):
    # Found by the differential run: latin-1 superscript digits pass str.isdigit() but not int().
    from kt_core.codec import kyoto_http
    from kt_core.errors import ProtocolError

    frame = b"POST /rpc/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + digit + b"\r\n\r\nk\tv\n"
    with pytest.raises(ProtocolError, match="Content-Length"):
        kyoto_http.parse_request(frame, 0, len(frame), 1 << 28)
