"""Every Python example in README.md, docs/*.md and the packages' READMEs runs, so none can go stale.

The blocks of one file run in order in one namespace, as a reader would paste them.
docs/serializer-plugins.md is executed by kt-serializers' own tests (it registers a plugin).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "packages").glob("*/README.md"))]
EXECUTED_ELSEWHERE = {"serializer-plugins.md"}
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_readme_has_examples() -> None:
    assert len(python_blocks(ROOT / "README.md")) >= 2


@pytest.mark.server
@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in EXECUTED_ELSEWHERE and python_blocks(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    with warnings.catch_warnings():
        # Where ktserver/ttserver are absent the examples run on the stand-ins, with a warning.
        warnings.simplefilter("ignore")
        for number, block in enumerate(python_blocks(page), 1):
            code = compile(block, f"{page.name} (python block {number})", "exec")
            exec(code, namespace)
