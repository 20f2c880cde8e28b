"""kt_embedded: run Kyoto Tycoon / Tokyo Tyrant servers (real or stand-in) and test with them.

- :class:`EmbeddedServer`, :class:`EmbeddedTokyoTyrantServer`: subprocess managers.
- ``kt_embedded.standin``: the stand-in servers (wire-compatible, in memory, in Python).
- ``kt_embedded.pytest_plugin``: pytest fixtures (registered automatically).
"""

from __future__ import annotations

from .managers import (
    STANDIN,
    EmbeddedServer,
    EmbeddedServerError,
    EmbeddedTokyoTyrantServer,
    ServerNotInstalledWarning,
    find_free_port,
    real_server_available,
    script_path,
)

__version__ = "0.1.0"

__all__ = [
    "STANDIN",
    "EmbeddedServer",
    "EmbeddedServerError",
    "EmbeddedTokyoTyrantServer",
    "ServerNotInstalledWarning",
    "find_free_port",
    "real_server_available",
    "script_path",
]
