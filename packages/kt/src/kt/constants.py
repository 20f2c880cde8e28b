"""Every documented constant of kt in one module: serializers, and Tokyo Tyrant's table index,
filter and ordering constants (``from kt.constants import *``), with kt 0.9.6's ``IOP_*`` index
operation names."""

from __future__ import annotations

from kt_serializers import KT_BINARY, KT_JSON, KT_MSGPACK, KT_NONE, KT_PICKLE, TT_TABLE
from kt_tyrant.constants import (
    INDEX_KEEP,
    INDEX_NUM,
    INDEX_OPTIMIZE,
    INDEX_QGRAM,
    INDEX_STR,
    INDEX_TOKEN,
    INDEX_VOID,
    OP_FTS_ALL,
    OP_FTS_ANY,
    OP_FTS_EXPRESSION,
    OP_FTS_PHRASE,
    OP_NEGATE,
    OP_NOINDEX,
    OP_NUM_ANYEXACT,
    OP_NUM_BETWEEN,
    OP_NUM_EQ,
    OP_NUM_GE,
    OP_NUM_GT,
    OP_NUM_LE,
    OP_NUM_LT,
    OP_STR_ALL,
    OP_STR_ANY,
    OP_STR_ANYEXACT,
    OP_STR_CONTAINS,
    OP_STR_ENDSWITH,
    OP_STR_EQ,
    OP_STR_REGEX,
    OP_STR_STARTSWITH,
    ORDER_NUM_ASC,
    ORDER_NUM_DESC,
    ORDER_STR_ASC,
    ORDER_STR_DESC,
)

# kt 0.9.6's names for the index operations of TokyoTyrant.set_index.
IOP_OPTIMIZE = INDEX_OPTIMIZE
IOP_DELETE = INDEX_VOID
IOP_KEEP = INDEX_KEEP

__all__ = [
    "KT_BINARY", "KT_JSON", "KT_MSGPACK", "KT_NONE", "KT_PICKLE", "TT_TABLE",
    "INDEX_STR", "INDEX_NUM", "INDEX_TOKEN", "INDEX_QGRAM",
    "OP_STR_EQ", "OP_STR_CONTAINS", "OP_STR_STARTSWITH", "OP_STR_ENDSWITH", "OP_STR_ALL", "OP_STR_ANY",
    "OP_STR_ANYEXACT", "OP_STR_REGEX", "OP_NUM_EQ", "OP_NUM_GT", "OP_NUM_GE", "OP_NUM_LT", "OP_NUM_LE",
    "OP_NUM_BETWEEN", "OP_NUM_ANYEXACT", "OP_FTS_PHRASE", "OP_FTS_ALL", "OP_FTS_ANY", "OP_FTS_EXPRESSION",
    "OP_NEGATE", "OP_NOINDEX",
    "ORDER_STR_ASC", "ORDER_STR_DESC", "ORDER_NUM_ASC", "ORDER_NUM_DESC",
    "IOP_OPTIMIZE", "IOP_DELETE", "IOP_KEEP",
]
