"""``python -m kt``: the ``kt`` command line."""

from __future__ import annotations

import sys

from kt.cli import main

if __name__ == "__main__":
    sys.exit(main())
