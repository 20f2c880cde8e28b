"""Metadata hook: the meta-package depends on its six siblings at exactly its own version.

From a checkout (the sibling folders exist beside this one) each sibling is a direct reference
to its folder, so ``pip install packages/kt`` installs all seven from source. Built with
``KT_RELEASE=1``, or from an sdist without siblings, the dependencies are plain ``==`` pins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface

SIBLINGS = ["kt-core", "kt-serializers", "kt-kyoto", "kt-tyrant", "kt-embedded", "kt-cluster"]
# `import kt` gives the whole documented API, KT_MSGPACK and the managers' `client` included, and the stand-ins
# run Lua scripts.
EXTRAS = {"kt-serializers": "[msgpack]", "kt-embedded": "[clients,lua]"}


class SiblingPinsHook(MetadataHookInterface):
    PLUGIN_NAME = "custom"

    def update(self, metadata: dict[str, Any]) -> None:
        version = metadata["version"]
        here = Path(self.root).resolve()
        local = os.environ.get("KT_RELEASE") != "1" and all((here.parent / name).is_dir() for name in SIBLINGS)
        deps = []
        for name in SIBLINGS:
            extra = EXTRAS.get(name, "")
            if local:
                # pip links a sibling's plain `name==version` requirement to the direct reference
                # only when the reference without extras is listed too.
                deps.append(f"{name} @ {(here.parent / name).as_uri()}")
                if extra:
                    deps.append(f"{name}{extra} @ {(here.parent / name).as_uri()}")
            else:
                deps.append(f"{name}{extra}=={version}")
        metadata["dependencies"] = deps
