"""The engine table: SQL dialect, tool names and images per database engine."""

from __future__ import annotations

import dataclasses
import re

import pytest
from synth_helpers import ENGINE_NAMES, by_kind, config_map, existing_secret, new_chart, synth

import mysql_ha


def engine_config(engine):
    """The two engine-specific ConfigMaps: server configuration and the scripts' environment."""
    chart = new_chart()
    mysql_ha.MySQLConfig(chart, "Config", engine=engine, credentials=existing_secret())
    manifests = synth(chart)
    return config_map(manifests, "mysql"), config_map(manifests, "mysql-env")


def test_snapshot(engine, yaml_snapshot):
    assert list(engine_config(engine)) == yaml_snapshot


def test_engine_names():
    assert ENGINE_NAMES == ["mysql-8.4", "mysql-9.7", "mysql-5.7", "mariadb-11.4", "mariadb-10.11"]
    assert mysql_ha.ENGINES["mysql-8.4"] is mysql_ha.MYSQL_8_4
    assert mysql_ha.ENGINES["mysql-9.7"] is mysql_ha.MYSQL_9_7
    assert mysql_ha.ENGINES["mysql-5.7"] is mysql_ha.MYSQL_5_7
    assert mysql_ha.ENGINES["mariadb-11.4"] is mysql_ha.MARIADB_11_4
    assert mysql_ha.ENGINES["mariadb-10.11"] is mysql_ha.MARIADB_10_11


def test_engine_by_name(engine):
    assert mysql_ha.engine_by_name(engine.name) is engine


def test_engines_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        mysql_ha.MYSQL_8_4.client = "mariadb"  # type: ignore[misc]


def test_every_engine_fills_every_script_variable(engine):
    environment = engine.script_environment()
    assert all(name.startswith("MYSQL_HA_") for name in environment)
    empty = {name for name, value in environment.items() if not value}
    # A clone-plugin engine runs no backup tool, so it names none.
    backup_stream_only = {"MYSQL_HA_BACKUP", "MYSQL_HA_STREAM_EXTRACTOR", "MYSQL_HA_TRANSPORT"}
    # Statements an engine does without: MariaDB compares GTID positions in the scripts,
    # MySQL's auto-positioning needs no adopted position, 5.7 cannot switch over.
    optional = {"MYSQL_HA_SQL_SET_POSITION", "MYSQL_HA_SQL_ADOPT_POSITION", "MYSQL_HA_SQL_GTID_SUBSET"}
    if not engine.supports_switchover:
        optional |= {"MYSQL_HA_SQL_READ_ONLY", "MYSQL_HA_SQL_WRITABLE", "MYSQL_HA_SQL_GTID_EXECUTED",
                     "MYSQL_HA_SQL_WAIT_FOR_GTIDS"}
    if not engine.supports_semi_sync:
        optional |= {"MYSQL_HA_SEMI_SYNC_SOURCE_STATUS", "MYSQL_HA_SEMI_SYNC_REPLICA_STATUS",
                     "MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED"}
    # MySQL upgrades its own system tables at start (8.0.16+), and refuses a downgrade itself.
    if not engine.upgrade:
        optional |= {"MYSQL_HA_UPGRADE", "MYSQL_HA_UPGRADE_INFO_FILES"}
    # MySQL keeps gtid_executed in a table: a restored server needs no GTID state set.
    optional |= {"MYSQL_HA_SQL_RESTORE_GTID_STATE"}
    # The applier replays binary logs without a reader (MySQL's image has no mysqlbinlog).
    if not engine.supports_backups or engine.binlog_replay == "applier":
        optional |= {"MYSQL_HA_BINLOG_TOOL", "MYSQL_HA_BINLOG_SKIP_APPLIED_OPTION", "MYSQL_HA_BINLOG_GTID_HEADER"}
    # A backup Job that reads the pod's backup stream logs in to copy nothing: no backup account.
    if engine.serves_backup_streams:
        optional |= {"MYSQL_HA_BACKUP_GRANTS"}
    # MariaDB's read_only does not stop the init file: nothing to set back at its end.
    if engine.read_only_option == "read-only":
        optional |= {"MYSQL_HA_SQL_BOOTSTRAP_END"}
    # super_read_only stops every account, root included.
    if engine.read_only_option == "super-read-only":
        optional |= {"MYSQL_HA_SQL_ROOT_OBEYS_READ_ONLY", "MYSQL_HA_SQL_READ_ONLY_EXEMPT"}
    # Only MySQL's shutdown waits for the threads that feed its replicas (the stop hook ends them).
    if engine.name in ("mysql-5.7", "mariadb-11.4", "mariadb-10.11"):
        optional |= {"MYSQL_HA_SQL_STOP_FEEDING", "MYSQL_HA_SQL_FEEDS_SENDING", "MYSQL_HA_SQL_FEEDS"}
    assert empty <= optional | (set() if engine.serves_backup_streams else backup_stream_only)
    assert environment["MYSQL_HA_SERVER"] == engine.server
    assert environment["MYSQL_HA_CLONE_METHOD"] == engine.clone_method
    assert environment["MYSQL_HA_MAX_REPLICATION_PASSWORD_LENGTH"] == "32"
    assert environment["MYSQL_HA_INITIALIZE"] == engine.initialize
    assert environment["MYSQL_HA_SOCKET"] == engine.socket
    for account in ("ADMIN", "STATUS", "CLONE", "BACKUP"):
        assert environment[f"MYSQL_HA_{account}_GRANTS"] == getattr(engine, f"{account.lower()}_grants")
    assert environment["MYSQL_HA_CLONE_HOST"] == engine.clone_host


