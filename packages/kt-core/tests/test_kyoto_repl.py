"""kt_core.codec.kyoto_repl: the replication messages (0xB1) replayed from testdata/vectors/kt-repl.json
(recorded from the real ktserver 0.9.56 by test_kyoto_repl_record.py), both sides, and the update log
message decoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kt_core.codec import kyoto_repl as kr
from kt_core.errors import ProtocolError

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "kt-repl.json").read_text())
BY_NAME = {v["name"]: v for v in VECTORS}
LIMIT = 1 << 20


def frames(response: bytes, step: int = 0) -> tuple[bool, list[tuple[int, Any]]]:
    """Decode a recorded stream, fed ``step`` bytes at a time (0: all at once)."""
    end = len(response) if step == 0 else 0
    buf = response[:end]
    pos = 0
    opened: bool | None = None
    out: list[tuple[int, Any]] = []
    while True:
        fn = kr.read_replication_open if opened is None else kr.read_replication_frame
        r = fn(buf, pos, end, LIMIT)
        if isinstance(r, int):
            assert r > end
            if end >= len(response):
                assert pos == len(response), "the reader must consume exactly the recorded bytes"
                assert opened is not None
                return opened, out
            end = min(len(response), max(r, end + step) if step else len(response))
            buf = response[:end]
            continue
        if opened is None:
            pos, opened = r
        else:
            pos, ts, message = r
            out.append((ts, message))


def as_decoded(opened: bool, out: list[tuple[int, Any]]) -> dict[str, Any]:
    result: list[dict[str, Any]] = []
    for ts, message in out:
        if message is None:
            result.append({"frame": "nop"})
        elif message == b"":
            result.append({"frame": "keepalive"})
        else:
            c = kr.decode_message(message, ts)
            assert c.ts == ts
            rec: dict[str, Any] = {"frame": "message", "op": type(c).__name__, "sid": c.sid, "db": c.db}
            if isinstance(c, (kr.SetChange, kr.RemoveChange)):
                rec["key"] = c.key.decode("latin-1")
            if isinstance(c, kr.SetChange):
                rec["value"] = c.value.decode("latin-1")
                rec["expire"] = c.expire
            result.append(rec)
    return {"accepted": opened, "frames": result}


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_request_encoder_reproduces_the_recorded_bytes(name: str) -> None:
    v = BY_NAME[name]
    request = bytes.fromhex(v["request_hex"])
    r = kr.parse_replication_request(request, 0, len(request), LIMIT)
    assert not isinstance(r, int)
    nxt, flags, ts, sid = r
    assert nxt == len(request) == 15
    assert kr.encode_replication(ts, sid, flags) == request
    for cut in range(len(request)):
        need = kr.parse_replication_request(request[:cut], 0, cut, LIMIT)
        assert isinstance(need, int) and need > cut


@pytest.mark.parametrize("name", sorted(BY_NAME))
@pytest.mark.parametrize("step", [0, 1, 7])
def test_reader_decodes_the_recorded_stream(name: str, step: int) -> None:
    v = BY_NAME[name]
    response = bytes.fromhex(v["response_hex"])
    opened, out = frames(response, step)
    assert as_decoded(opened, out) == v["decoded"]


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_master_encoders_rebuild_the_recorded_stream(name: str) -> None:
    """The stand-in's reply encoders give the recorded bytes back, time stamps included."""
    response = bytes.fromhex(BY_NAME[name]["response_hex"])
    opened, out = frames(response)
    parts = [kr.encode_replication_accept() if opened else kr.encode_replication_refusal()]
    for ts, message in out:
        parts.append(kr.encode_replication_nop(ts) if message is None else kr.encode_replication_message(ts, message))
    assert b"".join(parts) == response


def test_messages_reencode_from_their_changes() -> None:
    response = bytes.fromhex(BY_NAME["repl_all"]["response_hex"])
    _, out = frames(response)
    kinds = set()
    for ts, message in out:
        if not message:
            continue
        c = kr.decode_message(message, ts)
        kinds.add(type(c))
        if isinstance(c, kr.SetChange):
            body = kr.encode_uset(c.key, c.value, kr.XTMAX if c.expire is None else c.expire)
        elif isinstance(c, kr.RemoveChange):
            body = kr.encode_uremove(c.key)
        else:
            body = kr.encode_uclear()
        assert kr.encode_log_message(c.sid, c.db, body) == message
    assert kinds == {kr.SetChange, kr.RemoveChange, kr.ClearChange}


def test_resume_is_strictly_after_the_timestamp() -> None:
    _, full = frames(bytes.fromhex(BY_NAME["repl_all"]["response_hex"]))
    _, resumed = frames(bytes.fromhex(BY_NAME["repl_resume"]["response_hex"]))
    request = bytes.fromhex(BY_NAME["repl_resume"]["request_hex"])
    since = int.from_bytes(request[5:13], "big")
    messages = [m for m in full if m[1]]
    assert [m for m in messages if m[0] > since] == [m for m in resumed if m[1]]
    assert since == messages[4][0]
    tss = [ts for ts, _ in messages]
    assert tss == sorted(tss) and len(set(tss)) == len(tss)


def test_nop_ack_and_errors() -> None:
    assert kr.encode_nop_ack() == b"\xb1"
    assert kr.read_nop_ack(b"\xb1", 0, 1, LIMIT) == (1,)
    assert kr.read_nop_ack(b"", 0, 0, LIMIT) == 1
    with pytest.raises(ProtocolError):
        kr.read_nop_ack(b"\x00", 0, 1, LIMIT)
    with pytest.raises(ProtocolError):
        kr.read_replication_open(b"\xb8", 0, 1, LIMIT)
    with pytest.raises(ProtocolError):
        kr.read_replication_frame(b"\xbf", 0, 1, LIMIT)
    big = kr.encode_replication_message(1, b"x" * 100)[:13]
    with pytest.raises(ProtocolError):  # a hostile size fails before its bytes arrive
        kr.read_replication_frame(big, 0, 13, 50)
    with pytest.raises(ValueError):
        kr.encode_replication(-1, 0)
    with pytest.raises(ValueError):
        kr.encode_replication(0, 1 << 16)


@pytest.mark.parametrize("message", [b"", b"\x00\x01\x00\x00", b"\x00\x01\x00\x00\xa1\x01",
                                     b"\x00\x01\x00\x00\xa1\x01\x05k", b"\x00\x01\x00\x00\xa2\x02k",
                                     b"\x00\x01\x00\x00\xa5x", b"\x00\x01\x00\x00\xa1\xff\xff"])
def test_malformed_messages(message: bytes) -> None:
    with pytest.raises(ProtocolError):
        kr.decode_message(message, 0)


def test_varnum_round_trip_and_other_ops() -> None:
    for n in (0, 1, 127, 128, 16383, 16384, 1 << 35, (1 << 63) - 1):
        b = kr.encode_varnum(n)
        assert kr.read_varnum(b, 0, len(b)) == (n, len(b))
    c = kr.decode_message(b"\x00\x07\x00\x02\xa3abc", 9)
    assert c == kr.OtherChange(9, 7, 2, 0xA3, b"abc")
    s = kr.decode_message(kr.encode_log_message(3, 1, kr.encode_uset(b"k", b"v", 12345)), 5)
    assert s == kr.SetChange(5, 3, 1, b"k", b"v", 12345)
