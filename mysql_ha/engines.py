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

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

TRANSPORTS = ("ncat", "socat")
"""Tools that can carry a backup stream (``sidecars/common.sh`` knows both)."""
TLS_TRANSPORTS = ("socat",)
"""Transports that can authenticate a clone stream by certificate on the listening side:
socat's ``OPENSSL-LISTEN`` with ``verify=1`` asks for and checks the client's certificate;
ncat's ``--listen --ssl`` cannot ask for one, so it would hand a backup to anyone."""
CLONE_METHODS = ("backup-stream", "clone-plugin")
"""How a new replica copies the data of the pod before it (``sidecars/clone.sh`` knows both)."""

REPLICATION_PASSWORD_MAX = 32
"""``CHANGE REPLICATION SOURCE`` / ``CHANGE MASTER`` refuse a longer password (error 3056,
ER_CHANGE_SOURCE_PASSWORD_LENGTH) in MySQL 5.7 to 9.x and MariaDB alike."""


_TLS_SERVER_SETTINGS = {
    "ssl_ca": "@CA@",
    "ssl_cert": "@CERT@",
    "ssl_key": "@KEY@",
    "require_secure_transport": "@REQUIRE@",
}
"""The same option names in MySQL 5.7, 8.4, 9.7 and MariaDB 10.5+."""


def _frozen(settings: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(settings))


