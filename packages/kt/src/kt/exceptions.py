"""kt 0.9.6's exception names, on kt's one exception tree (:mod:`kt_core.errors`).

- ``KyotoTycoonError`` is the root, :class:`~kt_core.errors.KtError`: it catches every kt error.
- ``ServerConnectionError`` is :class:`~kt_core.errors.KtConnectionError` (connect, send or receive failed,
  or a timeout: :class:`~kt_core.errors.KtTimeoutError` is a subclass).
- ``ProtocolError``: bad bytes from the network.
- ``ServerError``: the server answered with an error. Kyoto Tycoon's error statuses are
  :class:`~kt_core.errors.KyotoServerError` subclasses of it (kt 0.9.6 raised ``ProtocolError`` for those).
- ``ScriptError``: a server-side script is missing or failed, on either server.
- ``ImproperlyConfigured``: an unknown serializer, a missing optional package.
"""

from __future__ import annotations

from kt_core.errors import (
    ImproperlyConfigured,
    KyotoTycoonError,
    ProtocolError,
    ScriptError,
    ServerConnectionError,
    ServerError,
)

__all__ = [
    "KyotoTycoonError",
    "ImproperlyConfigured",
    "ProtocolError",
    "ScriptError",
    "ServerConnectionError",
    "ServerError",
]
