"""Every difference between the supported database engines, as data.

The pod scripts in ``sidecars/`` are the same for every engine: they receive
tool names and SQL text from the table below as environment variables. A new
engine is a new ``Engine`` row, never an ``if engine == ...`` branch.

SQL templates use ``@NAME@`` placeholders that the replica sidecar fills in
with values it reads at run time (``@HOST@``, ``@PORT@``, ``@USER@``,
``@PASSWORD@``, ``@LOG_FILE@``, ``@LOG_POS@``, ``@GTID@``); the TLS templates use
``@CA@``, ``@CERT@``, ``@KEY@`` (paths of the mounted certificate, filled in at synth
time) and ``@REQUIRE@`` (``ON`` or ``OFF``). A template names
exactly the coordinates that engine positions a new replica with: MySQL 8.4 and
9.7 by GTID auto-positioning (the clone carries its GTID set), MySQL 5.7 by
binary log file and position, MariaDB by GTID (crash-safe, stored in
``mysql.gtid_slave_pos``).

How a new replica gets its data (``clone_method``):

- ``clone-plugin``: MySQL's CLONE plugin copies the donor over the server port;
  no tools image has to match the server's version.
- ``backup-stream``: the donor's sidecar streams a hot backup (xtrabackup or
  mariadb-backup) over ``CLONE_PORT`` with ``transport``.
"""

from __future__ import annotations

from ._engine import CLONE_METHODS, REPLICATION_PASSWORD_MAX, TLS_TRANSPORTS, TRANSPORTS, Engine

__all__ = ["CLONE_METHODS", "ENGINES", "MARIADB_10_11", "MARIADB_11_4", "MYSQL_5_7", "MYSQL_8_4", "MYSQL_9_7",
           "REPLICATION_PASSWORD_MAX", "TLS_TRANSPORTS", "TRANSPORTS", "Engine", "engine_by_name"]

