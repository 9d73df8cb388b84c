"""replication.sh (roles, positioning, the watch loop), run for real in the pod sandbox
(``script_sandbox.py``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from script_sandbox import (
    BACKUP_STREAM_ENGINES, CLONE_PASSWORD, CLONE_PASSWORD_SQL, PASSWORD, PASSWORD_SQL, Pod, WATCH_INTERVAL,
    position_of,
)
from synth_helpers import ENGINE_NAMES

import mysql_ha


# --- replication.sh -------------------------------------------------------------------------


def filled(template: str, position: dict[str, str], password_sql: str = PASSWORD_SQL) -> str:
    values = {"HOST": "mysql-0.mysql", "PORT": "3306", "USER": "repl", "LOG_FILE": position["LOG_FILE"],
              "LOG_POS": position["LOG_POS"], "GTID": position["GTID"], "PASSWORD": password_sql}
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template)


ACCOUNT_STATEMENTS = ("CREATE USER", "ALTER USER", "GRANT", "DROP USER", "SET PASSWORD")


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_primary_creates_no_account(tmp_path, engine_name):
    """Every server sets its own accounts from its init file (init-config.sh): the sidecar's
    account can switch roles, not make accounts or write rows."""
    pod = Pod(tmp_path, engine_name, 0, replication_password=PASSWORD, clone_password=CLONE_PASSWORD)
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr  # still running: watching
    sql = pod.sql()
    assert not [line for line in sql.splitlines() if line.upper().startswith(ACCOUNT_STATEMENTS)], sql
    assert "CHANGE" not in sql
    assert (pod.volumes["run"] / "replication-ready").exists()
    assert (pod.volumes["run"] / "replication-heartbeat").exists()
    calls = pod.calls()
    for secret in (PASSWORD, PASSWORD_SQL, CLONE_PASSWORD, CLONE_PASSWORD_SQL):
        assert secret not in calls  # never on a command line
    # Its own option file, over the socket: no TCP login to its own server.
    clients = [line for line in calls.splitlines() if line.startswith(pod.engine.client + " ")]
    assert clients and all(
        line.startswith(f"{pod.engine.client} --defaults-extra-file={pod.volumes['sidecar-auth']}/client.cnf "
                        "--protocol=SOCKET ") for line in clients), clients
    assert "--host=127.0.0.1" not in calls
    listeners = [line for line in calls.splitlines() if line.startswith(("ncat", "socat")) and "3307" in line]
    if pod.engine.serves_backup_streams:
        (listener,) = listeners
        assert "backup-stream.sh" in listener
    else:
        assert listeners == []  # the CLONE plugin needs no backup server


SEMI_SYNC_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.engine_by_name(name).supports_semi_sync]


@pytest.mark.parametrize("engine_name", SEMI_SYNC_ENGINES)
def test_primary_turns_semi_sync_on_when_it_starts(tmp_path, engine_name):
    """Its server starts with the source side off (init-config.sh); the sidecar turns it on
    once it finds the server writable, before it reports ready."""
    pod = Pod(tmp_path, engine_name, 0, replication_password=PASSWORD, clone_password=CLONE_PASSWORD)
    enabled = pod.engine.semi_sync_source_enabled
    result = pod.run_sidecar(STUB_SEMI_SYNC="0")
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    on = statements.index(f"SET GLOBAL {enabled} = ON;")
    assert statements.index("SELECT @@GLOBAL.read_only") < on
    assert "semi-sync source side on" in result.stderr
    assert (pod.volumes["run"] / "replication-ready").exists()


@pytest.mark.parametrize("engine_name", SEMI_SYNC_ENGINES)
def test_the_watch_loop_turns_semi_sync_on_again_on_the_primary(tmp_path, engine_name):
    """A restarted server (kill -9, OOM) starts with the source side off."""
    pod = Pod(tmp_path, engine_name, 0, replication_password=PASSWORD, clone_password=CLONE_PASSWORD)
    result = pod.run_sidecar(beats=2, STUB_SEMI_SYNC="0")
    assert result.returncode is None, result.stderr
    # Once at start, then in each round that finds it off.
    assert pod.sql().splitlines().count(f"SET GLOBAL {pod.engine.semi_sync_source_enabled} = ON;") >= 2


@pytest.mark.parametrize("engine_name", SEMI_SYNC_ENGINES)
@pytest.mark.parametrize("case", ["already-on", "set-without-semi-sync"])
def test_primary_leaves_semi_sync_alone_when_on_or_not_wanted(tmp_path, engine_name, case):
    pod = Pod(tmp_path, engine_name, 0, replication_password=PASSWORD, clone_password=CLONE_PASSWORD)
    if case == "set-without-semi-sync":
        (pod.volumes["topology"] / "semi-sync.cnf").write_text("[mysqld]\n")
    result = pod.run_sidecar(STUB_SEMI_SYNC="1" if case == "already-on" else "0")
    assert result.returncode is None, result.stderr
    assert "SELECT @@GLOBAL.read_only" in pod.sql().splitlines()  # it found a writable primary
    assert (pod.volumes["run"] / "replication-ready").exists()
    assert "SET GLOBAL rpl_semi_sync" not in pod.sql()


@pytest.mark.parametrize("engine_name", SEMI_SYNC_ENGINES)
def test_a_pod_that_turns_replica_turns_semi_sync_off(tmp_path, engine_name):
    """The old primary re-pointed at the declared one waits for nobody's acknowledgement: its
    applier writes its binary log too."""
    pod = Pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    enabled = pod.engine.semi_sync_source_enabled
    result = pod.run_sidecar(STUB_READ_ONLY="0", STUB_SEMI_SYNC="1")
    assert result.returncode is None, result.stderr
    assert f"SET GLOBAL {enabled} = OFF;" in pod.sql().splitlines()
    assert "semi-sync source side off" in result.stderr


SWITCHOVER_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].supports_switchover]


@pytest.mark.parametrize("engine_name", SWITCHOVER_ENGINES)
def test_demotion_is_bounded_then_kills_client_sessions_until_read_only_holds(tmp_path, engine_name):
    """A primary that turns replica: read-only waits at most a few seconds for the writes under
    way (a long statement, a lock held); then every client session is killed (its transaction
    rolls back) and read-only is set again, until it holds; the sessions are killed once it
    holds too (pooled connections, open transactions). The log says how many sessions of
    which users, nothing of what they ran."""
    pod = Pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    sessions = "41\\troot\\n42\\tapp\\n43\\tapp\\n"
    result = pod.run_sidecar(STUB_READ_ONLY="0", STUB_LOCK_WAITS="2", STUB_SESSIONS=sessions)
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    read_only = f"SET SESSION lock_wait_timeout = 3; {pod.engine.sql_read_only};"
    tries = [i for i, line in enumerate(statements) if line == read_only]
    assert len(tries) >= 3, statements
    listed = [i for i, line in enumerate(statements) if "FROM information_schema.PROCESSLIST" in line]
    kills = [i for i, line in enumerate(statements) if line == "KILL CONNECTION 41;"]
    # Each try is followed by the kills, the third (which holds) too.
    assert len(kills) >= 3 and all(any(t < k for k in kills) for t in tries[:3])
    assert listed[0] > tries[0] and kills[0] > listed[0]
    assert {"KILL CONNECTION 42;", "KILL CONNECTION 43;"} <= set(statements)
    query = statements[listed[0]]
    # Never the sidecar itself, the server's own threads, or the set's own accounts.
    for excluded in ("ID <> CONNECTION_ID()", "'system user'", "'event_scheduler'", "'mysqlha_admin'",
                     "'mysqlha_status'", "'repl'", "'clone'", "'Binlog Dump GTID'"):
        assert excluded in query, (excluded, query)
    assert "'root'" not in query
    assert result.stderr.count("read-only not set yet (ERROR 1205") == 2
    assert "killed 3 client session(s) (by user: " in result.stderr
    assert "app: 2" in result.stderr and "root: 1" in result.stderr
    assert "read-only: mysql-0.mysql is the declared primary" in result.stderr


@pytest.mark.parametrize("engine_name", SWITCHOVER_ENGINES)
def test_demotion_gives_up_for_the_round_when_read_only_never_holds(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    result = pod.run_sidecar(STUB_READ_ONLY="0", STUB_LOCK_WAITS="1000")
    assert result.returncode is None, result.stderr
    assert "ERROR: still not read-only after 10 tries" in result.stderr
    # Never re-pointed while it may still take writes.
    assert pod.engine.sql_change_source_prefix not in pod.sql()


def test_mariadb_demotion_warns_of_accounts_read_only_does_not_stop(tmp_path):
    pod = Pod(tmp_path, "mariadb-11.4", 1, replication_password=PASSWORD)
    exempt = "'mysqlha_admin'@'localhost'\\n'big'@'%'\\n"
    result = pod.run_sidecar(STUB_READ_ONLY="0", STUB_EXEMPT=exempt)
    assert result.returncode is None, result.stderr
    assert "WARNING: read-only does not stop 'big'@'%' (READ_ONLY ADMIN)" in result.stderr
    assert "mysqlha_admin'@'localhost' (READ" not in result.stderr


@pytest.mark.parametrize("engine_name", SWITCHOVER_ENGINES)
@pytest.mark.parametrize("old_primary", ["unreachable", "answering-but-refusing"])
def test_a_declared_primary_takes_over_only_from_an_unreachable_one(tmp_path, engine_name, old_primary):
    """Declared primary while still replicating from mysql-0, whose state it cannot read: an
    address where nothing answers (or a name with none) is taken over; a server that answers
    but refuses (too many connections, an access error) may still take writes, so the pod
    waits and says why."""
    pod = Pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    (pod.volumes["topology"] / "primary-ordinal").write_text("1")
    pod.datadir.mkdir(parents=True)
    pod.replica_status(io="Connecting", sql="Yes")
    hosts = {"STUB_DOWN_HOSTS" if old_primary == "unreachable" else "STUB_REFUSING_HOSTS": "mysql-0.mysql"}
    result = pod.run_sidecar(beats=3, **hosts)
    writable = f"{pod.engine.sql_writable};"
    if old_primary == "unreachable":
        assert "mysql-0.mysql is unreachable: taking over" in result.stderr
        assert writable in pod.sql().splitlines(), pod.sql()
    else:
        assert "mysql-0.mysql answers but its state cannot be read (ERROR 1040 (08004): Too many connections" \
            in result.stderr
        assert "is unreachable" not in result.stderr
        # Said once, not once a round.
        assert result.stderr.count("declared the primary: waiting until no other pod takes writes and catching up "
                                   "with mysql-0.mysql") == 1, result.stderr
        assert result.stderr.count("answers but its state cannot be read") == 1, result.stderr
        assert writable not in pod.sql().splitlines() and "RESET" not in pod.sql()


# What a donor's backup carries, per engine: the primary's binlog info, or a replica's
# slave info (MySQL 5.7: file and position; MariaDB in GTID mode: the GTID position). The
# CLONE plugin's copy carries the GTID set, and the replica auto-positions.
DONOR_FILES = {
    ("mysql-8.4", "primary"): {},
    ("mysql-8.4", "replica"): {},
    ("mysql-9.7", "primary"): {},
    ("mysql-9.7", "replica"): {},
    ("mysql-5.7", "primary"): {"xtrabackup_binlog_info": "mysql-bin.000003\t157\n"},
    ("mysql-5.7", "replica"): {
        "xtrabackup_slave_info": "CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000004', MASTER_LOG_POS=900;\n",
    },
    ("mariadb-11.4", "primary"): {"xtrabackup_binlog_info": "mysql-bin.000003\t157\t0-100-7\n"},
    ("mariadb-11.4", "replica"): {
        "xtrabackup_slave_info": "SET GLOBAL gtid_slave_pos = '0-100-9';\n"
                                 "CHANGE MASTER TO master_use_gtid = slave_pos;\n",
    },
}


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("donor", ["primary", "replica"], ids=lambda d: f"cloned-from-{d}")
def test_new_replica_is_cloned_configured_and_positioned(tmp_path, engine_name, donor):
    """clone-mysql, init-mysql and the replication sidecar of a new pod, in order."""
    pod = Pod(tmp_path, engine_name, 1 if donor == "primary" else 2, replication_password=PASSWORD)
    engine = pod.engine
    pod.donor_backup(**DONOR_FILES[engine_name, donor])
    for container_name, script in (("clone-mysql", "clone.sh"), ("init-mysql", "init-config.sh")):
        result = pod.run(container_name, script)
        assert result.returncode == 0, f"{script}: {result.stderr}"
    position = position_of(pod)
    cloned_from_replica = donor == "replica"
    if cloned_from_replica:
        pod.replica_status(io="No", sql="No")  # the donor's replication settings came along
    (pod.log / "sql").unlink(missing_ok=True)  # what clone.sh said to its local server

    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr

    statements = [s for s in pod.sql().splitlines() if s and s not in ("SELECT 1", "SELECT @@GLOBAL.read_only")]
    change = (
        (filled(engine.sql_set_position, position) + ";" if engine.sql_set_position else "")
        + filled(engine.sql_change_source, position) + ";"
    )
    expected = [change]
    if cloned_from_replica:
        expected = [engine.sql_replica_status, f"{engine.sql_stop_replica}; {engine.sql_reset_replica};", *expected]
    else:
        expected = [engine.sql_replica_status, *expected]
    # Then the watch loop: it starts the applier (the server started with replication stopped),
    # and otherwise reads.
    assert statements[:len(expected)] == expected
    later = [s for s in statements[len(expected):] if not s.startswith(("SELECT", "SHOW"))]
    assert later == ([f"{engine.sql_start_replica};"] if cloned_from_replica else []), statements
    # Spelled out once per dialect, for the reader.
    if engine is mysql_ha.MARIADB_11_4:
        gtid = "0-100-7" if donor == "primary" else "0-100-9"
        assert change.startswith(f"SET GLOBAL gtid_slave_pos = '{gtid}';CHANGE MASTER TO ")
        assert "MASTER_USE_GTID=slave_pos" in change
    elif engine.clone_method == "clone-plugin":
        assert change == (
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql-0.mysql', SOURCE_PORT=3306, SOURCE_USER='repl', "
            f"SOURCE_PASSWORD='{PASSWORD_SQL}', SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=10, "
            "SOURCE_RETRY_COUNT=86400, GET_SOURCE_PUBLIC_KEY=0;"
        )
    else:
        coordinates = "'mysql-bin.000003', MASTER_LOG_POS=157" if donor == "primary" else "'mysql-bin.000004', MASTER_LOG_POS=900"
        assert change.startswith("CHANGE MASTER TO MASTER_HOST='mysql-0.mysql', MASTER_PORT=3306, ")
        assert f"MASTER_LOG_FILE={coordinates}" in change
        assert "MASTER_RETRY_COUNT=86400" in change
    assert f"_PASSWORD='{PASSWORD_SQL}'" in change
    assert "@" not in change.replace("'repl'@", "")  # every placeholder filled
    assert not (pod.datadir / "mysql-ha-source-position").exists()
    assert (pod.datadir / "mysql-ha-source-position.applied").exists()
    assert (pod.volumes["run"] / "replication-ready").exists()
    assert PASSWORD not in pod.calls() and PASSWORD_SQL not in pod.calls()

    # The sidecar restarts: the replica is positioned already, nothing is changed again.
    (pod.log / "sql").unlink()
    (pod.log / "sleeps").unlink()
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr
    assert "CHANGE" not in pod.sql() and engine.sql_start_replica not in pod.sql()


@pytest.mark.parametrize(
    "engine_name, position, message",
    [
        ("mysql-5.7", "LOG_FILE=mysql-bin.000001'; DROP USER root; --\nLOG_POS=4\nGTID=\n",
         "no valid binary log file name"),
        ("mysql-5.7", "LOG_FILE=mysql-bin.000001\nLOG_POS=4 OR 1\nGTID=\n", "no valid binary log position"),
        ("mysql-5.7", "LOG_FILE=\nLOG_POS=\nGTID=0-100-7\n", "no valid binary log file name"),
        ("mariadb-11.4", "LOG_FILE=\nLOG_POS=\nGTID=0-100-7'; DROP USER root; --\n", "invalid GTID position"),
        ("mysql-8.4", "LOG_FILE=\nLOG_POS=\nGTID=x'; DROP USER root; --\n", "invalid GTID position"),
    ],
)
def test_replica_refuses_a_bad_position(tmp_path, engine_name, position, message):
    pod = Pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position").write_text(position)
    result = pod.run_sidecar()
    assert result.returncode == 1
    assert message in result.stderr
    assert "CHANGE" not in pod.sql()
    assert not (pod.volumes["run"] / "replication-ready").exists()


def test_replication_refuses_an_empty_password(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 1)
    (pod.volumes["sidecar-auth"] / "replication-password").write_text("")
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position").write_text(POSITIONS["mysql-8.4"])
    result = pod.run_sidecar()
    assert result.returncode == 1
    assert "the replication password in the Secret is empty" in result.stderr
    assert "CHANGE" not in pod.sql()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_the_sidecar_reads_the_replication_password_from_its_own_volume(tmp_path, engine_name):
    """init-mysql hands the sidecar the replication password; the sidecar mounts no Secret."""
    pod = Pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    assert (pod.volumes["sidecar-auth"] / "replication-password").read_text() == PASSWORD
    assert not pod.path_in("replication", "/etc/mysql-ha/credentials").exists()
    for secret_volume in ("credentials", "clone-credentials"):
        if secret_volume in pod.volumes:
            shutil.rmtree(pod.volumes[secret_volume])
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position").write_text(POSITIONS[engine_name])
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr
    (change,) = [line for line in pod.sql().splitlines() if "CHANGE " in line]
    assert f"_PASSWORD='{PASSWORD_SQL}'" in change


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("ordinal", [0, 1])
def test_replication_refuses_a_password_longer_than_the_engine_takes(tmp_path, engine_name, ordinal):
    """CHANGE REPLICATION SOURCE / CHANGE MASTER refuse more than 32 characters (error 3056):
    an existing Secret is checked when the sidecar starts, on every pod."""
    pod = Pod(tmp_path, engine_name, ordinal, replication_password="p" * 33)
    if ordinal:
        pod.datadir.mkdir(parents=True)
        (pod.datadir / "mysql-ha-source-position").write_text("LOG_FILE=mysql-bin.000003\nLOG_POS=157\nGTID=0-100-7\n")
    result = pod.run_sidecar()
    assert result.returncode == 1
    assert ("the replication password in the Secret has 33 characters; replicas accept at most 32: "
            "store a shorter one") in result.stderr
    assert "CHANGE" not in pod.sql()
    assert not (pod.volumes["run"] / "replication-ready").exists()


# 32 characters with what SQL and shells treat specially.
LONGEST_PASSWORD = "q'u\\o$t#e&" + "x" * 22
LONGEST_PASSWORD_SQL = "q''u\\\\o$t#e&" + "x" * 22
POSITIONS = {
    "mysql-8.4": "LOG_FILE=\nLOG_POS=\nGTID=\n",
    "mysql-9.7": "LOG_FILE=\nLOG_POS=\nGTID=\n",
    "mysql-5.7": "LOG_FILE=mysql-bin.000003\nLOG_POS=157\nGTID=\n",
    "mariadb-11.4": "LOG_FILE=\nLOG_POS=\nGTID=0-100-7\n",
}


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_replication_takes_a_password_of_exactly_32_characters(tmp_path, engine_name):
    assert len(LONGEST_PASSWORD) == 32
    pod = Pod(tmp_path, engine_name, 1, replication_password=LONGEST_PASSWORD)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position").write_text(POSITIONS[engine_name])
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr
    position = dict(line.split("=", 1) for line in POSITIONS[engine_name].splitlines())
    change = filled(pod.engine.sql_change_source, position, LONGEST_PASSWORD_SQL) + ";"
    assert f"_PASSWORD='{LONGEST_PASSWORD_SQL}'," in change
    assert change in pod.sql()
    assert LONGEST_PASSWORD not in pod.calls() and LONGEST_PASSWORD_SQL not in pod.calls()


def test_positioned_replica_resumes_replication_after_a_server_restart(tmp_path):
    """Every server starts with replication stopped (init-config.sh): the sidecar starts it."""
    pod = Pod(tmp_path, "mysql-5.7", 1)
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000003\t157\n")
    for container_name, script in (("clone-mysql", "clone.sh"), ("init-mysql", "init-config.sh")):
        assert pod.run(container_name, script).returncode == 0, script
    # What the mysql container reads from /etc/mysql/conf.d at every start:
    conf = pod.path_in("mysql", "/etc/mysql/conf.d")
    skip = [f.name for f in conf.iterdir() if pod.engine.skip_replica_start_option in f.read_text()]
    assert skip == ["start.cnf"]
    pod.replica_status(io="No", sql="No")
    assert pod.run_sidecar().returncode is None
    assert f"{pod.engine.sql_start_replica};" in pod.sql().splitlines()


def starts(pod) -> list[str]:
    return [s for s in pod.sql().splitlines() if s.startswith(pod.engine.sql_start_replica)]


def again(pod) -> None:
    """Forgets what the last run of the sidecar did (its statements and rounds)."""
    (pod.log / "sql").unlink(missing_ok=True)
    (pod.log / "sleeps").unlink(missing_ok=True)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_replication_starts_once_per_start_of_the_server(tmp_path, engine_name):
    """The server starts with replication stopped: the sidecar starts it once per start of
    the server (its start time, read a second apart, is the same start), so that an
    operator's STOP on a running server is left alone."""
    pod = positioned_replica(tmp_path, engine_name)
    start = f"{pod.engine.sql_start_replica};"
    pod.replica_status(io="No", sql="No")
    result = pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000000")
    assert result.returncode is None, result.stderr
    assert starts(pod) == [start], pod.sql()
    assert "the server started (replication stopped): replication started from mysql-0.mysql" in result.stderr

    # The same server; an operator stops the applier (or all of replication): left alone.
    for io, applier in (("Yes", "No"), ("No", "No")):
        again(pod)
        pod.replica_status(io=io, sql=applier)
        assert pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000001").returncode is None
        assert starts(pod) == [], pod.sql()

    # The server starts again (kill -9, OOM, liveness): replication resumes, once.
    again(pod)
    assert pod.run_sidecar(beats=3, STUB_SERVER_STARTED="1000042").returncode is None
    assert starts(pod) == [start]

    # A server that is no replica (the primary, or a pod that refused its primary): nothing.
    again(pod)
    (pod.log / "replica-status").unlink()
    assert pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000100").returncode is None
    assert starts(pod) == []


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_a_restarted_declared_primary_takes_writes_once_the_sidecar_has_checked(tmp_path, engine_name):
    """The server starts read-only; the sidecar makes it writable (no other pod answers here),
    semi-sync's source side first."""
    pod = Pod(tmp_path, engine_name, 0)
    result = pod.run_sidecar(beats=2, STUB_READ_ONLY="1")
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    assert f"{pod.engine.sql_writable};" in statements, statements
    assert "this pod is the primary now: it takes writes" in result.stderr
    assert not starts(pod)