@pytest.mark.parametrize("name", ["mysql-8.4", "mysql-9.7"])
def test_mysql_8_4_and_9_7_use_the_replica_source_dialect(name):
    engine = mysql_ha.ENGINES[name]
    assert engine.sql_change_source.startswith("CHANGE REPLICATION SOURCE TO SOURCE_HOST='@HOST@'")
    for option in ("SOURCE_PORT=@PORT@", "SOURCE_USER='@USER@'", "SOURCE_PASSWORD='@PASSWORD@'",
                   "SOURCE_AUTO_POSITION=1"):
        assert option in engine.sql_change_source
    # The clone carries the donor's GTID set: no coordinates to fill in.
    for placeholder in ("@LOG_FILE@", "@LOG_POS@", "@GTID@"):
        assert placeholder not in engine.sql_change_source
    # 8.4 disables mysql_native_password: caching_sha2_password without TLS authenticates
    # from the source's cache; the replica never fetches a key it cannot check.
    assert "GET_SOURCE_PUBLIC_KEY=0" in engine.sql_change_source
    assert engine.fast_auth_cache and engine.client_plain_options == {"ssl-mode": "DISABLED"}
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
    # Every statement removed in 8.4 is absent. (The privilege REPLICATION_SLAVE_ADMIN keeps
    # its name in 8.4 and 9.x: only the grants name it.)
    removed = ("MASTER", "SLAVE")
    for name, statement in engine.script_environment().items():
        if name != "MYSQL_HA_ADMIN_GRANTS":
            assert not any(word in statement.upper() for word in removed), statement
    assert "REPLICATION_SLAVE_ADMIN" in engine.admin_grants


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
    # What the image's entrypoint would run, without a test database and with root's
    # password (set by the init file) instead of unix_socket authentication.
    assert engine.initialize == "mariadb-install-db --skip-test-db --auth-root-authentication-method=normal"
    assert engine.socket == "/run/mysqld/mysqld.sock"
    assert engine.server_image.startswith("mariadb:")


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_each_template_names_only_known_placeholders(name):
    engine = mysql_ha.ENGINES[name]
    statements = engine.sql_set_position + engine.sql_change_source
    placeholders = set(re.findall(r"@[A-Z_]+@", statements))
    assert placeholders <= {"@HOST@", "@PORT@", "@USER@", "@PASSWORD@", "@LOG_FILE@", "@LOG_POS@", "@GTID@"}
    assert {"@HOST@", "@PORT@", "@USER@", "@PASSWORD@"} <= placeholders
    # Positioned by binary log file and position, by a GTID position, or by GTID
    # auto-positioning (the clone carries the GTID set).
    assert (
        {"@LOG_FILE@", "@LOG_POS@"} <= placeholders
        or "@GTID@" in placeholders
        or "SOURCE_AUTO_POSITION=1" in statements
    )


