"""MySQLConfig: server configuration, pod scripts and credentials."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _validation as check
from ._k8s import annotate_sync_waves
from .credentials import MySQLCredentials
from .engines import MYSQL_8_4, Engine

SCRIPTS_DIR = Path(__file__).resolve().parent / "sidecars"
"""The pod scripts: ``sidecars/`` at the top of a source checkout, inside the installed package."""

# Settings that the library itself owns: overriding one would break replication.
_OWNED_SETTINGS = {
    "server_id": "it is derived from the pod ordinal (server_id_base + ordinal)",
    "read_only": "replicas are made read-only by the library and the primary must stay writable",
    "super_read_only": "replicas are made read-only by the library and the primary must stay writable",
    "log_bin": "binary logging (log-bin=mysql-bin) is what replicas and clones read",
    "skip_log_bin": "replicas and clones need the binary log",
    "disable_log_bin": "replicas and clones need the binary log",
    "skip_slave_start": "the sidecar decides when replication starts",
    "skip_replica_start": "the sidecar decides when replication starts",
    "gtid_mode": "replicas are positioned by the library; a mismatch between pods breaks replication",
    "port": "the Services and probes use port 3306",
    "datadir": "the data directory is the PersistentVolumeClaim mounted at /var/lib/mysql",
    "socket": "the probes and scripts use the image's socket and 127.0.0.1",
    "bind_address": "replicas and the Services reach the server on the pod IP",
}
_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class MySQLConfig(Construct):
    """The ConfigMaps and the Secret that every pod of the set mounts.

    Creates a ConfigMap ``{name}`` with ``primary.cnf`` and ``replica.cnf`` (ordinal 0
    gets the first, all others the second), a ConfigMap ``{name}-scripts`` with the pod
    scripts from ``sidecars/``, a ConfigMap ``{name}-env`` with the engine's tool names
    and SQL dialect for those scripts, and, for ``MySQLCredentials.from_passwords``, the
    Secret.

    :param credentials: where the root and replication passwords come from (required:
        there is no safe default password).
    :param engine: database engine. Defaults to MySQL 8.4 LTS.
    :param name: name of the ConfigMap; the others are derived from it. Defaults to ``mysql``.
    :param server_settings: extra ``[mysqld]`` settings for every pod, e.g.
        ``{"max_connections": "500"}``. Defaults to none. Settings the library owns
        (server_id, read_only, log_bin, ...) are refused.
    :param primary_settings: extra settings for ordinal 0 only. Defaults to none.
    :param replica_settings: extra settings for the replicas only. Defaults to none.
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
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(credentials, MySQLCredentials):
            raise ValueError(
                "credentials must be MySQLCredentials.from_existing_secret(...) or "
                f"MySQLCredentials.from_passwords(...), got {credentials!r}"
            )
        if not isinstance(engine, Engine):
            raise ValueError(f"engine must be an Engine such as MYSQL_8_4, MYSQL_5_7 or MARIADB_11_4, got {engine!r}")
        self.engine = engine
        self.credentials = credentials
        self.name = check.dns_subdomain("name", name)
        common = _settings("server_settings", server_settings)
        primary = _settings("primary_settings", primary_settings)
        replica = _settings("replica_settings", replica_settings)

        self.config_map = k8s.KubeConfigMap(
            self,
            "ConfigMap",
            metadata=k8s.ObjectMeta(name=self.name),
            data={
                "primary.cnf": _cnf(
                    "Ordinal 0, the primary: binary log flushed at every commit so an acknowledged "
                    "write survives a crash and reaches the replicas.",
                    {"log-bin": "mysql-bin", "sync_binlog": "1", "innodb_flush_log_at_trx_commit": "1"},
                    common,
                    primary,
                ),
                "replica.cnf": _cnf(
                    "Ordinals 1 and up, the replicas: read-only for clients, crash-safe relay log.",
                    {"log-bin": "mysql-bin", engine.read_only_option: "1", "relay_log_recovery": "ON"},
                    common,
                    replica,
                ),
            },
        )
        self.scripts_config_map = k8s.KubeConfigMap(
            self,
            "Scripts",
            metadata=k8s.ObjectMeta(name=f"{self.name}-scripts"),
            data={path.name: path.read_text() for path in sorted(SCRIPTS_DIR.glob("*.sh"))},
        )
        self.env_config_map = k8s.KubeConfigMap(
            self,
            "Environment",
            metadata=k8s.ObjectMeta(name=f"{self.name}-env"),
            data={**engine.script_environment(), "MYSQL_HA_REPLICATION_USER": credentials.replication_user},
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
                    **(
                        {credentials.metrics_password_key: credentials.metrics_password}
                        if credentials.metrics_password is not None
                        else {}
                    ),
                },
            )
        annotate_sync_waves(self)


def _settings(prop: str, settings: Mapping[str, str | int] | None) -> dict[str, str]:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ValueError(f"{prop} must be a mapping of setting name to value, got {settings!r}")
    result = {}
    for key, value in settings.items():
        if not isinstance(key, str) or not _SETTING_NAME.match(key):
            raise ValueError(f"{prop}: setting names are lower-case letters, digits, '_' and '-', got {key!r}")
        owned = _OWNED_SETTINGS.get(key.replace("-", "_"))
        if owned:
            raise ValueError(f"{prop} must not set {key!r}: {owned}")
        if isinstance(value, bool) or not isinstance(value, (str, int)) or "\n" in str(value) or str(value) == "":
            raise ValueError(f"{prop}[{key!r}] must be a non-empty string or integer on one line, got {value!r}")
        result[key] = str(value)
    return result


def _cnf(comment: str, owned: Mapping[str, str], *extra: Mapping[str, str]) -> str:
    lines = [f"# {comment}", "[mysqld]"]
    lines += [f"{key}={value}" for key, value in owned.items()]
    for settings in extra:
        lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"
