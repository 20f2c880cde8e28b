"""A program written against kt 0.9.6's API, unchanged: it runs on kt 0.9.6 and on this kt.

It uses only what kt 0.9.6 offers: embedded servers with ``quiet`` and ``serializer``, the
``lua`` script runner, cursors, ``QueryBuilder`` clones, ``kt.models`` and ``kt.exceptions``.
The only code that is not kt's picks a free port. The Lua scripts in ``kt096_scripts/`` run on
the real servers and on kt's stand-ins alike (used where ``ktserver``/``ttserver`` are not
installed).

Run it from the repository root: ``python examples/kt096_program.py``.
"""

import datetime
import os
import random
import socket
import tempfile
import warnings

from kt import KT_JSON, TT_TABLE, EmbeddedServer, EmbeddedTokyoTyrantServer, QueryBuilder
from kt.constants import OP_NUM_GE, OP_STR_STARTSWITH, ORDER_NUM_DESC, ORDER_STR_ASC
from kt.exceptions import KyotoTycoonError, ServerError
from kt.models import DateField, IntegerField, Model, TableDatabase, TextField

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kt096_scripts")


def free_port():
    # ktserver refuses ports above 32767
    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def script(name):
    return os.path.join(SCRIPTS, name)


def kyoto_tycoon():
    server = EmbeddedServer(database="*", server_args=["-scr", script("kt_example.lua")], quiet=True)
    server.run()
    client = server.client
    try:
        assert client.set("k1", "v1") == 1
        assert client.get("k1") == "v1"
        client.set("n", 1)  # kt stores a number as its text
        assert client.get("n") == "1"
        client.set_bulk({"a": "1", "b": "2", "c": "3"})
        assert client.get_bulk(["a", "b", "zz"]) == {"a": "1", "b": "2"}
        assert sorted(client.keys_nonlazy()) == ["a", "b", "c", "k1", "n"]
        assert client.report()["db_0"].endswith(b"path=*")
        assert client.count() == 5 and len(client) == 5

        # Lua procedures as methods.
        # (a mapping: with kt 0.9.6, a keyword called `name` would clash with script()'s own argument)
        assert client.lua.greet({"name": "kt"}) == {"greeting": "hello, kt"}
        assert client.lua.hits(key="page") == {"hits": "1"}
        assert client.lua.hits(key="page") == {"hits": "2"}
        try:
            client.lua.nosuchprocedure()
        except ServerError:
            pass
        else:
            raise AssertionError("a missing procedure must raise")

        # A cursor: kt's validity rules.
        cursor = client.cursor()
        assert not cursor.is_valid()
        assert cursor.jump() and cursor.is_valid()
        seen = {}
        while cursor.is_valid():
            key, value = cursor.get()
            seen[key] = value
            cursor.step()
        assert seen == {"a": "1", "b": "2", "c": "3", "k1": "v1", "n": "1", "page": "2"}
        assert cursor.key() is None  # past the last record
        cursor.jump()
        assert dict(cursor) == seen
        cursor.close()
    finally:
        server.stop()

    # serializer= reaches the embedded server's client.
    docs = EmbeddedServer(serializer=KT_JSON, quiet=True)
    docs.run()
    try:
        docs.client["doc"] = {"tags": ["x", "y"], "n": 1}
        assert docs.client["doc"] == {"tags": ["x", "y"], "n": 1}
    finally:
        docs.stop()
    try:
        docs.client.get("doc")
    except KyotoTycoonError:
        pass
    else:
        raise AssertionError("the client of a stopped server must raise")


def tokyo_tyrant_hash():
    server = EmbeddedTokyoTyrantServer(server_args=["-ext", script("tt_example.lua")], quiet=True)
    server.run()
    tt = server.client
    try:
        assert tt.set(1, "x") is True  # a number key goes as its text
        assert tt.get("1") == "x"
        assert tt.misc("get", [b"missing"]) is None
        assert tt.lua.greet("kt") == b"hello, kt"
        assert tt.lua.swap("1", "y") == b"x"
        assert tt.get("1") == "y"
        assert list(tt) == ["1"]
    finally:
        server.stop()


class Person(Model):
    name = TextField(index=True)
    age = IntegerField(index=True)
    joined = DateField()


def tokyo_tyrant_table():
    port = free_port()
    path = os.path.join(tempfile.mkdtemp(), "people.tct")
    server = EmbeddedTokyoTyrantServer(port=port, database=path, serializer=TT_TABLE, quiet=True)
    server.run()
    try:
        Person.__database__ = TableDatabase(port=port)
        Person.create_indexes()
        Person.create("alice", name="Alice", age=31, joined=datetime.date(2020, 1, 2))
        Person.create("bob", name="Bob", age=25, joined=datetime.date(2021, 6, 7))
        Person.create("carol", name="Carol", age=42, joined=datetime.date(2019, 3, 4))
        assert Person.count() == 3
        alice = Person.get("alice")
        assert (alice.name, alice.age, alice.joined) == ("Alice", 31, datetime.date(2020, 1, 2))

        older = Person.query().filter(Person.age >= 30)
        by_age = older.order_by(Person.age.desc())  # a new query: `older` is unchanged
        assert [p.key for p in by_age.get()] == ["carol", "alice"]
        assert sorted(older.execute()) == ["alice", "carol"]
        assert by_age.limit(1).execute() == ["carol"]

        # The same table through QueryBuilder, whose methods return clones as well.
        table = server.client
        assert table.get("bob") == {"name": "Bob", "age": "25", "joined": "2021-06-07"}
        base = QueryBuilder().filter("age", OP_NUM_GE, 30)
        assert base.order_by("age", ORDER_NUM_DESC).execute(table) == ["carol", "alice"]
        assert base.count(table) == 2
        copy = base.clone().filter("name", OP_STR_STARTSWITH, "C")
        assert copy.execute(table) == ["carol"] and base.count(table) == 2
        everyone = QueryBuilder().order_by("name", ORDER_STR_ASC)
        assert [key for key, _ in everyone.get(table)] == ["alice", "bob", "carol"]

        Person.get("bob").delete()
        assert Person.count() == 2
        try:
            Person.get("bob")
        except KeyError:
            pass
        else:
            raise AssertionError("a missing model must raise KeyError")
    finally:
        server.stop()


def main():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kt's note that a stand-in runs where a server is not installed
        kyoto_tycoon()
        tokyo_tyrant_hash()
        tokyo_tyrant_table()
    print("kt 0.9.6 sample program: every check passed")


if __name__ == "__main__":
    main()
