"""The scenarios every engine's chart must pass, run for real in emulated pods.

Each ``test_<engine>.py`` module names its ``ENGINE`` and imports these; the module's
pods form one cluster, the scenarios run in order and each leaves every pod ready.
SQL here is what MySQL 8.4+ and MariaDB 11 both understand; the few words that differ
(replica status, stopping the applier) come from the engine table.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import time

import cdk8s
import pytest

from emulator import Cluster, SQLError
from mysql_ha import MySQLCredentials, MySQLHAChart
from mysql_ha.credentials import ADMIN_USER, STATUS_USER
from scenario_tools import APP_USER, PREFIX, SPEED, TEST_CLIENT_MARK, Writer, client_pod_spec

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


def test_10_special_replication_password(cluster):
    """The cluster's replication password has the longest length replicas accept and the
    characters that break quoting: scenario 1 replicated with it."""
    password = cluster.replication_password
    assert len(password) == cluster.engine.max_replication_password_length == 32
    assert all(c in password for c in "'\"\\$#"), password
    assert all(replicating(cluster, o) for o in (1, 2, 3))


def test_11_no_password_on_any_command_line(cluster):
    scanner = cluster.argv_scanner
    assert scanner.samples > 20 and scanner.processes_seen > 1000, "the scan did not run"
    assert scanner.environments_seen > 1000, "the scan read no process's environment"
    assert not scanner.hits, "a password appeared in a process's argv:\n" + "\n".join(scanner.hits[:5])
    assert not scanner.environ_hits, ("a password appeared in a process's environment:\n"
                                      + "\n".join(scanner.environ_hits[:5]))


def _login(cluster, container, host: str, user: str, password: str, statement: str = "SELECT CURRENT_USER()",
           *, from_cache: bool = False):
    """``statement`` as ``user`` on ``host``:3306, from ``container`` (another pod's), over TCP.
    ``from_cache``: without TLS and without the server's key, as the set's own clients log in
    (caching_sha2_password then authenticates from the server's cache or fails with 2061)."""
    args = [cluster.engine.client, "--protocol=TCP", f"--host={host}", "--port=3306", "--connect-timeout=5",
            f"--user={user}", "--batch", "--skip-column-names", "-e", statement]
    if from_cache:
        args.insert(1, "--ssl-mode=DISABLED")
    elif cluster.engine.client == "mysql":
        # caching_sha2 without TLS: the client fetches the server's key to send the password.
        args.insert(1, "--get-server-public-key")
    return cluster.runtime.exec(container, args, env={"MYSQL_PWD": password, "MYSQL_HA_E2E_CLIENT": "1",
                                                      "HOME": "/tmp", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                                timeout=30)


def _refused(result) -> bool:
    return result.returncode != 0 and ("Access denied" in result.stderr or "is not allowed" in result.stderr)


def _auth_cache(cluster, box, primary: str, network: dict[str, str]) -> None:
    """TLS off, caching_sha2_password: no password of the set crosses the network. The
    server's probes fill its authentication cache, so every network account logs in without
    TLS and without the server's key; the replicas never fetch that key; after FLUSH
    PRIVILEGES empties the cache, the liveness probe fills it again."""
    engine = cluster.engine
    for user, password in network.items():
        result = _login(cluster, box, primary, user, password, from_cache=True)
        assert result.returncode == 0, f"{user} did not log in from the server's cache: {result.stderr}"
    for replica in (1, 2):
        rows = cluster.sql(replica, "SELECT GET_PUBLIC_KEY FROM performance_schema.replication_connection_configuration")
        assert rows == [["NO"]], f"mysql-{replica} fetches the source's key: {rows}"
    cluster.sql(0, "FLUSH LOCAL PRIVILEGES")
    started = time.monotonic()
    result = _login(cluster, box, primary, STATUS_USER, network[STATUS_USER], from_cache=True)
    assert result.returncode != 0 and "2061" in result.stderr, \
        f"a login without TLS and key after FLUSH PRIVILEGES: {result.returncode} {result.stderr}"
    cluster.wait_for(lambda: all(_login(cluster, box, primary, user, password, from_cache=True).returncode == 0
                                 for user, password in network.items()),
                     timeout=60, what="the liveness probe to fill the emptied authentication cache", interval=1)
    print(f"e2e {engine.name} security auth-cache: network accounts log in without TLS or key, replicas fetch no "
          f"key, cache refilled {time.monotonic() - started:.1f} s after FLUSH PRIVILEGES")


def test_11b_root_and_the_set_accounts_from_other_pods(cluster, request):
    """Root and the sidecar's administration account log in over the socket alone; the network
    accounts authenticate from anywhere but can do nothing beyond their grants; what each
    container can read holds only the passwords it uses."""
    engine = cluster.engine
    passwords = cluster.passwords
    labels = {"mysql-client": "true"}
    spec = client_pod_spec(engine.server_image)
    client = cluster.run_pod("app-client", spec, labels=labels)
    try:
        client.wait_ready(timeout=60)
        box = client.pod.container("client")
        primary = "mysql-0.mysql"
        refused = {"root": passwords["root_password"], ADMIN_USER: passwords["admin_password"]}
        if engine.clone_method != "clone-plugin":
            refused["clone"] = passwords["clone_password"]
        for user, password in refused.items():
            result = _login(cluster, box, primary, user, password)
            assert _refused(result), f"{user} logged in from a client pod: {result.stdout} {result.stderr}"
        # From a replica's own server container, root and the administration account are
        # refused on the primary too.
        replica = cluster.pod(1).container("mysql")
        for user, password in {"root": passwords["root_password"], ADMIN_USER: passwords["admin_password"]}.items():
            result = _login(cluster, replica, primary, user, password)
            assert _refused(result), f"{user} logged in to the primary from mysql-1: {result.stdout} {result.stderr}"
        # The network accounts get in, and can neither read rows nor write.
        network = {STATUS_USER: passwords["status_password"], "repl": passwords["replication_password"]}
        if engine.clone_method == "clone-plugin":
            network["clone"] = passwords["clone_password"]
        for user, password in network.items():
            result = _login(cluster, box, primary, user, password)
            assert result.returncode == 0, f"{user} was refused: {result.stderr}"
            for statement in ("SELECT COUNT(*) FROM mysql.user", "CREATE DATABASE mysql_ha_intruder"):
                result = _login(cluster, box, primary, user, password, statement)
                assert result.returncode != 0 and "denied" in result.stderr, (
                    f"{user} ran {statement!r}: {result.stdout} {result.stderr}")
        if engine.fast_auth_cache:
            _auth_cache(cluster, box, primary, network)
        users = {tuple(row) for row in cluster.sql(0, "SELECT user, host FROM mysql.user WHERE user = 'root'")}
        assert users == {("root", "localhost")}, f"root accounts on the primary: {users}"
        # Without the client label, the NetworkPolicy drops the connection before any login.
        cluster.run_pod("no-label", spec, labels={}).wait_ready(timeout=60)
        started = time.monotonic()
        result = _login(cluster, cluster.standalone["no-label"].pod.container("client"), primary, STATUS_USER,
                        passwords["status_password"])
        assert result.returncode != 0 and "connect" in result.stderr.lower(), result.stderr
        assert time.monotonic() - started >= 4, f"refused at once rather than dropped: {result.stderr}"
    finally:
        cluster.delete_pod_named("app-client", grace=1)
        if "no-label" in cluster.standalone:
            cluster.delete_pod_named("no-label", grace=1)
    # What each in-memory volume of option files holds: a container's own passwords only.
    pod_dir = cluster.pod(0).dir
    def text_of(volume: str) -> str:
        folder = pod_dir / "emptydir" / volume
        return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())

    def holds(text: str, name: str) -> bool:
        """The password as it is, in an option file (quoted) or in SQL (a literal)."""
        value = passwords[name]
        forms = (value, value.replace("\\", "\\\\").replace('"', '\\"'),
                 value.replace("\\", "\\\\").replace("'", "''"))
        return any(form in text for form in forms)

    sidecar, server, shared = text_of("sidecar-auth"), text_of("server-auth"), text_of("run")
    assert holds(sidecar, "admin_password") and holds(sidecar, "replication_password"), "the sidecar's own are missing"
    for name in ("root_password", "clone_password" if engine.clone_method == "clone-plugin" else None):
        if name:
            assert not holds(sidecar, name), f"the replication sidecar can read the {name}"
    assert holds(server, "root_password")  # the server's own init file
    assert not any(holds(shared, name) for name in passwords), "a password sits in the volume every container shares"
    request.node.user_properties.append(("e2e-report", (
        f"e2e {engine.name} security: root and {ADMIN_USER} refused from a client pod and from mysql-1; "
        "a pod without the client label dropped by the NetworkPolicy; "
        f"{', '.join(network)} confined to their grants; sidecar, server and shared volumes hold only their own "
        "passwords")))


@contextlib.contextmanager
def _one_pod_set(engine, tmp_path, secret_name: str, keys: dict[str, str], tag: str):
    """A started 1-pod set whose passwords come from the Secret ``secret_name``, made outside
    the library with ``keys`` (nothing checks it at synth time)."""
    chart = MySQLHAChart(cdk8s.Testing.app(), tag, engine=engine,
                         credentials=MySQLCredentials.from_existing_secret(secret_name), replicas=1,
                         storage_class_name="standard")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name, "namespace": "mysql"},
              "stringData": keys}
    with Cluster([*chart.to_json(), secret], tmp_path, prefix=f"{PREFIX}{tag}{engine.name[:2]}{os.getpid() % 4096:03x}",
                 speed=SPEED) as small:
        small.start()
        yield small


