"""The serializer protocol and the errors every serializer shares."""

from __future__ import annotations

from typing import Any, Protocol, Union, runtime_checkable

__all__ = [
    "BytesLike",
    "MissingDependencyError",
    "SerializationError",
    "Serializer",
    "UnknownSerializerError",
    "type_name",
]

BytesLike = Union[bytes, bytearray, memoryview]
"""What the ``loads`` of the built-in serializers accept (``bytes`` is what clients pass)."""


@runtime_checkable
class Serializer(Protocol):
    """What a client needs from a serializer: turn a value into bytes and back.

    ``dumps(value)`` returns the ``bytes`` stored on the server. It must reject a value it cannot encode with a
    ``TypeError`` (wrong type) or ``ValueError`` (right type, unrepresentable content) *before* anything is sent,
    and the message should name the serializer and the value's type.

    ``loads(data)`` turns bytes read from the server back into a value. Malformed data raises ``ValueError``
    (the built-ins raise :class:`SerializationError`).

    A serializer object is shared: :func:`kt_serializers.get_serializer` caches one instance per name and clients
    may call it from several threads, so ``dumps``/``loads`` must not keep per-call state on the object.

    Any object with these two methods qualifies; there is nothing to subclass.
    """

    def dumps(self, value: Any) -> bytes:
        """Encode *value* as the bytes to store."""
        ...

    def loads(self, data: bytes) -> Any:
        """Decode bytes read from the server into a value."""
        ...


class SerializationError(ValueError):
    """A value's content cannot be encoded, or stored bytes cannot be decoded, by a serializer."""


class UnknownSerializerError(LookupError, ValueError):
    """No serializer is registered under the requested name. The message lists the installed names."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = list(available)
        listed = ", ".join(repr(n) for n in self.available) or "(none)"
        super().__init__(
            f"unknown serializer {name!r}; installed serializers: {listed}. "
            f"Third-party serializers register an entry point in the 'kt.serializers' group."
        )

    def __str__(self) -> str:  # LookupError would otherwise repr() a KeyError-like single arg
        return str(self.args[0])


class MissingDependencyError(ImportError):
    """A serializer needs an optional dependency that is not installed. The message says how to install it."""


def type_name(value: object) -> str:
    """The qualified type name of *value*, for error messages."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
