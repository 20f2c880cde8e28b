"""Where a key lives: a ketama continuum built by uhashring (``HashRing(nodes, hash_fn="ketama")``).

The placement is fully determined by the list of ``(name, weight)`` pairs, so another tool can
reproduce it (any ketama implementation that takes weights, e.g. libmemcached's weighted ketama,
or uhashring itself):

1. A node's *name* is ``host:port`` of its first master unless given (``name=``); a URL node's name
   is ``host:port`` too (the URL's path, the database, is not part of it).
2. With ``W`` the sum of the weights and ``N`` the number of nodes, a node of weight ``w`` gets
   ``floor(40 * N * w / W)`` points groups; for group ``i`` (0-based) take ``md5(f"{name}-{i}")``;
   each of its four 4-byte little-endian words is a point on the 32-bit circle (160 points per
   node at equal weights).
3. A key's position is the first little-endian word of ``md5(key)``, ``key`` being its UTF-8 bytes
   (a bytes key that is valid UTF-8 hashes like the same str, so ``b"a"`` and ``"a"`` share a shard;
   a bytes key that is not valid UTF-8 is hashed as ``key.decode("latin-1").encode("utf-8")``).
4. The key belongs to the node owning the first point strictly after its position
   (``bisect_right`` in the sorted points), wrapping round to the first point. Where two nodes hash a
   point to the same value, the node listed later owns it.

Adding a node to ``N`` nodes of equal weight moves about ``1/(N+1)`` of the keys, all of them onto
the new node (tested in ``test_placement.py``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from hashlib import md5
from typing import Any, Union

from uhashring import HashRing

__all__ = ["Placement", "placement_key"]

#: Keys whose node a placement remembers (see Placement._cache).
CACHE_KEYS = 1 << 16

KeyLike = Union[str, bytes, bytearray, memoryview, int]


def placement_key(key: Any) -> str:
    """The text uhashring hashes for ``key`` (see rule 3 of the module doc)."""
    if isinstance(key, str):
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)  # the clients send an int key as its decimal text
    raise TypeError(f"a key must be str or bytes, not {type(key).__name__}")


class Placement:
    """The ring of ``(name, weight)`` nodes; :meth:`node_for` names the node of a key."""

    def __init__(self, nodes: Iterable[tuple[str, int]]) -> None:
        pairs = list(nodes)
        if not pairs:
            raise ValueError("a placement needs at least one node")
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique: {names}")
        for name, weight in pairs:
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
                raise ValueError(f"node {name!r}: weight must be an int >= 1, not {weight!r}")
        self.nodes: tuple[tuple[str, int], ...] = tuple(pairs)
        self.names: tuple[str, ...] = tuple(names)
        self._single = names[0] if len(names) == 1 else None
        self._ring = HashRing(nodes={name: {"weight": weight} for name, weight in pairs}, hash_fn="ketama")
        # uhashring builds the continuum; the lookups read it directly (its get_points()), hashing each
        # key once with md5 and bisecting: a bulk call places every one of its keys, so this is its
        # largest cost after the round trips. test_placement checks it against uhashring's get_node.
        points = self._ring.get_points()
        self._points: list[int] = [point for point, _ in points]
        self._owners: list[str] = [name for _, name in points]
        # The node of each str/bytes key looked up lately: the ring never changes, so an entry is never
        # stale, and a key read again (a hot key, the same bulk read) costs one dict lookup instead of
        # an md5. Bounded: emptied when full.
        self._cache: dict[Any, str] = {}

    def __repr__(self) -> str:
        return f"<Placement {list(self.nodes)}>"

    def node_for(self, key: Any) -> str:
        """The name of the node that holds ``key``."""
        if self._single is not None:
            placement_key(key)  # the same type check as with several nodes
            return self._single
        kind = key.__class__
        if kind is str or kind is bytes:
            name = self._cache.get(key)
            if name is not None:
                return name
        digest = md5(_hashed(key)).digest()
        index = bisect_right(self._points, digest[0] | digest[1] << 8 | digest[2] << 16 | digest[3] << 24)
        name = self._owners[index if index < len(self._owners) else 0]
        if kind is str or kind is bytes:
            self._remember(key, name)
        return name

    def _remember(self, key: Any, name: str) -> None:
        cache = self._cache
        if len(cache) >= CACHE_KEYS:
            cache.clear()
        cache[key] = name

    def split(self, keys: Sequence[Any]) -> dict[str, list[Any]]:
        """``keys`` grouped by node, each group in input order."""
        if self._single is not None:
            return {self._single: list(keys)} if keys else {}  # the client checks the keys' types
        groups: dict[str, list[Any]] = {}
        points, owners, cache = self._points, self._owners, self._cache
        last = len(owners)
        for key in keys:
            # node_for(), inline: this loop runs once per key of a bulk call.
            kind = key.__class__
            cacheable = kind is str or kind is bytes
            name = cache.get(key) if cacheable else None
            if name is None:
                if kind is bytes and key.isascii():
                    raw = key
                elif kind is str:
                    raw = key.encode("utf-8")
                else:
                    raw = _hashed(key)
                digest = md5(raw).digest()
                index = bisect_right(points, digest[0] | digest[1] << 8 | digest[2] << 16 | digest[3] << 24)
                name = owners[index if index < last else 0]
                if cacheable:
                    if len(cache) >= CACHE_KEYS:
                        cache.clear()
                    cache[key] = name
            group = groups.get(name)
            if group is None:
                groups[name] = [key]
            else:
                group.append(key)
        return groups


def _hashed(key: Any) -> bytes:
    """The bytes whose md5 places ``key``: :func:`placement_key`'s text as UTF-8 (rule 3)."""
    return placement_key(key).encode("utf-8")
