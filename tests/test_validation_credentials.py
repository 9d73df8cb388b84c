"""Invalid credentials fail early with one ValueError (or, for a missing keyword, a TypeError)
that names the prop and what is allowed, and never echoes a password."""

from __future__ import annotations

import re
import secrets

import pytest
from synth_helpers import existing_secret
from validation_helpers import (ALL_REQUIRED, GOOD_ADMIN, GOOD_CLONE, GOOD_PASSWORDS, GOOD_REPLICATION, GOOD_ROOT,
                                GOOD_STATUS, assert_one_clear_error, backup_of, config_with, constructed, passwords,
                                too_long_replication_password, without)

import mysql_ha

CREDENTIALS_INVALID = [
    pytest.param(
        lambda: config_with(credentials="mysql-credentials"),
        r"credentials must be MySQLCredentials\.from_existing_secret\(\.\.\.\) or .*got 'mysql-credentials'",
        id="credentials-secret-name-instead-of-credentials",
    ),
    pytest.param(
        lambda: passwords(root_password=""),
        r"root_password must be a non-empty string \(at least 8 printable characters\)",
        id="password-empty",
    ),
    pytest.param(
        lambda: passwords(replication_password="short"),
        r"replication_password must be 8-256 characters long, got 5 characters",
        id="password-too-short",
    ),
    pytest.param(
        lambda: passwords(root_password="x" * 257),
        r"root_password must be 8-256 characters long, got 257 characters",
        id="password-too-long",
    ),
    pytest.param(
        lambda: passwords(root_password="with space inside"),
        r"root_password must be printable characters without white space or line breaks",
        id="password-with-white-space",
    ),
    pytest.param(
        lambda: passwords(replication_password=GOOD_ROOT),
        r"replication_password must differ from root_password: root never replicates",
        id="password-same-for-root-and-replication",
    ),
    pytest.param(
        lambda: passwords(replication_user="root"),
        r"replication_user must not be 'root': each task has its own least-privilege account",
        id="replication-user-root",
    ),
    pytest.param(
        lambda: passwords(clone_user="root"),
        r"clone_user must not be 'root': each task has its own least-privilege account",
        id="clone-user-root",
    ),
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", clone_user="clone-user"),
        r"clone_user must be 1-32 letters, digits or '_', got 'clone-user'",
        id="clone-user-with-dash",
    ),
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret(
            "mysql-credentials", replication_user="repl", clone_user="repl"
        ),
        r"replication_user and clone_user must differ \(each has its own privileges\), both are 'repl'",
        id="clone-user-same-as-replication-user",
    ),
    pytest.param(
        lambda: passwords(clone_password=GOOD_ROOT),
        r"root_password, replication_password, admin_password, status_password, clone_password must all differ: "
        r"each account has its own password",
        id="clone-password-same-as-root",
    ),
    pytest.param(
        lambda: passwords(clone_password=GOOD_REPLICATION, metrics_password="metrics-pw-1"),
        r"root_password, replication_password, admin_password, status_password, clone_password, metrics_password "
        r"must all differ",
        id="clone-password-same-as-replication",
    ),
    pytest.param(
        lambda: passwords(clone_password="short"),
        r"clone_password must be 8-256 characters long, got 5 characters",
        id="clone-password-too-short",
    ),
    # --- the accounts of least privilege: every one has its own password and key
    *[
        pytest.param(
            lambda name=name: passwords(**{name: None}),
            rf"{name} must be a non-empty string \(at least 8 printable characters\)",
            id=f"{name.replace('_', '-')}-none",
        )
        for name in ("admin_password", "status_password", "clone_password")
    ],
    pytest.param(
        lambda: passwords(status_password=GOOD_ADMIN),
        r"root_password, replication_password, admin_password, status_password, clone_password must all differ",
        id="status-password-same-as-admin",
    ),
    pytest.param(
        lambda: passwords(admin_password=GOOD_ROOT),
        r"must all differ: each account has its own password",
        id="admin-password-same-as-root",
    ),
    pytest.param(
        lambda: passwords(backup_password=GOOD_STATUS),
        r"root_password, replication_password, admin_password, status_password, clone_password, backup_password "
        r"must all differ",
        id="backup-password-same-as-status",
    ),
    pytest.param(
        lambda: passwords(metrics_password="metrics-pw-1", backup_password="metrics-pw-1"),
        r"metrics_password, backup_password must all differ",
        id="backup-password-same-as-metrics",
    ),
    pytest.param(
        lambda: passwords(backup_password="short"),
        r"backup_password must be 8-256 characters long, got 5 characters",
        id="backup-password-too-short",
    ),
    pytest.param(
        lambda: constructed(clone_password=GOOD_CLONE),
        rf"{ALL_REQUIRED} must be given together \(from_passwords\), got only clone_password",
        id="only-clone-password",
    ),
    pytest.param(
        lambda: constructed(**without("admin_password")),
        rf"{ALL_REQUIRED} must be given together \(from_passwords\), got only root_password, status_password, "
        r"replication_password, clone_password$",
        id="constructor-without-admin-password",
    ),
    pytest.param(
        lambda: constructed(**without("status_password")),
        r"must be given together \(from_passwords\), got only root_password, admin_password, replication_password, "
        r"clone_password$",
        id="constructor-without-status-password",
    ),
    pytest.param(
        lambda: constructed(metrics_password="metrics-pw-1"),
        rf"metrics_password, backup_password go with {ALL_REQUIRED} \(from_passwords\)",
        id="only-metrics-password",
    ),
    pytest.param(
        lambda: constructed(backup_password="backup-pw-1"),
        rf"metrics_password, backup_password go with {ALL_REQUIRED} \(from_passwords\)",
        id="only-backup-password",
    ),
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret(
            "mysql-credentials", clone_password_key="replication-password"
        ),
        r"root_password_key, admin_password_key, status_password_key, replication_password_key, clone_password_key, "
        r"metrics_password_key, backup_password_key must differ \(each account has its own password\)",
        id="clone-password-key-same-as-replication-key",
    ),
    *[
        pytest.param(
            lambda keys=keys: mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", **keys),
            r"_password_key must differ \(each account has its own password\), got \(.*'" + re.escape(key) + "'.*'"
            + re.escape(key) + "'",
            id=f"secret-key-{'-and-'.join(keys)}-equal".replace("_", "-"),
        )
        for keys, key in [
            ({"status_password_key": "admin-password"}, "admin-password"),
            ({"admin_password_key": "root-password"}, "root-password"),
            ({"backup_password_key": "metrics-password"}, "metrics-password"),
            ({"status_password_key": "s", "backup_password_key": "s"}, "s"),
        ]
    ],
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", admin_password_key="admin pw"),
        r"admin_password_key must be a Secret key \(letters, digits, '-', '_' or '.'\), got 'admin pw'",
        id="admin-password-key-invalid",
    ),
    *[
        pytest.param(
            lambda name=name: backup_of(name, passwords()),
            rf"MySQLBackup of engine {re.escape(name)} copies the server as its own account: pass backup_password to "
            r"MySQLCredentials\.from_passwords\(\.\.\.\), got none",
            id=f"backup-without-backup-password-{name}",
        )
        for name in ("mysql-8.4", "mysql-9.7")
    ],
    *[too_long_replication_password(name) for name in mysql_ha.ENGINES],
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", replication_user="ROOT"),
        r"replication_user must not be 'root'",
        id="replication-user-root-upper-case",
    ),
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", replication_user="repl user"),
        r"replication_user must be 1-32 letters, digits or '_', got 'repl user'",
        id="replication-user-with-space",
    ),
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret(
            "mysql-credentials", root_password_key="pw", replication_password_key="pw"
        ),
        r"root_password_key.* replication_password_key.* must differ.*got \('pw', .*, 'pw',",
        id="secret-keys-equal",
    ),
    pytest.param(
        lambda: constructed(root_password=GOOD_ROOT),
        rf"{ALL_REQUIRED} must be given together \(from_passwords\), got only root_password$",
        id="only-root-password",
    ),
    pytest.param(
        lambda: constructed(replication_password=GOOD_REPLICATION),
        rf"{ALL_REQUIRED} must be given together \(from_passwords\), got only replication_password$",
        id="only-replication-password",
    ),
    pytest.param(
        lambda: constructed(**{**GOOD_PASSWORDS, "root_password": "", "replication_password": ""}),
        r"root_password must be a non-empty string",
        id="constructor-empty-passwords",
    ),
    pytest.param(
        lambda: constructed(**{**GOOD_PASSWORDS, "replication_password": GOOD_ROOT}),
        r"replication_password must differ from root_password",
        id="constructor-same-passwords",
    ),
    pytest.param(
        lambda: constructed(**{**GOOD_PASSWORDS, "status_password": GOOD_CLONE}),
        r"must all differ: each account has its own password",
        id="constructor-same-status-and-clone-passwords",
    ),
]