_MYSQL_REPLICA_SOURCE_DIALECT = dict(
    skip_replica_start_option="skip-replica-start",
    sql_set_position="",
    # GTID auto-positioning: the clone's GTID set tells the primary where to start. A lost
    # source is retried every 2 s (SOURCE_CONNECT_RETRY): a restarted primary's first commits
    # wait for a replica's acknowledgement (semi-sync) until one has reconnected, so the retry
    # interval is part of every restart's write gap (10 s, the default, made a rollout's 11 s).
    # 8.0.27+ retries only 10 times (SOURCE_RETRY_COUNT); 432000 tries 2 s apart (10 days)
    # outlast any real outage, and the sidecar restarts a receiver that gave up.
    # GET_SOURCE_PUBLIC_KEY=0: without TLS the receiver authenticates against the source's
    # cache (fast_auth_cache) and never sends the password under a key it cannot check; a
    # miss fails (2061) and is retried 2 s later. Said explicitly, as an earlier setting
    # would otherwise survive the statement.
    sql_change_source=(
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST='@HOST@', SOURCE_PORT=@PORT@, "
        "SOURCE_USER='@USER@', SOURCE_PASSWORD='@PASSWORD@', SOURCE_AUTO_POSITION=1, "
        "SOURCE_CONNECT_RETRY=2, SOURCE_RETRY_COUNT=432000, GET_SOURCE_PUBLIC_KEY=0"
    ),
    sql_start_replica="START REPLICA",
    sql_stop_replica="STOP REPLICA",
    sql_reset_replica="RESET REPLICA ALL",
    sql_replica_status="SHOW REPLICA STATUS",
    status_io_running="Replica_IO_Running",
    status_sql_running="Replica_SQL_Running",
    status_lag_seconds="Seconds_Behind_Source",
    # The pod's certificate too: the replication account REQUIRE X509.
    sql_source_tls=("SOURCE_SSL=1, SOURCE_SSL_CA='@CA@', SOURCE_SSL_CERT='@CERT@', SOURCE_SSL_KEY='@KEY@', "
                    "SOURCE_SSL_VERIFY_SERVER_CERT=1"),
    sql_change_source_prefix="CHANGE REPLICATION SOURCE TO",
    status_tls_allowed="Source_SSL_Allowed",
    status_tls_cert="Source_SSL_Cert",
    sql_reload_tls="ALTER INSTANCE RELOAD TLS",
    # The peers are reached by their names, which the certificate holds.
    client_tls_options={"ssl-mode": "VERIFY_IDENTITY", "ssl-ca": "@CA@", "ssl-cert": "@CERT@", "ssl-key": "@KEY@"},
    # Fast authentication only: no TLS with a certificate no one checks, no RSA key fetched.
    client_plain_options={"ssl-mode": "DISABLED"},
    fast_auth_cache=True,
    status_source_host="Source_Host",
    status_received_gtids="Retrieved_Gtid_Set",
    semi_sync_plugins="semisync_source.so;semisync_replica.so",
    semi_sync_source_enabled="rpl_semi_sync_source_enabled",
    semi_sync_replica_enabled="rpl_semi_sync_replica_enabled",
    semi_sync_timeout="rpl_semi_sync_source_timeout",
    semi_sync_wait_count="rpl_semi_sync_source_wait_for_replica_count",
    # AFTER_SYNC (the default since 5.7): a commit is visible to nobody before a replica has it.
    semi_sync_settings={"rpl_semi_sync_source_wait_point": "AFTER_SYNC"},
    semi_sync_option_prefix="loose-",
    semi_sync_source_status="Rpl_semi_sync_source_status",
    semi_sync_replica_status="Rpl_semi_sync_replica_status",
    semi_sync_source_unacknowledged="Rpl_semi_sync_source_no_tx",
    # super_read_only keeps root out too; read_only = OFF turns both off.
    sql_read_only="SET GLOBAL super_read_only = ON",
    sql_writable="SET GLOBAL read_only = OFF",
    sql_gtid_executed="SELECT @@GLOBAL.gtid_executed",
    # The binary log being written and the end of its last transaction (REPLICATION CLIENT).
    sql_binlog_position="SHOW BINARY LOG STATUS",
    sql_wait_for_gtids="SELECT WAIT_FOR_EXECUTED_GTID_SET('@GTID@', @SECONDS@)",
    sql_gtid_subset="SELECT GTID_SUBSET('@SUBSET@', '@SET@')",
    sql_adopt_position="",
    # The official image has no mysqlbinlog (mysql-community-server-minimal leaves it out):
    # the server's own SQL thread replays the archived logs as a relay log.
    binlog_replay="applier",
    # 30 days since 8.0.
    default_binlog_expiry_seconds=2592000,
)

_MASTER_SLAVE_STATEMENTS = dict(
    sql_start_replica="START SLAVE",
    sql_stop_replica="STOP SLAVE",
    sql_reset_replica="RESET SLAVE ALL",
    sql_replica_status="SHOW SLAVE STATUS",
    status_io_running="Slave_IO_Running",
    status_sql_running="Slave_SQL_Running",
    status_lag_seconds="Seconds_Behind_Master",
    sql_source_tls=("MASTER_SSL=1, MASTER_SSL_CA='@CA@', MASTER_SSL_CERT='@CERT@', MASTER_SSL_KEY='@KEY@', "
                    "MASTER_SSL_VERIFY_SERVER_CERT=1"),
    sql_change_source_prefix="CHANGE MASTER TO",
    status_tls_allowed="Master_SSL_Allowed",
    status_tls_cert="Master_SSL_Cert",
    status_source_host="Master_Host",
)
"""The statements and status columns of MySQL 5.7 and MariaDB (MySQL 8.4 removed them)."""

_SUPER_READ_ONLY_BOOTSTRAP = dict(
    # super_read_only stops the init file too: lifted for it alone, before the server takes
    # any connection, and set back as the pod's configuration had it.
    sql_bootstrap_begin=("SET SESSION sql_log_bin = 0; SET @mysql_ha_super_read_only = @@GLOBAL.super_read_only; "
                         "SET GLOBAL super_read_only = OFF"),
    sql_bootstrap_end="SET GLOBAL super_read_only = @mysql_ha_super_read_only",
)
"""How MySQL's init file writes accounts: never binary-logged, past super_read_only."""

