"""init-config.sh, run for real in the pod sandbox (``script_sandbox.py``): the role and the
server's configuration, an empty data directory initialized, the Secret's keys checked."""

from __future__ import annotations

import functools
from unittest import mock

import pytest
import script_sandbox
from script_sandbox import (
    Pod,
)
from synth_helpers import ENGINE_NAMES, pod_spec, whole_chart

import mysql_ha


# --- init-config.sh: role and configuration -------------------------------------------------


def replica_data(pod: Pod) -> None:
    """What clone-mysql leaves on a replica: a data directory with data."""
    pod.datadir.mkdir(parents=True, exist_ok=True)
    (pod.datadir / "ibdata1").write_text("data")


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("ordinal, role", [(0, "primary"), (1, "replica"), (2, "replica")])
def test_init_config_picks_the_role_and_server_id(tmp_path, engine_name, ordinal, role):
    pod = Pod(tmp_path, engine_name, ordinal, auth=False)
    if role == "replica":
        replica_data(pod)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    conf = pod.volumes["conf"]
    assert (conf / "role.cnf").read_text() == (pod.volumes["config-map"] / f"{role}.cnf").read_text()
    assert (conf / "server-id.cnf").read_text() == f"[mysqld]\nserver-id={100 + ordinal}\n"
    assert not (conf / "skip-replica-start.cnf").exists()
    # Whatever the role: read-only, replication stopped, until the sidecar has checked.
    e = pod.engine
    assert (conf / "start.cnf").read_text() == f"[mysqld]\n{e.read_only_option}=1\n{e.skip_replica_start_option}\n"
    assert f"ordinal {ordinal} (declared primary: 0): {role}, server-id {100 + ordinal}" in result.stderr
    # The server reads what init-mysql wrote: the same volume, at the server's own path.
    assert pod.path_in("mysql", "/etc/mysql/conf.d") == pod.path_in("init-mysql", "/etc/mysql/conf.d") == conf


@pytest.mark.parametrize("engine_name", [n for n in ENGINE_NAMES if mysql_ha.engine_by_name(n).supports_semi_sync])
@pytest.mark.parametrize("ordinal", [0, 1])
def test_init_config_starts_every_server_with_the_semi_sync_source_side_off(tmp_path, engine_name, ordinal):
    pod = Pod(tmp_path, engine_name, ordinal, auth=False)
    if ordinal:
        replica_data(pod)
    assert pod.run("init-mysql", "init-config.sh").returncode == 0
    declared = (pod.volumes["topology"] / "semi-sync.cnf").read_text().splitlines()
    written = (pod.volumes["conf"] / "semi-sync.cnf").read_text().splitlines()
    enabled = pod.engine.semi_sync_source_enabled
    changed = [(a, b) for a, b in zip(declared, written) if a != b]
    assert len(declared) == len(written) and len(changed) == 1, written
    assert changed[0][0].endswith(f"{enabled}=ON") and changed[0][1].endswith(f"{enabled}=OFF")


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_init_config_starts_every_server_read_only_without_replication(tmp_path, engine_name):
    """A fresh clone, a positioned replica and the declared primary alike; an earlier
    version's skip-replica-start.cnf is dropped, and the initialization of an empty data
    directory does not run read-only."""
    pod = Pod(tmp_path, engine_name, 1, auth=False)
    pod.datadir.mkdir()
    (pod.datadir / "mysql-ha-source-position").write_text("LOG_FILE=mysql-bin.000001\nLOG_POS=4\nGTID=\n")
    (pod.volumes["conf"] / "skip-replica-start.cnf").write_text("[mysqld]\nskip-replica-start\n")
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    start = pod.volumes["conf"] / "start.cnf"
    want = f"[mysqld]\n{pod.engine.read_only_option}=1\n{pod.engine.skip_replica_start_option}\n"
    assert start.read_text() == want
    assert not (pod.volumes["conf"] / "skip-replica-start.cnf").exists()
    (pod.datadir / "mysql-ha-source-position").rename(pod.datadir / "mysql-ha-source-position.applied")
    assert pod.run("init-mysql", "init-config.sh").returncode == 0
    assert start.read_text() == want

    primary = Pod(tmp_path / "primary", engine_name, 0, auth=False)
    (primary.volumes["conf"] / "start.cnf").write_text(want)  # left by an earlier start
    seen = primary.log / "conf-at-initialize"
    result = primary.run("init-mysql", "init-config.sh", STUB_INITIALIZE_SEES=str(seen))
    assert result.returncode == 0, result.stderr
    assert "start.cnf" not in seen.read_text().split()
    assert (primary.volumes["conf"] / "start.cnf").read_text() == want


