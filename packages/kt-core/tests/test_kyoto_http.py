"""Kyoto Tycoon HTTP TSV-RPC messages against the recorded vectors (kt_core.codec.kyoto_http)."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kt_core.codec import kyoto_http as kh
from kt_core.errors import (
    BadRequestError,
    InvalidArgumentError,
    InvalidTypeError,
    LogicalInconsistencyError,
    NotImplementedByServerError,
    ProtocolError,
)

VECTORS = Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "kt-http.json"
ALL = json.loads(VECTORS.read_text())  # a missing file fails the whole module, as it must
LIMIT = 1 << 24
REPLIED = [v for v in ALL if v["reply"] == "reply"]


def b(s: str) -> bytes:
    return s.encode("latin-1")


def req(v: dict) -> bytes:
    return bytes.fromhex(v["request_hex"])


def rsp(v: dict) -> bytes:
    return bytes.fromhex(v["response_hex"])


def ids(vs: list) -> list:
    return [v["name"] for v in vs]


def independent_request_records(data: bytes) -> tuple[str, str, list]:
    """The request's method, path and parameters, decoded with the standard library only."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    path, _, query = target.partition("?")
    records = []
    for field in query.encode().split(b"&") if query else []:
        k, _, val = field.partition(b"=")
        records.append((unquote_to_bytes(k.replace(b"+", b" ")), unquote_to_bytes(val.replace(b"+", b" "))))
    ctype = headers.get("content-type", "")
    enc = ctype.split("colenc=")[1][0] if "colenc=" in ctype else None
    dec = {
        None: lambda x: x,
        "B": base64.b64decode,
        "U": lambda x: unquote_to_bytes(x.replace(b"+", b" ")),
        "Q": binascii.a2b_qp,
    }[enc]
    if ctype.startswith("application/x-www-form-urlencoded"):
        for field in body.split(b"&"):
            k, _, val = field.partition(b"=")
            records.append((unquote_to_bytes(k.replace(b"+", b" ")), unquote_to_bytes(val.replace(b"+", b" "))))
        return method, path, records
    for line in body.split(b"\n")[:-1]:
        k, _, val = line.partition(b"\t")
        records.append((dec(k), dec(val)))
    return method, path, records


def expected_reply_records(v: dict) -> list:
    return [(b(k), b(val)) for k, val in v["decoded"]["records"]]


def volatile_record_keys(v: dict) -> set | None:
    """None when every record is volatile, else the set of volatile keys."""
    if "record:*" in v["volatile"]:
        return None
    return {b(x[len("record:") :]) for x in v["volatile"] if x.startswith("record:")}


def header(v: dict, name: str) -> str | None:
    for k, val in v["decoded"]["headers"]:
        if k.lower() == name.lower():
            return val
    return None


# ----------------------------------------------------------------------------- server: parse_request


@pytest.mark.parametrize("v", ALL, ids=ids(ALL))
def test_parse_request_vector(v: dict) -> None:
    data = req(v)
    r = kh.parse_request(data, 0, len(data), LIMIT)
    assert isinstance(r, tuple)
    next_pos, request = r
    assert next_pos == len(data)
    method, path, records = independent_request_records(data)
    assert (request.method, request.path) == (method, path)
    assert request.procedure == path[len("/rpc/") :]
    assert request.records == records
    assert request.close == data.startswith(b"POST /rpc/void HTTP/1.0")


@pytest.mark.parametrize("v", ALL, ids=ids(ALL))
def test_parse_request_prefixes_need_more(v: dict) -> None:
    data = req(v) + b"POST /rpc/next"
    full = len(req(v))
    for cut in range(full):
        need = kh.parse_request(data, 0, cut, LIMIT)
        assert type(need) is int and cut < need <= full, (cut, need)
    assert kh.parse_request(data, 0, len(data), LIMIT)[0] == full


def test_parse_request_query_and_form() -> None:
    data = (
        b"POST /rpc/set?DB=1 HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 24\r\n\r\nkey=a+b%00;value=%e9&&x="
    )
    _, r = kh.parse_request(data, 0, len(data), LIMIT)
    assert r.records == [(b"DB", b"1"), (b"key", b"a b\x00"), (b"value", b"\xe9"), (b"x", b"")]
    assert r.query == b"DB=1" and not r.close


def test_parse_request_tsv_like_server() -> None:
    body = b"a\t1\r\nnotab\n\tempty-key\nlast\tno-lf"
    data = b"POST /rpc/echo HTTP/1.1\r\nContent-Type: text/tab-separated-values\r\nContent-Length: %d\r\n\r\n" % len(
        body
    )
    _, r = kh.parse_request(data + body, 0, len(data) + len(body), LIMIT)
    assert r.records == [(b"a", b"1"), (b"", b"empty-key"), (b"last", b"no-lf")]


def test_parse_request_http10_keep_alive_and_close() -> None:
    data = b"GET /rpc/void HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
    assert not kh.parse_request(data, 0, len(data), LIMIT)[1].close
    data = b"GET /rpc/void HTTP/1.1\r\nConnection: close\r\n\r\n"
    assert kh.parse_request(data, 0, len(data), LIMIT)[1].close


