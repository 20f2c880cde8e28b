"""A real Kyoto Tycoon dual-master pair (-ulog/-sid/-mhost/-mport/-rts): SIGKILL the active master and
the cluster fails over to the other one. The figures (calls that raised, failover time, acknowledged
writes lost, whether every write acknowledged after the failover is readable) are printed (-s) and
kept in the test's report."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from kt_cluster import KyotoCluster, ReplicaSet
from kt_core.errors import KtConnectionError
from kt_embedded import EmbeddedServer
from kt_embedded.managers import find_free_port, real_server_available
from kt_kyoto import KyotoTycoon

pytestmark = pytest.mark.real


def dual_master_pair(tmp: Path) -> tuple[EmbeddedServer, EmbeddedServer]:
    """Two ktservers, each the other's replication master (the flags of docs/running-several-servers.md)."""
    ports = [find_free_port(), find_free_port()]
    while ports[1] == ports[0]:
        ports[1] = find_free_port()
    servers = []
    for i, (port, other) in enumerate([(ports[0], ports[1]), (ports[1], ports[0])]):
        (tmp / f"ulog{i}").mkdir()
        servers.append(EmbeddedServer(port=port, database="*", quiet=True, cwd=str(tmp), server_args=[
            "-ulog", str(tmp / f"ulog{i}"), "-sid", str(i + 1), "-mhost", "127.0.0.1", "-mport", str(other),
            "-rts", str(tmp / f"{i}.rts"), "-riv", "0.01"]))
    return servers[0], servers[1]


def wait_until(condition: Any, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(not real_server_available("ktserver"), reason="ktserver is not installed")
def test_a_killed_master_fails_over_to_the_other_master(tmp_path: Path, record_property: Any) -> None:
    first, second = dual_master_pair(tmp_path)
    first.run()
    second.run()
    try:
        pair = ReplicaSet.dual_master(f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}", name="pair")
        cluster = KyotoCluster([pair], timeout=1.0, down_interval=60)
        reader = KyotoTycoon(port=second.port, timeout=2.0)
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
        print("\nKT dual-master failover:", figures)
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
