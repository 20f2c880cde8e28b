"""AsyncKyotoTycoon and AsyncCursor: the same members as the blocking ones, end to end on every backend,
cancelled at every point where a call waits, and shared by many tasks over a bounded pool.

Each test drives its own event loop (``run``): the default loop, and uvloop where it is installed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from kt_core.codec.kyoto_repl import ReplicationRefusedError
from kt_core.errors import (
    BadRequestError,
    InvalidArgumentError,
    InvalidTypeError,
    KtConnectionError,
    KtTimeoutError,
    KyotoScriptError,
    LogicalInconsistencyError,
)
from kt_core.io.aio_connection import AsyncConnection
from kt_embedded.faultproxy import FaultProxy
from kt_kyoto import AsyncCursor, AsyncKyotoTycoon, Cursor, KyotoTycoon
from kt_kyoto.cursor import CursorNotImplementedError

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is an optional extra
    uvloop = None  # type: ignore[assignment]

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed"))]

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Run:
    """Run a coroutine to its end on a new event loop of the parametrized kind."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)

    return run


def client_of(server: Any, **options: Any) -> AsyncKyotoTycoon:
    return AsyncKyotoTycoon(server.host, server.port, **options)


async def cleared(client: AsyncKyotoTycoon) -> AsyncKyotoTycoon:
    await client.clear(db=0)
    await client.clear(db=1)
    return client


# ------------------------------------------------------------------ the same members


POOL_KEYWORDS = ("max_connections", "wait_timeout")
# Members that are not coroutines on the asyncio client, and what they are instead.
NOT_COROUTINES = {"cursor": "gives an AsyncCursor", "set_database": "no I/O", "from_url": "a classmethod",
                  "replicate": "an async iterator", "is_valid": "no I/O", "pipeline": "gives an AsyncPipeline"}
ITERATORS = ("keys", "values", "items")


def public_members(cls: type) -> list[str]:
    return sorted(name for name in dir(cls) if not name.startswith("_"))


def parameters(fn: Any, drop: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values() if p.name not in drop]


@pytest.mark.parametrize(("sync_cls", "async_cls"), [(KyotoTycoon, AsyncKyotoTycoon), (Cursor, AsyncCursor)])
def test_every_blocking_member_has_an_asyncio_twin_with_the_same_signature(sync_cls: type, async_cls: type) -> None:
    for name in public_members(sync_cls):
        assert hasattr(async_cls, name), f"{async_cls.__name__} has no {name}"
        sync_member = inspect.getattr_static(sync_cls, name)
        async_member = inspect.getattr_static(async_cls, name)
        if isinstance(sync_member, property):
            assert isinstance(async_member, property), name
            continue
        sync_fn, async_fn = getattr(sync_cls, name), getattr(async_cls, name)
        assert parameters(sync_fn) == parameters(async_fn), name
        if name in NOT_COROUTINES or name in ITERATORS:
            assert not inspect.iscoroutinefunction(async_fn), name
        else:
            assert inspect.iscoroutinefunction(async_fn), f"{async_cls.__name__}.{name} is not a coroutine function"
        if name not in NOT_COROUTINES:
            assert inspect.signature(sync_fn) == inspect.signature(async_fn), name
        command = getattr(sync_fn, "__wrapped__", None)
        if command is not None and command is getattr(async_fn, "__wrapped__", None):
            # A command is one function on both clients: its doc is the doc of both.
            assert inspect.getdoc(sync_fn) == inspect.getdoc(async_fn), name
    assert parameters(sync_cls.__init__) == parameters(async_cls.__init__, POOL_KEYWORDS)


def test_the_constructor_adds_only_the_pool_keywords() -> None:
    extra = inspect.signature(AsyncKyotoTycoon.__init__).parameters
    assert [(extra[name].kind, extra[name].default) for name in POOL_KEYWORDS] == [
        (inspect.Parameter.KEYWORD_ONLY, 32), (inspect.Parameter.KEYWORD_ONLY, None)]
    client = AsyncKyotoTycoon(port=1, max_connections=3, wait_timeout=0.5)
    assert (client.pool.max_connections, client.pool.wait_timeout) == (3, 0.5)
    assert repr(client) == "<AsyncKyotoTycoon 127.0.0.1:1 db=0 serializer='binary'>"
    url = AsyncKyotoTycoon.from_url("kt://localhost:1979/1?timeout=2", max_connections=2)
    assert type(url) is AsyncKyotoTycoon and (url.host, url.port, url.default_db, url.timeout) == (
        "localhost", 1979, 1, 2.0)
    assert url.pool.max_connections == 2
    with pytest.raises(InvalidArgumentError, match=r"AsyncKyotoTycoon\.from_url"):
        AsyncKyotoTycoon.from_url("tt://localhost")


