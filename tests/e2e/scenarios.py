"""The scenarios every engine's chart must pass, run for real in emulated pods.

Each ``test_<engine>.py`` module names its ``ENGINE`` and imports these; the module's
pods form one cluster, the scenarios run in order and each leaves every pod ready.
SQL here is what MySQL 8.4+ and MariaDB 11 both understand; the few words that differ
(replica status, stopping the applier) come from the engine table.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from emulator import SQLError
from scenario_tools import APP_USER, Writer

pytestmark = pytest.mark.e2e

_DIGITS = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 " \
          "UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"


def numbers(count: int, start: int = 1) -> str:
    """A SELECT of the integers start .. start+count-1 as column ``n`` (up to 100000), in
    SQL both engines run (MariaDB's seq_ tables and MySQL's CTE limits differ)."""
    assert 0 < count <= 100_000
    value = "a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d"
    return (f"SELECT {start} + {value} AS n FROM {_DIGITS} a, {_DIGITS} b, {_DIGITS} c, {_DIGITS} e, "
            f"{_DIGITS} f WHERE {value} < {count}")


def count(cluster, ordinal: int, table: str) -> int:
    return int(cluster.sql(ordinal, f"SELECT COUNT(*) FROM {table}")[0][0])


def checksum(cluster, ordinal: int, table: str) -> str:
    return cluster.sql(ordinal, f"CHECKSUM TABLE {table}")[0][1]


def ids(cluster, ordinal: int, table: str) -> set[int]:
    return {int(row[0]) for row in cluster.sql(ordinal, f"SELECT id FROM {table}")}


def wait_converged(cluster, table: str, pods: int, timeout: float = 90) -> float:
    """Waits until every pod holds exactly the primary's rows; returns the seconds it took."""
    def converged() -> bool:
        try:
            want = count(cluster, 0, table)
            return all(count(cluster, o, table) == want for o in range(1, pods))
        except Exception:  # noqa: BLE001 - a table may not have replicated yet
            return False

    return cluster.wait_for(converged, timeout=timeout, what=f"{table} equal on {pods} pods")


def replica_status(cluster, ordinal: int) -> dict[str, str]:
    """The replica status of pod N as column -> value ({} on a pod that is no replica)."""
    rows = cluster.sql(ordinal, cluster.engine.sql_replica_status, column_names=True)
    return dict(zip(rows[0], rows[1])) if len(rows) > 1 else {}


def either(status: dict[str, str], *names: str) -> str:
    """The value of the first column that exists (MySQL says Source_*, MariaDB Master_*)."""
    return next(status[name] for name in names if name in status)


def replicating(cluster, ordinal: int) -> bool:
    engine = cluster.engine
    status = replica_status(cluster, ordinal)
    return status.get(engine.status_io_running) == "Yes" and status.get(engine.status_sql_running) == "Yes"


def clone_runs(cluster, ordinal: int) -> int:
    return cluster.logs(ordinal, "clone-mysql").count("clone.sh: cloning from")


def clones_completed(cluster, ordinal: int) -> int:
    """Clones that ran to the end (the pods start in parallel: a replica's first tries fail
    until its donor answers)."""
    return len(re.findall(r"clone\.sh: clone from \S+ complete", cluster.logs(ordinal, "clone-mysql")))


