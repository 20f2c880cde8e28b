"""docs/serializer-plugins.md cannot go stale: its example is registered (as a real dist-info) and its code run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import kt_serializers
import pytest


def test_the_page_has_the_complete_example(doc_example: Any) -> None:
    example = doc_example
    assert set(example.files) == {"pyproject.toml", "kt_int64.py"}
    assert example.entry_points() == {"int64": "kt_int64:Int64Serializer"}
    assert "hatchling" in example.files["pyproject.toml"]
    assert example.scripts, "the page must have a runnable usage example"


def test_the_page_example_runs(doc_example: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = doc_example
    # install it the cheap way: the module on sys.path plus a real .dist-info carrying the page's entry points
    (tmp_path / "kt_int64.py").write_text(example.files["kt_int64.py"], encoding="utf-8")
    info = tmp_path / "kt_int64-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kt-int64\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in example.entry_points().items())
    (info / "entry_points.txt").write_text(f"[kt.serializers]\n{lines}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kt_int64", raising=False)
    kt_serializers.refresh_serializers()

    for index, script in enumerate(example.scripts):
        exec(compile(script, f"serializer-plugins.md[python block {index}]", "exec"), {"__name__": "__doc_example__"})


def test_the_page_serializer_rejects_bad_values(doc_example: Any, tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    exec(compile(doc_example.files["kt_int64.py"], "kt_int64.py", "exec"), namespace)
    serializer = namespace["Int64Serializer"]()  # type: ignore[operator]
    assert isinstance(serializer, kt_serializers.Serializer)
    with pytest.raises(ValueError, match="range"):
        serializer.dumps(2**63)
    with pytest.raises(TypeError, match="bool"):
        serializer.dumps(True)
    with pytest.raises(ValueError, match="8 bytes"):
        serializer.loads(b"\x01")
