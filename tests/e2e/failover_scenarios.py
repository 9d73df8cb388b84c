"""Semi-synchronous replication, switchover and failover, run for real in emulated pods.

They follow the scenarios of ``scenarios.py`` on the same cluster (4 ready pods, primary
mysql-0). The declared primary is changed as a user would: the chart is synthesized again
with another ``primary_ordinal`` and applied; only the topology ConfigMap and the write
Service change, and the pods converge without a restart.
"""

from __future__ import annotations

import re
import time

import pytest

from emulator import SQLError
from scenario_tools import APP_USER, Writer
from scenarios import checksum, ids, replica_status, replicating

pytestmark = pytest.mark.e2e

SCRIPTS = "/opt/mysql-ha"


def declare_primary(cluster, ordinal: int) -> None:
    changed = cluster.apply(cluster.synth(primary_ordinal=ordinal, replicas=cluster.desired))
    assert changed == ["ConfigMap/mysql-topology", "Service/mysql-primary"], changed


def read_only(cluster, ordinal: int) -> bool:
    return cluster.sql(ordinal, "SELECT @@GLOBAL.read_only")[0][0] == "1"


def source_of(cluster, ordinal: int) -> str:
    status = replica_status(cluster, ordinal)
    return status.get(cluster.engine.status_source_host, "")


def semi_sync_status(cluster, ordinal: int) -> str:
    rows = cluster.sql(ordinal, f"SHOW GLOBAL STATUS LIKE '{cluster.engine.semi_sync_source_status}'")
    return rows[0][1] if rows else ""


def wait_primary(cluster, ordinal: int, pods: list[int], timeout: float = 90) -> float:
    """Waits until pod ``ordinal`` takes writes and every other pod of ``pods`` replicates from it."""
    def done() -> bool:
        try:
            return not read_only(cluster, ordinal) and not source_of(cluster, ordinal) and all(
                source_of(cluster, o) == f"mysql-{ordinal}.mysql" and replicating(cluster, o) and read_only(cluster, o)
                for o in pods if o != ordinal)
        except Exception:  # noqa: BLE001 - a pod may be restarting
            return False

    return cluster.wait_for(done, timeout=timeout, what=f"mysql-{ordinal} to lead {pods}", interval=0.5)


def wait_same_rows(cluster, table: str, primary: int, pods: list[int], timeout: float = 120) -> None:
    def same() -> bool:
        try:
            want = ids(cluster, primary, table)
            return all(ids(cluster, o, table) == want for o in pods)
        except Exception:  # noqa: BLE001
            return False

    cluster.wait_for(same, timeout=timeout, what=f"{table} equal on {pods}", interval=0.5)


