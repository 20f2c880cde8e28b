"""The programs in examples/ run as a user runs them: a fresh interpreter, against the stand-ins always and against
the real servers where installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _path_without(*executables: str) -> str:
    """PATH without the folders holding ``executables``: kt then runs its stand-ins."""
    drop = {str(Path(found).parent) for name in executables if (found := shutil.which(name))}
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in drop)


def _run(program: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / program)], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", ["standin", "real"])
def test_kt096_program_runs_unchanged(backend: str) -> None:
    env = dict(os.environ)
    if backend == "standin":
        env["PATH"] = _path_without("ktserver", "ttserver")
    elif not (shutil.which("ktserver") and shutil.which("ttserver")):
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail("ktserver/ttserver are not installed (KT_REQUIRE_REAL=1)")
        pytest.skip("ktserver/ttserver are not installed")
    assert "every check passed" in _run("kt096_program.py", env)
