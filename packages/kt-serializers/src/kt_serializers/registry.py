"""Finding serializers: the ``kt.serializers`` entry-point group, a cache, and :func:`get_serializer`.

Every serializer is registered as an entry point in the ``kt.serializers`` group; the entry point's name is the
serializer's name and its object is either a class / zero-argument factory that returns a serializer, or a ready
serializer object (anything with ``dumps`` and ``loads``). The group is read once (cached) and each serializer is
created once per name, so ``get_serializer("json")`` after the first call is a dictionary look-up.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from typing import Any, Callable, Union

from .base import Serializer, UnknownSerializerError, type_name
from .builtin import (
    KT_BINARY,
    KT_JSON,
    KT_MSGPACK,
    KT_NONE,
    KT_PICKLE,
    TT_TABLE,
    BinarySerializer,
    JsonSerializer,
    MsgpackSerializer,
    NoneSerializer,
    PickleSerializer,
    TableSerializer,
)
from .compress import ZlibSerializer

__all__ = ["ENTRY_POINT_GROUP", "available_serializers", "get_serializer", "refresh_serializers"]

ENTRY_POINT_GROUP = "kt.serializers"
"""The entry-point group serializers register in."""

_OWN_DISTRIBUTION = "kt-serializers"
_OWN_MODULE_PREFIX = "kt_serializers."

# The built-ins, also declared as entry points in pyproject.toml. This table is only the fallback used when the
# installed metadata is missing (e.g. the source tree is on sys.path without an install); it also reserves these
# names, so a third-party package cannot silently replace KT_BINARY and friends.
_BUILTINS: dict[str, Callable[[], Any]] = {
    KT_BINARY: BinarySerializer,
    KT_JSON: JsonSerializer,
    KT_MSGPACK: MsgpackSerializer,
    KT_NONE: NoneSerializer,
    KT_PICKLE: PickleSerializer,
    TT_TABLE: TableSerializer,
    "zlib": ZlibSerializer,
}


def _group_entry_points() -> Iterable[metadata.EntryPoint]:
    if sys.version_info >= (3, 10):
        return metadata.entry_points(group=ENTRY_POINT_GROUP)
    return metadata.entry_points().get(ENTRY_POINT_GROUP, ())  # pragma: no cover - Python 3.9


def _distribution_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)  # Python 3.10+
    name = ""
    if dist is not None:
        name = dist.metadata["Name"] or ""
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_own(ep: metadata.EntryPoint) -> bool:
    dist = _distribution_name(ep)
    return dist == _OWN_DISTRIBUTION or (not dist and ep.value.startswith(_OWN_MODULE_PREFIX))


@cache
def _registered() -> dict[str, metadata.EntryPoint]:
    """Name -> entry point, read once. Conflicts are resolved deterministically, with a warning."""
    candidates: dict[str, list[metadata.EntryPoint]] = {}
    for ep in _group_entry_points():
        seen = candidates.setdefault(ep.name, [])
        if all(ep.value != other.value for other in seen):  # the same dist seen twice on sys.path is no conflict
            seen.append(ep)
    chosen: dict[str, metadata.EntryPoint] = {}
    for name, eps in candidates.items():
        if name in _BUILTINS:
            foreign = [ep for ep in eps if not _is_own(ep)]
            if foreign:
                warnings.warn(f"ignoring entry point(s) {[ep.value for ep in foreign]} in group "
                              f"{ENTRY_POINT_GROUP!r}: {name!r} is a built-in kt serializer name", RuntimeWarning,
                              stacklevel=2)
            own = [ep for ep in eps if _is_own(ep)]
            if own:
                chosen[name] = own[0]
            continue  # no own entry point: the built-in table serves it
        eps = sorted(eps, key=lambda ep: (_distribution_name(ep), ep.value))
        if len(eps) > 1:
            warnings.warn(f"serializer name {name!r} is registered more than once in group {ENTRY_POINT_GROUP!r} "
                          f"({[ep.value for ep in eps]}); using {eps[0].value!r}", RuntimeWarning, stacklevel=2)
        chosen[name] = eps[0]
    return chosen


def available_serializers() -> list[str]:
    """The names of the installed serializers, sorted: the built-ins and every ``kt.serializers`` entry point.

    Listing a name loads nothing, so ``"msgpack"`` is listed even when msgpack itself is not installed.
    """
    return sorted(set(_registered()) | set(_BUILTINS))


def _has_methods(obj: object) -> bool:
    return callable(getattr(obj, "dumps", None)) and callable(getattr(obj, "loads", None))


@cache
def _instance(name: str) -> Serializer:
    ep = _registered().get(name)
    target: object
    if ep is not None:
        try:
            target = ep.load()
        except Exception as exc:
            raise ImportError(f"serializer {name!r}: entry point {ep.value!r} in group {ENTRY_POINT_GROUP!r} "
                              f"failed to load: {exc}") from exc
        where = f"entry point {ep.value!r}"
    elif name in _BUILTINS:
        target = _BUILTINS[name]
        where = f"built-in {name!r}"
    else:
        raise UnknownSerializerError(name, available_serializers())
    # A class has dumps/loads attributes too, so classes are always called; so is any callable without them.
    if isinstance(target, type) or (callable(target) and not _has_methods(target)):
        target = target()
    if not _has_methods(target):
        raise TypeError(f"serializer {name!r} ({where}) is a {type_name(target)}, not a serializer: "
                        f"it needs dumps() and loads() methods")
    return target  # type: ignore[return-value]  # checked structurally just above


def get_serializer(spec: Union[str, Serializer]) -> Serializer:
    """Resolve a client's ``serializer=`` argument to a serializer object.

    *spec* is a registered name — one of the constants (``KT_BINARY``, ``KT_JSON``, ``KT_MSGPACK``, ``KT_NONE``,
    ``KT_PICKLE``, ``TT_TABLE``), ``"zlib"``, or a name a third-party package registered in the ``kt.serializers``
    entry-point group — or an object with ``dumps`` and ``loads`` methods, which is returned as it is.

    Named serializers are created once and cached; the returned object is shared.

    Raises :class:`UnknownSerializerError` (a ``LookupError`` and ``ValueError``) for an unknown name, listing the
    installed names; :class:`MissingDependencyError` (an ``ImportError``) when the serializer needs a package that is
    not installed (``KT_MSGPACK`` without msgpack); ``TypeError`` for anything that is neither a name nor a
    serializer object (a serializer *class* must be instantiated first).
    """
    if isinstance(spec, str):
        return _instance(spec)
    if isinstance(spec, type):
        raise TypeError(f"serializer must be an instance or a registered name, got the class {spec.__qualname__}; "
                        f"pass {spec.__qualname__}() instead")
    if _has_methods(spec):
        return spec
    raise TypeError(f"serializer must be a registered name (one of {', '.join(available_serializers())}) or an "
                    f"object with dumps() and loads() methods, got {type_name(spec)}")


def refresh_serializers() -> None:
    """Forget the cached entry points and serializer instances, e.g. after installing a plugin at runtime."""
    _registered.cache_clear()
    _instance.cache_clear()
