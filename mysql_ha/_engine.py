"""``Engine``: what the library needs to know of a database engine, and the checks that a
row of the engine table (``engines.py``) is whole. The rows themselves, every difference
between the engines, live in ``engines.py``."""

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
BINLOG_REPLAYS = ("applier", "client")
"""How a point-in-time restore replays binary logs (``sidecars/restore.sh`` knows both)."""
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
    upgrade: str = ""
    """Upgrades the system tables of a data directory that an older server version last ran,
    against a temporary server on its socket (``init-config.sh`` adds ``--socket`` and
    ``--user``); '' where the server upgrades its own at start and refuses a downgrade itself
    (MySQL 8.0.16 and later)."""
    upgrade_info_files: str = ""
    """Files of the data directory, space-separated, that hold the version of its system
    tables: where ``upgrade`` (or the initialization) recorded it, or a clone's backup
    information (its ``server_version = `` line, the donor's); the first that exists counts."""
    read_only_option: str
    """Server option that keeps a server read-only for everyone but replication: every server
    starts with it, and the replication sidecar makes the declared primary writable."""
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
    sql_root_obeys_read_only: str = ""
    """Run in the init file after root's password: takes from ``root@localhost`` what lets it
    write on a read-only server ('' where the read-only the library sets stops root already,
    as MySQL's ``super_read_only`` does)."""
    sql_stop_feeding: str = ""
    """Run on a stopping server once its replicas have everything: ends the threads that feed
    them and refuses new ones, so that its shutdown does not wait for them ('' where the
    shutdown does not wait)."""
    sql_feeds_sending: str = ""
    """Counts the threads that feed a replica and have not sent everything yet."""
    sql_feeds: str = ""
    """Counts the threads that feed a replica."""
    sql_read_only_exempt: str = ""
    """Lists the accounts (``'user'@'host'``, one a row) that the engine's read-only does not
    stop; the sidecar warns of them at a demotion ('' where it stops every account)."""
    skip_replica_start_option: str
    """Server option that keeps replication stopped at start-up (every start: the replication
    sidecar starts it)."""
    server_settings: Mapping[str, str] = field(default_factory=dict)
    """``[mysqld]`` settings this engine needs on every pod, owned by the library."""
    replica_settings: Mapping[str, str] = field(default_factory=dict)
    """``[mysqld]`` settings this engine needs on the replicas, owned by the library."""
    server_defaults: Mapping[str, str] = field(default_factory=dict)
    """``[mysqld]`` settings written on every pod unless the user's settings name them."""
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
    status_tls_cert: str
    """Column of the replica status naming the client certificate the replica presents."""
    sql_reload_tls: str
    """Statement that makes a running server read a renewed certificate ('' when the engine
    cannot: a restart of the server container is then needed)."""
    client_tls_options: Mapping[str, str] = field(default_factory=dict)
    """Client option-file settings of the set's own network logins (the sidecars' checks of
    the other pods, ``status.sh``, the backup Job) with TLS on: encrypted, the server checked
    against the set's CA, and the pod's certificate presented (the network accounts
    ``REQUIRE X509``)."""
    client_plain_options: Mapping[str, str] = field(default_factory=dict)
    """The same logins' settings with TLS off: nothing that would send a password to a key or
    certificate no one checked."""
    fast_auth_cache: bool = False
    """True where network accounts authenticate with ``caching_sha2_password``: without TLS, a
    login is a challenge-response against the server's cache of the account (no password
    crosses the network), and only a cache miss needs the password itself, over TLS or an RSA
    key. The server's probes fill the cache over the pod's loopback; the set's clients refuse
    the full exchange over the network (``client_plain_options``, ``GET_SOURCE_PUBLIC_KEY=0``)."""
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
    """Makes the server writable (the declared primary, once the sidecar has checked it)."""
    sql_gtid_executed: str = ""
    """One value: every transaction this server has (its GTID history)."""
    sql_binlog_position: str = ""
    """One row: the binary log being written and the end of its last complete transaction
    (its first two columns). The archive uploads that much of it (continuous archiving)."""
    sql_wait_for_gtids: str = ""
    """Waits until ``@GTID@`` is applied, at most ``@SECONDS@``; returns 0 once it is."""
    sql_gtid_subset: str = ""
    """Returns 1 when ``@SUBSET@`` is contained in ``@SET@``. '' for engines whose GTID
    positions (domain-server-sequence) the scripts compare per domain."""
    sql_adopt_position: str = ""
    """Run before ``sql_change_source`` when a pod re-points: makes the replica's position
    this server's own history (a demoted primary has none as a replica)."""
    # Backups and point-in-time restore (MySQLBackup, ReplicatedMySQL(restore_from=...)).
    binlog_replay: str = "client"
    """How a point-in-time restore replays the archived binary logs: ``client`` pipes
    ``binlog_tool``'s SQL into the client; ``applier`` makes them the relay log of a replication
    channel whose SQL thread applies them (MySQL 8.0+, whose official image has no
    ``mysqlbinlog``: the server itself reads them)."""
    binlog_tool: str = ""
    """Reads binary log files as SQL for a ``client`` replay; '' where the engine replays with
    the ``applier`` or backups are not offered."""
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
    """Server setting that purges binary logs older than this many seconds (or days, where it
    is ``expire_logs_days``)."""
    binlog_keep_option: str = "--binlog-expire-logs-auto-purge=OFF"
    """Server option (command line, after every option file) that turns the server's own
    expiry of binary logs off: the archiver decides what may go (``MySQLBackup``), and the
    servers that upgrade or check a copy keep every file."""
    default_binlog_expiry_seconds: int = 0
    """``binlog_expiry_setting`` where the configuration names no expiry (``MySQLConfig``
    writes it out, so that an image's own option files cannot change it); 0 keeps binary
    logs forever."""

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
        object.__setattr__(self, "server_defaults", _frozen(self.server_defaults))
        object.__setattr__(self, "replica_settings", _frozen(self.replica_settings))
        object.__setattr__(self, "tls_server_settings", _frozen(self.tls_server_settings))
        object.__setattr__(self, "client_tls_options", _frozen(self.client_tls_options))
        object.__setattr__(self, "client_plain_options", _frozen(self.client_plain_options))
        object.__setattr__(self, "semi_sync_settings", _frozen(self.semi_sync_settings))
        if self.binlog_replay not in BINLOG_REPLAYS:
            raise ValueError(f"binlog_replay must be one of {', '.join(BINLOG_REPLAYS)}, got {self.binlog_replay!r}")
        if bool(self.upgrade) != bool(self.upgrade_info_files.split()):
            raise ValueError(f"upgrade and upgrade_info_files go together (an upgrade records the version it "
                             f"reached), got upgrade={self.upgrade!r}, upgrade_info_files={self.upgrade_info_files!r}")
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
        if self.binlog_replay == "applier":
            return self.supports_switchover
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
            "MYSQL_HA_UPGRADE": self.upgrade,
            "MYSQL_HA_UPGRADE_INFO_FILES": self.upgrade_info_files,
            "MYSQL_HA_SOCKET": self.socket,
            "MYSQL_HA_ADMIN_GRANTS": self.admin_grants,
            "MYSQL_HA_STATUS_GRANTS": self.status_grants,
            "MYSQL_HA_CLONE_GRANTS": self.clone_grants,
            "MYSQL_HA_CLONE_HOST": self.clone_host,
            "MYSQL_HA_BACKUP_GRANTS": self.backup_grants,
            "MYSQL_HA_SQL_BOOTSTRAP_BEGIN": self.sql_bootstrap_begin,
            "MYSQL_HA_SQL_BOOTSTRAP_END": self.sql_bootstrap_end,
            "MYSQL_HA_SQL_ROOT_OBEYS_READ_ONLY": self.sql_root_obeys_read_only,
            "MYSQL_HA_SQL_READ_ONLY_EXEMPT": self.sql_read_only_exempt,
            "MYSQL_HA_CLIENT": self.client,
            "MYSQL_HA_ADMIN": self.admin,
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
            "MYSQL_HA_READ_ONLY_OPTION": self.read_only_option,
            "MYSQL_HA_STATUS_SOURCE_HOST": self.status_source_host,
            "MYSQL_HA_STATUS_RECEIVED_GTIDS": self.status_received_gtids,
            "MYSQL_HA_SEMI_SYNC_SOURCE_STATUS": self.semi_sync_source_status,
            "MYSQL_HA_SEMI_SYNC_REPLICA_STATUS": self.semi_sync_replica_status,
            "MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED": self.semi_sync_source_enabled,
            "MYSQL_HA_SQL_READ_ONLY": self.sql_read_only,
            "MYSQL_HA_SQL_STOP_FEEDING": self.sql_stop_feeding,
            "MYSQL_HA_SQL_FEEDS_SENDING": self.sql_feeds_sending,
            "MYSQL_HA_SQL_FEEDS": self.sql_feeds,
            "MYSQL_HA_SQL_WRITABLE": self.sql_writable,
            "MYSQL_HA_SQL_GTID_EXECUTED": self.sql_gtid_executed,
            "MYSQL_HA_SQL_BINLOG_POSITION": self.sql_binlog_position,
            "MYSQL_HA_SQL_WAIT_FOR_GTIDS": self.sql_wait_for_gtids,
            "MYSQL_HA_SQL_GTID_SUBSET": self.sql_gtid_subset,
            "MYSQL_HA_SQL_ADOPT_POSITION": self.sql_adopt_position,
            "MYSQL_HA_BINLOG_REPLAY": self.binlog_replay,
            "MYSQL_HA_BINLOG_TOOL": self.binlog_tool,
            "MYSQL_HA_BINLOG_SKIP_APPLIED_OPTION": self.binlog_skip_applied_option,
            "MYSQL_HA_BINLOG_GTID_HEADER": self.binlog_gtid_header,
            "MYSQL_HA_SQL_RESTORE_GTID_STATE": self.sql_restore_gtid_state,
            "MYSQL_HA_BINLOG_KEEP_OPTION": self.binlog_keep_option,
        }
