"""The engine table: SQL dialect, tool names and images per database engine."""

from __future__ import annotations

import dataclasses
import re

import pytest
from synth_helpers import ENGINE_NAMES, by_kind, existing_secret, new_chart, synth

import mysql_ha


def engine_config(engine):
    """The two engine-specific ConfigMaps: server configuration and the scripts' environment."""
    chart = new_chart()
    mysql_ha.MySQLConfig(chart, "Config", engine=engine, credentials=existing_secret())
    manifests = synth(chart)
    return by_kind(manifests, "ConfigMap", "mysql"), by_kind(manifests, "ConfigMap", "mysql-env")


def test_snapshot(engine, yaml_snapshot):
    assert list(engine_config(engine)) == yaml_snapshot


def test_engine_names():
    assert ENGINE_NAMES == ["mysql-8.4", "mysql-5.7", "mariadb-11.4"]
    assert mysql_ha.ENGINES["mysql-8.4"] is mysql_ha.MYSQL_8_4
    assert mysql_ha.ENGINES["mysql-5.7"] is mysql_ha.MYSQL_5_7
    assert mysql_ha.ENGINES["mariadb-11.4"] is mysql_ha.MARIADB_11_4


def test_engine_by_name(engine):
    assert mysql_ha.engine_by_name(engine.name) is engine


def test_engines_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        mysql_ha.MYSQL_8_4.client = "mariadb"  # type: ignore[misc]


def test_every_engine_fills_every_script_variable(engine):
    environment = engine.script_environment()
    assert all(name.startswith("MYSQL_HA_") for name in environment)
    empty = {name for name, value in environment.items() if not value}
    assert empty <= {"MYSQL_HA_SQL_SET_POSITION"}, empty


def test_mysql_8_4_uses_the_replica_source_dialect():
    engine = mysql_ha.MYSQL_8_4
    assert engine.sql_change_source.startswith("CHANGE REPLICATION SOURCE TO SOURCE_HOST='@HOST@'")
    for option in ("SOURCE_PORT=@PORT@", "SOURCE_USER='@USER@'", "SOURCE_PASSWORD='@PASSWORD@'",
                   "SOURCE_LOG_FILE='@LOG_FILE@'", "SOURCE_LOG_POS=@LOG_POS@"):
        assert option in engine.sql_change_source
    # 8.4 disables mysql_native_password: the replica needs the source's public key (or TLS).
    assert "GET_SOURCE_PUBLIC_KEY=1" in engine.sql_change_source
    assert engine.sql_set_position == ""
    assert engine.sql_start_replica == "START REPLICA"
    assert engine.sql_stop_replica == "STOP REPLICA"
    assert engine.sql_reset_replica == "RESET REPLICA ALL"
    assert engine.sql_replica_status == "SHOW REPLICA STATUS"
    assert (engine.status_io_running, engine.status_sql_running, engine.status_lag_seconds) == (
        "Replica_IO_Running", "Replica_SQL_Running", "Seconds_Behind_Source",
    )
    assert engine.read_only_option == "super-read-only"
    assert engine.skip_replica_start_option == "skip-replica-start"
    # Every statement removed in 8.4 is absent.
    removed = ("MASTER", "SLAVE")
    for statement in engine.script_environment().values():
        assert not any(word in statement.upper() for word in removed), statement


def test_mysql_5_7_uses_the_master_slave_dialect():
    engine = mysql_ha.MYSQL_5_7
    assert engine.sql_change_source.startswith("CHANGE MASTER TO MASTER_HOST='@HOST@'")
    assert "MASTER_LOG_FILE='@LOG_FILE@'" in engine.sql_change_source
    assert "MASTER_LOG_POS=@LOG_POS@" in engine.sql_change_source
    assert "@GTID@" not in engine.sql_change_source
    assert engine.sql_start_replica == "START SLAVE"
    assert engine.sql_reset_replica == "RESET SLAVE ALL"
    assert engine.sql_replica_status == "SHOW SLAVE STATUS"
    assert engine.status_io_running == "Slave_IO_Running"
    assert engine.read_only_option == "super-read-only"
    assert (engine.client, engine.admin, engine.backup, engine.stream_extractor) == (
        "mysql", "mysqladmin", "xtrabackup", "xbstream",
    )


def test_mariadb_uses_gtid_positioning_and_its_own_tools():
    engine = mysql_ha.MARIADB_11_4
    assert engine.sql_change_source.startswith("CHANGE MASTER TO MASTER_HOST='@HOST@'")
    assert "MASTER_USE_GTID=slave_pos" in engine.sql_change_source
    assert "@LOG_FILE@" not in engine.sql_change_source and "@LOG_POS@" not in engine.sql_change_source
    assert engine.sql_set_position == "SET GLOBAL gtid_slave_pos = '@GTID@'"
    assert engine.sql_start_replica == "START SLAVE"
    assert engine.status_io_running == "Slave_IO_Running"
    # MariaDB has no super-read-only: mariadbd aborts on the unknown option.
    assert engine.read_only_option == "read-only"
    assert (engine.client, engine.admin, engine.backup, engine.stream_extractor) == (
        "mariadb", "mariadb-admin", "mariadb-backup", "mbstream",
    )
    assert engine.root_password_file_env == "MARIADB_ROOT_PASSWORD_FILE"
    assert engine.server_image.startswith("mariadb:")


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_each_template_names_only_known_placeholders(name):
    engine = mysql_ha.ENGINES[name]
    statements = engine.sql_set_position + engine.sql_change_source
    placeholders = set(re.findall(r"@[A-Z_]+@", statements))
    assert placeholders <= {"@HOST@", "@PORT@", "@USER@", "@PASSWORD@", "@LOG_FILE@", "@LOG_POS@", "@GTID@"}
    assert {"@HOST@", "@PORT@", "@USER@", "@PASSWORD@"} <= placeholders
    # Positioned either by binary log file and position, or by GTID.
    assert {"@LOG_FILE@", "@LOG_POS@"} <= placeholders or "@GTID@" in placeholders


def test_replica_configuration_per_engine(engine):
    role, _ = engine_config(engine)
    replica = role["data"]["replica.cnf"].splitlines()
    assert f"{engine.read_only_option}=1" in replica
    assert "log-bin=mysql-bin" in replica
    other_options = {"super-read-only", "read-only"} - {engine.read_only_option}
    assert not any(line.startswith(tuple(other_options)) for line in replica)
    assert not any("read-only" in line or "read_only" in line for line in role["data"]["primary.cnf"].splitlines())


def test_environment_config_map_per_engine(engine):
    _, env = engine_config(engine)
    data = env["data"]
    assert data["MYSQL_HA_CLIENT"] == engine.client
    assert data["MYSQL_HA_BACKUP"] == engine.backup
    assert data["MYSQL_HA_STREAM_EXTRACTOR"] == engine.stream_extractor
    assert data["MYSQL_HA_SQL_CHANGE_SOURCE"] == engine.sql_change_source
    assert data["MYSQL_HA_SQL_START_REPLICA"] == engine.sql_start_replica
    assert data["MYSQL_HA_SKIP_REPLICA_START_OPTION"] == engine.skip_replica_start_option
