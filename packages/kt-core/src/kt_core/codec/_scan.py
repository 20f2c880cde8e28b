"""The active scanner implementation (see docs/codec.md).

``KT_PUREPYTHON=1`` forces the pure-Python twin. Otherwise the C module is used when it was
built; a wheel built with ``KT_PUREPYTHON=1`` has none and uses the twin. ``KT_REQUIRE_C=1``
turns a missing C module into an ImportError (the test suite's C leg sets it), so a broken
build can never pass as the C run.
"""

from __future__ import annotations

import os

IMPLEMENTATION: str
UNAVAILABLE_REASON: str | None = None

if os.environ.get("KT_PUREPYTHON") == "1":
    from ._scan_pure import *  # noqa: F403
    from ._scan_pure import __all__

    IMPLEMENTATION = "python"
    UNAVAILABLE_REASON = "KT_PUREPYTHON=1"
else:
    try:
        from ._scan_c import *  # noqa: F403
        from ._scan_c import __all__

        IMPLEMENTATION = "c"
    except ImportError as exc:
        if os.environ.get("KT_REQUIRE_C") == "1":
            raise ImportError(f"kt_core: the C codec is required (KT_REQUIRE_C=1) but cannot be imported: {exc}") \
                from exc
        from ._scan_pure import *  # noqa: F403
        from ._scan_pure import __all__  # noqa: F401

        IMPLEMENTATION = "python"
        UNAVAILABLE_REASON = str(exc)
