"""The documented API, read from the spec, must all be importable from ``kt`` as written.

The spec text is a copy of the project's API document (testdata/spec/kt-api.txt). For every
class it lists, each documented method must exist with the documented parameter names and
defaults, and each documented property must exist; every documented constant must be exported
by ``kt`` and ``kt.constants``.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import kt
import pytest

SPEC = Path(__file__).resolve().parents[3] / "testdata" / "spec" / "kt-api.txt"
SHARED_SPEC = Path(__file__).resolve().parents[4] / "shared" / "spec" / "kt-api.txt"

CONSTANT_SECTIONS = {"Serializers", "Index types", "Filter types", "Ordering types"}
SIGNATURE = re.compile(r"^(?:class )?([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$")


def parse_spec(text: str) -> tuple[list[str], dict[str, list[tuple[str, str | None]]]]:
    """Return (constants, {class: [(member, argument text or None for a property)]})."""
    constants: list[str] = []
    classes: dict[str, list[tuple[str, str | None]]] = {}
    section = None
    current: str | None = None
    lines = [line.rstrip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        if line in CONSTANT_SECTIONS:
            section, current = line, None
            continue
        if line.startswith("class "):
            match = SIGNATURE.match(line)
            assert match, line
            current = match.group(1)
            classes[current] = [("__init__", match.group(2) or "")]
            section = None
            continue
        if section in CONSTANT_SECTIONS and re.fullmatch(r"[A-Z][A-Z0-9_]+", line):
            constants.append(line)
            continue
        if current is None or not line or line.startswith((" ", "\t", "•", ">>>")):
            continue
        match = SIGNATURE.match(line)
        if not match or not (match.group(1)[0].islower() or match.group(1).startswith("__")):
            continue
        name, args = match.group(1), match.group(2)
        if args is None:
            # A bare lower-case word followed by its description is a property (size, path, ...).
            following = next((x for x in lines[index + 1:] if x), "")
            if line.split()[0] != line or following.startswith(("Parameters", "Returns")):
                continue
            if name in {"size", "path", "error", "client"}:
                classes[current].append((name, None))
            continue
        classes[current].append((name, args))
    return constants, classes


def documented_parameters(args: str) -> list[tuple[str, object]]:
    """[(name, default or inspect.Parameter.empty)] for the spec's argument text."""
    tree = ast.parse(f"def f({args}): pass")
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    params: list[tuple[str, object]] = []
    positional = fn.args.args
    defaults = [inspect.Parameter.empty] * (len(positional) - len(fn.args.defaults)) + list(fn.args.defaults)
    for arg, default in zip(positional, defaults):
        if default is not inspect.Parameter.empty:
            default = eval(compile(ast.Expression(default), "<spec>", "eval"), vars(kt))
        params.append((arg.arg, default))
    if fn.args.kwarg is not None:
        params.append(("**" + fn.args.kwarg.arg, inspect.Parameter.empty))
    return params


CONSTANTS, CLASSES = parse_spec(SPEC.read_text(encoding="utf-8"))


def test_spec_copy_is_current() -> None:
    if SHARED_SPEC.exists():
        assert SPEC.read_bytes() == SHARED_SPEC.read_bytes(), "testdata/spec/kt-api.txt differs from the API document"


def test_spec_was_parsed() -> None:
    # Guards the parser itself: a spec change that it misreads must not pass silently.
    assert set(CLASSES) == {"KyotoTycoon", "TokyoTyrant", "QueryBuilder", "EmbeddedServer", "EmbeddedTokyoTyrantServer"}
    assert len(CONSTANTS) == 6 + 4 + 21 + 4  # serializers, index, filter (19 + NEGATE, NOINDEX), ordering
    assert (len(CLASSES["KyotoTycoon"]), len(CLASSES["TokyoTyrant"]), len(CLASSES["QueryBuilder"])) == (43, 50, 9)


@pytest.mark.parametrize("name", CONSTANTS)
def test_constant_exported(name: str) -> None:
    assert hasattr(kt, name), f"kt.{name} is missing"
    assert getattr(kt.constants, name) == getattr(kt, name)
    assert name in kt.__all__


MEMBERS = [(cls, name, args) for cls, members in CLASSES.items() for name, args in members]


@pytest.mark.parametrize(("cls_name", "member", "args"), MEMBERS, ids=[f"{c}.{m}" for c, m, _ in MEMBERS])
def test_member_matches_spec(cls_name: str, member: str, args: str | None) -> None:
    cls = getattr(kt, cls_name)
    assert hasattr(cls, member), f"{cls_name}.{member} is missing"
    attr = inspect.getattr_static(cls, member)
    if args is None:
        assert isinstance(attr, property), f"{cls_name}.{member} should be a property"
        return
    assert callable(getattr(cls, member))
    signature = inspect.signature(getattr(cls, member))
    actual = [p for p in signature.parameters.values() if p.name != "self"]
    expected = documented_parameters(args)
    by_name = {p.name: p for p in actual}
    for position, (name, default) in enumerate(expected):
        if name.startswith("**"):
            assert any(p.kind is p.VAR_KEYWORD for p in actual), f"{cls_name}.{member} takes no **{name[2:]}"
            continue
        if name.startswith("__"):
            # `__data` is name-mangled inside a class body: it must be the same positional slot.
            param = actual[position]
            assert param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD), param
            assert param.name.endswith(name.lstrip("_")), (param.name, name)
        else:
            assert name in by_name, f"{cls_name}.{member} has no parameter {name!r}: {signature}"
            param = by_name[name]
            assert actual.index(param) == position, f"{cls_name}.{member}: {name!r} is not at position {position}"
        if default is inspect.Parameter.empty:
            continue  # documented as required; a default only adds a convenience
        assert param.default == default, f"{cls_name}.{member}({name}=...) default {param.default!r} != {default!r}"


# Beyond the spec: the asyncio clients and the sharded clients, re-exported as their packages define them.
REEXPORTED = {
    "kt_kyoto": ["AsyncKyotoTycoon", "AsyncCursor"],
    "kt_tyrant": ["AsyncTokyoTyrant"],
    "kt_cluster": ["KyotoCluster", "TokyoTyrantCluster", "AsyncKyotoCluster", "AsyncTokyoTyrantCluster", "Node",
                   "ReplicaSet", "rebalance", "RebalanceProgress", "ShardDownError", "UnshardableOperationError"],
}


@pytest.mark.parametrize(("package", "name"), [(p, n) for p, names in REEXPORTED.items() for n in names])
def test_the_asyncio_and_sharded_clients_are_reexported(package: str, name: str) -> None:
    import importlib

    assert getattr(kt, name) is getattr(importlib.import_module(package), name)
    assert name in kt.__all__