_MYSQL_8_ACCOUNTS = dict(
    # SET GLOBAL read_only/super_read_only and the semi-sync variables; STOP/START REPLICA and
    # CHANGE REPLICATION SOURCE; SHOW REPLICA STATUS; FLUSH LOCAL BINARY LOGS;
    # ALTER INSTANCE RELOAD TLS and, at a demotion, every client session seen (PROCESS) and
    # killed (CONNECTION_ADMIN; root's too, which takes SYSTEM_USER, as root has it); PURGE
    # BINARY LOGS once archived (BINLOG_ADMIN).
    admin_grants=("SYSTEM_VARIABLES_ADMIN, REPLICATION_SLAVE_ADMIN, REPLICATION CLIENT, RELOAD, CONNECTION_ADMIN, "
                  "PROCESS, SYSTEM_USER, BINLOG_ADMIN"),
    status_grants="REPLICATION CLIENT",
    # CLONE INSTANCE reads a donor with BACKUP_ADMIN and nothing else.
    clone_grants="BACKUP_ADMIN",
    clone_host="%",
    backup_grants="BACKUP_ADMIN",
    **_SUPER_READ_ONLY_BOOTSTRAP,
)
"""The accounts of MySQL 8.0 and later (dynamic privileges)."""

_MYSQL_CLONE_PLUGIN = dict(
    server="mysqld",
    client="mysql",
    admin="mysqladmin",
    clone_method="clone-plugin",
    socket_dir="/var/run/mysqld",
    uid=999,
    initialize="mysqld --initialize-insecure",
    read_only_option="super-read-only",
    **_MYSQL_8_ACCOUNTS,
    server_settings={
        "gtid_mode": "ON",
        "enforce_gtid_consistency": "ON",
        # How long a replica's connection attempt to its source may take (and how long a
        # source may stay silent, heartbeats at half of it): a source pod made again has a new
        # address, and an attempt that met the old one (still cached by the cluster DNS, or a
        # lost node's) waits out this timeout before the next try; 60 s by default.
        "replica_net_timeout": "10",
        # A replica keeps its relay log across a restart (see MySQLConfig): with GTID
        # auto-positioning the receiver asks its source only for what the relay log lacks.
        "relay_log_recovery": "OFF",
        # Semi-sync's plugins are loaded on every pod; the settings decide whether they act.
        "plugin-load-add": "mysql_clone.so;" + _MYSQL_REPLICA_SOURCE_DIALECT["semi_sync_plugins"],
    },
    # The event scheduler's thread does not end when a shutdown kills it, and a primary
    # with replicas attached then waits 8 s for it before it lets their binlog dump threads
    # go (close_connections): every pod deletion and rollout step of the primary took 8 s
    # longer. Off as MariaDB has it; server_settings={"event_scheduler": "ON"} for a set
    # that uses events.
    server_defaults={"event_scheduler": "OFF"},
    # A stopping primary's binlog dump threads: its shutdown kills them only after every other
    # session has ended (up to 8 s), then sleeps 2 s more while a killed semi-sync one leaves.
    # offline_mode ends them (and every session without CONNECTION_ADMIN) at once and turns
    # the replicas' reconnections away (error 3032, retried) until the server is gone.
    sql_stop_feeding="SET GLOBAL offline_mode = ON",
    sql_feeds_sending=("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND IN "
                       "('Binlog Dump', 'Binlog Dump GTID') AND STATE NOT LIKE 'Source has sent all binlog%'"),
    sql_feeds=("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND IN "
               "('Binlog Dump', 'Binlog Dump GTID', 'Killed')"),
)

MYSQL_8_4 = Engine(
    name="mysql-8.4",
    server_image="mysql:8.4",
    tools_image="mysql:8.4",
    **_MYSQL_CLONE_PLUGIN,
    **_MYSQL_REPLICA_SOURCE_DIALECT,
)

