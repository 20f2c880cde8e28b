"""Servers named by URL, as the commands see them: raw bytes in and out, whatever the backend.

``kt://host:port/db`` opens :meth:`KyotoTycoon.from_url`, ``tt://host:port`` opens
:meth:`TokyoTyrant.from_url`, and ``kt+cluster://host:port,host:port/db`` /
``tt+cluster://host:port,host:port`` open a :class:`~kt_cluster.KyotoCluster` /
:class:`~kt_cluster.TokyoTyrantCluster` over those servers (kt_cluster's placement, the nodes in the
URL's order, equal weights). Keys and values stay bytes (serializer ``none``, keys not decoded): a
command line moves data, it does not interpret it. Schemes planned for clients that do not exist yet
(``kt+async://``...) are recognised and refused with a clear message; a new client adds its opener to
:data:`OPENERS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from kt_cluster import KyotoCluster, TokyoTyrantCluster
from kt_core.errors import KtError
from kt_kyoto import KyotoTycoon
from kt_serializers import KT_NONE, TT_TABLE
from kt_tyrant import TokyoTyrant

# Options the command line sets itself: it reads and writes bytes.
_RESERVED_OPTIONS = ("serializer", "decode_keys")
PLANNED_SCHEMES = ("kt+async", "tt+async", "kt+pipeline", "tt+pipeline")


class TargetError(KtError):
    """A server cannot do what the command asks (a refused write, a resume point that is gone...)."""


class URLError(ValueError):
    """A URL the command line cannot use; the message says why (a usage error, exit code 2)."""


class Target:
    """One database on one server, read and written as bytes."""

    kind = ""
    client: Any

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    @property
    def identity(self) -> tuple[Any, ...]:
        """What names the same database: two URLs with one identity are the same place."""
        return (self.kind, self.client.host, self.client.port)

    def close(self) -> None:
        self.client.close()

    def count(self) -> int:
        return int(self.client.count())

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.client.get_raw(key)
        return value

    def read(self, keys: list[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = self.client.get_bulk_raw(keys)
        return found

    def write(self, records: dict[bytes, bytes], expire: float | None = None) -> None:
        raise NotImplementedError

    def walk(self, after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Every record, in the server's order; with ``after``, only those after that key."""
        raise NotImplementedError

    def keys(self, prefix: bytes | None, regex: bytes | None, limit: int | None) -> Iterator[bytes]:
        raise NotImplementedError

    def remove(self, keys: list[bytes]) -> int:
        raise NotImplementedError


