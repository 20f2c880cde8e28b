"""What the sharded clients share: nodes, routing, the plan of each method, and the two runners' base.

A cluster method is written once, as a *plan*: which shard (or shards) it runs on, how it splits
its arguments, how it merges the answers. It is a command (kt_core.command) that yields
:class:`OnShards` -- "run ``fn(client)`` on these shards" -- and gets the results back in job order;
an iterating method (KT ``keys()``) yields :class:`Walk`. What runs the calls is the class the plan
is installed on (:func:`install_cluster`): the blocking :class:`ShardedClient` calls the clients in
the calling thread or on worker threads; ``kt_cluster.aio.AsyncShardedClient`` awaits the asyncio
clients' coroutines, concurrently with ``gather``. The same ``fn`` serves both: on an asyncio
client it returns the coroutine the runner awaits.

The cluster uses the single-server clients' public API only: each member server has its own
client (built with ``retry=None``: the cluster retries, so a dead server is not retried twice).
"""

from __future__ import annotations

import functools
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kt_core.command import AsyncRunner, Items, Steps, SyncRunner, command, install_commands
from kt_core.errors import InvalidArgumentError, InvalidTypeError, KtConnectionError
from kt_core.io.retry import RetryPolicy, is_idempotent, retry_policy

from .errors import ShardDownError, UnshardableOperationError
from .nodes import Member, Node, ReplicaSet, Shard
from .placement import Placement

__all__ = ["ClusterBase", "OnMembers", "OnShards", "ShardedClient", "Walk", "install_cluster", "jittered"]

T = TypeVar("T")

#: Operations of the cluster's own naming that are never retried (a delete by query).
CLUSTER_NON_IDEMPOTENT = frozenset({"search_out"})

#: One call of a plan: (shard, operation name for the retry policy, write?, fn(client)).
Job = tuple[Shard, str, bool, Callable[[Any], Any]]


def jittered(delay: float) -> float:
    """``delay`` with "equal jitter": a uniform draw in [delay/2, delay]."""
    return delay / 2 + random.random() * delay / 2


# ---------------------------------------------------------------------- what a plan asks its runner

class OnShards:
    """Run each job's ``fn(client)`` on its shard (failover and retries included); the results in job
    order. If some fail, every job still runs and the first error (in job order) is raised.
    ``concurrent``: the blocking runner may run them on worker threads (the asyncio runner always
    runs them concurrently)."""

    __slots__ = ("concurrent", "jobs")

    def __init__(self, jobs: Sequence[Job], concurrent: bool = True) -> None:
        self.jobs = jobs
        self.concurrent = concurrent


class Walk:
    """Iterate ``fn(client)`` (an iterator, or an async iterator on an asyncio client) on one member
    of ``shard``, handing its items to the caller as they come; a connection error marks the member
    down and is raised (no failover in the middle of a walk)."""

    __slots__ = ("fn", "shard")

    def __init__(self, shard: Shard, fn: Callable[[Any], Any]) -> None:
        self.shard = shard
        self.fn = fn


class OnMembers:
    """Run ``fn(client)`` on each of these members directly (no routing, no retry); each result, or
    the :class:`KtConnectionError` it raised, in order (a health check's pings)."""

    __slots__ = ("calls",)

    def __init__(self, calls: Sequence[tuple[Member, Callable[[Any], Any]]]) -> None:
        self.calls = calls