def test_12_too_long_replication_password_in_an_existing_secret(engine, tmp_path):
    """A Secret made outside the library cannot be checked at synth time: the pod says what
    is wrong when it starts, instead of every replica failing its CHANGE statement."""
    keys = {"root-password": "Root-" + secrets.token_urlsafe(16),
            "admin-password": "Admin-" + secrets.token_urlsafe(16),
            "status-password": "Status-" + secrets.token_urlsafe(16),
            "replication-password": "x" * (engine.max_replication_password_length + 1),
            "clone-password": "Clone-" + secrets.token_urlsafe(16)}
    with _one_pod_set(engine, tmp_path, "outside", keys, "pw") as small:
        message = f"has {engine.max_replication_password_length + 1} characters; replicas accept at most"
        small.wait_for(lambda: 0 in small.pods and message in small.logs(0, "replication"), timeout=120,
                       what="the sidecar to refuse the password")
        assert not small.pod(0).ready


def test_12b_existing_secret_without_the_new_keys(engine, tmp_path):
    """A Secret made before every account had its own password: the pod stops before its
    server starts and names each missing key, instead of a pod that waits for a volume."""
    keys = {"root-password": "Root-" + secrets.token_urlsafe(16),
            "replication-password": "Repl-" + secrets.token_urlsafe(16),
            "clone-password": "Clone-" + secrets.token_urlsafe(16)}
    with _one_pod_set(engine, tmp_path, "older", keys, "ky") as small:
        message = "the Secret older has no (or an empty) key admin-password status-password"
        small.wait_for(lambda: 0 in small.pods and message in small.logs(0, "init-mysql"), timeout=120,
                       what="init-mysql to name the missing keys")
        assert not small.pod(0).ready
        assert not (small.pod(0).dir / "emptydir" / "server-auth" / "bootstrap.sql").exists()


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
