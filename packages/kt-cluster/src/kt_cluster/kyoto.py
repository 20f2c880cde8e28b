"""KyotoCluster: KyotoTycoon's API over several Kyoto Tycoon servers (see the package doc).

The methods are written once, as plans in :class:`KyotoClusterCommands`; :class:`KyotoCluster` runs
them on blocking clients, :class:`~kt_cluster.AsyncKyotoCluster` on asyncio ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kt_core.command import Steps, command, iterator_command
from kt_core.errors import InvalidTypeError
from kt_kyoto import KyotoTycoon

from .base import ClusterBase, ShardedClient, Walk, every_true, everywhere, install_cluster, keyed, refused, total

__all__ = ["KyotoCluster", "KyotoClusterCommands"]

_CURSOR = ("a cursor spans one shard only (Kyoto Tycoon keeps it on one server's connection); "
           "use cluster.client_for(key).cursor() for the shard of a key, or cluster.clients()[name].cursor()")


class KyotoClusterCommands(ClusterBase):
    """What each of KyotoTycoon's methods does over shards: which shard, how it is split, how merged."""

    scheme = "kt"

    @staticmethod
    def _ping(client: Any) -> Any:
        return client.report()

    @staticmethod
    def _item(item: Any) -> tuple[Any, dict[str, Any]]:
        # cluster[key, db], as on KyotoTycoon
        if type(item) is tuple:
            if len(item) != 2:
                raise InvalidTypeError(f"item key must be a key or a (key, db) pair, not a {len(item)}-tuple")
            return item[0], {"db": item[1]}
        return item, {}

    @staticmethod
    def _item_value(value: Any) -> tuple[Any, dict[str, Any]]:
        # cluster[key] = (value, expire_time), as on KyotoTycoon
        if type(value) is tuple:
            if len(value) != 2:
                raise InvalidTypeError(f"item value must be a value or a (value, expire_time) pair, "
                                       f"not a {len(value)}-tuple")
            return value[0], {"expire_time": value[1]}
        return value, {}

    # ---------------------------------------------------------------- one key: the key's shard
    get = keyed("get", False, "KyotoTycoon.get on the key's shard.")
    get_raw = keyed("get_raw", False, "KyotoTycoon.get_raw on the key's shard.")
    exists = keyed("exists", False, "KyotoTycoon.exists on the key's shard.")
    set = keyed("set", True, "KyotoTycoon.set on the key's shard.")
    add = keyed("add", True, "KyotoTycoon.add on the key's shard.")
    replace = keyed("replace", True, "KyotoTycoon.replace on the key's shard.")
    append = keyed("append", True, "KyotoTycoon.append on the key's shard.")
    remove = keyed("remove", True, "KyotoTycoon.remove on the key's shard.")
    seize = keyed("seize", True, "KyotoTycoon.seize on the key's shard.")
    cas = keyed("cas", True, "KyotoTycoon.cas on the key's shard.")
    incr = keyed("incr", True, "KyotoTycoon.incr on the key's shard.")
    incr_double = keyed("incr_double", True, "KyotoTycoon.incr_double on the key's shard.")

    # ---------------------------------------------------------------- bulk: split per shard, merged in input order
    @command
    def get_bulk(self, keys: Iterable[Any], db: Any = None) -> Steps[dict[Any, Any]]:
        """KyotoTycoon.get_bulk: one request per shard, concurrently; the found keys in input order."""
        return (yield from self._bulk_get("get_bulk", keys, lambda c, ks: c.get_bulk(ks, db)))

    @command
    def get_bulk_raw(self, keys: Iterable[Any], db: Any = None) -> Steps[dict[Any, bytes]]:
        """KyotoTycoon.get_bulk_raw, split as :meth:`get_bulk`."""
        return (yield from self._bulk_get("get_bulk_raw", keys, lambda c, ks: c.get_bulk_raw(ks, db)))

    @command
    def set_bulk(self, __data: Mapping[Any, Any] | None = None, db: Any = None, expire_time: Any = None,
                 **kwargs: Any) -> Steps[int]:
        """KyotoTycoon.set_bulk, one request per shard, concurrently; the number of keys set."""
        groups = self._split_items(__data, kwargs, "set_bulk")
        return sum((yield from self._bulk_write("set_bulk", groups, lambda c, part: c.set_bulk(part, db, expire_time))))

    update = set_bulk

    @command
    def remove_bulk(self, keys: Iterable[Any], db: Any = None) -> Steps[int]:
        """KyotoTycoon.remove_bulk, one request per shard, concurrently; the number of keys removed."""
        _, groups = self._split_keys(keys, "remove_bulk")
        return sum((yield from self._bulk_write("remove_bulk", groups, lambda c, ks: c.remove_bulk(ks, db))))

    # ---------------------------------------------------------------- whole database: every shard, merged
    count = everywhere("count", False, total, "The number of records: the sum over the shards.")
    clear = everywhere("clear", True, every_true, "Remove every record of every shard; True if every shard did.")
    synchronize = everywhere("synchronize", True, every_true, "KyotoTycoon.synchronize on every shard.")
    vacuum = everywhere("vacuum", True, every_true, "KyotoTycoon.vacuum on every shard.")

    @command
    def status(self, db: Any = None) -> Steps[dict[str, dict[Any, bytes]]]:
        """Each shard's ``status``, by shard name."""
        return dict(zip(self.shards, (yield self._everywhere("status", False, lambda c: c.status(db)))))

    @command
    def report(self) -> Steps[dict[str, dict[Any, bytes]]]:
        """Each shard's ``report``, by shard name."""
        return dict(zip(self.shards, (yield self._everywhere("report", False, lambda c: c.report()))))

    @command
    def match_prefix(self, prefix: Any, max_keys: int | None = None, db: Any = None) -> Steps[list[Any]]:
        """Keys starting with ``prefix`` on every shard, sorted by their bytes, at most ``max_keys``."""
        lists = yield self._everywhere("match_prefix", False, lambda c: c.match_prefix(prefix, max_keys, db))
        return self._merge_keys(lists, max_keys)

    @command
    def match_regex(self, regex: Any, max_keys: int | None = None, db: Any = None) -> Steps[list[Any]]:
        """Keys matching ``regex`` on every shard, sorted by their bytes, at most ``max_keys``."""
        lists = yield self._everywhere("match_regex", False, lambda c: c.match_regex(regex, max_keys, db))
        return self._merge_keys(lists, max_keys)

    @command
    def keys_nonlazy(self, db: Any = None) -> Steps[list[Any]]:
        """Every key of every shard, sorted by their bytes."""
        return self._merge_keys((yield self._everywhere("keys_nonlazy", False, lambda c: c.keys_nonlazy(db))), None)

    @iterator_command
    def keys(self, db: Any = None) -> Steps[None]:
        """Every key, shard after shard (each shard walked with its own cursor; not sorted across shards)."""
        for shard in self._shard_list:
            yield Walk(shard, lambda c: c.keys(db))

    @iterator_command
    def values(self, db: Any = None) -> Steps[None]:
        """Every value, shard after shard."""
        for shard in self._shard_list:
            yield Walk(shard, lambda c: c.values(db))

    @iterator_command
    def items(self, db: Any = None) -> Steps[None]:
        """Every (key, value), shard after shard."""
        for shard in self._shard_list:
            yield Walk(shard, lambda c: c.items(db))

    # ---------------------------------------------------------------- what has no meaning across shards
    cursor = refused("cursor", _CURSOR)
    script = refused("script", "a script runs on one server and its records may live on other shards; "
                               "run it on one shard: cluster.clients()[name].script(...)")
    match_similar = refused("match_similar", "run it on each shard: cluster.clients()")
    ulog_list = refused("ulog_list", "update logs are per server: cluster.clients()[name].ulog_list()")
    ulog_remove = refused("ulog_remove", "update logs are per server: cluster.clients()[name].ulog_remove()")
    set_database = refused("set_database", "give the database in each node's URL (kt://host:port/db) or "
                                           "default_db=")


@install_cluster
class KyotoCluster(KyotoClusterCommands, ShardedClient):
    """KyotoTycoon's methods over the shards of ``nodes`` (``"host:port"``, ``kt://host:port/db`` URLs,
    :class:`~kt_cluster.Node` with a weight, :class:`~kt_cluster.ReplicaSet`).

    Keyword options: ``read_from_replicas`` (reads may go to slaves and be stale), ``down_interval``
    (seconds a failed server is skipped, 5), ``health_check_interval`` (seconds, None: off),
    ``retry`` (a :class:`~kt_core.io.retry.RetryPolicy` or a number of retries of idempotent operations,
    with jittered backoff), ``max_workers`` (threads for fan-out, default one per shard),
    ``concurrent_bulk_keys`` (a bulk call of at least this many keys, 256, runs its shards' requests
    concurrently on worker threads; a smaller one runs them one after the other in the calling thread,
    which is faster for small requests: see benchmarks/cluster.py); every other
    keyword (``serializer``, ``timeout``, ``decode_keys``, ``default_db`` ...) goes to each
    :class:`~kt_kyoto.KyotoTycoon`.
    """

    client_class = KyotoTycoon
