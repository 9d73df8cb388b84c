"""Invalid configurations fail early with one ValueError that names the prop, the bad
value and what is allowed."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import subprocess
import sys

import pytest
import yaml
from synth_helpers import REPO, add_stack, existing_secret, new_app, new_chart

import mysql_ha

# Random, valid passwords: a test about one bad password keeps the other one good.
GOOD_ROOT = secrets.token_urlsafe(16)
GOOD_REPLICATION = secrets.token_urlsafe(16)
GOOD_CLONE = secrets.token_urlsafe(16)
GOOD_ADMIN = secrets.token_urlsafe(16)
GOOD_STATUS = secrets.token_urlsafe(16)
GOOD_PASSWORDS = {"root_password": GOOD_ROOT, "admin_password": GOOD_ADMIN, "status_password": GOOD_STATUS,
                  "replication_password": GOOD_REPLICATION, "clone_password": GOOD_CLONE}
ALL_REQUIRED = "root_password, admin_password, status_password, replication_password, clone_password"


def chart_with(**props):
    return mysql_ha.MySQLHAChart(new_app(), "mysql-ha", credentials=existing_secret(), **props)


def storage_with(**props):
    return mysql_ha.LocalStorage(new_chart(), "Storage", **props)


def stack_with(**props):
    return add_stack(new_chart(), **props)


def config_with(**props):
    return mysql_ha.MySQLConfig(new_chart(), "Config", **{"credentials": existing_secret(), **props})


def passwords(**props):
    return mysql_ha.MySQLCredentials.from_passwords(**{**GOOD_PASSWORDS, **props})


def constructed(**props):
    """The public constructor (not from_passwords), with ``props`` alone."""
    return mysql_ha.MySQLCredentials(secret_name="mysql-credentials", **props)


def without(*names):
    return {name: value for name, value in GOOD_PASSWORDS.items() if name not in names}


def backup_of(engine_name, credentials):
    return mysql_ha.MySQLHAChart(new_app(), "mysql-ha", engine=mysql_ha.ENGINES[engine_name], credentials=credentials,
                                 backup_target=mysql_ha.BackupTarget.volume_claim("mysql-backups"))


def too_long_replication_password(engine_name):
    return pytest.param(
        lambda: config_with(engine=mysql_ha.ENGINES[engine_name], credentials=passwords(replication_password="r" * 33)),
        rf"replication_password must be at most 32 characters for engine {re.escape(engine_name)} "
        r"\(its change-source statement refuses longer ones\), got 33",
        id=f"replication-password-33-characters-{engine_name}",
    )


def owned_by_the_engine(engine_name, prop, key):
    return pytest.param(
        lambda: config_with(engine=mysql_ha.ENGINES[engine_name], **{prop: {key: "OFF"}}),
        rf"{prop} must not set '{key}': ",
        id=f"{prop}-{key}-{engine_name}",
    )


INVALID = [
    # --- engines
    pytest.param(
        lambda: dataclasses.replace(mysql_ha.MARIADB_11_4, transport="nc"),
        r"transport must be one of ncat, socat, got 'nc'",
        id="engine-unknown-transport",
    ),
    pytest.param(
        lambda: storage_with(paths=["/mnt/a", "/mnt/a/"]),
        r"paths must not name a directory twice, got '/mnt/a' twice",
        id="paths-same-directory-spelled-twice",
    ),
    # --- replicas and sizes
    pytest.param(
        lambda: chart_with(replicas=0),
        r"replicas must be an integer between 1 and 3 \(one local PersistentVolume per replica, 3 defined\), got 0",
        id="replicas-zero",
    ),
    pytest.param(
        lambda: chart_with(replicas=4),
        r"replicas must be an integer between 1 and 3 \(one local PersistentVolume per replica, 3 defined\), got 4",
        id="replicas-more-than-local-volumes",
    ),
    pytest.param(
        lambda: stack_with(storage={"paths": ["/mnt/a"]}, replicas=2),
        r"replicas must be an integer between 1 and 1 .*got 2",
        id="replicas-more-than-custom-paths",
    ),
    pytest.param(
        lambda: chart_with(storage_class_name="standard", replicas=101),
        r"replicas must be an integer between 1 and 100, got 101",
        id="replicas-dynamic-too-many",
    ),
    pytest.param(
        lambda: chart_with(replicas="2"),
        r"replicas must be an integer between 1 and 3 .*got '2'",
        id="replicas-string",
    ),
    pytest.param(
        lambda: stack_with(storage_request="20Gi"),
        r"storage_request must fit in one local PersistentVolume of 15Gi, got '20Gi'",
        id="storage-request-larger-than-pv",
    ),
    pytest.param(
        lambda: stack_with(storage={"capacity": "10G"}, storage_request="10Gi"),
        r"storage_request must fit in one local PersistentVolume of 10G, got '10Gi'",
        id="storage-request-binary-larger-than-decimal-pv",
    ),
    # --- names
    pytest.param(
        lambda: mysql_ha.ReadWriteServices(new_chart(), "Services", name="MySQL_Primary"),
        r"name must be a DNS-1123 label \(lower-case letters, digits and '-'.*\), got 'MySQL_Primary'",
        id="service-name-not-dns-1123",
    ),
    pytest.param(
        lambda: mysql_ha.ReadWriteServices(new_chart(), "Services", name="m" * 53),
        r"name must be at most 52 characters .*got 'm{53}'",
        id="service-name-too-long-for-pods",
    ),
    pytest.param(
        lambda: mysql_ha.ReadWriteServices(new_chart(), "Services", read_name="mysql"),
        r"name, read_name and primary_name must differ, got \['mysql', 'mysql', 'mysql-primary'\]",
        id="service-names-collide",
    ),
    pytest.param(
        lambda: chart_with(namespace="My Namespace"),
        r"namespace must be a DNS-1123 label .*got 'My Namespace'",
        id="namespace-not-dns-1123",
    ),
    pytest.param(
        lambda: chart_with(namespace="db.prod"),
        r"namespace must be a DNS-1123 label .*got 'db.prod'",
        id="namespace-with-dot",
    ),
    pytest.param(
        lambda: storage_with(storage_class_name="Local_Storage"),
        r"storage_class_name must be a DNS-1123 subdomain \(lower-case letters, digits, '-' and '.'.*got 'Local_Storage'",
        id="storage-class-not-dns-1123",
    ),
    pytest.param(
        lambda: chart_with(storage_class_name="-fast"),
        r"storage_class_name must be a DNS-1123 subdomain .*got '-fast'",
        id="chart-storage-class-not-dns-1123",
    ),
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret("mysql credentials"),
        r"secret_name must be a DNS-1123 subdomain .*got 'mysql credentials'",
        id="secret-name-not-dns-1123",
    ),
    pytest.param(
        lambda: mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", root_password_key="root/pw"),
        r"root_password_key must be a Secret key \(letters, digits, '-', '_' or '.'\), got 'root/pw'",
        id="secret-key-invalid",
    ),
    pytest.param(
        lambda: storage_with(pv_name_prefix="PV"),
        r"pv_name_prefix must be a DNS-1123 subdomain .*got 'PV'",
        id="pv-name-prefix-not-dns-1123",
    ),
    # --- local volumes
    pytest.param(
        lambda: storage_with(nodes=[]),
        r"nodes must name at least one node name, got an empty list",
        id="nodes-empty",
    ),
    pytest.param(
        lambda: storage_with(nodes=["node1", "node2", "node1"]),
        r"nodes must not repeat a node name, got 'node1' twice",
        id="nodes-duplicate",
    ),
    pytest.param(
        lambda: storage_with(nodes="node1"),
        r"nodes must be a list of node name, got 'node1'",
        id="nodes-string-not-list",
    ),
    pytest.param(
        lambda: storage_with(paths=["/data/a", "/data/b", "/data/a"]),
        r"paths must not repeat a directory, got '/data/a' twice",
        id="paths-duplicate",
    ),
    pytest.param(
        lambda: storage_with(paths=["/data/a", "data/b"]),
        r"paths must be absolute directories below /, got 'data/b'",
        id="paths-relative",
    ),
    pytest.param(
        lambda: storage_with(paths=["/data/../etc"]),
        r"paths must be absolute directories below /, got '/data/../etc'",
        id="paths-dot-dot",
    ),
    pytest.param(
        lambda: storage_with(paths=[]),
        r"paths must name at least one directory, got an empty list",
        id="paths-empty",
    ),
    pytest.param(
        lambda: storage_with(reclaim_policy="Recycle"),
        r"reclaim_policy must be one of Retain, Delete, got 'Recycle'",
        id="reclaim-policy-unknown",
    ),
    pytest.param(
        lambda: storage_with(dynamic=True, paths=["/data/a"]),
        r"LocalStorage\(dynamic=True\) uses the existing StorageClass 'local-storage' .*leave out paths",
        id="dynamic-storage-with-paths",
    ),
    pytest.param(
        lambda: storage_with(dynamic=True, nodes=["node1"], capacity="1Gi"),
        r"leave out nodes, capacity",
        id="dynamic-storage-with-nodes-and-capacity",
    ),
    # --- quantities
    pytest.param(
        lambda: storage_with(capacity="15GB"),
        r"capacity must be a Kubernetes quantity such as '3Gi'.*got '15GB'",
        id="capacity-malformed",
    ),
    pytest.param(
        lambda: storage_with(capacity="0Gi"),
        r"capacity must be greater than zero, got '0Gi'",
        id="capacity-zero",
    ),
    pytest.param(
        lambda: stack_with(cpu_request="abc"),
        r"cpu_request must be a Kubernetes quantity .*got 'abc'",
        id="cpu-request-malformed",
    ),
    pytest.param(
        lambda: stack_with(memory_request="1 Gi"),
        r"memory_request must be a Kubernetes quantity .*got '1 Gi'",
        id="memory-request-malformed",
    ),
    pytest.param(
        lambda: stack_with(storage_request=3),
        r"storage_request must be a Kubernetes quantity .*got 3",
        id="storage-request-not-a-string",
    ),
    # --- other ReplicatedMySQL props
    pytest.param(
        lambda: stack_with(server_id_base=0),
        r"server_id_base must be an integer between 1 and 4294967195 \(server-id is 1 to 2\^32-1\), got 0",
        id="server-id-base-zero",
    ),
    pytest.param(
        lambda: stack_with(startup_timeout_seconds=5),
        r"startup_timeout_seconds must be an integer between 10 and 86400, got 5",
        id="startup-timeout-too-short",
    ),
    pytest.param(
        lambda: stack_with(liveness_initial_delay_seconds=-1),
        r"liveness_initial_delay_seconds must be an integer between 0 and 3600, got -1",
        id="liveness-delay-negative",
    ),
    pytest.param(
        lambda: stack_with(server_image="mysql 8.4"),
        r"server_image must be an image reference such as 'mysql:8.4', got 'mysql 8.4'",
        id="server-image-with-space",
    ),
    pytest.param(
        lambda: mysql_ha.ReplicatedMySQL(
            new_chart(), "MySQL", config="mysql",
            storage=mysql_ha.LocalStorage(new_chart(), "S"), services=mysql_ha.ReadWriteServices(new_chart(), "V"),
        ),
        r"config must be a MySQLConfig construct, got 'mysql'",
        id="config-wrong-type",
    ),
    pytest.param(
        lambda: mysql_ha.ReplicatedMySQL(
            new_chart(), "MySQL", config=config_with(), storage="local-storage",
            services=mysql_ha.ReadWriteServices(new_chart(), "V"),
        ),
        r"storage must be a LocalStorage construct, got 'local-storage'",
        id="storage-wrong-type",
    ),
    pytest.param(
        lambda: stack_with(metrics="yes"),
        r"metrics must be True or False, got 'yes'",
        id="metrics-not-a-bool",
    ),
    pytest.param(
        lambda: stack_with(credentials=passwords(), metrics=True),
        r"metrics=True needs the exporter's password in the Secret: pass metrics_password .*'metrics-password' key",
        id="metrics-without-metrics-password",
    ),
    # --- engine
    pytest.param(
        lambda: mysql_ha.engine_by_name("postgres-16"),
        r"engine must be one of mariadb-11\.4, mysql-5\.7, mysql-8\.4, mysql-9\.7, got 'postgres-16'",
        id="engine-unknown-name",
    ),
    pytest.param(
        lambda: mysql_ha.engine_by_name("MySQL-8.4"),
        r"engine must be one of .*got 'MySQL-8.4'",
        id="engine-name-wrong-case",
    ),
    pytest.param(
        lambda: config_with(engine="mysql-8.4"),
        r"engine must be an Engine such as MYSQL_8_4, MYSQL_9_7, MYSQL_5_7 or MARIADB_11_4, got 'mysql-8.4'",
        id="engine-name-instead-of-engine",
    ),
    # --- credentials
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
    # --- server settings
    pytest.param(
        lambda: config_with(server_settings={"server-id": "7"}),
        r"server_settings must not set 'server-id': it is derived from the pod ordinal",
        id="server-settings-server-id",
    ),
    pytest.param(
        lambda: config_with(server_settings={"read_only": "ON"}),
        r"server_settings must not set 'read_only': replicas are made read-only by the library",
        id="server-settings-read-only",
    ),
    pytest.param(
        lambda: config_with(primary_settings={"super-read-only": "1"}),
        r"primary_settings must not set 'super-read-only': .*the primary must stay writable",
        id="primary-settings-super-read-only",
    ),
    pytest.param(
        lambda: config_with(replica_settings={"log_bin": "OFF"}),
        r"replica_settings must not set 'log_bin': binary logging",
        id="replica-settings-log-bin",
    ),
    *[
        owned_by_the_engine(name, prop, key)
        for name, keys in {
            "mysql-8.4": ("gtid_mode", "enforce_gtid_consistency", "enforce-gtid-consistency"),
            "mysql-9.7": ("gtid_mode", "enforce_gtid_consistency"),
            "mysql-5.7": ("master_info_repository", "relay_log_info_repository", "relay-log-info-repository"),
            "mariadb-11.4": ("log_slave_updates", "gtid_strict_mode", "log_replica_updates"),
        }.items()
        for key in keys
        for prop in ("server_settings", "replica_settings")
    ],
    pytest.param(
        lambda: config_with(engine=mysql_ha.MYSQL_5_7, primary_settings={"master_info_repository": "FILE"}),
        r"primary_settings must not set 'master_info_repository': crash-safe replication keeps its positions in tables",
        id="primary-settings-master-info-repository",
    ),
    pytest.param(
        lambda: config_with(name="a" * 246),
        r"name must be at most 245 characters \(ConfigMap '\{name\}-scripts' is derived from it\), got 246",
        id="config-name-too-long-for-derived-names",
    ),
    pytest.param(
        lambda: config_with(server_settings={"Max Connections": 5}),
        r"server_settings: setting names are lower-case letters, digits, '_' and '-', got 'Max Connections'",
        id="server-settings-bad-name",
    ),
    pytest.param(
        lambda: config_with(server_settings={"init_connect": "SET NAMES utf8mb4\n[client]"}),
        r"server_settings\['init_connect'\] must be a non-empty string or integer on one line, got 'SET NAMES",
        id="server-settings-multi-line-value",
    ),
    pytest.param(
        lambda: config_with(server_settings={"max_connections": True}),
        r"server_settings\['max_connections'\] must be a non-empty string or integer on one line, got True",
        id="server-settings-bool-value",
    ),
    pytest.param(
        lambda: config_with(server_settings=[("max_connections", "5")]),
        r"server_settings must be a mapping of setting name to value, got \[",
        id="server-settings-not-a-mapping",
    ),
    pytest.param(
        lambda: config_with(name="MySQL"),
        r"name must be a DNS-1123 subdomain .*got 'MySQL'",
        id="config-name-not-dns-1123",
    ),
]


@pytest.mark.parametrize("build, message", INVALID)
def test_invalid_configuration_raises_one_clear_value_error(build, message):
    with pytest.raises(ValueError, match=message) as raised:
        build()
    # Passwords are never echoed back in an error message.
    for name, password in GOOD_PASSWORDS.items():
        assert password not in str(raised.value), name


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


def test_misspelled_prop_fails():
    # Keyword-only props: a typo must fail rather than be ignored.
    with pytest.raises(TypeError, match="replica"):
        chart_with(replica=3)


# --- main.py ------------------------------------------------------------------------------


MAIN_PASSWORDS = {f"MYSQL_HA_{name.removesuffix('_password').upper()}_PASSWORD": password
                  for name, password in GOOD_PASSWORDS.items()}


def run_main(tmp_path, **environment):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_HA_")}
    env.update(CDK8S_OUTDIR=str(tmp_path), **environment)
    return subprocess.run(
        [sys.executable, "main.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "environment, message",
    [
        pytest.param(
            {"MYSQL_HA_ENGINE": "postgres-16"},
            "mysql-ha: engine must be one of mariadb-11.4, mysql-5.7, mysql-8.4, mysql-9.7, got 'postgres-16'",
            id="bad-engine",
        ),
        pytest.param(
            {"MYSQL_HA_ROOT_PASSWORD": GOOD_ROOT, "MYSQL_HA_REPLICATION_PASSWORD": GOOD_REPLICATION},
            "set all of MYSQL_HA_ROOT_PASSWORD, MYSQL_HA_ADMIN_PASSWORD, MYSQL_HA_STATUS_PASSWORD, "
            "MYSQL_HA_REPLICATION_PASSWORD, MYSQL_HA_CLONE_PASSWORD, or none; missing: MYSQL_HA_ADMIN_PASSWORD, "
            "MYSQL_HA_STATUS_PASSWORD, MYSQL_HA_CLONE_PASSWORD",
            id="without-admin-status-and-clone-passwords",
        ),
        pytest.param(
            {"MYSQL_HA_ENGINE": "mariadb-11.4", **MAIN_PASSWORDS, "MYSQL_HA_REPLICATION_PASSWORD": "r" * 33},
            "replication_password must be at most 32 characters for engine mariadb-11.4",
            id="replication-password-too-long",
        ),
        pytest.param(
            {"MYSQL_HA_ROOT_PASSWORD": GOOD_ROOT},
            "or none; missing: MYSQL_HA_ADMIN_PASSWORD, MYSQL_HA_STATUS_PASSWORD, MYSQL_HA_REPLICATION_PASSWORD, "
            "MYSQL_HA_CLONE_PASSWORD",
            id="only-one-password",
        ),
        pytest.param(
            {**MAIN_PASSWORDS, "MYSQL_HA_STATUS_PASSWORD": GOOD_ADMIN},
            "must all differ: each account has its own password",
            id="same-status-and-admin-passwords",
        ),
    ],
)
def test_main_fails_with_the_message_and_writes_nothing(tmp_path, environment, message):
    result = run_main(tmp_path, **environment)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    for name, password in GOOD_PASSWORDS.items():
        assert password not in result.stderr + result.stdout, name
    assert list(tmp_path.iterdir()) == []


def test_main_builds_the_secret_from_all_five_passwords(tmp_path):
    result = run_main(tmp_path, **MAIN_PASSWORDS)
    assert result.returncode == 0, result.stderr
    secrets_ = [doc for path in tmp_path.glob("*.k8s.yaml") for doc in yaml.safe_load_all(path.read_text())
                if doc and doc["kind"] == "Secret"]
    assert [secret["stringData"] for secret in secrets_] == [{
        "root-password": GOOD_ROOT, "admin-password": GOOD_ADMIN, "status-password": GOOD_STATUS,
        "replication-password": GOOD_REPLICATION, "clone-password": GOOD_CLONE}]