class ClusterBase:
    """State and plans shared by the blocking and the asyncio clusters. Subclasses set
    ``client_class`` and ``scheme``, and ``_ping(client)`` (what a health check sends)."""

    client_class: Any = None
    scheme = ""

    def __init__(self, nodes: Iterable[Any], *, read_from_replicas: bool = False, down_interval: float = 5.0,
                 health_check_interval: float | None = None, retry: RetryPolicy | int | None = None,
                 max_workers: int | None = None, concurrent_bulk_keys: int = 256, **client_options: Any) -> None:
        if isinstance(nodes, (str, bytes, Node, ReplicaSet)):
            raise InvalidTypeError("nodes must be a list of nodes")
        if isinstance(down_interval, bool) or not isinstance(down_interval, (int, float)) or down_interval < 0:
            raise InvalidArgumentError(f"down_interval must be a number of seconds >= 0, not {down_interval!r}")
        if type(concurrent_bulk_keys) is not int or concurrent_bulk_keys < 0:
            raise InvalidArgumentError(f"concurrent_bulk_keys must be an int >= 0, not {concurrent_bulk_keys!r}")
        self.concurrent_bulk_keys = concurrent_bulk_keys
        self.read_from_replicas = bool(read_from_replicas)
        self.down_interval = float(down_interval)
        self.retry = retry_policy(retry)
        self.client_options = dict(client_options)
        self.client_options.pop("retry", None)
        self._owned: list[Any] = []
        shards: dict[str, Shard] = {}
        try:
            for node in nodes:
                shard = self._make_shard(node)
                if shard.name in shards:
                    raise InvalidArgumentError(f"two nodes are named {shard.name!r}: give one a name=")
                shards[shard.name] = shard
        except BaseException:
            self._drop_owned()
            raise
        if not shards:
            raise InvalidArgumentError("a cluster needs at least one node")
        self.shards: dict[str, Shard] = shards
        self.placement = Placement((s.name, s.weight) for s in shards.values())
        self._shard_list = list(shards.values())
        self._only = self._shard_list[0] if len(shards) == 1 else None
        self._max_workers = max_workers or len(shards)
        if health_check_interval is not None:
            self.start_health_checks(health_check_interval)

    def start_health_checks(self, interval: float) -> None:
        raise NotImplementedError

    def _drop_owned(self) -> None:
        """Close what a failed constructor made (the runner's close may not be callable from here)."""

    # ------------------------------------------------------------------ nodes

    def _make_client(self, spec: Any) -> Any:
        cls = self.client_class
        if isinstance(spec, cls):
            return spec  # the caller's client: the caller closes it
        options = {**self.client_options, "retry": None}
        if isinstance(spec, str) and "://" in spec:
            client = cls.from_url(spec, **options)
        elif isinstance(spec, str):
            host, sep, port = spec.rpartition(":")
            if not sep or not port.isdigit():
                raise InvalidArgumentError(f"a node is 'host:port', a {self.scheme}:// URL, (host, port) or a "
                                           f"{cls.__name__}, not {spec!r}")
            client = cls(host=host.strip("[]") or "127.0.0.1", port=int(port), **options)
        elif isinstance(spec, tuple) and len(spec) == 2:
            client = cls(host=spec[0], port=spec[1], **options)
        else:
            raise InvalidTypeError(f"a node is 'host:port', a {self.scheme}:// URL, (host, port) or a "
                                   f"{cls.__name__}, not {spec!r}")
        self._owned.append(client)
        return client

    def _make_shard(self, node: Any) -> Shard:
        if isinstance(node, ReplicaSet):
            masters = [Member(self._make_client(s), "master") for s in node.masters]
            slaves = [Member(self._make_client(s), "slave") for s in node.slaves]
            weight, name = node.weight, node.name
        else:
            if not isinstance(node, Node):
                node = Node(node)
            masters, slaves = [Member(self._make_client(node.spec), "master")], []
            weight, name = node.weight, node.name
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise InvalidArgumentError(f"a node's weight must be an int >= 1, not {weight!r}")
        return Shard(name or masters[0].address, weight, masters, slaves, self.down_interval)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {list(self.shards)}>"

    # ------------------------------------------------------------------ health

    @staticmethod
    def _ping(client: Any) -> Any:
        raise NotImplementedError

    @command
    def check_health(self) -> Steps[list[str]]:
        """Ping every member that is marked down; those that answer serve requests again at once.
        Returns their addresses."""
        down = [(shard, member) for shard in self._shard_list for member in shard.to_check()]
        if not down:
            return []
        outcomes = yield OnMembers([(member, self._ping) for _, member in down])
        answered = []
        for (shard, member), outcome in zip(down, outcomes):
            if isinstance(outcome, KtConnectionError):
                shard.mark_down(member, outcome)
            else:
                answered.append((shard, member))
        if answered:
            # Pooled connections opened before the failure are dead: drop them (a connection still bound
            # to another application thread fails once, and marks the server down again until the next check).
            yield OnMembers([(member, _close_idle) for _, member in answered])
            for shard, member in answered:
                shard.mark_up(member)
        return [member.address for _, member in answered]

    def health(self) -> dict[str, list[dict[str, Any]]]:
        """Each shard's members: address, role, whether it is up, the active master, the last error."""
        now = time.monotonic()
        return {shard.name: [{"address": m.address, "role": m.role, "up": m.down_until <= now,
                              "active": m is shard.master, "last_error": m.last_error}
                             for m in shard.members] for shard in self._shard_list}

    # ------------------------------------------------------------------ routing

    def node_for(self, key: Any) -> str:
        """The name of the shard holding ``key``."""
        try:
            return self.placement.node_for(key)
        except TypeError as exc:
            raise InvalidTypeError(str(exc)) from None

    def client_for(self, key: Any) -> Any:
        """The client of the active master of ``key``'s shard (for what only one shard can do: a cursor)."""
        return self.shards[self.node_for(key)].master.client

    def clients(self) -> dict[str, Any]:
        """Each shard's active master client, by shard name."""
        return {shard.name: shard.master.client for shard in self._shard_list}

    def _shard_of(self, key: Any) -> Shard:
        only = self._only
        if only is not None:
            return only
        try:
            return self.shards[self.placement.node_for(key)]
        except TypeError as exc:
            raise InvalidTypeError(str(exc)) from None

    def _retries(self, operation: str) -> tuple[bool, int]:
        """(idempotent?, retries) of ``operation`` under the cluster's retry policy."""
        idempotent = is_idempotent(operation) and operation not in CLUSTER_NON_IDEMPOTENT
        return idempotent, self.retry.retries if idempotent else 0

    # ------------------------------------------------------------------ plans shared by the methods

    def _on(self, shard: Shard, operation: str, write: bool, fn: Callable[[Any], Any]) -> OnShards:
        return OnShards(((shard, operation, write, fn),))

    def _everywhere(self, operation: str, write: bool, fn: Callable[[Any], Any]) -> OnShards:
        return OnShards([(shard, operation, write, fn) for shard in self._shard_list])

    def _split_keys(self, keys: Any, what: str) -> tuple[list[Any], dict[str, list[Any]]]:
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise InvalidTypeError(f"{what}: keys must be a list of keys, not a single key")
        if not isinstance(keys, Iterable):
            raise InvalidTypeError(f"{what}: keys must be a list of keys, not {type(keys).__name__}")
        keys = list(keys)
        try:
            return keys, self.placement.split(keys)
        except TypeError as exc:
            raise InvalidTypeError(str(exc)) from None

    def _split_items(self, data: Mapping[Any, Any] | None, kwargs: Mapping[str, Any],
                     what: str) -> dict[str, dict[Any, Any]]:
        if data is not None and not isinstance(data, Mapping):
            raise InvalidTypeError(f"{what} data must be a mapping, not {type(data).__name__}")
        items = dict(data or {})
        items.update(kwargs)
        _, groups = self._split_keys(list(items), what)
        return {name: {k: items[k] for k in ks} for name, ks in groups.items()}

    def _bulk_get(self, operation: str, keys: Any,
                  call: Callable[[Any, list[Any]], Any]) -> Steps[dict[Any, Any]]:
        """A bulk read: one request per shard; the found keys merged in input order."""
        keys, groups = self._split_keys(keys, operation)
        if not groups:
            return {}
        parts = yield OnShards([(self.shards[name], operation, False, functools.partial(_swap, call, ks))
                                for name, ks in groups.items()], len(keys) >= self.concurrent_bulk_keys)
        return _merge_found(keys, parts)

    def _bulk_write(self, operation: str, groups: Mapping[str, Any],
                    call: Callable[[Any, Any], Any]) -> Steps[list[Any]]:
        """A bulk write: each shard's part in one request; each shard's answer, in shard order."""
        if not groups:
            return []
        size = sum(len(part) for part in groups.values())
        return (yield OnShards([(self.shards[name], operation, True, functools.partial(_swap, call, part))
                                for name, part in groups.items()], size >= self.concurrent_bulk_keys))

    def _merge_keys(self, lists: list[list[Any]], max_keys: int | None) -> list[Any]:
        merged = sorted(itertools.chain.from_iterable(lists), key=_sort_key)
        return merged if max_keys is None or max_keys < 0 else merged[:max_keys]

    # ------------------------------------------------------------------ methods of every cluster

    # The mapping protocol, through the clients' own methods (an asyncio client cannot be indexed
    # into with an assignment); the asyncio clusters refuse what cannot be awaited.
    @staticmethod
    def _item(item: Any) -> tuple[Any, dict[str, Any]]:
        """``cluster[item]``'s key, and the keywords it adds to the client's call."""
        return item, {}

    @staticmethod
    def _item_value(value: Any) -> tuple[Any, dict[str, Any]]:
        """``cluster[item] = value``'s value, and the keywords it adds to the client's ``set``."""
        return value, {}

    @command
    def __getitem__(self, item: Any) -> Steps[Any]:
        key, kw = self._item(item)
        (value,) = yield self._on(self._shard_of(key), "get", False, lambda c: c.get(key, **kw))
        return value

    @command
    def __setitem__(self, item: Any, value: Any) -> Steps[None]:
        key, kw = self._item(item)
        value, more = self._item_value(value)
        yield self._on(self._shard_of(key), "set", True, lambda c: c.set(key, value, **kw, **more))

    @command
    def __delitem__(self, item: Any) -> Steps[None]:
        key, kw = self._item(item)
        yield self._on(self._shard_of(key), "remove", True, lambda c: c.remove(key, **kw))

    @command
    def __contains__(self, item: Any) -> Steps[bool]:
        key, kw = self._item(item)
        (found,) = yield self._on(self._shard_of(key), "exists", False, lambda c: c.exists(key, **kw))
        return bool(found)

    @command
    def __len__(self) -> Steps[int]:
        return int(sum((yield self._everywhere("count", False, lambda c: c.count()))))

    @command
    def _size(self) -> Steps[int]:
        return sum((yield self._everywhere("size", False, lambda c: c.size)))

    @property
    def size(self) -> Any:
        """The databases' size in bytes: the sum over the shards (an awaitable on an asyncio cluster)."""
        return self._size()

    @property
    def path(self) -> str:
        """Not available on a cluster: each shard has its own path (``cluster.clients()[name].path``)."""
        raise UnshardableOperationError(f"{type(self).__name__}.path: each shard has its own path: "
                                        "cluster.clients()[name].path")

    @command
    def status_by_shard(self, operation: str, *args: Any, **kwargs: Any) -> Steps[dict[str, Any]]:
        """The single client's ``operation`` on every shard, by shard name."""
        results = yield self._everywhere(operation, False, lambda c: getattr(c, operation)(*args, **kwargs))
        return dict(zip(self.shards, results))