def test_1_bring_up_three_pods(cluster, report):
    started = time.monotonic()
    cluster.wait_ready(3, timeout=180)
    cluster.sql(0, f"""
        CREATE DATABASE app;
        CREATE TABLE app.rows (id INT PRIMARY KEY, payload VARCHAR(100));
        CREATE TABLE app.w (id INT PRIMARY KEY);
        CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{cluster.app_password}';
        GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO '{APP_USER}'@'%';
        INSERT INTO app.rows SELECT n, CONCAT('row-', n) FROM ({numbers(1000)}) s;
    """)
    wait_converged(cluster, "app.rows", 3)
    seconds = time.monotonic() - started

    sums = {checksum(cluster, o, "app.rows") for o in range(3)}
    assert len(sums) == 1, f"CHECKSUM TABLE differs between pods: {sums}"
    assert all(count(cluster, o, "app.rows") == 1000 for o in range(3))
    for replica in (1, 2):
        with pytest.raises(SQLError, match="(?i)read.only"):
            cluster.sql(replica, "INSERT INTO app.rows VALUES (5000, 'refused')", user=APP_USER,
                        password=cluster.app_password, check=False)
        status = replica_status(cluster, replica)
        assert either(status, "Source_User", "Master_User") == "repl", "replication must not run as root"
        assert either(status, "Source_Host", "Master_Host") == "mysql-0.mysql"
        assert replicating(cluster, replica), status
    grants = " ".join(r[0] for r in cluster.sql(0, "SHOW GRANTS FOR 'repl'@'%'"))
    assert "REPLICATION SLAVE" in grants and "ALL PRIVILEGES" not in grants and "SUPER" not in grants
    assert clones_completed(cluster, 1) == 1 and clones_completed(cluster, 2) == 1
    if cluster.engine.supports_semi_sync:
        # Only the primary waits for acknowledgements, and every commit that waited got one:
        # nothing (its accounts, a replica's applier) waited out the timeout and fell back.
        variable = cluster.engine.semi_sync_source_unacknowledged
        for o in range(3):
            assert cluster.sql(o, f"SHOW GLOBAL STATUS LIKE '{variable}'") == [[variable, "0"]], f"mysql-{o}"
            enabled = cluster.sql(o, f"SELECT @@GLOBAL.{cluster.engine.semi_sync_source_enabled}")[0][0]
            assert enabled == ("1" if o == 0 else "0"), f"mysql-{o}: semi-sync source side {enabled}"
        assert "semi-sync source side on" in cluster.logs(0, "replication")
    if cluster.engine.clone_method == "clone-plugin":
        # Seeded by CLONE: the replica's GTID history is the primary's, not its own.
        executed = [cluster.sql(o, "SELECT @@GLOBAL.gtid_executed")[0][0].replace("\\n", "") for o in range(3)]
        uuids = {cluster.sql(o, "SELECT @@server_uuid")[0][0] for o in range(3)}
        assert len(uuids) == 3, "every clone must get its own server_uuid"
        assert executed[1] == executed[0] == executed[2], executed
        clone_grants = " ".join(r[0] for r in cluster.sql(0, "SHOW GRANTS FOR 'clone'@'%'"))
        assert "BACKUP_ADMIN" in clone_grants and "ALL PRIVILEGES" not in clone_grants
        assert cluster.sql(1, "SELECT @@gtid_mode, @@super_read_only")[0] == ["ON", "1"]
    report("scenario 1 (bring-up of 3 pods)", seconds, 1000, 3)


def test_2_scale_up_while_writing(cluster, report):
    with Writer(cluster, "app.w", start=1) as writer:
        time.sleep(1)
        started = time.monotonic()
        cluster.scale(4)
        cluster.wait_ready(4, timeout=180)
        seconds = time.monotonic() - started
        time.sleep(1)
    assert writer.acknowledged, "the writer never got a row in"
    wait_converged(cluster, "app.w", 4)
    assert ids(cluster, 3, "app.w") == set(writer.acknowledged) == ids(cluster, 0, "app.w")
    assert len({checksum(cluster, o, "app.w") for o in range(4)}) == 1
    report("scenario 2 (scale 3 -> 4 under writes)", seconds, len(writer.acknowledged), 4)


