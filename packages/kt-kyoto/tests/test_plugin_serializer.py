"""A third-party serializer, registered only through the `kt.serializers` entry point, used by name."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import kt_serializers
import pytest


@pytest.fixture
def rot13_plugin(tmp_path: Path) -> Iterator[str]:
    # An installed distribution as pip would leave it: a module plus a .dist-info with the entry point.
    (tmp_path / "kt_rot13_plugin.py").write_text(textwrap.dedent('''
        import codecs

        class Rot13:
            def dumps(self, value):
                return codecs.encode(value, "rot13").encode("utf-8")

            def loads(self, data):
                return codecs.decode(data.decode("utf-8"), "rot13")
    '''))
    info = tmp_path / "kt_rot13_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kt-rot13-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kt.serializers]\nrot13 = kt_rot13_plugin:Rot13\n")
    sys.path.insert(0, str(tmp_path))
    kt_serializers.refresh_serializers()
    try:
        yield "rot13"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("kt_rot13_plugin", None)
        kt_serializers.refresh_serializers()


@pytest.mark.server
def test_client_uses_plugin_serializer_by_name(rot13_plugin: str, kt_client_factory: Callable[..., Any]) -> None:
    assert rot13_plugin in kt_serializers.available_serializers()
    client = kt_client_factory(serializer=rot13_plugin)
    raw = kt_client_factory(serializer="none")
    assert client.set("greeting", "hello") == 1
    assert raw.get("greeting") == b"uryyb"  # stored through the plugin's dumps
    assert client.get("greeting") == "hello"
    assert client.get_bulk(["greeting"]) == {"greeting": "hello"}