def test_replica_configuration_per_engine(engine):
    role, env = engine_config(engine)
    for name in ("primary.cnf", "replica.cnf"):
        lines = role["data"][name].splitlines()
        # Kept across a restart where GTIDs position the replica; discarded where a restarted
        # receiver would fetch by file and offset what the relay log already holds.
        recovery = "OFF" if engine.supports_switchover else "ON"
        assert "log-bin=mysql-bin" in lines and f"relay_log_recovery={recovery}" in lines
        assert sum(line.startswith("relay_log_recovery=") for line in lines) == 1
        # Read-only and replication stopped at every start come from init-config.sh, per pod.
        assert not any("read-only" in line or "read_only" in line or "start" in line for line in lines[1:]), name
    assert env["data"]["MYSQL_HA_READ_ONLY_OPTION"] == engine.read_only_option


def test_environment_config_map_per_engine(engine):
    _, env = engine_config(engine)
    data = env["data"]
    assert data["MYSQL_HA_CLIENT"] == engine.client
    assert data["MYSQL_HA_SERVER"] == engine.server
    assert data["MYSQL_HA_CLONE_METHOD"] == engine.clone_method
    # Every engine has a clone account (CLONE plugin: on the donor; backup streams: the
    # donor's backup tool, over the socket).
    assert data["MYSQL_HA_CLONE_USER"] == "clone"
    assert data["MYSQL_HA_CLONE_HOST"] == engine.clone_host
    assert data["MYSQL_HA_INITIALIZE"] == engine.initialize
    assert data["MYSQL_HA_BACKUP"] == engine.backup
    assert data["MYSQL_HA_STREAM_EXTRACTOR"] == engine.stream_extractor
    assert data["MYSQL_HA_SQL_CHANGE_SOURCE"] == engine.sql_change_source
    assert data["MYSQL_HA_SQL_START_REPLICA"] == engine.sql_start_replica
    assert data["MYSQL_HA_SKIP_REPLICA_START_OPTION"] == engine.skip_replica_start_option


# --- the set's accounts, per engine --------------------------------------------------------------

WRITE_PRIVILEGES = ("ALL", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "GRANT OPTION", "SUPER",
                    "FILE", "SHUTDOWN", "EXECUTE", "CREATE USER")


def privileges(grants):
    return [privilege.strip() for privilege in grants.split(",") if privilege.strip()]


def test_each_account_s_grants_are_a_plain_list_of_privileges(engine):
    for account in ("admin", "status", "clone", "backup"):
        grants = getattr(engine, f"{account}_grants")
        # Interpolated into GRANT ... ON *.*: no statement, quote or target of its own.
        assert not re.search(r"[;'\"`]|\bON\b|\bTO\b", grants), (account, grants)
        assert len(set(privileges(grants))) == len(privileges(grants)), (account, grants)


def test_the_status_account_reads_only(engine):
    for privilege in privileges(engine.status_grants):
        assert privilege in ("REPLICATION CLIENT", "SLAVE MONITOR", "BINLOG MONITOR"), privilege