def test_3_replica_restart_resumes_without_reclone(cluster, report):
    before = count(cluster, 0, "app.w")
    cluster.delete_pod(1)
    cluster.sql(0, f"INSERT INTO app.w (id) SELECT {before} + 100000 + n FROM ({numbers(500)}) s")
    started = time.monotonic()
    cluster.wait_ready(4, timeout=120)
    seconds = wait_converged(cluster, "app.w", 4) + (time.monotonic() - started)
    assert "nothing to clone" in cluster.logs(1, "clone-mysql")
    assert clone_runs(cluster, 1) == 0, "a restarted replica must keep its data"
    status = replica_status(cluster, 1)
    assert status[cluster.engine.status_sql_running] == "Yes", status.get("Last_SQL_Error")
    assert status["Last_SQL_Errno"] == "0", "a duplicate-key error would show here"
    assert len({checksum(cluster, o, "app.w") for o in range(4)}) == 1
    # A crash of only the server container (the pod and its sidecar stay): replication
    # must resume by itself, as nothing positions the replica again.
    cluster.kill_container(2, "mysql", signal.SIGKILL)
    cluster.wait_for(lambda: cluster.pod(2).container("mysql").restarts >= 1, timeout=30, what="a restart")
    cluster.sql(0, f"INSERT INTO app.w (id) SELECT {before} + 200000 + n FROM ({numbers(500)}) s")
    cluster.wait_ready(4, timeout=120)
    wait_converged(cluster, "app.w", 4)
    assert replicating(cluster, 2)
    report("scenario 3 (replica restart)", seconds, count(cluster, 0, "app.w"), 4)


def test_4_primary_crash_loses_no_acknowledged_row(cluster, report):
    with Writer(cluster, "app.w", start=1_000_000) as writer:
        time.sleep(1.5)
        cluster.kill_container(0, "mysql", signal.SIGKILL)
        cluster.wait_for(lambda: not cluster.pod(0).ready, timeout=30, what="the primary to go down")
        started = time.monotonic()
        cluster.wait_ready(4, timeout=120)
        time.sleep(1.5)
    assert cluster.pod(0).container("mysql").restarts >= 1
    assert writer.errors > 0, "writes should have failed while the primary was down"
    seconds = wait_converged(cluster, "app.w", 4, timeout=120) + (time.monotonic() - started)
    acknowledged = set(writer.acknowledged)
    for o in range(4):
        missing = acknowledged - ids(cluster, o, "app.w")
        assert not missing, f"mysql-{o} lost {len(missing)} acknowledged rows"
    for replica in (1, 2, 3):
        assert replicating(cluster, replica), replica_status(cluster, replica)
    report("scenario 4 (primary kill -9)", seconds, len(acknowledged), 4)


def test_5_interrupted_clone_is_redone_cleanly(cluster, report):
    cluster.sql(0, "CREATE TABLE app.big (id INT PRIMARY KEY, pad VARCHAR(1000)); "
                   f"INSERT INTO app.big SELECT n, REPEAT(SHA2(n, 256), 15) FROM ({numbers(60000)}) s", database="app")
    wait_converged(cluster, "app.big", 4, timeout=120)
    cluster.scale(3)
    cluster.wait_for(lambda: 3 not in cluster.pods, timeout=60, what="mysql-3 to go away")
    cluster.delete_pvc(3)
    # A slow link from the donor keeps the copy under way long enough to interrupt it.
    cluster.limit_bandwidth(2, "80mbit")
    cluster.scale(4)
    # The new claim is bound (a new volume provisioned) once mysql-3 is scheduled.
    cluster.wait_for(lambda: cluster.pvcs.get("data-mysql-3") and cluster.pvcs["data-mysql-3"].volume,
                     timeout=30, what="mysql-3's new claim to be bound")
    pvc = cluster.pvc_dir(3)
    staging = pvc / "clone.tmp"
    copy = staging / "data" if cluster.engine.clone_method == "clone-plugin" else staging

    def streaming() -> bool:
        try:
            return sum(f.stat().st_size for f in copy.rglob("*") if f.is_file()) > 4_000_000
        except OSError:
            return False

    cluster.wait_for(streaming, timeout=90, what="the copy to be under way")
    assert not (pvc / "mysql").exists(), "the data directory appeared before the clone finished"
    cluster.kill_container(3, "clone-mysql", signal.SIGKILL)
    cluster.limit_bandwidth(2, None)
    started = time.monotonic()
    cluster.wait_ready(4, timeout=180)
    seconds = time.monotonic() - started
    assert cluster.pod(3).container("clone-mysql").restarts >= 1
    assert clone_runs(cluster, 3) >= 2, "the clone should have run again"
    assert not staging.exists()
    wait_converged(cluster, "app.big", 4)
    assert checksum(cluster, 3, "app.big") == checksum(cluster, 0, "app.big")
    report("scenario 5 (clone killed midway)", seconds, count(cluster, 3, "app.big"), 4)


