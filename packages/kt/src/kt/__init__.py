"""kt: fast, complete Python client for Kyoto Tycoon and Tokyo Tyrant.

This package only re-exports the documented API from the kt packages:

- :class:`KyotoTycoon` (kt-kyoto), :class:`TokyoTyrant` and :class:`QueryBuilder` (kt-tyrant)
- the serializers ``KT_BINARY``, ``KT_JSON``, ``KT_MSGPACK``, ``KT_NONE``, ``KT_PICKLE``,
  ``TT_TABLE`` (kt-serializers) and the table index/filter/ordering constants (also in
  :mod:`kt.constants`)
- :class:`EmbeddedServer`, :class:`EmbeddedTokyoTyrantServer` (kt-embedded)
- the exception tree rooted at :class:`KtError` (kt-core)
"""

from __future__ import annotations

from kt_core import IMPLEMENTATION
from kt_core.errors import (
    BadRequestError,
    InternalServerError,
    InvalidArgumentError,
    InvalidTypeError,
    KtConnectionError,
    KtError,
    KtTimeoutError,
    KyotoTycoonError,
    LogicalInconsistencyError,
    NotImplementedByServerError,
    ProtocolError,
    ResponseTooLargeError,
    ServerError,
    TokyoTyrantError,
)
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedServerError, EmbeddedTokyoTyrantServer
from kt_kyoto import KyotoTycoon
from kt_serializers import Serializer, UnknownSerializerError, available_serializers, get_serializer
from kt_tyrant import QueryBuilder, TokyoTyrant

from . import constants
from .constants import *  # noqa: F403
from .constants import __all__ as _constants_all

__version__ = "0.1.0"

__all__ = [
    "KyotoTycoon",
    "TokyoTyrant",
    "QueryBuilder",
    "EmbeddedServer",
    "EmbeddedTokyoTyrantServer",
    "EmbeddedServerError",
    "STANDIN",
    "Serializer",
    "UnknownSerializerError",
    "available_serializers",
    "get_serializer",
    "constants",
    "IMPLEMENTATION",
    "KtError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "ProtocolError",
    "ResponseTooLargeError",
    "KtConnectionError",
    "KtTimeoutError",
    "ServerError",
    "KyotoTycoonError",
    "LogicalInconsistencyError",
    "BadRequestError",
    "NotImplementedByServerError",
    "InternalServerError",
    "TokyoTyrantError",
    *_constants_all,
]
