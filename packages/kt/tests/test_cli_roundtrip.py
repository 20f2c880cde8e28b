"""dump -> load -> verify of 200,000 records with binary values, in bounded memory, on both backends.

The records live in the tree database (db 1), so two dumps of the same records are byte-for-byte
equal and the round trip is checked in full, not only by ``--verify``'s count and sample. Memory
is tracemalloc's peak while each command runs: it must stay far below the data's size, which it
would reach if a command held the database or the file.
"""

from __future__ import annotations

import filecmp
import json
import random
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result
from kt.cli import app
from kt_serializers import KT_NONE

# The command line runs on the blocking clients; the client fixtures here only prepare the data.
pytestmark = pytest.mark.blocking_client

RECORDS = 200_000
VALUE_SIZE = 100


def measured(run: Callable[[], Result]) -> tuple[Result, int]:
    """The command's result and the peak of memory allocated while it ran (bytes)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result, peak


def kt(*args: str) -> Result:
    return CliRunner().invoke(app.cli, list(args))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_200k_binary_records_dump_load_verify_in_bounded_memory(kt_server: Any, kt_client: Any,
                                                                kt_client_factory: Any, tmp_path: Path,
                                                                record_property: Callable[[str, Any], None]) -> None:
    raw = kt_client_factory(serializer=KT_NONE, decode_keys=False)
    rng = random.Random(20240601)
    for start in range(0, RECORDS, 5000):
        raw.set_bulk({b"rec:%07d" % i: rng.randbytes(VALUE_SIZE) for i in range(start, start + 5000)}, db=1)
    assert raw.count(db=1) == RECORDS
    data_size = RECORDS * (len(b"rec:0000000") + VALUE_SIZE)  # 22.2 MB of keys and values
    url = f"kt://{kt_server.host}:{kt_server.port}/1"

    first = tmp_path / "first.jsonl"
    _, dump_peak = measured(lambda: kt("dump", url, "-o", str(first)))
    with open(first, "rb") as f:
        head = json.loads(f.readline())
    assert set(head) == {"key", "value_b64"}  # random bytes are not UTF-8: base64
    assert first.stat().st_size > data_size  # base64 and JSON make the file larger than the data

    raw.clear(db=1)
    result, load_peak = measured(lambda: kt("load", url, str(first), "--verify", "--sample", "1000", "--json"))
    summary = json.loads(result.stdout)
    assert summary["records"] == RECORDS
    assert summary["verify"] == {"ok": True, "source_count": None, "dest_count": RECORDS, "sampled": 1000,
                                 "mismatched": 0, "problems": []}

    second = tmp_path / "second.jsonl"
    kt("dump", url, "-o", str(second))
    assert filecmp.cmp(first, second, shallow=False)  # every key and value came back

    record_property("data_bytes", data_size)
    record_property("dump_peak_bytes", dump_peak)
    record_property("load_peak_bytes", load_peak)
    print(f"\n200k round trip: data {data_size / 1e6:.1f} MB, file {first.stat().st_size / 1e6:.1f} MB, "
          f"peak dump {dump_peak / 1e6:.2f} MB, peak load+verify {load_peak / 1e6:.2f} MB")
    # Well under the data: a command holding the records would need more than all of it.
    assert dump_peak < data_size / 10, dump_peak
    assert load_peak < data_size / 10, load_peak
