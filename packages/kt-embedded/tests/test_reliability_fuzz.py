"""Bounded fuzzing of both stand-ins over sockets (the long run: python tools/fuzz_standins.py)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[3] / "tools" / "fuzz_standins.py"


def _load_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz_standins", TOOL)
    assert spec is not None and spec.loader is not None, f"missing {TOOL}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vector_seeds_are_present() -> None:
    seeds = _load_tool().load_seeds()
    assert len(seeds["kt"]) > 50 and len(seeds["tt"]) > 50


@pytest.mark.server
def test_standins_survive_random_and_mutated_frames() -> None:
    seconds = float(os.environ.get("KT_FUZZ_SECONDS", "4"))
    stats = _load_tool().fuzz(seconds, seed=int(os.environ.get("KT_FUZZ_SEED", "0")), check_every=100)
    assert stats["kt_cases"] > 100 and stats["tt_cases"] > 100
    assert stats["checks"] >= 2