@pytest.mark.parametrize("build, message", CREDENTIALS_INVALID)
def test_invalid_credentials_raise_one_clear_value_error(build, message):
    assert_one_clear_error(build, message)


def test_rejected_password_is_not_echoed():
    bad = "tiny" + secrets.token_hex(1)
    with pytest.raises(ValueError) as raised:
        passwords(root_password=bad)
    assert bad not in str(raised.value)


@pytest.mark.parametrize("name", ["admin_password", "status_password", "clone_password"])
def test_from_passwords_requires_every_account_s_password(name):
    """No engine goes without the administration, status or clone account: leaving one out is
    a TypeError that names it, before anything is built."""
    with pytest.raises(TypeError, match=rf"missing 1 required keyword-only argument: '{name}'"):
        mysql_ha.MySQLCredentials.from_passwords(**without(name))


def test_clone_password_is_required_for_backup_stream_engines_too():
    """MySQL 5.7 and MariaDB clone through the donor's backup tool, which logs in as the clone
    account over the socket: its password is as required as with the CLONE plugin."""
    with pytest.raises(TypeError, match="clone_password"):
        mysql_ha.MySQLCredentials.from_passwords(**without("clone_password"))
    for name in ("mysql-5.7", "mariadb-11.4"):
        config_with(engine=mysql_ha.ENGINES[name], credentials=passwords())


@pytest.mark.parametrize("engine_name", ["mysql-8.4", "mysql-9.7", "mariadb-11.4"])
def test_backup_password_is_needed_only_where_the_job_logs_in_to_copy(engine_name):
    """MySQL's backup Job copies a server with CLONE INSTANCE as the backup account; MariaDB's
    reads the pod's backup stream (served by the clone account) and needs none. A Secret made
    elsewhere is not checked at synth time (init-mysql and the Job read what is there)."""
    engine = mysql_ha.ENGINES[engine_name]
    assert bool(engine.backup_grants) == (engine_name != "mariadb-11.4")
    if engine.backup_grants:
        with pytest.raises(ValueError, match="backup_password"):
            backup_of(engine_name, passwords())
    else:
        backup_of(engine_name, passwords())
    backup_of(engine_name, passwords(backup_password=secrets.token_urlsafe(16)))
    backup_of(engine_name, existing_secret())
