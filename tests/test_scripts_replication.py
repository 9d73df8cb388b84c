"""replication.sh (roles, semi-sync, take-over, positioning, its password), run for real in the pod sandbox
(``script_sandbox.py``)."""

from __future__ import annotations

import re
import shutil

import pytest
from script_sandbox import (
    CLONE_PASSWORD, CLONE_PASSWORD_SQL, PASSWORD, PASSWORD_SQL, Pod, SWITCHOVER_ENGINES, position_of,
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
DONOR_FILES.update({("mariadb-10.11", donor): files for (name, donor), files in list(DONOR_FILES.items())
                    if name == "mariadb-11.4"})


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
    if engine.name.startswith("mariadb-"):
        gtid = "0-100-7" if donor == "primary" else "0-100-9"
        assert change.startswith(f"SET GLOBAL gtid_slave_pos = '{gtid}';CHANGE MASTER TO ")
        assert "MASTER_USE_GTID=slave_pos" in change
    elif engine.clone_method == "clone-plugin":
        assert change == (
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql-0.mysql', SOURCE_PORT=3306, SOURCE_USER='repl', "
            f"SOURCE_PASSWORD='{PASSWORD_SQL}', SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=2, "
            "SOURCE_RETRY_COUNT=432000, GET_SOURCE_PUBLIC_KEY=0;"
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
    "mariadb-10.11": "LOG_FILE=\nLOG_POS=\nGTID=0-100-7\n",
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
