"""The monorepo's packaging promises: separate installs, lockstep versions, C and pure wheels."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ROOT / "packages"
NAMES = ["kt-core", "kt-serializers", "kt-kyoto", "kt-tyrant", "kt-embedded", "kt-cluster", "kt"]


def pyproject(name: str) -> dict:
    with open(PACKAGES / name / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_every_package_has_its_layout() -> None:
    for name in NAMES:
        folder = PACKAGES / name
        module = "kt" if name == "kt" else name.replace("-", "_")
        for part in ("pyproject.toml", "README.md", f"src/{module}/__init__.py", f"src/{module}/py.typed", "tests"):
            assert (folder / part).exists(), f"{name} lacks {part}"
        assert pyproject(name)["build-system"]["build-backend"] == "hatchling.build"


def test_versions_in_lockstep_and_siblings_pinned() -> None:
    versions = {name: pyproject(name)["project"]["version"] for name in NAMES}
    assert len(set(versions.values())) == 1, versions
    version = versions["kt"]
    for name in NAMES:
        for dep in pyproject(name)["project"].get("dependencies", []):
            match = re.match(r"(kt-[a-z]+)(\[[^\]]*\])?\s*(.*)", dep)
            if match and match.group(1) in NAMES:
                assert match.group(3) == f"=={version}", f"{name} depends on {dep!r}, not =={version}"


def test_serializers_depend_on_nothing_of_ours() -> None:
    deps = pyproject("kt-serializers")["project"].get("dependencies", [])
    assert not [d for d in deps if d.startswith("kt")]


def _pip(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def _build_wheel(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> Path:
    out = tmp_path / "wheels"
    result = _pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(PACKAGES / name), env=env)
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.mark.slow
def test_kt_core_wheel_holds_the_compiled_codec(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path, "kt-core", env={"KT_PUREPYTHON": "0"})
    assert not wheel.name.endswith("-none-any.whl"), wheel.name  # platform-tagged
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if re.fullmatch(r"kt_core/codec/_ktcodec\..*\.so", n)], names
    assert not [n for n in names if n.endswith((".c", ".o"))], names


@pytest.mark.slow
def test_kt_core_pure_wheel_holds_no_compiled_code(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path, "kt-core", env={"KT_PUREPYTHON": "1"})
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd", ".c", ".o"))], names
    assert "kt_core/codec/_scan_pure.py" in names


def _dry_run(target: Path) -> set[str]:
    result = _pip("install", "--dry-run", "--no-build-isolation", "--ignore-installed", "--quiet", "--report", "-",
                  str(target))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return {item["metadata"]["name"] for item in report["install"]}


@pytest.mark.slow
def test_serializers_install_alone() -> None:
    names = _dry_run(PACKAGES / "kt-serializers")
    assert "kt-serializers" in names
    assert not {"kt-core", "kt-kyoto", "kt-tyrant", "kt-embedded", "kt-cluster", "kt"} & names


@pytest.mark.slow
def test_meta_package_release_metadata_pins_siblings(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path, "kt", env={"KT_RELEASE": "1"})
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith("METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    siblings = [r for r in requires if "extra ==" not in r]  # the optional extras (cli) are not siblings
    assert sorted(siblings) == sorted([
        "kt-core==0.1.0", "kt-serializers[msgpack]==0.1.0", "kt-kyoto==0.1.0", "kt-tyrant==0.1.0",
        "kt-embedded[clients,lua]==0.1.0", "kt-cluster==0.1.0"]), requires


@pytest.mark.slow
def test_meta_package_installs_all_six(tmp_path: Path) -> None:
    # Exactly what the README's first command does, in a fresh virtual environment.
    venv = tmp_path / "venv"
    # A user's environment: no codec switches from the test run (the pure leg sets KT_PUREPYTHON).
    env = {k: v for k, v in os.environ.items() if k not in ("KT_PUREPYTHON", "KT_REQUIRE_C")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-cache-dir", str(PACKAGES / "kt")],
                             capture_output=True, text=True, timeout=900, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                            check=True, timeout=120)
    names = {item["name"] for item in json.loads(listed.stdout)}
    assert set(NAMES) <= names, names
    assert "msgpack" in names  # KT_MSGPACK is part of the documented API
    check = subprocess.run([str(python), "-c", "import kt; print(kt.IMPLEMENTATION, kt.KyotoTycoon, kt.QueryBuilder)"],
                           capture_output=True, text=True, timeout=120, env=env)
    assert check.returncode == 0 and check.stdout.startswith("c "), check.stderr
    # ...and the demo runs there, with nothing else installed (no pytest, no test extras).
    demo = subprocess.run([str(python), str(ROOT / "examples" / "demo.py")], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert "Kyoto Tycoon: " in demo.stdout and "Tokyo Tyrant: " in demo.stdout
    assert demo.stdout.rstrip().endswith("demo finished")