MYSQL_9_7 = Engine(
    name="mysql-9.7",
    server_image="mysql:9.7",
    tools_image="mysql:9.7",
    **_MYSQL_CLONE_PLUGIN,
    **_MYSQL_REPLICA_SOURCE_DIALECT,
)

MYSQL_5_7 = Engine(
    name="mysql-5.7",
    server_image="mysql:5.7",
    tools_image="gcr.io/google-samples/xtrabackup:1.0",
    server="mysqld",
    client="mysql",
    admin="mysqladmin",
    clone_method="backup-stream",
    backup="xtrabackup",
    stream_extractor="xbstream",
    transport="ncat",
    socket_dir="/var/run/mysqld",
    uid=999,
    initialize="mysqld --initialize-insecure",
    read_only_option="super-read-only",
    sql_binlog_position="SHOW MASTER STATUS",
    # 5.7 has no dynamic privileges: SUPER is what sets read_only, runs CHANGE MASTER and kills
    # sessions; PROCESS sees them.
    admin_grants="SUPER, REPLICATION CLIENT, RELOAD, PROCESS",
    # 5.7 counts its expiry in days, and has no switch for it but the value 0.
    binlog_expiry_setting="expire_logs_days",
    binlog_keep_option="--expire-logs-days=0",
    status_grants="REPLICATION CLIENT",
    # XtraBackup 2.4 on the donor, over the socket (--slave-info reads SHOW SLAVE STATUS).
    clone_grants="RELOAD, PROCESS, LOCK TABLES, REPLICATION CLIENT",
    clone_host="localhost",
    **_SUPER_READ_ONLY_BOOTSTRAP,
    # 5.7 keeps the replica's positions in files unless told otherwise: a crash between a
    # commit and the file's update replays or skips transactions. 8.0 made TABLE the default
    # and 8.4 removed both options.
    # relay_log_recovery ON: positioned by file and offset, a receiver restarts from the
    # position its table last recorded (every 10000 events), behind what its relay log holds,
    # and would append those events to it a second time; ON starts a new relay log at the
    # applied position instead. (No semi-sync here: no acknowledged commit lives only there.)
    server_settings={"master_info_repository": "TABLE", "relay_log_info_repository": "TABLE",
                     "slave_net_timeout": "10", "relay_log_recovery": "ON"},
    skip_replica_start_option="skip-slave-start",
    sql_set_position="",
    sql_change_source=(
        "CHANGE MASTER TO MASTER_HOST='@HOST@', MASTER_PORT=@PORT@, MASTER_USER='@USER@', "
        "MASTER_PASSWORD='@PASSWORD@', MASTER_LOG_FILE='@LOG_FILE@', MASTER_LOG_POS=@LOG_POS@, "
        "MASTER_CONNECT_RETRY=10, MASTER_RETRY_COUNT=86400"
    ),
    **_MASTER_SLAVE_STATEMENTS,
    # ALTER INSTANCE RELOAD TLS arrived in 8.0.16: a 5.7 server reads a renewed
    # certificate when its container restarts.
    sql_reload_tls="",
    client_tls_options={"ssl-mode": "VERIFY_IDENTITY", "ssl-ca": "@CA@", "ssl-cert": "@CERT@", "ssl-key": "@KEY@"},
    status_received_gtids="Retrieved_Gtid_Set",
    # Every server starts read-only; the sidecar makes the primary writable.
    sql_read_only="SET GLOBAL super_read_only = ON",
    sql_writable="SET GLOBAL read_only = OFF",
    # No GTID positioning here (nor semi-sync): the primary stays ordinal 0.
)

