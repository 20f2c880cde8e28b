"""The cluster's own errors, inside kt's one exception tree."""

from __future__ import annotations

from kt_core.errors import InvalidArgumentError, KtConnectionError

__all__ = ["ShardDownError", "UnshardableOperationError"]


class ShardDownError(KtConnectionError):
    """Every member of the shard that could serve the request is marked down: raised at once, without
    trying the network (a :class:`~kt_core.errors.KtConnectionError`, so ``except ConnectionError`` catches it).

    ``shard`` is the shard's name; ``retry_at`` the ``time.monotonic()`` at which a request tries it again.
    """

    def __init__(self, message: str, shard: str, retry_at: float) -> None:
        super().__init__(message)
        self.shard = shard
        self.retry_at = retry_at


class UnshardableOperationError(InvalidArgumentError, NotImplementedError):
    """The operation has no meaning across shards (a cursor, an ordered range, a unique id); nothing was sent.
    The message says what to do instead: usually run it on one shard's client (``cluster.client_for(key)``)."""
