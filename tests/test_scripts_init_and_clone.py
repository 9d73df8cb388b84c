"""init-config.sh and clone.sh, run for real in the pod sandbox (``script_sandbox.py``)."""

from __future__ import annotations

import configparser
import functools
import re
from unittest import mock

import pytest
import script_sandbox
from script_sandbox import (
    BACKUP_STREAM_ENGINES, CLONE_PASSWORD, CLONE_PASSWORD_SQL, CLONE_PLUGIN_ENGINES, Pod, position_of,
)
from synth_helpers import ENGINE_NAMES, pod_spec, whole_chart
from tls_helpers import TLS_ENGINE_NAMES, tls_chart

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
def test_init_config_keeps_replication_stopped_until_the_clone_is_positioned(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1, auth=False)
    pod.datadir.mkdir()
    (pod.datadir / "mysql-ha-source-position").write_text("LOG_FILE=mysql-bin.000001\nLOG_POS=4\nGTID=\n")
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    skip = pod.volumes["conf"] / "skip-replica-start.cnf"
    assert skip.read_text() == f"[mysqld]\n{pod.engine.skip_replica_start_option}\n"
    # Once positioned, the next start drops it again.
    (pod.datadir / "mysql-ha-source-position").rename(pod.datadir / "mysql-ha-source-position.applied")
    assert pod.run("init-mysql", "init-config.sh").returncode == 0
    assert not skip.exists()


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
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    assert pod.calls() == ""
    assert sorted(p.name for p in pod.datadir.iterdir()) == ["ibdata1"]


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


# --- init-config.sh: the accounts (bootstrap.sql) ------------------------------------------------

ACCOUNT_PASSWORDS = {
    "root_password": "Ro'ot\\pw#1",
    "admin_password": "Ad'min\\pw$2",
    "status_password": 'St"at\'us&3',
    "replication_password": "Re'pl\\pw4",
    "clone_password": "Cl'one\\pw5",
    "metrics_password": "Me'trics\\pw6",
    "backup_password": "Ba'ckup\\pw7",
}
CREATE = re.compile(r"^CREATE USER IF NOT EXISTS '([^']*)'@'([^']*)' IDENTIFIED BY '((?:[^']|'')*)'(.*);$")
GRANT = re.compile(r"^GRANT (.+) ON \*\.\* TO '([^']*)'@'([^']*)';$")


def sql_literal(password: str) -> str:
    return password.replace("\\", "\\\\").replace("'", "''")


def bootstrap(pod: Pod) -> list[str]:
    return (pod.volumes["server-auth"] / "bootstrap.sql").read_text().splitlines()


