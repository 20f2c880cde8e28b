"""Every ``kt`` command through click's runner, on both backends (real servers and stand-ins).

The runner's stdout is not a terminal, so these also check the plain, pipe-friendly output: no
colour codes, no progress bar, errors on one line of stderr with exit codes 1 and 2.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result
from kt.cli import app, main, missing_requirements
from kt_embedded.managers import find_free_port
from kt_kyoto import KyotoTycoon
from kt_serializers import KT_NONE
from kt_tyrant import TokyoTyrant

# The command line runs on the blocking clients; the client fixtures here only prepare the data.
pytestmark = pytest.mark.blocking_client

ANSI = "\x1b["


def kt(*args: str, input: bytes | str | None = None) -> Result:
    result = CliRunner().invoke(app.cli, list(args), input=input)
    # Never a colour code or a progress bar in a pipe.
    assert ANSI not in result.stdout and ANSI not in result.stderr, result.stderr
    return result


def ok(*args: str, input: bytes | str | None = None) -> Result:
    result = kt(*args, input=input)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def fails(code: int, *args: str, input: bytes | str | None = None) -> str:
    """Run a command that must fail with ``code``; its error: one line on stderr, no traceback."""
    result = kt(*args, input=input)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("kt: usage error: " if code == 2 else "kt: error: "), lines
    return lines[0]


def kt_url(server: Any, db: int | str = 0) -> str:
    return f"kt://{server.host}:{server.port}/{db}"


def tt_url(server: Any) -> str:
    return f"tt://{server.host}:{server.port}"


@pytest.fixture
def kt_raw(kt_client: Any, kt_client_factory: Any) -> Any:
    """A bytes client of kt_server (both databases cleared by kt_client)."""
    return kt_client_factory(serializer=KT_NONE, decode_keys=False)


@pytest.fixture
def tt_raw(tt_client: Any, tt_server: Any, tt_client_factory: Any) -> Any:
    return tt_client_factory(tt_server, serializer=KT_NONE, decode_keys=False)


# ------------------------------------------------------------------ without a server

def test_help_reads_well() -> None:
    out = ok("--help").stdout
    for part in ("Inspect, move and benchmark", "kt://host:port/db", "tt://host:port", "Examples:",
                 "Inspect and edit:", "Move data:", "Servers:", "Exit codes: 0 success, 1", "--json"):
        assert part in out, part
    commands = ["get", "set", "rm", "keys", "count", "status", "report", "script", "query", "dump", "load",
                "copy", "bench", "serve"]
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()
              and line.split()[0] in commands]
    assert listed == commands  # in sections, in this order
    for command in commands:
        assert "--help" in ok(command, "--help").stdout
    assert "ONE iterator" in ok("dump", "--help").stdout and "ONE iterator" in ok("copy", "--help").stdout


def test_version_and_python_m_kt() -> None:
    assert ok("--version").stdout.startswith("kt 0.1.0")
    done = subprocess.run([sys.executable, "-m", "kt", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Move data:" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    ((), None),  # no command: the help, exit code 2
    (("nope",), "No such command 'nope'"),
    (("get", "kt://127.0.0.1:1"), "Missing argument 'KEY'"),
    (("get", "http://h:1", "k"), "is not a server URL"),
    (("get", "kt+async://h:1", "k"), "not supported yet"),
    (("get", "kt://h:1?serializer=json", "k"), "serializer= does not apply"),
    (("get", "kt://h:1?nope=1", "k"), "unknown option 'nope'"),
    (("get", "tt://h:1/3", "k"), "single database"),
    (("--timeout", "-1", "count", "kt://h:1"), "must be 0"),
    (("keys", "kt://h:1", "--limit", "-1"), "--limit"),
    (("keys", "kt://h:1", "--prefix", "a", "--regex", "b"), "not both"),
    (("query", "kt://h:1", "a=1"), "tt:// URL"),
    (("query", "tt://h:1", "nocondition"), "not COLUMN OP VALUE"),
    (("query", "tt://h:1", "--where", "a", "bogus_op", "1"), "unknown operator"),
    (("query", "tt://h:1", "--order", "a:sideways"), "--order"),
    (("query", "tt://h:1", "--count", "--keys"), "not both"),
    (("set", "tt://h:1", "k", "v", "--expire", "5"), "no expiry"),
    (("set", "kt://h:1", "k", "!!", "--base64"), "base64"),
    (("script", "kt://h:1", "fn", "novalue"), "NAME=VALUE"),
    (("script", "tt://h:1", "fn", "other=1"), "key= and value="),
    (("script", "kt://h:1", "fn", "--lock-all"), "Tokyo Tyrant"),
    (("copy", "kt://h:1/0", "kt://h:1/0"), "same database"),
    (("dump", "kt://h:1", "--format", "xml"), "--format"),
    (("serve",), "--standin"),
    (("serve", "--standin", "tt", "a.tch", "b.tch"), "one database"),
])
def test_usage_errors_exit_2_on_one_line(args: tuple[str, ...], message: str | None) -> None:
    if not args:
        result = kt()
        assert result.exit_code == 2 and "Usage:" in result.stdout + result.stderr
        return
    assert message in fails(2, *args)


def test_operation_errors_exit_1_and_debug_shows_the_traceback() -> None:
    port = find_free_port()
    line = fails(1, "count", f"kt://127.0.0.1:{port}")
    assert "cannot connect" in line and str(port) in line
    fails(1, "get", f"tt://127.0.0.1:{port}", "k")
    result = kt("--debug", "count", f"kt://127.0.0.1:{port}")
    assert result.exit_code == 1 and result.exception is not None  # raised, so Python prints its traceback
    assert type(result.exception).__name__ != "SystemExit"
    result = kt("count", f"kt://127.0.0.1:{port}", "--debug")  # after the command's name too
    assert result.exception is not None and type(result.exception).__name__ != "SystemExit"
    done = subprocess.run([sys.executable, "-m", "kt", "--debug", "count", f"kt://127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_missing_cli_libraries_say_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "rich" else real(name, *a))
    assert missing_requirements() == ["rich>=13"]
    assert main(["--help"]) == 1
    err = capsys.readouterr().err
    assert "needs rich>=13" in err and "pip install 'kt[cli]'" in err


def test_the_cli_extra_holds_the_libraries() -> None:
    tomllib = pytest.importorskip("tomllib")
    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    from kt.cli import REQUIREMENTS

    assert sorted(project["optional-dependencies"]["cli"]) == sorted(REQUIREMENTS.values())
    assert project["scripts"] == {"kt": "kt.cli:main"}
    assert "click" not in str(project.get("dependencies", ""))  # the base install stays small


# ------------------------------------------------------------------ get, set, rm, keys, count: Kyoto Tycoon

def test_kt_get_set_rm(kt_server: Any, kt_raw: Any) -> None:
    url = kt_url(kt_server)
    assert ok("set", url, "k", "v1").stdout == ""
    assert ok("get", url, "k").stdout == "v1\n"
    assert ok("get", url, "k", "-n").stdout == "v1"
    assert json.loads(ok("get", url, "k", "--json").stdout) == {"key": "k", "value": "v1"}
    assert json.loads(ok("--json", "get", url, "k").stdout) == {"key": "k", "value": "v1"}
    assert "no record for key 'missing'" in fails(1, "get", url, "missing")
    ok("set", url, "bin", "-", input=b"\xff\x00\n")
    assert kt_raw.get(b"bin") == b"\xff\x00\n"
    assert ok("get", url, "bin", "-n").stdout_bytes == b"\xff\x00\n"
    assert json.loads(ok("get", url, "bin", "--json").stdout) == {"key": "bin", "value_b64": "/wAK"}
    ok("set", url, "b64", base64.b64encode(b"\x00\x01").decode(), "--base64")
    assert kt_raw.get(b"b64") == b"\x00\x01"
    ok("set", url, "tree", "t", "--expire", "3600")
    assert kt_raw.get(b"tree") == b"t"
    ok("set", kt_url(kt_server, "%25"), "k", "in-tree")
    assert kt_raw.get(b"k", db=1) == b"in-tree" and kt_raw.get(b"k", db=0) == b"v1"
    assert ok("rm", url, "k", "bin").stdout == "2\n"
    assert kt_raw.get(b"k") is None
    assert "1 of 2 keys had no record" in fails(1, "rm", url, "b64", "gone")
    assert kt_raw.get(b"b64") is None
    assert json.loads(ok("rm", url, "gone", "tree", "-f", "--json").stdout) == {"removed": 1, "missing": 1}


def test_kt_keys_and_count(kt_server: Any, kt_raw: Any) -> None:
    url = kt_url(kt_server, 1)  # the tree: keys come in order
    kt_raw.set_bulk({b"user:1": b"a", b"user:2": b"b", b"item:1": b"c", b"tab\tkey": b"d", b"\xffbin": b"e"}, db=1)
    assert ok("keys", url).stdout.splitlines() == ["item:1", "tab\\tkey", "user:1", "user:2", "\\B/2Jpbg=="]
    assert ok("keys", url, "--prefix", "user:").stdout.splitlines() == ["user:1", "user:2"]
    assert ok("keys", url, "--regex", "^u.*2$").stdout.splitlines() == ["user:2"]
    assert ok("keys", url, "--limit", "2").stdout.splitlines() == ["item:1", "tab\\tkey"]
    assert ok("keys", url, "--prefix", "user:", "--limit", "1").stdout.splitlines() == ["user:1"]
    assert ok("keys", url, "--limit", "0").stdout == ""
    lines = [json.loads(line) for line in ok("keys", url, "--json").stdout.splitlines()]
    assert lines[1] == {"key": "tab\tkey"} and lines[-1] == {"key_b64": base64.b64encode(b"\xffbin").decode()}
    assert ok("count", url).stdout == "5\n"
    assert json.loads(ok("count", kt_url(kt_server), "--json").stdout) == {"count": 0}


def test_kt_status_and_report(kt_server: Any, kt_raw: Any) -> None:
    kt_raw.set(b"a", b"1", db=1)
    fields = dict(line.split("\t", 1) for line in ok("status", kt_url(kt_server, 1)).stdout.splitlines())
    assert fields["count"] == "1" and fields["path"] == "%"
    status = json.loads(ok("status", kt_url(kt_server, 1), "--json").stdout)
    assert status["count"] == "1"
    report = json.loads(ok("report", kt_url(kt_server), "--json").stdout)
    assert report["db_1"].startswith("count=1 ") and "db_0" in report
    assert "\ndb_1\tcount=1 " in "\n" + ok("report", kt_url(kt_server)).stdout


def test_kt_script(kt_server: Any, kt_raw: Any) -> None:
    url = kt_url(kt_server)
    out = ok("script", url, "echo", "a=1", "b=x=y").stdout.splitlines()
    assert sorted(out) == ["a\t1", "b\tx=y"]
    assert json.loads(ok("script", url, "echo", "k=v", "--json").stdout) == {"k": "v"}
    assert "script 'nosuchfunction' failed" in fails(1, "script", url, "nosuchfunction")


# ------------------------------------------------------------------ the same on Tokyo Tyrant

def test_tt_get_set_rm_keys_count(tt_server: Any, tt_raw: Any) -> None:
    url = tt_url(tt_server)
    ok("set", url, "user:1", "alice")
    ok("set", url, "user:2", "-", input=b"\xfe\xff")
    ok("set", url, "item:1", "x")
    assert ok("get", url, "user:1").stdout == "alice\n"
    assert ok("get", url, "user:2", "-n").stdout_bytes == b"\xfe\xff"
    assert json.loads(ok("get", url, "user:2", "--json").stdout) == {"key": "user:2", "value_b64": "/v8="}
    assert "no record" in fails(1, "get", url, "nope")
    assert sorted(ok("keys", url).stdout.splitlines()) == ["item:1", "user:1", "user:2"]
    assert sorted(ok("keys", url, "--prefix", "user:").stdout.splitlines()) == ["user:1", "user:2"]
    assert ok("keys", url, "--regex", "^item").stdout.splitlines() == ["item:1"]
    assert len(ok("keys", url, "--limit", "2").stdout.splitlines()) == 2
    assert ok("count", url).stdout == "3\n"
    assert ok("rm", url, "user:1", "item:1").stdout == "2\n"
    assert "1 of 1 keys had no record" in fails(1, "rm", url, "user:1")
    assert ok("rm", url, "user:1", "--force").stdout == "0\n"
    assert tt_raw.count() == 1


def test_tt_status_report_script(tt_server: Any, tt_raw: Any) -> None:
    url = tt_url(tt_server)
    tt_raw.set(b"a", b"1")
    status = json.loads(ok("status", url, "--json").stdout)
    assert status["rnum"] == 1 and status["type"] == "on-memory hash"
    assert "rnum\t1" in ok("report", url).stdout.splitlines()
    assert ok("script", url, "pair", "key=k", "value=v").stdout == "k=v\n"
    assert json.loads(ok("script", url, "rawbytes", "--json").stdout) == {"result_b64": "/wD+AAENCg=="}
    assert "missing or failed" in fails(1, "script", url, "nosuchfunction")


def test_tt_query(tt_table_server: Any, tt_table_client: Any) -> None:
    tt_table_client.set_bulk({"u1": {"name": "alice", "age": "31", "tags": "red blue"},
                              "u2": {"name": "bob", "age": "25", "tags": "green"},
                              "u3": {"name": "carol", "age": "42", "tags": "red"}})
    url = tt_url(tt_table_server)
    assert ok("query", url, "age>=30", "--keys", "--order", "age:num").stdout.splitlines() == ["u1", "u3"]
    assert ok("query", url, "age>=30", "--count").stdout == "2\n"
    rows = ok("query", url, "name=bob").stdout.splitlines()
    assert len(rows) == 1 and rows[0].split("\t")[0] == "u2"
    assert dict(zip(rows[0].split("\t")[1::2], rows[0].split("\t")[2::2])) == {"name": "bob", "age": "25",
                                                                              "tags": "green"}
    records = [json.loads(line) for line in ok("query", url, "name^=a", "--json").stdout.splitlines()]
    assert records == [{"key": "u1", "value": {"name": "alice", "age": "31", "tags": "red blue"}}]
    assert ok("query", url, "name!=bob", "--order", "name:desc", "--keys").stdout.splitlines() == ["u3", "u1"]
    assert ok("query", url, "--where", "tags", "str_any", "red,green", "--count").stdout == "3\n"
    assert ok("query", url, "-w", "age", "num_between", "30,40", "--keys").stdout.splitlines() == ["u1"]
    assert ok("query", url, "-w", "age", "not_num_ge", "30", "--keys").stdout.splitlines() == ["u2"]
    assert ok("query", url, "name~=^[ab]", "--order", "name", "--limit", "1", "--offset", "1",
              "--keys").stdout.splitlines() == ["u2"]
    assert ok("query", url, "name*=aro", "--keys").stdout.splitlines() == ["u3"]
    assert ok("query", url, "name$=ice", "age==31", "age<40", "age<=31", "age>30", "--keys").stdout == "u1\n"
    assert ok("query", url, "--count").stdout == "3\n"  # no condition: every record


def test_tt_query_on_a_hash_database_fails(tt_server: Any, tt_raw: Any) -> None:
    tt_raw.set(b"a", b"1")
    assert "table database" in fails(1, "query", tt_url(tt_server), "a=1")


# ------------------------------------------------------------------ dump, load, copy (small; see test_cli_roundtrip)

RECORDS = {b"plain": b"text", b"tab\tkey": b"line1\nline2\r\\", b"\xffkey": b"\x00\xff\xfe", b"empty": b"",
           "unicode-\u00e9".encode(): "\u2603".encode()}


@pytest.mark.parametrize("fmt", ["jsonl", "tsv"])
def test_kt_dump_and_load(kt_server: Any, kt_raw: Any, tmp_path: Path, fmt: str) -> None:
    kt_raw.set_bulk(RECORDS, db=1)
    path = tmp_path / f"dump.{fmt}"
    summary = json.loads(ok("dump", kt_url(kt_server, 1), "-o", str(path), "--json").stdout)
    assert summary["records"] == len(RECORDS) and summary["format"] == fmt
    assert not (tmp_path / f"dump.{fmt}.part").exists()
    lines = path.read_bytes().splitlines()
    assert len(lines) == len(RECORDS)
    if fmt == "jsonl":
        assert json.loads(lines[0]) == {"key": "empty", "value": ""}
        assert {"key_b64": "/2tleQ==", "value_b64": "AP/+"} in [json.loads(line) for line in lines]
    else:
        assert b"tab\\tkey\tline1\\nline2\\r\\\\" in lines and b"\\B/2tleQ==\t\\BAP/+" in lines
    out = ok("load", kt_url(kt_server, 0), str(path), "--verify")
    assert out.stdout.splitlines() == [f"loaded {len(RECORDS)} records into {kt_url(kt_server, 0)}",
                                       f"verified: {len(RECORDS)} records there, {len(RECORDS)} sampled records equal"]
    assert kt_raw.get_bulk_raw(list(RECORDS)) == RECORDS
    # To stdout, and back from stdin: only records on stdout.
    dumped = ok("dump", kt_url(kt_server, 1), "--format", fmt).stdout_bytes
    assert dumped == path.read_bytes()
    kt_raw.clear(db=0)
    summary = json.loads(ok("load", kt_url(kt_server, 0), "-", "--format", fmt, "--json", "--verify",
                            input=dumped).stdout)
    assert summary["records"] == len(RECORDS) and summary["verify"]["ok"] is True
    assert kt_raw.get_bulk_raw(list(RECORDS)) == RECORDS


def test_tt_dump_and_load(tt_server: Any, tt_raw: Any, tt_btree_server: Any, tt_btree_client: Any,
                          tt_client_factory: Any, tmp_path: Path) -> None:
    tt_raw.set_bulk(RECORDS)
    path = tmp_path / "tt.tsv"
    assert ok("dump", tt_url(tt_server), "-o", str(path)).stdout == ""
    assert len(path.read_bytes().splitlines()) == len(RECORDS)
    ok("load", tt_url(tt_btree_server), str(path), "--verify")
    tree = tt_client_factory(tt_btree_server, serializer=KT_NONE, decode_keys=False)
    assert tree.get_bulk_raw(list(RECORDS)) == RECORDS
    assert tree.count() == len(RECORDS)


def test_tt_table_dump_and_load(tt_table_server: Any, tt_table_client: Any, tmp_path: Path) -> None:
    rows = {"u1": {"name": "alice", "age": "31"}, "u2": {"name": "b\u00f6b", "note": "tab\there"}}
    tt_table_client.set_bulk(rows)
    path = tmp_path / "table.jsonl"
    ok("dump", tt_url(tt_table_server), "-o", str(path))
    tt_table_client.clear()
    ok("load", tt_url(tt_table_server), str(path), "--verify")
    assert tt_table_client.get_bulk(["u1", "u2"]) == rows


def test_load_bad_files_name_the_line(kt_server: Any, kt_raw: Any, tmp_path: Path) -> None:
    url = kt_url(kt_server)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"key": "a", "value": "1"}\n\n{"key": "b"}\n')
    assert f"{bad}:3: no value" in fails(1, "load", url, str(bad))
    bad.write_bytes(b"not json\n")
    assert f"{bad}:1: not JSON" in fails(1, "load", url, str(bad))
    tsv = tmp_path / "bad.tsv"
    tsv.write_bytes(b"a\t1\nonly-one-field\n")
    assert f"{tsv}:2: expected 2 tab-separated fields" in fails(1, "load", url, str(tsv))
    assert "records already written stay" in fails(1, "load", url, str(tsv))
    assert kt_raw.get(b"a") is None  # the line before was still in its batch, not yet written
    assert "No such file" in fails(1, "load", url, str(tmp_path / "missing.jsonl"))


def test_copy_kt_to_kt(kt_server: Any, kt_raw: Any, tmp_path: Path) -> None:
    kt_raw.set_bulk(RECORDS, db=1)
    checkpoint = tmp_path / "cp.json"
    src, dst = kt_url(kt_server, 1), kt_url(kt_server, 0)
    out = ok("copy", src, dst, "--verify", "--checkpoint", str(checkpoint), "--batch", "2").stdout.splitlines()
    assert out == [f"copied {len(RECORDS)} records from {src} to {dst}",
                   f"verified: {len(RECORDS)} records on both sides, {len(RECORDS)} sampled records equal"]
    assert kt_raw.get_bulk_raw(list(RECORDS)) == RECORDS
    state = json.loads(checkpoint.read_text())
    assert state["done"] is True and state["copied"] == len(RECORDS)
    # A finished copy resumed: nothing to do.
    again = json.loads(ok("copy", src, dst, "--resume", "--checkpoint", str(checkpoint), "--json").stdout)
    assert again["copied"] == 0 and again["total"] == len(RECORDS)
    # A checkpoint of another pair is refused.
    assert "is for copying" in fails(1, "copy", kt_url(kt_server, 0), src, "--resume", "--checkpoint",
                                     str(checkpoint))
    # Verification notices a destination that differs.
    kt_raw.set(b"extra", b"1", db=0)
    assert "counts differ: source 5, destination 6" in fails(1, "copy", src, dst, "--verify", "--checkpoint",
                                                             str(checkpoint))


def test_copy_default_checkpoint_is_per_pair(kt_server: Any, kt_raw: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    kt_raw.set(b"a", b"1", db=1)
    first = json.loads(ok("copy", kt_url(kt_server, 1), kt_url(kt_server, 0), "--json").stdout)["checkpoint"]
    second = json.loads(ok("copy", kt_url(kt_server, 0), kt_url(kt_server, 1), "--json").stdout)["checkpoint"]
    assert first != second and (tmp_path / first).exists() and (tmp_path / second).exists()


def test_copy_tt_to_tt_and_tt_to_kt(tt_server: Any, tt_raw: Any, tt_btree_server: Any, tt_btree_client: Any,
                                    tt_client_factory: Any, kt_server: Any, kt_raw: Any, tmp_path: Path) -> None:
    tt_raw.set_bulk(RECORDS)
    tree = tt_client_factory(tt_btree_server, serializer=KT_NONE, decode_keys=False)
    tree.set(b"plain", b"old")  # overwritten: a B+ tree file keeps no duplicate
    summary = json.loads(ok("copy", tt_url(tt_server), tt_url(tt_btree_server), "--verify", "--json",
                            "--checkpoint", str(tmp_path / "a.json")).stdout)
    assert summary["copied"] == len(RECORDS) and summary["verify"]["ok"] is True
    assert tree.get_bulk_raw(list(RECORDS)) == RECORDS and tree.count() == len(RECORDS)
    ok("copy", tt_url(tt_server), kt_url(kt_server, "%25"), "--verify", "--checkpoint", str(tmp_path / "b.json"))
    assert kt_raw.get_bulk_raw(list(RECORDS), db=1) == RECORDS
    ok("copy", kt_url(kt_server, 1), tt_url(tt_btree_server), "--checkpoint", str(tmp_path / "c.json"))


# ------------------------------------------------------------------ bench and serve

@pytest.mark.parametrize("scheme", ["kt", "tt"])
def test_bench(scheme: str, kt_server: Any, kt_raw: Any, tt_server: Any, tt_raw: Any) -> None:
    url = kt_url(kt_server) if scheme == "kt" else tt_url(tt_server)
    raw = kt_raw if scheme == "kt" else tt_raw
    report = json.loads(ok("bench", url, "-n", "50", "--batch", "10", "--size", "8", "--json").stdout)
    assert [row["operation"] for row in report["operations"]] == ["set", "get", "set_bulk (10)", "get_bulk (10)",
                                                                 "remove"]
    assert all(row["records_per_second"] > 0 and row["p99_ms"] >= row["p50_ms"] for row in report["operations"])
    assert report["operations"][2]["requests"] == 5 and report["operations"][2]["records"] == 50
    assert raw.count() == 0  # nothing left behind
    table = ok("bench", url, "-n", "20").stdout.splitlines()
    assert table[0].split("\t") == ["operation", "requests", "records/s", "p50 ms", "p99 ms", "max ms"]
    assert len(table) == 6


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.mark.parametrize("which", ["kt", "tt"])
def test_serve_runs_a_standin_in_the_foreground(which: str) -> None:
    port = find_free_port()
    args = [sys.executable, "-m", "kt", "serve", "--standin", which, "--port", str(port)]
    proc = subprocess.Popen([*args, "*", "%"] if which == "kt" else args, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_for_port(port, proc)
        if which == "kt":
            with KyotoTycoon.from_url(f"kt://127.0.0.1:{port}/%25", timeout=5) as client:
                assert client.set("k", "v") == 1 and client.get("k") == "v"
        else:
            with TokyoTyrant.from_url(f"tt://127.0.0.1:{port}", timeout=5) as client:
                assert client.set("k", "v") and client.get("k") == "v"
        assert ok("get", f"{which}://127.0.0.1:{port}" + ("/1" if which == "kt" else ""), "k").stdout == "v\n"
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_the_readme_commands_parse() -> None:
    """The README's command-line examples are commands and options that exist (parsed, not run)."""
    import re
    import shlex

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    lines = [line.split("  #", 1)[0].strip() for line in block[1].splitlines() if line.strip()]
    assert len(lines) == 5
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "kt" and argv[1] in app.cli.commands, line
        with app.cli.commands[argv[1]].make_context(argv[1], argv[2:]) as ctx:
            assert ctx.params, line


