"""Moving the keys whose shard changed after nodes were added or removed.

``rebalance(old, new)`` walks every shard of ``old`` and moves each key that ``new`` places on
another shard: in batches it reads the values (raw bytes, any serializer), stores them on the new
shard *unless the key is already there* (a write made through ``new`` since wins), then removes them
from the old shard. It runs online: point the application's writes at ``new`` first, and have its
reads fall back to ``old`` for a miss until the rebalance is done (a key is on one of the two).
There is a small window per batch between the "already there?" check and the store in which a write
through ``new`` to a key of that batch may be overwritten by the old value; keep it small with a
small ``batch``.

Progress: ``progress(report)`` is called after each batch with a :class:`RebalanceProgress`.
Resumable: a key that was moved is no longer on the old shard, so running ``rebalance`` again after an
interruption moves only what is left; ``done_shards`` (from the last report, or a checkpoint file
given as ``checkpoint=path``) skips the old shards that were finished.

It moves the records of each node's default database; Kyoto Tycoon expiry times are not carried over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kt_kyoto import KyotoTycoon
from kt_serializers import KT_NONE

from .base import ShardedClient

__all__ = ["RebalanceProgress", "rebalance"]


@dataclass
class RebalanceProgress:
    """Where a rebalance is: the old shard being walked, keys scanned and moved so far, shards done."""

    shard: str = ""
    scanned: int = 0
    moved: int = 0
    skipped: int = 0  # already on the new shard (written through the new cluster): not overwritten
    done_shards: list[str] = field(default_factory=list)


def _raw_twin(client: Any) -> Any:
    """A client for the same server and database that reads and writes bytes as they are stored."""
    options: dict[str, Any] = {"host": client.host, "port": client.port, "timeout": client.timeout,
                               "decode_keys": False}
    if isinstance(client, KyotoTycoon):
        options["default_db"] = client.default_db
        options["serializer"] = KT_NONE
    else:
        options["serializer"] = "none"
    return type(client)(**options)


def _batches(keys: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def rebalance(old: ShardedClient, new: ShardedClient, *, batch: int = 500,
              progress: Callable[[RebalanceProgress], None] | None = None,
              done_shards: Iterable[str] = (), checkpoint: str | None = None) -> RebalanceProgress:
    """Move every key of ``old`` whose shard in ``new`` is another; returns the final progress report.

    ``old`` and ``new`` are clusters of the same kind over the old and the new list of nodes (a node
    in both keeps its name, so its keys stay). See the module doc for online use and resuming.
    """
    if type(old) is not type(new):
        raise TypeError("old and new must be clusters of the same kind")
    if batch < 1:
        raise ValueError("batch must be >= 1")
    report = RebalanceProgress(done_shards=list(done_shards))
    if checkpoint is not None and os.path.exists(checkpoint):
        with open(checkpoint, encoding="utf-8") as f:
            report.done_shards = sorted({*report.done_shards, *json.load(f)["done_shards"]})
    targets = {name: _raw_twin(shard.master.client) for name, shard in new.shards.items()}
    try:
        for name, shard in old.shards.items():
            if name in report.done_shards:
                continue
            report.shard = name
            source = _raw_twin(shard.master.client)
            try:
                keys = list(source.keys())  # a snapshot: the walk must not see its own removals
                for keys_batch in _batches(keys, batch):
                    report.scanned += len(keys_batch)
                    moving: dict[str, list[bytes]] = {}
                    for key in keys_batch:
                        home = new.placement.node_for(key)
                        if home != name:
                            moving.setdefault(home, []).append(key)
                    for home, ks in moving.items():
                        values = source.get_bulk_raw(ks)
                        target = targets[home]
                        present = target.get_bulk_raw(list(values))
                        fresh = {k: v for k, v in values.items() if k not in present}
                        if fresh:
                            target.set_bulk(fresh)
                        source.remove_bulk(ks)
                        report.moved += len(fresh)
                        report.skipped += len(values) - len(fresh)
                    if progress is not None:
                        progress(report)
            finally:
                source.close()
            report.done_shards.append(name)
            if checkpoint is not None:
                tmp = checkpoint + ".tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump({"done_shards": report.done_shards}, f)
                os.replace(tmp, checkpoint)
            if progress is not None:
                progress(report)
    finally:
        for client in targets.values():
            client.close()
    return report
