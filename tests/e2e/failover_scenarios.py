"""Semi-synchronous replication, switchover and failover, run for real in emulated pods.

They follow the scenarios of ``scenarios.py`` on the same cluster (4 ready pods, primary
mysql-0). The declared primary is changed as a user would: the chart is synthesized again
with another ``primary_ordinal`` and applied; only the topology ConfigMap and the write
Service change, and the pods converge without a restart. Each pod sees the new topology at
its own moment, as a kubelet refreshes a ConfigMap volume: within 30 s at the scenarios'
speed, and within the real 90 s in the switchover back to mysql-0 (scenario 15).
"""

from __future__ import annotations

import re
import time

import pytest

from emulator import SQLError
from emulator.background import BackgroundLoop
from scenario_tools import APP_USER, SPEED, Writer
from scenarios import checksum, ids, replica_status, replicating

pytestmark = pytest.mark.e2e

SCRIPTS = "/opt/mysql-ha"


def declare_primary(cluster, ordinal: int, moments: dict[str, float] | None = None) -> None:
    """Applies the chart with ``primary_ordinal=ordinal``; each pod sees it at its own moment
    (``moments`` pins some: pod name -> seconds)."""
    changed = cluster.apply(cluster.synth(primary_ordinal=ordinal, replicas=cluster.desired), moments=moments)
    assert sorted(changed) == ["ConfigMap/mysql-topology", "Service/mysql-primary"], changed


def propagation_gap_limit(cluster) -> float:
    """The longest write gap a switchover may cost: until the last of the two pods has seen
    the new declared primary (the sync window), plus a few rounds of their sidecars."""
    return cluster.timings.config_window_seconds + 15


class WritableWatch(BackgroundLoop):
    """Samples ``@@read_only`` of every pod; remembers each time two or more pods took writes
    in two samples in a row (one sample of the pods is taken one after the other, so a
    hand-over between two reads would show once)."""

    def __init__(self, cluster, pods: list[int]) -> None:
        super().__init__()
        self.cluster = cluster
        self.pods = pods
        self.samples = 0
        self.overlaps: list[tuple[float, list[int]]] = []
        self._previous: set[int] = set()

    def step(self) -> float:
        writable = set()
        for o in self.pods:
            try:
                if self.cluster.sql(o, "SELECT @@GLOBAL.read_only", timeout=10)[0][0] == "0":
                    writable.add(o)
            except Exception:  # noqa: BLE001 - a pod that does not answer takes no writes from here
                pass
        both = writable & self._previous
        if len(writable) > 1 and len(both) > 1:
            self.overlaps.append((time.monotonic(), sorted(writable)))
        self._previous = writable
        self.samples += 1
        return 0.2


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


def switch(cluster, old: int, new: int, table: str, start: int, client_pod: int) -> tuple[Writer, float, float]:
    """A switchover under a steady writer through the write Service; returns the writer, the
    seconds until the old and the new primary agreed (the new one takes writes, the old one
    replicates from it) and until every pod did."""
    timeout = cluster.timings.config_window_seconds + 60
    with Writer(cluster, table, start=start, host="mysql-primary", client_pod=client_pod) as writer:
        time.sleep(2)
        applied = time.monotonic()
        declare_primary(cluster, new)
        wait_primary(cluster, new, [old, new], timeout=timeout)
        agreed = time.monotonic() - applied
        wait_primary(cluster, new, sorted(cluster.pods), timeout=timeout)
        seconds = time.monotonic() - applied
        time.sleep(2)
    assert writer.acknowledged, f"the writer never got a row in: {writer.failures[-3:]}"
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
    return writer, agreed, seconds


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
    writer, agreed, seconds = switch(cluster, 0, 1, "app.s", start=1, client_pod=3)
    window = cluster.timings.config_window_seconds
    print(f"e2e {cluster.engine.name} switchover 0 -> 1 (ConfigMap window {window:g} s): both pods agreed after "
          f"{agreed:.1f} s, all 4 after {seconds:.1f} s, longest write gap {writer.longest_gap():.2f} s, "
          f"{len(writer.acknowledged)} acknowledged rows on 4 pods")
    assert writer.longest_gap() < propagation_gap_limit(cluster)


