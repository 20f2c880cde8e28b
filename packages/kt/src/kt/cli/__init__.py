"""The ``kt`` command line (``kt --help``; ``python -m kt`` runs it too).

Its libraries (click, rich) come with the ``cli`` extra, so ``pip install kt`` stays small:
:func:`main` says what to install when they are missing instead of failing on an import.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence

# What the extra installs (packages/kt/pyproject.toml, [project.optional-dependencies] cli).
REQUIREMENTS = {"click": "click>=8.1", "rich": "rich>=13"}


def missing_requirements() -> list[str]:
    """The requirements of the ``cli`` extra that are not installed."""
    return [spec for module, spec in REQUIREMENTS.items() if importlib.util.find_spec(module) is None]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``kt`` console script: run the command line and return its exit code."""
    missing = missing_requirements()
    if missing:
        print(f"kt: the command line needs {' and '.join(missing)}, which are not installed here.\n"
              f"Install them with:  pip install 'kt[cli]'   (from a checkout: pip install './packages/kt[cli]')",
              file=sys.stderr)
        return 1
    from .app import run

    return run(argv)


__all__ = ["REQUIREMENTS", "main", "missing_requirements"]
