"""Composable serializers: zlib compression over any other serializer."""

from __future__ import annotations

import zlib
from typing import Any, Union

from .base import BytesLike, SerializationError, Serializer

__all__ = ["ZlibSerializer"]


class ZlibSerializer:
    """Compress the output of another serializer with zlib.

    ``ZlibSerializer(inner, level=6)``: *inner* is any serializer — an object with ``dumps``/``loads`` or the name
    of a registered one (``KT_JSON``, ``"msgpack"``, a plugin's name...). ``dumps`` runs ``inner.dumps`` then
    compresses; ``loads`` decompresses then runs ``inner.loads``. Errors from *inner* (an unencodable value) pass
    through unchanged, so they still name the inner serializer. Data that is not a zlib stream raises
    :class:`SerializationError` on ``loads``.

    Registered standalone as ``"zlib"``, which is zlib over ``KT_NONE``: bytes in, compressed bytes stored, bytes out.
    For anything else, build it yourself: ``KyotoTycoon(serializer=ZlibSerializer(KT_JSON))``.
    """

    name = "zlib"

    def __init__(self, inner: Union[Serializer, str] = "none", level: int = 6) -> None:
        from .registry import get_serializer  # the registry imports this module for its fallback table

        if isinstance(level, bool) or not isinstance(level, int) or not -1 <= level <= 9:
            raise ValueError(f"zlib level must be an int from -1 to 9, got {level!r}")
        self.inner: Serializer = get_serializer(inner)
        self.level = level

    def __repr__(self) -> str:
        return f"ZlibSerializer({self.inner!r}, level={self.level})"

    def dumps(self, value: Any) -> bytes:
        return zlib.compress(self.inner.dumps(value), self.level)

    def loads(self, data: BytesLike) -> Any:
        try:
            raw = zlib.decompress(data)
        except zlib.error as exc:
            raise SerializationError(f"zlib serializer cannot decompress {len(data)} bytes "
                                     f"(inner {self.inner!r}): {exc}") from exc
        return self.inner.loads(raw)
