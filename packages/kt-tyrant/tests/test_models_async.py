"""kt_tyrant.models on asyncio: AsyncModel on an AsyncTableDatabase answers every call as the
blocking Model does on the same server (results, types, errors), as coroutines.

Each test builds the same model class on both bases, runs the asyncio side on its own event loop
(the default loop and uvloop where installed), and checks it against the blocking side and the
records the server holds, on every server backend (``tt_table_server``).
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from kt_core.errors import TokyoTyrantError
from kt_tyrant.models import (
    AsyncModel,
    AsyncModelSearch,
    AsyncTableDatabase,
    DateTimeField,
    IntegerField,
    Model,
    ModelSearch,
    TableDatabase,
    TextField,
    TokenField,
)

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is an optional extra
    uvloop = None  # type: ignore[assignment]

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])
_T = TypeVar("_T")


def _model(base: type[Model], name: str) -> Any:
    """One model class on ``base``: the asyncio and the blocking one are declared alike."""
    return type(name, (base,), {
        "name": TextField(index=True),
        "age": IntegerField(index=True),
        "tags": TokenField(index=True),
        "joined": DateTimeField(),
        "__module__": __name__,
    })


BlockingPet = _model(Model, "BlockingPet")
AsyncPet = _model(AsyncModel, "AsyncPet")
PETS = {
    "huey": dict(name="huey", age=3, tags="cat orange", joined=datetime.datetime(2020, 1, 1, 10, 0, 0, 500)),
    "mickey": dict(name="mickey", age=5, tags="dog black", joined=datetime.datetime(2020, 2, 1, 9, 30)),
    "zaizee": dict(name="zaizee", age=2, tags="cat grey", joined=datetime.datetime(2021, 3, 1, 8, 15)),
    "beanie": dict(name="beanie", age=10, tags="dog brown", joined=datetime.datetime(2019, 12, 31, 23, 59)),
}
COLUMNS = ("name", "age", "tags", "joined")


@pytest.fixture(params=LOOPS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def blocking(tt_table_server: Any) -> Iterator[TableDatabase]:
    """The blocking database of the same server, cleared and without indexes."""
    db = TableDatabase(host=tt_table_server.host, port=tt_table_server.port, timeout=10.0)
    db.clear()
    for column in ("name", "age", "tags"):
        db.delete_index(column)
    BlockingPet.__database__ = db
    yield db
    BlockingPet.__database__ = None
    db.close()


@pytest.fixture
def run(tt_table_server: Any, blocking: TableDatabase, loop_kind: str) -> Iterator[Callable[..., Any]]:
    """``run(coro_fn)``: ``coro_fn()`` on a fresh loop, with AsyncPet on an AsyncTableDatabase."""

    def go(coro_fn: Callable[[], Awaitable[_T]]) -> _T:
        async def main() -> _T:
            async with AsyncTableDatabase(host=tt_table_server.host, port=tt_table_server.port,
                                          timeout=10.0) as db:
                AsyncPet.__database__ = db
                try:
                    return await coro_fn()
                finally:
                    AsyncPet.__database__ = None

        if loop_kind == "uvloop":
            return uvloop.run(main())
        return asyncio.run(main())

    yield go


def _fields(instance: Any) -> dict[str, Any]:
    return {"key": instance.key, **{column: getattr(instance, column) for column in COLUMNS}}


def _create_all_blocking() -> None:
    for key, data in PETS.items():
        BlockingPet.create(key, **data)


def test_async_model_calls_are_coroutines_and_searches_are_async(run: Callable[..., Any]) -> None:
    async def check() -> None:
        pet = AsyncPet(key="huey", **PETS["huey"])
        calls = {
            "save": lambda: pet.save(), "delete": lambda: pet.delete(),
            "create": lambda: AsyncPet.create("x", name="x"), "get": lambda: AsyncPet.get("x"),
            "get_list": lambda: AsyncPet.get_list(["x"]), "create_list": lambda: AsyncPet.create_list([pet]),
            "delete_list": lambda: AsyncPet.delete_list(["x"]), "all": lambda: AsyncPet.all(),
            "count": lambda: AsyncPet.count(), "create_indexes": lambda: AsyncPet.create_indexes(),
            "optimize_indexes": lambda: AsyncPet.optimize_indexes(), "drop_indexes": lambda: AsyncPet.drop_indexes(),
            "query.execute": lambda: AsyncPet.query().execute(), "query.get": lambda: AsyncPet.query().get(),
            "query.count": lambda: AsyncPet.query().count(),
            "query.delete": lambda: AsyncPet.query().filter(AsyncPet.name == "nobody").delete(),
            "Model[key]": lambda: AsyncPet["huey"],
        }
        for name, call in calls.items():
            pending = call()
            assert inspect.iscoroutine(pending), name
            try:
                await pending
            except KeyError:
                assert name in ("get", "Model[key]")
        search = AsyncPet.query().filter(AsyncPet.age > 1).order_by(AsyncPet.age).limit(2).offset(1)
        assert isinstance(search, AsyncModelSearch) and isinstance(search.clone(), AsyncModelSearch)

    run(check)


def test_async_create_get_and_save_store_what_the_blocking_model_reads(run: Callable[..., Any]) -> None:
    async def write() -> tuple[Any, Any]:
        created = await AsyncPet.create("huey", **PETS["huey"])
        pet = AsyncPet(key="mickey", **PETS["mickey"])
        saved = await pet.save()
        return created, saved

    created, saved = run(write)
    assert isinstance(created, AsyncPet) and saved is True
    for key in ("huey", "mickey"):
        assert _fields(BlockingPet.get(key)) == {"key": key, **PETS[key]}

    async def read() -> Any:
        return await AsyncPet.get("huey")

    pet = run(read)
    assert isinstance(pet, AsyncPet) and _fields(pet) == _fields(BlockingPet.get("huey"))


def test_async_get_of_a_missing_key_raises_key_error(run: Callable[..., Any]) -> None:
    async def read(key: str) -> Any:
        return await AsyncPet.get(key)

    with pytest.raises(KeyError) as blocking_error:
        BlockingPet.get("nobody")
    with pytest.raises(KeyError) as async_error:
        run(lambda: read("nobody"))
    assert async_error.value.args == blocking_error.value.args == ("nobody",)


def test_async_bulk_calls_answer_as_the_blocking_ones(run: Callable[..., Any]) -> None:
    async def bulk() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["create_list"] = await AsyncPet.create_list([AsyncPet(key=k, **v) for k, v in PETS.items()])
        out["get_list"] = [_fields(p) for p in await AsyncPet.get_list(["zaizee", "nobody", "huey"])]
        out["all"] = sorted((_fields(p) for p in await AsyncPet.all()), key=lambda f: f["key"])
        out["count"] = await AsyncPet.count()
        out["delete"] = await (await AsyncPet.get("beanie")).delete()
        out["delete_list"] = await AsyncPet.delete_list(["mickey", "nobody"])
        out["left"] = await AsyncPet.count()
        return out

    got = run(bulk)
    _create_all_blocking()
    want = {
        "create_list": True,
        "get_list": [_fields(p) for p in BlockingPet.get_list(["zaizee", "nobody", "huey"])],
        "all": sorted((_fields(p) for p in BlockingPet.all()), key=lambda f: f["key"]),
        "count": BlockingPet.count(),
        "delete": BlockingPet.get("beanie").delete(),
        "delete_list": BlockingPet.delete_list(["mickey", "nobody"]),
        "left": BlockingPet.count(),
    }
    assert got == want
    assert [f["key"] for f in got["get_list"]] == ["zaizee", "huey"] and got["left"] == 2


SEARCHES: list[Callable[[Any], Any]] = [
    lambda m: m.query(),
    lambda m: m.query().filter(m.age > 2).order_by(m.age.desc()),
    lambda m: m.query().filter(m.tags.contains_any("cat")).order_by(m.name),
    lambda m: m.query().filter(m.name.startswith("m")),
    lambda m: m.query().order_by(m.age).limit(2).offset(1),
    lambda m: m.query().filter(m.age.between(2, 5), m.name != "huey"),
]


@pytest.mark.parametrize("search", SEARCHES)
def test_async_searches_answer_as_the_blocking_ones(run: Callable[..., Any], search: Callable[[Any], Any]) -> None:
    _create_all_blocking()
    ordered = search(BlockingPet)._order_by != []

    async def query() -> dict[str, Any]:
        q = search(AsyncPet)
        keys = await q.execute()
        walked = [key async for key in q]
        return {"execute": keys, "walk": walked, "get": [_fields(p) for p in await q.get()],
                "count": await q.count()}

    got = run(query)
    q = search(BlockingPet)
    want = {"execute": q.execute(), "walk": list(q), "get": [_fields(p) for p in q.get()], "count": q.count()}
    if not ordered:  # without an order the server's order is its own: compare as sets
        got = {k: sorted(v, key=str) if isinstance(v, list) else v for k, v in got.items()}
        want = {k: sorted(v, key=str) if isinstance(v, list) else v for k, v in want.items()}
    assert got == want and got["execute"] == got["walk"]


def test_async_search_delete_removes_what_it_matches(run: Callable[..., Any]) -> None:
    _create_all_blocking()

    async def delete() -> Any:
        return await AsyncPet.query().filter(AsyncPet.tags.contains_any("dog")).delete()

    assert run(delete) is True
    assert sorted(BlockingPet.query().execute()) == ["huey", "zaizee"]


def test_async_indexes_answer_as_the_blocking_ones(run: Callable[..., Any], blocking: TableDatabase) -> None:
    _create_all_blocking()

    async def indexes() -> list[Any]:
        return [await AsyncPet.create_indexes(), await AsyncPet.optimize_indexes(), await AsyncPet.drop_indexes(),
                await AsyncPet.drop_indexes()]

    got = run(indexes)
    want = [BlockingPet.create_indexes(), BlockingPet.optimize_indexes(), BlockingPet.drop_indexes(),
            BlockingPet.drop_indexes()]
    assert got == want == [True, True, True, False]
    run(lambda: AsyncPet.create_indexes())

    async def unsafe() -> Any:
        return await AsyncPet.create_indexes(safe=False)

    with pytest.raises(TokyoTyrantError):
        run(unsafe)


def test_async_model_item_access_awaits_and_what_cannot_be_awaited_says_what_to_use(
        run: Callable[..., Any]) -> None:
    _create_all_blocking()

    async def access() -> dict[str, Any]:
        out: dict[str, Any] = {"one": _fields(await AsyncPet["huey"]),
                               "many": [_fields(p) for p in await AsyncPet[["mickey", "nobody"]]]}
        def set_item() -> None:
            AsyncPet["x"] = {"name": "x"}

        def del_item() -> None:
            del AsyncPet["huey"]

        for what, action in {"set": set_item, "del": del_item, "for": lambda: iter(AsyncPet.query())}.items():
            with pytest.raises(TypeError, match=r"await|async for") as error:
                action()
            out[what] = str(error.value)
        return out

    got = run(access)
    assert got["one"] == _fields(BlockingPet["huey"])
    assert got["many"] == [_fields(p) for p in BlockingPet[["mickey", "nobody"]]]
    assert "Model.create" in got["set"] and "delete" in got["del"] and "async for" in got["for"]
    assert BlockingPet.count() == len(PETS)  # the refused calls changed nothing


def test_a_plain_model_on_an_async_table_database_is_asyncio_too(run: Callable[..., Any]) -> None:
    async def plain() -> tuple[Any, Any, Any]:
        BlockingPet.__database__ = AsyncPet.__database__
        try:
            created = await BlockingPet.create("huey", **PETS["huey"])
            return created, await BlockingPet.get("huey"), await BlockingPet.query().count()
        finally:
            BlockingPet.__database__ = None

    blocking_db = BlockingPet.__database__
    created, got, count = run(plain)
    BlockingPet.__database__ = blocking_db
    assert isinstance(created, BlockingPet) and _fields(got) == {"key": "huey", **PETS["huey"]} and count == 1
    assert isinstance(BlockingPet.query(), ModelSearch)
