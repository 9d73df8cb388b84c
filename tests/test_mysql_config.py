"""MySQLConfig: role configuration, pod scripts, engine environment and the Secret."""

from __future__ import annotations

import pytest
from synth_helpers import SIDECARS, by_kind, existing_secret, new_chart, synth

import mysql_ha


def config_manifests(engine=mysql_ha.MYSQL_8_4, credentials=None, **props):
    chart = new_chart()
    config = mysql_ha.MySQLConfig(chart, "Config", engine=engine, credentials=credentials or existing_secret(), **props)
    return config, synth(chart)


def cnf_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_snapshot(yaml_snapshot):
    _, manifests = config_manifests()
    assert manifests == yaml_snapshot


def test_creates_three_config_maps_and_no_secret_for_an_existing_secret():
    config, manifests = config_manifests()
    assert [(m["kind"], m["metadata"]["name"]) for m in manifests] == [
        ("ConfigMap", "mysql"),
        ("ConfigMap", "mysql-scripts"),
        ("ConfigMap", "mysql-env"),
    ]
    assert all(m["metadata"]["namespace"] == "mysql" for m in manifests)
    assert config.secret is None


def test_primary_and_replica_configuration():
    _, manifests = config_manifests()
    data = by_kind(manifests, "ConfigMap", "mysql")["data"]
    assert sorted(data) == ["primary.cnf", "replica.cnf"]
    assert cnf_lines(data["primary.cnf"]) == [
        "[mysqld]",
        "log-bin=mysql-bin",
        "relay-log=mysql-relay-bin",
        "sync_binlog=1",
        "innodb_flush_log_at_trx_commit=1",
        "gtid_mode=ON",
        "enforce_gtid_consistency=ON",
        "plugin-load-add=mysql_clone.so;semisync_source.so;semisync_replica.so",
    ]
    assert cnf_lines(data["replica.cnf"]) == [
        "[mysqld]",
        "log-bin=mysql-bin",
        "relay-log=mysql-relay-bin",
        "sync_binlog=1",
        "innodb_flush_log_at_trx_commit=1",
        "gtid_mode=ON",
        "enforce_gtid_consistency=ON",
        "plugin-load-add=mysql_clone.so;semisync_source.so;semisync_replica.so",
        "super-read-only=1",
        "relay_log_recovery=ON",
    ]


def test_extra_settings_land_in_the_right_files():
    _, manifests = config_manifests(
        server_settings={"max_connections": 500, "character-set-server": "utf8mb4"},
        primary_settings={"binlog_expire_logs_seconds": "604800"},
        replica_settings={"replica_parallel_workers": 4},
    )
    data = by_kind(manifests, "ConfigMap", "mysql")["data"]
    primary, replica = cnf_lines(data["primary.cnf"]), cnf_lines(data["replica.cnf"])
    for lines in (primary, replica):
        assert "max_connections=500" in lines
        assert "character-set-server=utf8mb4" in lines
    assert "binlog_expire_logs_seconds=604800" in primary
    assert "binlog_expire_logs_seconds=604800" not in replica
    assert "replica_parallel_workers=4" in replica
    assert "replica_parallel_workers=4" not in primary


def test_scripts_config_map_holds_the_sidecar_scripts():
    _, manifests = config_manifests()
    data = by_kind(manifests, "ConfigMap", "mysql-scripts")["data"]
    assert data == {path.name: path.read_text() for path in sorted(SIDECARS.glob("*.sh"))}


def test_environment_config_map_is_the_engine_table_plus_the_accounts(engine):
    _, manifests = config_manifests(engine=engine)
    data = by_kind(manifests, "ConfigMap", "mysql-env")["data"]
    clone_user = "clone" if engine.clone_method == "clone-plugin" else ""
    assert data == {**engine.script_environment(), "MYSQL_HA_REPLICATION_USER": "repl",
                    "MYSQL_HA_CLONE_USER": clone_user}


def test_derived_names_follow_the_name_prop():
    config, manifests = config_manifests(name="orders-db")
    assert [m["metadata"]["name"] for m in manifests] == ["orders-db", "orders-db-scripts", "orders-db-env"]
    assert config.name == "orders-db"


def test_from_passwords_creates_an_opaque_secret():
    credentials = mysql_ha.MySQLCredentials.from_passwords(
        root_password="unit-test-root-pw", replication_password="unit-test-repl-pw",
        clone_password="unit-test-clone-pw", secret_name="db-passwords",
    )
    config, manifests = config_manifests(credentials=credentials)
    secret = by_kind(manifests, "Secret", "db-passwords")
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == {
        "root-password": "unit-test-root-pw",
        "replication-password": "unit-test-repl-pw",
        "clone-password": "unit-test-clone-pw",
    }
    assert "data" not in secret
    assert config.secret is not None


def test_backup_stream_engines_need_no_clone_password():
    credentials = mysql_ha.MySQLCredentials.from_passwords(
        root_password="unit-test-root-pw", replication_password="unit-test-repl-pw"
    )
    for engine in (mysql_ha.MYSQL_5_7, mysql_ha.MARIADB_11_4):
        _, manifests = config_manifests(engine=engine, credentials=credentials)
        assert sorted(by_kind(manifests, "Secret", "mysql-credentials")["stringData"]) == [
            "replication-password", "root-password",
        ]
        assert by_kind(manifests, "ConfigMap", "mysql-env")["data"]["MYSQL_HA_CLONE_USER"] == ""


def test_a_custom_clone_user_reaches_the_scripts():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("db", clone_user="seeder")
    _, manifests = config_manifests(credentials=credentials)
    assert by_kind(manifests, "ConfigMap", "mysql-env")["data"]["MYSQL_HA_CLONE_USER"] == "seeder"


def test_user_plugins_load_beside_the_clone_plugin():
    _, manifests = config_manifests(server_settings={"plugin-load-add": "validate_password.so"})
    for file in ("primary.cnf", "replica.cnf"):
        lines = cnf_lines(by_kind(manifests, "ConfigMap", "mysql")["data"][file])
        assert "plugin-load-add=mysql_clone.so;semisync_source.so;semisync_replica.so" in lines
        assert "plugin-load-add=validate_password.so" in lines


@pytest.mark.parametrize("setting", ["rpl_semi_sync_source_enabled", "rpl_semi_sync_master_timeout",
                                     "rpl-semi-sync-source-wait-for-replica-count"])
def test_semi_sync_settings_belong_to_replicated_mysql(setting):
    with pytest.raises(ValueError, match="ReplicatedMySQL"):
        config_manifests(server_settings={setting: "1"})


def test_name_of_the_longest_length_is_accepted():
    name = "a" * (253 - len("-scripts"))
    _, manifests = config_manifests(name=name)
    assert max(len(m["metadata"]["name"]) for m in manifests) == 253