def test_6_scale_down_and_up_reuses_claims(cluster, report):
    cluster.scale(2)
    cluster.wait_for(lambda: sorted(cluster.pods) == [0, 1], timeout=90, what="scale down to 2")
    assert cluster.pvc_dir(2).exists() and cluster.pvc_dir(3).exists(), "claims must outlive their pods"
    cluster.sql(0, f"INSERT INTO app.w (id) SELECT 5000000 + n FROM ({numbers(1000)}) s")
    started = time.monotonic()
    cluster.scale(4)
    cluster.wait_ready(4, timeout=120)
    seconds = wait_converged(cluster, "app.w", 4) + (time.monotonic() - started)
    for o in (2, 3):
        assert clone_runs(cluster, o) == 0, f"mysql-{o} should have reused its claim"
    assert len({checksum(cluster, o, "app.w") for o in range(4)}) == 1
    report("scenario 6 (scale 4 -> 2 -> 4)", seconds, count(cluster, 0, "app.w"), 4)


def test_7_clone_waits_for_an_unreachable_donor(cluster, report):
    cluster.scale(3)
    cluster.wait_for(lambda: 3 not in cluster.pods, timeout=60, what="mysql-3 to go away")
    cluster.delete_pvc(3)
    cluster.partition(2)
    cluster.scale(4)
    cluster.wait_for(lambda: 3 in cluster.pods and cluster.pod(3).container("clone-mysql").restarts >= 2,
                     timeout=120, what="the clone to fail twice")
    clone = cluster.logs(3, "clone-mysql")
    assert any(word in clone for word in ("ERROR", "No route", "refused")), clone[-2000:]
    assert not cluster.pvc_dir(3).joinpath("mysql").exists()
    started = time.monotonic()
    cluster.heal(2)
    cluster.wait_ready(4, timeout=180)
    seconds = time.monotonic() - started
    wait_converged(cluster, "app.w", 4)
    assert checksum(cluster, 3, "app.w") == checksum(cluster, 0, "app.w")
    report("scenario 7 (donor unreachable)", seconds, count(cluster, 3, "app.w"), 4)


def test_8_broken_replica_leaves_the_read_service(cluster, report):
    engine = cluster.engine
    assert "mysql-1" in cluster.endpoints("mysql-read")
    cluster.sql(1, f"{engine.sql_stop_replica} SQL_THREAD")
    seconds = cluster.wait_for(lambda: "mysql-1" not in cluster.endpoints("mysql-read"), timeout=30,
                               what="mysql-1 to leave mysql-read")
    assert not cluster.pod(1).ready and cluster.pod(1).container("mysql").restarts == 0, \
        "a stopped applier must make the replica unready, not restart it"
    assert "mysql-0" in cluster.endpoints("mysql-read") and "mysql-2" in cluster.endpoints("mysql-read")
    cluster.sql(0, f"INSERT INTO app.w (id) SELECT 7000000 + n FROM ({numbers(100)}) s")
    cluster.sql(1, f"{engine.sql_start_replica} SQL_THREAD")
    cluster.wait_for(lambda: "mysql-1" in cluster.endpoints("mysql-read"), timeout=30,
                     what="mysql-1 to return to mysql-read")
    wait_converged(cluster, "app.w", 4)
    report("scenario 8 (applier stopped, then started)", seconds, count(cluster, 1, "app.w"), 4)


