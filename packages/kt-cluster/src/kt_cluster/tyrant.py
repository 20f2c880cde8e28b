"""TokyoTyrantCluster: TokyoTyrant's API over several Tokyo Tyrant servers (see the package doc).

The methods are written once, as plans in :class:`TokyoTyrantClusterCommands`;
:class:`TokyoTyrantCluster` runs them on blocking clients, :class:`~kt_cluster.AsyncTokyoTyrantCluster`
on asyncio ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from kt_core.command import Steps, command
from kt_core.errors import InvalidArgumentError
from kt_tyrant import TokyoTyrant

from .base import ClusterBase, ShardedClient, every_true, everywhere, install_cluster, keyed, refused, total

__all__ = ["TokyoTyrantCluster", "TokyoTyrantClusterCommands"]


class TokyoTyrantClusterCommands(ClusterBase):
    """What each of TokyoTyrant's methods does over shards: which shard, how it is split, how merged."""

    scheme = "tt"

    @staticmethod
    def _ping(client: Any) -> Any:
        return client.status()

    # ---------------------------------------------------------------- one key
    get = keyed("get", False, "TokyoTyrant.get on the key's shard.")
    get_raw = keyed("get_raw", False, "TokyoTyrant.get_raw on the key's shard.")
    get_part = keyed("get_part", False, "TokyoTyrant.get_part on the key's shard.")
    exists = keyed("exists", False, "TokyoTyrant.exists on the key's shard.")
    length = keyed("length", False, "TokyoTyrant.length on the key's shard.")
    set = keyed("set", True, "TokyoTyrant.set on the key's shard.")
    add = keyed("add", True, "TokyoTyrant.add on the key's shard.")
    append = keyed("append", True, "TokyoTyrant.append on the key's shard.")
    addshl = keyed("addshl", True, "TokyoTyrant.addshl on the key's shard.")
    setnr = keyed("setnr", True, "TokyoTyrant.setnr on the key's shard.")
    setdup = keyed("setdup", True, "TokyoTyrant.setdup on the key's shard.")
    setdupback = keyed("setdupback", True, "TokyoTyrant.setdupback on the key's shard.")
    remove = keyed("remove", True, "TokyoTyrant.remove on the key's shard.")
    incr = keyed("incr", True, "TokyoTyrant.incr on the key's shard.")
    incr_double = keyed("incr_double", True, "TokyoTyrant.incr_double on the key's shard.")

    @command
    def script(self, name: Any, key: Any = None, value: Any = None, **kwargs: Any) -> Steps[Any]:
        """TokyoTyrant.script (ext) on the shard of ``key``; a script without a key has no shard."""
        if key is None:
            raise refused("script", "a script without a key has no shard; run it on one shard: "
                                    "cluster.clients()[name].script(...)")(self)
        (result,) = yield self._on(self._shard_of(key), "ext", True, lambda c: c.script(name, key, value, **kwargs))
        return result

    # ---------------------------------------------------------------- bulk
    @command
    def get_bulk(self, keys: Iterable[Any]) -> Steps[dict[Any, Any]]:
        """TokyoTyrant.get_bulk: one request per shard, concurrently; the found keys in input order."""
        return (yield from self._bulk_get("get_bulk", keys, lambda c, ks: c.get_bulk(ks)))

    @command
    def get_bulk_raw(self, keys: Iterable[Any]) -> Steps[dict[Any, bytes]]:
        """TokyoTyrant.get_bulk_raw, split as :meth:`get_bulk`."""
        return (yield from self._bulk_get("get_bulk_raw", keys, lambda c, ks: c.get_bulk_raw(ks)))

    @command
    def set_bulk(self, __data: Mapping[Any, Any] | None = None, **kwargs: Any) -> Steps[bool]:
        """TokyoTyrant.set_bulk, one request per shard, concurrently; True if every shard stored its part."""
        groups = self._split_items(__data, kwargs, "set_bulk")
        return all((yield from self._bulk_write("set_bulk", groups, lambda c, part: c.set_bulk(part))))

    @command
    def update(self, __data: Mapping[Any, Any] | None = None, db: int | None = None,
               expire_time: int | None = None, **kwargs: Any) -> Steps[bool]:
        """See :meth:`set_bulk` (``db`` and ``expire_time`` as TokyoTyrant.update: None only)."""
        if db not in (None, 0) or isinstance(db, bool):
            raise InvalidArgumentError("Tokyo Tyrant serves a single database: db must be None or 0")
        if expire_time is not None:
            raise InvalidArgumentError("Tokyo Tyrant has no record expiry: expire_time must be None")
        groups = self._split_items(__data, kwargs, "set_bulk")
        return all((yield from self._bulk_write("set_bulk", groups, lambda c, part: c.set_bulk(part))))

    @command
    def setnr_bulk(self, __data: Mapping[Any, Any] | None = None, **kwargs: Any) -> Steps[None]:
        """TokyoTyrant.setnr_bulk, one request per shard (no reply)."""
        groups = self._split_items(__data, kwargs, "setnr_bulk")
        yield from self._bulk_write("setnr_bulk", groups, lambda c, part: c.setnr_bulk(part))

    @command
    def remove_bulk(self, keys: Iterable[Any]) -> Steps[bool]:
        """TokyoTyrant.remove_bulk, one request per shard, concurrently; True if every shard did."""
        _, groups = self._split_keys(keys, "remove_bulk")
        return all((yield from self._bulk_write("remove_bulk", groups, lambda c, ks: c.remove_bulk(ks))))

    # ---------------------------------------------------------------- whole database
    count = everywhere("count", False, total, "The number of records: the sum over the shards.")
    clear = everywhere("clear", True, every_true, "Remove every record of every shard; True if every shard did.")
    synchronize = everywhere("synchronize", True, every_true, "TokyoTyrant.synchronize on every shard.")
    optimize = everywhere("optimize", True, every_true, "TokyoTyrant.optimize on every shard.")
    set_index = everywhere("set_index", True, every_true, "TokyoTyrant.set_index on every shard.")
    optimize_index = everywhere("optimize_index", True, every_true, "TokyoTyrant.optimize_index on every shard.")
    delete_index = everywhere("delete_index", True, every_true, "TokyoTyrant.delete_index on every shard.")

    @command
    def status(self) -> Steps[dict[str, dict[str, Any]]]:
        """Each shard's ``status``, by shard name."""
        return dict(zip(self.shards, (yield self._everywhere("status", False, lambda c: c.status()))))

    @command
    def match_prefix(self, prefix: Any, max_keys: int | None = 1024) -> Steps[list[Any]]:
        """Keys starting with ``prefix`` on every shard, sorted by their bytes, at most ``max_keys``."""
        lists = yield self._everywhere("match_prefix", False, lambda c: c.match_prefix(prefix, max_keys))
        return self._merge_keys(lists, max_keys)

    @command
    def match_regex(self, regex: Any, max_keys: int | None = 1024) -> Steps[list[Any]]:
        """Keys matching ``regex`` on every shard, sorted by their bytes, at most ``max_keys``."""
        lists = yield self._everywhere("match_regex", False, lambda c: c.match_regex(regex, max_keys))
        return self._merge_keys(lists, max_keys)

    @command
    def keys(self) -> Steps[list[Any]]:
        """Every key of every shard, shard after shard."""
        return list(itertools.chain.from_iterable((yield self._everywhere("keys", False, lambda c: c.keys()))))

    @command
    def items(self, start_key: Any = None) -> Steps[list[tuple[Any, Any]]]:
        """Every (key, value) of every shard, shard after shard (``start_key``: refused, it is an order)."""
        if start_key is not None:
            raise refused("items", "start_key is a position in one shard's key order; "
                                   "use cluster.client_for(start_key).items(start_key)")(self)
        return list(itertools.chain.from_iterable((yield self._everywhere("items", False, lambda c: c.items()))))

    @command
    def search(self, expressions: Iterable[Any], cmd: str | None = None) -> Steps[Any]:
        """TokyoTyrant.search on every shard: keys (None) and records ("get") concatenated shard after
        shard, "count" summed, "out" True if every shard removed its matches."""
        expressions = list(expressions)
        write = cmd == "out"
        operation = "search_out" if write else "search"
        results = yield self._everywhere(operation, write, lambda c: c.search(expressions, cmd))
        if cmd == "count":
            return sum(results)
        if cmd == "out":
            return all(results)
        return list(itertools.chain.from_iterable(results))

    # ---------------------------------------------------------------- what has no meaning across shards
    get_range = refused("get_range", "a key range is an order within one shard; "
                                     "use cluster.client_for(start).get_range(...) on each of cluster.clients()")
    iter_from = refused("iter_from", "the iterator is one server's; use cluster.client_for(key).iter_from(key)")
    genuid = refused("genuid", "ids are unique per server, not across shards")
    misc = refused("misc", "run it on one shard: cluster.clients()[name].misc(...)")
    copy = refused("copy", "each shard copies its own file: cluster.clients()[name].copy(path)")
    restore = refused("restore", "each shard restores its own log: cluster.clients()[name].restore(...)")
    set_master = refused("set_master", "replication is configured per server: cluster.clients()[name]")


@install_cluster
class TokyoTyrantCluster(TokyoTyrantClusterCommands, ShardedClient):
    """TokyoTyrant's methods over the shards of ``nodes`` (``"host:port"``, ``tt://host:port`` URLs,
    :class:`~kt_cluster.Node`, :class:`~kt_cluster.ReplicaSet`); options as
    :class:`~kt_cluster.KyotoCluster`, the rest going to each :class:`~kt_tyrant.TokyoTyrant`.

    :meth:`search` (and so ``QueryBuilder.execute(cluster)``) runs on every shard: keys and records
    are concatenated shard after shard, counts summed; an order or a limit applies within each shard.
    """

    client_class = TokyoTyrant
