"""Pipelines: many commands in one write, their replies read in order, on any client.

``client.pipeline()`` gives an object with the client's command methods; each call queues the
command (nothing is sent) and returns the pipeline, so calls chain. ``execute()`` runs them: the
queued commands' requests go out in chunks of at most :data:`CHUNK_BYTES`, with at most two chunks
unanswered, and the replies are read in order; each reply goes back into its command, which
returns the value the client method returns. Commands that need a second request (a Kyoto Tycoon
database name resolved on first use) send it in a later round.

The execution is itself a command (``_pipeline_steps``): it yields ``Send`` and ``ReadMany``
operations, so the blocking client runs it on its thread's connection and the asyncio client on
one connection of its pool, with the same code. No I/O here.

Errors: an error a command raises (a server error, a bad argument found when the command is
encoded) goes in its slot; ``raise_on_error=True`` raises the first one after every reply has been
read, so the connection stays in step. A connection failure or bad bytes mid-pipeline raise
:class:`~kt_core.errors.PipelineError` (how many replies were read) and the connection is dropped;
nothing is retried, since the writes beyond that point may or may not have been applied.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from ..command import Call, Close, ReadMany, Send, command, commands_of
from ..errors import InvalidArgumentError, KtConnectionError, PipelineError, ProtocolError

__all__ = ["CHUNK_BYTES", "AsyncPipeline", "Pipeline", "install_pipeline_commands"]

#: Request bytes per write. Two chunks at most are unanswered, and each fits in the kernel's
#: socket buffers on both sides, so the server never blocks writing replies while the client
#: blocks writing requests.
CHUNK_BYTES = 32 * 1024
#: Commands per chunk at most (many tiny requests: bounds the replies one read loop waits for).
CHUNK_COMMANDS = 2048

P = TypeVar("P", bound="_PipelineBase")


class _Slot:
    """One queued command: its call until it starts, then its generator, then its result."""

    __slots__ = ("call", "done", "gen", "op", "result")

    def __init__(self, call: tuple[Any, ...]) -> None:
        self.call: tuple[Any, ...] | None = call
        self.gen: Generator[Any, Any, Any] | None = None
        self.op: Any = None
        self.result: Any = None
        self.done = False


class _Failed:
    """An error in a slot (kept apart from a command that returns an exception object)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _advance(slot: _Slot, value: Any) -> None:
    """Send ``value`` into the slot's command (starting it first): its next operation, or its result."""
    gen = slot.gen
    try:
        if gen is None:
            fn, client, args, kwargs = slot.call  # type: ignore[misc]
            slot.call = None
            gen = slot.gen = fn(client, *args, **kwargs)
        op = gen.send(value)
    except StopIteration as stop:
        slot.done, slot.result, slot.op, slot.gen = True, stop.value, None, None
        return
    except Exception as exc:
        slot.done, slot.result, slot.op, slot.gen = True, _Failed(exc), None, None
        return
    slot.op = op


def _pipeline_steps(slots: list[_Slot]) -> Generator[Any, Any, int]:
    """Run every slot's command to its end; returns the number of replies read."""
    read = 0
    total = len(slots)
    close_after = False
    work: deque[_Slot] = deque(slots)
    while work:
        # One round: each command still running sends its next request. A command's first step (its
        # argument checks and encoding) runs here, chunk by chunk: the encoded requests of one chunk
        # at a time are held, never those of the whole pipeline.
        later: deque[_Slot] = deque()
        outstanding: deque[list[_Slot]] = deque()
        while work or outstanding:
            while work and len(outstanding) < 2:
                batch: list[_Slot] = []
                parts: list[bytes] = []
                size = 0
                while work and len(batch) < CHUNK_COMMANDS and size < CHUNK_BYTES:
                    slot = work[0]
                    if slot.op is None and not slot.done:
                        _advance(slot, None)
                    op = slot.op
                    if slot.done:
                        work.popleft()
                        continue
                    if type(op) is Close:
                        # The server said it closes the connection after that reply: the command goes
                        # on, and the pipeline's connection is closed once this round's replies are in.
                        work.popleft()
                        close_after = True
                        slot.op = None
                        _advance(slot, None)
                        if not slot.done:
                            later.append(slot)
                        continue
                    data = op.data
                    if outstanding and size + len(data) > CHUNK_BYTES and not batch:
                        break  # a large request goes out only when nothing else is unanswered
                    work.popleft()
                    kind = type(op)
                    if kind is Call and op.on is None:
                        batch.append(slot)
                    elif kind is Send and op.on is None:
                        slot.op = None  # no reply: it goes out with the batch and its command goes on
                        _advance(slot, None)
                        if not slot.done:
                            later.append(slot)
                    else:
                        if slot.gen is not None:
                            slot.gen.close()
                        slot.done, slot.op, slot.gen = True, None, None
                        slot.result = _Failed(InvalidArgumentError(f"{op!r} cannot run in a pipeline"))
                        continue
                    parts.append(data)
                    size += len(data)
                if not parts:
                    break
                yield Send(b"".join(parts))
                del parts
                outstanding.append(batch)
            if not outstanding:
                continue
            batch = outstanding.popleft()
            replies, error = yield ReadMany([(slot.op.read, slot.op.args) for slot in batch])
            for slot, reply in zip(batch, replies):
                # _advance, inline: this runs once per command of the pipeline.
                try:
                    slot.op = slot.gen.send(reply)  # type: ignore[union-attr]
                except StopIteration as stop:
                    slot.done, slot.result, slot.op, slot.gen = True, stop.value, None, None
                    continue
                except Exception as exc:
                    slot.done, slot.result, slot.op, slot.gen = True, _Failed(exc), None, None
                    continue
                later.append(slot)
            read += len(replies)
            if error is not None:
                for pending in slots:
                    if pending.gen is not None:
                        pending.gen.close()
                if not isinstance(error, (KtConnectionError, ProtocolError)):
                    raise error
                raise PipelineError(
                    f"pipeline of {total} commands failed after {read} replies were read: {error}; the "
                    "connection was discarded and the commands not yet answered may or may not have been applied",
                    read, total) from error
        work = later
    if close_after:
        yield Close()
    return read