def test_no_account_of_the_set_can_write_rows_or_make_accounts(engine):
    for account in ("status", "clone", "backup"):
        for privilege in privileges(getattr(engine, f"{account}_grants")):
            assert privilege not in WRITE_PRIVILEGES, (account, privilege)
    # SUPER on 5.7 alone, where no dynamic privilege sets read_only or runs CHANGE MASTER.
    admin = privileges(engine.admin_grants)
    assert ("SUPER" in admin) == (engine.name == "mysql-5.7")
    assert not set(admin) & (set(WRITE_PRIVILEGES) - {"SUPER"})


@pytest.mark.parametrize(("name", "initialize", "clone_host", "clone_grants", "backup_grants"), [
    ("mysql-8.4", "mysqld --initialize-insecure", "%", "BACKUP_ADMIN", "BACKUP_ADMIN"),
    ("mysql-9.7", "mysqld --initialize-insecure", "%", "BACKUP_ADMIN", "BACKUP_ADMIN"),
    ("mysql-5.7", "mysqld --initialize-insecure", "localhost", "RELOAD, PROCESS, LOCK TABLES, REPLICATION CLIENT", ""),
    ("mariadb-11.4", "mariadb-install-db --skip-test-db --auth-root-authentication-method=normal", "localhost",
     "RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR", ""),
])
def test_initialization_and_the_clone_and_backup_accounts_per_engine(name, initialize, clone_host, clone_grants,
                                                                     backup_grants):
    """The CLONE plugin's new replica logs in to the donor ('%'); a backup stream's tool reads
    its own server over the socket (localhost). Only MySQL's backup Job logs in to copy."""
    engine = mysql_ha.ENGINES[name]
    assert engine.initialize == initialize
    assert engine.initialize.split()[0] in (engine.server, "mariadb-install-db")
    assert (engine.clone_host, engine.clone_grants, engine.backup_grants) == (clone_host, clone_grants, backup_grants)
    assert engine.clone_host == ("%" if engine.clone_method == "clone-plugin" else "localhost")


def test_the_init_file_is_never_binary_logged_and_passes_super_read_only(engine):
    """Each server sets its own accounts: replicated, they would give a pod GTIDs of its own
    (a diverged history). super_read_only (MySQL) stops even the init file: lifted for it,
    set back after."""
    begin = [statement.strip() for statement in engine.sql_bootstrap_begin.split(";")]
    assert begin[0] == "SET SESSION sql_log_bin = 0"
    if engine.read_only_option == "super-read-only":
        assert "SET GLOBAL super_read_only = OFF" in begin
        assert begin.index("SET @mysql_ha_super_read_only = @@GLOBAL.super_read_only") < begin.index(
            "SET GLOBAL super_read_only = OFF")
        assert engine.sql_bootstrap_end == "SET GLOBAL super_read_only = @mysql_ha_super_read_only"
    else:
        assert begin == ["SET SESSION sql_log_bin = 0"] and engine.sql_bootstrap_end == ""


def test_the_socket_is_in_the_socket_directory(engine):
    assert engine.socket == f"{engine.socket_dir}/mysqld.sock"


# --- how replicas are seeded and positioned, per engine ---------------------------------------

CLONE_PLUGIN_ENGINES = ["mysql-8.4", "mysql-9.7"]
BACKUP_STREAM_ENGINES = ["mysql-5.7", "mariadb-11.4", "mariadb-10.11"]


def test_every_engine_is_either_clone_plugin_or_backup_stream():
    assert sorted(CLONE_PLUGIN_ENGINES + BACKUP_STREAM_ENGINES) == sorted(ENGINE_NAMES)


@pytest.mark.parametrize("name", CLONE_PLUGIN_ENGINES)
def test_mysql_8_4_and_9_7_clone_with_the_clone_plugin_and_gtids(name):
    """xtrabackup 8.x refuses --slave-info for a multi-threaded replica without GTIDs: these
    engines run no backup tool at all, and their servers run with GTIDs."""
    engine = mysql_ha.ENGINES[name]
    assert engine.clone_method == "clone-plugin"
    assert not engine.serves_backup_streams
    assert (engine.backup, engine.stream_extractor, engine.transport) == ("", "", "")
    assert engine.tools_image == engine.server_image  # the clone runs the server's own mysqld
    assert engine.server == "mysqld"
    role, _ = engine_config(engine)
    for file in ("primary.cnf", "replica.cnf"):
        lines = role["data"][file].splitlines()
        assert "gtid_mode=ON" in lines, file
        assert "enforce_gtid_consistency=ON" in lines, file
        assert "plugin-load-add=mysql_clone.so;semisync_source.so;semisync_replica.so" in lines, file