def accounts(statements: list[str]) -> dict[tuple[str, str], dict[str, str]]:
    """(user, host) -> the password (as SQL writes it), the options after it and the grants."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for line in statements:
        if match := CREATE.match(line):
            user, host, password, options = match.groups()
            found[user, host] = {"password": password, "options": options}
            # The ALTER USER that follows sets the same, for an account from an earlier start.
            assert f"ALTER USER '{user}'@'{host}' IDENTIFIED BY '{password}'{options};" in statements
        elif match := GRANT.match(line):
            grants, user, host = match.groups()
            found[user, host]["grants"] = grants
    return found


def expected_accounts(engine: mysql_ha.Engine, *, tls: bool, metrics: bool, backup: bool) -> dict:
    remote = " REQUIRE SSL" if tls else ""
    expected = {
        ("mysqlha_admin", "localhost"): ("admin_password", " REQUIRE NONE", engine.admin_grants),
        ("mysqlha_status", "%"): ("status_password", remote, engine.status_grants),
        ("repl", "%"): ("replication_password", remote, "REPLICATION SLAVE"),
        ("clone", engine.clone_host): ("clone_password", remote if engine.clone_host == "%" else " REQUIRE NONE",
                                       engine.clone_grants),
    }
    if backup:
        expected["mysqlha_backup", "%"] = ("backup_password", remote, engine.backup_grants)
    if metrics:
        expected["exporter", "127.0.0.1"] = ("metrics_password", " WITH MAX_USER_CONNECTIONS 3",
                                             "PROCESS, REPLICATION CLIENT, SELECT")
    return expected


def assert_accounts(pod: Pod, *, tls: bool, metrics: bool, backup: bool) -> None:
    statements = bootstrap(pod)
    found = accounts(statements)
    expected = expected_accounts(pod.engine, tls=tls, metrics=metrics, backup=backup)
    # The status account may also have a socket-only twin for the server's probes (no TLS there).
    socket_status = found.pop(("mysqlha_status", "localhost"), None)
    if socket_status is not None:
        assert socket_status == {"password": sql_literal(ACCOUNT_PASSWORDS["status_password"]),
                                 "options": " REQUIRE NONE", "grants": pod.engine.status_grants}
    assert sorted(found) == sorted(expected)
    for (user, host), (password, options, grants) in expected.items():
        assert found[user, host] == {"password": sql_literal(ACCOUNT_PASSWORDS[password]), "options": options,
                                     "grants": grants}, (user, host)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("metrics", [False, True], ids=["", "metrics"])
def test_bootstrap_sets_every_account_with_exactly_its_privileges(tmp_path, engine_name, metrics):
    pod = Pod(tmp_path, engine_name, 0, metrics=metrics, auth=False, **ACCOUNT_PASSWORDS)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    # The backup account where the Job logs in to copy a server and the Secret has its key.
    assert_accounts(pod, tls=False, metrics=metrics, backup=bool(pod.engine.backup_grants))
    statements = bootstrap(pod)
    # root: its password, the socket alone; every other root and any anonymous account dropped.
    assert f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{sql_literal(ACCOUNT_PASSWORDS['root_password'])}';" \
        in statements
    assert ("DROP USER IF EXISTS 'root'@'%', 'root'@'127.0.0.1', 'root'@'::1', 'root'@'mysql-0', ''@'localhost', "
            "''@'mysql-0';") in statements
    assert not [line for line in statements if "'root'" in line and line.startswith(("CREATE", "GRANT"))]
    assert "REQUIRE SSL" not in "\n".join(statements)
    # Never binary-logged, and (MySQL) past super_read_only: opened and closed by the engine's statements.
    assert statements[0] == f"{pod.engine.sql_bootstrap_begin};"
    if pod.engine.sql_bootstrap_end:
        assert statements[-1] == f"{pod.engine.sql_bootstrap_end};"
    assert (pod.volumes["server-auth"] / "bootstrap.sql").stat().st_mode & 0o777 == 0o600
    assert not (pod.volumes["server-auth"] / "bootstrap.sql.tmp").exists()
    for password in ACCOUNT_PASSWORDS.values():
        assert password not in result.stderr + result.stdout and sql_literal(password) not in pod.calls()


@pytest.mark.parametrize("engine_name", ["mysql-8.4", "mysql-9.7"])
def test_bootstrap_has_no_backup_account_without_its_key(tmp_path, engine_name):
    """The backup password is optional: only a MySQLBackup needs it."""
    pod = Pod(tmp_path, engine_name, 0, missing=("backup-password",), auth=False, **ACCOUNT_PASSWORDS)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    assert_accounts(pod, tls=False, metrics=False, backup=False)


@pytest.mark.parametrize("engine_name", TLS_ENGINE_NAMES)
def test_bootstrap_requires_tls_of_the_network_accounts_with_tls_on(tmp_path, engine_name):
    """Accounts that log in over the network (status, replication, a CLONE donor's clone,
    backup) do so with TLS only; those of the socket (the sidecar's, a backup tool's) and the
    exporter's on 127.0.0.1 cannot or need not."""
    with mock.patch.object(script_sandbox, "chart", _tls_manifests):
        pod = Pod(tmp_path, engine_name, 0, metrics=True, auth=False, **ACCOUNT_PASSWORDS)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    assert_accounts(pod, tls=True, metrics=True, backup=bool(pod.engine.backup_grants))


@functools.lru_cache(maxsize=None)
def _tls_manifests(engine_name: str, **props) -> tuple:
    return tuple(tls_chart(engine_name, **props))