# --- init-config.sh: the data directory ---------------------------------------------------------


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("before", ["no-directory", "empty-directory", "half-done-earlier-attempt"])
def test_init_config_initializes_an_empty_data_directory_and_renames_it_into_place(tmp_path, engine_name, before):
    """The declared primary of a new set: the engine's own initialization (what the image's
    entrypoint would run), with the server's configuration, beside the data directory."""
    pod = Pod(tmp_path, engine_name, 0, auth=False)
    work = pod.volumes["data"] / "init.tmp"
    if before == "empty-directory":
        pod.datadir.mkdir()  # a mount point left by an earlier start
    if before == "half-done-earlier-attempt":
        work.mkdir()
        (work / "leftover").write_text("from an initialization that died")
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    (call,) = [line for line in pod.calls().splitlines() if line.split()[0] in ("mysqld", "mariadb-install-db")]
    assert call == f"{pod.engine.initialize} --datadir={work}"
    # Renamed into place once complete: the server finds a whole data directory or none.
    assert (pod.datadir / "stub-initialized").read_text() == f"{call}\n"
    assert not (pod.datadir / "leftover").exists()
    assert not work.exists()
    assert "initializing an empty data directory" in result.stderr
    # The configuration it read was in place first.
    assert (pod.volumes["conf"] / "role.cnf").exists()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_init_config_leaves_existing_data_alone(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0, auth=False)
    replica_data(pod)
    files = ["ibdata1"]
    if pod.engine.upgrade:
        # System tables at the server's version already.
        (pod.datadir / "mariadb_upgrade_info").write_text("11.8.9-MariaDB")
        files.append("mariadb_upgrade_info")
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    assert pod.calls() == (f"{pod.engine.server} --version\n" if pod.engine.upgrade else "")
    assert sorted(p.name for p in pod.datadir.iterdir()) == files


# --- init-config.sh: a new server version on existing data -----------------------------------

UPGRADE_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].upgrade]


@pytest.mark.parametrize("engine_name", UPGRADE_ENGINES)
@pytest.mark.parametrize("record, content", [
    ("mysql_upgrade_info", "10.11.18-MariaDB"),  # 10.11's mariadb-install-db or mariadb-upgrade
    ("xtrabackup_info", "uuid = 1\ntool_version = 10.11.18-MariaDB\nserver_version = 10.11.18-MariaDB-0+deb12u1-log\n"),
    (None, None),  # no record: upgraded, as the image's entrypoint does
], ids=["upgrade-record", "clone-of-a-10.11-donor", "no-record"])
def test_init_config_upgrades_the_system_tables_of_older_data(tmp_path, engine_name, record, content):
    """An 11.8 server on a 10.11 data directory: mariadb-upgrade against a temporary server
    with no network, no replication and no grant tables, stopped before the server starts."""
    pod = Pod(tmp_path, engine_name, 0, auth=False)
    replica_data(pod)
    if record:
        (pod.datadir / record).write_text(content)
    result = pod.run("init-mysql", "init-config.sh", STUB_SERVER_VERSION="11.8.9",
                     STUB_UPGRADE_DATADIR=str(pod.datadir))
    assert result.returncode == 0, result.stderr
    assert f"upgrading the system tables from {'10.11.18-MariaDB' if record else 'an unrecorded version'}" \
        in result.stderr.replace("-0+deb12u1-log", "")
    assert "system tables upgraded to 11.8" in result.stderr
    calls = pod.calls().splitlines()
    server = next(c for c in calls if c.startswith("mariadbd --datadir="))
    for option in ("--skip-networking", "--skip-grant-tables", "--skip-slave-start", "--binlog-expire-logs-seconds=0"):
        assert f" {option}" in server, server
    assert f"--datadir={pod.datadir} " in server
    upgrade = next(c for c in calls if c.startswith("mariadb-upgrade "))
    assert upgrade.startswith("mariadb-upgrade --upgrade-system-tables --socket=") and "--user=root" in upgrade
    assert "SHUTDOWN" in pod.sql()
    assert (pod.datadir / "mariadb_upgrade_info").read_text().startswith("11.8.9")
    # Once upgraded, a restart of the pod upgrades nothing.
    again = pod.run("init-mysql", "init-config.sh", STUB_SERVER_VERSION="11.8.9")
    assert again.returncode == 0, again.stderr
    assert "upgrading" not in again.stderr


