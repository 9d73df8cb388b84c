"""Server restarts that must lose no write and make no second writer, run for real in
emulated pods.

Every server starts read-only with replication stopped, whatever its role was; the replication
sidecar starts replication (the applier first, on the relay log the server kept) and makes
the declared primary writable. Each module runs these on a 3-pod cluster of its own.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from failover_scenarios import declare_primary, read_only, source_of, wait_primary, wait_same_rows
from scenario_tools import Writer
from scenarios import checksum, ids, replica_status, replicating, test_1_bring_up_three_pods  # noqa: F401

pytestmark = pytest.mark.e2e

KEEPS_RELAY_LOG = {"mysqld": True, "mariadbd": False}
"""Whether a replica's server keeps its received, unapplied relay log across a restart (by
the engine's server program). MySQL does, with relay_log_recovery OFF and GTID
auto-positioning. MariaDB in GTID mode (MASTER_USE_GTID) starts a new relay log at its applied
GTID position whenever replication starts with both threads stopped, as after every restart
(its log: "relay log './mysql-relay-bin.000001' position: 4"), whatever relay_log_recovery says."""


class TallyingWriter(Writer):
    """A ``Writer`` that tells its failures apart: refused by a read-only server, or no
    server to talk to (the name has no address, nothing listens, the connection dropped,
    also in the middle of the TLS handshake)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.read_only_refusals = 0
        self.unreachable = 0
        self.other: list[str] = []

    def insert(self, statement: str) -> None:
        try:
            super().insert(statement)
        except Exception as error:  # noqa: BLE001 - tallied, then reported to Writer.step
            text = str(error)
            if re.search(r"(?i)read.only", text):
                self.read_only_refusals += 1
            elif (re.search(r"ERROR 20(02|03|05|06|13)\b", text)
                  # the server went away during the TLS handshake (an I/O error, with its errno)
                  or re.search(r"ERROR 2026 .*TLS/SSL error: .*\(\d+\)", text)):
                self.unreachable += 1
            else:
                self.other.append(text[-200:])
            raise


def server_restarts(cluster, ordinal: int) -> int:
    return cluster.pod(ordinal).container("mysql").restarts


def kill_server(cluster, ordinal: int) -> None:
    """kill -9 of pod N's server; waits until the kubelet has started it again."""
    before = server_restarts(cluster, ordinal)
    cluster.kill_container(ordinal, "mysql", signal.SIGKILL)
    cluster.wait_for(lambda: server_restarts(cluster, ordinal) > before, timeout=60,
                     what=f"mysql-{ordinal}'s server to be started again")


def report(request, line: str) -> None:
    """The scenario's ``e2e <engine> ...`` line, in the suite's summary and on stdout."""
    request.node.user_properties.append(("e2e-report", line))
    print(line)


def unacknowledged(cluster, ordinal: int) -> int:
    """Commits that returned without a replica's acknowledgement (semi-sync fell back)."""
    variable = cluster.engine.semi_sync_source_unacknowledged
    return int(cluster.sql(ordinal, f"SHOW GLOBAL STATUS LIKE '{variable}'")[0][1])


def test_r1_restart_of_a_demoted_primary(cluster, request):
    """After a switchover 0 -> 1, mysql-0's server is killed (kill -9) and started again by the
    kubelet: primary.cnf no longer starts it writable. A client that keeps writing to
    ``mysql-0.mysql`` (a stale address an application may hold) gets refusals only, before,
    during and after the restart; mysql-0 replicates from mysql-1 again by itself."""
    declare_primary(cluster, 1)
    wait_primary(cluster, 1, [0, 1, 2], timeout=cluster.timings.config_window_seconds + 90)
    cluster.sql(1, "CREATE TABLE app.rs (id INT PRIMARY KEY)")
    wait_same_rows(cluster, "app.rs", 1, [0, 1, 2])
    with (TallyingWriter(cluster, "app.rs", start=1, host="mysql-0.mysql", client_pod=2) as stale,
          Writer(cluster, "app.rs", start=10_000_000, host="mysql-primary", client_pod=2) as writer):
        time.sleep(2)
        refusals_before = stale.read_only_refusals
        killed = time.monotonic()
        kill_server(cluster, 0)

        def replicates_again() -> bool:
            try:
                return (read_only(cluster, 0) and source_of(cluster, 0) == "mysql-1.mysql"
                        and replicating(cluster, 0))
            except Exception:  # noqa: BLE001 - the server is starting
                return False

        cluster.wait_for(replicates_again, timeout=90, what="mysql-0 to replicate from mysql-1 again", interval=0.2)
        seconds = time.monotonic() - killed
        cluster.wait_for(lambda: cluster.pod(0).ready, timeout=60, what="mysql-0 ready again")
        time.sleep(3)
    assert refusals_before > 0, "the writer should have been refused before the kill"
    assert stale.read_only_refusals > refusals_before, "the writer should have been refused after the restart"
    assert not stale.acknowledged, f"mysql-0 took {len(stale.acknowledged)} writes after it was demoted"
    assert not stale.other, f"failures that are neither refusals nor a missing server: {stale.other[:3]}"
    assert writer.acknowledged, f"mysql-1 took no write: {writer.failures[-3:]}"
    logs = cluster.logs(0, "replication")
    assert "the server started (replication stopped): replication started from mysql-1.mysql" in logs, logs[-2000:]
    wait_same_rows(cluster, "app.rs", 1, [0, 1, 2])
    assert not set(range(1, stale.next_id)) & ids(cluster, 1, "app.rs"), "a write aimed at mysql-0 reached the set"
    assert set(writer.acknowledged) <= ids(cluster, 0, "app.rs")
    assert len({checksum(cluster, o, "app.rs") for o in range(3)}) == 1
    assert cluster.endpoints("mysql-primary") == ["mysql-1"]
    report(request, f"e2e {cluster.engine.name} restart of a demoted primary: mysql-0 replicates from mysql-1 again "
                    f"{seconds:.1f} s after its server was killed; the writer aimed at mysql-0.mysql got "
                    f"{stale.read_only_refusals} read-only refusals and {stale.unreachable} failed connections, "
                    f"0 writes accepted; {len(writer.acknowledged)} rows acknowledged by mysql-1 meanwhile, on all 3 pods")