@pytest.mark.parametrize("engine_name", SWITCHOVER_ENGINES)
def test_a_declared_primary_restarted_as_a_replica_applies_what_it_received(tmp_path, engine_name):
    """Declared while its server restarted: replication runs again, and it takes writes only
    once it has applied what it received (its old primary unreachable here)."""
    pod = positioned_replica(tmp_path, engine_name)
    (pod.volumes["topology"] / "primary-ordinal").write_text("1")
    pod.replica_status(io="No", sql="No")
    result = pod.run_sidecar(beats=3, STUB_DOWN_HOSTS="mysql-0.mysql")
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    assert starts(pod) == [f"{pod.engine.sql_start_replica};"]
    assert statements.index(f"{pod.engine.sql_start_replica};") < statements.index(f"{pod.engine.sql_writable};")


# --- the sidecar's watch loop -----------------------------------------------------------------


def positioned_replica(tmp_path, engine_name):
    """A replica positioned earlier: the sidecar goes straight to watching."""
    pod = Pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position.applied").write_text("")
    return pod


@pytest.mark.parametrize(
    "engine_name, errno",
    [*[(name, "2003") for name in ENGINE_NAMES], ("mysql-8.4", "2005"), ("mysql-8.4", "2013"), ("mysql-5.7", "1159")],
)
def test_watch_restarts_a_receiver_stopped_by_a_network_error(tmp_path, engine_name, errno):
    """The receiver gives up after its retry count (10 by default in MySQL 8.4): the sidecar
    starts it again instead of leaving the replica stale for good."""
    pod = positioned_replica(tmp_path, engine_name)
    pod.replica_status(io="No", sql="Yes", io_errno=errno,
                       io_error="error connecting to source 'repl@mysql-0.mysql:3306' - retry-time: 10 retries: 10")
    result = pod.run_sidecar(beats=2)
    assert result.returncode is None, result.stderr
    starts = [s for s in pod.sql().splitlines() if s == f"{pod.engine.sql_start_replica} IO_THREAD;"]
    assert len(starts) == 2, pod.sql()  # once per round, while it stays stopped
    assert f"the receiver stopped on error {errno}" in result.stderr


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize(
    "io, errno",
    [
        pytest.param("No", "0", id="stopped-by-an-operator"),
        pytest.param("No", "1045", id="access-denied"),  # a wrong password does not fix itself
        pytest.param("Yes", "0", id="running"),
        pytest.param("Connecting", "2003", id="still-retrying"),
    ],
)
def test_watch_leaves_the_receiver_alone_otherwise(tmp_path, engine_name, io, errno):
    pod = positioned_replica(tmp_path, engine_name)
    pod.replica_status(io=io, sql="Yes", io_errno=errno)
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr
    assert "IO_THREAD" not in pod.sql()
    assert pod.sql().count(pod.engine.sql_replica_status) >= 1  # it did look (more rounds may pass before the stop)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_watch_never_restarts_anything_on_the_primary(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0)
    pod.replica_status(io="No", sql="No", io_errno="2003")
    result = pod.run_sidecar(beats=2)
    assert result.returncode is None, result.stderr
    assert "IO_THREAD" not in pod.sql() and "CHANGE" not in pod.sql() and "STOP" not in pod.sql()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_watch_beats_every_10_seconds(tmp_path, engine_name):
    pod = positioned_replica(tmp_path, engine_name)
    heartbeat = pod.volumes["run"] / "replication-heartbeat"
    result = pod.run_sidecar(beats=1)
    assert result.returncode is None, result.stderr
    assert heartbeat.exists() and time.time() - heartbeat.stat().st_mtime < 10
    assert (pod.log / "sleeps").read_text().splitlines().count(WATCH_INTERVAL) >= 1


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_sidecar_ends_when_its_backup_server_ends(tmp_path, engine_name):
    """The kubelet restarts the container rather than leave a pod that cannot serve clones."""
    pod = positioned_replica(tmp_path, engine_name)
    result = pod.run_sidecar(beats=2, STUB_LISTEN_SECONDS="0")
    assert result.returncode == 1
    assert "the backup server or the watch loop stopped" in result.stderr