# --- init-config.sh: each container's option files ----------------------------------------------


def options_of(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {section: dict(parser[section]) for section in parser.sections()}


def quoted(password: str) -> str:
    """A password in an option file: between double quotes, backslash and quote escaped."""
    return '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_each_container_gets_the_passwords_it_uses_and_no_other(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0, metrics=True, auth=False, **ACCOUNT_PASSWORDS)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    engine = pod.engine
    socket = pod.environment("init-mysql")["MYSQL_HA_SOCKET"]
    server, sidecar, metrics = (pod.auth_files(name) for name in ("server-auth", "sidecar-auth", "metrics-auth"))

    # The server: its init file, and the probes' option file (the status account, the socket).
    assert sorted(server) == ["bootstrap.sql", "client.cnf"]
    assert options_of(server["client.cnf"]) == {"client": {
        "user": "mysqlha_status", "password": quoted(ACCOUNT_PASSWORDS["status_password"]), "socket": socket}}
    # The sidecar: its own account over the socket, the status account to the other pods, the
    # replication password for its change-source statement and (backup streams) the clone
    # account for the backup tool that serves its data.
    assert sorted(sidecar) == sorted(["client.cnf", "status.cnf", "replication-password",
                                      *(["backup-tool.cnf"] if engine.serves_backup_streams else [])])
    assert options_of(sidecar["client.cnf"]) == {"client": {
        "user": "mysqlha_admin", "password": quoted(ACCOUNT_PASSWORDS["admin_password"]), "socket": socket}}
    assert options_of(sidecar["status.cnf"]) == {"client": {
        "user": "mysqlha_status", "password": quoted(ACCOUNT_PASSWORDS["status_password"]), "port": "3306"}}
    assert sidecar["replication-password"] == ACCOUNT_PASSWORDS["replication_password"]
    if engine.serves_backup_streams:
        clone = {"user": "clone", "password": quoted(ACCOUNT_PASSWORDS["clone_password"]), "socket": socket}
        assert options_of(sidecar["backup-tool.cnf"]) == {"client": clone, "xtrabackup": clone}
    # The exporter: its own account, to 127.0.0.1.
    assert sorted(metrics) == ["exporter.cnf"]
    assert options_of(metrics["exporter.cnf"]) == {"client": {
        "user": "exporter", "password": quoted(ACCOUNT_PASSWORDS["metrics_password"]), "host": "127.0.0.1",
        "port": "3306"}}

    # No volume holds a password its container does not use: root's is in the server's init
    # file alone, and no other volume holds the init file.
    def holding(password):
        return sorted(f"{volume}/{name}" for volume, files in (("server", server), ("sidecar", sidecar),
                                                                ("metrics", metrics))
                      for name, text in files.items() if password in text or quoted(password)[1:-1] in text
                      or sql_literal(password) in text)
    assert holding(ACCOUNT_PASSWORDS["root_password"]) == ["server/bootstrap.sql"]
    assert holding(ACCOUNT_PASSWORDS["metrics_password"]) == ["metrics/exporter.cnf", "server/bootstrap.sql"]
    assert holding(ACCOUNT_PASSWORDS["admin_password"]) == ["server/bootstrap.sql", "sidecar/client.cnf"]
    assert holding(ACCOUNT_PASSWORDS["backup_password"]) == (["server/bootstrap.sql"] if engine.backup_grants else [])
    assert holding(ACCOUNT_PASSWORDS["clone_password"]) == [
        "server/bootstrap.sql", *(["sidecar/backup-tool.cnf"] if engine.serves_backup_streams else [])]
    assert "bootstrap.sql" not in sidecar and "bootstrap.sql" not in metrics
    for volume in ("server-auth", "sidecar-auth", "metrics-auth"):
        for path in pod.volumes[volume].iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path
            assert not path.name.endswith(".tmp"), path
    # Each container reads its own volume, at the same path.
    for container_name, volume in (("mysql", "server-auth"), ("replication", "sidecar-auth"),
                                   ("metrics", "metrics-auth")):
        assert pod.path_in(container_name, "/etc/mysql-ha/auth") == pod.volumes[volume]


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
