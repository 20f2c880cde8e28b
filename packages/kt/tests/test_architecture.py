"""The import rules of the architecture note (layers and who may import whom), checked on the source.

Every module under packages/*/src is parsed (not imported) and each ``import`` / ``from ... import``
statement, at module level or inside a function or class, is resolved to an absolute module name
(relative imports included). ``importlib.import_module("name")`` / ``__import__("name")`` with a
literal name count as imports too. Each rule names the modules it governs and the modules they must
not import; a failure lists every offending file:line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

PACKAGES_DIR = Path(__file__).resolve().parents[2]

OURS = ("kt_core", "kt_serializers", "kt_kyoto", "kt_tyrant", "kt_embedded", "kt_cluster", "kt")
CLIENTS = ("kt_kyoto", "kt_tyrant")
IO_MODULES = ("socket", "select", "selectors", "asyncio", "threading")
# kt_core's layers are its folders: codec/ (wire formats, no I/O) and io/ (what moves bytes). Beside them
# sit the vocabulary both use: errors and the command description.
KT_CORE_CODEC = ("kt_core.codec",)
KT_CORE_IO = ("kt_core.io",)
KT_CORE_SHARED = ("kt_core.errors", "kt_core.command")


@dataclass(frozen=True)
class Import:
    target: str  # absolute dotted module name
    path: Path
    line: int
    in_function: bool  # inside a def/lambda: runs only when called
    type_checking_only: bool  # under ``if TYPE_CHECKING:``: never runs

    def where(self) -> str:
        return f"{self.path.relative_to(PACKAGES_DIR.parent)}:{self.line} imports {self.target}"


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted name, is a package __init__) of a file under packages/<dist>/src/."""
    src = next(parent for parent in path.parents if parent.name == "src")
    parts = list(path.relative_to(src).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, path: Path, module: str, is_package: bool) -> None:
        self.path = path
        self.package = module if is_package else module.rpartition(".")[0]
        self.imports: list[Import] = []
        self._function_depth = 0
        self._type_checking_depth = 0

    def _add(self, target: str, node: ast.AST) -> None:
        line = getattr(node, "lineno", 0)
        self.imports.append(Import(target, self.path, line, self._function_depth > 0, self._type_checking_depth > 0))

    def _function(self, node: ast.AST) -> None:
        self._function_depth += 1
        self.generic_visit(node)
        self._function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._type_checking_depth += 1
            for child in node.body:
                self.visit(child)
            self._type_checking_depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base_parts = self.package.split(".")
            if node.level > 1:
                base_parts = base_parts[: -(node.level - 1)]
            base = ".".join([*base_parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        if base:
            self._add(base, node)
        # ``from pkg import name`` may import the submodule pkg.name.
        for alias in node.names:
            if alias.name != "*":
                self._add(f"{base}.{alias.name}" if base else alias.name, node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._add(first.value, node)
        self.generic_visit(node)


def scan() -> dict[str, list[Import]]:
    """{module name: its imports} for every module of every package's src."""
    modules: dict[str, list[Import]] = {}
    for path in sorted(PACKAGES_DIR.glob("*/src/**/*.py")):
        module, is_package = module_name(path)
        collector = _ImportCollector(path, module, is_package)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        modules[module] = collector.imports
    return modules


MODULES = scan()


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """True when ``name`` is one of ``prefixes`` or a submodule of one (kt is not kt_core)."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def is_codec(module: str) -> bool:
    """Codec side: no I/O. kt_core.codec and the shared modules beside it."""
    return within(module, KT_CORE_CODEC + KT_CORE_SHARED)


@dataclass(frozen=True)
class Rule:
    name: str
    applies_to: Callable[[str], bool]
    forbidden: tuple[str, ...]
    # Imports that may stay: the rule is about what runs at import time, or the module is itself.
    allowed: Callable[[str, Import], bool] = lambda module, imp: False


RULES = [
    Rule("the codec does no I/O", is_codec, IO_MODULES),
    Rule("kt_core.codec imports nothing of kt_core.io or kt_core.command",
         lambda m: within(m, KT_CORE_CODEC), (*KT_CORE_IO, "kt_core.command")),
    Rule("kt_core's shared modules import neither layer", lambda m: within(m, KT_CORE_SHARED),
         KT_CORE_CODEC + KT_CORE_IO),
    Rule("kt_core.io encodes nothing itself: of the codec it imports only the reader and the table type",
         lambda m: within(m, KT_CORE_IO), KT_CORE_CODEC,
         allowed=lambda module, imp: within(imp.target, ("kt_core.codec.reader", "kt_core.codec.table"))),
    Rule("asyncio is imported only by kt_core.io's asyncio modules",
         lambda m: within(m, ("kt_core",)) and not m.startswith("kt_core.io.aio_"), ("asyncio",)),
    # The asyncio clusters run their shards' calls through kt_core.io's helpers (gather, sleep, a periodic
    # task): what a fan-out does on an error or a cancellation is decided there, once, beside the runner.
    Rule("the sharded clients do asyncio through kt_core.io", lambda m: within(m, ("kt_cluster",)), ("asyncio",)),
    Rule("kt_core never imports a client, kt_embedded or kt", lambda m: within(m, ("kt_core",)),
         ("kt_kyoto", "kt_tyrant", "kt_embedded", "kt")),
    Rule("kt_serializers imports nothing of ours", lambda m: within(m, ("kt_serializers",)),
         ("kt_core", "kt_kyoto", "kt_tyrant", "kt_embedded", "kt")),
    Rule("kt_kyoto never imports kt_tyrant or kt_embedded", lambda m: within(m, ("kt_kyoto",)),
         ("kt_tyrant", "kt_embedded")),
    Rule("kt_tyrant never imports kt_kyoto or kt_embedded", lambda m: within(m, ("kt_tyrant",)),
         ("kt_kyoto", "kt_embedded")),
    Rule("the stand-ins never import the clients", lambda m: within(m, ("kt_embedded.standin",)), CLIENTS),
    Rule("the sharded clients never import kt_embedded", lambda m: within(m, ("kt_cluster",)), ("kt_embedded",)),
    Rule("no package imports the meta-package kt", lambda m: not within(m, ("kt",)), ("kt",)),
    Rule("kt_embedded imports the clients only inside functions", lambda m: within(m, ("kt_embedded",)), CLIENTS,
         allowed=lambda module, imp: imp.in_function or imp.type_checking_only),
]


def violations(rule: Rule, modules: dict[str, list[Import]]) -> list[str]:
    """One line per offending import statement (``from a import b`` is checked as a and a.b)."""
    found: dict[tuple[Path, int], str] = {}
    for module, imports in modules.items():
        if rule.applies_to(module):
            for imp in imports:
                if within(imp.target, rule.forbidden) and not rule.allowed(module, imp):
                    found.setdefault((imp.path, imp.line), imp.where())
    return list(found.values())


def test_the_scan_sees_every_package_and_the_codec_modules() -> None:
    # Guards the rules below against passing because the scan found nothing.
    assert {module.split(".")[0] for module in MODULES} == set(OURS)
    codec = {module for module in MODULES if is_codec(module)}
    assert {"kt_core.codec.tyrant", "kt_core.codec.kyoto_binary", "kt_core.codec.kyoto_http",
            "kt_core.codec.reader", "kt_core.errors", "kt_core.codec._scan", "kt_core.codec._scan_pure",
            "kt_core.codec._scan_c"} <= codec
    io = {module for module in MODULES if within(module, KT_CORE_IO)}
    assert {"kt_core.io.connection", "kt_core.io.pool", "kt_core.io.pooled", "kt_core.io.aio_connection"} <= io
    assert not codec & io
    # Every kt_core module belongs to a layer.
    assert {m for m in MODULES if within(m, ("kt_core",))} == codec | io | {"kt_core"}
    assert any(imp.target == "socket" for imp in MODULES["kt_core.io.connection"])
    # Imports inside functions are scanned (the managers build clients lazily).
    assert any(imp.in_function and imp.target.startswith("kt_kyoto") for imp in MODULES["kt_embedded.managers"])


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_import_rule(rule: Rule) -> None:
    found = violations(rule, MODULES)
    assert not found, f"{rule.name}:\n" + "\n".join(found)


def test_the_sharded_clients_import_no_private_names() -> None:
    # They sit above the single-server clients and use their public API only.
    found = [imp.where() for module, imports in MODULES.items() if within(module, ("kt_cluster",))
             for imp in imports if within(imp.target, OURS) and not within(imp.target, ("kt_cluster",))
             and any(part.startswith("_") for part in imp.target.split("."))]
    assert not found, "\n".join(found)


def _scan_source(source: str, module: str = "kt_core.codec.tyrant") -> dict[str, list[Import]]:
    path = PACKAGES_DIR / "kt-core" / "src" / (module.replace(".", "/") + ".py")
    collector = _ImportCollector(path, module, is_package=False)
    collector.visit(ast.parse(source))
    return {module: collector.imports}


@pytest.mark.parametrize(
    ("source", "module", "rule_name"),
    [
        ("import socket", "kt_core.codec.tyrant", "the codec does no I/O"),
        ("import asyncio", "kt_core.io.pool", "asyncio is imported only by kt_core.io's asyncio modules"),
        ("from ..io.connection import Connection", "kt_core.codec.tyrant",
         "kt_core.codec imports nothing of kt_core.io or kt_core.command"),
        ("from .codec.tyrant import encode_get", "kt_core.command", "kt_core's shared modules import neither layer"),
        ("from ..codec.tyrant import encode_get", "kt_core.io.pooled",
         "kt_core.io encodes nothing itself: of the codec it imports only the reader and the table type"),
        ("import asyncio", "kt_cluster.aio", "the sharded clients do asyncio through kt_core.io"),
        ("import asyncio", "kt_core.command", "the codec does no I/O"),
        ("def f():\n    from threading import Lock", "kt_core.codec.reader", "the codec does no I/O"),
        ("from kt_kyoto.client import KyotoTycoon", "kt_core.io.pool",
         "kt_core never imports a client, kt_embedded or kt"),
        ("from ... import kt", "kt_core.io.pool", "kt_core never imports a client, kt_embedded or kt"),
        ("import importlib\nimportlib.import_module('kt_core.errors')", "kt_serializers.base",
         "kt_serializers imports nothing of ours"),
        ("from kt_tyrant import TokyoTyrant", "kt_embedded.standin.kyoto", "the stand-ins never import the clients"),
        ("from kt_kyoto import KyotoTycoon", "kt_embedded.managers",
         "kt_embedded imports the clients only inside functions"),
        ("import kt", "kt_embedded.managers", "no package imports the meta-package kt"),
    ],
)
def test_a_violation_is_reported(source: str, module: str, rule_name: str) -> None:
    rule = next(rule for rule in RULES if rule.name == rule_name)
    assert violations(rule, _scan_source(source, module))


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import socket", "kt_core.io.connection"),  # the I/O layer may
        ("import asyncio", "kt_core.io.aio_connection"),
        ("from ..codec.reader import Reader", "kt_core.io.connection"),
        ("from kt_core_extra import x", "kt_core.codec.tyrant"),  # a name that merely starts like ours
        ("def client():\n    from kt_kyoto import KyotoTycoon", "kt_embedded.managers"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kt_tyrant import TokyoTyrant",
         "kt_embedded.pytest_plugin"),
        ("from kt_core.errors import ProtocolError", "kt"),
    ],
)
def test_an_allowed_import_is_not_reported(source: str, module: str) -> None:
    assert [(rule.name, found) for rule in RULES for found in violations(rule, _scan_source(source, module))] == []
