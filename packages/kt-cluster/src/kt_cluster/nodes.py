"""Nodes of a cluster: a single server, or a replica set (a dual-master pair, or a master with slaves).

A *shard* is one node of the ring: a server, or a replica set holding the same data. Each member
server has a health state: a member whose request failed on the connection (refused, reset, timed
out) is *down* for ``down_interval`` seconds. During that time no request is sent to it; after it a
request tries it again (and a health check, :meth:`Shard.check`, can clear it sooner).

Writes go to the shard's *active master*. When it goes down, a dual-master pair makes the other
master active (and keeps it active when the first comes back: the pair replicates both ways, so
there is nothing to switch back for). A master with slaves has no second master: writes raise
:class:`~kt_cluster.errors.ShardDownError` while the master is down. Reads go to the active master,
or, with ``read_from_replicas=True``, to a slave first (round robin) -- a slave replays the
master's update log asynchronously, so what it answers may be stale.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

from kt_core.errors import KtConnectionError

from .errors import ShardDownError

__all__ = ["Node", "ReplicaSet", "Member", "Shard"]


@dataclass(frozen=True)
class Node:
    """One server: ``spec`` is ``"host:port"``, a ``kt://``/``tt://`` URL, a ``(host, port)`` pair or a
    client; ``weight`` (an int >= 1) scales its share of the keys; ``name`` its name on the ring
    (default ``host:port``)."""

    spec: Any
    weight: int = 1
    name: str | None = None


@dataclass(frozen=True)
class ReplicaSet:
    """Servers holding the same data. ``masters``: one master, or two for a dual-master pair (each the
    other's replication master); ``slaves``: read-only replicas of the (first) master."""

    masters: Sequence[Any]
    slaves: Sequence[Any] = field(default_factory=tuple)
    weight: int = 1
    name: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.masters) <= 2:
            raise ValueError(f"a replica set has one master or a dual-master pair, not {len(self.masters)} masters")
        if len(self.masters) == 2 and self.slaves:
            raise ValueError("a dual-master pair takes no slaves here")

    @classmethod
    def dual_master(cls, first: Any, second: Any, *, weight: int = 1, name: str | None = None) -> ReplicaSet:
        """Two masters replicating to each other; writes go to one of them at a time."""
        return cls(masters=(first, second), weight=weight, name=name)

    @classmethod
    def master_slaves(cls, master: Any, *slaves: Any, weight: int = 1, name: str | None = None) -> ReplicaSet:
        """A master and its read-only slaves."""
        return cls(masters=(master,), slaves=tuple(slaves), weight=weight, name=name)


class Member:
    """One server of a shard: its client, its role and its health."""

    __slots__ = ("client", "down_until", "failures", "last_error", "role")

    def __init__(self, client: Any, role: str) -> None:
        self.client = client
        self.role = role  # "master" or "slave"
        self.down_until = 0.0  # time.monotonic() until which no request is sent
        self.last_error: BaseException | None = None
        self.failures = 0

    @property
    def address(self) -> str:
        return f"{self.client.host}:{self.client.port}"

    def __repr__(self) -> str:
        state = "down" if self.down_until > time.monotonic() else "up"
        return f"<Member {self.role} {self.address} {state}>"


class Shard:
    """A node of the ring and its members (see the module doc)."""

    def __init__(self, name: str, weight: int, masters: list[Member], slaves: list[Member],
                 down_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.weight = weight
        self.masters = masters
        self.slaves = slaves
        self.down_interval = down_interval
        self.active = 0  # index of the active master
        self.failovers = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._rr = itertools.count()
        #: The member of a one-server shard (None for a replica set).
        self.single = masters[0] if len(masters) == 1 and not slaves else None

    def __repr__(self) -> str:
        return f"<Shard {self.name} masters={self.masters} slaves={self.slaves}>"

    @property
    def members(self) -> list[Member]:
        return [*self.masters, *self.slaves]

    @property
    def master(self) -> Member:
        """The active master."""
        return self.masters[self.active]

    def _candidates(self, write: bool, from_replicas: bool) -> list[Member]:
        masters = self.masters
        order = masters if self.active == 0 else [*masters[self.active:], *masters[:self.active]]
        if not write and from_replicas and self.slaves:
            slaves = self.slaves
            k = next(self._rr) % len(slaves)
            order = [*slaves[k:], *slaves[:k], *order]
        now = self._clock()
        return [m for m in order if m.down_until <= now]

    def _down_error(self, write: bool) -> ShardDownError:
        pool = self.masters if write else self.members
        retry_at = min(m.down_until for m in pool)
        causes = "; ".join(f"{m.address}: {m.last_error}" for m in pool)
        what = "no master is up" if write else "no member is up"
        return ShardDownError(f"shard {self.name}: {what} (marked down after {causes}); tried again in "
                              f"{max(0.0, retry_at - self._clock()):.1f} s or after a health check",
                              shard=self.name, retry_at=retry_at)

    def mark_down(self, member: Member, exc: BaseException) -> None:
        with self._lock:
            member.down_until = self._clock() + self.down_interval
            member.last_error = exc
            member.failures += 1

    def mark_up(self, member: Member) -> None:
        with self._lock:
            member.down_until = 0.0
            member.last_error = None

    def candidates(self, write: bool, from_replicas: bool) -> list[Member]:
        """The members to try, in order (the active master first for a write); raises
        :class:`ShardDownError` at once when none is up."""
        single = self.single
        if single is not None:
            if single.down_until <= self._clock():
                return [single]
            raise self._down_error(write)
        candidates = self._candidates(write, from_replicas)
        if not candidates:
            raise self._down_error(write)
        return candidates

    def answered(self, member: Member) -> None:
        """``member`` answered: it is up again if it was marked down, and a master that answered a
        request becomes the active one (the failover)."""
        if member.down_until:
            self.mark_up(member)  # it answered again after its down interval
        if member.role == "master" and member is not self.masters[self.active]:
            with self._lock:
                self.active = self.masters.index(member)
                self.failovers += 1

    # run and arun are the same walk over the candidates; they differ only in awaiting the call.
    def run(self, fn: Callable[[Any], Any], write: bool, from_replicas: bool, idempotent: bool) -> Any:
        """``fn(client)`` on the first member that is up (the active master for a write); on a connection
        error the member is marked down and, if the operation is idempotent, the next member is tried."""
        error: KtConnectionError | None = None
        for member in self.candidates(write, from_replicas):
            if error is not None and not idempotent:
                break  # the first attempt's outcome is unknown: the caller decides
            try:
                result = fn(member.client)
            except KtConnectionError as exc:
                self.mark_down(member, exc)
                error = exc
                continue
            self.answered(member)
            return result
        assert error is not None
        raise error

    async def arun(self, fn: Callable[[Any], Awaitable[Any]], write: bool, from_replicas: bool,
                   idempotent: bool) -> Any:
        """:meth:`run` for an asyncio client: ``await fn(client)``."""
        error: KtConnectionError | None = None
        for member in self.candidates(write, from_replicas):
            if error is not None and not idempotent:
                break
            try:
                result = await fn(member.client)
            except KtConnectionError as exc:
                self.mark_down(member, exc)
                error = exc
                continue
            self.answered(member)
            return result
        assert error is not None
        raise error

    def to_check(self) -> list[Member]:
        """The members a health check pings: those marked down (or that failed since they last answered)."""
        return [m for m in self.members if m.last_error is not None or m.down_until != 0.0]
