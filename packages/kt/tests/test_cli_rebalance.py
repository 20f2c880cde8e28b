"""``kt rebalance OLD NEW``: kt_cluster's rebalance from the command line, with progress and resuming, on
kt+cluster:// and tt+cluster:// URLs (stand-ins always, the real servers where installed)."""

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
from kt_cluster import KyotoCluster, TokyoTyrantCluster
from kt_embedded import STANDIN, EmbeddedServer, EmbeddedTokyoTyrantServer
from kt_kyoto import KyotoTycoon
from kt_tyrant import TokyoTyrant

pytestmark = pytest.mark.server

KINDS = {"kt": (EmbeddedServer, KyotoCluster, KyotoTycoon, "kt+cluster"),
         "tt": (EmbeddedTokyoTyrantServer, TokyoTyrantCluster, TokyoTyrant, "tt+cluster")}


def run(*args: str) -> Result:
    # A wide "terminal", so that the progress bar's line is not cut.
    return CliRunner().invoke(app.cli, list(args), env={"COLUMNS": "400"})


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


@pytest.fixture(params=["kt", "tt"])
def three(request: pytest.FixtureRequest, kt_backend: str) -> Iterator[tuple[str, list[Any]]]:
    """Three servers of one kind: the old cluster is the first two, the new one all three."""
    manager_class = KINDS[request.param][0]
    servers = [manager_class(server=manager_class.executable if kt_backend == "real" else STANDIN, quiet=True)
               for _ in range(3)]
    try:
        for server in servers:
            server.run()
        yield request.param, servers
    finally:
        for server in servers:
            server.stop()


def urls(kind: str, servers: list[Any]) -> tuple[str, str]:
    scheme = KINDS[kind][3]
    nodes = [f"{s.host}:{s.port}" for s in servers]
    return f"{scheme}://{','.join(nodes[:2])}", f"{scheme}://{','.join(nodes)}"


def load_old(kind: str, servers: list[Any], n: int = 600) -> tuple[Any, Any, dict[str, str]]:
    cluster_class = KINDS[kind][1]
    old = cluster_class([f"{s.host}:{s.port}" for s in servers[:2]])
    new = cluster_class([f"{s.host}:{s.port}" for s in servers])
    data = {f"r:{i}": f"v{i}" for i in range(n)}
    old.set_bulk(data)
    return old, new, data


def assert_every_key_on_its_new_shard(kind: str, servers: list[Any], new: Any, data: dict[str, str]) -> None:
    assert new.get_bulk(list(data)) == data
    clients = {f"{s.host}:{s.port}": KINDS[kind][2](s.host, s.port) for s in servers}
    try:
        for name, client in clients.items():
            assert sorted(client.keys()) == sorted(k for k in data if new.node_for(k) == name)
    finally:
        for client in clients.values():
            client.close()


def test_rebalance_moves_the_keys_whose_shard_changed(three: tuple[str, list[Any]], tmp_path: Path) -> None:
    kind, servers = three
    old_url, new_url = urls(kind, servers)
    old, new, data = load_old(kind, servers)
    checkpoint = str(tmp_path / "rebalance.json")
    summary = json.loads(ok("rebalance", old_url, new_url, "--batch", "100", "--checkpoint", checkpoint,
                            "--json").stdout)
    should_move = sum(1 for k in data if new.node_for(k) != old.node_for(k))
    assert summary["moved"] == should_move > 0 and summary["scanned"] == len(data) and summary["skipped"] == 0
    assert summary["done_shards"] == list(old.shards) and summary["checkpoint"] == checkpoint
    assert_every_key_on_its_new_shard(kind, servers, new, data)
    # Run again: nothing is left to move.
    again = ok("rebalance", old_url, new_url, "--checkpoint", checkpoint)
    assert again.stdout == f"moved 0 of {len(data) - should_move} keys scanned\n"
    old.close()
    new.close()


def test_an_interrupted_rebalance_says_how_to_go_on_and_resumes(three: tuple[str, list[Any]], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    kind, servers = three
    old_url, new_url = urls(kind, servers)
    old, new, data = load_old(kind, servers)
    checkpoint = str(tmp_path / "rebalance.json")
    real_rebalance = app.rebalance_cluster

    def interrupted(*args: Any, progress: Any, **kwargs: Any) -> Any:
        def stop_in_the_second_shard(report: Any) -> None:
            progress(report)
            if report.done_shards and report.shard != report.done_shards[-1]:
                raise KeyboardInterrupt

        return real_rebalance(*args, progress=stop_in_the_second_shard, **kwargs)

    monkeypatch.setattr(app, "rebalance_cluster", interrupted)
    stopped = run("rebalance", old_url, new_url, "--batch", "50", "--checkpoint", checkpoint)
    assert stopped.exit_code == 1
    first_shard = next(iter(old.shards))
    assert "rebalance interrupted" in stopped.stderr and f"[{first_shard!r}]" in stopped.stderr
    assert f"go on with: kt rebalance {old_url} {new_url} --resume --checkpoint {checkpoint}" in stopped.stderr
    monkeypatch.setattr(app, "rebalance_cluster", real_rebalance)
    resumed = json.loads(ok("rebalance", old_url, new_url, "--resume", "--checkpoint", checkpoint, "--json").stdout)
    # The finished shard is not walked again; the second one is, from what is left on it.
    assert resumed["done_shards"] == list(old.shards)
    on_second = sum(1 for k in data if old.node_for(k) != first_shard)
    assert on_second - 50 <= resumed["scanned"] < on_second
    assert_every_key_on_its_new_shard(kind, servers, new, data)
    old.close()
    new.close()


def test_rebalance_draws_its_progress(three: tuple[str, list[Any]], tmp_path: Path) -> None:
    kind, servers = three
    old_url, new_url = urls(kind, servers)
    old, new, data = load_old(kind, servers, 200)
    result = ok("rebalance", old_url, new_url, "--progress", "--checkpoint", str(tmp_path / "c.json"))
    assert f"rebalance {old_url} -> {new_url}" in result.stderr and "200/200" in result.stderr
    assert new.get_bulk(list(data)) == data
    old.close()
    new.close()


@pytest.mark.parametrize("which", ["single server", "mixed kinds", "same nodes"])
def test_rebalance_needs_two_different_clusters_of_one_kind(which: str) -> None:
    old, new = {"single server": ("kt://127.0.0.1:1", "kt+cluster://127.0.0.1:1,127.0.0.1:2"),
                "mixed kinds": ("tt+cluster://127.0.0.1:1", "kt+cluster://127.0.0.1:1,127.0.0.1:2"),
                "same nodes": ("kt+cluster://127.0.0.1:1,127.0.0.1:2", "kt+cluster://127.0.0.1:1,127.0.0.1:2")}[which]
    result = run("rebalance", old, new)
    assert result.exit_code == 2
    assert "OLD and NEW" in result.stderr