def test_a_dump_cut_short_leaves_no_file(kt_server: Any, kt_raw: Any, tmp_path: Path) -> None:
    from kt_embedded.faultproxy import FaultProxy

    kt_raw.set_bulk({b"k%05d" % i: b"v" * 100 for i in range(3000)}, db=1)
    out = tmp_path / "cut.jsonl"
    with FaultProxy(kt_server.host, kt_server.port) as proxy:
        proxy.close_after(20_000)  # the walk's replies stop a few batches in
        line = fails(1, "dump", f"kt://{kt_server.host}:{proxy.port}/1", "-o", str(out))
    assert "closed the connection" in line
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_copy_says_how_to_resume(kt_server: Any, kt_raw: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from kt.cli import transfer

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(transfer, "copy", interrupted)
    checkpoint = tmp_path / "cp.json"
    line = fails(1, "copy", kt_url(kt_server, 1), kt_url(kt_server, 0), "--checkpoint", str(checkpoint))
    assert line == (f"kt: error: copy interrupted; 0 records copied so far; go on with: kt copy "
                    f"{kt_url(kt_server, 1)} {kt_url(kt_server, 0)} --resume --checkpoint {checkpoint}")


def _serve_under_the_runner(args: list[str], results: Any) -> None:
    result = CliRunner().invoke(app.cli, args)
    results.put((result.exit_code, result.stdout, result.stderr))


@pytest.mark.parametrize("which", ["kt", "tt"])
def test_serve_under_the_runner_stops_cleanly_on_ctrl_c(which: str) -> None:
    import multiprocessing
    import signal

    port = find_free_port()
    context = multiprocessing.get_context("fork")  # the child runs the runner on this process's modules
    results = context.Queue()
    child = context.Process(target=_serve_under_the_runner,
                            args=(["serve", "--standin", which, "--port", str(port), "*"], results))
    child.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline and child.is_alive(), "the stand-in did not start"
                time.sleep(0.05)
        assert ok("set", f"{which}://127.0.0.1:{port}", "k", "v").exit_code == 0
        assert ok("get", f"{which}://127.0.0.1:{port}", "k").stdout == "v\n"
        assert child.pid is not None
        os.kill(child.pid, signal.SIGINT)  # Ctrl-C
        exit_code, stdout, stderr = results.get(timeout=20)
    finally:
        child.join(20)
        if child.is_alive():
            child.kill()
    assert exit_code == 0, (stdout, stderr)
    assert f"listening on 127.0.0.1:{port}" in stdout or f"127.0.0.1:{port}" in stdout
