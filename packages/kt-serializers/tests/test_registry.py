"""Selection by name or object, entry-point discovery (in process), caching, and the msgpack-missing error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import kt_serializers
import pytest
from kt_serializers import (
    KT_BINARY,
    KT_JSON,
    KT_MSGPACK,
    JsonSerializer,
    MissingDependencyError,
    Serializer,
    UnknownSerializerError,
    available_serializers,
    get_serializer,
    refresh_serializers,
    registry,
)

BUILTIN_NAMES = ["binary", "json", "msgpack", "none", "pickle", "table", "zlib"]


def test_builtins_are_declared_as_entry_points() -> None:
    # the installed (editable) metadata carries the registration, not just the fallback table
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="kt.serializers")
           if ep.value.startswith("kt_serializers.")}
    assert sorted(eps) == BUILTIN_NAMES
    assert eps["json"] == "kt_serializers.builtin:JsonSerializer"


def test_available_serializers_sorted() -> None:
    names = available_serializers()
    assert names == sorted(names)
    assert set(BUILTIN_NAMES) <= set(names)


def test_get_serializer_by_name_is_cached() -> None:
    first = get_serializer(KT_JSON)
    assert get_serializer("json") is first
    assert isinstance(first, JsonSerializer) and isinstance(first, Serializer)


def test_get_serializer_passes_objects_through() -> None:
    class Upper:
        def dumps(self, value: Any) -> bytes:
            return str(value).upper().encode()

        def loads(self, data: bytes) -> Any:
            return data.decode()

    obj = Upper()
    assert get_serializer(obj) is obj
    assert isinstance(obj, Serializer)


def test_unknown_name_lists_installed_names() -> None:
    with pytest.raises(UnknownSerializerError) as info:
        get_serializer("yaml")
    message = str(info.value)
    assert "'yaml'" in message
    for name in BUILTIN_NAMES:
        assert repr(name) in message
    assert isinstance(info.value, LookupError) and isinstance(info.value, ValueError)
    assert info.value.available == available_serializers()


@pytest.mark.parametrize("spec", [None, 1, b"json", object(), ["json"]])
def test_non_serializers_are_type_errors(spec: Any) -> None:
    with pytest.raises(TypeError, match="dumps"):
        get_serializer(spec)


def test_a_class_is_a_type_error_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"JsonSerializer\(\)"):
        get_serializer(JsonSerializer)  # type: ignore[arg-type]


def test_discovery_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = registry._group_entry_points

    def counting() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(registry, "_group_entry_points", counting)
    refresh_serializers()
    for _ in range(100):
        get_serializer(KT_BINARY)
        get_serializer(KT_JSON)
        available_serializers()
    assert len(calls) == 1


def test_builtins_resolve_without_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_group_entry_points", lambda: [])
    refresh_serializers()
    assert available_serializers() == BUILTIN_NAMES
    assert isinstance(get_serializer("json"), JsonSerializer)


# --- third-party discovery, in process -------------------------------------------------------------------------

PLUGIN_MODULE = '''
class Rot13Serializer:
    """Stores text rot13-encoded."""

    def dumps(self, value):
        import codecs
        if not isinstance(value, str):
            raise TypeError(f"rot13 serializer cannot encode a value of type {type(value).__name__}")
        return codecs.encode(value, "rot13").encode("utf-8")

    def loads(self, data):
        import codecs
        return codecs.decode(data.decode("utf-8"), "rot13")


def make_reversed():
    class Reversed:
        def dumps(self, value):
            return bytes(value)[::-1]

        def loads(self, data):
            return bytes(data)[::-1]
    return Reversed()


class _Plain:
    def dumps(self, value):
        return b"plain"

    def loads(self, data):
        return "plain"


READY = _Plain()
NOT_A_SERIALIZER = 42
'''


def _install_fake_distribution(root: Path, entry_points: dict[str, str], dist: str = "kt_fake_plugin") -> None:
    """Write a module and a real ``.dist-info`` next to it: importlib.metadata discovers it like an installed one."""
    (root / "kt_fake_plugin.py").write_text(PLUGIN_MODULE)
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {value}" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[kt.serializers]\n{lines}\n")


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _install_fake_distribution(tmp_path, {
        "rot13": "kt_fake_plugin:Rot13Serializer",
        "reversed": "kt_fake_plugin:make_reversed",
        "plain": "kt_fake_plugin:READY",
        "broken": "kt_fake_plugin_missing_module:Thing",
        "bogus": "kt_fake_plugin:NOT_A_SERIALIZER",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kt_fake_plugin", raising=False)
    refresh_serializers()
    return tmp_path


@pytest.mark.usefixtures("fake_plugin")
def test_third_party_entry_points_are_discovered() -> None:
    names = available_serializers()
    assert {"rot13", "reversed", "plain", "broken", "bogus"} <= set(names)
    assert names == sorted(names)

    rot13 = get_serializer("rot13")
    assert rot13.dumps("Hello") == b"Uryyb" and rot13.loads(b"Uryyb") == "Hello"
    assert get_serializer("rot13") is rot13
    with pytest.raises(TypeError, match=r"rot13.*int"):
        rot13.dumps(1)

    rev = get_serializer("reversed")  # a factory function
    assert rev.dumps(b"abc") == b"cba"
    assert get_serializer("plain").loads(b"x") == "plain"  # a ready object

    # composes with the wrapper, by name
    zipped = kt_serializers.ZlibSerializer("rot13")
    assert zipped.loads(zipped.dumps("Hello")) == "Hello"


@pytest.mark.usefixtures("fake_plugin")
def test_broken_entry_points_fail_clearly_and_only_when_chosen() -> None:
    with pytest.raises(ImportError, match=r"'broken'.*kt_fake_plugin_missing_module"):
        get_serializer("broken")
    with pytest.raises(TypeError, match=r"'bogus'.*int.*dumps"):
        get_serializer("bogus")
    assert get_serializer("json").dumps(1) == b"1"  # the rest still works


def test_plugins_installed_later_need_a_refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownSerializerError):
        get_serializer("rot13")
    _install_fake_distribution(tmp_path, {"rot13": "kt_fake_plugin:Rot13Serializer"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownSerializerError):  # cached: discovery costs nothing per request
        get_serializer("rot13")
    refresh_serializers()
    assert get_serializer("rot13").dumps("a") == b"n"


def test_builtin_names_cannot_be_hijacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_distribution(tmp_path, {"json": "kt_fake_plugin:READY"})
    monkeypatch.syspath_prepend(str(tmp_path))
    refresh_serializers()
    with pytest.warns(RuntimeWarning, match="built-in"):
        serializer = get_serializer("json")
    assert isinstance(serializer, JsonSerializer)


def test_duplicate_third_party_names_pick_deterministically(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [metadata.EntryPoint("dup", "zzz_mod:B", "kt.serializers"),
           metadata.EntryPoint("dup", "aaa_mod:A", "kt.serializers")]
    monkeypatch.setattr(registry, "_group_entry_points", lambda: eps)
    refresh_serializers()
    with pytest.warns(RuntimeWarning, match="more than once"):
        chosen = registry._registered()["dup"]
    assert chosen.value == "aaa_mod:A"


# --- msgpack missing -------------------------------------------------------------------------------------------

def test_msgpack_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgpack", None)  # makes `import msgpack` raise ImportError
    refresh_serializers()
    assert KT_MSGPACK in available_serializers()
    with pytest.raises(MissingDependencyError, match=r"pip install kt-serializers\[msgpack\]") as info:
        get_serializer(KT_MSGPACK)
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError, match=r"pip install kt-serializers\[msgpack\]"):
        kt_serializers.MsgpackSerializer()
    with pytest.raises(MissingDependencyError):
        kt_serializers.ZlibSerializer(KT_MSGPACK)
    assert get_serializer(KT_JSON).dumps([]) == b"[]"  # everything else still works


def test_package_imports_without_msgpack() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["msgpack"] = None
        import kt_serializers
        assert "msgpack" in kt_serializers.available_serializers()
        assert kt_serializers.get_serializer("json").loads(b"[1]") == [1]
        try:
            kt_serializers.get_serializer("msgpack")
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install kt-serializers[msgpack]" in out


def test_kt_serializers_imports_nothing_of_ours() -> None:
    code = ("import sys, kt_serializers; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('kt', 'kt_core', 'kt_kyoto', 'kt_tyrant', "
            "'kt_embedded')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