@dataclass(frozen=True, kw_only=True)
class Engine:
    """One database engine: images, tool names, server settings and SQL dialect."""

    name: str
    """Short identifier, used in error messages and ``engine_by_name``."""
    server_image: str
    """Image of the database server container (its entrypoint initializes an empty datadir)."""
    tools_image: str
    """Image of the clone init container and the replication sidecar. See docs/images.md
    for the evidence per image."""
    server: str
    """Server program (the clone plugin runs a throwaway one in the clone init container)."""
    client: str
    """SQL command-line client."""
    admin: str
    """Admin client used by the liveness probe (``ping``)."""
    clone_method: str
    """``clone-plugin`` or ``backup-stream``, see the module documentation."""
    backup: str = ""
    """Hot backup tool (``--backup``/``--prepare``); ``backup-stream`` engines only."""
    stream_extractor: str = ""
    """Extractor of the backup tool's ``xbstream`` format; ``backup-stream`` engines only."""
    transport: str = ""
    """How a backup travels from donor to clone, ``ncat`` or ``socat``, whichever the tools
    image ships; ``backup-stream`` engines only."""
    socket_dir: str
    """Where the server image puts its socket; an emptyDir, as the root filesystem is read-only."""
    uid: int
    """User and group id of the server image's ``mysql`` user; every container runs as it."""
    initialize: str
    """Initializes an empty data directory (``init-config.sh`` adds ``--datadir``) with
    ``root@localhost`` and no password, as the image's entrypoint would before it sets one;
    the server itself then sets every account from its ``--init-file`` (no password ever
    passes through the entrypoint or a process's environment)."""
    read_only_option: str
    """Server option that keeps a replica read-only for everyone but replication."""
    admin_grants: str
    """Privileges of the sidecar's own account (``localhost``, the socket only): switching
    roles (read-only, semi-sync, replication), closing binary logs, reloading TLS. It
    creates no account and writes no row."""
    status_grants: str
    """Privileges of the read-only status account (any host): replica status and server
    variables, for the status command, the peers' checks at a switchover and the backup's
    choice of a replica."""
    clone_grants: str
    """Privileges of the account that serves copies of a pod's data to new replicas."""
    clone_host: str
    """Host of that account: ``%`` where the new replica logs in to the donor (CLONE
    plugin), ``localhost`` where the donor's own backup tool reads its server over the socket
    (backup streams)."""
    backup_grants: str = ""
    """Privileges of the backup Job's account (any host), where the Job logs in to a server
    to copy it; '' where it copies through the pod's backup stream (served by the clone
    account) and needs no account of its own."""
    sql_bootstrap_begin: str = ""
    """Statements that open the server's ``--init-file``: the accounts are written locally
    (never binary-logged), on a server that may start read-only."""
    sql_bootstrap_end: str = ""
    """Statements that close it (restoring what ``sql_bootstrap_begin`` changed)."""
    skip_replica_start_option: str
    """Server option that keeps replication stopped at start-up (used once, right after a clone)."""
    server_settings: Mapping[str, str] = field(default_factory=dict)
    """``[mysqld]`` settings this engine needs on every pod, owned by the library."""
    replica_settings: Mapping[str, str] = field(default_factory=dict)
    """``[mysqld]`` settings this engine needs on the replicas, owned by the library."""
    max_replication_password_length: int = REPLICATION_PASSWORD_MAX
    """Longest replication password the engine's change-source statement takes."""
    sql_set_position: str
    """Statement run before ``sql_change_source`` ('' when none is needed)."""
    sql_change_source: str
    """Points the replica at the primary, from the clone's coordinates."""
    sql_start_replica: str
    sql_stop_replica: str
    sql_reset_replica: str
    sql_replica_status: str
    status_io_running: str
    """Column of the replica status that tells whether the receiver (IO) thread runs."""
    status_sql_running: str
    """Column of the replica status that tells whether the applier (SQL) thread runs."""
    status_lag_seconds: str
    """Column of the replica status with the replication lag in seconds."""
    tls_server_settings: Mapping[str, str] = field(default_factory=lambda: dict(_TLS_SERVER_SETTINGS))
    """``[mysqld]`` settings that make the server present the pod's certificate (with TLS on)."""
    sql_source_tls: str
    """Options appended to ``sql_change_source`` with TLS on: the replica connects with TLS
    and verifies the primary's certificate against the set's CA and its host name."""
    sql_change_source_prefix: str
    """How the change-source statement starts; with ``sql_source_tls`` it switches a replica
    that replicates in clear text (set up before TLS was turned on) to TLS, keeping its position."""
    status_tls_allowed: str
    """Column of the replica status that tells whether the replica connects with TLS."""
    sql_reload_tls: str
    """Statement that makes a running server read a renewed certificate ('' when the engine
    cannot: a restart of the server container is then needed)."""
    client_tls_options: Mapping[str, str] = field(default_factory=dict)
    """Client option-file settings of the pod's own connections to 127.0.0.1 (probes, scripts,
    backup tool) with TLS on: encrypted, so that ``require_secure_transport`` admits them."""
    status_source_host: str = ""
    """Column of the replica status naming the host the replica reads from."""
    status_received_gtids: str = ""
    """Column of the replica status with the GTIDs the receiver has fetched."""
    # Semi-synchronous replication: empty names mean the engine is not offered it here.
    semi_sync_plugins: str = ""
    """Plugins to load for semi-sync (``plugin-load-add``); '' when built in."""
    semi_sync_source_enabled: str = ""
    """Variable that makes a primary wait for a replica's acknowledgement at commit."""
    semi_sync_replica_enabled: str = ""
    """Variable that makes a replica acknowledge what it received."""
    semi_sync_timeout: str = ""
    """Variable: milliseconds a commit waits for acknowledgements before the primary falls
    back to asynchronous replication."""
    semi_sync_wait_count: str = ""
    """Variable: acknowledgements a commit waits for; '' when the engine waits for one only."""
    semi_sync_settings: Mapping[str, str] = field(default_factory=dict)
    """Further settings semi-sync needs on this engine (e.g. waiting before the commit)."""
    semi_sync_option_prefix: str = ""
    """Prefix of the semi-sync settings in option files: ``loose-`` where they belong to a
    plugin, which a server run without plugins (``--initialize``) does not know."""
    semi_sync_source_status: str = ""
    """Status variable: ON while the primary waits for acknowledgements, OFF after a fallback."""
    semi_sync_replica_status: str = ""
    """Status variable: ON while the replica acknowledges."""
    semi_sync_source_unacknowledged: str = ""
    """Status variable: commits that returned without a replica's acknowledgement (semi-sync
    on, but fallen back after a timeout)."""
    # Switchover and failover: GTID statements; empty on an engine positioned by file and offset.
    sql_read_only: str = ""
    """Makes the server read-only for clients (a demoted primary)."""
    sql_writable: str = ""
    """Makes the server writable (a promoted replica)."""
    sql_gtid_executed: str = ""
    """One value: every transaction this server has (its GTID history)."""
    sql_wait_for_gtids: str = ""
    """Waits until ``@GTID@`` is applied, at most ``@SECONDS@``; returns 0 once it is."""
    sql_gtid_subset: str = ""
    """Returns 1 when ``@SUBSET@`` is contained in ``@SET@``. '' for engines whose GTID
    positions (domain-server-sequence) the scripts compare per domain."""
    sql_adopt_position: str = ""
    """Run before ``sql_change_source`` when a pod re-points: makes the replica's position
    this server's own history (a demoted primary has none as a replica)."""
    # Backups and point-in-time restore (MySQLBackup, ReplicatedMySQL(restore_from=...)).
    binlog_tool: str = ""
    """Reads binary log files as SQL for a point-in-time replay; '' where backups are not offered."""
    binlog_skip_applied_option: str = ""
    """``binlog_tool`` option that leaves out the transactions of ``@GTID@`` (the backup's own)."""
    binlog_gtid_header: str = ""
    """How ``binlog_tool`` prints the GTID set that precedes a file's first transaction:
    ``previous-gtids`` (MySQL: a ``Previous-GTIDs`` line, the set on the next) or
    ``gtid-list`` (MariaDB: ``Gtid list [...]``)."""
    sql_restore_gtid_state: str = ""
    """Run on a restored server before the replay: gives its (empty) binary log the backup's
    GTID state ``@GTID@``. '' where the data carries it (MySQL keeps ``gtid_executed`` in a table)."""
    binlog_expiry_setting: str = "binlog_expire_logs_seconds"
    """Server setting that purges binary logs older than this many seconds."""
    default_binlog_expiry_seconds: int = 0
    """The server's default for ``binlog_expiry_setting``; 0 keeps binary logs forever."""

    def __post_init__(self) -> None:
        if not self.sql_change_source.startswith(self.sql_change_source_prefix + " "):
            raise ValueError(f"sql_change_source must start with sql_change_source_prefix "
                             f"{self.sql_change_source_prefix!r}, got {self.sql_change_source!r}")
        if self.clone_method not in CLONE_METHODS:
            raise ValueError(f"clone_method must be one of {', '.join(CLONE_METHODS)}, got {self.clone_method!r}")
        tools = ["server_image", "tools_image", "server", "client", "admin"]
        if self.clone_method == "backup-stream":
            if self.transport not in TRANSPORTS:
                raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}")
            tools += ["backup", "stream_extractor"]
        elif self.backup or self.stream_extractor or self.transport:
            raise ValueError("backup, stream_extractor and transport belong to backup-stream engines only")
        for prop in tools:
            value = getattr(self, prop)
            if not isinstance(value, str) or not value or any(c.isspace() for c in value):
                raise ValueError(f"{prop} must be a non-empty name without spaces, got {value!r}")
        object.__setattr__(self, "server_settings", _frozen(self.server_settings))
        object.__setattr__(self, "replica_settings", _frozen(self.replica_settings))
        object.__setattr__(self, "tls_server_settings", _frozen(self.tls_server_settings))
        object.__setattr__(self, "client_tls_options", _frozen(self.client_tls_options))
        object.__setattr__(self, "semi_sync_settings", _frozen(self.semi_sync_settings))
        if self.clone_host not in ("%", "localhost"):
            raise ValueError(f"clone_host must be '%' or 'localhost', got {self.clone_host!r}")

    @property
    def socket(self) -> str:
        """The server's Unix socket, in ``socket_dir`` (the name both official images use)."""
        return f"{self.socket_dir}/mysqld.sock"

    @property
    def authenticates_clone_streams(self) -> bool:
        """True when no clone stream exists (CLONE plugin: the server port and its TLS) or its
        transport can demand a client certificate."""
        return not self.serves_backup_streams or self.transport in TLS_TRANSPORTS

    @property
    def supports_semi_sync(self) -> bool:
        """True when the library can turn semi-synchronous replication on for this engine."""
        return bool(self.semi_sync_source_enabled and self.semi_sync_replica_enabled and self.semi_sync_timeout)

    @property
    def supports_switchover(self) -> bool:
        """True when any pod can become the primary (GTID positioning on every pod)."""
        return bool(self.sql_gtid_executed and self.sql_wait_for_gtids and self.sql_read_only
                    and self.sql_writable and self.status_source_host)

    def semi_sync_config(self, *, acknowledgements: int, timeout_ms: int) -> dict[str, str]:
        """``[mysqld]`` settings that turn semi-sync on for both roles: any pod may be the
        primary, so every pod acknowledges as a replica and waits as a primary."""
        if not self.supports_semi_sync:
            raise ValueError(f"engine {self.name} has no semi-synchronous replication in this library")
        settings = {self.semi_sync_source_enabled: "ON", self.semi_sync_replica_enabled: "ON",
                    self.semi_sync_timeout: str(timeout_ms)}
        if self.semi_sync_wait_count:
            settings[self.semi_sync_wait_count] = str(acknowledgements)
        elif acknowledgements != 1:
            raise ValueError(f"engine {self.name} waits for exactly one acknowledgement (it has no setting "
                             f"for more), got semi_sync_acknowledgements={acknowledgements}")
        return {f"{self.semi_sync_option_prefix}{key}": value
                for key, value in {**settings, **self.semi_sync_settings}.items()}

    @property
    def supports_backups(self) -> bool:
        """True when MySQLBackup can back this engine up and replay its binary logs to a
        point in time: GTIDs on every pod (a backup of any replica knows where the
        primary's binary logs continue) and a binary log reader."""
        return self.supports_switchover and bool(self.binlog_tool and self.binlog_skip_applied_option
                                                 and self.binlog_gtid_header)

    @property
    def serves_backup_streams(self) -> bool:
        """True when each pod's sidecar serves hot backups on ``CLONE_PORT``."""
        return self.clone_method == "backup-stream"

    def script_environment(self) -> dict[str, str]:
        """The variables through which ``sidecars/*.sh`` receive this engine's data."""
        return {
            "MYSQL_HA_SERVER": self.server,
            "MYSQL_HA_INITIALIZE": self.initialize,
            "MYSQL_HA_SOCKET": self.socket,
            "MYSQL_HA_ADMIN_GRANTS": self.admin_grants,
            "MYSQL_HA_STATUS_GRANTS": self.status_grants,
            "MYSQL_HA_CLONE_GRANTS": self.clone_grants,
            "MYSQL_HA_CLONE_HOST": self.clone_host,
            "MYSQL_HA_BACKUP_GRANTS": self.backup_grants,
            "MYSQL_HA_SQL_BOOTSTRAP_BEGIN": self.sql_bootstrap_begin,
            "MYSQL_HA_SQL_BOOTSTRAP_END": self.sql_bootstrap_end,
            "MYSQL_HA_CLIENT": self.client,
            "MYSQL_HA_CLONE_METHOD": self.clone_method,
            "MYSQL_HA_BACKUP": self.backup,
            "MYSQL_HA_STREAM_EXTRACTOR": self.stream_extractor,
            "MYSQL_HA_TRANSPORT": self.transport,
            "MYSQL_HA_MAX_REPLICATION_PASSWORD_LENGTH": str(self.max_replication_password_length),
            "MYSQL_HA_SKIP_REPLICA_START_OPTION": self.skip_replica_start_option,
            "MYSQL_HA_SQL_SET_POSITION": self.sql_set_position,
            "MYSQL_HA_SQL_CHANGE_SOURCE": self.sql_change_source,
            "MYSQL_HA_SQL_START_REPLICA": self.sql_start_replica,
            "MYSQL_HA_SQL_STOP_REPLICA": self.sql_stop_replica,
            "MYSQL_HA_SQL_RESET_REPLICA": self.sql_reset_replica,
            "MYSQL_HA_SQL_REPLICA_STATUS": self.sql_replica_status,
            "MYSQL_HA_STATUS_IO_RUNNING": self.status_io_running,
            "MYSQL_HA_STATUS_SQL_RUNNING": self.status_sql_running,
            "MYSQL_HA_STATUS_LAG_SECONDS": self.status_lag_seconds,
            "MYSQL_HA_STATUS_SOURCE_HOST": self.status_source_host,
            "MYSQL_HA_STATUS_RECEIVED_GTIDS": self.status_received_gtids,
            "MYSQL_HA_SEMI_SYNC_SOURCE_STATUS": self.semi_sync_source_status,
            "MYSQL_HA_SEMI_SYNC_REPLICA_STATUS": self.semi_sync_replica_status,
            "MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED": self.semi_sync_source_enabled,
            "MYSQL_HA_SQL_READ_ONLY": self.sql_read_only,
            "MYSQL_HA_SQL_WRITABLE": self.sql_writable,
            "MYSQL_HA_SQL_GTID_EXECUTED": self.sql_gtid_executed,
            "MYSQL_HA_SQL_WAIT_FOR_GTIDS": self.sql_wait_for_gtids,
            "MYSQL_HA_SQL_GTID_SUBSET": self.sql_gtid_subset,
            "MYSQL_HA_SQL_ADOPT_POSITION": self.sql_adopt_position,
            "MYSQL_HA_BINLOG_TOOL": self.binlog_tool,
            "MYSQL_HA_BINLOG_SKIP_APPLIED_OPTION": self.binlog_skip_applied_option,
            "MYSQL_HA_BINLOG_GTID_HEADER": self.binlog_gtid_header,
            "MYSQL_HA_SQL_RESTORE_GTID_STATE": self.sql_restore_gtid_state,
        }