def test_9_primary_gone_for_three_minutes(cluster, report, request):
    """Longer than MySQL's own retries of a lost source (8.0.27+: 10 tries 10 s apart).

    The NetworkPolicy drops (does not refuse) what reaches a replica for a connection it
    has forgotten, as a CNI plugin does: after the heal, the primary's writes on its old
    replication connections wait for TCP to give up. MariaDB's primary can stall on that
    (its semi-sync acknowledgement receiver, seen here blocking every new connection) until
    its liveness probe restarts its server; the set must still come back by itself. The time
    it took and whether the primary's server restarted are reported."""
    server = cluster.pod(0).container("mysql")
    restarts = server.restarts
    cluster.partition(0)
    time.sleep(180)
    assert not any(replicating(cluster, o) for o in (1, 2, 3)), "the replicas cannot reach the primary"
    started = time.monotonic()
    cluster.heal(0)

    def written() -> bool:
        try:
            cluster.sql(0, f"INSERT IGNORE INTO app.w (id) SELECT 8000000 + n FROM ({numbers(100)}) s", timeout=30)
            return True
        except Exception:  # noqa: BLE001 - the primary may stall, then restart
            return False

    cluster.wait_for(written, timeout=300, what="the primary to take a write after the heal", interval=2)
    remaining = 360 - (time.monotonic() - started)
    seconds = wait_converged(cluster, "app.w", 4, timeout=remaining) + (time.monotonic() - started)
    for replica in (1, 2, 3):
        cluster.wait_for(lambda: replicating(cluster, replica), timeout=60, what=f"mysql-{replica} to replicate")
    cluster.wait_ready(4, timeout=120)
    report("scenario 9 (primary unreachable for 180 s)", seconds, count(cluster, 0, "app.w"), 4)
    restarted = cluster.pod(0).container("mysql").restarts - restarts
    request.node.user_properties.append(("e2e-report", (
        f"e2e {cluster.engine.name} scenario 9: back {time.monotonic() - started:.0f} s after the heal; "
        f"the primary's server restarted {restarted} time(s) on the way")))


def test_12c_pod_deletion_ends_promptly(cluster, request):
    """``kubectl delete pod`` of a replica with the pod's own grace period, as a drain, a
    scale-down or a rollout step does: the kubelet sends SIGTERM to each container's PID 1
    alone, and a script that ignored it would hold the pod until SIGKILL at the end of
    terminationGracePeriodSeconds. Every container ends on SIGTERM, so the pod is gone in
    seconds; the StatefulSet then recreates it, and it is ready again on its claim."""
    grace = cluster.template["terminationGracePeriodSeconds"]
    declared = int(cluster.objects.config_maps[f"{cluster.set_name}-topology"]["data"]["primary-ordinal"])
    pods = len(cluster.pods)
    ordinal = max(cluster.pods)
    assert ordinal != declared, "the scenario deletes a replica"
    name = cluster.pod(ordinal).name
    first_event = len(cluster.events)
    started = time.monotonic()
    cluster.delete_pod(ordinal)
    seconds = time.monotonic() - started
    # How each container ended ("ended after N s on SIGTERM", "killed at the grace period").
    ended = [what for _, what in cluster.events[first_event:] if what.startswith(f"{name}/")]
    cluster.wait_ready(pods, timeout=180)
    assert replicating(cluster, ordinal), replica_status(cluster, ordinal)
    line = f"e2e {cluster.engine.name} pod deletion: {seconds:.1f} s (grace {grace} s)"
    request.node.user_properties.append(("e2e-report", line))
    assert seconds < 15, f"deleting {name} took {seconds:.1f} s (grace {grace} s): {ended}"
    assert not any("killed" in what for what in ended), ended
