"""The pytest plugin's servers: every backend runs, and no server process outlives the session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

INNER_TEST = textwrap.dedent('''
    import json, os

    def test_servers(kt_server, tt_server, tt_table_client, kt_client):
        kt_client.set("k", "v")
        assert kt_client.get("k") == "v"
        record = {"kt": kt_server.process.pid, "tt": tt_server.process.pid, "backend": kt_server.backend}
        with open(os.environ["KT_PID_LOG"], "a") as f:
            f.write(json.dumps(record) + "\\n")
''')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    # A zombie (exited, not yet reaped by an init) no longer runs a server.
    return not (status.exists() and "\nState:\tZ" in status.read_text())


@pytest.mark.server
def test_no_server_survives_the_session(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    log = tmp_path / "pids.jsonl"
    env = {**os.environ, "KT_PID_LOG": str(log)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert "standin" in {r["backend"] for r in records}
    pids = [r[name] for r in records for name in ("kt", "tt")]
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if _alive(pid)], "server processes survived the pytest session"
