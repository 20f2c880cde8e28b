"""``kt copy --resume`` after the copy was killed, or lost its server, in the middle: nothing lost, nothing doubled.

The destination is reached through a FaultProxy. The kill comes while a write has reached the
server but its reply is held back: the batch is stored, the checkpoint does not name it yet. That
is the moment a resumed copy must write again without doubling anything, so the Tokyo Tyrant
destination is a B+ tree file, where a second putlist of a record would store a duplicate.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result
from kt.cli import app
from kt_embedded.faultproxy import FaultProxy
from kt_serializers import KT_NONE

# The command line runs on the blocking clients; the client fixtures here only prepare the data.
pytestmark = pytest.mark.blocking_client

RECORDS = 12_000
BATCH = 200


def make_records(seed: int) -> dict[bytes, bytes]:
    rng = random.Random(seed)
    records = {}
    for i in range(RECORDS):
        value = rng.randbytes(rng.randrange(0, 64)) if i % 3 else b"text value %d" % i
        records[b"key:%06d" % i] = value
    return records


class Side:
    """One end of a copy: its URL (optionally through a proxy) and a bytes client to check it."""

    def __init__(self, scheme: str, server: Any, client: Any, db: int | None = None) -> None:
        self.scheme, self.server, self.client, self.db = scheme, server, client, db

    def url(self, port: int | None = None) -> str:
        base = f"{self.scheme}://{self.server.host}:{port or self.server.port}"
        return base if self.db is None else f"{base}/{self.db}"

    def put(self, records: dict[bytes, bytes]) -> None:
        items = list(records.items())
        for start in range(0, len(items), 2000):
            chunk = dict(items[start:start + 2000])
            if self.db is None:
                self.client.set_bulk(chunk)
            else:
                self.client.set_bulk(chunk, db=self.db)

    def count(self) -> int:
        return int(self.client.count() if self.db is None else self.client.count(db=self.db))

    def read_all(self, keys: list[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for start in range(0, len(keys), 2000):
            chunk = keys[start:start + 2000]
            found.update(self.client.get_bulk_raw(chunk) if self.db is None
                         else self.client.get_bulk_raw(chunk, db=self.db))
        return found


@pytest.fixture(params=["kt-to-kt", "tt-to-tt", "tt-to-kt"])
def sides(request: pytest.FixtureRequest, kt_server: Any, kt_client: Any, kt_client_factory: Any, tt_server: Any,
          tt_client: Any, tt_btree_server: Any, tt_btree_client: Any, tt_client_factory: Any) -> tuple[Side, Side]:
    kt_raw = kt_client_factory(serializer=KT_NONE, decode_keys=False)
    tt_raw = tt_client_factory(tt_server, serializer=KT_NONE, decode_keys=False)
    tree = tt_client_factory(tt_btree_server, serializer=KT_NONE, decode_keys=False)
    if request.param == "kt-to-kt":
        # From the tree database (db 1) to the hash database (db 0) of one server.
        return Side("kt", kt_server, kt_raw, 1), Side("kt", kt_server, kt_raw, 0)
    if request.param == "tt-to-tt":
        return Side("tt", tt_server, tt_raw), Side("tt", tt_btree_server, tree)
    return Side("tt", tt_server, tt_raw), Side("kt", kt_server, kt_raw, 1)


def copy_args(source: Side, dest_url: str, checkpoint: Path, *more: str) -> list[str]:
    return ["copy", source.url(), dest_url, "--batch", str(BATCH), "--checkpoint", str(checkpoint), *more]


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
        return state
    except (FileNotFoundError, ValueError):
        return {"copied": 0, "done": False}


def check_destination(source: Side, dest: Side, records: dict[bytes, bytes]) -> None:
    assert dest.count() == RECORDS  # nothing doubled (a B+ tree file would count a duplicate)
    assert dest.read_all(list(records)) == records  # nothing lost, every value exact


def resume(source: Side, dest_url: str, checkpoint: Path) -> dict[str, Any]:
    result: Result = CliRunner().invoke(app.cli, copy_args(source, dest_url, checkpoint, "--resume", "--verify",
                                                           "--json"))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


@pytest.mark.slow
def test_copy_killed_in_the_middle_resumes_losing_and_doubling_nothing(sides: tuple[Side, Side],
                                                                       tmp_path: Path) -> None:
    source, dest = sides
    records = make_records(1)
    source.put(records)
    checkpoint = tmp_path / "copy.json"
    with FaultProxy(dest.server.host, dest.server.port) as proxy:
        dest_url = dest.url(proxy.port)
        proc = subprocess.Popen([sys.executable, "-m", "kt", *copy_args(source, dest_url, checkpoint)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: read_checkpoint(checkpoint)["copied"] >= RECORDS // 3 or proc.poll() is not None,
                     "a third of the copy")
            proxy.stall()
            # A write has reached the server and its reply is held: that batch is stored, not checkpointed.
            wait_for(lambda: proxy.stats["stalled_bytes"] > 0, "a write to be stored and its reply held")
            assert proc.poll() is None, proc.communicate()
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(30)
            assert proc.stdout is not None and proc.stderr is not None
            proc.stdout.close()
            proc.stderr.close()
        state = read_checkpoint(checkpoint)
        assert state["done"] is False and 0 < state["copied"] < RECORDS
        assert dest.count() > state["copied"]  # the unacknowledged batch is there
        proxy.passthrough()
        summary = resume(source, dest_url, checkpoint)
    assert summary["resumed_from"] == state["copied"]
    assert summary["copied"] == RECORDS - state["copied"]  # the checkpointed batches are not copied again
    assert summary["total"] == RECORDS
    assert summary["verify"]["ok"] is True and summary["verify"]["dest_count"] == RECORDS
    check_destination(source, dest, records)
    assert read_checkpoint(checkpoint)["done"] is True


@pytest.mark.slow
def test_copy_that_loses_its_server_says_how_to_resume(sides: tuple[Side, Side], tmp_path: Path) -> None:
    source, dest = sides
    records = make_records(2)
    source.put(records)
    checkpoint = tmp_path / "copy.json"
    with FaultProxy(dest.server.host, dest.server.port) as proxy:
        dest_url = dest.url(proxy.port)

        def lose_the_server() -> None:
            # A third of the way in, the destination goes away: connections cut, new ones refused.
            wait_for(lambda: read_checkpoint(checkpoint)["copied"] >= RECORDS // 3, "a third of the copy")
            proxy.refuse(drop=True)

        cutter = threading.Thread(target=lose_the_server)
        cutter.start()
        try:
            result = CliRunner().invoke(app.cli, copy_args(source, dest_url, checkpoint))
        finally:
            cutter.join(60)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        line = result.stderr.strip()
        assert "\n" not in line and "Traceback" not in result.stderr
        state = read_checkpoint(checkpoint)
        assert 0 < state["copied"] < RECORDS
        assert f"{state['copied']} records copied so far; go on with: kt copy {source.url()} {dest_url} " \
               f"--resume --checkpoint {checkpoint}" in line
        proxy.passthrough()
        summary = resume(source, dest_url, checkpoint)
    assert summary["resumed_from"] == state["copied"] and summary["total"] == RECORDS
    check_destination(source, dest, records)
