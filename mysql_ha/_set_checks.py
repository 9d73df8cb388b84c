"""The checks of ReplicatedMySQL's inputs that concern more than one prop: the constructs it
is made of, the pods against the storage, the spread against the nodes, metrics against the
Secret."""

from __future__ import annotations

from . import _validation as check
from .backup_target import RestoreFrom
from .local_storage import LocalStorage
from .mysql_config import MySQLConfig
from .read_write_services import ReadWriteServices

SPREADS = ("soft", "hard", "none")


def parts(config: MySQLConfig, storage: LocalStorage, services: ReadWriteServices,
                 restore_from: RestoreFrom | None) -> None:
    """The constructs a set is made of are ours, and the restore is one the engine offers."""
    if restore_from is not None and not isinstance(restore_from, RestoreFrom):
        raise ValueError(f"restore_from must be a RestoreFrom(target, backup=..., point_in_time=...), "
                         f"got {restore_from!r}")
    if restore_from is not None and not config.engine.supports_backups:
        raise ValueError(f"restore_from is not offered for engine {config.engine.name}: point-in-time restore "
                         "replays binary logs by GTID; choose MySQL 8.4/9.7 or MariaDB")
    for prop, value, kind in (
        ("config", config, MySQLConfig),
        ("storage", storage, LocalStorage),
        ("services", services, ReadWriteServices),
    ):
        if not isinstance(value, kind):
            raise ValueError(f"{prop} must be a {kind.__name__} construct, got {value!r}")


def replicas(storage: LocalStorage, replicas: int, storage_request: str) -> int:
    """The number of pods, and the claim size, checked against the storage."""
    limit = storage.max_replicas
    if limit is None:
        replicas = check.int_range("replicas", replicas, 1, 100)
    else:
        replicas = check.int_range(
            "replicas", replicas, 1, limit, f"one local PersistentVolume per replica, {limit} defined"
        )
    request_bytes = check.quantity("storage_request", storage_request)
    if storage.capacity_bytes is not None and request_bytes > storage.capacity_bytes:
        raise ValueError(
            f"storage_request must fit in one local PersistentVolume of {storage.capacity}, "
            f"got {storage_request!r}"
        )
    return replicas


def spread(spread: str, storage: LocalStorage, replicas: int) -> None:
    check.one_of("spread", spread, SPREADS)
    if spread == "hard" and storage.nodes and len(set(storage.nodes)) < replicas:
        raise ValueError(
            f"spread='hard' puts each of the {replicas} pods on its own node, but the local "
            f"PersistentVolumes sit on {len(set(storage.nodes))} node(s) ({', '.join(storage.nodes)}); "
            "list more nodes in LocalStorage(nodes=...), use dynamic storage, or spread='soft'"
        )


def metrics(metrics: bool, config: MySQLConfig) -> None:
    if not isinstance(metrics, bool):
        raise ValueError(f"metrics must be True or False, got {metrics!r}")
    if metrics and config.credentials.creates_secret and config.credentials.metrics_password is None:
        raise ValueError(
            "metrics=True needs the exporter's password in the Secret: pass metrics_password to "
            "MySQLCredentials.from_passwords(...), got none (the pods would wait for a missing "
            f"{config.credentials.metrics_password_key!r} key)"
        )
