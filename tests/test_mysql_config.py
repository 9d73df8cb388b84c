"""MySQLConfig: role configuration, pod scripts, engine environment and the Secret."""

from __future__ import annotations

import pytest
from synth_helpers import (SIDECARS, by_kind, config_map, existing_secret, new_chart, password_credentials, synth,
                           unhashed, unit_passwords)

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
    assert [(m["kind"], unhashed(m["metadata"]["name"])) for m in manifests] == [
        ("ConfigMap", "mysql"),
        ("ConfigMap", "mysql-scripts"),
        ("ConfigMap", "mysql-env"),
    ]
    assert all(m["metadata"]["namespace"] == "mysql" for m in manifests)
    assert config.secret is None


def test_primary_and_replica_configuration():
    _, manifests = config_manifests()
    data = config_map(manifests, "mysql")["data"]
    assert sorted(data) == ["primary.cnf", "replica.cnf"]
    assert cnf_lines(data["primary.cnf"]) == [
        "[mysqld]",
        "log-bin=mysql-bin",
        "relay-log=mysql-relay-bin",
        "sync_binlog=1",
        "innodb_flush_log_at_trx_commit=1",
        "skip_name_resolve=ON",
        "binlog_expire_logs_seconds=2592000",
        "event_scheduler=OFF",
        "gtid_mode=ON",
        "enforce_gtid_consistency=ON",
        "replica_net_timeout=10",
        "relay_log_recovery=OFF",
        "plugin-load-add=mysql_clone.so;semisync_source.so;semisync_replica.so",
    ]
    # The same for every role: every server starts read-only with replication stopped
    # (init-config.sh writes that per pod), and any pod may become the primary or a replica.
    assert cnf_lines(data["replica.cnf"]) == cnf_lines(data["primary.cnf"])


def test_every_engine_resolves_no_host_name(engine):
    """The accounts name their hosts by address ('%', 127.0.0.1) or the socket (localhost): a
    server that resolved names could match a client to another account, and waits on DNS."""
    _, manifests = config_manifests(engine=engine)
    data = config_map(manifests, "mysql")["data"]
    for file in ("primary.cnf", "replica.cnf"):
        assert cnf_lines(data[file]).count("skip_name_resolve=ON") == 1, file


@pytest.mark.parametrize("prop", ["server_settings", "primary_settings", "replica_settings"])
@pytest.mark.parametrize(("setting", "reason"), [
    ("skip_name_resolve", "accounts name hosts by address"),
    ("skip-name-resolve", "accounts name hosts by address"),
    ("init_file", "the pod's accounts are set from it at every start"),
    ("init-file", "the pod's accounts are set from it at every start"),
])
def test_name_resolution_and_the_init_file_belong_to_the_library(prop, setting, reason):
    with pytest.raises(ValueError, match=rf"{prop} must not set '{setting}': {reason}"):
        config_manifests(**{prop: {setting: "OFF"}})


def test_extra_settings_land_in_the_right_files():
    _, manifests = config_manifests(
        server_settings={"max_connections": 500, "character-set-server": "utf8mb4"},
        primary_settings={"binlog_expire_logs_seconds": "604800"},
        replica_settings={"replica_parallel_workers": 4},
    )
    data = config_map(manifests, "mysql")["data"]
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
    data = config_map(manifests, "mysql-scripts")["data"]
    assert data == {path.name: path.read_text() for path in sorted(SIDECARS.glob("*.sh"))}


def test_environment_config_map_is_the_engine_table_plus_the_accounts(engine):
    _, manifests = config_manifests(engine=engine)
    data = config_map(manifests, "mysql-env")["data"]
    # Every engine has a clone account: the new replica logs in to the donor with it (CLONE
    # plugin), or the donor's backup tool reads its own server with it (backup streams).
    assert data == {**engine.script_environment(), "MYSQL_HA_REPLICATION_USER": "repl",
                    "MYSQL_HA_CLONE_USER": "clone", "MYSQL_HA_ADMIN_USER": "mysqlha_admin",
                    "MYSQL_HA_STATUS_USER": "mysqlha_status",
                    "MYSQL_HA_BACKUP_USER": "mysqlha_backup" if engine.backup_grants else "",
                    # TLS off: the set's own clients' options, and (caching_sha2_password) the
                    # probes that fill the server's authentication cache.
                    "MYSQL_HA_CLIENT_NETWORK_OPTIONS": "".join(
                        f"{key}={value}\n" for key, value in engine.client_plain_options.items()),
                    **({"MYSQL_HA_AUTH_CACHE": "1"} if engine.fast_auth_cache else {})}


def test_environment_config_map_names_the_set_s_own_accounts(engine):
    _, manifests = config_manifests(engine=engine)
    data = config_map(manifests, "mysql-env")["data"]
    assert data["MYSQL_HA_ADMIN_USER"] == mysql_ha.credentials.ADMIN_USER
    assert data["MYSQL_HA_STATUS_USER"] == mysql_ha.credentials.STATUS_USER
    # The backup Job logs in as its own account only where it copies a server (CLONE plugin).
    assert data["MYSQL_HA_BACKUP_USER"] == (mysql_ha.credentials.BACKUP_USER
                                            if engine.clone_method == "clone-plugin" else "")


def test_derived_names_follow_the_name_prop():
    config, manifests = config_manifests(name="orders-db")
    assert [unhashed(m["metadata"]["name"]) for m in manifests] == ["orders-db", "orders-db-scripts", "orders-db-env"]
    assert config.name == "orders-db"