def test_iterators_are_async_iterators_and_argument_errors_raise_at_the_await(run: Run) -> None:
    client = AsyncKyotoTycoon(port=1)
    for name in ITERATORS:
        assert hasattr(getattr(client, name)(), "__anext__"), name

    async def main() -> None:
        with pytest.raises(InvalidTypeError):
            await client.get(object())  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await client.incr("k", 1 << 70)
        with pytest.raises(InvalidArgumentError):
            client.replicate(since=-1)  # checked at the call, as on the blocking client
        assert client.pool.in_use_count == 0  # nothing was sent: no connection was taken

    run(main())


def test_what_python_cannot_await_names_the_coroutine_to_use() -> None:
    client = AsyncKyotoTycoon(port=1)
    with pytest.raises(TypeError, match=r"await client\.count\(\)"):
        len(client)
    with pytest.raises(TypeError, match=r"await client\.exists\(key\)"):
        _ = "k" in client
    with pytest.raises(TypeError, match=r"await client\.set\(key, value\)"):
        client["k"] = "v"
    with pytest.raises(TypeError, match=r"await client\.remove\(key\)"):
        del client["k"]
    with pytest.raises(TypeError, match="async for"):
        iter(client)
    assert bool(client) is True  # truth testing does not ask the server
    coro = client["k"]
    assert inspect.iscoroutine(coro)
    coro.close()


# ------------------------------------------------------------------ end to end, every backend