def test_15_switch_back_1_to_0_under_real_propagation(cluster):
    """The same switchover with the kubelet's real timings (``speed`` 1): each pod sees the new
    topology within 90 s (syncFrequency 60 s, jittered). The write Service moves to mysql-0 at
    once; mysql-0 takes writes once it has seen the change and mysql-1, having seen it too, is
    read-only: a client waits until the later of the two."""
    cluster.speed = 1.0
    try:
        writer, agreed, seconds = switch(cluster, 1, 0, "app.s", start=1_000_000, client_pod=3)
    finally:
        cluster.speed = SPEED
    print(f"e2e {cluster.engine.name} switchover under real propagation 1 -> 0 (ConfigMap window 90 s): "
          f"longest write gap {writer.longest_gap():.1f} s, both pods agreed after {agreed:.1f} s, all 4 after "
          f"{seconds:.1f} s, 0 of {len(writer.acknowledged)} acknowledged rows lost")
    assert writer.longest_gap() < 90 + 15


def test_15b_a_second_switchover_before_the_first_reached_every_pod(cluster):
    """mysql-1 is declared and takes writes while mysql-2 and mysql-3 have not seen it yet
    (they still replicate from mysql-0, which now replicates from mysql-1); then mysql-2 is
    declared, and mysql-1 sees that 20 s after the others. mysql-2 must not take writes while
    mysql-1 still does (a client connected to mysql-1 gets its writes acknowledged there), and
    must hold every row mysql-1 acknowledged before it takes over."""
    table = "app.h"
    cluster.sql(0, f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    wait_same_rows(cluster, table, 0, [0, 1, 2, 3])
    later = 600  # not before the next declaration
    with (WritableWatch(cluster, [0, 1, 2, 3]) as watch,
          Writer(cluster, table, start=1, host="mysql-primary", client_pod=3) as writer,
          Writer(cluster, table, start=5_000_000, host="mysql-1.mysql", client_pod=3) as direct):
        declare_primary(cluster, 1, moments={"mysql-0": 0, "mysql-1": 0, "mysql-2": later, "mysql-3": later})
        wait_primary(cluster, 1, [0, 1])
        assert source_of(cluster, 2) == "mysql-0.mysql" and source_of(cluster, 3) == "mysql-0.mysql"
        time.sleep(2)
        declared = time.monotonic()
        declare_primary(cluster, 2, moments={"mysql-0": 0, "mysql-2": 0, "mysql-3": 0, "mysql-1": 20})
        wait_primary(cluster, 2, [0, 1, 2, 3], timeout=120)
        seconds = time.monotonic() - declared
        time.sleep(2)
    assert watch.samples > 10
    assert not watch.overlaps, f"two pods took writes at once, {len(watch.overlaps)} times: {watch.overlaps[:3]}"
    acknowledged = set(writer.acknowledged) | set(direct.acknowledged)
    assert direct.acknowledged, "the client of mysql-1 never got a row in"
    wait_same_rows(cluster, table, 2, [0, 1, 2, 3])
    for o in range(4):
        missing = acknowledged - ids(cluster, o, table)
        assert not missing, f"mysql-{o} lacks {len(missing)} acknowledged rows"
    assert "waiting for mysql-1.mysql to turn read-only" in cluster.logs(2, "replication")
    print(f"e2e {cluster.engine.name} second switchover before the first reached every pod: mysql-2 took over "
          f"{seconds:.1f} s after it was declared (mysql-1 saw it after 20 s), {watch.samples} samples with one "
          f"writer at most, 0 of {len(acknowledged)} acknowledged rows lost")
    # Back to mysql-0 for the scenarios that follow.
    declare_primary(cluster, 0, moments={f"mysql-{o}": 0 for o in range(4)})
    wait_primary(cluster, 0, [0, 1, 2, 3])


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