@pytest.mark.parametrize("name", BACKUP_STREAM_ENGINES)
def test_mysql_5_7_and_mariadb_stream_hot_backups(name):
    engine = mysql_ha.ENGINES[name]
    assert engine.clone_method == "backup-stream"
    assert engine.serves_backup_streams
    assert engine.backup and engine.stream_extractor and engine.transport in ("ncat", "socat")


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_a_replica_retries_a_lost_primary_for_days(name):
    """MySQL 8.0.27+ gives up after SOURCE_RETRY_COUNT=10 tries by default."""
    engine = mysql_ha.ENGINES[name]
    counts = re.findall(r"(?:SOURCE|MASTER)_RETRY_COUNT=(\d+)", engine.sql_change_source)
    if name.startswith("mariadb-"):
        assert counts == []  # MariaDB retries master_retry_count times, set server-wide (default 100000)
    else:
        assert len(counts) == 1 and int(counts[0]) >= 86400, engine.sql_change_source
    # Every 2 s where semi-sync makes a restarted primary's commits wait for a replica to
    # reconnect; 5.7 has no semi-sync here.
    retry = "10" if name == "mysql-5.7" else "2"
    assert re.search(rf"(SOURCE|MASTER)_CONNECT_RETRY={retry}\b", engine.sql_change_source)


def test_mysql_5_7_replicas_keep_their_positions_in_tables():
    """5.7 keeps replication positions in files by default: not crash-safe."""
    role, _ = engine_config(mysql_ha.MYSQL_5_7)
    for file in ("primary.cnf", "replica.cnf"):
        lines = role["data"][file].splitlines()
        assert "master_info_repository=TABLE" in lines, file
        assert "relay_log_info_repository=TABLE" in lines, file


@pytest.mark.parametrize("name", ["mysql-8.4", "mysql-9.7", "mariadb-11.4"])
def test_only_mysql_5_7_gets_the_repository_settings(name):
    """MySQL 8.4 and 9.7 abort at start-up on these removed variables."""
    role, _ = engine_config(mysql_ha.ENGINES[name])
    for file in ("primary.cnf", "replica.cnf"):
        text = role["data"][file]
        assert "master_info_repository" not in text and "relay_log_info_repository" not in text, file


def test_mariadb_replicas_log_what_they_apply_with_strict_gtids():
    role, _ = engine_config(mysql_ha.MARIADB_11_4)
    for file in ("primary.cnf", "replica.cnf"):
        lines = role["data"][file].splitlines()
        assert "log_slave_updates=ON" in lines and "gtid_strict_mode=ON" in lines, file
        assert not any(line.startswith(("gtid_mode", "enforce_gtid_consistency", "plugin-load-add")) for line in lines)


def test_engine_settings_are_read_only():
    with pytest.raises(TypeError):
        mysql_ha.MYSQL_8_4.server_settings["gtid_mode"] = "OFF"  # type: ignore[index]


def test_every_engine_limits_the_replication_password_to_32_characters(engine):
    assert engine.max_replication_password_length == 32


ENGINE_FIELDS = {f.name: getattr(mysql_ha.MARIADB_11_4, f.name) for f in dataclasses.fields(mysql_ha.Engine)}