@pytest.mark.parametrize("engine_name", UPGRADE_ENGINES)
def test_init_config_refuses_a_downgrade(tmp_path, engine_name):
    """10.11 on data that 11.8 upgraded: MariaDB would start on it (with an InnoDB error and
    11.8's system tables); the pod stops before the server runs, saying why and what to do."""
    pod = Pod(tmp_path, engine_name, 0, auth=False)
    replica_data(pod)
    (pod.datadir / "mariadb_upgrade_info").write_text("11.8.9-MariaDB")
    result = pod.run("init-mysql", "init-config.sh", STUB_SERVER_VERSION="10.11.18")
    assert result.returncode == 1
    assert ("the data directory was last upgraded by 11.8.9-MariaDB (its mariadb_upgrade_info), and this server "
            "is 10.11") in result.stderr
    assert "a downgrade is not supported" in result.stderr
    assert pod.calls() == "mariadbd --version\n"
    assert list(pod.volumes["server-auth"].iterdir()) == []


@pytest.mark.parametrize("engine_name", UPGRADE_ENGINES)
def test_init_config_stops_when_the_upgrade_fails(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0, auth=False)
    replica_data(pod)
    (pod.datadir / "mysql_upgrade_info").write_text("10.11.18-MariaDB")
    result = pod.run("init-mysql", "init-config.sh", STUB_SERVER_VERSION="11.8.9", STUB_UPGRADE_STATUS="1")
    assert result.returncode == 1
    assert "the system tables could not be upgraded" in result.stderr
    assert list(pod.volumes["server-auth"].iterdir()) == []


def test_init_config_stops_when_the_initialization_fails(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 0, auth=False)
    result = pod.run("init-mysql", "init-config.sh", STUB_INITIALIZE_STATUS="1")
    assert result.returncode == 1
    assert "the server could not initialize its data directory" in result.stderr
    assert not pod.datadir.exists(), "a failed initialization must not look like data to the server"
    assert list(pod.volumes["server-auth"].iterdir()) == []


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("empty_directory", [False, True], ids=["no-directory", "empty-directory"])
def test_a_replica_without_data_stops_with_a_message(tmp_path, engine_name, empty_directory):
    """A replica's data comes from its clone: initializing one would start a second history."""
    pod = Pod(tmp_path, engine_name, 1, auth=False)
    if empty_directory:
        pod.datadir.mkdir()
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 1
    assert "no data directory on a replica: its clone did not run (see clone-mysql)" in result.stderr
    assert pod.calls() == ""
    assert not (pod.volumes["data"] / "init.tmp").exists()
    assert list(pod.volumes["server-auth"].iterdir()) == []


# --- init-config.sh: the Secret's keys ----------------------------------------------------------

