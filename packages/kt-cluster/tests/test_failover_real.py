"""A real dual-master pair (-ulog/-sid/-mhost/-mport/-rts; ktserver, and ttserver too): SIGKILL the active
master and the cluster fails over to the other one; a real master and slave serve reads from the slave
(eventually: it lags) and keep serving them when the master dies. The failover figures (calls that
raised, failover time, acknowledged writes lost, whether every write acknowledged after the failover
is readable) are printed (-s) and kept in the test's report."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from kt_cluster import KyotoCluster, ReplicaSet, ShardDownError, TokyoTyrantCluster
from kt_core.errors import KtConnectionError
from kt_embedded import EmbeddedServer, EmbeddedTokyoTyrantServer
from kt_embedded.managers import find_free_port, real_server_available
from kt_kyoto import KyotoTycoon
from kt_tyrant import TokyoTyrant

KINDS = {"kt": (EmbeddedServer, KyotoCluster, KyotoTycoon, "ktserver", ["-riv", "0.01"]),
         "tt": (EmbeddedTokyoTyrantServer, TokyoTyrantCluster, TokyoTyrant, "ttserver", [])}

pytestmark = [pytest.mark.real, pytest.mark.server]


def two_ports() -> tuple[int, int]:
    ports = [find_free_port(), find_free_port()]
    while ports[1] == ports[0]:
        ports[1] = find_free_port()
    return ports[0], ports[1]


def replicated(kind: str, tmp: Path, port: int, sid: int, master: int | None) -> Any:
    """A server with an update log, following ``master`` if given (the flags of docs/running-several-servers.md)."""
    manager_class, _, _, _, extra = KINDS[kind]
    (tmp / f"ulog{sid}").mkdir()
    args = ["-ulog", str(tmp / f"ulog{sid}"), "-sid", str(sid)]
    if master is not None:
        args += ["-mhost", "127.0.0.1", "-mport", str(master), "-rts", str(tmp / f"{sid}.rts"), *extra]
    return manager_class(port=port, database="*", quiet=True, cwd=str(tmp), server_args=args)


def dual_master_pair(kind: str, tmp: Path) -> tuple[Any, Any]:
    """Two servers, each the other's replication master."""
    a, b = two_ports()
    return replicated(kind, tmp, a, 1, b), replicated(kind, tmp, b, 2, a)


def skip_unless_real(kind: str) -> None:
    if (os.environ.get("KT_TEST_BACKEND") or "all") not in ("all", "real"):
        pytest.skip("backend real not selected")
    if not real_server_available(KINDS[kind][3]):
        if os.environ.get("KT_REQUIRE_REAL") == "1":
            pytest.fail(f"{KINDS[kind][3]} is not installed (KT_REQUIRE_REAL=1)")
        pytest.skip(f"{KINDS[kind][3]} is not installed")


def wait_until(condition: Any, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("kind", ["kt", "tt"])
def test_a_killed_master_fails_over_to_the_other_master(kind: str, tmp_path: Path, record_property: Any) -> None:
    skip_unless_real(kind)
    _, cluster_class, client_class, _, _ = KINDS[kind]
    first, second = dual_master_pair(kind, tmp_path)
    first.run()
    second.run()
    try:
        pair = ReplicaSet.dual_master(f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}", name="pair")
        cluster = cluster_class([pair], timeout=1.0, down_interval=60)
        reader = client_class(port=second.port, timeout=2.0)
        # Replication runs both ways: a write on the first master shows up on the second.
        assert cluster.set("probe", "1")
        assert wait_until(lambda: reader.get("probe") == "1"), "the pair does not replicate"
        acked_before: list[str] = []
        acked_after: list[str] = []
        raised = 0
        killed_at = recovered_at = 0.0
        for i in range(600):
            if i == 300:
                assert first.pid is not None
                os.kill(first.pid, signal.SIGKILL)
                killed_at = time.monotonic()
            key = f"w:{i}"
            time.sleep(0.002)  # a steady writer: about 1.5 s of writes before the kill
            try:
                cluster.set(key, str(i))
            except KtConnectionError:
                raised += 1
                continue
            if killed_at:
                if not recovered_at:
                    recovered_at = time.monotonic()
                acked_after.append(key)
            else:
                acked_before.append(key)
        # Let replication of the last writes before the kill arrive (it cannot any more: the sender is dead).
        time.sleep(0.2)
        on_second = reader.get_bulk(acked_before + acked_after)
        lost = [k for k in acked_before if k not in on_second]
        unreadable_after = [k for k in acked_after if cluster.get(k) != k.split(":")[1]]
        figures = {"calls_raised": raised, "failover_seconds": round(recovered_at - killed_at, 4),
                   "acked_before_kill": len(acked_before), "acked_writes_lost": len(lost),
                   "acked_after_failover": len(acked_after),
                   "every_write_acked_after_failover_readable": not unreadable_after}
        print(f"\n{kind.upper()} dual-master failover:", figures)
        for name, value in figures.items():
            record_property(name, value)
        assert cluster.health()["pair"][1]["active"] is True
        assert acked_after and not unreadable_after
        assert raised <= 1  # at most the request in flight when the master died (set is re-sent: 0)
        cluster.close()
        reader.close()
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("kind", ["kt", "tt"])
def test_reads_from_a_real_slave_lag_and_outlive_the_master(kind: str, tmp_path: Path) -> None:
    skip_unless_real(kind)
    _, cluster_class, _, _, _ = KINDS[kind]
    master_port, slave_port = two_ports()
    master = replicated(kind, tmp_path, master_port, 1, None)
    slave = replicated(kind, tmp_path, slave_port, 2, master_port)
    master.run()
    slave.run()
    try:
        shard = ReplicaSet.master_slaves(f"127.0.0.1:{master_port}", f"127.0.0.1:{slave_port}", name="set")
        cluster = cluster_class([shard], timeout=1.0, down_interval=60, read_from_replicas=True)
        assert cluster.set("k", "v")
        assert wait_until(lambda: cluster.get("k") == "v")  # read from the slave, once it has replicated
        assert master.pid is not None
        os.kill(master.pid, signal.SIGKILL)
        with pytest.raises(KtConnectionError):
            cluster.set("k2", "w")  # no second master
        with pytest.raises(ShardDownError):
            cluster.set("k2", "w")
        assert cluster.get("k") == "v"  # the slave still answers
        cluster.close()
    finally:
        master.stop()
        slave.stop()