class KyotoTarget(Target):
    kind = "kt"

    def __init__(self, url: str, timeout: float | None) -> None:
        super().__init__(url)
        self.client = KyotoTycoon.from_url(url, serializer=KT_NONE, decode_keys=False, timeout=timeout)

    @property
    def identity(self) -> tuple[Any, ...]:
        return (*super().identity, self.client.default_db)

    def write(self, records: dict[bytes, bytes], expire: float | None = None) -> None:
        # set_bulk overwrites: writing a record twice (a batch sent again after a resume) leaves one.
        self.client.set_bulk(records, expire_time=expire)

    def walk(self, after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        # The cursor walk carries the values itself (cur_get, pipelined). Reading them with get_bulk
        # between steps instead would reorder ktserver's cache database (*), which is an LRU list:
        # the walk would meet the records it read again.
        records = self.client.items()
        if after is not None:
            # A cursor walk cannot start after a key and keep the order of a walk from the start
            # (on a hash database there is no "after"), so a resumed walk reads the records it
            # skips, without writing them.
            for key, _ in records:
                if key == after:
                    break
            else:
                raise _resume_point_gone(after, self.url)
        yield from records

    def keys(self, prefix: bytes | None, regex: bytes | None, limit: int | None) -> Iterator[bytes]:
        if prefix is not None:
            yield from self.client.match_prefix(prefix, max_keys=limit)
        elif regex is not None:
            yield from self.client.match_regex(regex, max_keys=limit)
        else:
            walk = self.client.keys()
            try:
                for n, key in enumerate(walk):
                    if limit is not None and n >= limit:
                        break
                    yield key
            finally:
                walk.close()  # deletes the server's cursor now, not whenever the generator is collected

    def remove(self, keys: list[bytes]) -> int:
        return int(self.client.remove_bulk(keys))


class TyrantTarget(Target):
    kind = "tt"

    def __init__(self, url: str, timeout: float | None) -> None:
        super().__init__(url)
        self.client = TokyoTyrant.from_url(url, serializer=KT_NONE, decode_keys=False, timeout=timeout)
        self._putdup: bool | None = None

    def table_client(self) -> TokyoTyrant:
        """A client of the same server whose values are tables (dicts of columns), for queries."""
        return TokyoTyrant.from_url(self.url, serializer=TT_TABLE, timeout=self.client.timeout)

    def database_type(self) -> str:
        return str(self.client.status().get("type", ""))

    def write(self, records: dict[bytes, bytes], expire: float | None = None) -> None:
        if expire is not None:
            raise TargetError("Tokyo Tyrant keeps no expiry times")
        if self._putdup is None:
            # On a B+ tree file the server's putlist stores duplicates (it calls putdup): a batch
            # written again after a resume would double its records there.
            self._putdup = self.database_type() == "B+ tree"
        if self._putdup:
            # putnr overwrites, as put does, in one write for the batch; count() is read after it
            # because the server answers requests in order: when it answers, the batch is stored.
            self.client.setnr_bulk(records)
            self.client.count()
        elif not self.client.set_bulk(records):
            raise TargetError(f"{self.url} refused the write (misc putlist)")

    def walk(self, after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        # Streams one record a request from the server's iterator (about 60,000 a second on
        # loopback) so that memory stays bounded: keys() and items() would read every key first.
        # The server has ONE iterator, shared by all its clients: see the command's help.
        client = self.client
        if client.misc("iterinit", [] if after is None else [after], update_log=False) is None:
            raise TargetError(f"{self.url} refused to start its iterator (misc iterinit)")
        if after is not None:
            record = client.misc("iternext", [], update_log=False)
            # iterinit with a key the database lacks leaves the iterator where it was on a hash
            # database: only a walk that starts at the key itself is a resume.
            if record is None or record[0] != after:
                raise _resume_point_gone(after, self.url)
        while True:
            record = client.misc("iternext", [], update_log=False)
            if record is None:
                return
            yield record[0], record[1] if len(record) > 1 else b""

    def keys(self, prefix: bytes | None, regex: bytes | None, limit: int | None) -> Iterator[bytes]:
        # fwmkeys and misc regex use no shared iterator, unlike keys(): listing keys never disturbs
        # a dump or copy that another client is running.
        if regex is not None:
            yield from self.client.match_regex(regex, max_keys=limit)
        else:
            yield from self.client.match_prefix(prefix or b"", max_keys=limit)

    def remove(self, keys: list[bytes]) -> int:
        return sum(self.client.remove(key) for key in keys)


def _node_urls(url: str) -> list[str]:
    """``kt+cluster://h1:p1,h2:p2/db?opts`` -> ``["kt://h1:p1/db?opts", "kt://h2:p2/db?opts"]``."""
    parts = urlsplit(url)
    base = parts.scheme.lower().split("+")[0]
    hosts = parts.netloc.split(",")
    if not parts.netloc or not all(hosts):
        raise URLError(f"{url!r} names no servers: use {parts.scheme}://host:port,host:port")
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return [f"{base}://{host}{rest}" for host in hosts]


class _Sharded:
    """Several servers, sharded by kt_cluster: a record is read and written on its key's shard (through
    that server's own target, so each backend's write rules hold), a walk goes shard after shard, and
    ``client`` is the cluster, for the commands that call the client itself."""

    url: str
    client: Any
    part_class: Callable[[str, float | None], Target]
    cluster_class: Any

    def _open_parts(self, url: str, timeout: float | None) -> None:
        node_urls = _node_urls(url)
        self.parts: list[Target] = []
        try:
            for node_url in node_urls:
                self.parts.append(self.part_class(node_url, timeout))
            self.client = self.cluster_class(node_urls, serializer=KT_NONE, decode_keys=False, timeout=timeout)
        except BaseException:
            for part in self.parts:
                part.close()
            raise
        self._by_name = {f"{p.client.host}:{p.client.port}": p for p in self.parts}

    @property
    def identity(self) -> tuple[Any, ...]:
        return ("cluster", tuple(sorted(part.identity for part in self.parts)))

    def close(self) -> None:
        for part in self.parts:
            part.close()
        self.client.close()

    def _part_for(self, key: bytes) -> Target:
        return self._by_name[self.client.node_for(key)]

    def _split(self, keys: Iterable[bytes]) -> dict[int, list[bytes]]:
        groups: dict[int, list[bytes]] = {}
        index = {id(part): i for i, part in enumerate(self.parts)}
        for key in keys:
            groups.setdefault(index[id(self._part_for(key))], []).append(key)
        return groups

    def count(self) -> int:
        return sum(part.count() for part in self.parts)

    def get(self, key: bytes) -> bytes | None:
        return self._part_for(key).get(key)

    def read(self, keys: list[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for i, group in self._split(keys).items():
            found.update(self.parts[i].read(group))
        return {k: found[k] for k in keys if k in found}

    def write(self, records: dict[bytes, bytes], expire: float | None = None) -> None:
        for i, group in self._split(records).items():
            self.parts[i].write({k: records[k] for k in group}, expire)

    def remove(self, keys: list[bytes]) -> int:
        return sum(self.parts[i].remove(group) for i, group in self._split(keys).items())

    def walk(self, after: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        # Shard after shard in the URL's order: a resume point names its shard, so the shards before
        # it were copied whole and the walk goes on inside that one.
        start = 0
        if after is not None:
            start = self.parts.index(self._part_for(after))
        for i in range(start, len(self.parts)):
            yield from self.parts[i].walk(after if i == start else None)

    def keys(self, prefix: bytes | None, regex: bytes | None, limit: int | None) -> Iterator[bytes]:
        left = limit
        for part in self.parts:
            if left is not None and left <= 0:
                return
            for key in part.keys(prefix, regex, left):
                yield key
                if left is not None:
                    left -= 1


class KyotoClusterTarget(_Sharded, KyotoTarget):
    """``kt+cluster://``: Kyoto Tycoon servers sharded by :class:`~kt_cluster.KyotoCluster`."""

    kind = "kt+cluster"
    part_class = KyotoTarget
    cluster_class = KyotoCluster

    def __init__(self, url: str, timeout: float | None) -> None:
        Target.__init__(self, url)
        self._open_parts(url, timeout)


class TyrantClusterTarget(_Sharded, TyrantTarget):
    """``tt+cluster://``: Tokyo Tyrant servers sharded by :class:`~kt_cluster.TokyoTyrantCluster`."""

    kind = "tt+cluster"
    part_class = TyrantTarget
    cluster_class = TokyoTyrantCluster

    def __init__(self, url: str, timeout: float | None) -> None:
        Target.__init__(self, url)
        self._open_parts(url, timeout)

    def table_client(self) -> Any:
        return TokyoTyrantCluster(_node_urls(self.url), serializer=TT_TABLE, timeout=self.client.client_options.get(
            "timeout"))

    def database_type(self) -> str:
        return self.parts[0].database_type()  # type: ignore[attr-defined]


def _resume_point_gone(key: bytes, url: str) -> TargetError:
    return TargetError(f"the resume point (key {key[:60]!r}) is no longer in {url}: it was removed since; "
                       "copy again without --resume")


OPENERS: dict[str, Callable[[str, float | None], Target]] = {
    "kt": KyotoTarget, "tt": TyrantTarget, "kt+cluster": KyotoClusterTarget, "tt+cluster": TyrantClusterTarget}


def open_target(url: str, timeout: float | None = None) -> Target:
    """The :class:`Target` for ``url``; raises :class:`URLError` for a URL the command line cannot use."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in PLANNED_SCHEMES:
        raise URLError(f"{scheme}:// URLs are not supported yet: use {scheme.split('+')[0]}://host:port")
    opener = OPENERS.get(scheme)
    if opener is None:
        raise URLError(f"{url!r} is not a server URL: use kt://host:port/db (Kyoto Tycoon) "
                       "or tt://host:port (Tokyo Tyrant)")
    for name, _ in parse_qsl(parts.query, keep_blank_values=True):
        if name in _RESERVED_OPTIONS:
            raise URLError(f"{name}= does not apply on the command line, which moves bytes as they are: "
                           f"remove it from {url!r}")
    try:
        return opener(url, timeout)
    except KtError as exc:  # from_url refuses a bad port, an unknown option...
        raise URLError(str(exc)) from None
