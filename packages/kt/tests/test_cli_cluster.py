"""``kt`` commands on ``kt+cluster://`` and ``tt+cluster://`` URLs: several servers sharded as kt_cluster places
keys, on every backend (the real servers where installed, the stand-ins always)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")

from click.testing import CliRunner, Result
from kt.cli import app
from kt.cli.targets import KyotoClusterTarget, URLError, open_target
from kt_cluster import KyotoCluster, TokyoTyrantCluster
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer

pytestmark = pytest.mark.server


def ok(*args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(app.cli, list(args), input=input)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def _servers(cls: Any, backend: str, n: int) -> Iterator[list[Any]]:
    servers = [cls(server=cls.executable if backend == "real" else STANDIN, quiet=True) for _ in range(n)]
    try:
        for server in servers:
            server.run()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture()
def kt_shards(kt_backend: str) -> Iterator[list[Any]]:
    yield from _servers(EmbeddedServer, kt_backend, 3)


@pytest.fixture()
def tt_shards(kt_backend: str) -> Iterator[list[Any]]:
    yield from _servers(EmbeddedTokyoTyrantServer, kt_backend, 2)


def _cluster_url(scheme: str, servers: list[Any], db: str = "") -> str:
    return f"{scheme}://" + ",".join(f"{s.host}:{s.port}" for s in servers) + db


def _where(servers: list[Any], cluster: Any) -> dict[str, Any]:
    """The servers by the shard names ``cluster.node_for`` answers."""
    return {f"{s.host}:{s.port}": s for s in servers}


def test_kt_cluster_set_get_rm_land_on_the_keys_shard(kt_shards: list[Any]) -> None:
    url = _cluster_url("kt+cluster", kt_shards, "/0")
    for i in range(30):
        ok("set", url, f"key{i}", f"value{i}")
    assert ok("get", url, "key7").stdout == "value7\n"
    assert ok("count", url).stdout.strip() == "30"
    cluster = KyotoCluster([f"{s.host}:{s.port}" for s in kt_shards])
    by_name = _where(kt_shards, cluster)
    for i in range(30):
        home = by_name[cluster.node_for(f"key{i}")]
        assert home.client.get(f"key{i}") == f"value{i}"  # stored on its own shard only
        assert sum(s.client.exists(f"key{i}") for s in kt_shards) == 1
    assert ok("rm", url, "key1", "key2").stdout.strip() == "2"
    assert ok("count", url).stdout.strip() == "28"
    cluster.close()


def test_kt_cluster_load_dump_keys_and_status(kt_shards: list[Any], tmp_path: Path) -> None:
    url = _cluster_url("kt+cluster", kt_shards)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"key": f"k{i:04d}", "value": f"v{i}"}) + "\n" for i in range(500)))
    ok("load", url, str(source), "--verify")
    counts = [s.client.count() for s in kt_shards]
    assert sum(counts) == 500 and all(counts)  # every shard holds some
    out = tmp_path / "out.jsonl"
    ok("dump", url, "-o", str(out))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["key"], r["value"]) for r in records) == [(f"k{i:04d}", f"v{i}") for i in range(500)]
    listed = ok("keys", url, "--prefix", "k00", "--limit", "50").stdout.split()
    assert len(listed) == 50 and all(k.startswith("k00") for k in listed)
    status = json.loads(ok("--json", "status", url).stdout)
    assert sum(int(status[f"{s.host}:{s.port}/count"]) for s in kt_shards) == 500


def test_copy_from_one_server_into_a_kt_cluster_and_back(kt_shards: list[Any], kt_backend: str,
                                                         tmp_path: Path) -> None:
    single = EmbeddedServer(server="ktserver" if kt_backend == "real" else STANDIN, quiet=True)
    single.run()
    try:
        single.client.set_bulk({f"c{i}": f"x{i}" for i in range(300)})
        url = _cluster_url("kt+cluster", kt_shards)
        ok("copy", f"kt://{single.host}:{single.port}/0", url, "--verify", "--checkpoint", str(tmp_path / "in.json"))
        cluster = KyotoCluster([f"{s.host}:{s.port}" for s in kt_shards])
        by_name = _where(kt_shards, cluster)
        for i in range(300):
            assert by_name[cluster.node_for(f"c{i}")].client.get(f"c{i}") == f"x{i}"
        cluster.close()
        single.client.clear()
        ok("copy", url, f"kt://{single.host}:{single.port}/0", "--verify", "--checkpoint", str(tmp_path / "out.json"))
        assert single.client.count() == 300
    finally:
        single.stop()


def test_a_cluster_walk_resumes_after_a_key_inside_its_shard(kt_shards: list[Any]) -> None:
    target = open_target(_cluster_url("kt+cluster", kt_shards, "/0"))
    assert isinstance(target, KyotoClusterTarget)
    target.write({b"r%03d" % i: b"v" for i in range(90)})
    walked = [k for k, _ in target.walk()]
    assert sorted(walked) == [b"r%03d" % i for i in range(90)]
    cut = walked[40]
    assert [k for k, _ in target.walk(after=cut)] == walked[41:]  # nothing before, nothing twice
    target.close()


def test_tt_cluster_commands(tt_shards: list[Any], tmp_path: Path) -> None:
    url = _cluster_url("tt+cluster", tt_shards)
    for i in range(40):
        ok("set", url, f"t{i}", f"w{i}")
    assert ok("get", url, "t3").stdout == "w3\n"
    assert ok("count", url).stdout.strip() == "40"
    cluster = TokyoTyrantCluster([f"{s.host}:{s.port}" for s in tt_shards])
    by_name = _where(tt_shards, cluster)
    for i in range(40):
        assert by_name[cluster.node_for(f"t{i}")].client.get(f"t{i}") == f"w{i}"
    cluster.close()
    out = tmp_path / "tt.jsonl"
    ok("dump", url, "-o", str(out))
    assert len(out.read_text().splitlines()) == 40
    assert sorted(ok("keys", url, "--prefix", "t1").stdout.split()) == sorted(
        f"t{i}" for i in range(40) if f"t{i}".startswith("t1"))


@pytest.mark.parametrize("url", ["kt+cluster://", "kt+cluster://h:1,,h:2", "tt+cluster:///0"])
def test_a_cluster_url_without_servers_is_a_usage_error(url: str) -> None:
    with pytest.raises(URLError, match="names no servers"):
        open_target(url)