class _PipelineBase:
    """Commands queued for one client; ``execute()`` sends them (see the module doc)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._queued: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self._queued)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}: {len(self._queued)} queued>"

    def reset(self) -> None:
        """Drop every queued command."""
        self._queued = []

    def _queue(self: P, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> P:
        self._queued.append((fn, args, kwargs))
        return self

    def _slots(self) -> list[_Slot]:
        queued, self._queued = self._queued, []
        client = self._client
        return [_Slot((fn, client, args, kwargs)) for fn, args, kwargs in queued]

    @staticmethod
    def _results(slots: list[_Slot], raise_on_error: bool) -> list[Any]:
        results = []
        first: BaseException | None = None
        for slot in slots:
            value = slot.result
            if type(value) is _Failed:
                value = value.error
                if first is None:
                    first = value
            results.append(value)
        if raise_on_error and first is not None:
            raise first
        return results

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Callable[..., Any]: ...


class Pipeline(_PipelineBase):
    """A blocking client's pipeline (``client.pipeline()``); also a context manager."""

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send every queued command and return their results in order (see the module doc)."""
        slots = self._slots()
        if slots:
            self._client._run(_pipeline_steps(slots))
        return self._results(slots, raise_on_error)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.reset()


class AsyncPipeline(_PipelineBase):
    """An asyncio client's pipeline: ``await pipe.execute()``; also ``async with``."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send every queued command and return their results in order (see the module doc)."""
        slots = self._slots()
        if slots:
            await self._client._arun(_pipeline_steps(slots))
        return self._results(slots, raise_on_error)

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.reset()


def _queue_method(name: str, cmd: command[Any, Any]) -> Callable[..., Any]:
    fn = cmd.fn

    def method(self: _PipelineBase, *args: Any, **kwargs: Any) -> Any:
        return self._queue(fn, args, kwargs)

    functools.update_wrapper(method, fn)
    method.__doc__ = f"Queue ``{name}`` (see the client's method); returns the pipeline."
    return method


def _refused_method(name: str, cmd: command[Any, Any]) -> Callable[..., Any]:
    def method(self: _PipelineBase, *args: Any, **kwargs: Any) -> Any:
        raise InvalidArgumentError(
            f"{name} cannot be queued in a pipeline: it streams, holds a connection of its own, or its requests "
            "depend on earlier replies; call it on the client")

    functools.update_wrapper(method, cmd.fn)
    return method


def install_pipeline_commands(pipeline_cls: type[P], commands_cls: type) -> type[P]:
    """Give ``pipeline_cls`` a queuing method for each command of ``commands_cls`` (the refused
    ones raise at queue time). Private and dunder commands are left out: a pipeline is not a mapping."""
    for name, cmd in commands_of(commands_cls).items():
        if name.startswith("_"):
            continue
        maker = _queue_method if cmd.pipelined else _refused_method
        setattr(pipeline_cls, name, maker(name, cmd))
    return pipeline_cls