@pytest.mark.parametrize(
    "changes, message",
    [
        pytest.param({"clone_method": "rsync"}, "clone_method must be one of backup-stream, clone-plugin, got 'rsync'",
                     id="unknown-clone-method"),
        pytest.param({"transport": "nc"}, "transport must be one of ncat, socat, got 'nc'", id="unknown-transport"),
        pytest.param({"backup": ""}, "backup must be a non-empty name without spaces", id="backup-stream-without-tool"),
        pytest.param({"clone_method": "clone-plugin"},
                     "backup, stream_extractor and transport belong to backup-stream engines only",
                     id="clone-plugin-with-backup-tools"),
        pytest.param({"server": "mariadbd --user=mysql"}, "server must be a non-empty name without spaces",
                     id="server-with-arguments"),
        pytest.param({"clone_host": "10.0.0.%"}, "clone_host must be '%' or 'localhost', got '10.0.0.%'",
                     id="clone-host-other"),
    ],
)
def test_invalid_engine_rows_are_refused(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        mysql_ha.Engine(**{**ENGINE_FIELDS, **changes})


def test_a_clone_plugin_engine_row_needs_no_backup_tools():
    fields = {f.name: getattr(mysql_ha.MYSQL_8_4, f.name) for f in dataclasses.fields(mysql_ha.Engine)}
    engine = mysql_ha.Engine(**{**fields, "name": "mysql-8.0"})
    assert not engine.serves_backup_streams
    assert engine.script_environment()["MYSQL_HA_BACKUP"] == ""


@pytest.mark.parametrize("name", ["mysql-8.4", "mysql-9.7", "mariadb-11.4"])
def test_gtid_engines_offer_semi_sync_and_switchover(name):
    engine = mysql_ha.ENGINES[name]
    assert engine.supports_semi_sync and engine.supports_switchover
    settings = engine.semi_sync_config(acknowledgements=1, timeout_ms=10000)
    assert len(settings) == (5 if engine.semi_sync_wait_count else 4)
    # Semi-sync waits before the commit is visible (MariaDB's default is after).
    assert any(key.endswith("wait_point") and value == "AFTER_SYNC" for key, value in settings.items())


def test_mariadb_waits_for_one_acknowledgement_only():
    with pytest.raises(ValueError, match="exactly one acknowledgement"):
        mysql_ha.MARIADB_11_4.semi_sync_config(acknowledgements=2, timeout_ms=10000)
    assert mysql_ha.MYSQL_8_4.semi_sync_config(acknowledgements=2, timeout_ms=5000)[
        "loose-rpl_semi_sync_source_wait_for_replica_count"] == "2"


def test_mysql_5_7_offers_neither_semi_sync_nor_switchover():
    engine = mysql_ha.MYSQL_5_7
    assert not engine.supports_semi_sync and not engine.supports_switchover
    with pytest.raises(ValueError, match="no semi-synchronous replication"):
        engine.semi_sync_config(acknowledgements=1, timeout_ms=1000)


def test_read_only_stops_root_and_the_sidecar_can_kill_every_client_session(engine):
    """A demoted primary takes no write from anyone: MySQL's super_read_only stops root (and
    SUPER); MariaDB's read_only does not stop READ_ONLY ADMIN, part of root's ALL PRIVILEGES
    since 10.11, so the init file revokes it from root. The sidecar's account sees every
    session (PROCESS) and kills it (root's too: MySQL's root has SYSTEM_USER)."""
    admin = privileges(engine.admin_grants)
    assert "PROCESS" in admin
    if engine.read_only_option == "super-read-only":
        assert engine.sql_root_obeys_read_only == "" and engine.sql_read_only_exempt == ""
        if engine.name != "mysql-5.7":
            assert {"CONNECTION_ADMIN", "SYSTEM_USER"} <= set(admin)
            assert engine.sql_read_only == "SET GLOBAL super_read_only = ON"
    else:
        assert engine.sql_root_obeys_read_only == "REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'localhost'"
        assert "READ_ONLY ADMIN" in engine.sql_read_only_exempt
        assert {"CONNECTION ADMIN", "READ_ONLY ADMIN"} <= set(admin)
