"""clone.sh, run for real in the pod sandbox (``script_sandbox.py``)."""

from __future__ import annotations

import pytest
from script_sandbox import (
    BACKUP_STREAM_ENGINES, CLONE_PASSWORD, CLONE_PASSWORD_SQL, CLONE_PLUGIN_ENGINES, Pod, position_of,
)
from synth_helpers import ENGINE_NAMES


def replica_data(pod: Pod) -> None:
    """What clone-mysql leaves on a replica: a data directory with data."""
    pod.datadir.mkdir(parents=True, exist_ok=True)
    (pod.datadir / "ibdata1").write_text("data")


# --- clone.sh -------------------------------------------------------------------------------


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_clone_does_nothing_on_the_primary(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0)
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert not pod.datadir.exists()
    assert pod.calls() == ""


def test_clone_does_nothing_when_data_exists(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 2)
    replica_data(pod)
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert "nothing to clone" in result.stderr
    assert pod.calls() == ""


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_clone_copies_over_an_empty_data_directory(tmp_path, engine_name):
    """An empty directory (the mount point an earlier start left) holds no data: cloned over."""
    pod = Pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir()
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000003\t157\t0-100-7\n")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert "nothing to clone" not in result.stderr
    assert (pod.datadir / "ibdata1").read_text() == "data"


BINLOG_INFO_CASES = [
    pytest.param("mysql-bin.000003\t157\n", ("mysql-bin.000003", "157", ""), id="mysql-two-fields"),
    pytest.param("mysql-bin.000003\t157", ("mysql-bin.000003", "157", ""), id="no-final-newline"),
    pytest.param(
        "mysql-bin.000002\t1234\t0-100-7\n", ("mysql-bin.000002", "1234", "0-100-7"), id="mariadb-three-fields"
    ),
    pytest.param(
        "mysql-bin.000002\t1234\t0-100-7,1-101-3\n", ("mysql-bin.000002", "1234", "0-100-7,1-101-3"),
        id="mariadb-two-domains",
    ),
]


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
@pytest.mark.parametrize("binlog_info, expected", BINLOG_INFO_CASES)
def test_clone_of_the_primary_reads_binlog_info(tmp_path, engine_name, binlog_info, expected):
    pod = Pod(tmp_path, engine_name, 1)
    pod.donor_backup(xtrabackup_binlog_info=binlog_info)
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert position_of(pod) == dict(zip(("LOG_FILE", "LOG_POS", "GTID"), expected))
    assert (pod.datadir / "ibdata1").exists()
    assert not (pod.volumes["data"] / "clone.tmp").exists()
    calls = pod.calls()
    assert "mysql-0.mysql" in calls and "3307" in calls  # the donor is ordinal N-1
    staging = pod.volumes["data"] / "clone.tmp"
    assert f"{pod.engine.backup} --prepare --target-dir={staging}" in calls
    assert f"{pod.engine.stream_extractor} -x -C {staging}" in calls


SLAVE_INFO_CASES = [
    pytest.param(
        "CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000004', MASTER_LOG_POS=900;\n",
        ("mysql-bin.000004", "900", ""), id="change-master",
    ),
    pytest.param(
        "CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='mysql-bin.000004', SOURCE_LOG_POS=900;\n",
        ("mysql-bin.000004", "900", ""), id="change-replication-source",
    ),
    pytest.param(
        "SET GLOBAL gtid_slave_pos = '0-100-7';\nCHANGE MASTER TO master_use_gtid = slave_pos;\n",
        ("", "", "0-100-7"), id="mariadb-gtid",
    ),
]


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
@pytest.mark.parametrize("slave_info, expected", SLAVE_INFO_CASES)
def test_clone_of_a_replica_reads_slave_info(tmp_path, engine_name, slave_info, expected):
    pod = Pod(tmp_path, engine_name, 2)
    # A replica's backup also has binlog info: its own binary log, not the primary's.
    pod.donor_backup(xtrabackup_slave_info=slave_info, xtrabackup_binlog_info="mysql-bin.000001\t99\t0-102-1\n")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert position_of(pod) == dict(zip(("LOG_FILE", "LOG_POS", "GTID"), expected))
    assert "mysql-1.mysql" in pod.calls()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_clone_replaces_a_half_done_earlier_attempt(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1)
    staging = pod.volumes["data"] / "clone.tmp"
    staging.mkdir()
    (staging / "leftover").write_text("from a clone that died")
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000003\t157\n")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert not (pod.datadir / "leftover").exists()


