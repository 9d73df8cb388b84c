"""Invalid configurations fail early with one ValueError that names the prop, the bad
value and what is allowed: engines, sizes, names, volumes, quantities, the set's props and
server settings. The credentials' cases are in test_validation_credentials.py, main.py's in
test_main_environment.py."""

from __future__ import annotations

import dataclasses

import pytest
from synth_helpers import new_chart
from validation_helpers import (assert_one_clear_error, chart_with, config_with, owned_by_the_engine, passwords,
                                stack_with, storage_with)

import mysql_ha



INVALID = [
    # --- engines
    pytest.param(
        lambda: dataclasses.replace(mysql_ha.MARIADB_11_4, transport="nc"),
        r"transport must be one of ncat, socat, got 'nc'",
        id="engine-unknown-transport",
    ),
    pytest.param(
        lambda: dataclasses.replace(mysql_ha.MARIADB_10_11, upgrade_info_files=""),
        r"upgrade and upgrade_info_files go together \(an upgrade records the version it reached\), "
        r"got upgrade='mariadb-upgrade --upgrade-system-tables', upgrade_info_files=''",
        id="engine-upgrade-without-a-record",
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
        r"engine must be one of mariadb-10\.11, mariadb-11\.4, mysql-5\.7, mysql-8\.4, mysql-9\.7, got 'postgres-16'",
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
    # --- server settings
    pytest.param(
        lambda: config_with(server_settings={"server-id": "7"}),
        r"server_settings must not set 'server-id': it is derived from the pod ordinal",
        id="server-settings-server-id",
    ),
    pytest.param(
        lambda: config_with(server_settings={"read_only": "ON"}),
        r"server_settings must not set 'read_only': every server starts read-only",
        id="server-settings-read-only",
    ),
    pytest.param(
        lambda: config_with(primary_settings={"super-read-only": "1"}),
        r"primary_settings must not set 'super-read-only': .*the replication sidecar makes the declared primary writable",
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
        lambda: config_with(name="a" * 235),
        r"name must be at most 234 characters \(ConfigMap '\{name\}-scripts-<hash>' is derived from it\), got 235",
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
    assert_one_clear_error(build, message)


def test_misspelled_prop_fails():
    # Keyword-only props: a typo must fail rather than be ignored.
    with pytest.raises(TypeError, match="replica"):
        chart_with(replica=3)
