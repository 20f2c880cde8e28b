"""kt_core: the wire-protocol codec, connections and pooling shared by the kt clients.

``kt_core.IMPLEMENTATION`` says which codec is active: ``"c"`` (the compiled cffi module) or
``"python"`` (the pure-Python twin, forced by ``KT_PUREPYTHON=1``).
"""

from __future__ import annotations

from . import errors
from .codec._scan import IMPLEMENTATION, UNAVAILABLE_REASON
from .errors import *  # noqa: F403

__version__ = "0.1.0"

__all__ = ["IMPLEMENTATION", "UNAVAILABLE_REASON", "errors", "__version__", *errors.__all__]