_MYSQL_REPLICA_SOURCE_DIALECT = dict(
    skip_replica_start_option="skip-replica-start",
    sql_set_position="",
    # GTID auto-positioning: the clone's GTID set tells the primary where to start. 8.0.27+
    # retries a lost source only 10 times (SOURCE_RETRY_COUNT); 86400 tries 10 s apart, the
    # old default, outlast any real outage, and the sidecar restarts a receiver that gave up.
    sql_change_source=(
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST='@HOST@', SOURCE_PORT=@PORT@, "
        "SOURCE_USER='@USER@', SOURCE_PASSWORD='@PASSWORD@', SOURCE_AUTO_POSITION=1, "
        "SOURCE_CONNECT_RETRY=10, SOURCE_RETRY_COUNT=86400, GET_SOURCE_PUBLIC_KEY=1"
    ),
    sql_start_replica="START REPLICA",
    sql_stop_replica="STOP REPLICA",
    sql_reset_replica="RESET REPLICA ALL",
    sql_replica_status="SHOW REPLICA STATUS",
    status_io_running="Replica_IO_Running",
    status_sql_running="Replica_SQL_Running",
    status_lag_seconds="Seconds_Behind_Source",
    sql_source_tls="SOURCE_SSL=1, SOURCE_SSL_CA='@CA@', SOURCE_SSL_VERIFY_SERVER_CERT=1",
    sql_change_source_prefix="CHANGE REPLICATION SOURCE TO",
    status_tls_allowed="Source_SSL_Allowed",
    sql_reload_tls="ALTER INSTANCE RELOAD TLS",
    # VERIFY_CA: the chain is checked; 127.0.0.1 is not among the certificate's names.
    client_tls_options={"ssl-mode": "VERIFY_CA", "ssl-ca": "@CA@"},
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
    sql_wait_for_gtids="SELECT WAIT_FOR_EXECUTED_GTID_SET('@GTID@', @SECONDS@)",
    sql_gtid_subset="SELECT GTID_SUBSET('@SUBSET@', '@SET@')",
    sql_adopt_position="",
    binlog_tool="mysqlbinlog",
    binlog_skip_applied_option="--exclude-gtids=@GTID@",
    binlog_gtid_header="previous-gtids",
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
    sql_source_tls="MASTER_SSL=1, MASTER_SSL_CA='@CA@', MASTER_SSL_VERIFY_SERVER_CERT=1",
    sql_change_source_prefix="CHANGE MASTER TO",
    status_tls_allowed="Master_SSL_Allowed",
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
    # ALTER INSTANCE RELOAD TLS and, at a demotion, KILL of client sessions.
    admin_grants="SYSTEM_VARIABLES_ADMIN, REPLICATION_SLAVE_ADMIN, REPLICATION CLIENT, RELOAD, CONNECTION_ADMIN",
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
        # Semi-sync's plugins are loaded on every pod; the settings decide whether they act.
        "plugin-load-add": "mysql_clone.so;" + _MYSQL_REPLICA_SOURCE_DIALECT["semi_sync_plugins"],
    },
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
    # 5.7 has no dynamic privileges: SUPER is what sets read_only and runs CHANGE MASTER.
    admin_grants="SUPER, REPLICATION CLIENT, RELOAD",
    status_grants="REPLICATION CLIENT",
    # XtraBackup 2.4 on the donor, over the socket (--slave-info reads SHOW SLAVE STATUS).
    clone_grants="RELOAD, PROCESS, LOCK TABLES, REPLICATION CLIENT",
    clone_host="localhost",
    **_SUPER_READ_ONLY_BOOTSTRAP,
    # 5.7 keeps the replica's positions in files unless told otherwise: a crash between a
    # commit and the file's update replays or skips transactions. 8.0 made TABLE the default
    # and 8.4 removed both options.
    server_settings={"master_info_repository": "TABLE", "relay_log_info_repository": "TABLE"},
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
    client_tls_options={"ssl-mode": "VERIFY_CA", "ssl-ca": "@CA@"},
    status_received_gtids="Retrieved_Gtid_Set",
    # No GTID positioning here (nor semi-sync): the primary stays ordinal 0.
)

