"""The kernel's OOM kill of a replica's server, run for real in emulated pods.

It follows the rollout scenarios on the same cluster (3 ready pods; the declared primary
wherever they left it). The server container runs in a memory cgroup limited to its
``resources.limits.memory`` (the chart's default, 1Gi), as a container runtime runs it. A
reporting client on a replica builds a temporary MEMORY table bigger than that, as a session
may (its ``max_heap_table_size`` is its own to raise, and a read-only server takes temporary
tables); the kernel kills the server, the kubelet restarts it, and the replica must come back
on its own data: InnoDB's crash recovery, no clone, replication resumed where it stopped,
while the primary keeps acknowledging writes with the other replica's help.
"""

from __future__ import annotations

import re
import secrets
import time

import pytest

from emulator import SQLError
from emulator.background import BackgroundLoop
from emulator.memory import memory_limit
from failover_scenarios import semi_sync_status, wait_primary, wait_same_rows
from rollout_scenarios import declared
from scenario_tools import Writer
from scenarios import checksum, clone_runs, ids, numbers, replica_status, replicating

pytestmark = pytest.mark.e2e

REPORT_USER = "report"
TABLE_MIB = 2048  # what the report would hold in memory: twice the default limit


def report_statements(mebibytes: int) -> str:
    """A report that builds a temporary MEMORY table of about ``mebibytes`` MiB, 100 MiB per
    statement: 10,000 fixed-length rows of 10,000 bytes each (a MEMORY table stores a
    VARCHAR at its full length)."""
    rows = f"INSERT INTO report SELECT n, REPEAT('x', 10000) FROM ({numbers(10_000)}) s;"
    return "\n".join([
        "SET SESSION max_heap_table_size = 4294967296;",
        "CREATE TEMPORARY TABLE report (n INT, pad VARCHAR(10000)) ENGINE=MEMORY DEFAULT CHARSET=latin1;",
        *[rows] * (mebibytes // 100 + 1),
        "SELECT COUNT(*) FROM report;",
    ])


class EndpointWatch(BackgroundLoop):
    """Samples a Service's endpoints; remembers when ``pod`` left them and came back."""

    interval = 0.1

    def __init__(self, cluster, service: str, pod: str) -> None:
        super().__init__()
        self.cluster = cluster
        self.service = service
        self.pod = pod
        self.left: float | None = None
        self.returned: float | None = None

    def step(self) -> None:
        present = self.pod in self.cluster.endpoints(self.service)
        now = time.monotonic()
        if not present and self.left is None:
            self.left = now
        elif present and self.left is not None and self.returned is None:
            self.returned = now


def unacknowledged(cluster, ordinal: int) -> int:
    """Commits of pod N that waited out the semi-sync timeout without an acknowledgement."""
    variable = cluster.engine.semi_sync_source_unacknowledged
    return int(cluster.sql(ordinal, f"SHOW GLOBAL STATUS LIKE '{variable}'")[0][1])


def test_20_replica_server_oom_killed(cluster, request):
    """A report on a replica takes its server over the container's memory limit: the kernel
    kills it (OOMKilled, exit 137), the kubelet restarts it, and the replica is ready and
    replicating again on its own data, with every acknowledged write, while the primary never
    stops taking writes."""
    engine = cluster.engine
    primary = declared(cluster)
    pods = sorted(cluster.pods)
    wait_primary(cluster, primary, pods)
    replica = max(o for o in pods if o != primary)
    name = f"mysql-{replica}"
    table = "app.m"
    password = "Report-" + secrets.token_urlsafe(12)
    cluster.sql(primary, f"""
        CREATE TABLE {table} (id INT PRIMARY KEY);
        CREATE USER '{REPORT_USER}'@'%' IDENTIFIED BY '{password}';
        GRANT SELECT, CREATE TEMPORARY TABLES ON app.* TO '{REPORT_USER}'@'%';
    """)
    wait_same_rows(cluster, table, primary, pods)
    server = cluster.pod(replica).container("mysql")
    limit = memory_limit(server.spec)
    assert limit is not None, "the server container has no memory limit"
    restarts, oom_kills, clones = server.restarts, server.oom_kills, clone_runs(cluster, replica)
    data = cluster.pvc_dir(replica) / "mysql" / "ibdata1"  # InnoDB's system tablespace: a clone replaces it
    inode = data.stat().st_ino
    before_report = server.memory.peak() if server.memory else 0
    unacknowledged_before = unacknowledged(cluster, primary) if engine.supports_semi_sync else 0
    events = len(cluster.events)

    with (EndpointWatch(cluster, "mysql-read", name) as watch,
          Writer(cluster, table, start=1, host="mysql-primary", client_pod=primary) as writer):
        time.sleep(2)
        started = time.monotonic()
        # From the primary's pod, as a reporting client connects to a replica it was given.
        with pytest.raises(SQLError, match="Lost connection"):
            cluster.sql(primary, report_statements(TABLE_MIB), user=REPORT_USER, password=password,
                        database="app", host=f"{name}.mysql", check=False, timeout=180)
        cluster.wait_for(lambda: server.restarts > restarts and server.running, timeout=60,
                         what=f"{name}'s server to restart")
        killed = next(t for t, message in cluster.events[events:]
                      if message.startswith(f"{name}/mysql exited with"))
        cluster.wait_ready(len(pods), timeout=240)
        cluster.wait_for(lambda: replicating(cluster, replica), timeout=60, what=f"{name} to replicate")
        seconds = time.monotonic() - killed
        time.sleep(2)
        ended = time.monotonic()

    assert server.exit_codes[-1] == 137 and server.reason == "OOMKilled", (server.exit_codes, server.reason)
    assert server.oom_kills == oom_kills + 1 and server.restarts == restarts + 1
    assert f"{name}/mysql exited with 137 (OOMKilled)" in [m for _, m in cluster.events[events:]]
    assert server.memory_peak <= limit, f"the killed server used {server.memory_peak} bytes, over {limit}"
    # Its own data, recovered: no clone, the same files, no applier error (a transaction
    # applied twice would stop it on a duplicate key).
    assert clone_runs(cluster, replica) == clones, f"{name} was cloned again"
    assert data.stat().st_ino == inode, f"{name}'s data directory was replaced"
    # The restarted server found its binary log open and recovered: "Starting XA crash recovery"
    # (MySQL), "InnoDB: Starting crash recovery" and "Starting table crash recovery" (MariaDB).
    restarted = cluster.logs(replica, "mysql").rsplit("--- start ", 1)[-1]
    assert re.search(r"Starting (XA )?crash recovery", restarted), f"no crash recovery in {name}'s log:\n{restarted}"
    status = replica_status(cluster, replica)
    assert status["Last_SQL_Errno"] == "0" and status["Last_IO_Errno"] == "0", status
    assert watch.left is not None and watch.left >= started, f"{name} never left mysql-read"
    assert watch.returned is not None, f"{name} did not return to mysql-read"
    assert writer.acknowledged, "the writer never got a row in"
    wait_same_rows(cluster, table, primary, pods)
    acknowledged = set(writer.acknowledged)
    lost_rows = {o: len(acknowledged - ids(cluster, o, table)) for o in pods}
    assert len({checksum(cluster, o, table) for o in pods}) == 1
    gap = writer.longest_gap(started, ended)
    line = (f"e2e {engine.name} oom kill of {name}'s server: ready and replicating again after {seconds:.1f} s "
            f"(exit {server.exit_codes[-1]}, {server.reason}, restart count {server.restarts}), memory peak "
            f"{server.memory_peak / 2**20:.0f} MiB of its {limit / 2**20:.0f} MiB limit "
            f"({before_report / 2**20:.0f} MiB before the report), out of mysql-read for "
            f"{watch.returned - watch.left:.1f} s; primary mysql-{primary}: longest write gap {gap:.2f} s, "
            f"{writer.errors} failed writes; {len(acknowledged)} rows checked on {len(pods)} pods, "
            f"{max(lost_rows.values())} acknowledged rows lost")
    request.node.user_properties.append(("e2e-report", line))
    print(line)
    assert not any(lost_rows.values()), f"acknowledged rows lost: {lost_rows}"
    assert writer.errors == 0 and gap < 5, f"the primary stopped taking writes: {writer.failures[-3:]}"
    if engine.supports_semi_sync:
        # The other replica acknowledged every commit: none waited out the timeout.
        assert unacknowledged(cluster, primary) == unacknowledged_before
        assert semi_sync_status(cluster, primary) == "ON"