def status(cluster, via: int) -> str:
    """The status command, as ``kubectl exec mysql-N -c replication -- bash .../status.sh``."""
    result = cluster.exec(via, "replication", ["bash", f"{SCRIPTS}/status.sh"], timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def most_advanced(text: str) -> int:
    match = re.search(r"^most advanced replica: mysql-(\d+)$", text, re.MULTILINE)
    assert match, text
    return int(match.group(1))


def switch(cluster, old: int, new: int, table: str, start: int, client_pod: int) -> tuple[Writer, float]:
    with Writer(cluster, table, start=start, host="mysql-primary", client_pod=client_pod) as writer:
        time.sleep(2)
        declare_primary(cluster, new)
        seconds = wait_primary(cluster, new, sorted(cluster.pods))
        time.sleep(2)
    assert writer.acknowledged, "the writer never got a row in"
    wait_same_rows(cluster, table, new, sorted(cluster.pods))
    acknowledged = set(writer.acknowledged)
    for o in sorted(cluster.pods):
        missing = acknowledged - ids(cluster, o, table)
        assert not missing, f"mysql-{o} lacks {len(missing)} acknowledged rows"
    assert len({checksum(cluster, o, table) for o in sorted(cluster.pods)}) == 1
    assert read_only(cluster, old) and source_of(cluster, old) == f"mysql-{new}.mysql"
    with pytest.raises(SQLError, match="(?i)read.only"):
        cluster.sql(old, f"INSERT INTO {table} (id) VALUES (1)", user=APP_USER, password=cluster.app_password,
                    check=False)
    assert cluster.endpoints("mysql-primary") == [f"mysql-{new}"]
    return writer, seconds


def test_13_semi_sync_with_every_replica_down(cluster):
    """Semi-sync is on (4 pods); with no replica to acknowledge, a commit waits for the
    timeout (10 s), then the primary falls back to asynchronous replication and commits;
    once a replica has caught up, semi-sync is on again."""
    cluster.scale(4)
    cluster.wait_ready(4, timeout=180)
    assert semi_sync_status(cluster, 0) == "ON"
    timeout = 10
    for o in (1, 2, 3):
        cluster.partition(o)
    try:
        started = time.monotonic()
        cluster.sql(0, "INSERT INTO app.w (id) VALUES (9000001)", timeout=120)
        blocked = time.monotonic() - started
        assert blocked >= timeout * 0.8, f"the commit returned after {blocked:.1f} s, before the timeout"
        assert semi_sync_status(cluster, 0) == "OFF"
        started = time.monotonic()
        cluster.sql(0, "INSERT INTO app.w (id) VALUES (9000002)")
        after = time.monotonic() - started
        assert after < timeout * 0.8, "after the fallback commits no longer wait"
    finally:
        for o in (1, 2, 3):
            cluster.heal(o)
    cluster.wait_for(lambda: semi_sync_status(cluster, 0) == "ON", timeout=90, what="semi-sync back on")
    wait_same_rows(cluster, "app.w", 0, [0, 1, 2, 3])
    print(f"e2e {cluster.engine.name} semi-sync, every replica down: the commit waited {blocked:.1f} s "
          f"(timeout {timeout} s), the next took {after:.2f} s")


def test_14_planned_switchover_0_to_1(cluster):
    cluster.sql(0, "CREATE TABLE app.s (id INT PRIMARY KEY)")
    wait_same_rows(cluster, "app.s", 0, [0, 1, 2, 3])
    writer, seconds = switch(cluster, 0, 1, "app.s", start=1, client_pod=3)
    print(f"e2e {cluster.engine.name} switchover 0 -> 1: converged in {seconds:.1f} s, longest write gap "
          f"{writer.longest_gap():.2f} s, {len(writer.acknowledged)} acknowledged rows on 4 pods")
    assert writer.longest_gap() < 30


def test_15_switch_back_1_to_0(cluster):
    writer, seconds = switch(cluster, 1, 0, "app.s", start=1_000_000, client_pod=3)
    print(f"e2e {cluster.engine.name} switchover 1 -> 0: converged in {seconds:.1f} s, longest write gap "
          f"{writer.longest_gap():.2f} s, {len(writer.acknowledged)} acknowledged rows on 4 pods")
    assert writer.longest_gap() < 30


def test_16_failover_after_losing_the_primary_node(cluster):
    """mysql-0 dies with its local volume under writes; the most advanced replica, as the
    status command names it, is declared primary: it holds every acknowledged row."""
    with Writer(cluster, "app.s", start=2_000_000, host="mysql-primary", client_pod=3) as writer:
        time.sleep(2)
        cluster.lose_node(0)
        lost_at = time.monotonic()
        text = status(cluster, 3)
        for _ in range(10):  # as an operator would: again while a replica does not answer
            if "not answering:" not in text:
                break
            time.sleep(1)
            text = status(cluster, 3)
        assert "not answering:" not in text, text
        assert "mysql-0" not in text.split("declared primary")[0] or "unreachable" in text, text
        chosen = most_advanced(text)
        declare_primary(cluster, chosen)
        wait_primary(cluster, chosen, [1, 2, 3])
        seconds = time.monotonic() - lost_at
        time.sleep(2)
    acknowledged = set(writer.acknowledged)
    assert not acknowledged - ids(cluster, chosen, "app.s"), "the new primary lacks acknowledged rows"
    cluster.replace_node(0)
    cluster.wait_ready(4, timeout=240)
    wait_primary(cluster, chosen, [0, 1, 2, 3])
    wait_same_rows(cluster, "app.s", chosen, [0, 1, 2, 3])
    for o in range(4):
        assert not acknowledged - ids(cluster, o, "app.s"), f"mysql-{o} lacks acknowledged rows"
    assert len({checksum(cluster, o, "app.s") for o in range(4)}) == 1
    print(f"e2e {cluster.engine.name} failover to mysql-{chosen}: writes again {seconds:.1f} s after the loss, "
          f"longest write gap {writer.longest_gap():.2f} s, 0 of {len(acknowledged)} acknowledged rows lost\n"
          f"{text}")


def test_17_old_primary_with_errant_transactions_is_refused(cluster):
    old = next(o for o in range(4) if not read_only(cluster, o))
    others = [o for o in range(4) if o != old]
    cluster.partition(old)
    try:
        # Cut off, the old primary still commits (after the semi-sync timeout): a
        # transaction no other pod will ever have.
        cluster.sql(old, "INSERT INTO app.s (id) VALUES (9100001)", timeout=120)
        chosen = most_advanced(status(cluster, others[-1]))
        declare_primary(cluster, chosen)
        wait_primary(cluster, chosen, others)
    finally:
        cluster.heal(old)
    message = "refusing to replicate from mysql-"
    cluster.wait_for(lambda: message in cluster.logs(old, "replication"), timeout=60, what="the refusal")
    cluster.wait_for(lambda: not cluster.pod(old).ready, timeout=30, what=f"mysql-{old} to be unready")
    assert "errant" in cluster.logs(old, "replication")
    assert not replicating(cluster, old) and read_only(cluster, old)
    # The runbook's re-seed: delete the claim and the pod; the new pod clones.
    cluster.delete_pod(old, delete_claims=True)
    cluster.wait_ready(4, timeout=240)
    wait_primary(cluster, chosen, [0, 1, 2, 3])
    cluster.sql(chosen, "INSERT INTO app.s (id) VALUES (9100002)")
    wait_same_rows(cluster, "app.s", chosen, [0, 1, 2, 3])
    assert 9100001 not in ids(cluster, old, "app.s")
    assert len({checksum(cluster, o, "app.s") for o in range(4)}) == 1
    print(f"e2e {cluster.engine.name} errant mysql-{old}: refused, re-seeded, following mysql-{chosen}")