@pytest.mark.parametrize(
    "setup, extra, message",
    [
        pytest.param({}, {}, "ended before a complete backup (no xtrabackup_checkpoints or mariadb_backup_checkpoints)",
                     id="stream-without-checkpoints"),
        pytest.param(
            {"xtrabackup_checkpoints": "x", "xtrabackup_binlog_info": "mysql-bin.000003\t157\n"},
            {"STUB_RECEIVE_STATUS": "1"}, "", id="transfer-fails",
        ),
        pytest.param({"xtrabackup_checkpoints": "x"}, {}, "no binary log coordinates", id="no-coordinates"),
        pytest.param(
            {"xtrabackup_checkpoints": "x", "xtrabackup_slave_info": "garbage\n"}, {},
            "no binary log coordinates found", id="unparsable-slave-info",
        ),
    ],
)
@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_failed_clone_leaves_no_data_directory(tmp_path, engine_name, setup, extra, message):
    # Slave info counts only in a replica's backup: clone from one (ordinal 1) for it.
    pod = Pod(tmp_path, engine_name, 2 if "xtrabackup_slave_info" in setup else 1)
    for name, text in setup.items():
        (pod.backup / name).write_text(text)
    result = pod.run("clone-mysql", "clone.sh", **extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert not pod.datadir.exists(), "a failed clone must not look like data to the next start"
    assert "--prepare" not in pod.calls()


# --- clone.sh with the CLONE plugin ------------------------------------------------------------


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
@pytest.mark.parametrize("ordinal", [1, 2])
def test_clone_plugin_copies_the_pod_before_into_place(tmp_path, engine_name, ordinal):
    pod = Pod(tmp_path, engine_name, ordinal, clone_password=CLONE_PASSWORD)
    pod.donor_backup()  # what the donor's data directory holds
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    donor = f"mysql-{ordinal - 1}.mysql"
    staging = pod.volumes["data"] / "clone.tmp"
    # The statement and the password travel on stdin, to a local server of the server's own program.
    sql = pod.sql()
    assert f"SET GLOBAL clone_valid_donor_list = '{donor}:3306';" in sql
    assert (
        f"CLONE INSTANCE FROM 'clone'@'{donor}':3306 IDENTIFIED BY '{CLONE_PASSWORD_SQL}'\n"
        f"  DATA DIRECTORY = '{staging}/data';"
    ) in sql
    assert "SELECT STATE, REPLACE(REPLACE(IFNULL(GTID_EXECUTED, ''), '\\n', ''), ' ', '') FROM performance_schema.clone_status" in sql
    calls = pod.calls()
    assert CLONE_PASSWORD not in calls and CLONE_PASSWORD_SQL not in calls and "IDENTIFIED" not in calls
    servers = [line for line in calls.splitlines() if line.startswith(f"{pod.engine.server} ")]
    assert len(servers) == 2, calls
    assert servers[0].startswith(f"{pod.engine.server} --no-defaults --initialize-insecure --datadir={staging}/seed ")
    assert "--skip-networking" in servers[1] and "--plugin-load-add=mysql_clone.so" in servers[1]
    assert "xtrabackup" not in calls and "xbstream" not in calls and "3307" not in calls
    # TLS off: first a login from the donor's authentication cache (no TLS, no RSA key), so
    # that CLONE INSTANCE authenticates from the cache too; its option file is gone after.
    login = (f"{pod.engine.client} --defaults-extra-file={staging}/login.cnf --protocol=TCP --host={donor} --port=3306 "
             "--ssl-mode=DISABLED --batch")
    assert login in calls.splitlines()
    # Right before the statement: after it, the local server's client runs CLONE INSTANCE and
    # reads its status.
    assert calls[calls.index(login):].count("seed.sock --user=root") == 2
    assert not (staging / "login.cnf").exists()
    # Renamed into place; the copy carries the GTID set, so no coordinates.
    assert (pod.datadir / "ibdata1").read_text() == "data"
    assert position_of(pod) == {"LOG_FILE": "", "LOG_POS": "", "GTID": ""}
    assert not staging.exists()
    assert f"clone from {donor} complete" in result.stderr


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
@pytest.mark.parametrize(
    "extra, message",
    [
        pytest.param({"STUB_CLONE_FAILS": "1"}, "CLONE INSTANCE from mysql-0.mysql failed", id="clone-fails"),
        pytest.param({"STUB_CLONE_STATE": "Failed"}, "the clone from mysql-0.mysql ended in state 'Failed'",
                     id="clone-not-completed"),
        pytest.param({"STUB_INITIALIZE_STATUS": "1"}, "could not initialize the local clone server",
                     id="local-server-does-not-initialize"),
    ],
)
def test_failed_clone_plugin_leaves_no_data_directory(tmp_path, engine_name, extra, message):
    pod = Pod(tmp_path, engine_name, 1)
    pod.donor_backup()
    result = pod.run("clone-mysql", "clone.sh", **extra)
    assert result.returncode == 1
    assert message in result.stderr
    assert not pod.datadir.exists(), "a failed clone must not look like data to the next start"


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
def test_clone_plugin_never_sends_the_password_under_an_unchecked_key(tmp_path, engine_name):
    """TLS off, and the donor's cache does not hold the clone account: CLONE INSTANCE would
    send the password under the donor's unchecked certificate or RSA key. The clone waits
    for the cache (the donor's probes fill it) and gives up with the reason, never cloning."""
    pod = Pod(tmp_path, engine_name, 1)
    pod.donor_backup()
    result = pod.run("clone-mysql", "clone.sh", STUB_AUTH_CACHE_COLD="1", STUB_WATCH_INTERVAL="2",
                     STUB_WATCH_SECONDS="0")
    assert result.returncode == 1
    assert ("clone cannot log in to mysql-0.mysql from its authentication cache (ERROR 2061 (HY000): "
            "Authentication plugin 'caching_sha2_password' reported error: Authentication requires secure "
            "connection.)") in result.stderr
    assert (pod.log / "sleeps").read_text().splitlines().count("2") == 60
    assert "CLONE INSTANCE" not in pod.sql()
    assert not pod.datadir.exists()
    assert not list(pod.volumes["data"].rglob("login.cnf"))


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
def test_clone_plugin_fails_at_once_when_the_donor_does_not_answer(tmp_path, engine_name):
    """Only a cache miss is waited for: an unreachable donor fails the copy at once, and the
    container's restarts retry it (as CLONE INSTANCE's own connection failure would)."""
    pod = Pod(tmp_path, engine_name, 1)
    pod.donor_backup()
    result = pod.run("clone-mysql", "clone.sh", STUB_DOWN_HOSTS="mysql-0.mysql")
    assert result.returncode == 1
    assert "clone cannot log in to mysql-0.mysql: ERROR 2003 (HY000)" in result.stderr
    assert not (pod.log / "sleeps").exists() or "2" not in (pod.log / "sleeps").read_text().splitlines()
    assert "CLONE INSTANCE" not in pod.sql()
    assert not pod.datadir.exists()


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
def test_clone_plugin_refuses_an_empty_clone_password(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1, auth=False)
    (pod.path_in("clone-mysql", "/etc/mysql-ha/credentials") / "clone-password").write_text("")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 1
    assert "no password for clone: the Secret's key for clone-password is missing or empty" in result.stderr
    assert "CLONE INSTANCE" not in pod.sql()
    assert not pod.datadir.exists()


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
def test_clone_plugin_reads_the_clone_password_from_its_own_secret_volume(tmp_path, engine_name):
    """clone-mysql mounts the clone account's key alone, not the Secret's every password."""
    pod = Pod(tmp_path, engine_name, 1, auth=False, clone_password=CLONE_PASSWORD)
    secret_dir = pod.path_in("clone-mysql", "/etc/mysql-ha/credentials")
    assert secret_dir == pod.volumes["clone-credentials"]
    assert sorted(p.name for p in secret_dir.iterdir()) == ["clone-password"]
    pod.donor_backup()
    assert pod.run("clone-mysql", "clone.sh").returncode == 0
    assert f"IDENTIFIED BY '{CLONE_PASSWORD_SQL}'" in pod.sql()


# --- clone.sh from a backup stream: where the coordinates come from ---------------------------


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_clone_of_a_replica_without_slave_info_fails(tmp_path, engine_name):
    """A replica's own binlog info names ITS binary log: positioning a new replica there
    would skip or repeat the primary's transactions."""
    pod = Pod(tmp_path, engine_name, 2)
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000001\t99\t0-101-1\n")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 1
    assert "the backup from replica mysql-1.mysql has no slave info: the primary's coordinates are unknown" \
        in result.stderr
    assert not pod.datadir.exists()
    assert "--prepare" not in pod.calls()


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
@pytest.mark.parametrize(
    "ordinal, files, expected",
    [
        pytest.param(1, {"binlog_info": "mysql-bin.000002\t1234\t0-100-7\n"}, ("mysql-bin.000002", "1234", "0-100-7"),
                     id="from-the-primary"),
        pytest.param(2, {"slave_info": "SET GLOBAL gtid_slave_pos = '0-100-9';\n"
                                       "CHANGE MASTER TO master_use_gtid = slave_pos;\n",
                         "binlog_info": "mysql-bin.000001\t99\t0-101-1\n"},
                     ("", "", "0-100-9"), id="from-a-replica"),
    ],
)
def test_clone_reads_mariadb_11_backup_file_names(tmp_path, engine_name, ordinal, files, expected):
    """MariaDB 11's mariadb-backup names its files mariadb_backup_* (MDEV-18931)."""
    pod = Pod(tmp_path, engine_name, ordinal)
    pod.donor_backup(prefix="mariadb_backup", **{f"mariadb_backup_{name}": text for name, text in files.items()})
    assert not list(pod.backup.glob("xtrabackup_*"))
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert position_of(pod) == dict(zip(("LOG_FILE", "LOG_POS", "GTID"), expected))
    assert (pod.datadir / "mariadb_backup_checkpoints").exists()
