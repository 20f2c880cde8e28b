"""kt_kyoto: the Kyoto Tycoon client.

``KyotoTycoon`` speaks the binary protocol for get/set/remove, their bulk forms and scripts, and
HTTP TSV-RPC for everything else; ``Cursor`` wraps the server's per-connection cursors.
``AsyncKyotoTycoon`` and ``AsyncCursor`` are their asyncio twins: the same methods, as coroutines
(each method is written once, in kt_kyoto.commands and kt_kyoto.cursor).
``serialize_list``/``deserialize_list``/``serialize_dict``/``deserialize_dict`` read and write the
values Lua's ``kt.arraydump``/``kt.mapdump`` store.
"""

from __future__ import annotations

from kt_core.codec.kyoto_lists import deserialize_dict, deserialize_list, serialize_dict, serialize_list
from kt_serializers import KT_BINARY, KT_JSON, KT_MSGPACK, KT_NONE, KT_PICKLE

from .aio import AsyncCursor, AsyncKyotoTycoon
from .client import KyotoTycoon
from .cursor import Cursor

__version__ = "0.1.0"

__all__ = ["KT_BINARY", "KT_JSON", "KT_MSGPACK", "KT_NONE", "KT_PICKLE", "AsyncCursor", "AsyncKyotoTycoon", "Cursor",
           "KyotoTycoon", "__version__",
           "serialize_list", "deserialize_list", "serialize_dict", "deserialize_dict"]
