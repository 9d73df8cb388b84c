"""MySQLConfig: server configuration, pod scripts and credentials."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _validation as check
from ._k8s import annotate_sync_waves
from .credentials import ADMIN_USER, BACKUP_USER, STATUS_USER, MySQLCredentials
from .engines import MYSQL_8_4, TLS_TRANSPORTS, Engine
from .tls import TLS_DIR, MySQLTLS, tls_paths

SCRIPTS_DIR = Path(__file__).resolve().parent / "sidecars"
"""The pod scripts: ``sidecars/`` at the top of a source checkout, inside the installed package."""

CONTENT_HASH_LENGTH = 10
"""Hex digits of the content hash in the names of MySQLConfig's ConfigMaps."""
PRUNE_LAST = {"argocd.argoproj.io/sync-options": "PruneLast=true"}
"""A content-named ConfigMap of an earlier version is pruned after the rollout: pods of that
version may still restart a container that reads it."""

# Settings that the library itself owns: overriding one would break replication.
_OWNED_SETTINGS = {
    "server_id": "it is derived from the pod ordinal (server_id_base + ordinal)",
    "skip_name_resolve": "accounts name hosts by address, and root and the sidecar's account the socket alone",
    "init_file": "the pod's accounts are set from it at every start",
    "read_only": "every server starts read-only and the replication sidecar makes the declared primary writable",
    "super_read_only": "every server starts read-only and the replication sidecar makes the declared primary writable",
    "log_bin": "binary logging (log-bin=mysql-bin) is what replicas and clones read",
    "skip_log_bin": "replicas and clones need the binary log",
    "disable_log_bin": "replicas and clones need the binary log",
    "skip_slave_start": "every server starts with replication stopped and the sidecar starts it",
    "skip_replica_start": "every server starts with replication stopped and the sidecar starts it",
    "gtid_mode": "replicas are positioned by the library; a mismatch between pods breaks replication",
    "enforce_gtid_consistency": "GTID replication needs it on every pod",
    "gtid_strict_mode": "it keeps the pods' GTID histories from diverging",
    "log_slave_updates": "every pod keeps the primary's transactions in its own binary log",
    "log_replica_updates": "every pod keeps the primary's transactions in its own binary log",
    "master_info_repository": "crash-safe replication keeps its positions in tables",
    "relay_log_info_repository": "crash-safe replication keeps its positions in tables",
    "relay_log_recovery": "the engine sets it: off where a replica's relay log may hold the only copy of an "
                          "acknowledged commit (GTID positioning), on where a restarted receiver would "
                          "duplicate events (file and position)",
    "relay_log": "the relay log keeps one name, whatever the pod's hostname",
    "rpl_semi_sync_source_enabled": "ReplicatedMySQL(semi_sync=...) sets it on every pod",
    "rpl_semi_sync_replica_enabled": "ReplicatedMySQL(semi_sync=...) sets it on every pod",
    "rpl_semi_sync_source_timeout": "ReplicatedMySQL(semi_sync_timeout_seconds=...) sets it",
    "rpl_semi_sync_source_wait_for_replica_count": "ReplicatedMySQL(semi_sync_acknowledgements=...) sets it",
    "rpl_semi_sync_source_wait_point": "AFTER_SYNC keeps an unacknowledged commit invisible",
    "rpl_semi_sync_master_enabled": "ReplicatedMySQL(semi_sync=...) sets it on every pod",
    "rpl_semi_sync_slave_enabled": "ReplicatedMySQL(semi_sync=...) sets it on every pod",
    "rpl_semi_sync_master_timeout": "ReplicatedMySQL(semi_sync_timeout_seconds=...) sets it",
    "rpl_semi_sync_master_wait_point": "AFTER_SYNC keeps an unacknowledged commit invisible",
    "port": "the Services and probes use port 3306",
    "datadir": "the data directory is the PersistentVolumeClaim mounted at /var/lib/mysql",
    "socket": "the probes and scripts use the image's socket and 127.0.0.1",
    "bind_address": "replicas and the Services reach the server on the pod IP",
    "require_secure_transport": "it is the require_secure_transport prop (checked against tls)",
}
# Owned only with TLS on: the tls prop points them at the mounted certificate.
_TLS_OWNED_SETTINGS = ("ssl_ca", "ssl_cert", "ssl_key", "ssl_capath", "have_ssl", "ssl")
_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class MySQLConfig(Construct):
    """The ConfigMaps and the Secret that every pod of the set mounts.

    Creates a ConfigMap ``{name}-<hash>`` with ``primary.cnf`` and ``replica.cnf`` (a pod that
    starts as the declared primary gets the first, all others the second; whichever it gets,
    its server starts read-only with replication stopped, and the replication sidecar makes
    the declared primary writable), a ConfigMap
    ``{name}-scripts-<hash>`` with the pod scripts from ``sidecars/``, a ConfigMap
    ``{name}-env-<hash>`` with the engine's tool names and SQL dialect for those scripts, and,
    for ``MySQLCredentials.from_passwords``, the Secret.

    The three ConfigMaps are immutable and named by their content (``<hash>``: the first
    ``CONTENT_HASH_LENGTH`` hex digits of its SHA-256): a change of settings, scripts or
    environment is a new ConfigMap, so the pod template changes and the StatefulSet rolls
    the pods; a running pod keeps the settings, scripts and environment it was made with, all
    of one version (a kubelet would refresh a mounted ConfigMap in a running pod a minute or
    so after a change, while the environment taken from one stays as the container started).
    The older ConfigMaps stay until pruned; Argo CD prunes them last (``PruneLast=true``),
    after the pods that used them are gone.

    :param credentials: where the root and replication passwords come from (required:
        there is no safe default password).
    :param engine: database engine. Defaults to MySQL 8.4 LTS.
    :param name: the prefix of the ConfigMaps' names. Defaults to ``mysql``.
    :param server_settings: extra ``[mysqld]`` settings for every pod, e.g.
        ``{"max_connections": "500"}``. Defaults to none. Settings the library owns
        (server_id, read_only, log_bin, ...) are refused.
    :param primary_settings: extra settings for a pod that starts as the declared primary.
        Defaults to none. (A replica promoted at run time keeps its replica settings until
        it restarts.)
    :param replica_settings: extra settings for the replicas only. Defaults to none.
    :param tls: the certificate of the set (``MySQLTLS.from_cert_manager(...)`` or
        ``MySQLTLS.from_existing_secret(...)``): servers present it, replicas connect with
        TLS and check the primary's name, clone streams demand it from the receiving pod.
        Defaults to off (see the README for why).
    :param require_secure_transport: refuse client connections without TLS (the local
        socket stays open). Defaults to on when ``tls`` is given; needs ``tls``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        credentials: MySQLCredentials,
        engine: Engine = MYSQL_8_4,
        name: str = "mysql",
        server_settings: Mapping[str, str | int] | None = None,
        primary_settings: Mapping[str, str | int] | None = None,
        replica_settings: Mapping[str, str | int] | None = None,
        tls: MySQLTLS | None = None,
        require_secure_transport: bool | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(credentials, MySQLCredentials):
            raise ValueError(
                "credentials must be MySQLCredentials.from_existing_secret(...) or "
                f"MySQLCredentials.from_passwords(...), got {credentials!r}"
            )
        if not isinstance(engine, Engine):
            raise ValueError(
                f"engine must be an Engine such as MYSQL_8_4, MYSQL_9_7, MYSQL_5_7 or MARIADB_11_4, got {engine!r}"
            )
        _check_credentials_for(engine, credentials)
        self.tls, self.require_secure_transport = _check_tls(engine, tls, require_secure_transport)
        self.engine = engine
        self.credentials = credentials
        # Room for the "-scripts-<hash>" suffix of the longest derived name.
        self.name = check.dns_subdomain("name", name)
        longest = 253 - len(f"-scripts-{'0' * CONTENT_HASH_LENGTH}")
        if len(self.name) > longest:
            raise ValueError(f"name must be at most {longest} characters (ConfigMap "
                             f"'{{name}}-scripts-<hash>' is derived from it), got {len(self.name)}")
        # plugin-load-add adds to a list: the user's plugins load beside the engine's.
        owned = {key.replace("-", "_") for key in (*engine.server_settings, *engine.replica_settings)}
        owned.discard("plugin_load_add")
        if tls is not None:
            owned.update(_TLS_OWNED_SETTINGS)
        common = _settings("server_settings", server_settings, owned)
        primary = _settings("primary_settings", primary_settings, owned)
        replica = _settings("replica_settings", replica_settings, owned)
        # Binary log expiry is written out, the engine's default unless a setting names it: an
        # image's own configuration (mariadb:11.x's 50-server.cnf: expire_logs_days = 10) is
        # read before the pod's and cannot change it.
        expiry_keys = {engine.binlog_expiry_setting.replace("-", "_"), "expire_logs_days"}
        named = {key.replace("-", "_") for settings in (common, primary, replica) for key in settings}
        default = engine.default_binlog_expiry_seconds
        if engine.binlog_expiry_setting == "expire_logs_days":
            default //= 86400
        expiry = {} if named & expiry_keys else {engine.binlog_expiry_setting: str(default)}
        # What the declared primary runs with, as far as its binary logs go (MySQLBackup
        # checks their expiry against its schedule).
        self.binlog_settings = {**expiry, **common, **primary}

        tls_settings = {}
        tls_environment = {}
        if self.tls is not None:
            paths = {**tls_paths(), "REQUIRE": "ON" if self.require_secure_transport else "OFF"}
            tls_settings = {key: _fill(value, paths) for key, value in engine.tls_server_settings.items()}
            tls_environment = {
                "MYSQL_HA_TLS_DIR": TLS_DIR,
                "MYSQL_HA_SQL_SOURCE_TLS": _fill(engine.sql_source_tls, paths),
                "MYSQL_HA_SQL_SOURCE_TO_TLS": f"{engine.sql_change_source_prefix} {_fill(engine.sql_source_tls, paths)}",
                "MYSQL_HA_STATUS_TLS_ALLOWED": engine.status_tls_allowed,
                "MYSQL_HA_STATUS_TLS_CERT": engine.status_tls_cert,
                "MYSQL_HA_SQL_RELOAD_TLS": engine.sql_reload_tls,
                "MYSQL_HA_CLIENT_NETWORK_OPTIONS": "".join(
                    f"{key}={_fill(value, paths)}\n" for key, value in engine.client_tls_options.items()
                ),
            }
        else:
            # No password of the set crosses the network in a form a key no one checked
            # protects: challenge-response only (the servers' probes keep their caches filled).
            tls_environment = {
                "MYSQL_HA_CLIENT_NETWORK_OPTIONS": "".join(
                    f"{key}={value}\n" for key, value in engine.client_plain_options.items()),
                **({"MYSQL_HA_AUTH_CACHE": "1"} if engine.fast_auth_cache else {}),
            }
        # The engine's relay_log_recovery is in both files (any pod may turn replica). OFF
        # where replicas are positioned by GTID: with semi-sync, an acknowledged commit may
        # exist only in one replica's relay log, received but not yet applied, and ON would
        # discard it when that replica's server restarts (MOCO turns it off for this reason).
        # MySQL then keeps the relay log (its received GTID set is read back from it) and asks
        # its source only for what it lacks. MariaDB gains nothing from it: in GTID mode it
        # discards the relay log whenever replication starts with both threads stopped, as
        # after every restart (README, "Server restarts").
        defaults = {key: value for key, value in engine.server_defaults.items() if key.replace("-", "_") not in named}
        durable = {"log-bin": "mysql-bin", "relay-log": "mysql-relay-bin", "sync_binlog": "1",
                   "innodb_flush_log_at_trx_commit": "1", "skip_name_resolve": "ON", **expiry, **defaults}
        self.config_map = _content_named_config_map(
            self,
            "ConfigMap",
            self.name,
            {
                "primary.cnf": _cnf(
                    "The declared primary: binary log flushed at every commit so an acknowledged "
                    "write survives a crash and reaches the replicas. It starts read-only, as every "
                    "server does (init-config.sh), until the replication sidecar makes it writable.",
                    {**durable, **engine.server_settings, **tls_settings},
                    common,
                    primary,
                ),
                "replica.cnf": _cnf(
                    "The replicas: as durable as the primary, which any of them may become, and "
                    "their relay log kept across a restart.",
                    {**durable, **engine.server_settings, **engine.replica_settings, **tls_settings},
                    common,
                    replica,
                ),
            },
        )
        self.scripts_config_map = _content_named_config_map(
            self,
            "Scripts",
            f"{self.name}-scripts",
            {path.name: path.read_text() for path in sorted(SCRIPTS_DIR.glob("*.sh"))},
        )
        self.env_config_map = _content_named_config_map(
            self,
            "Environment",
            f"{self.name}-env",
            {
                **engine.script_environment(),
                "MYSQL_HA_REPLICATION_USER": credentials.replication_user,
                "MYSQL_HA_CLONE_USER": credentials.clone_user,
                "MYSQL_HA_ADMIN_USER": ADMIN_USER,
                "MYSQL_HA_STATUS_USER": STATUS_USER,
                "MYSQL_HA_BACKUP_USER": BACKUP_USER if engine.backup_grants else "",
                **tls_environment,
            },
        )
        self.secret: k8s.KubeSecret | None = None
        if credentials.creates_secret:
            self.secret = k8s.KubeSecret(
                self,
                "Credentials",
                metadata=k8s.ObjectMeta(name=credentials.secret_name),
                type="Opaque",
                string_data={
                    credentials.root_password_key: credentials.root_password,
                    credentials.replication_password_key: credentials.replication_password,
                    **{
                        key: password
                        for key, password in (
                            (credentials.admin_password_key, credentials.admin_password),
                            (credentials.status_password_key, credentials.status_password),
                            (credentials.clone_password_key, credentials.clone_password),
                            (credentials.metrics_password_key, credentials.metrics_password),
                            (credentials.backup_password_key, credentials.backup_password),
                        )
                        if password is not None
                    },
                },
            )
        annotate_sync_waves(self)


def _check_credentials_for(engine: Engine, credentials: MySQLCredentials) -> None:
    """What the engine asks of passwords given at synth time (a Secret that exists already is
    checked by the pods when they start)."""
    if not credentials.creates_secret:
        return
    limit = engine.max_replication_password_length
    if len(credentials.replication_password) > limit:
        raise ValueError(
            f"replication_password must be at most {limit} characters for engine {engine.name} "
            f"(its change-source statement refuses longer ones), got {len(credentials.replication_password)}"
        )


def _check_tls(engine: Engine, tls: object, require_secure_transport: object) -> tuple[MySQLTLS | None, bool]:
    if tls is not None and not isinstance(tls, MySQLTLS):
        raise ValueError(
            "tls must be MySQLTLS.from_cert_manager(issuer_name=...) or "
            f"MySQLTLS.from_existing_secret(secret_name, dns_names=[...]) (a certificate source), got {tls!r}"
        )
    if require_secure_transport is not None and not isinstance(require_secure_transport, bool):
        raise ValueError(f"require_secure_transport must be True, False or None (follows tls), "
                         f"got {require_secure_transport!r}")
    if tls is None:
        if require_secure_transport:
            raise ValueError(
                "require_secure_transport=True needs TLS: pass tls=MySQLTLS.from_cert_manager(...) or "
                "MySQLTLS.from_existing_secret(...), or leave require_secure_transport unset, got tls=None"
            )
        return None, False
    if not engine.authenticates_clone_streams:
        raise ValueError(
            f"tls with engine {engine.name}: its clone stream travels with {engine.transport}, which cannot "
            f"demand a client certificate, so the backup on port 3307 would stay open to anyone; use an "
            f"engine whose transport is one of {', '.join(TLS_TRANSPORTS)} (e.g. "
            f"dataclasses.replace({engine.name.upper().replace('-', '_').replace('.', '_')}, transport='socat', "
            "tools_image=<an image with socat>))"
        )
    return tls, True if require_secure_transport is None else require_secure_transport


def _fill(template: str, values: Mapping[str, str]) -> str:
    return re.sub(r"@([A-Z_]+)@", lambda m: values.get(m.group(1), m.group(0)), template)


def _settings(prop: str, settings: Mapping[str, str | int] | None, engine_owned: set[str]) -> dict[str, str]:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ValueError(f"{prop} must be a mapping of setting name to value, got {settings!r}")
    result = {}
    for key, value in settings.items():
        if not isinstance(key, str) or not _SETTING_NAME.match(key):
            raise ValueError(f"{prop}: setting names are lower-case letters, digits, '_' and '-', got {key!r}")
        owned = _OWNED_SETTINGS.get(key.replace("-", "_"))
        if owned is None and key.replace("-", "_") in _TLS_OWNED_SETTINGS and key.replace("-", "_") in engine_owned:
            owned = "the tls prop points it at the mounted certificate"
        elif owned is None and key.replace("-", "_") in engine_owned:
            owned = "the engine's replication depends on the value the library sets"
        if owned:
            raise ValueError(f"{prop} must not set {key!r}: {owned}")
        if isinstance(value, bool) or not isinstance(value, (str, int)) or "\n" in str(value) or str(value) == "":
            raise ValueError(f"{prop}[{key!r}] must be a non-empty string or integer on one line, got {value!r}")
        result[key] = str(value)
    return result


def content_hash(data: Mapping[str, str]) -> str:
    """The first ``CONTENT_HASH_LENGTH`` hex digits of the SHA-256 of ``data``."""
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()[:CONTENT_HASH_LENGTH]


def content_name(prefix: str, data: Mapping[str, str]) -> str:
    """``prefix-<hash>``: the name of the immutable ConfigMap that holds ``data``."""
    return f"{prefix}-{content_hash(data)}"


def _content_named_config_map(scope: Construct, id: str, prefix: str, data: dict[str, str]) -> k8s.KubeConfigMap:
    """An immutable ConfigMap named by its content (see ``MySQLConfig``)."""
    return k8s.KubeConfigMap(scope, id, metadata=k8s.ObjectMeta(name=content_name(prefix, data), annotations=PRUNE_LAST),
                             data=data, immutable=True)


def _cnf(comment: str, owned: Mapping[str, str], *extra: Mapping[str, str]) -> str:
    lines = [f"# {comment}", "[mysqld]"]
    lines += [f"{key}={value}" for key, value in owned.items()]
    for settings in extra:
        lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"