def _merge_found(keys: list[Any], parts: list[dict[Any, Any]]) -> dict[Any, Any]:
    """The shards' answers to a bulk read as one dict in the order of ``keys``."""
    if len(parts) == 1:
        return parts[0]  # one shard: the client's own answer, in its order (the input order)
    found: dict[Any, Any] = {}
    for part in parts:
        found.update(part)
    if not found:
        return {}
    # In input order. A client answers under the key as given, or decoded (bytes in, str out), or raw.
    sample = next(iter(found))
    if sample.__class__ is keys[0].__class__:
        out = {k: found[k] for k in keys if k in found}
        if len(out) == len(found):
            return out
    if isinstance(sample, str):
        out = {}
        for key in keys:
            if key.__class__ is bytes:
                try:
                    key = key.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            if key in found:
                out[key] = found[key]
        if len(out) == len(found):
            return out
    out = {}
    for key in keys:
        for candidate in _key_forms(key):
            if candidate in found:
                out[candidate] = found[candidate]
                break
    return out


def _close_idle(client: Any) -> Any:
    return client.close_idle(0)


# ---------------------------------------------------------------------- the blocking runner

class ShardedClient(ClusterBase, SyncRunner):
    """The blocking cluster: plans run in the calling thread, a bulk call's shards on worker threads
    when it is large enough (``concurrent_bulk_keys``)."""

    def __init__(self, nodes: Iterable[Any], **options: Any) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._stop_health = threading.Event()
        self._health_thread: threading.Thread | None = None
        super().__init__(nodes, **options)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _drop_owned(self) -> None:
        for client in self._owned:
            client.close()

    def close(self) -> None:
        """Stop the health checks and the worker threads; close the clients the cluster made."""
        self._stop_health.set()
        if self._health_thread is not None:
            self._health_thread.join()
            self._health_thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._drop_owned()

    def start_health_checks(self, interval: float) -> None:
        """Run :meth:`check_health` every ``interval`` seconds in a daemon thread (until :meth:`close`)."""
        _check_interval(interval)
        if self._health_thread is not None:
            raise InvalidArgumentError("health checks already run")
        self._stop_health.clear()

        def loop() -> None:
            while not self._stop_health.wait(interval):
                self.check_health()

        self._health_thread = threading.Thread(target=loop, name=f"{type(self).__name__}-health", daemon=True)
        self._health_thread.start()

    def __iter__(self) -> Any:
        return iter(self.keys())  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ running plans

    def _run(self, steps: Steps[T]) -> T:
        send = steps.send
        try:
            op = send(None)
            while True:
                try:
                    result = self._perform(op)
                except BaseException:
                    steps.close()
                    raise
                op = send(result)
        except StopIteration as stop:
            return stop.value

    def _run_iter(self, steps: Steps[Any]) -> Iterator[Any]:
        result: Any = None
        while True:
            try:
                op = steps.send(result)
            except StopIteration:
                return
            result = None
            kind = type(op)
            if kind is Items:
                yield from op.items
            elif kind is Walk:
                shard = op.shard
                member = shard.candidates(False, self.read_from_replicas)[0]
                try:
                    yield from op.fn(member.client)
                except KtConnectionError as exc:
                    shard.mark_down(member, exc)
                    raise
            else:
                result = self._perform(op)

    def _perform(self, op: Any) -> Any:
        if type(op) is OnShards:
            return self._fan_out(op.jobs, op.concurrent)
        if type(op) is OnMembers:
            outcomes: list[Any] = []
            for member, fn in op.calls:
                try:
                    outcomes.append(fn(member.client))
                except KtConnectionError as exc:
                    outcomes.append(exc)
            return outcomes
        raise TypeError(f"a cluster plan yielded {op!r}")

    def _call(self, shard: Shard, operation: str, write: bool, fn: Callable[[Any], Any]) -> Any:
        """``fn(client)`` on ``shard`` with failover and the retry policy (idempotent operations only,
        jittered backoff; a :class:`ShardDownError` is not retried: it is raised at once)."""
        idempotent, retries = self._retries(operation)
        if not retries:
            return shard.run(fn, write, self.read_from_replicas, idempotent)
        attempt = 0
        while True:
            try:
                return shard.run(fn, write, self.read_from_replicas, idempotent)
            except ShardDownError:
                raise
            except KtConnectionError:
                if attempt >= retries:
                    raise
                attempt += 1
                time.sleep(jittered(self.retry.delay(attempt)))

    def _fan_out(self, jobs: Sequence[Job], concurrent: bool = True) -> list[Any]:
        """Run ``jobs`` (see :class:`OnShards`) concurrently on worker threads, or one after the other in
        the calling thread."""
        if len(jobs) == 1:
            shard, operation, write, fn = jobs[0]
            return [self._call(shard, operation, write, fn)]
        if not concurrent:
            results: list[Any] = []
            error: BaseException | None = None
            for job in jobs:
                try:
                    results.append(self._call(*job))
                except Exception as exc:
                    if error is None:
                        error = exc
            if error is not None:
                raise error
            return results
        executor = self._executor
        if executor is None:
            with self._executor_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="kt-cluster")
                executor = self._executor
        # A worker thread hands its connection back after each job: no connection stays bound to a worker
        # (a server brought back by a health check then gets fresh connections, see check_health).
        futures = [executor.submit(self._call, shard, operation, write, functools.partial(_checked_in, fn))
                   for shard, operation, write, fn in jobs]
        results, error = [], None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:
                error = error or exc
        if error is not None:
            raise error
        return results


