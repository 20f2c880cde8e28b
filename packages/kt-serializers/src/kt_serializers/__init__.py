"""kt_serializers: how the kt clients turn values into the bytes stored on Kyoto Tycoon and Tokyo Tyrant.

A serializer is any object with ``dumps(value) -> bytes`` and ``loads(data: bytes) -> value`` (see
:class:`Serializer`). The built-ins are named by the constants below; every serializer, built-in or third-party,
is registered as an entry point in the ``kt.serializers`` group and can be chosen by name::

    from kt_serializers import KT_JSON, ZlibSerializer, get_serializer

    get_serializer(KT_JSON).dumps({"a": 1})          # b'{"a":1}'
    get_serializer(ZlibSerializer(KT_JSON))          # serializers compose

This package imports nothing else of kt's.
"""

from .base import MissingDependencyError, SerializationError, Serializer, UnknownSerializerError
from .builtin import (
    KT_BINARY,
    KT_JSON,
    KT_MSGPACK,
    KT_NONE,
    KT_PICKLE,
    TT_TABLE,
    BinarySerializer,
    JsonSerializer,
    MsgpackSerializer,
    NoneSerializer,
    PickleSerializer,
    TableSerializer,
)
from .compress import ZlibSerializer
from .registry import ENTRY_POINT_GROUP, available_serializers, get_serializer, refresh_serializers

__version__ = "0.1.0"

__all__ = [
    "ENTRY_POINT_GROUP",
    "KT_BINARY",
    "KT_JSON",
    "KT_MSGPACK",
    "KT_NONE",
    "KT_PICKLE",
    "TT_TABLE",
    "BinarySerializer",
    "JsonSerializer",
    "MissingDependencyError",
    "MsgpackSerializer",
    "NoneSerializer",
    "PickleSerializer",
    "SerializationError",
    "Serializer",
    "TableSerializer",
    "UnknownSerializerError",
    "ZlibSerializer",
    "available_serializers",
    "get_serializer",
    "refresh_serializers",
]
