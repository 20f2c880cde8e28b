"""Every package's tests, lint and type checks: `nox` runs them all (see README.md).

The test session installs the six packages from this checkout (kt-core's C codec compiled by its
build hook) and runs the whole suite twice: once on the C codec, once on the pure-Python twin
(KT_PUREPYTHON=1). kt-serializers touches no codec, so its tests run once.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = True

PACKAGES = ["kt-core", "kt-serializers", "kt-kyoto", "kt-tyrant", "kt-embedded", "kt-cluster"]
CODEC_TESTS = [f"packages/{name}/tests"
               for name in ["kt-core", "kt-kyoto", "kt-tyrant", "kt-embedded", "kt-cluster", "kt"]]
TEST_DEPS = ["pytest>=7", "pytest-timeout>=2", "hypothesis>=6", "msgpack>=1.0", "hatchling>=1.18", "cffi>=1.17",
             "setuptools>=68", "lupa>=2.0", "click>=8.1", "rich>=13", "uhashring>=2.5", "pytest-asyncio>=0.24",
             "uvloop>=0.19; sys_platform != 'win32'"]


def install_checkout(session: nox.Session) -> None:
    session.install(*TEST_DEPS)
    editable = [arg for name in PACKAGES for arg in ("-e", f"packages/{name}")]
    session.install(*editable)
    # The meta-package's own dependencies are direct references to the folders just installed.
    session.install("--no-deps", "-e", "packages/kt")


@nox.session
def tests(session: nox.Session) -> None:
    install_checkout(session)
    pytest = ["pytest", "-c", "pyproject.toml", *session.posargs]
    session.run(*pytest, "packages/kt-serializers/tests", *CODEC_TESTS, env={"KT_REQUIRE_C": "1"})
    # The asyncio clients share the codec with the blocking ones: the pure leg runs the blocking flavour only.
    session.run(*pytest, *CODEC_TESTS, env={"KT_PUREPYTHON": "1", "KT_TEST_CLIENT": "sync"})


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "packages", "noxfile.py", "examples", "benchmarks")


@nox.session
def typecheck(session: nox.Session) -> None:
    install_checkout(session)
    session.install("mypy>=1.10")
    session.run("mypy", "--config-file", "pyproject.toml", "-p", "kt_core", "-p", "kt_serializers", "-p", "kt_kyoto",
                "-p", "kt_tyrant", "-p", "kt_embedded", "-p", "kt_cluster", "-p", "kt")


@nox.session
def demo(session: nox.Session) -> None:
    install_checkout(session)
    session.run("python", "examples/demo.py")
