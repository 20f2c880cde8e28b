from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import kt_serializers
import pytest


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    """Every test starts and ends with empty discovery/instance caches, so monkeypatches never leak."""
    kt_serializers.refresh_serializers()
    yield
    kt_serializers.refresh_serializers()


# --- docs/serializer-plugins.md: its fenced code blocks, split into files ("# file: name") and scripts ---
DOC = Path(__file__).resolve().parents[3] / "docs" / "serializer-plugins.md"

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_FILE = re.compile(r"\A#\s*file:\s*(\S+)\s*\n")


@dataclass
class DocExample:
    files: dict[str, str] = field(default_factory=dict)  # name -> content, from blocks starting "# file: name"
    scripts: list[str] = field(default_factory=list)  # the other ```python blocks, in order

    def entry_points(self) -> dict[str, str]:
        """The ``kt.serializers`` entry points declared in the example's pyproject.toml."""
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            import tomli as tomllib  # type: ignore[no-redef]
        project = tomllib.loads(self.files["pyproject.toml"])["project"]
        return dict(project["entry-points"]["kt.serializers"])


def load_example() -> DocExample:
    text = DOC.read_text(encoding="utf-8")  # the page must exist: never skip
    example = DocExample()
    for lang, body in _FENCE.findall(text):
        named = _FILE.match(body)
        if named:
            example.files[named.group(1)] = body
        elif lang == "python":
            example.scripts.append(body)
    return example


@pytest.fixture
def doc_example() -> DocExample:
    return load_example()
