"""AsyncTokyoTyrant: the same members as TokyoTyrant, as coroutines; every family end to end; calls
cancelled at every point where they wait; many tasks on a bounded pool.

Each test drives its own event loop (``run``), on the default loop and on uvloop where installed,
against every server backend (the ``tt_server`` fixtures).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from kt_core.command import commands_of
from kt_core.errors import (
    InvalidArgumentError,
    InvalidTypeError,
    KtConnectionError,
    KtTimeoutError,
    TokyoTyrantError,
    TokyoTyrantScriptError,
)
from kt_core.io.aio_connection import AsyncConnection, AsyncConnectionPool
from kt_embedded.faultproxy import FaultProxy
from kt_serializers import KT_JSON, TT_TABLE
from kt_tyrant import (
    INDEX_NUM,
    INDEX_STR,
    OP_NUM_GE,
    OP_STR_EQ,
    ORDER_NUM_DESC,
    AsyncTokyoTyrant,
    QueryBuilder,
    TokyoTyrant,
)
from kt_tyrant.commands import TyrantCommands

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is an optional extra
    uvloop = None  # type: ignore[assignment]

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed"))]
# The pool keywords only the asyncio client has (max_connections is TokyoTyrant's too, with another default).
POOL_KEYWORDS = {"max_connections", "wait_timeout"}
# What Python cannot await: on the asyncio client each raises TypeError naming the coroutine to use.
SYNC_ONLY = {"__len__": "count()", "__contains__": "exists(key)", "__setitem__": "set(key, value)",
             "__delitem__": "remove(key)", "__iter__": "async for key in client"}


@pytest.fixture(params=LOOPS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


def run(loop_kind: str, main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main()`` to its end on a new event loop of ``loop_kind``."""
    loop = uvloop.new_event_loop() if loop_kind == "uvloop" else asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def client_of(server: Any, **options: Any) -> AsyncTokyoTyrant:
    return AsyncTokyoTyrant(host=server.host, port=server.port, timeout=5, **options)


