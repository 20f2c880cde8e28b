"""kt-cluster: one client over several Kyoto Tycoon or Tokyo Tyrant servers.

- :class:`KyotoCluster` and :class:`TokyoTyrantCluster` take a list of nodes (``"host:port"``, a
  ``kt://``/``tt://`` URL, :class:`Node` with a weight, :class:`ReplicaSet` for a dual-master pair or
  a master with slaves) and offer the single-server clients' methods wherever they mean something
  across shards: a key's operations go to its shard (:mod:`kt_cluster.placement` documents where, so
  another tool can compute it), bulk operations are split per shard, run concurrently and merged in
  input order, whole-database operations run on every shard and merge; the rest (a cursor, ranges,
  ``genuid``) raise :class:`UnshardableOperationError` saying what to do instead.
- Failover (:mod:`kt_cluster.nodes`): a server whose connection fails is marked down for
  ``down_interval`` seconds; a dual-master pair switches to its other master; a shard with no server
  left raises :class:`ShardDownError` at once; :meth:`~KyotoCluster.check_health` (or
  ``health_check_interval=``) brings servers back.
- :class:`AsyncKyotoCluster` and :class:`AsyncTokyoTyrantCluster`: the same over the asyncio clients,
  from the same description of each method (:mod:`kt_cluster.base`), the shards' calls of a bulk or
  whole-database call run concurrently.
- :func:`rebalance` moves the keys whose shard changed, online, with progress, resumable.
"""

from __future__ import annotations

from .aio import AsyncKyotoCluster, AsyncTokyoTyrantCluster
from .errors import ShardDownError, UnshardableOperationError
from .kyoto import KyotoCluster
from .nodes import Node, ReplicaSet
from .placement import Placement, placement_key
from .rebalance import RebalanceProgress, rebalance
from .tyrant import TokyoTyrantCluster

__all__ = [
    "KyotoCluster",
    "TokyoTyrantCluster",
    "AsyncKyotoCluster",
    "AsyncTokyoTyrantCluster",
    "Node",
    "ReplicaSet",
    "Placement",
    "placement_key",
    "ShardDownError",
    "UnshardableOperationError",
    "RebalanceProgress",
    "rebalance",
]