_MARIADB = dict(
    server="mariadbd",
    client="mariadb",
    admin="mariadb-admin",
    clone_method="backup-stream",
    backup="mariadb-backup",
    stream_extractor="mbstream",
    transport="socat",
    socket_dir="/run/mysqld",
    uid=999,
    # The entrypoint's own options: no test database, root with a password (set by the init file).
    initialize="mariadb-install-db --skip-test-db --auth-root-authentication-method=normal",
    # The image's entrypoint runs it after a version change (MARIADB_AUTO_UPGRADE); the pods
    # run the server directly, so init-config.sh does. 11.x renamed the record the tool
    # writes (mysql_upgrade_info, 10.x) to mariadb_upgrade_info. mariadb-backup copies
    # neither: a clone's record is the donor's server_version in the backup's information
    # (mariadb_backup_info, xtrabackup_info before 11.x).
    upgrade="mariadb-upgrade --upgrade-system-tables",
    upgrade_info_files="mariadb_upgrade_info mysql_upgrade_info mariadb_backup_info xtrabackup_info",
    read_only_option="read-only",
    # MariaDB splits SUPER: READ_ONLY ADMIN for read_only, REPLICATION MASTER ADMIN and
    # REPLICATION SLAVE ADMIN for the semi-sync variables, gtid_slave_pos, CHANGE MASTER and
    # START/STOP SLAVE, SLAVE MONITOR for SHOW SLAVE STATUS, RELOAD for FLUSH LOCAL SSL and
    # FLUSH LOCAL BINARY LOGS, PROCESS and CONNECTION ADMIN to see and kill every client session
    # at a demotion (root's included), BINLOG ADMIN for PURGE BINARY LOGS once archived.
    admin_grants=("READ_ONLY ADMIN, REPLICATION MASTER ADMIN, REPLICATION SLAVE ADMIN, SLAVE MONITOR, "
                  "BINLOG MONITOR, BINLOG ADMIN, RELOAD, CONNECTION ADMIN, PROCESS"),
    status_grants="SLAVE MONITOR, BINLOG MONITOR",
    # mariadb-backup on the donor, over the socket (--slave-info reads SHOW SLAVE STATUS).
    clone_grants="RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR",
    clone_host="localhost",
    # read_only does not stop the init file (it runs with every privilege).
    sql_bootstrap_begin="SET SESSION sql_log_bin = 0",
    # READ_ONLY ADMIN, part of ALL PRIVILEGES since 10.11, lets an account write on a read-only
    # server: root loses it, and with it the power to lift read_only or to grant it to others.
    sql_root_obeys_read_only="REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'localhost'",
    sql_read_only_exempt=("SELECT GRANTEE FROM information_schema.USER_PRIVILEGES "
                          "WHERE PRIVILEGE_TYPE = 'READ_ONLY ADMIN'"),
    # Replicas write what they apply to their own binary log with the primary's GTIDs, so
    # any pod can serve a clone or become the primary; strict mode refuses a transaction
    # that would make a pod's GTID history diverge.
    # slave_net_timeout: as replica_net_timeout for MySQL (above).
    # relay_log_recovery OFF, as for MySQL; but MariaDB in GTID mode discards the relay log
    # whenever replication starts with both threads stopped, as after every restart (README,
    # "Server restarts").
    server_settings={"log_slave_updates": "ON", "gtid_strict_mode": "ON", "slave_net_timeout": "10",
                     "relay_log_recovery": "OFF"},
    skip_replica_start_option="skip-slave-start",
    sql_set_position="SET GLOBAL gtid_slave_pos = '@GTID@'",
    sql_change_source=(
        "CHANGE MASTER TO MASTER_HOST='@HOST@', MASTER_PORT=@PORT@, MASTER_USER='@USER@', "
        "MASTER_PASSWORD='@PASSWORD@', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=2"
    ),
    **_MASTER_SLAVE_STATEMENTS,
    # LOCAL: a plain FLUSH is binary-logged; on a replica that gives the replica a GTID of
    # its own, which strict GTID mode then refuses to reconcile with the primary's.
    sql_reload_tls="FLUSH LOCAL SSL",
    # The peers are reached by their names, which the certificate holds.
    client_tls_options={"ssl": "ON", "ssl-ca": "@CA@", "ssl-verify-server-cert": "ON", "ssl-cert": "@CERT@",
                        "ssl-key": "@KEY@"},
    status_received_gtids="Gtid_IO_Pos",
    # Built in. MariaDB has no setting for more than one acknowledgement, and waits after the
    # commit unless told otherwise: AFTER_SYNC makes it wait before the commit is visible.
    semi_sync_source_enabled="rpl_semi_sync_master_enabled",
    semi_sync_replica_enabled="rpl_semi_sync_slave_enabled",
    semi_sync_timeout="rpl_semi_sync_master_timeout",
    semi_sync_settings={"rpl_semi_sync_master_wait_point": "AFTER_SYNC"},
    semi_sync_source_status="Rpl_semi_sync_master_status",
    semi_sync_replica_status="Rpl_semi_sync_slave_status",
    semi_sync_source_unacknowledged="Rpl_semi_sync_master_no_tx",
    sql_read_only="SET GLOBAL read_only = ON",
    sql_writable="SET GLOBAL read_only = OFF",
    sql_gtid_executed="SELECT @@GLOBAL.gtid_current_pos",
    # The binary log being written and the end of its last transaction (BINLOG MONITOR).
    sql_binlog_position="SHOW MASTER STATUS",
    sql_wait_for_gtids="SELECT MASTER_GTID_WAIT('@GTID@', @SECONDS@)",
    sql_gtid_subset="",
    # gtid_current_pos is this server's own history, whether it replicated or took writes.
    sql_adopt_position="SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos",
    binlog_replay="client",
    binlog_tool="mariadb-binlog",
    # A GTID position as the start (10.8+): transactions up to it in each domain are skipped.
    binlog_skip_applied_option="--start-position=@GTID@",
    binlog_gtid_header="gtid-list",
    # A restored server's binary log starts empty: without this its next GTID would restart
    # the sequence below the backup's.
    sql_restore_gtid_state=(
        "RESET MASTER; SET GLOBAL gtid_binlog_state = '@GTID@'; SET GLOBAL gtid_slave_pos = '@GTID@'"
    ),
    # 10 days, as the official image has it (MariaDB's packaged 50-server.cnf:
    # expire_logs_days = 10; the server's own default, 0, keeps them forever). MySQLConfig
    # writes it out, so every image behaves alike.
    default_binlog_expiry_seconds=864000,
    # Both names set one value (10.6+); on the command line it comes after every option file.
    binlog_keep_option="--binlog-expire-logs-seconds=0",
)
"""Every MariaDB line the library supports: 10.11 and 11.4 take the same settings, grants,
statements and tools (each checked against the real servers: README, "Engines")."""

