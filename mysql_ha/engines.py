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
    root_password_file_env: str
    """Variable through which the server image's entrypoint reads the root password file."""
    read_only_option: str
    """Server option that keeps a replica read-only for everyone but replication."""
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

    @property
    def authenticates_clone_streams(self) -> bool:
        """True when no clone stream exists (CLONE plugin: the server port and its TLS) or its
        transport can demand a client certificate."""
        return not self.serves_backup_streams or self.transport in TLS_TRANSPORTS

    @property
    def serves_backup_streams(self) -> bool:
        """True when each pod's sidecar serves hot backups on ``CLONE_PORT``."""
        return self.clone_method == "backup-stream"

    def script_environment(self) -> dict[str, str]:
        """The variables through which ``sidecars/*.sh`` receive this engine's data."""
        return {
            "MYSQL_HA_SERVER": self.server,
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
)
"""The statements and status columns of MySQL 5.7 and MariaDB (MySQL 8.4 removed them)."""

_MYSQL_CLONE_PLUGIN = dict(
    server="mysqld",
    client="mysql",
    admin="mysqladmin",
    clone_method="clone-plugin",
    socket_dir="/var/run/mysqld",
    uid=999,
    root_password_file_env="MYSQL_ROOT_PASSWORD_FILE",
    read_only_option="super-read-only",
    server_settings={
        "gtid_mode": "ON",
        "enforce_gtid_consistency": "ON",
        "plugin-load-add": "mysql_clone.so",
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
    root_password_file_env="MYSQL_ROOT_PASSWORD_FILE",
    read_only_option="super-read-only",
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
    root_password_file_env="MARIADB_ROOT_PASSWORD_FILE",
    read_only_option="read-only",
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