# --- status.sh ------------------------------------------------------------------------------

HOSTS = "mysql-0.mysql mysql-1.mysql mysql-2.mysql"


def test_status_names_the_replicas_that_do_not_answer(tmp_path):
    """The lost primary (mysql-0) and a replica (mysql-2) do not answer: mysql-1 is the most
    advanced of those that did, and the silent replica is named, as it may hold more."""
    pod = Pod(tmp_path, "mariadb-11.4", 1)
    result = pod.run("replication", "status.sh", STUB_HOSTS=HOSTS, STUB_DOWN_HOSTS="mysql-0.mysql mysql-2.mysql",
                     STUB_GTID="0-100-10")
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in result.stdout.splitlines() if "\t" in line}
    assert rows == {"pod": "role", "mysql-0": "unreachable", "mysql-1": "read-only, not replicating",
                    "mysql-2": "unreachable"}, result.stdout
    assert "not answering: mysql-2 (it may hold transactions" in result.stdout
    assert "mysql-0 (" not in result.stdout.split("not answering:")[1]  # the declared primary is not a replica
    assert result.stdout.splitlines()[-1] == "most advanced replica: mysql-1"
    # Every pod's state, its own included, read as the read-only status account.
    clients = [line for line in pod.calls().splitlines() if line.startswith("mariadb ")]
    assert clients and all(f"--defaults-extra-file={pod.volumes['sidecar-auth']}/status.cnf --protocol=TCP --host="
                           in line for line in clients), clients