MARIADB_11_4 = Engine(
    name="mariadb-11.4",
    server_image="mariadb:11.4",
    tools_image="mariadb:11.4",
    **_MARIADB,
)

# What 10.11 does differently, none of it in this table: its server has no certificate
# unless the set's TLS gives it one (11.4 makes its own, and its clients and replicas insist
# on TLS unless told otherwise), so a 10.11 set without TLS talks in clear text with
# challenge-response logins; its mariadb-backup names its files xtrabackup_* (copy.sh reads
# both names); its mariadb-install-db records the version in mysql_upgrade_info.
MARIADB_10_11 = Engine(
    name="mariadb-10.11",
    server_image="mariadb:10.11",
    tools_image="mariadb:10.11",
    **_MARIADB,
)

ENGINES: dict[str, Engine] = {e.name: e for e in (MYSQL_8_4, MYSQL_9_7, MYSQL_5_7, MARIADB_11_4, MARIADB_10_11)}
"""Every supported engine by name; ``MYSQL_8_4`` is the default everywhere."""


def engine_by_name(name: str) -> Engine:
    """The engine called ``name``; raises ``ValueError`` naming the allowed ones."""
    try:
        return ENGINES[name]
    except KeyError:
        allowed = ", ".join(sorted(ENGINES))
        raise ValueError(f"engine must be one of {allowed}, got {name!r}") from None
