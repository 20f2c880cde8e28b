"""The real thing: build and install a third-party plugin into a fresh virtualenv and select it by name.

The plugin is the one docs/serializer-plugins.md describes, written out file by file from the page.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import venv
from pathlib import Path
from typing import Any

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240, **kwargs)  # type: ignore
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_third_party_plugin_installed_in_a_fresh_venv(doc_example: Any, tmp_path: Path) -> None:
    example = doc_example
    plugin = tmp_path / "kt-int64"
    plugin.mkdir()
    for name, content in example.files.items():
        (plugin / name).write_text(content, encoding="utf-8")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # install kt-serializers from this checkout first, so the plugin's dependency on it is already satisfied
    _run([str(python), "-m", "pip", "install", "--quiet", str(PACKAGE_DIR)])
    _run([str(python), "-m", "pip", "install", "--quiet", str(plugin)])

    check = textwrap.dedent("""
        import json, sys
        import kt_serializers
        assert "site-packages" in kt_serializers.__file__, kt_serializers.__file__  # the venv's copy, not ours
        int64 = kt_serializers.get_serializer("int64")
        print(json.dumps({
            "available": kt_serializers.available_serializers(),
            "roundtrip": int64.loads(int64.dumps(-(2**40))),
            "wire": int64.dumps(1).hex(),
            "class": type(int64).__module__ + "." + type(int64).__qualname__,
        }))
    """)
    report = json.loads(_run([str(python), "-c", check], cwd=tmp_path).stdout)
    assert report["available"] == ["binary", "int64", "json", "msgpack", "none", "pickle", "table", "zlib"]
    assert report["roundtrip"] == -(2**40)
    assert report["wire"] == "0000000000000001"
    assert report["class"] == "kt_int64.Int64Serializer"

    # and the page's own usage example runs unchanged against the installed packages
    for script in example.scripts:
        _run([str(python), "-c", script], cwd=tmp_path)

    # msgpack is an extra, so a plain install reports how to get it
    out = _run([str(python), "-c", "import kt_serializers as k\ntry:\n k.get_serializer('msgpack')\n"
                "except ImportError as e:\n print(e)"], cwd=tmp_path).stdout
    assert "pip install kt-serializers[msgpack]" in out
