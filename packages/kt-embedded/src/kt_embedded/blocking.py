"""A blocking face on an asyncio client, so one test suite runs on the blocking and the asyncio clients.

``BlockingFacade(AsyncKyotoTycoon(...))`` answers every call the way ``KyotoTycoon(...)`` does: a
coroutine is run to its result on the facade's own event loop, an async iterator becomes an
iterator, an asyncio cursor gets a facade of its own. What Python cannot await (``len()``, ``in``,
``client[k] = v``, ``del client[k]``, iteration) the facade runs through the client's own command,
the one the blocking client runs, on the asyncio client's runner. So the tests written for the
blocking clients check the asyncio clients too, without a copy.

This is test support: a real program uses ``await`` (a facade blocks its thread, and one facade must
not be used by several threads at once).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

from kt_core.command import AsyncRunner, command
from kt_core.io.pipeline import AsyncPipeline

__all__ = ["BlockingFacade"]


def _find_command(cls: type, name: str) -> command[Any, Any] | None:
    for klass in cls.__mro__:
        value = vars(klass).get(name)
        if isinstance(value, command):
            return value
    return None


class BlockingFacade:
    """Runs ``target``'s coroutines to completion on ``loop`` (a new event loop by default)."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_owns_loop", loop is None)
        object.__setattr__(self, "_loop", loop or asyncio.new_event_loop())

    @property
    def wrapped(self) -> Any:
        """The asyncio object behind the facade."""
        return self._target

    def close_loop(self) -> None:
        """Close the facade's event loop (after the client is closed)."""
        if self._owns_loop and not self._loop.is_closed():
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    # ------------------------------------------------------------------ resolving results

    def _resolve(self, result: Any) -> Any:
        if inspect.isawaitable(result):
            result = self._loop.run_until_complete(result)
        if isinstance(result, (AsyncRunner, AsyncPipeline)) or type(result).__name__ == "ScriptRunner":
            return BlockingFacade(result, self._loop)  # before the check below: a cursor iterates too
        if hasattr(result, "__anext__"):
            return self._iterate(result)
        return result

    def _iterate(self, agen: AsyncIterator[Any]) -> Iterator[Any]:
        loop = self._loop
        try:
            while True:
                try:
                    item = loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and not loop.is_closed():
                loop.run_until_complete(aclose())

    def _command(self, name: str, *args: Any) -> Any:
        """Run the command ``name`` (a dunder the asyncio class cannot offer) on the asyncio runner."""
        target = self._target
        found = _find_command(type(target), name)
        if found is None:
            return self._resolve(getattr(target, name)(*args))
        steps = found.fn(target, *args)
        if found.iterates:
            return self._iterate(target._arun_iter(steps))
        return self._loop.run_until_complete(target._arun(steps))

    # ------------------------------------------------------------------ attribute access

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._resolve(value(*args, **kwargs))

            call.__name__ = name
            return call
        return self._resolve(value)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __repr__(self) -> str:
        return f"<BlockingFacade {self._target!r}>"

    def __enter__(self) -> BlockingFacade:
        return self

    def __exit__(self, *exc_info: object) -> None:
        target = self._target
        if hasattr(target, "__aexit__"):
            self._resolve(target.__aexit__(*exc_info))
        elif hasattr(target, "close"):
            self._resolve(target.close())

    # The dunders the blocking clients and cursors have, run through their commands.
    def __getitem__(self, key: Any) -> Any:
        return self._command("__getitem__", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._command("__setitem__", key, value)

    def __delitem__(self, key: Any) -> None:
        self._command("__delitem__", key)

    def __contains__(self, key: Any) -> bool:
        return bool(self._command("__contains__", key))

    def __len__(self) -> int:
        if _find_command(type(self._target), "__len__") is None and not hasattr(self._target, "__len__"):
            raise TypeError(f"object of type {type(self._target).__name__} has no len()")  # list() asks
        return int(self._command("__len__"))

    def __iter__(self) -> Iterator[Any]:
        target = self._target
        if _find_command(type(target), "__iter__") is not None:
            return iter(self._command("__iter__"))
        return self._iterate(target.__aiter__())

    def __next__(self) -> Any:
        try:
            return self._loop.run_until_complete(self._target.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def next(self) -> Any:
        return self.__next__()
