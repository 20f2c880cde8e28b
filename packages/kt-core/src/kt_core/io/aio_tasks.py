"""Small asyncio helpers for the layers above the clients (the sharded clients): running several
calls at once, waiting, and a periodic background task.

They live here so that ``asyncio`` is imported in one place (kt_core.io), and so that what a
fan-out does when one of its calls fails or the caller is cancelled is decided once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

__all__ = ["Periodic", "gather_settled", "sleep"]


async def gather_settled(calls: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run ``calls`` concurrently and return their results in order.

    Every call runs to its end even when another fails (a bulk write's other parts are done, as the
    blocking fan-out does them); then the first error, in call order, is raised. If the caller is
    cancelled, every call still running is cancelled with it.
    """
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


async def sleep(seconds: float) -> None:
    """``asyncio.sleep``: a retry's backoff."""
    await asyncio.sleep(seconds)


class Periodic:
    """``await fn()`` every ``interval`` seconds in a task of the running loop, until :meth:`stop`.

    An error ``fn`` raises does not end the task: the next round runs (a health check that fails is
    tried again). Must be created while an event loop runs.
    """

    def __init__(self, interval: float, fn: Callable[[], Awaitable[Any]], name: str | None = None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("a periodic task needs a running event loop: start it inside a coroutine") from None
        self.interval = interval
        self._fn = fn
        self._task = loop.create_task(self._loop(), name=name)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._fn()
            except Exception:
                continue

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended."""
        task = self._task
        if task.done():
            return
        task.cancel()
        # wait() does not raise the task's own CancelledError; a cancellation of the caller still propagates.
        await asyncio.wait([task])