REQUIRED_KEYS = ["root-password", "admin-password", "status-password", "replication-password", "clone-password"]


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("missing", [*[(key,) for key in REQUIRED_KEYS], ("admin-password", "status-password")],
                         ids=lambda keys: "+".join(keys))
def test_init_config_names_a_missing_key_and_writes_nothing(tmp_path, engine_name, missing):
    """The Secret's volume is optional: a Secret from before the accounts of least privilege
    starts the pod, and init-mysql says which keys to add."""
    required_elsewhere = [volume["name"] for volume in pod_spec(list(script_sandbox.chart(engine_name)))["volumes"]
                          if "secret" in volume and not volume["secret"].get("optional")
                          and {item["path"] for item in volume["secret"]["items"]} & set(missing)]
    if required_elsewhere:
        # A Secret volume that is not optional (clone-mysql's clone-credentials, CLONE engines):
        # the kubelet starts no container of the pod, and says so in the pod's events.
        with pytest.raises(AssertionError, match="the kubelet starts no pod whose Secret volume"):
            Pod(tmp_path, engine_name, 0, missing=missing, auth=False)
        return
    pod = Pod(tmp_path, engine_name, 0, missing=missing, auth=False)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 1
    assert f"the Secret mysql-credentials has no (or an empty) key {' '.join(missing)}: " in result.stderr
    assert f"kubectl patch secret mysql-credentials --type merge -p '{{\"stringData\":{{\"{missing[0]}\":" \
        in result.stderr
    for volume in ("conf", "server-auth", "sidecar-auth"):
        assert list(pod.volumes[volume].iterdir()) == [], volume
    assert not pod.datadir.exists() and pod.calls() == ""


def test_init_config_names_the_metrics_key_with_metrics_on(tmp_path):
    pod = Pod(tmp_path, "mariadb-11.4", 0, metrics=True, missing=("metrics-password",), auth=False)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 1
    assert "the Secret mysql-credentials has no (or an empty) key metrics-password: " in result.stderr
    assert list(pod.volumes["metrics-auth"].iterdir()) == []


@pytest.mark.parametrize("key", ["root-password", "status-password"])
def test_init_config_names_an_empty_key(tmp_path, key):
    pod = Pod(tmp_path, "mysql-8.4", 0, auth=False, **{key.replace("-", "_"): ""})
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 1
    assert f"has no (or an empty) key {key}: " in result.stderr
    assert list(pod.volumes["server-auth"].iterdir()) == []


@pytest.mark.parametrize("key", ["root-password", "admin-password", "status-password", "replication-password",
                                 "clone-password", "backup-password"])
@pytest.mark.parametrize("password, message", [("two\nlines", "spans several lines"), ("\n\n", "is empty")])
def test_init_config_refuses_a_bad_password_before_writing_anything(tmp_path, key, password, message):
    """Checked before anything is written: read later inside an argument list, a bad password
    would have given its account an empty one."""
    pod = Pod(tmp_path, "mysql-8.4", 0, auth=False, **{key.replace("-", "_"): password})
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 1
    assert f"the password in the Secret's key {key} {message}" in result.stderr
    for volume in ("conf", "server-auth", "sidecar-auth"):
        assert list(pod.volumes[volume].iterdir()) == [], volume
    assert not pod.datadir.exists()


def test_init_config_names_the_secret_s_own_key(tmp_path):
    """With custom key names, the message names the key to add to the Secret, not the file."""
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("vault-mysql", status_password_key="probe")
    with mock.patch.object(script_sandbox, "chart", functools.partial(_chart_with, credentials=credentials)):
        pod = Pod(tmp_path, "mysql-8.4", 0, missing=("status-password",), auth=False)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 1
    assert "the Secret vault-mysql has no (or an empty) key probe: " in result.stderr


def _chart_with(engine_name, *, credentials, **props):
    return tuple(whole_chart(mysql_ha.ENGINES[engine_name], credentials, **props))
