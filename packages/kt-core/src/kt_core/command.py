"""Client methods written once, for the blocking, the asyncio and the pipelined clients.

A client method is a *command*: a generator that builds its requests with the codec's encoders,
yields each one as an operation (an :class:`Op`), receives the reader function's result, and
returns the method's value. It does no I/O itself. What moves the bytes is the class the method is
installed on: the blocking client runs the generator on its thread's connection, the asyncio client
runs it in a coroutine on a connection of its pool, a pipeline queues it. So a new command is
written in one place and every client has it (see docs/async-and-commands.md)::

    class KyotoCommands:
        @command
        def get(self, key, db=None):
            reply = yield Call("get", encode_get_bulk(...), read_get_one)
            return self._load(reply[1])

    class KyotoTycoon(KyotoCommands, PooledClient): ...          # client.get(k) -> value
    class AsyncKyotoTycoon(KyotoCommands, AsyncPooledClient): ...  # await client.get(k) -> value

Iterating commands (``keys()``, a cursor walk) are marked :func:`iterator_command` and yield
:class:`Items` batches between their operations; the blocking client gives a generator of the items,
the asyncio client an async generator.

A command must not yield an operation from a ``finally`` clause or an ``except GeneratorExit``:
a caller that stops an iteration early closes the generator, and cleanup then has to be done
without a round trip (close the connection; the server forgets what it held for it).

This module is codec-side: it defines what a command may ask for and how the classes get their
methods, and imports nothing that does I/O.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = [
    "Acquire", "AsyncRunner", "Call", "Close", "Items", "Op", "Read", "ReadMany", "Send", "Steps", "SyncRunner",
    "command", "iterator_command", "install_commands", "commands_of", "unpipelined",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Op:
    """An operation a command asks its runner to perform."""

    __slots__ = ()


class Call(Op):
    """Send ``data`` and return ``read(buf, pos, end, limit, *args)``'s result for the reply.

    ``operation`` names it for the retry policy (a command-table entry or a method name, see
    kt_core.io.retry); None never retries. ``on`` is
    a connection the command holds (from :class:`Acquire`); by default the runner's own.
    """

    __slots__ = ("args", "data", "on", "operation", "read")

    def __init__(self, operation: Any, data: bytes, read: Callable[..., Any], *args: Any,
                 on: Any = None) -> None:
        self.operation = operation
        self.data = data
        self.read = read
        self.args = args
        self.on = on

    def __repr__(self) -> str:
        return f"Call({self.operation!r}, {len(self.data)} bytes, {getattr(self.read, '__name__', self.read)})"


class Send(Op):
    """Send ``data`` and read nothing: a request without a reply, or pipelined requests whose
    replies the command takes with :class:`Read`. Returns None."""

    __slots__ = ("data", "on")

    def __init__(self, data: bytes, on: Any = None) -> None:
        self.data = data
        self.on = on


class Read(Op):
    """Read one more reply (after :class:`Send`) with ``read(buf, pos, end, limit, *args)``."""

    __slots__ = ("args", "on", "read")

    def __init__(self, read: Callable[..., Any], *args: Any, on: Any = None) -> None:
        self.read = read
        self.args = args
        self.on = on


class ReadMany(Op):
    """Read one reply per ``(read, args)`` of ``reads``, in order (after :class:`Send` of a batch).

    Returns ``(replies, error)``: every reply, and None; or, when the connection failed or a reply
    was bad, the replies read before that and the error (the connection is then closed). A pipeline
    reads a whole batch with it, and must know how far it got either way.
    """

    __slots__ = ("on", "reads")

    def __init__(self, reads: list[tuple[Callable[..., Any], tuple[Any, ...]]], on: Any = None) -> None:
        self.reads = reads
        self.on = on


class Acquire(Op):
    """Take a connection of the command's own from the pool (a cursor's, a walk's): the blocking or
    the asyncio connection, whichever the runner uses. The command gives it back with
    ``pool.release(conn)`` and may ``conn.close()`` it; both are plain calls on either kind.

    ``timeout`` (seconds, or None for the pool's) makes a new connection outside the pool, with
    that timeout, for a long-lived stream; the command closes it.
    """

    __slots__ = ("fresh", "timeout")

    def __init__(self, fresh: bool = False, timeout: float | None = None) -> None:
        self.fresh = fresh
        self.timeout = timeout


class Close(Op):
    """Close the runner's connection (or ``on``), after a reply that said the server closes its side
    (an HTTP ``Connection: close``): it cannot take another request. Returns None."""

    __slots__ = ("on",)

    def __init__(self, on: Any = None) -> None:
        self.on = on


class Items:
    """A batch of values an iterator command gives its caller (not an operation)."""

    __slots__ = ("items",)

    def __init__(self, items: list[Any]) -> None:
        self.items = items


#: What a command function returns: a generator of operations (and, for iterator commands,
#: :class:`Items`) that receives each operation's result and returns the method's value.
Steps = Generator[Any, Any, T]


class SyncRunner:
    """Base of classes whose commands run to completion in the calling thread."""

    def _run(self, steps: Steps[T]) -> T:
        raise NotImplementedError

    def _run_iter(self, steps: Steps[Any]) -> Iterator[Any]:
        raise NotImplementedError


class AsyncRunner:
    """Base of classes whose commands are coroutines."""

    async def _arun(self, steps: Steps[T]) -> T:
        raise NotImplementedError

    def _arun_iter(self, steps: Steps[Any]) -> AsyncIterator[Any]:
        raise NotImplementedError


class command(Generic[P, R]):
    """Mark a generator method as a command; :func:`install_commands` turns it into the class's method.

    Typed so that on a :class:`SyncRunner` it reads as returning ``R`` and on an
    :class:`AsyncRunner` as returning ``Awaitable[R]``.
    """

    iterates = False
    #: Whether a pipeline may queue it (see kt_core.io.pipeline); :func:`unpipelined` clears it.
    pipelined = True

    def __init__(self, fn: Callable[Concatenate[Any, P], Steps[R]]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    if TYPE_CHECKING:
        @overload
        def __get__(self, obj: None, owner: type) -> command[P, R]: ...
        @overload
        def __get__(self, obj: SyncRunner, owner: type) -> Callable[P, R]: ...
        @overload
        def __get__(self, obj: AsyncRunner, owner: type) -> Callable[P, Awaitable[R]]: ...
        @overload
        def __get__(self, obj: object, owner: type) -> Callable[P, Any]: ...
        def __get__(self, obj: object, owner: type) -> Any: ...
    else:
        def __get__(self, obj, owner):
            # Reached only on a class that did not install its commands (a bare mixin).
            if obj is None:
                return self
            raise TypeError(f"{type(obj).__name__}.{self.fn.__name__} is a command of a class that is not a "
                            "client: subclass SyncRunner or AsyncRunner and call install_commands")


class iterator_command(command[P, R]):
    """Mark a generator method that yields :class:`Items`: a generator on a :class:`SyncRunner`, an
    async generator on an :class:`AsyncRunner`."""

    iterates = True
    pipelined = False

    if TYPE_CHECKING:
        @overload  # type: ignore[override]
        def __get__(self, obj: None, owner: type) -> iterator_command[P, R]: ...
        @overload
        def __get__(self, obj: SyncRunner, owner: type) -> Callable[P, Iterator[Any]]: ...
        @overload
        def __get__(self, obj: AsyncRunner, owner: type) -> Callable[P, AsyncIterator[Any]]: ...
        @overload
        def __get__(self, obj: object, owner: type) -> Callable[P, Any]: ...
        def __get__(self, obj: object, owner: type) -> Any: ...


C = TypeVar("C", bound=command[Any, Any])


def unpipelined(cmd: C) -> C:
    """Mark a command a pipeline refuses: one that holds a connection of its own, streams, or whose
    next request depends on a reply in a way a batch cannot carry (a pipeline raises at queue time)."""
    cmd.pipelined = False
    return cmd


_RUNNER_CALLS = {
    # (runner kind, iterates) -> the body of the method: how its generator is driven
    ("sync", False): "return {self}._run(_command_fn({args}))",
    ("sync", True): "return {self}._run_iter(_command_fn({args}))",
    # The generator's first step checks the arguments: a bad one raises at the await, as the
    # blocking method raises it at the call.
    ("async", False): "return await {self}._arun(_command_fn({args}))",
    ("async", True): "return {self}._arun_iter(_command_fn({args}))",
}


def _method_of(fn: Callable[..., Steps[Any]], kind: str, iterates: bool) -> Callable[..., Any]:
    """The method that drives ``fn``'s generator on the class's runner, with ``fn``'s own parameters
    (no ``*args, **kwargs`` repacking on every call: this is on every request's path)."""
    code = fn.__code__
    names = code.co_varnames
    npos, nposonly, nkw = code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount
    params = list(names[:npos])
    args = list(params)
    if nposonly:
        params.insert(nposonly, "/")
    extra = npos + nkw
    if code.co_flags & inspect.CO_VARARGS:
        params.append("*" + names[extra])
        args.append("*" + names[extra])
        extra += 1
    elif nkw:
        params.append("*")
    params += names[npos:npos + nkw]
    args += [f"{name}={name}" for name in names[npos:npos + nkw]]
    if code.co_flags & inspect.CO_VARKEYWORDS:
        params.append("**" + names[extra])
        args.append("**" + names[extra])
    body = _RUNNER_CALLS[kind, iterates].format(self=names[0], args=", ".join(args))
    prefix = "async " if kind == "async" and not iterates else ""
    source = (f"def make(_command_fn):\n    {prefix}def method({', '.join(params)}):\n        {body}\n"
              "    return method\n")
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # the source holds nothing but the code object's parameter names
    method = namespace["make"](fn)
    method.__defaults__ = fn.__defaults__
    method.__kwdefaults__ = fn.__kwdefaults__
    return method


def commands_of(cls: type) -> dict[str, command[Any, Any]]:
    """Every command ``cls`` has, by method name (the most derived definition wins)."""
    found: dict[str, command[Any, Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, command):
                found[name] = value
            elif name in found:
                del found[name]  # overridden by a plain method
    return found


def _value_signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    """The signature of the method a plain command becomes: returning the command's value, so
    ``-> Steps[bool]`` reads ``-> bool`` (what the blocking method returns and the coroutine gives)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    annotation = signature.return_annotation
    if isinstance(annotation, str):  # postponed annotations: the text as written
        if annotation.startswith("Steps[") and annotation.endswith("]"):
            return signature.replace(return_annotation=annotation[6:-1])
        return None
    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is Generator and len(args) == 3:
        return signature.replace(return_annotation=args[2])
    return None


def install_commands(cls: type[T]) -> type[T]:
    """Class decorator: give ``cls`` a real method for each of its commands, driven by its runner."""
    if issubclass(cls, SyncRunner):
        kind = "sync"
    elif issubclass(cls, AsyncRunner):
        kind = "async"
    else:
        raise TypeError(f"{cls.__name__} is neither a SyncRunner nor an AsyncRunner")
    for name, cmd in commands_of(cls).items():
        method = _method_of(cmd.fn, kind, cmd.iterates)
        functools.update_wrapper(method, cmd.fn)
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        if not cmd.iterates:
            signature = _value_signature(cmd.fn)
            if signature is not None:
                method.__signature__ = signature  # type: ignore[attr-defined]
        setattr(cls, name, method)
    return cls
