"""MySQLCredentials: a reference to an existing Secret, or a Secret built from passwords."""

from __future__ import annotations

import copy
import dataclasses
import secrets

import pytest
from synth_helpers import by_kind, config_map, new_chart, synth, unit_passwords

import mysql_ha


def random_password() -> str:
    return secrets.token_urlsafe(18)


def secret_manifests(credentials):
    chart = new_chart()
    mysql_ha.MySQLConfig(chart, "Config", credentials=credentials)
    return synth(chart)


def test_snapshot(yaml_snapshot):
    passwords = unit_passwords()
    manifests = secret_manifests(mysql_ha.MySQLCredentials.from_passwords(**passwords))
    secret = copy.deepcopy(by_kind(manifests, "Secret", "mysql-credentials"))
    assert secret["stringData"] == {
        "root-password": passwords["root_password"], "admin-password": passwords["admin_password"],
        "status-password": passwords["status_password"], "replication-password": passwords["replication_password"],
        "clone-password": passwords["clone_password"],
    }
    # The snapshot holds the Secret's shape, not the (random) passwords.
    secret["stringData"] = {key: f"<{key}>" for key in secret["stringData"]}
    assert [secret] == yaml_snapshot


def test_from_existing_secret_defaults():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials")
    assert credentials.secret_name == "mysql-credentials"
    assert credentials.root_password_key == "root-password"
    assert credentials.replication_password_key == "replication-password"
    assert credentials.clone_password_key == "clone-password"
    assert credentials.admin_password_key == "admin-password"
    assert credentials.status_password_key == "status-password"
    assert credentials.metrics_password_key == "metrics-password"
    assert credentials.backup_password_key == "backup-password"
    assert credentials.replication_user == "repl"
    assert credentials.clone_user == "clone"
    for password in ("root", "admin", "status", "replication", "clone", "metrics", "backup"):
        assert getattr(credentials, f"{password}_password") is None, password
    assert credentials.creates_secret is False
    assert by_kind(secret_manifests(credentials), "Secret") == []


def test_from_passwords_defaults():
    credentials = mysql_ha.MySQLCredentials.from_passwords(**unit_passwords())
    assert credentials.secret_name == "mysql-credentials"
    assert credentials.replication_user == "repl"
    assert credentials.clone_user == "clone"
    assert credentials.metrics_password is None  # needed with metrics only
    assert credentials.backup_password is None  # needed by a MySQLBackup of MySQL 8.4/9.7 only
    assert credentials.creates_secret is True


def test_the_set_s_own_accounts_have_fixed_names():
    assert (mysql_ha.credentials.ADMIN_USER, mysql_ha.credentials.STATUS_USER, mysql_ha.credentials.BACKUP_USER) == (
        "mysqlha_admin", "mysqlha_status", "mysqlha_backup")


def test_every_password_lands_under_its_own_key():
    passwords = unit_passwords("metrics_password", "backup_password")
    credentials = mysql_ha.MySQLCredentials.from_passwords(**passwords)
    secret = by_kind(secret_manifests(credentials), "Secret", "mysql-credentials")
    assert secret["stringData"] == {
        "root-password": passwords["root_password"], "admin-password": passwords["admin_password"],
        "status-password": passwords["status_password"], "replication-password": passwords["replication_password"],
        "clone-password": passwords["clone_password"], "metrics-password": passwords["metrics_password"],
        "backup-password": passwords["backup_password"],
    }


def test_replication_user_reaches_the_scripts():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", replication_user="replicator")
    env = config_map(secret_manifests(credentials), "mysql-env")["data"]
    assert env["MYSQL_HA_REPLICATION_USER"] == "replicator"


def test_custom_keys_land_in_the_secret():
    root, replication, clone = random_password(), random_password(), random_password()
    admin, status, backup = random_password(), random_password(), random_password()
    credentials = mysql_ha.MySQLCredentials(
        secret_name="db-passwords",
        root_password_key="root.pw",
        replication_password_key="repl.pw",
        clone_password_key="clone.pw",
        admin_password_key="admin.pw",
        status_password_key="status.pw",
        backup_password_key="backup.pw",
        root_password=root,
        replication_password=replication,
        clone_password=clone,
        admin_password=admin,
        status_password=status,
        backup_password=backup,
    )
    secret = by_kind(secret_manifests(credentials), "Secret", "db-passwords")
    assert secret["stringData"] == {"root.pw": root, "repl.pw": replication, "clone.pw": clone,
                                    "admin.pw": admin, "status.pw": status, "backup.pw": backup}


def test_passwords_stay_out_of_repr_and_str():
    passwords = unit_passwords("metrics_password", "backup_password")
    credentials = mysql_ha.MySQLCredentials.from_passwords(**passwords)
    for text in (repr(credentials), str(credentials)):
        for name, password in passwords.items():
            assert password not in text, name


def test_credentials_are_immutable():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials")
    with pytest.raises(dataclasses.FrozenInstanceError):
        credentials.replication_user = "root"  # type: ignore[misc]
