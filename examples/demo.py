"""kt in five minutes: start a server, then use the Kyoto Tycoon and Tokyo Tyrant clients.

Run from the repository root after installing ``packages/kt`` (see README.md). Each server is
the real ``ktserver``/``ttserver`` where installed, otherwise the bundled stand-in; the demo
says which it used.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings

import kt
from kt import (
    INDEX_NUM,
    KT_JSON,
    OP_NUM_GE,
    OP_STR_STARTSWITH,
    ORDER_NUM_DESC,
    TT_TABLE,
    EmbeddedServer,
    EmbeddedTokyoTyrantServer,
    QueryBuilder,
)
from kt_embedded import script_path


def show(label: str, value: object) -> None:
    print(f"  {label:<38} -> {value!r}")


def kyoto_tycoon_demo() -> None:
    # The real ktserver and the stand-in run the same Lua script.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        script = script_path("kt_test.lua")
        server = EmbeddedServer(database=["*", "%"], server_args=["-scr", str(script)])
        server.run()
    print(f"Kyoto Tycoon: {server.backend} server on {server.host}:{server.port}")
    for warning in caught:
        print(f"  note: {warning.message}")
    try:
        client = server.client
        show("set('greeting', 'hello')", client.set("greeting", "hello"))
        show("get('greeting')", client.get("greeting"))
        show("get('missing')", client.get("missing"))
        show("set_bulk(a=1, b=2, c=3)", client.set_bulk({"a": "1", "b": "2", "c": "3"}))
        show("get_bulk(['a', 'b', 'zzz'])", client.get_bulk(["a", "b", "zzz"]))
        show("add('a', 'again')", client.add("a", "again"))
        show("incr('hits', 5)", client.incr("hits", 5))
        show("set('temp', 'x', expire_time=60)", client.set("temp", "x", expire_time=60))
        show("exists('temp')", client.exists("temp"))
        show("match_prefix('gr')", client.match_prefix("gr"))
        show("set on db 1 (ordered tree)", client.set_bulk({"k3": "c", "k1": "a", "k2": "b"}, db=1))
        cursor = client.cursor(db=1)
        cursor.jump()
        show("cursor walk over db 1", list(cursor))
        cursor.close()
        show("script('echo', greeting='hi')", client.script("echo", {"greeting": "hi"}))
        show("count(), len(client)", (client.count(), len(client)))
        docs = server.make_client(serializer=KT_JSON)
        docs.set("doc", {"tags": ["a", "b"], "n": 1})
        show("KT_JSON get('doc')", docs.get("doc"))
    finally:
        server.stop()


def tokyo_tyrant_demo() -> None:
    workdir = tempfile.mkdtemp(prefix="kt-demo-")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        server = EmbeddedTokyoTyrantServer(database=os.path.join(workdir, "demo.tct"),
                                           client_options={"serializer": TT_TABLE})
        server.run()
    print(f"Tokyo Tyrant: {server.backend} server on {server.host}:{server.port} (table database)")
    for warning in caught:
        print(f"  note: {warning.message}")
    try:
        table = server.client
        show("set_index('age', INDEX_NUM)", table.set_index("age", INDEX_NUM))
        people = {
            "u1": {"name": "alice", "age": "31", "city": "tokyo"},
            "u2": {"name": "bob", "age": "25", "city": "osaka"},
            "u3": {"name": "carol", "age": "42", "city": "kyoto"},
            "u4": {"name": "alfred", "age": "58", "city": "tokyo"},
        }
        show("set_bulk(4 people)", table.set_bulk(people))
        show("get('u2')", table.get("u2"))
        query = QueryBuilder().filter("age", OP_NUM_GE, 30).order_by("age", ORDER_NUM_DESC)
        show("age >= 30, oldest first: execute", query.execute(table))
        show("... count", query.count(table))
        starts_with_al = QueryBuilder().filter("name", OP_STR_STARTSWITH, "al")
        show("name starts with 'al': get", starts_with_al.get(table))
    finally:
        server.stop()


def main() -> int:
    print(f"kt {kt.__version__} (codec: {kt.IMPLEMENTATION}), Python {sys.version.split()[0]}")
    kyoto_tycoon_demo()
    tokyo_tyrant_demo()
    print("demo finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