MARIADB_11_4 = Engine(
    name="mariadb-11.4",
    server_image="mariadb:11.4",
    tools_image="mariadb:11.4",
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
    read_only_option="read-only",
    # MariaDB splits SUPER: READ_ONLY ADMIN for read_only, REPLICATION MASTER ADMIN and
    # REPLICATION SLAVE ADMIN for the semi-sync variables, gtid_slave_pos, CHANGE MASTER and
    # START/STOP SLAVE, SLAVE MONITOR for SHOW SLAVE STATUS, RELOAD for FLUSH LOCAL SSL and
    # FLUSH LOCAL BINARY LOGS, CONNECTION ADMIN for KILL.
    admin_grants=("READ_ONLY ADMIN, REPLICATION MASTER ADMIN, REPLICATION SLAVE ADMIN, SLAVE MONITOR, "
                  "BINLOG MONITOR, RELOAD, CONNECTION ADMIN"),
    status_grants="SLAVE MONITOR, BINLOG MONITOR",
    # mariadb-backup on the donor, over the socket (--slave-info reads SHOW SLAVE STATUS).
    clone_grants="RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SLAVE MONITOR",
    clone_host="localhost",
    # read_only does not stop the init file (it runs with every privilege).
    sql_bootstrap_begin="SET SESSION sql_log_bin = 0",
    # Replicas write what they apply to their own binary log with the primary's GTIDs, so
    # any pod can serve a clone or become the primary; strict mode refuses a transaction
    # that would make a pod's GTID history diverge.
    server_settings={"log_slave_updates": "ON", "gtid_strict_mode": "ON"},
    skip_replica_start_option="skip-slave-start",
    sql_set_position="SET GLOBAL gtid_slave_pos = '@GTID@'",
    sql_change_source=(
        "CHANGE MASTER TO MASTER_HOST='@HOST@', MASTER_PORT=@PORT@, MASTER_USER='@USER@', "
        "MASTER_PASSWORD='@PASSWORD@', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=10"
    ),
    **_MASTER_SLAVE_STATEMENTS,
    # LOCAL: a plain FLUSH is binary-logged; on a replica that gives the replica a GTID of
    # its own, which strict GTID mode then refuses to reconcile with the primary's.
    sql_reload_tls="FLUSH LOCAL SSL",
    # MariaDB has no VERIFY_CA mode: its server-certificate check includes the host name,
    # which 127.0.0.1 does not match; the pod's loopback is encrypted without that check.
    client_tls_options={"ssl": "ON", "ssl-verify-server-cert": "OFF"},
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
    sql_wait_for_gtids="SELECT MASTER_GTID_WAIT('@GTID@', @SECONDS@)",
    sql_gtid_subset="",
    # gtid_current_pos is this server's own history, whether it replicated or took writes.
    sql_adopt_position="SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos",
    binlog_tool="mariadb-binlog",
    # A GTID position as the start (10.8+): transactions up to it in each domain are skipped.
    binlog_skip_applied_option="--start-position=@GTID@",
    binlog_gtid_header="gtid-list",
    # A restored server's binary log starts empty: without this its next GTID would restart
    # the sequence below the backup's.
    sql_restore_gtid_state=(
        "RESET MASTER; SET GLOBAL gtid_binlog_state = '@GTID@'; SET GLOBAL gtid_slave_pos = '@GTID@'"
    ),
    default_binlog_expiry_seconds=0,
)

ENGINES: dict[str, Engine] = {e.name: e for e in (MYSQL_8_4, MYSQL_9_7, MYSQL_5_7, MARIADB_11_4)}
"""Every supported engine by name; ``MYSQL_8_4`` is the default everywhere."""


def engine_by_name(name: str) -> Engine:
    """The engine called ``name``; raises ``ValueError`` naming the allowed ones."""
    try:
        return ENGINES[name]
    except KeyError:
        allowed = ", ".join(sorted(ENGINES))
        raise ValueError(f"engine must be one of {allowed}, got {name!r}") from None