def test_status_with_every_replica_answering_names_none_as_silent(tmp_path):
    pod = Pod(tmp_path, "mariadb-11.4", 1)
    result = pod.run("replication", "status.sh", STUB_HOSTS=HOSTS, STUB_DOWN_HOSTS="mysql-0.mysql",
                     STUB_GTID="0-100-10")
    assert result.returncode == 0, result.stderr
    assert "not answering" not in result.stdout
    assert result.stdout.splitlines()[-1] == "most advanced replica: mysql-2"  # equal sets: the last



@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("ordinal", [0, 1])
def test_sidecar_ends_within_a_second_on_sigterm(tmp_path, engine_name, ordinal):
    """As its container's PID 1 the sidecar gets the kubelet's SIGTERM alone, and bash would
    ignore it without a trap: the pod's deletion would wait out the grace period. The watch
    loop's sleep (a minute here) is cut short, the backup server stops with it."""
    pod = positioned_replica(tmp_path, engine_name) if ordinal else Pod(tmp_path, engine_name, 0)
    result = pod.run_sidecar(beats=1, terminate=True)
    assert result.returncode == 0, result.stderr
    assert result.seconds < 1, f"ended {result.seconds:.1f} s after SIGTERM"
    serves = mysql_ha.ENGINES[engine_name].serves_backup_streams
    stopping = "SIGTERM: stopping the watch loop" + (" and the backup server" if serves else "")
    assert stopping in result.stderr


def test_sidecar_waiting_for_its_server_ends_on_sigterm(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 1)
    scripts_dir = pod.path_in("replication", "/opt/mysql-ha")
    process = subprocess.Popen(["bash", str(scripts_dir / "replication.sh")],
                               env=pod.environment("replication", STUB_SERVER_DOWN="1"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(1)
        assert process.poll() is None, process.communicate()[1]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert time.monotonic() - started < 1
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert process.returncode == 0 and "waiting for the local server" in stderr and "SIGTERM: stopping" in stderr