def test_from_passwords_creates_an_opaque_secret():
    passwords = unit_passwords()
    credentials = mysql_ha.MySQLCredentials.from_passwords(**passwords, secret_name="db-passwords")
    config, manifests = config_manifests(credentials=credentials)
    secret = by_kind(manifests, "Secret", "db-passwords")
    assert secret["type"] == "Opaque"
    assert secret["stringData"] == {
        "root-password": passwords["root_password"],
        "replication-password": passwords["replication_password"],
        "admin-password": passwords["admin_password"],
        "status-password": passwords["status_password"],
        "clone-password": passwords["clone_password"],
    }
    assert "data" not in secret
    assert config.secret is not None


def test_every_engine_s_secret_holds_the_five_required_passwords(engine):
    """The clone account is every engine's now (backup streams read the donor with it), and
    the optional passwords land only when given."""
    for optional, keys in [((), set()), (("backup_password",), {"backup-password"}),
                           (("metrics_password", "backup_password"), {"metrics-password", "backup-password"})]:
        _, manifests = config_manifests(engine=engine, credentials=password_credentials(*optional))
        assert set(by_kind(manifests, "Secret", "mysql-credentials")["stringData"]) == {
            "root-password", "admin-password", "status-password", "replication-password", "clone-password", *keys}


def test_a_custom_clone_user_reaches_the_scripts():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("db", clone_user="seeder")
    _, manifests = config_manifests(credentials=credentials)
    assert config_map(manifests, "mysql-env")["data"]["MYSQL_HA_CLONE_USER"] == "seeder"


def test_user_plugins_load_beside_the_clone_plugin():
    _, manifests = config_manifests(server_settings={"plugin-load-add": "validate_password.so"})
    for file in ("primary.cnf", "replica.cnf"):
        lines = cnf_lines(config_map(manifests, "mysql")["data"][file])
        assert "plugin-load-add=mysql_clone.so;semisync_source.so;semisync_replica.so" in lines
        assert "plugin-load-add=validate_password.so" in lines


@pytest.mark.parametrize("setting", ["rpl_semi_sync_source_enabled", "rpl_semi_sync_master_timeout",
                                     "rpl-semi-sync-source-wait-for-replica-count"])
def test_semi_sync_settings_belong_to_replicated_mysql(setting):
    with pytest.raises(ValueError, match="ReplicatedMySQL"):
        config_manifests(server_settings={setting: "1"})


def test_name_of_the_longest_length_is_accepted():
    name = "a" * (253 - len("-scripts-0123456789"))
    _, manifests = config_manifests(name=name)
    assert max(len(m["metadata"]["name"]) for m in manifests) == 253


@pytest.mark.parametrize(("engine_name", "seconds"), [("mysql-8.4", 2592000), ("mariadb-11.4", 864000)])
def test_binary_log_expiry_is_written_out_so_no_image_file_changes_it(engine_name, seconds):
    """mariadb:11.x's 50-server.cnf (expire_logs_days = 10) is read before the pod's conf.d:
    the library's explicit setting is what the server runs with, and what MySQLBackup checks."""
    engine = mysql_ha.ENGINES[engine_name]
    config, manifests = config_manifests(engine=engine)
    data = config_map(manifests, "mysql")["data"]
    for file in ("primary.cnf", "replica.cnf"):
        assert cnf_lines(data[file]).count(f"binlog_expire_logs_seconds={seconds}") == 1, file
    assert config.binlog_settings["binlog_expire_logs_seconds"] == str(seconds)


@pytest.mark.parametrize("setting", [{"expire_logs_days": "3"}, {"binlog_expire_logs_seconds": "3600"},
                                     {"binlog-expire-logs-seconds": "3600"}])
def test_an_expiry_the_user_sets_is_the_only_one_written(setting):
    config, manifests = config_manifests(engine=mysql_ha.MARIADB_11_4, server_settings=setting)
    primary = cnf_lines(config_map(manifests, "mysql")["data"]["primary.cnf"])
    assert [line for line in primary if "expire" in line] == [f"{k}={v}" for k, v in setting.items()]


@pytest.mark.parametrize("engine_name", ["mysql-8.4", "mysql-9.7"])
def test_the_event_scheduler_is_off_unless_the_user_turns_it_on(engine_name):
    """Its thread outlives a shutdown's kill and holds a primary with replicas attached 8 s
    longer in every deletion: off by default, on by a setting, written once."""
    engine = mysql_ha.ENGINES[engine_name]
    for settings, want in ((None, "OFF"), ({"event_scheduler": "ON"}, "ON"), ({"event-scheduler": "ON"}, "ON")):
        _, manifests = config_manifests(engine=engine, server_settings=settings)
        data = config_map(manifests, "mysql")["data"]
        for file in ("primary.cnf", "replica.cnf"):
            lines = [line for line in cnf_lines(data[file]) if line.replace("-", "_").startswith("event_scheduler=")]
            assert [line.split("=")[1] for line in lines] == [want], (settings, file, lines)


def test_mariadb_keeps_its_own_event_scheduler_default():
    _, manifests = config_manifests(engine=mysql_ha.ENGINES["mariadb-11.4"])
    data = config_map(manifests, "mysql")["data"]
    assert "event_scheduler" not in data["primary.cnf"]
