"""The dump formats, the batching, the sample and the checkpoint of ``kt``, without a server."""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from kt.cli import formats, transfer
from kt.cli.targets import TargetError, URLError, open_target

AWKWARD = [b"", b"plain", b"tab\there", b"new\nline", b"cr\rlf\r\n", b"back\\slash", b"\\B not base64",
           b"\\", b"\x00nul", b"\xff\xfe", "caf\u00e9 \u2603".encode(), b"\xe9t\xe9", b"ends with tab\t",
           b'"quotes" {json}', b"\x80" * 3]


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_every_byte_string_round_trips(fmt: str) -> None:
    rng = random.Random(fmt)
    pairs = [(k, v) for k in AWKWARD for v in AWKWARD]
    pairs += [(rng.randbytes(rng.randrange(20)), rng.randbytes(rng.randrange(300))) for _ in range(2000)]
    data = b"".join(formats.ENCODERS[fmt](k, v) for k, v in pairs)
    assert data.count(b"\n") == len(pairs)  # one record, one line
    back = [(k, v) for k, v, _ in formats.read_records(io.BytesIO(data), fmt, "x")]
    assert back == pairs


def test_jsonl_uses_text_where_it_can_and_base64_where_it_must() -> None:
    assert json.loads(formats.encode_jsonl(b"k", "\u2603".encode())) == {"key": "k", "value": "\u2603"}
    assert json.loads(formats.encode_jsonl(b"\xff", b"\x00\xff")) == {"key_b64": "/w==", "value_b64": "AP8="}
    assert formats.encode_jsonl(b"k", b"\xc3\xa9") == '{"key":"k","value":"\u00e9"}\n'.encode()  # UTF-8, not \\u


def test_tsv_escapes_and_marks_base64() -> None:
    assert formats.encode_tsv(b"a\tb", b"1\n2\\3\r") == b"a\\tb\t1\\n2\\\\3\\r\n"
    assert formats.encode_tsv(b"\xff", b"ok") == b"\\B/w==\tok\n"
    # Text that starts like a base64 marker is escaped, so it reads back as text.
    assert formats.encode_tsv(b"\\B/w==", b"") == b"\\\\B/w==\t\n"
    assert formats.decode_tsv(b"\\\\B/w==\t\n", "x") == (b"\\B/w==", b"")
    assert formats.decode_tsv(b"a\tb\r\n", "x") == (b"a", b"b")  # CRLF line ends are read too


@pytest.mark.parametrize(("fmt", "line", "message"), [
    ("jsonl", b"[1, 2]", "not a JSON object"),
    ("jsonl", b"{", "not JSON"),
    ("jsonl", b'{"key": "k"}', "no value"),
    ("jsonl", b'{"value": "v"}', "no key"),
    ("jsonl", b'{"key": 1, "value": "v"}', "key must be a string"),
    ("jsonl", b'{"key": "k", "value_b64": "***"}', "bad base64 in value_b64"),
    ("jsonl", b'{"key": "\\ud800", "value": ""}', "lone surrogate"),
    ("tsv", b"one field", "expected 2 tab-separated fields, found 1"),
    ("tsv", b"a\tb\tc", "found 3"),
    ("tsv", b"a\\x\tb", "unknown escape \\x"),
    ("tsv", b"\\B***\tb", "bad base64"),
    ("tsv", b"\xff\tb", "not UTF-8"),
])
def test_bad_lines_name_their_file_and_line(fmt: str, line: bytes, message: str) -> None:
    stream = io.BytesIO(b"\n" + formats.ENCODERS[fmt](b"ok", b"1") + line + b"\n")
    records = formats.read_records(stream, fmt, "dump.file")
    assert next(records)[:2] == (b"ok", b"1")
    with pytest.raises(formats.FormatError, match=f"^dump.file:3: .*{message}".replace("\\", "\\\\")):
        next(records)


def test_read_records_counts_every_byte_for_the_progress_bar() -> None:
    data = b"\n\n" + formats.encode_tsv(b"a", b"1") + b"\n" + formats.encode_tsv(b"b", b"2") + b"\n\n"
    sizes = [size for _, _, size in formats.read_records(io.BytesIO(data), "tsv", "x")]
    assert len(sizes) == 2 and sum(sizes) == len(data) - 2  # the blank lines after the last record are not


def test_guess_format() -> None:
    assert formats.guess_format("x.tsv") == "tsv" and formats.guess_format("X.TAB") == "tsv"
    assert formats.guess_format("x.jsonl") == "jsonl" and formats.guess_format("-") == "jsonl"
    assert formats.guess_format(None) == "jsonl"


def test_batches_keep_the_last_value_and_know_the_last_key() -> None:
    records = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"4"), (b"d", b"5")]
    assert list(transfer.batched(records, 3)) == [({b"a": b"3", b"b": b"2", b"c": b"4"}, b"c"), ({b"d": b"5"}, b"d")]
    # The dict keeps a's first place; the key read last is a.
    assert list(transfer.batched(records[:3], 5)) == [({b"a": b"3", b"b": b"2"}, b"a")]
    assert list(transfer.batched([], 3)) == []


def test_the_reservoir_is_bounded_and_uniform() -> None:
    hits = [0] * 100
    for seed in range(400):
        sample = transfer.Reservoir(10, seed)
        for i in range(100):
            sample.add(b"%d" % i, b"")
        assert len(sample.items) == 10 and sample.seen == 100
        for key, _ in sample.items:
            hits[int(key)] += 1
    # Each item is kept with probability 1/10: 40 times in 400 runs, give or take.
    assert min(hits) > 15 and max(hits) < 75, hits


def test_the_checkpoint_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    state = transfer.Checkpoint(str(path), "kt://a", "tt://b")
    state.save()
    state.copied, state.last_key = 5, b"\xff\x00"
    state.save()
    loaded = transfer.Checkpoint.load(str(path))
    assert loaded == transfer.Checkpoint(str(path), "kt://a", "tt://b", 5, b"\xff\x00", False)
    assert os.listdir(tmp_path) == ["cp.json"]  # no temporary file left beside it
    assert transfer.Checkpoint.load(str(tmp_path / "none.json")) is None
    path.write_text("{not json")
    with pytest.raises(TargetError, match="cannot read the checkpoint"):
        transfer.Checkpoint.load(str(path))
    path.write_text('{"copied": 1}')
    with pytest.raises(TargetError, match="not a kt copy checkpoint"):
        transfer.Checkpoint.load(str(path))


def test_open_target_leaves_room_for_other_schemes() -> None:
    for scheme in ("kt+async", "tt+async"):
        with pytest.raises(URLError, match="not supported yet"):
            open_target(f"{scheme}://h:1")
    assert open_target("kt://h:1/2").identity == ("kt", "h", 1, 2)
    assert open_target("tt://h:1").identity == ("tt", "h", 1)
    assert open_target("kt://h:1/0").identity != open_target("kt://h:1/1").identity