def test_r2_acknowledged_rows_in_a_restarted_replica_s_relay_log(cluster, request):
    """mysql-1 is the primary, mysql-2 the one replica that acknowledges (mysql-0's receiver is
    stopped), with its applier stopped: the acknowledged rows exist on mysql-1 and in mysql-2's
    relay log only. mysql-1 is then cut off for good, mysql-2's server is killed and started
    again, and mysql-2 is declared the primary: it must apply the relay log it kept and take
    writes with every acknowledged row."""
    engine = cluster.engine
    primary, keeper, other = 1, 2, 0
    table = "app.rk"
    cluster.sql(primary, f"CREATE TABLE {table} (id INT PRIMARY KEY)")
    wait_same_rows(cluster, table, primary, [0, 1, 2])
    cluster.sql(other, f"{engine.sql_stop_replica} IO_THREAD")
    cluster.sql(keeper, f"{engine.sql_stop_replica} SQL_THREAD")
    before = unacknowledged(cluster, primary)
    acknowledged: list[int] = []
    for batch in range(50):
        rows = range(batch * 10 + 1, batch * 10 + 11)
        cluster.sql(primary, f"INSERT INTO {table} (id) VALUES {','.join(f'({i})' for i in rows)}", timeout=30)
        acknowledged += rows
    assert unacknowledged(cluster, primary) == before, "every commit must have been acknowledged by mysql-2"
    assert not ids(cluster, keeper, table), "mysql-2's applier is stopped: nothing applied yet"
    assert not ids(cluster, other, table) & set(acknowledged), "mysql-0 received nothing"
    received = replica_status(cluster, keeper).get(engine.status_received_gtids, "")

    cluster.partition(primary)
    lost = time.monotonic()
    try:
        kill_server(cluster, keeper)
        declare_primary(cluster, keeper)
        wait_primary(cluster, keeper, [other, keeper], timeout=cluster.timings.config_window_seconds + 90)
        writable = time.monotonic() - lost
        kept = set(acknowledged) & ids(cluster, keeper, table)
        logs = cluster.logs(keeper, "replication")
    finally:
        cluster.heal(primary)
    missing = set(acknowledged) - kept
    assert f"the server started (replication stopped): replication started from mysql-{primary}.mysql" in logs, \
        logs[-2000:]
    if KEEPS_RELAY_LOG[engine.server]:
        assert not missing, (f"mysql-2 took writes without {len(missing)} of the {len(acknowledged)} acknowledged "
                             f"rows it had received ({received})")
        cluster.sql(keeper, f"INSERT INTO {table} (id) VALUES (1000001)")
        # The old primary, back, holds nothing mysql-2 lacks: it follows.
        wait_primary(cluster, keeper, [0, 1, 2], timeout=cluster.timings.config_window_seconds + 90)
        wait_same_rows(cluster, table, keeper, [0, 1, 2])
        assert len({checksum(cluster, o, table) for o in range(3)}) == 1
        after = "mysql-1 follows it after the heal"
    else:
        # The engine discarded the relay log: the rows are gone from the set's history, and the
        # old primary, which has them, is refused as errant rather than merged silently.
        assert missing == set(acknowledged), f"the relay log was discarded, yet {len(kept)} rows are there"
        message = "refusing to replicate from mysql-2.mysql"
        cluster.wait_for(lambda: message in cluster.logs(primary, "replication"), timeout=120,
                         what="the old primary to refuse the new one")
        assert not replicating(cluster, primary) and read_only(cluster, primary)
        after = "mysql-1, which has them, refused as errant after the heal (re-seed it)"
    report(request, f"e2e {engine.name} acknowledged rows in a restarted replica's relay log: {len(kept)} of "
                    f"{len(acknowledged)} rows acknowledged by mysql-2 alone, unapplied when its server was killed, "
                    f"are on it as the new primary (writes {writable:.1f} s after mysql-1 was cut off); {after}")