class CountingPool(AsyncConnectionPool):
    """Records the most connections in use at once, every connection it made, and each one handed out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.most_in_use = 0
        self.made: list[AsyncConnection] = []
        self.handed_out: list[AsyncConnection] = []

    def _new(self) -> AsyncConnection:
        conn = super()._new()
        self.made.append(conn)
        return conn

    def try_acquire(self) -> AsyncConnection | None:  # acquire() takes its connections here too
        conn = super().try_acquire()
        if conn is not None:
            self.handed_out.append(conn)
            self.most_in_use = max(self.most_in_use, self.in_use_count)
        return conn


def counting_client(host: str, port: int, max_connections: int | None = 1, **options: Any) -> tuple[
        AsyncTokyoTyrant, CountingPool]:
    pool = CountingPool(host, port, timeout=5, max_connections=max_connections, max_idle=max_connections or 32)
    return AsyncTokyoTyrant(host=host, port=port, connection_pool=pool, **options), pool


# ---------------------------------------------------------------------------------------- parity

COMMANDS = set(commands_of(TyrantCommands))


def _public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")} | {"__init__", "__getitem__"}


def test_every_public_member_has_an_async_twin_with_the_same_signature() -> None:
    assert _public_names(TokyoTyrant) <= _public_names(AsyncTokyoTyrant)
    for name in sorted(_public_names(TokyoTyrant)):
        sync_attr = inspect.getattr_static(TokyoTyrant, name)
        async_attr = inspect.getattr_static(AsyncTokyoTyrant, name)
        if isinstance(sync_attr, property):
            assert isinstance(async_attr, property), name
            assert async_attr.__doc__ == sync_attr.__doc__, name
            continue
        sync_sig = inspect.signature(getattr(TokyoTyrant, name))
        async_sig = inspect.signature(getattr(AsyncTokyoTyrant, name))
        if name == "__init__":
            def params(sig: inspect.Signature) -> list[tuple[str, Any, Any]]:
                return [(p.name, p.kind, p.default) for p in sig.parameters.values() if p.name not in POOL_KEYWORDS]

            assert params(async_sig) == params(sync_sig)
            assert async_sig.parameters["max_connections"].default == 32
            wait = async_sig.parameters["wait_timeout"]
            assert (wait.kind, wait.default) == (inspect.Parameter.KEYWORD_ONLY, None)
            continue
        if isinstance(sync_attr, classmethod):
            assert isinstance(async_attr, classmethod), name
            assert list(async_sig.parameters.values()) == list(sync_sig.parameters.values()), name
            continue
        method = getattr(AsyncTokyoTyrant, name)
        if name in COMMANDS:
            assert async_sig == sync_sig, f"{name}: {async_sig} != {sync_sig}"
            assert inspect.iscoroutinefunction(method), f"AsyncTokyoTyrant.{name} is not a coroutine function"
            assert method.__doc__ == getattr(TokyoTyrant, name).__doc__, name
        else:  # the runners' own methods (close, checkin...), each client's kind of result
            assert list(async_sig.parameters.values()) == list(sync_sig.parameters.values()), name
    for name in ("checkin", "close", "close_idle"):
        assert inspect.iscoroutinefunction(getattr(AsyncTokyoTyrant, name)), name


def test_attributes_stay_attributes_and_iterating_is_async() -> None:
    sync, client = TokyoTyrant(port=1), AsyncTokyoTyrant(port=1, max_connections=4, wait_timeout=0.5)
    for name in ("host", "port", "timeout", "serializer", "decode_keys"):
        assert getattr(client, name) == getattr(sync, name), name
    assert isinstance(client.pool, AsyncConnectionPool)
    assert (client.pool.max_connections, client.pool.wait_timeout) == (4, 0.5)
    assert hasattr(client.__aiter__(), "__anext__")
    assert bool(client) is True  # truth testing does not reach __len__
    assert repr(client) == "<AsyncTokyoTyrant 127.0.0.1:1 serializer=BinarySerializer()>"
    assert not hasattr(client, "__enter__")


@pytest.mark.parametrize(("dunder", "use"), sorted(SYNC_ONLY.items()))
def test_what_cannot_be_awaited_raises_type_error_naming_the_coroutine(dunder: str, use: str) -> None:
    client = AsyncTokyoTyrant(port=1)
    calls: dict[str, Callable[[], Any]] = {
        "__len__": lambda: len(client),
        "__contains__": lambda: "k" in client,
        "__setitem__": lambda: client.__setitem__("k", "v"),
        "__delitem__": lambda: client.__delitem__("k"),
        "__iter__": lambda: iter(client),
    }
    with pytest.raises(TypeError, match=f"use (await client\\.)?{use.replace('(', '[(]').replace(')', '[)]')}"):
        calls[dunder]()


def test_from_url_gives_an_async_client() -> None:
    client = AsyncTokyoTyrant.from_url("tt://127.0.0.1:1999?timeout=2&serializer=json&max_connections=3",
                                       wait_timeout=1.5)
    assert type(client) is AsyncTokyoTyrant
    assert (client.port, client.timeout, client.serializer.name) == (1999, 2.0, KT_JSON)
    assert (client.pool.max_connections, client.pool.wait_timeout) == (3, 1.5)
    with pytest.raises(InvalidArgumentError, match=r"AsyncTokyoTyrant\.from_url takes a tt:// URL"):
        AsyncTokyoTyrant.from_url("kt://127.0.0.1")
    with pytest.raises(InvalidArgumentError, match="single database"):
        AsyncTokyoTyrant.from_url("tt://127.0.0.1/1")
    with pytest.raises(InvalidArgumentError, match="single database"):
        AsyncTokyoTyrant(default_db=1)


# Bad arguments: both clients raise the same error, before anything is sent (port 1 has no server).
BAD_CALLS: list[Callable[[Any], Any]] = [
    lambda c: c.get(True), lambda c: c.get_raw(None), lambda c: c.set(["k"], "v"), lambda c: c.set("k", None),
    lambda c: c.get_bulk("single"), lambda c: c.get_bulk(5), lambda c: c.remove_bulk(b"k"),
    lambda c: c.set_bulk(["not a mapping"]), lambda c: c.update({"a": "1"}, db=1),
    lambda c: c.update({"a": "1"}, expire_time=5), lambda c: c.incr("k", 1.5), lambda c: c.incr_double("k", "x"),
    lambda c: c.addshl("k", "v", "2"), lambda c: c.get_part("k", -1), lambda c: c.misc("put", "k"),
    lambda c: c.search("addcond"), lambda c: c.search([], cmd="drop"), lambda c: c.set_index("c", 99),
    lambda c: c.restore("/tmp", -1), lambda c: c.set_master("h", True, 0), lambda c: c.match_prefix("p", -1),
    lambda c: c.items(start_key=["k"]), lambda c: c.iter_from(None), lambda c: c.get("\ud800"),
    lambda c: c[slice("a", "b", 2)], lambda c: c.defragment("x"), lambda c: c.script(5),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_bad_arguments_raise_as_on_the_blocking_client(call: Callable[[Any], Any], loop_kind: str) -> None:
    with pytest.raises((InvalidArgumentError, InvalidTypeError)) as expected:
        call(TokyoTyrant(port=1))

    async def main() -> None:
        client = AsyncTokyoTyrant(port=1)
        with pytest.raises(type(expected.value)) as got:
            await call(client)
        assert str(got.value) == str(expected.value)
        assert client.pool.in_use_count == 0 and client.pool.idle_count == 0  # nothing connected

    run(loop_kind, main)


# ---------------------------------------------------------------------------------------- end to end

@pytest.mark.server
def test_records(tt_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        async with client_of(tt_server) as client:
            assert await client.clear() is True
            assert await client.set("k", "v") is True
            assert await client.get("k") == "v"
            assert await client.get_raw("k") == b"v"
            assert await client["k"] == "v"
            assert await client.get("missing") is None and await client["missing"] is None
            assert await client.add("k", "x") is False
            assert await client.add("new", "x") is True
            assert await client.append("k", "w") is True
            assert await client.get("k") == "vw"
            assert await client.addshl("k", "xyz", 3) is True
            assert await client.get("k") == "xyz"
            assert await client.exists("k") is True and await client.exists("nope") is False
            assert await client.length("k") == 3 and await client.length("nope") is None
            assert await client.get_part("k", 1) == "yz"
            assert await client.get_part("nope") is False
            assert await client.incr("n", 5) == 5 and await client.incr("n", -2) == 3
            assert await client.incr_double("d", 1.5) == 1.5
            await client.setnr("nr", "late")  # no reply: the next request's answer is its own
            assert await client.get("nr") == "late"
            assert await client.remove("k") == 1 and await client.remove("k") == 0
            assert await client.count() == 4  # new, n, d, nr
            assert isinstance(await client.size, int)
            assert await client.path == "*"
            assert await client.error is None  # an in-memory database reports none
            with pytest.raises(TokyoTyrantError):
                await client.incr("new")  # not a 4-byte integer
            assert await client.get("new") == "x"  # still in step

    run(loop_kind, main)


@pytest.mark.server
def test_bulk(tt_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        async with client_of(tt_server, serializer=KT_JSON) as client:
            await client.clear()
            assert await client.set_bulk({"a": [1], "b": {"x": 2}}, c=3) is True
            assert await client.get_bulk(["a", "b", "c", "nope"]) == {"a": [1], "b": {"x": 2}, "c": 3}
            assert await client.mget(["a"]) == {"a": [1]}
            assert await client.get_bulk_raw([b"c"]) == {"c": b"3"}  # decode_keys: str keys back
            assert await client.get_bulk([]) == {}
            assert await client.update({"d": 4}) is True
            await client.setnr_bulk({"e": 5}, f=6)
            assert await client.get_bulk(["d", "e", "f"]) == {"d": 4, "e": 5, "f": 6}
            assert await client.remove_bulk(["a", "b", "nope"]) is True
            assert sorted(await client.keys()) == ["c", "d", "e", "f"]
            keys = [f"k{i}" for i in range(2000)]
            assert await client.set_bulk({k: i for i, k in enumerate(keys)}) is True
            got = await client.get_bulk(keys)
            assert got == {k: i for i, k in enumerate(keys)}

    run(loop_kind, main)


@pytest.mark.server
def test_scripts_and_misc(tt_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        async with client_of(tt_server) as client:
            await client.clear()
            assert await client.script("pair", "k", "v") == b"k=v"
            assert await client.script("pair", "k", "v", lock_records=True, decode_result=True) == "k=v"
            assert await client.lua.pair("a", "b") == b"a=b"
            assert await client.lua.getset("g", "new") == b""
            with pytest.raises(TokyoTyrantScriptError) as info:
                await client.script("reject", "k", "v")
            assert info.value.code == 1
            assert await client.script("pair", "x", "y") == b"x=y"  # still in step
            assert await client.misc("put", ["m", "1"]) == []
            assert await client.misc("get", ["m"]) == [b"1"]
            assert await client.misc("get", ["nope"]) is None

    run(loop_kind, main)


@pytest.mark.server
def test_admin(tt_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        async with client_of(tt_server) as client:
            await client.clear()
            await client.set("k", "v")
            status = await client.status()
            assert status["path"] == "*" and int(status["rnum"]) == 1
            assert await client.synchronize() in (True, False)
            assert await client.optimize() is True
            assert await client.clear_cache() is False  # an in-memory database
            assert await client.count() == 1
            assert await client.close_idle(0) >= 1
            await client.checkin()
            assert await client.get("k") == "v"  # the client stays usable
            await client.close()
            assert await client.get("k") == "v"

    run(loop_kind, main)


@pytest.mark.server
def test_iteration_and_async_for(tt_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        async with client_of(tt_server) as client:
            await client.clear()
            data = {f"key{i:04d}": f"value{i}" for i in range(300)}  # more than one iternext batch
            await client.set_bulk(data)
            assert sorted(await client.keys()) == sorted(data)
            assert dict(await client.items()) == data
            assert sorted([key async for key in client]) == sorted(data)
            async for _key in client:
                break  # stopping early holds no connection: keys() gave it back before the first key
            assert client.pool.in_use_count == 0
            assert set(await client.match_prefix("key01")) == {k for k in data if k.startswith("key01")}
            assert set(await client.match_regex("^key000[0-4]$")) == {f"key000{i}" for i in range(5)}
            start = (await client.keys())[10]
            assert list(await client.iter_from(start)) == (await client.keys())[10:]
            with pytest.raises(TokyoTyrantError):
                await client.get_range("a")  # a hash database has no range
            assert await client.get("key0001") == "value1"  # in step after every walk

    run(loop_kind, main)


@pytest.mark.server
def test_ranges_and_slices_on_a_tree(tt_tree_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        async with client_of(tt_tree_server) as client:
            await client.clear()
            await client.set_bulk({"a": "1", "b": "2", "c": "3", "d": "4"})
            assert await client.get_range("b", "d") == {"b": "2", "c": "3"}
            assert await client["b":"d"] == {"b": "2", "c": "3"}
            assert await client.get_range(None, max_keys=2) == {"a": "1", "b": "2"}
            assert await client.items("c") == [("c", "3"), ("d", "4")]
            assert await client.keys() == ["a", "b", "c", "d"]

    run(loop_kind, main)


@pytest.mark.server
def test_table_database_and_queries(tt_table_server: Any, loop_kind: str) -> None:
    records = {"1": {"name": "alice", "age": "30"}, "2": {"name": "bob", "age": "4"},
               "3": {"name": "carl", "age": "100"}}

    async def main() -> None:
        async with client_of(tt_table_server, serializer=TT_TABLE) as client:
            await client.clear()
            for key, record in records.items():
                assert await client.set(key, record) is True
            assert await client.get("2") == records["2"]
            assert await client.set_index("age", INDEX_NUM) is True
            assert await client.set_index("name", INDEX_STR) is True
            adults = QueryBuilder().filter("age", OP_NUM_GE, 18)
            pending = adults.execute(client)
            assert inspect.isawaitable(pending)
            assert sorted(await pending) == ["1", "3"]
            assert await adults.order_by("age", ORDER_NUM_DESC).get(client) == [("3", records["3"]),
                                                                               ("1", records["1"])]
            assert await adults.count(client) == 2
            assert await QueryBuilder().filter("name", OP_STR_EQ, "bob").delete(client) is True
            assert sorted(await client.keys()) == ["1", "3"]
            assert await client.search([("addcond", "age", OP_NUM_GE, 50)], "count") == 1
            first = await client.genuid()
            assert await client.genuid() == first + 1
            assert await client.optimize_index("age") is True and await client.delete_index("age") is True

    run(loop_kind, main)


# ---------------------------------------------------------------------------------------- cancellation

async def _settle(task: asyncio.Task[Any]) -> None:
    try:
        await task
    except (asyncio.CancelledError, KtConnectionError):
        pass


def _assert_pool_clean(client: AsyncTokyoTyrant) -> None:
    pool = client.pool
    assert pool.in_use_count == 0
    for conn in pool._idle:
        # An idle connection never holds part of a reply nor waits for one.
        assert not conn.closed and not conn.reader.pending and conn._waiter is None


CANCELLED_CALLS: dict[str, Callable[[AsyncTokyoTyrant], Awaitable[Any]]] = {
    "get": lambda c: c.get("a"),
    "get_bulk": lambda c: c.get_bulk(["a", "c"]),
    "iteration": lambda c: c.keys(),
    "items": lambda c: c.items(),
}


async def _fill(client: AsyncTokyoTyrant) -> None:
    await client.clear()
    # The cancelled calls ask for a/c (and walk everything); the check asks for b, so a reply
    # left over from a cancelled call would be seen.
    await client.set_bulk({"a": "value of a", "b": "value of b", "c": "value of c",
                           **{f"filler{i:03d}": "x" * 50 for i in range(150)}})


@pytest.mark.server
@pytest.mark.parametrize("call", sorted(CANCELLED_CALLS))
def test_cancelled_at_every_await_the_next_request_gets_its_own_answer(tt_server: Any, loop_kind: str,
                                                                       call: str) -> None:
    make = CANCELLED_CALLS[call]

    async def main() -> None:
        client, pool = counting_client(tt_server.host, tt_server.port, max_connections=1, timeout=5)
        await _fill(client)
        cancelled_mid_call = 0
        for steps in range(10000):
            pool.handed_out.clear()
            task = asyncio.ensure_future(make(client))
            for _ in range(steps):
                await asyncio.sleep(0)
            if task.done():
                await task  # it ran to its end before the cancel: every await point was covered
                break
            task.cancel()
            await _settle(task)
            if pool.handed_out and task.cancelled():
                cancelled_mid_call += 1
                # The connection a call was cancelled on is closed, never put back to be reused.
                assert all(conn.closed for conn in pool.handed_out)
            _assert_pool_clean(client)
            assert await client.get("b") == "value of b"
            assert await client.get_bulk(["b"]) == {"b": "value of b"}
        else:
            # A slow server keeps the call waiting for its reply longer: the points past the limit are
            # that same await, already cancelled at. The call must still end.
            await asyncio.wait_for(make(client), 30)
        assert cancelled_mid_call >= 1
        assert await client.get("b") == "value of b"
        await client.close()

    run(loop_kind, main)


@pytest.mark.server
@pytest.mark.parametrize("call", sorted(CANCELLED_CALLS))
def test_wait_for_timeouts_of_every_length_leave_the_client_in_step(tt_server: Any, loop_kind: str,
                                                                    call: str) -> None:
    make = CANCELLED_CALLS[call]

    async def main() -> None:
        client = AsyncTokyoTyrant(tt_server.host, tt_server.port, timeout=5, max_connections=1)
        await _fill(client)
        timeout = 1e-6
        timed_out = 0
        while timeout < 5:
            try:
                await asyncio.wait_for(make(client), timeout)
            except (TimeoutError, asyncio.TimeoutError):
                timed_out += 1
                _assert_pool_clean(client)
                assert await client.get("b") == "value of b"
                timeout *= 2
            else:
                break
        assert timed_out >= 1
        assert await client.get_bulk(["a", "b"]) == {"a": "value of a", "b": "value of b"}
        await client.close()

    run(loop_kind, main)


@pytest.fixture
def proxy(tt_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(tt_server.host, tt_server.port) as fault_proxy:
        yield fault_proxy


async def _wait_for_stalled_reply(proxy: FaultProxy, before: int) -> None:
    deadline = time.monotonic() + 5
    while proxy.stats["stalled_bytes"] == before:
        assert time.monotonic() < deadline, "the request never reached the server"
        await asyncio.sleep(0.005)


@pytest.mark.server
@pytest.mark.parametrize("call", sorted(CANCELLED_CALLS))
def test_cancelled_while_the_reply_is_held_back(tt_server: Any, proxy: FaultProxy, loop_kind: str,
                                                call: str) -> None:
    make = CANCELLED_CALLS[call]

    async def main() -> None:
        client, pool = counting_client(proxy.host, proxy.port, max_connections=1, timeout=5)
        await _fill(client)
        connections = proxy.stats["connections"]
        proxy.stall()
        before = proxy.stats["stalled_bytes"]
        pool.handed_out.clear()
        task = asyncio.ensure_future(make(client))
        await _wait_for_stalled_reply(proxy, before)  # the server answered; the reply is on its way
        task.cancel()
        await _settle(task)
        assert task.cancelled()
        assert pool.handed_out and all(conn.closed for conn in pool.handed_out)
        _assert_pool_clean(client)
        proxy.passthrough()  # the held reply is delivered now, late, to the closed connection
        assert await client.get("b") == "value of b"
        assert proxy.stats["connections"] == connections + 1  # the next call had a fresh connection
        assert await client.get_bulk(["b", "c"]) == {"b": "value of b", "c": "value of c"}
        await client.close()

    run(loop_kind, main)


@pytest.mark.server
def test_timeouts_while_the_reply_is_held_back(tt_server: Any, proxy: FaultProxy, loop_kind: str) -> None:
    async def main() -> None:
        client = AsyncTokyoTyrant(proxy.host, proxy.port, timeout=0.2, max_connections=1)
        await _fill(client)
        proxy.stall()
        with pytest.raises(KtTimeoutError, match="timed out"):
            await client.get("a")  # the client's own timeout
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            await asyncio.wait_for(client.get_bulk(["a"]), 0.05)
        proxy.passthrough()
        assert await client.get("b") == "value of b"
        assert client.pool.in_use_count == 0
        await client.close()

    run(loop_kind, main)


# ---------------------------------------------------------------------------------------- concurrency

@pytest.mark.server
def test_a_thousand_tasks_share_four_connections(tt_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        client, pool = counting_client(tt_server.host, tt_server.port, max_connections=4, timeout=10)
        await client.clear()
        await client.set_bulk({f"r{i}": f"v{i}" for i in range(1000)})

        async def one(i: int) -> None:
            kind = i % 4
            if kind == 0:
                assert await client.get(f"r{i}") == f"v{i}"
            elif kind == 1:
                assert await client.set(f"w{i}", f"x{i}") is True
                assert await client.get(f"w{i}") == f"x{i}"
            elif kind == 2:
                assert await client.get_bulk([f"r{i}", f"r{i - 1}"]) == {f"r{i}": f"v{i}", f"r{i - 1}": f"v{i - 1}"}
            else:
                assert await client.incr(f"n{i % 10}") >= 1

        await asyncio.gather(*(one(i) for i in range(1000)))
        assert pool.most_in_use <= 4
        assert len(pool.made) <= 4
        assert client.pool.in_use_count == 0
        counters = {f"n{i % 10}" for i in range(3, 1000, 4)}
        assert sum([await client.incr(key, 0) for key in counters]) == 250  # no increment lost or doubled
        await client.close()

    run(loop_kind, main)


@pytest.mark.server
def test_a_waiter_times_out_when_every_connection_is_held(tt_server: Any, loop_kind: str) -> None:
    async def main() -> None:
        client = AsyncTokyoTyrant(tt_server.host, tt_server.port, max_connections=1, wait_timeout=0.05)
        await client.set("k", "v")
        held = await client.pool.acquire()
        with pytest.raises(KtTimeoutError, match=r"no connection to .* became free within 0\.05s "
                                                 r"\(max_connections=1\)"):
            await client.get("k")
        client.pool.release(held)
        assert await client.get("k") == "v"
        await client.close()

    run(loop_kind, main)
