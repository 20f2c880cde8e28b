# ruff: noqa: F405
"""kt 0.9.6's ``kt.models``: models on a Tokyo Tyrant table database (from :mod:`kt_tyrant.models`).

``from kt.models import *`` gives the names kt 0.9.6's module gave (its standard-library imports
aside): the fields, ``Model``, ``ModelSearch``, ``TableDatabase`` and their helpers, and their
asyncio twins ``AsyncModel``, ``AsyncModelSearch`` and ``AsyncTableDatabase``.
"""

from __future__ import annotations

from kt_tyrant.models import *  # noqa: F403

# Every name below comes from the star import (checked by the tests against kt_tyrant.models).

__all__ = [
    "TableDatabase",
    "AsyncTableDatabase",
    "AsyncModel",
    "AsyncModelSearch",
    "Expression",
    "Ordering",
    "Field",
    "KeyField",
    "BytesField",
    "TextField",
    "DateTimeField",
    "DateField",
    "IntegerField",
    "FloatField",
    "TimestampField",
    "SearchField",
    "TokenField",
    "BaseModel",
    "Model",
    "ModelSearch",
    "serialize_model",
    "deserialize_into_model",
    "clone_query",
    "encode",
    "decode",
    "string_type",
    "C",
    "KT_NONE",
    "TokyoTyrant",
    "QueryBuilder",
]