def test_records(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            assert await client.set("a", "1") == 1
            assert await client.get("a") == "1" and await client["a"] == "1"
            assert await client.get_raw("a") == b"1" and await client.get("missing") is None
            assert await client.set("t", "x", db=1, expire_time=60) == 1 and await client["t", 1] == "x"
            assert await client.add("a", "2") is False and await client.add("b", "2") is True
            assert await client.replace("c", "3") is False and await client.replace("b", "22") is True
            assert await client.append("b", "!") is True and await client.get("b") == "22!"
            assert await client.exists("b") is True and await client.exists("c") is False
            assert await client.cas("b", "22!", "x") is True and await client.cas("b", "nope", "y") is False
            assert await client.seize("b") == "x" and await client.pop("b") is None
            assert await client.incr("n", 5) == 5 and await client.incr("n", -2) == 3
            assert await client.incr_double("d", 1.5) == 1.5
            assert await client.remove("a") == 1 and await client.remove("a") == 0
            with pytest.raises(LogicalInconsistencyError):
                await client.incr("t", db=1)
            with pytest.raises(BadRequestError, match="no such database"):
                await client.get("a", db=9)
            with pytest.raises(BadRequestError, match="no such database"):
                await client.get("a", db="nope.kct")
            assert await client.get("t", db="%") == "x"  # a name, resolved through the report once
        assert client.pool.idle_count == 0  # async with closed them

    run(main())


def test_bulk(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            data = {f"k{i:03d}": f"v{i}" for i in range(300)}
            assert await client.set_bulk(data) == 300
            assert await client.update({"x": "1"}, db=1, y="2") == 2
            assert await client.get_bulk(list(data)) == data
            assert await client.get_bulk_raw(["k001", "nope", "k002"]) == {"k001": b"v1", "k002": b"v2"}
            assert await client.get_bulk(["x", "y"], db=1) == {"x": "1", "y": "2"}
            assert await client.remove_bulk(list(data)[:100]) == 100
            assert await client.count() == 200 and await client.count(db=1) == 2
            with pytest.raises(InvalidTypeError):
                await client.get_bulk("k001")

    run(main())


def test_scripts(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            assert await client.script("echo", {"a": "1"}, b="2") == {"a": "1", "b": "2"}
            assert await client.script("echo", {"a": b"\x00\xff"}, encode_values=False) == {"a": b"\x00\xff"}
            assert await client.lua.echo(name="x") == {"name": "x"}  # the keyword is a record, not the name
            await client.script("store", {"s": "v"})
            assert await client.get("s") == "v"
            with pytest.raises(KyotoScriptError):
                await client.script("broken")

    run(main())


def test_admin(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            await client.set_bulk({"apple": "1", "apricot": "2", "banana": "3"}, db=1)
            assert (await client.status(db=1))["count"] == b"3"
            assert "db_1" in await client.report()
            client.set_database(1)
            assert await client.size > 0 and await client.path == "%"
            assert await client.count() == 3
            assert sorted(await client.match_prefix("ap")) == ["apple", "apricot"]
            assert await client.match_regex("an+a$") == ["banana"]
            assert await client.match_similar("appel", 2) == ["apple"]
            assert sorted(await client.keys_nonlazy()) == ["apple", "apricot", "banana"]
            assert await client.synchronize() is True and await client.vacuum() is True
            assert await client.clear() is True and await client.count() == 0
            assert await client.close_idle(0) >= 0
            await client.checkin()

    run(main())


def test_iteration(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            data = {f"k{i:04d}": f"v{i}" for i in range(1200)}  # several pipelined batches
            await client.set_bulk(data)
            assert sorted([key async for key in client]) == sorted(data)
            assert sorted([key async for key in client.keys()]) == sorted(data)
            assert sorted([value async for value in client.values()]) == sorted(data.values())
            assert dict([item async for item in client.items()]) == data
            assert [key async for key in client.keys(db=1)] == []
            # Stopping early closes the walk's connection (the server forgets its cursor with it).
            async for _ in client.keys():
                break
            for _ in range(5):
                await asyncio.sleep(0)  # the loop closes the abandoned async generator
            assert client.pool.in_use_count == 0
            assert await client.get("k0001") == "v1"
            with pytest.raises(BadRequestError):
                [key async for key in client.keys(db=7)]
            with pytest.raises(ReplicationRefusedError):  # a server without -ulog
                [change async for change in client.replicate(wait=0)]
            assert client.pool.in_use_count == 0

    run(main())


def test_cursors(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            await client.set_bulk({"k1": "v1", "k2": "v2", "k3": "v3"}, db=1)
            cur = client.cursor(db=1)
            assert isinstance(cur, AsyncCursor) and cur.db == 1 and cur.is_valid() is False
            assert client.pool.in_use_count == 0  # it takes its connection at its first move
            assert await cur.jump("k2") is True and await cur.key() == "k2"
            assert client.pool.in_use_count == 1
            assert await cur.get(step=True) == ("k2", "v2") and await cur.value() == "v3"
            assert await cur.step() is False and await cur.get() is None
            assert await cur.jump_back() is True and await cur.key() == "k3"
            assert await cur.step_back() is True and await cur.key() == "k2"
            assert await cur.set_value("V2") is True and await client.get("k2", db=1) == "V2"
            assert await cur.jump("k2") is True and await cur.seize() == ("k2", "V2") and await cur.key() == "k3"
            assert await cur.remove() is True and await client.exists("k3", db=1) is False
            await client.set_bulk({"k2": "v2", "k3": "v3"}, db=1)
            assert await cur.jump("k2") is True
            assert [item async for item in cur] == [("k2", "v2"), ("k3", "v3")]  # from the current record
            assert [item async for item in cur] == [("k1", "v1"), ("k2", "v2"), ("k3", "v3")]  # from the first
            assert await cur.jump("k2") is True and await cur.next() == ("k2", "v2")
            assert await cur.__anext__() == ("k3", "v3")
            with pytest.raises(StopAsyncIteration):
                await cur.next()
            assert await cur.jump() is True and await cur.close() is True and cur.closed
            assert client.pool.in_use_count == 0
            async with client.cursor() as hashed:
                with pytest.raises(CursorNotImplementedError):
                    await hashed.jump_back()
            assert hashed.closed and client.pool.in_use_count == 0
            dropped = client.cursor(db=1)
            assert await dropped.jump() is True
            del dropped  # unclosed: its connection is closed and given back, no round trip
            assert client.pool.in_use_count == 0

    run(main())


# ------------------------------------------------------------------ cancellation


async def cancel_at_every_point(client: AsyncKyotoTycoon, call: Callable[[], Coroutine[Any, Any, Any]],
                                check: Callable[[], Coroutine[Any, Any, None]], expected: Any,
                                limit: int = 2000) -> int:
    """Cancel ``call()`` after n loop iterations for n = 0, 1, ... until it finishes first; after each
    cancellation ``check()`` must pass and no connection the cancelled call used may be idle in the pool.
    Returns how many points were cancelled."""
    pool = client.pool
    for n in range(limit):
        before = set(pool._in_use)
        task = asyncio.ensure_future(call())
        used: set[AsyncConnection] = set()
        for _ in range(n):
            await asyncio.sleep(0)
            used |= pool._in_use - before
            if task.done():
                break
        if task.done():
            assert task.result() == expected
            return n
        used |= pool._in_use - before
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not (used & set(pool._idle)), f"a connection of a call cancelled after {n} iterations was pooled"
        assert pool._in_use == before, f"cancelled after {n} iterations, the call kept its connection"
        await check()
    # A slow server (a loaded machine) keeps the call waiting for its reply longer: the points past
    # the limit are that same await, already cancelled at. The call must still end with its answer.
    assert await asyncio.wait_for(call(), 30) == expected
    return limit


def test_a_cancelled_get_leaves_the_next_answer_right(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            await client.set_bulk({"one": "1" * 5000, "two": "2"})

            async def check() -> None:
                assert await client.get("two") == "2"
                assert client.pool.in_use_count == 0

            points = await cancel_at_every_point(client, lambda: client.get("one"), check, "1" * 5000)
            assert points >= 1

    run(main())


def test_a_cancelled_bulk_get_leaves_the_next_answer_right(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            data = {f"k{i:04d}": f"v{i}" * 50 for i in range(2000)}  # a reply of several reads
            await client.set_bulk(data)

            async def check() -> None:
                assert await client.get_bulk(["k0007", "k0008"]) == {"k0007": data["k0007"], "k0008": data["k0008"]}
                assert client.pool.in_use_count == 0

            points = await cancel_at_every_point(client, lambda: client.get_bulk(list(data)), check, data)
            assert points >= 1

    run(main())


def test_a_cancelled_cursor_step_leaves_the_next_answer_right(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            await client.set_bulk({"k1": "v1", "k2": "v2", "k3": "v3"}, db=1)
            for n in range(2000):
                cur = client.cursor(db=1)
                assert await cur.jump("k1") is True
                task = asyncio.ensure_future(cur.get(step=True))  # two requests in one write, two replies
                for _ in range(n):
                    await asyncio.sleep(0)
                if task.done():
                    assert task.result() == ("k1", "v1") and await cur.key() == "k2"
                    await cur.close()
                    assert n >= 1
                    break
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                try:
                    assert await cur.key() == "k1"  # cancelled before anything was sent
                except KtConnectionError as exc:
                    # Cancelled mid-request: the connection was closed, and the server's cursor with it.
                    assert "create a new cursor" in str(exc)
                assert await client.get("k3", db=1) == "v3"
                await cur.close()
                assert client.pool.in_use_count == 0
            else:
                raise AssertionError("the cursor step never finished")

    run(main())


def test_cancelling_while_the_reply_is_outstanding(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        with FaultProxy(kt_server.host, kt_server.port) as proxy:
            async with AsyncKyotoTycoon(proxy.host, proxy.port, timeout=5) as client:
                await cleared(client)
                await client.set_bulk({"a": "A", "b": "B"})
                calls: list[Callable[[], Coroutine[Any, Any, Any]]] = [
                    lambda: client.get("a"), lambda: client.get_bulk(["a", "b"]), lambda: client.count()]
                for call in calls:
                    proxy.stall()
                    task = asyncio.ensure_future(call())
                    await asyncio.sleep(0.1)  # the request is on the server; its reply is held
                    assert not task.done()
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                    proxy.passthrough()  # the late reply goes to a closed connection
                    assert await client.get("b") == "B"
                    assert client.pool.in_use_count == 0
                # A timeout is a cancellation too.
                proxy.stall()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(client.get("a"), 0.05)
                proxy.passthrough()
                assert await client.get("b") == "B" and await client.get("a") == "A"
                # The cursor's step, pipelined.
                cur = client.cursor()
                assert await cur.jump() is True
                proxy.stall()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(cur.get(step=True), 0.05)
                proxy.passthrough()
                assert await client.get("a") == "A"
                assert await cur.close() is False and client.pool.in_use_count == 0

    run(main())


def test_tiny_wait_for_timeouts_at_every_size(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server) as client:
            await cleared(client)
            data = {f"k{i:04d}": "x" * 100 for i in range(500)}
            await client.set_bulk(data)
            await client.set("probe", "ok")
            finished = 0
            for timeout in (0, 1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 30.0):
                try:
                    assert await asyncio.wait_for(client.get_bulk(list(data)), timeout) == data
                    finished += 1
                except asyncio.TimeoutError:
                    pass
                assert await client.get("probe") == "ok"
                assert client.pool.in_use_count == 0
            assert finished >= 1

    run(main())


# ------------------------------------------------------------------ many tasks, few connections


def test_a_thousand_tasks_share_four_connections(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server, max_connections=4) as client:
            await cleared(client)
            await client.set_bulk({f"k{i}": f"v{i}" for i in range(1000)})
            pool = client.pool
            most = 0
            running = True

            async def watch() -> None:
                nonlocal most
                while running:
                    most = max(most, pool.in_use_count + pool.idle_count)
                    await asyncio.sleep(0)

            async def one(i: int) -> tuple[Any, ...]:
                return (await client.get(f"k{i}"), await client.incr(f"n{i % 10}"),
                        await client.get_bulk([f"k{i}", f"k{(i + 1) % 1000}"]))

            watcher = asyncio.ensure_future(watch())
            results = await asyncio.gather(*(one(i) for i in range(1000)))
            running = False
            await watcher
            for i, (value, _, bulk) in enumerate(results):
                assert value == f"v{i}"
                assert bulk == {f"k{i}": f"v{i}", f"k{(i + 1) % 1000}": f"v{(i + 1) % 1000}"}
            assert sorted(n for _, n, _ in results) == sorted(list(range(1, 101)) * 10)
            assert 1 <= most <= 4 and pool.in_use_count == 0 and pool.idle_count <= 4

    run(main())


def test_a_waiter_times_out_with_a_clear_message(kt_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(kt_server, max_connections=1, wait_timeout=0.05) as client:
            await cleared(client)
            await client.set("k", "v")
            cur = client.cursor()
            assert await cur.jump() is True  # the cursor holds the only connection
            message = r"no connection .* became free within 0.05s \(max_connections=1\)"
            with pytest.raises(KtTimeoutError, match=message):
                await client.get("k")
            await cur.close()
            assert await client.get("k") == "v"

    run(main())


# ------------------------------------------------------------------ the change stream


@pytest.fixture(params=["real", "standin"])
def ulog_server(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """A Kyoto Tycoon server with an update log (a replication master)."""
    from kt_embedded.managers import STANDIN, EmbeddedServer, real_server_available

    if request.param == "real" and not real_server_available("ktserver"):
        pytest.skip("ktserver is not installed")
    manager = EmbeddedServer(server="ktserver" if request.param == "real" else STANDIN, database=["*", "%"],
                             server_args=["-ulog", str(tmp_path / "ulog"), "-sid", "1"], quiet=True)
    manager.run()
    yield manager
    manager.stop()


def test_the_change_stream_is_an_async_iterator(ulog_server: Any, run: Run) -> None:
    async def main() -> None:
        async with client_of(ulog_server) as client:
            await client.set("a", b"1")
            await client.set_bulk({"b": b"2", "c": b"3"})
            await client.remove("a")
            await asyncio.sleep(0.3)  # the log is flushed every 0.1 s
            changes = [change async for change in client.replicate(wait=0)]
            assert [(type(c).__name__, c.key) for c in changes] == [
                ("SetChange", b"a"), ("SetChange", b"b"), ("SetChange", b"c"), ("RemoveChange", b"a")]
            # Resuming after a change (the gap check runs when the iteration starts).
            assert [c async for c in client.replicate(since=changes[1].ts, wait=0)] == changes[2:]

            # Following the log: a change written later arrives; closing the stream closes its connection.
            async def late_write() -> None:
                await asyncio.sleep(0.3)
                await client.set("late", b"x")

            writer = asyncio.ensure_future(late_write())
            stream = client.replicate(since=changes[-1].ts, wait=None, timeout=5)
            change = await stream.__anext__()
            assert change.key == b"late"
            await writer
            await stream.aclose()  # type: ignore[attr-defined]
            # Cancelled while waiting for the next change: the stream's connection is dropped.
            stream = client.replicate(since=change.ts, wait=None, timeout=5)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(stream.__anext__(), 0.3)
            assert await client.get_raw("late") == b"x" and client.pool.in_use_count == 0

    run(main())
