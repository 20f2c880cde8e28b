"""kt: fast, complete Python client for Kyoto Tycoon and Tokyo Tyrant.

This package only re-exports the documented API from the kt packages:

- :class:`KyotoTycoon` (kt-kyoto), :class:`TokyoTyrant` and :class:`QueryBuilder` (kt-tyrant), and
  their asyncio twins :class:`AsyncKyotoTycoon` (with :class:`AsyncCursor`) and :class:`AsyncTokyoTyrant`
- the serializers ``KT_BINARY``, ``KT_JSON``, ``KT_MSGPACK``, ``KT_NONE``, ``KT_PICKLE``,
  ``TT_TABLE`` (kt-serializers) and the table index/filter/ordering constants (also in
  :mod:`kt.constants`)
- :class:`EmbeddedServer`, :class:`EmbeddedTokyoTyrantServer` (kt-embedded)
- the sharded clients :class:`KyotoCluster`, :class:`TokyoTyrantCluster`, their asyncio twins
  :class:`AsyncKyotoCluster` and :class:`AsyncTokyoTyrantCluster`, their :class:`Node`,
  :class:`ReplicaSet`, :func:`rebalance` and errors (kt-cluster)
- the exception tree rooted at :class:`KtError` (kt-core), with kt 0.9.6's names in :mod:`kt.exceptions`
"""

from __future__ import annotations

from kt_cluster import (
    AsyncKyotoCluster,
    AsyncTokyoTyrantCluster,
    KyotoCluster,
    Node,
    RebalanceProgress,
    ReplicaSet,
    ShardDownError,
    TokyoTyrantCluster,
    UnshardableOperationError,
    rebalance,
)
from kt_core import IMPLEMENTATION
from kt_core.errors import (
    BadRequestError,
    ImproperlyConfigured,
    InternalServerError,
    InvalidArgumentError,
    InvalidTypeError,
    KtConnectionError,
    KtError,
    KtTimeoutError,
    KyotoScriptError,
    KyotoServerError,
    KyotoTycoonError,
    LogicalInconsistencyError,
    NotImplementedByServerError,
    ProtocolError,
    ResponseTooLargeError,
    ScriptError,
    ServerConnectionError,
    ServerError,
    TokyoTyrantError,
    TokyoTyrantScriptError,
)
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedServerError, EmbeddedTokyoTyrantServer
from kt_kyoto import (
    AsyncCursor,
    AsyncKyotoTycoon,
    KyotoTycoon,
    deserialize_dict,
    deserialize_list,
    serialize_dict,
    serialize_list,
)
from kt_serializers import Serializer, UnknownSerializerError, available_serializers, get_serializer
from kt_tyrant import AsyncTokyoTyrant, QueryBuilder, TokyoTyrant

from . import constants, exceptions
from .constants import *  # noqa: F403
from .constants import __all__ as _constants_all

__version__ = "0.1.0"

__all__ = [
    "KyotoTycoon",
    "TokyoTyrant",
    "QueryBuilder",
    "AsyncKyotoTycoon",
    "AsyncCursor",
    "AsyncTokyoTyrant",
    "KyotoCluster",
    "TokyoTyrantCluster",
    "AsyncKyotoCluster",
    "AsyncTokyoTyrantCluster",
    "Node",
    "ReplicaSet",
    "rebalance",
    "RebalanceProgress",
    "ShardDownError",
    "UnshardableOperationError",
    "EmbeddedServer",
    "EmbeddedTokyoTyrantServer",
    "EmbeddedServerError",
    "STANDIN",
    "Serializer",
    "UnknownSerializerError",
    "available_serializers",
    "get_serializer",
    "serialize_list",
    "deserialize_list",
    "serialize_dict",
    "deserialize_dict",
    "constants",
    "exceptions",
    "IMPLEMENTATION",
    "KtError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "ProtocolError",
    "ResponseTooLargeError",
    "KtConnectionError",
    "KtTimeoutError",
    "ServerError",
    "KyotoServerError",
    "KyotoScriptError",
    "KyotoTycoonError",
    "ImproperlyConfigured",
    "ScriptError",
    "ServerConnectionError",
    "LogicalInconsistencyError",
    "BadRequestError",
    "NotImplementedByServerError",
    "InternalServerError",
    "TokyoTyrantError",
    "TokyoTyrantScriptError",
    *_constants_all,
]
