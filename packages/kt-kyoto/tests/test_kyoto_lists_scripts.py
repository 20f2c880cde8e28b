"""serialize_list / serialize_dict and their readers against Lua's kt.arraydump / kt.mapdump / kt.arrayload /
kt.mapload, through the kt_test script's listdump, listload, mapdump and mapload procedures (the real ktserver runs
them in Lua; the stand-in runs their Python twins)."""

from __future__ import annotations

import pytest
from kt_kyoto import KyotoTycoon, deserialize_dict, deserialize_list, serialize_dict, serialize_list

pytestmark = pytest.mark.server

ELEMENTS = [b"", b"a", b"tab\there", b"\x00\x01\xff", "é東京".encode(), b"x" * 127, b"y" * 128, b"z" * 20000]


def test_arraydump_reads_with_deserialize_list(kt_client: KyotoTycoon) -> None:
    records = {f"{i:03d}": data for i, data in enumerate(ELEMENTS)}
    dump = kt_client.script("listdump", records, encode_values=False)["dump"]
    assert dump == serialize_list(ELEMENTS)
    assert deserialize_list(dump, decode_values=False) == ELEMENTS


def test_serialize_list_reads_with_arrayload(kt_client: KyotoTycoon) -> None:
    loaded = kt_client.script("listload", {"dump": serialize_list(ELEMENTS)}, encode_values=False)
    assert [loaded[str(i)] for i in range(1, len(ELEMENTS) + 1)] == ELEMENTS
    assert len(loaded) == len(ELEMENTS)


def test_mapdump_reads_with_deserialize_dict(kt_client: KyotoTycoon) -> None:
    records = {"empty": b"", "bin": b"\x00\xff", "text": "東京".encode(), "long": b"v" * 300}
    dump = kt_client.script("mapdump", records, encode_values=False)["dump"]
    assert deserialize_dict(dump, decode_values=False) == records  # Lua's table order is its own
    assert deserialize_dict(dump)["text"] == "東京"


def test_serialize_dict_reads_with_mapload(kt_client: KyotoTycoon) -> None:
    data = {"a": b"1", "b": b"", "c": b"\x80\x81", "long": b"w" * 4000}
    assert kt_client.script("mapload", {"dump": serialize_dict(data)}, encode_values=False) == data


def test_a_list_stored_by_a_script_reads_back_through_get_raw(kt_client: KyotoTycoon) -> None:
    dump = kt_client.script("listdump", {"1": "x", "2": "y"}, encode_values=False)["dump"]
    kt_client.set("stored", dump)
    assert deserialize_list(kt_client.get_raw("stored")) == ["x", "y"]