@pytest.mark.parametrize(
    "data",
    [
        b"garbage\r\n\r\n",
        b"POST /rpc/x HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST /rpc/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /rpc/x HTTP/1.1\r\nno colon\r\n\r\n",
        b"POST /rpc/x HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
    ],
)
def test_parse_request_bad_bytes(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        kh.parse_request(data, 0, len(data), 1000)


def test_parse_request_headers_too_large() -> None:
    data = b"POST /rpc/x HTTP/1.1\r\nX: " + b"a" * 70000
    with pytest.raises(ProtocolError):
        kh.parse_request(data, 0, len(data), LIMIT)


# ----------------------------------------------------------------------------- client: encode_rpc


POSTS = [v for v in ALL if req(v).startswith(b"POST /rpc/")]


@pytest.mark.parametrize("v", POSTS, ids=ids(POSTS))
def test_encode_rpc_parses_back_to_the_vector_request(v: dict) -> None:
    data = req(v)
    _, wanted = kh.parse_request(data, 0, len(data), LIMIT)
    out = kh.encode_rpc(wanted.procedure, wanted.records)
    _, got = kh.parse_request(out, 0, len(out), LIMIT)
    assert (got.method, got.path, got.records) == ("POST", wanted.path, wanted.records)
    # Where the vector sent a raw body (and HTTP/1.1), a correct client writes the same bytes.
    tsv = b"Content-Type: text/tab-separated-values\r\n" in data
    if tsv and b"HTTP/1.1" in data.split(b"\r\n")[0]:
        assert out == data


def test_encode_rpc_colenc_b_for_control_bytes() -> None:
    out = kh.encode_rpc("set", [(b"k\tey", b"v\n"), (b"x", b"")])
    assert b"; colenc=B\r\n" in out
    assert out.endswith(b"\r\n\r\nayAgZXk=\tdgo=\neA==\t\n".replace(b"ayAgZXk=", base64.b64encode(b"k\tey")))


def test_encode_rpc_raw_high_bytes_and_dict() -> None:
    out = kh.encode_rpc("set", {"key": "caf\u00e9", b"value": b"\xff\xfe"})
    assert out.endswith(b"Content-Length: 19\r\n\r\nkey\tcaf\xc3\xa9\nvalue\t\xff\xfe\n")
    assert b"colenc" not in out


def test_encode_rpc_host_and_procedure_escaping() -> None:
    out = kh.encode_rpc("my proc", [], host="example.org")
    assert out.startswith(b"POST /rpc/my%20proc HTTP/1.1\r\nHost: example.org\r\n")
    _, r = kh.parse_request(out, 0, len(out), LIMIT)
    assert r.procedure == "my proc" and r.records == []


@pytest.mark.parametrize(
    ("params", "exc"),
    [
        ([(b"k", 5)], InvalidTypeError),
        ([(b"k", b"v", b"x")], InvalidArgumentError),
        ([b"kv"], InvalidArgumentError),
    ],
)
def test_encode_rpc_bad_params(params, exc) -> None:
    with pytest.raises(exc):
        kh.encode_rpc("set", params)
    with pytest.raises(InvalidTypeError):
        kh.encode_rpc(b"set", [])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        kh.encode_rpc("", [])


pairs = st.lists(st.tuples(st.binary(max_size=30), st.binary(max_size=30)), max_size=6)


@given(pairs)
def test_encode_rpc_round_trip_any_bytes(records) -> None:
    out = kh.encode_rpc("echo", records)
    r = kh.parse_request(out, 0, len(out), LIMIT)
    assert r[0] == len(out)
    assert r[1].records == records
    assert r[1].procedure == "echo"


# ----------------------------------------------------------------------------- client: read_rpc


def check_rpc_result(v: dict, result: kh.RpcResult) -> None:
    d = v["decoded"]
    assert result.status == d["status"]
    assert result.colenc == (ord(d["colenc"]) if d["colenc"] else 0)
    assert result.close == (header(v, "Connection") == "close")
    vol = volatile_record_keys(v)
    if vol is not None:
        want = [(k, val) for k, val in expected_reply_records(v) if k not in vol]
        assert [(k, val) for k, val in result.records if k not in vol] == want
        assert [k for k, _ in result.records] == [k for k, _ in expected_reply_records(v)]


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_read_rpc_vector(v: dict) -> None:
    data = rsp(v)
    for buf in (data, bytearray(data), memoryview(data)):
        r = kh.read_rpc(buf, 0, len(data), LIMIT)
        assert isinstance(r, tuple)
        assert r[0] == len(data)
        check_rpc_result(v, r[1])


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_read_rpc_every_prefix_needs_more(v: dict) -> None:
    data = b"xx" + rsp(v) + b"HTTP/1.1 200 OK\r\n"
    full = 2 + len(rsp(v))
    for cut in range(2, full):
        need = kh.read_rpc(data, 2, cut, LIMIT)
        assert type(need) is int and cut < need <= full, (cut, need)
    r = kh.read_rpc(data, 2, len(data), LIMIT)
    assert r[0] == full
    check_rpc_result(v, r[1])


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_read_rpc_error_mapping(v: dict) -> None:
    data = rsp(v)
    _, result = kh.read_rpc(data, 0, len(data), LIMIT)
    err = result.error()
    if v["decoded"]["status"] == 200:
        assert err is None
        assert result.raise_for_error() is result
        return
    expected = {450: LogicalInconsistencyError, 400: BadRequestError, 501: NotImplementedByServerError}
    if result.status in expected:
        assert type(err) is expected[result.status]
    assert err.code == result.status
    assert err.message == dict(expected_reply_records(v))[b"ERROR"].decode()
    with pytest.raises(type(err)):
        result.raise_for_error()


# ----------------------------------------------------------------------------- server: encode_reply


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_encode_reply_reproduces_vector(v: dict) -> None:
    d = v["decoded"]
    records = expected_reply_records(v)
    # The encoder must sort like the server: feed the records in reverse.
    out = kh.encode_reply(
        d["status"], list(reversed(records)), close=header(v, "Connection") == "close", date=header(v, "Date")
    )
    assert out == rsp(v)


def test_encode_reply_date_default_and_unknown_duplicates() -> None:
    out = kh.encode_reply(200, [(b"a", b"1"), (b"a", b"2")])
    assert out.startswith(b"HTTP/1.1 200 OK\r\nServer: KyotoTycoon/0.9.56b\r\nDate: ")
    assert out.endswith(b" GMT\r\nContent-Length: 4\r\nContent-Type: text/tab-separated-values\r\n\r\na\t2\n")


@pytest.mark.parametrize(
    ("records", "colenc"),
    [
        ([(b"a", b"b")], 0),
        ([(b"a", b"\xff" * 10)], 0),
        ([(b"a", b"x" * 256)], ord("U")),
        ([(b"a\tb", b"c")], ord("U")),
        ([(b"\x00\x01\x02", bytes(range(128, 160)))], ord("B")),
        ([(b"a", b"\x7f")], ord("U")),
    ],
)
def test_choose_colenc(records, colenc) -> None:
    assert kh.choose_colenc(records) == colenc


@given(pairs)
def test_encode_reply_read_rpc_round_trip(records) -> None:
    out = kh.encode_reply(450, records, close=True)
    r = kh.read_rpc(out, 0, len(out), LIMIT)
    assert r[0] == len(out)
    assert r[1].status == 450 and r[1].close
    assert r[1].records == sorted(dict(records).items(), key=lambda kv: _encoded_key(kv[0], r[1].colenc))


def _encoded_key(key: bytes, colenc: int) -> bytes:
    if colenc == ord("B"):
        return base64.b64encode(key)
    if colenc == ord("U"):
        return kh.url_encode(key)
    return key


def test_url_encode_matches_server() -> None:
    assert kh.url_encode(b"a b%&\n\xe9_-.!~*'()Z9") == b"a%20b%25%26%0a%e9_-.!~*'()Z9"
    assert kh.url_decode(b"a%20b+c%zz%e9") == b"a b c%zz\xe9"


def _rpc_outcome(data: bytes, pos: int, end: int, limit: int):
    try:
        r = kh.read_rpc(data, pos, end, limit)
    except Exception as exc:  # the class is what must match
        return ("raise", type(exc))
    if isinstance(r, int):
        return ("need", r)
    return ("ok", r[0], r[1].status, r[1].records, r[1].close, r[1].colenc)


@pytest.mark.parametrize("v", REPLIED, ids=ids(REPLIED))
def test_read_rpc_answers_a_seen_header_block_like_the_scanner(v: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # read_rpc answers a header block it has scanned before from memory: at every cut, with bytes before and
    # after, and under limits around the frame's size, that answer must be the scanner's.
    frame = rsp(v)
    data = b"??" + frame + b"HTTP/1.1 200"
    cases = [(2, end, limit) for end in range(2, len(data) + 1)
             for limit in (len(frame) - 1, len(frame), 1 << 30)]
    monkeypatch.setattr(kh, "_SEEN_HEADS", {})
    monkeypatch.setattr(kh, "_SEEN_MAX", 0)  # every call clears it before storing: always the scanner
    scanned = [_rpc_outcome(data, *c) for c in cases]
    monkeypatch.setattr(kh, "_SEEN_MAX", 64)
    kh.read_rpc(frame, 0, len(frame), 1 << 30)  # remember this header block
    assert bytes(frame[: frame.index(b"\r\n\r\n")]) in kh._SEEN_HEADS or len(frame) > kh._SMALL_REPLY
    assert [_rpc_outcome(data, *c) for c in cases] == scanned
    view = memoryview(bytearray(data))
    assert [_rpc_outcome(view, *c) for c in cases] == scanned
