"""Scanner tests against the active implementation (run under KT_PUREPYTHON=1 and KT_REQUIRE_C=1)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from kt_core.codec import _scan as S
from kt_core.errors import ProtocolError, ResponseTooLargeError

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors"


def load(name: str) -> list[dict[str, Any]]:
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


def b(s: str) -> bytes:
    return s.encode("latin-1")


# Tokyo Tyrant command byte (after 0xC8) -> reply shape constant name.
TT_SHAPES = {
    0x10: "TT_CODE", 0x11: "TT_CODE", 0x12: "TT_CODE", 0x13: "TT_CODE", 0x20: "TT_CODE",
    0x30: "TT_DATA", 0x31: "TT_KVLIST", 0x38: "TT_I32", 0x50: "TT_CODE", 0x51: "TT_DATA",
    0x58: "TT_LIST", 0x60: "TT_I32", 0x61: "TT_DOUBLE", 0x68: "TT_DATA", 0x70: "TT_CODE",
    0x71: "TT_CODE", 0x72: "TT_CODE", 0x73: "TT_CODE", 0x74: "TT_CODE", 0x78: "TT_CODE",
    0x80: "TT_U64", 0x81: "TT_U64", 0x88: "TT_DATA", 0x90: "TT_LIST",
}
# Kyoto Tycoon binary request magic -> expected reply magic (the same byte).
KTB_MAGICS = {0xB8: 0xB8, 0xB9: 0xB9, 0xBA: 0xBA, 0xB4: 0xB4}


def replies(name: str) -> list[dict[str, Any]]:
    return [v for v in load(name) if v["reply"] == "reply"]

LIMIT = 1 << 28


def assert_incomplete_everywhere(fn, frame: bytes, *args) -> None:
    for i in range(len(frame)):
        need = fn(frame[:i], 0, i, *args)
        assert isinstance(need, int) and need > i, (i, need)
    # Offset start and a trailing byte: exactly the frame is consumed.
    padded = b"\xee\xee" + frame + b"\x00"
    r = fn(padded, 2, len(padded), *args)
    assert r[0] == 2 + len(frame)


# ----------------------------------------------------------------- vectors: TT


@pytest.mark.parametrize("v", replies("tt-binary.json"), ids=lambda v: v["name"])
def test_tt_vector(v):
    req, resp = bytes.fromhex(v["request_hex"]), bytes.fromhex(v["response_hex"])
    assert req[0] == 0xC8
    shape = getattr(S, TT_SHAPES[req[1]])
    d, vol = v["decoded"], v["volatile"]
    nxt, code, vals = S.scan_tt(resp, 0, len(resp), shape, LIMIT)
    assert nxt == len(resp)
    assert code == d["code"]
    assert_incomplete_everywhere(lambda buf, p, e: S.scan_tt(buf, p, e, shape, LIMIT), resp)
    if shape == S.TT_DATA and code == 0:
        value = resp[vals[0] : vals[0] + vals[1]]
        if "value" in d and "value" not in vol:
            assert value == b(d["value"])
        if "ssiz" in d and "ssiz" not in vol:
            assert vals[1] == d["ssiz"]
    elif shape == S.TT_I32 and code == 0:
        assert vals == [d.get("vsiz", d.get("sum"))]
    elif shape == S.TT_U64 and code == 0 and "value" not in vol:
        assert vals == [d["value"]]
    elif shape == S.TT_DOUBLE and code == 0:
        assert vals == [d["integ"], d["fract"]]
    elif shape == S.TT_LIST:
        items = [resp[vals[i] : vals[i] + vals[i + 1]] for i in range(0, len(vals), 2)]
        expected = d.get("keys", d.get("elements"))
        assert len(items) == d.get("knum", d.get("rnum"))
        if expected is not None and "elements" not in vol and "keys" not in vol:
            assert items == [b(x) for x in expected]
    elif shape == S.TT_KVLIST:
        recs = [[resp[vals[i] : vals[i] + vals[i + 1]], resp[vals[i + 2] : vals[i + 2] + vals[i + 3]]]
                for i in range(0, len(vals), 4)]
        assert recs == [[b(k), b(x)] for k, x in d["records"]]
    elif code != 0 or shape == S.TT_CODE:
        assert vals == []


# ----------------------------------------------------------------- vectors: KT binary


@pytest.mark.parametrize("v", replies("kt-binary.json"), ids=lambda v: v["name"])
def test_ktb_vector(v):
    req, resp = bytes.fromhex(v["request_hex"]), bytes.fromhex(v["response_hex"])
    magic = KTB_MAGICS[req[0]]
    d = v["decoded"]
    nxt, rmagic, count, fields = S.scan_ktb(resp, 0, len(resp), magic, LIMIT)
    assert nxt == len(resp)
    assert rmagic == int(d["magic"], 16)
    assert_incomplete_everywhere(lambda buf, p, e: S.scan_ktb(buf, p, e, magic, LIMIT), resp)
    if rmagic == 0xBF:
        assert (count, fields) == (0, [])
    elif rmagic in (0xB8, 0xB9):
        assert count == d["hits"] and fields == []
    elif rmagic == 0xBA:
        assert count == d["hits"]
        recs = [
            {"dbidx": fields[i], "xt": fields[i + 1], "key": resp[fields[i + 2] : fields[i + 2] + fields[i + 3]],
             "value": resp[fields[i + 4] : fields[i + 4] + fields[i + 5]]}
            for i in range(0, len(fields), 6)
        ]
        assert len(recs) == len(d["records"])
        for got, exp in zip(recs, d["records"]):
            assert got["dbidx"] == exp["dbidx"] and got["key"] == b(exp["key"]) and got["value"] == b(exp["value"])
            if not any(x.endswith(".xt") for x in v["volatile"]):
                assert got["xt"] == exp["xt"]
    else:
        assert count == d["rnum"]
        recs = [[resp[fields[i] : fields[i] + fields[i + 1]], resp[fields[i + 2] : fields[i + 2] + fields[i + 3]]]
                for i in range(0, len(fields), 4)]
        assert recs == [[b(k), b(x)] for k, x in d["records"]]


# ----------------------------------------------------------------- vectors: KT HTTP


@pytest.mark.parametrize("v", replies("kt-http.json"), ids=lambda v: v["name"])
def test_http_vector(v):
    resp = bytes.fromhex(v["response_hex"])
    d, vol = v["decoded"], v["volatile"]
    nxt, status, off, length, colenc, close = S.scan_http(resp, 0, len(resp), LIMIT)
    assert nxt == len(resp)
    assert status == d["status"]
    assert (chr(colenc) if colenc else None) == d["colenc"]
    assert close == bool(d.get("connection_closed", False))
    assert_incomplete_everywhere(lambda buf, p, e: S.scan_http(buf, p, e, LIMIT), resp)
    if "records" in d and "record:*" not in vol:
        recs = S.decode_tsv(resp, off, length, colenc)
        exp = [(b(k), b(x)) for k, x in d["records"]]
        assert [k for k, _ in recs] == [k for k, _ in exp]
        for (k, got), (_, want) in zip(recs, exp):
            if f"record:{k.decode('latin-1')}" not in vol:
                assert got == want, k


# ----------------------------------------------------------------- KT binary units


def ktb_getbulk(recs):
    out = struct.pack(">BI", 0xBA, len(recs))
    for dbidx, xt, k, v in recs:
        out += struct.pack(">HIIq", dbidx, len(k), len(v), xt) + k + v
    return out


def ktb_play(recs):
    out = struct.pack(">BI", 0xB4, len(recs))
    for k, v in recs:
        out += struct.pack(">II", len(k), len(v)) + k + v
    return out


def test_ktb_get_bulk_fields_and_splits():
    frame = ktb_getbulk([(0, -5, b"k", b"vv"), (65535, (1 << 40) - 1, b"", b"")])
    nxt, rmagic, count, fields = S.scan_ktb(frame, 0, len(frame), 0xBA, LIMIT)
    assert (nxt, rmagic, count) == (len(frame), 0xBA, 2)
    assert fields == [0, -5, 23, 1, 24, 2, 65535, (1 << 40) - 1, 44, 0, 44, 0]
    assert_incomplete_everywhere(lambda buf, p, e: S.scan_ktb(buf, p, e, 0xBA, LIMIT), frame)


def test_ktb_play_script_and_set_bulk():
    frame = ktb_play([(b"a", b"1"), (b"bb", b"")])
    assert S.scan_ktb(frame, 0, len(frame), 0xB4, LIMIT) == (len(frame), 0xB4, 2, [13, 1, 14, 1, 23, 2, 25, 0])
    assert S.scan_ktb(b"\xb8\x00\x00\x00\x07", 0, 5, 0xB8, LIMIT) == (5, 0xB8, 7, [])
    assert S.scan_ktb(b"\xb9\xff\xff\xff\xff", 0, 5, 0xB9, LIMIT) == (5, 0xB9, 0xFFFFFFFF, [])
    assert S.scan_ktb(b"\xbf", 0, 1, 0xB4, LIMIT) == (1, 0xBF, 0, [])
    assert S.scan_ktb(b"", 0, 0, 0xB4, LIMIT) == 1


@pytest.mark.parametrize("first", [0x00, 0xB5, 0xB8, 0xBA, 0xC8, 0x48])
def test_ktb_wrong_magic(first):
    with pytest.raises(ProtocolError):
        S.scan_ktb(bytes([first]) + b"\x00" * 8, 0, 9, 0xB4, LIMIT)


def test_ktb_hostile_lengths():
    # A count no limit allows, and a key length past the limit: fail before the bytes arrive.
    with pytest.raises(ResponseTooLargeError):
        S.scan_ktb(b"\xba\xff\xff\xff\xff", 0, 5, 0xBA, LIMIT)
    hostile = b"\xb4\x00\x00\x00\x01" + struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFFF)
    with pytest.raises(ResponseTooLargeError):
        S.scan_ktb(hostile, 0, len(hostile), 0xB4, LIMIT)
    frame = ktb_play([(b"k" * 50, b"v" * 50)])
    with pytest.raises(ResponseTooLargeError):
        S.scan_ktb(frame, 0, len(frame), 0xB4, len(frame) - 1)
    assert S.scan_ktb(frame, 0, len(frame), 0xB4, len(frame))[0] == len(frame)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError):
        S.scan_ktb(b"\xbf", 0, 1, 0xBF, LIMIT)
    with pytest.raises(ValueError):
        S.scan_tt(b"\x00", 0, 1, 7, LIMIT)
    with pytest.raises(ValueError):
        S.scan_tt(b"\x00", 0, 2, S.TT_CODE, LIMIT)
    with pytest.raises(ValueError):
        S.decode_tsv(b"abc", 1, 5, 0)
    with pytest.raises(ValueError):
        S.decode_tsv(b"abc", 0, 3, ord("X"))


# ----------------------------------------------------------------- TT units


@pytest.mark.parametrize(
    ("shape", "frame", "values"),
    [
        ("TT_CODE", b"\x00", []),
        ("TT_CODE", b"\x01", []),
        ("TT_DATA", b"\x00\x00\x00\x00\x02hi", [5, 2]),
        ("TT_DATA", b"\x01", []),
        ("TT_I32", b"\x00\xff\xff\xff\xfe", [-2]),
        ("TT_I32", b"\x01", []),
        ("TT_U64", b"\x00" + b"\xff" * 8, [(1 << 64) - 1]),
        ("TT_DOUBLE", b"\x00" + struct.pack(">qq", -1, -750000000000), [-1, -750000000000]),
        ("TT_DOUBLE", b"\x01", []),
        ("TT_LIST", b"\x00\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x00", [9, 1, 14, 0]),
        ("TT_LIST", b"\x01\x00\x00\x00\x00", []),
        ("TT_KVLIST", b"\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02abc", [13, 1, 14, 2]),
        ("TT_KVLIST", b"\x01\x00\x00\x00\x00", []),
    ],
)
def test_tt_shapes(shape, frame, values):
    sh = getattr(S, shape)
    assert S.scan_tt(frame, 0, len(frame), sh, LIMIT) == (len(frame), frame[0], values)
    assert_incomplete_everywhere(lambda buf, p, e: S.scan_tt(buf, p, e, sh, LIMIT), frame)


def test_tt_shape_constants():
    assert (S.TT_CODE, S.TT_DATA, S.TT_I32, S.TT_U64, S.TT_DOUBLE, S.TT_LIST, S.TT_KVLIST) == tuple(range(7))


@pytest.mark.parametrize(
    ("shape", "frame"),
    [
        ("TT_DATA", b"\x00\xff\xff\xff\xff"),
        ("TT_LIST", b"\x00\xff\xff\xff\xff"),
        ("TT_LIST", b"\x00\x00\x00\x00\x01\xff\xff\xff\xff"),
        ("TT_KVLIST", b"\x00\x00\x00\x00\x01\x7f\xff\xff\xff\x7f\xff\xff\xff"),
        ("TT_KVLIST", b"\x01\x10\x00\x00\x00"),
    ],
)
def test_tt_hostile_lengths(shape, frame):
    with pytest.raises(ResponseTooLargeError):
        S.scan_tt(frame, 0, len(frame), getattr(S, shape), 1 << 20)


# ----------------------------------------------------------------- HTTP units


def http(status_line=b"HTTP/1.1 200 OK", headers=(), body=b""):
    return status_line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def test_http_basic_and_splits():
    frame = http(headers=[b"Content-Length: 3", b"Content-Type: text/tab-separated-values; colenc=U"], body=b"a\tb")
    nxt, status, off, length, colenc, close = S.scan_http(frame, 0, len(frame), LIMIT)
    assert (nxt, status, length, colenc, close) == (len(frame), 200, 3, ord("U"), False)
    assert frame[off : off + length] == b"a\tb"
    assert_incomplete_everywhere(lambda buf, p, e: S.scan_http(buf, p, e, LIMIT), frame)


@pytest.mark.parametrize(
    ("status_line", "headers", "close"),
    [
        (b"HTTP/1.1 200 OK", [b"Connection: close"], True),
        (b"HTTP/1.1 200 OK", [b"connection: Keep-Alive, CLOSE"], True),
        (b"HTTP/1.1 450 Logical Inconsistency", [], False),
        (b"HTTP/1.0 200 OK", [], True),
        (b"HTTP/1.0 200 OK", [b"Connection: keep-alive"], False),
        (b"HTTP/1.1 501", [], False),
    ],
)
def test_http_close(status_line, headers, close):
    frame = http(status_line, [b"content-length: 0", *headers])
    r = S.scan_http(frame, 0, len(frame), LIMIT)
    assert r[5] is close
    assert r[1] == int(status_line[9:12])


@pytest.mark.parametrize("enc", [b"B", b"U", b"Q", b"b"])
def test_http_colenc(enc):
    frame = http(headers=[b"CONTENT-TYPE: text/tab-separated-values ;  COLENC=" + enc + b" ", b"Content-Length: 0"])
    assert S.scan_http(frame, 0, len(frame), LIMIT)[4] == ord(enc.upper())


@pytest.mark.parametrize(
    "frame",
    [
        b"HTTX/1.1 200 OK\r\n",
        b"xyz",
        http(b"HTTP/1.1 20 OK", [b"Content-Length: 0"]),
        http(b"HTTP/1.1 200OK", [b"Content-Length: 0"]),
        http(b"HTTP/1.x 200 OK", [b"Content-Length: 0"]),
        http(headers=[]),
        http(headers=[b"Content-Length: 1x"]),
        http(headers=[b"Content-Length: -1"]),
        http(headers=[b"Content-Length:"]),
        http(headers=[b"Content-Length: 1", b"Content-Length: 2"]),
        http(headers=[b"Transfer-Encoding: chunked"]),
        http(headers=[b"Content-Length: 0", b"Transfer-Encoding: chunked"]),
        http(headers=[b"Content-Length: 0", b"no colon here"]),
        http(headers=[b"Content-Length: 0", b" folded: x"]),
        http(headers=[b"Content-Length: 0", b"Content-Type: text/plain; colenc=X"]),
    ],
)
def test_http_malformed(frame):
    with pytest.raises(ProtocolError):
        S.scan_http(frame, 0, len(frame), LIMIT)


def test_http_limits():
    with pytest.raises(ProtocolError):
        big = b"HTTP/1.1 200 OK\r\nX: " + b"a" * S.HTTP_MAX_HEADER
        S.scan_http(big, 0, len(big), LIMIT)
    frame = http(headers=[b"Content-Length: 99999999999999999999999"])
    with pytest.raises(ResponseTooLargeError):
        S.scan_http(frame, 0, len(frame), LIMIT)
    frame = http(headers=[b"Content-Length: 100"])
    with pytest.raises(ResponseTooLargeError):
        S.scan_http(frame, 0, len(frame), len(frame) + 99)
    assert S.scan_http(frame, 0, len(frame), len(frame) + 100) == len(frame) + 100


# ----------------------------------------------------------------- decode_tsv


@pytest.mark.parametrize(
    ("colenc", "body", "records"),
    [
        (0, b"", []),
        (0, b"a\t1\nb\t2\n", [(b"a", b"1"), (b"b", b"2")]),
        (0, b"a\t1\r\nkeyonly\nx\ty\tz", [(b"a", b"1\r"), (b"keyonly", b""), (b"x", b"y\tz")]),
        (0, b"\n\n", [(b"", b""), (b"", b"")]),
        ("B", b"YQ==\tMQ\nYmI=\t\n", [(b"a", b"1"), (b"bb", b"")]),
        ("U", b"a%09b\tc+d%2B%ff\n", [(b"a\tb", b"c d+\xff")]),
        ("Q", b"a=3Db\tx=\r=0A\n", None),
        ("Q", b"a=3Db\t=FFz\n", [(b"a=b", b"\xffz")]),
    ],
)
def test_decode_tsv(colenc, body, records):
    enc = ord(colenc) if isinstance(colenc, str) else colenc
    buf = b"xx" + body + b"yy"
    if records is None:
        with pytest.raises(ProtocolError):
            S.decode_tsv(buf, 2, len(body), enc)
    else:
        assert S.decode_tsv(buf, 2, len(body), enc) == records
        assert S.decode_tsv(memoryview(bytearray(buf)), 2, len(body), enc) == records


@pytest.mark.parametrize(
    ("colenc", "field"),
    [("B", b"Y"), ("B", b"YQ="), ("B", b"Y*=="), ("B", b"YQ==="), ("B", b"=="), ("U", b"%4"), ("U", b"%zz"),
     ("U", b"a%"), ("Q", b"=4"), ("Q", b"=G0"), ("Q", b"a=")],
)
def test_decode_tsv_malformed(colenc, field):
    body = b"k\t" + field + b"\n"
    with pytest.raises(ProtocolError):
        S.decode_tsv(body, 0, len(body), ord(colenc))


def test_decode_tsv_many_records():
    body = b"".join(b"%d\t%d\n" % (i, i) for i in range(5000))
    recs = S.decode_tsv(body, 0, len(body), 0)
    assert len(recs) == 5000 and recs[4999] == (b"4999", b"4999")
    ubody = body.replace(b"\t", b"\t%41")
    assert S.decode_tsv(ubody, 0, len(ubody), ord("U"))[10] == (b"10", b"A10")