def _check_interval(interval: Any) -> None:
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise InvalidArgumentError(f"health_check_interval must be a number of seconds > 0, not {interval!r}")


def _checked_in(fn: Callable[[Any], Any], client: Any) -> Any:
    try:
        return fn(client)
    finally:
        client.checkin()


def _swap(call: Callable[[Any, Any], Any], part: Any, client: Any) -> Any:
    return call(client, part)


def _key_forms(key: Any) -> tuple[Any, ...]:
    if isinstance(key, str):
        return (key, key.encode("utf-8"))
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
        try:
            return (raw, raw.decode("utf-8"))
        except UnicodeDecodeError:
            return (raw,)
    return (key, str(key), str(key).encode("ascii"))


def _sort_key(key: Any) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)




# ---------------------------------------------------------------------- method plans and their installation

class _Keyed:
    """The plan of a one-key method: the single client's ``operation`` on the shard of the first argument.
    :func:`install_cluster` makes it a method of the blocking or of the asyncio kind."""

    def __init__(self, operation: str, write: bool, doc: str) -> None:
        self.operation = operation
        self.write = write
        self.doc = doc
        self.idempotent = is_idempotent(operation) and operation not in CLUSTER_NON_IDEMPOTENT

    def method(self, kind: str) -> Callable[..., Any]:
        operation, write, idempotent = self.operation, self.write, self.idempotent

        # Both kinds: a one-server shard that is healthy, with nothing to retry, goes straight to its
        # client (the hot path); anything else goes through the runner's failover and retries.
        if kind == "sync":
            def method(self: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
                only = self._only
                shard = only if only is not None else self._shard_of(key)
                single = shard.single
                if single is not None and single.down_until == 0.0 and (not idempotent or not self.retry.retries):
                    try:
                        return getattr(single.client, operation)(key, *args, **kwargs)
                    except KtConnectionError as exc:
                        shard.mark_down(single, exc)
                        raise
                return self._call(shard, operation, write, lambda c: getattr(c, operation)(key, *args, **kwargs))
        else:
            async def method(self: Any, key: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                only = self._only
                shard = only if only is not None else self._shard_of(key)
                single = shard.single
                if single is not None and single.down_until == 0.0 and (not idempotent or not self.retry.retries):
                    try:
                        return await getattr(single.client, operation)(key, *args, **kwargs)
                    except KtConnectionError as exc:
                        shard.mark_down(single, exc)
                        raise
                return await self._acall(shard, operation, write,
                                         lambda c: getattr(c, operation)(key, *args, **kwargs))

        method.__name__ = operation
        method.__doc__ = self.doc
        return method


def keyed(operation: str, write: bool, doc: str) -> Any:
    """A method that runs the single client's ``operation`` on the shard of its first argument."""
    return _Keyed(operation, write, doc)


def everywhere(operation: str, write: bool, merge: Callable[[list[Any]], Any], doc: str) -> Any:
    """A method that runs the single client's ``operation`` on every shard and merges the results."""

    def method(self: ClusterBase, *args: Any, **kwargs: Any) -> Steps[Any]:
        return merge((yield self._everywhere(operation, write, lambda c: getattr(c, operation)(*args, **kwargs))))

    method.__name__ = method.__qualname__ = operation
    method.__doc__ = doc
    return command(method)


def refused(operation: str, why: str) -> Callable[..., Any]:
    """A method that raises :class:`UnshardableOperationError` saying ``why`` (on both kinds: at the call)."""

    def method(self: ClusterBase, *args: Any, **kwargs: Any) -> Any:
        raise UnshardableOperationError(f"{type(self).__name__}.{operation}: {why}")

    method.__name__ = method.__qualname__ = operation
    method.__doc__ = f"Not available on a cluster: {why}"
    return method


C = TypeVar("C", bound=type)


def install_cluster(cls: C) -> C:
    """Class decorator: the plans of ``cls`` (its :func:`keyed` methods and its commands) become methods
    run by its runner (a :class:`~kt_core.command.SyncRunner` or :class:`~kt_core.command.AsyncRunner`)."""
    kind = "sync" if issubclass(cls, SyncRunner) else "async" if issubclass(cls, AsyncRunner) else None
    if kind is None:
        raise TypeError(f"{cls.__name__} is neither a SyncRunner nor an AsyncRunner")
    plans: dict[str, _Keyed] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _Keyed):
                plans[name] = value
            elif name in plans:
                del plans[name]  # overridden by a plain method
    for name, plan in plans.items():
        method = plan.method(kind)
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
    install_commands(cls)
    return cls


def every_true(results: list[Any]) -> bool:
    return all(results)


def total(results: list[Any]) -> Any:
    return sum(results)
