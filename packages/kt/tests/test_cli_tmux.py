"""The progress bar on a real terminal: ``kt dump`` runs in tmux and the test reads its screen.

tmux gives the command a real pseudo-terminal, so this is what an operator sees: the bar moving
with the count, the percentage, the rate and the time left, then the bar at 100% and the summary.
Without tmux the test skips, except under CI (CI=true), where .ci/run installs it: there a missing
tmux fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from kt_serializers import KT_NONE

# The command line runs on the blocking clients; the client fixtures here only prepare the data.
pytestmark = pytest.mark.blocking_client

RECORDS = 100_000


def tmux() -> str:
    path = shutil.which("tmux")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed: .ci/run installs it (apt-get install tmux)")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    return path


@pytest.mark.slow
def test_dump_shows_its_progress_bar_on_a_terminal(kt_server: Any, kt_client: Any, kt_client_factory: Any,
                                                   tmp_path: Path) -> None:
    exe = tmux()
    raw = kt_client_factory(serializer=KT_NONE, decode_keys=False)
    for start in range(0, RECORDS, 5000):
        raw.set_bulk({b"rec:%06d" % i: b"v" * 50 for i in range(start, start + 5000)}, db=1)
    out = tmp_path / "dump.jsonl"
    url = f"kt://{kt_server.host}:{kt_server.port}/1"
    command = (f"{shlex.quote(sys.executable)} -m kt dump {url} -o {shlex.quote(str(out))}; "
               "echo EXIT=$?; sleep 120")
    # A tmux server of the test's own (-L): nothing of the user's tmux is touched.
    socket_name = f"kt-cli-test-{uuid.uuid4().hex[:8]}"
    base = [exe, "-L", socket_name]
    subprocess.run([*base, "new-session", "-d", "-s", "kt", "-x", "120", "-y", "12", command], check=True,
                   timeout=30, env={**os.environ, "TERM": "xterm-256color"})
    screens: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            screen = subprocess.run([*base, "capture-pane", "-p", "-t", "kt"], capture_output=True, text=True,
                                    check=True, timeout=30).stdout
            screens.append(screen)
            if "EXIT=" in screen:
                break
            time.sleep(0.05)
        coloured = subprocess.run([*base, "capture-pane", "-p", "-e", "-t", "kt"], capture_output=True, text=True,
                                  check=True, timeout=30).stdout
    finally:
        subprocess.run([*base, "kill-server"], timeout=30)
    final = screens[-1]
    assert "EXIT=0" in final, final
    bar = next(line for line in final.splitlines() if line.startswith(f"dump {url}"))
    # The finished bar: full, the count from the server's count, 100%, a rate, the time left and taken.
    assert "━" in bar and f"{RECORDS}/{RECORDS}" in bar and "100%" in bar, bar
    assert re.search(r"[\d,]+ records/s", bar) and re.search(r"eta 0:00:00 \d+:\d\d:\d\d", bar), bar
    assert f"dumped {RECORDS} records to {out}" in final
    assert "\x1b[" in coloured  # colour on a terminal
    # While it ran: a part-filled bar with its percentage and a time left.
    running = re.compile(rf"dump {re.escape(url)} \S+\s+(\d+)/{RECORDS}\s+(\d+)% .*records/s eta \d+:\d\d:\d\d")
    moving = [m for screen in screens for m in running.finditer(screen)]
    assert any(0 < int(m[1]) < RECORDS and int(m[2]) < 100 for m in moving), screens[:5]
    assert len(out.read_bytes().splitlines()) == RECORDS
