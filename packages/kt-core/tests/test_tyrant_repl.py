"""kt_core.codec.tyrant_repl: the repl request, the master's frames and the update log records (no I/O), checked
against the bytes recorded from the real ttserver 1.1.41 (testdata/vectors/tt-repl.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kt_core.codec import tyrant as tt
from kt_core.codec import tyrant_repl as repl
from kt_core.errors import ProtocolError

VECTORS = {v["name"]: v for v in json.loads(
    (Path(__file__).resolve().parents[3] / "testdata" / "vectors" / "tt-repl.json").read_text())}


def test_request_layout_and_its_server_side_decoder() -> None:
    data = repl.encode_repl(0x0102030405060708, 7)
    assert data == bytes.fromhex("c8a0" "0102030405060708" "00000007")
    assert data == bytes.fromhex(VECTORS["repl_all"]["request_hex"])[:2] + data[2:]
    assert repl.parse_repl_request(data, 0, len(data), 100) == (14, 0x0102030405060708, 7)
    assert repl.parse_repl_request(data, 0, 5, 100) == 14
    with pytest.raises(ProtocolError):
        repl.parse_repl_request(b"\xc8\x10" + data[2:], 0, 14, 100)
    for ts, sid in ((0, 1), (1, 0), (1 << 64, 1), (1, 1 << 32)):
        with pytest.raises(ValueError):
            repl.encode_repl(ts, sid)


def test_frames_of_a_recorded_stream_decode_to_typed_changes() -> None:
    data = bytes.fromhex(VECTORS["repl_all"]["response_hex"])
    r = repl.read_repl_open(data, 0, len(data), 1 << 20)
    assert r == (4, 1)
    pos = 4
    changes = []
    nops = 0
    while pos < len(data):
        for end in range(pos, len(data)):  # every cut short of the frame asks for more, never past it
            need = repl.read_repl_frame(data, pos, end, 1 << 20)
            if not isinstance(need, int):
                break
            assert end < need
        f = repl.read_repl_frame(data, pos, len(data), 1 << 20)
        assert not isinstance(f, int)
        pos, ts, sid, message = f
        if message is None:
            nops += 1
        else:
            changes.append(repl.decode_message(message, ts, sid))
    assert nops == 2 and pos == len(data)
    kinds = [type(c).__name__ for c in changes]
    assert kinds == ["SetChange", "SetChange", "SetChange", "AppendChange", "AppendChange", "SetChange",
                     "RemoveChange", "RemoveChange", "AddChange", "AddChange", "MiscChange", "MiscChange",
                     "MiscChange", "OtherChange", "OtherChange", "ClearChange", "SetChange"]
    assert changes[1] == repl.SetChange(changes[1].ts, 1, False, b"a", b"2", True)
    assert changes[4] == repl.AppendChange(changes[4].ts, 1, True, b"a", b"xyz", 3)
    assert changes[7] == repl.RemoveChange(changes[7].ts, 1, False, b"missing")
    assert changes[9] == repl.AddChange(changes[9].ts, 1, True, b"d", 1.5)
    assert changes[10] == repl.MiscChange(changes[10].ts, 1, True, "putlist", (b"k1", b"v1", b"k2", b"v2"))
    assert changes[13] == repl.OtherChange(changes[13].ts, 1, True, tt.COMMANDS["sync"], b"")
    tss = [c.ts for c in changes]
    assert tss == sorted(tss) and all(c.sid == 1 for c in changes)


def test_master_side_encoders_rebuild_the_recorded_stream() -> None:
    data = bytes.fromhex(VECTORS["repl_all"]["response_hex"])
    out = [repl.encode_repl_open(1)]
    pos = 4
    while pos < len(data):
        f = repl.read_repl_frame(data, pos, len(data), 1 << 20)
        assert not isinstance(f, int)
        pos, ts, sid, message = f
        out.append(repl.encode_repl_nop() if message is None else repl.encode_repl_record(ts, sid, message))
    assert b"".join(out) == data


def test_log_messages_are_the_requests_with_their_outcome() -> None:
    data = bytes.fromhex(VECTORS["ulog_file"]["response_hex"])
    messages = []
    pos = 0
    while pos < len(data):
        r = repl.read_ulog_record(data, pos, len(data), 1 << 20)
        assert not isinstance(r, int)
        pos, ts, sid, mid, message = r
        assert (sid, mid) == (1, 0)
        assert repl.encode_ulog_record(ts, sid, mid, message) == data[pos - len(message) - 17 : pos]
        messages.append(message)
    assert messages[0] == repl.encode_log_message(tt.encode_put(b"a", b"1"), True)
    assert messages[1] == repl.encode_log_message(tt.encode_putkeep(b"a", b"2"), False)
    assert messages[10] == repl.encode_log_misc(b"putlist", [b"k1", b"v1", b"k2", b"v2"], True)
    assert messages[9] == repl.encode_log_message(tt.encode_adddouble(b"d", 1.5), True)


def test_bad_bytes_raise() -> None:
    with pytest.raises(ProtocolError):
        repl.read_repl_frame(b"\xc8", 0, 1, 100)
    head = repl.encode_repl_record(1, 1, b"x" * 50)
    with pytest.raises(ProtocolError):  # a length over the limit fails before its bytes arrive
        repl.read_repl_frame(head[:17], 0, 17, 40)
    with pytest.raises(ProtocolError):
        repl.read_ulog_record(b"\xc8" + bytes(16), 0, 17, 100)
    for message in (b"", b"\xc8\x10", b"\xc9\x10\x00", b"\xc8\x10\x00\x00\x00\x05\x00\x00\x00\x00ab\x00"):
        with pytest.raises(ProtocolError):
            repl.decode_message(message, 1, 1)
    assert repl.decode_message(b"\xc8\x77abc\x00", 5, 2) == repl.OtherChange(5, 2, True, 0x77, b"abc")


def test_batch_reader_takes_every_whole_frame_and_stops_before_a_cut_one() -> None:
    data = bytes.fromhex(VECTORS["repl_all"]["response_hex"])
    one_by_one = []
    pos = 4
    while pos < len(data):
        f = repl.read_repl_frame(data, pos, len(data), 1 << 20)
        assert not isinstance(f, int)
        one_by_one.append((f[0], f[1:]))
        pos = f[0]
    assert repl.read_repl_frames(data, 4, len(data), 1 << 20) == (len(data), [f for _, f in one_by_one])
    for (stop, _), n in zip(one_by_one, range(1, len(one_by_one))):
        if data[stop] == repl.MAGIC_NOP:
            continue  # a NOP is whole in its one byte
        cut = repl.read_repl_frames(data, 4, stop + 1, 1 << 20)  # a byte of the next record has come
        assert cut == (stop, [f for _, f in one_by_one[:n]])
    assert repl.read_repl_frames(data, 5, 6, 1 << 20) == 5 + 17  # nothing whole yet: what the first needs
