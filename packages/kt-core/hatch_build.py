"""Hatch build hook: compile the C codec through cffi.

KT_PUREPYTHON=1 at build time skips the compile and yields a pure ``py3-none-any`` wheel.
Otherwise a failed compile fails the build: there is no silent fallback.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import sys
import tempfile
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CffiBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name not in ("wheel",):
            return
        if os.environ.get("KT_PUREPYTHON") == "1":
            return
        spec = importlib.util.spec_from_file_location("_kt_ffi_build", os.path.join(self.root, "ffi_build.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tmpdir = tempfile.mkdtemp(prefix="kt-core-build-")
        # Compile outside src/ so no .c or .o file lands in the wheel.
        built = module.ffibuilder.compile(tmpdir=tmpdir, verbose=False)
        if not built or not os.path.exists(built):
            raise RuntimeError("kt-core: compiling the C codec produced no module")
        name = os.path.basename(built)
        if version == "editable":
            # Editable wheels import from src/, so the module has to sit there.
            shutil.copy2(built, os.path.join(self.root, "src", "kt_core", "codec", name))
        else:
            build_data["force_include"][built] = f"kt_core/codec/{name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        self._tmpdir = tmpdir

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        tmpdir = getattr(self, "_tmpdir", None)
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def clean(self, versions: list[str]) -> None:
        pattern = "_ktcodec*" + ("" if sys.platform == "win32" else ".so")
        for path in glob.glob(os.path.join(self.root, "src", "kt_core", "codec", pattern)):
            os.remove(path)
