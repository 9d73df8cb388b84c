"""init-config.sh, run for real in the pod sandbox (``script_sandbox.py``): the accounts the
server's init file sets, and the option files each container receives."""

from __future__ import annotations

import configparser
import functools
import re
from unittest import mock

import pytest
import script_sandbox
from script_sandbox import (
    Pod,
)
from synth_helpers import ENGINE_NAMES
from tls_helpers import TLS_ENGINE_NAMES, tls_chart

import mysql_ha


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
    remote = " REQUIRE X509" if tls else ""
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
    # MariaDB: root obeys read_only (READ_ONLY ADMIN revoked), right after its password.
    revoke = [i for i, line in enumerate(statements) if line.startswith("REVOKE")]
    if pod.engine.sql_root_obeys_read_only:
        assert [statements[i] for i in revoke] == ["REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'localhost';"]
        assert statements[revoke[0] - 1].startswith("ALTER USER 'root'@'localhost'")
    else:
        assert revoke == []
    assert "REQUIRE X509" not in "\n".join(statements)
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

    # The server: its init file, and the probes' option file (the status account, the socket);
    # where network accounts authenticate against the server's cache (TLS off), one option
    # file per network account, over the loopback, with which its probes fill that cache.
    cached = {"status": ("mysqlha_status", "status_password"), "replication": ("repl", "replication_password"),
              "clone": ("clone", "clone_password"), "backup": ("mysqlha_backup", "backup_password")}
    if not engine.fast_auth_cache:
        cached = {}
    assert sorted(server) == sorted(["bootstrap.sql", "client.cnf", *(f"cache-{name}.cnf" for name in cached)])
    assert options_of(server["client.cnf"]) == {"client": {
        "user": "mysqlha_status", "password": quoted(ACCOUNT_PASSWORDS["status_password"]), "socket": socket}}
    for name, (user, password) in cached.items():
        assert options_of(server[f"cache-{name}.cnf"]) == {"client": {
            "user": user, "password": quoted(ACCOUNT_PASSWORDS[password]), "host": "127.0.0.1", "port": "3306"}}
    # The sidecar: its own account over the socket, the status account to the other pods, the
    # replication password for its change-source statement and (backup streams) the clone
    # account for the backup tool that serves its data.
    assert sorted(sidecar) == sorted(["client.cnf", "status.cnf", "replication-password",
                                      *(["backup-tool.cnf"] if engine.serves_backup_streams else [])])
    assert options_of(sidecar["client.cnf"]) == {"client": {
        "user": "mysqlha_admin", "password": quoted(ACCOUNT_PASSWORDS["admin_password"]), "socket": socket}}
    # TLS off: no TLS with a certificate nobody checks (MySQL; tests/test_tls.py).
    assert options_of(sidecar["status.cnf"]) == {"client": {
        "user": "mysqlha_status", "password": quoted(ACCOUNT_PASSWORDS["status_password"]), "port": "3306",
        **engine.client_plain_options}}
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
    assert holding(ACCOUNT_PASSWORDS["backup_password"]) == (
        ["server/bootstrap.sql", *(["server/cache-backup.cnf"] if cached else [])] if engine.backup_grants else [])
    assert holding(ACCOUNT_PASSWORDS["clone_password"]) == [
        "server/bootstrap.sql", *(["server/cache-clone.cnf"] if cached else []),
        *(["sidecar/backup-tool.cnf"] if engine.serves_backup_streams else [])]
    assert "bootstrap.sql" not in sidecar and "bootstrap.sql" not in metrics
    for volume in ("server-auth", "sidecar-auth", "metrics-auth"):
        for path in pod.volumes[volume].iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path
            assert not path.name.endswith(".tmp"), path
    # Each container reads its own volume, at the same path.
    for container_name, volume in (("mysql", "server-auth"), ("replication", "sidecar-auth"),
                                   ("metrics", "metrics-auth")):
        assert pod.path_in(container_name, "/etc/mysql-ha/auth") == pod.volumes[volume]
