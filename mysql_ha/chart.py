"""MySQLHAChart: the whole cluster of the walkthrough, in one chart."""

from __future__ import annotations

import cdk8s
from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _validation as check
from ._k8s import annotate_sync_waves, cluster_scoped, order_by_sync_wave
from .credentials import MySQLCredentials
from .engines import MYSQL_8_4, Engine
from .backup_target import BackupTarget, RestoreFrom
from .local_storage import LocalStorage
from .mysql_backup import MySQLBackup
from .mysql_config import MySQLConfig
from .read_write_services import ReadWriteServices
from .replicated_mysql import ReplicatedMySQL
from .tls import MySQLTLS


class MySQLHAChart(cdk8s.Chart):
    """Namespace, storage, configuration, Services and the StatefulSet, with the
    walkthrough's defaults. Compose the constructs yourself for anything finer.

    Every object carries its Argo CD sync wave (``argocd.argoproj.io/sync-wave``: the
    Namespace and storage, then ConfigMaps, Services, identity and policy, then the
    StatefulSet), and the chart synthesizes its objects in that order.

    :param credentials: where the passwords come from (required).
    :param engine: defaults to MySQL 8.4 LTS.
    :param namespace: created by the chart; every namespaced object lands in it.
        Defaults to ``mysql``.
    :param replicas: pods, primary included. Defaults to 2.
    :param storage_class_name: an existing StorageClass with a provisioner for the PVCs
        (``LocalStorage(dynamic=True)``). Defaults to the walkthrough's StorageClass
        ``local-storage`` with three local PVs of 15Gi on ``node1``.
    :param metrics: adds the mysqld_exporter sidecar (the Secret then needs a
        ``metrics-password`` key). Defaults to off.
    :param metrics_namespace: the namespace whose Prometheus pods may scrape the exporter.
        Defaults to the chart's own ``namespace``.
    :param tls: the set's certificate, ``MySQLTLS.from_cert_manager(...)`` or
        ``MySQLTLS.from_existing_secret(...)``. Defaults to off.
    :param require_secure_transport: refuse clients without TLS. Defaults to on with ``tls``.
    :param primary_ordinal: the pod that takes writes; change and apply to switch over.
        Defaults to 0.
    :param semi_sync: semi-synchronous replication. Defaults to on when ``replicas`` >= 2
        (see ``ReplicatedMySQL``).
    :param semi_sync_timeout_seconds: see ``ReplicatedMySQL``. Defaults to 10.
    :param backup_target: adds ``MySQLBackup`` (daily backups, binary logs archived every
        30 s) to this target, ``BackupTarget.s3(...)`` or ``BackupTarget.volume_claim(...)``.
        Defaults to no backups.
    :param backup_schedule: cron expression of the backups. Defaults to ``0 3 * * *``.
    :param backup_keep: backups kept. Defaults to 7.
    :param restore_from: ``RestoreFrom(target, backup=..., point_in_time=...)``: a new set
        starts from that backup (see ``ReplicatedMySQL``). Defaults to an empty server.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        credentials: MySQLCredentials,
        engine: Engine = MYSQL_8_4,
        namespace: str = "mysql",
        replicas: int = 2,
        storage_class_name: str | None = None,
        metrics: bool = False,
        metrics_namespace: str | None = None,
        tls: MySQLTLS | None = None,
        require_secure_transport: bool | None = None,
        primary_ordinal: int = 0,
        semi_sync: bool | None = None,
        semi_sync_timeout_seconds: int = 10,
        backup_target: BackupTarget | None = None,
        backup_schedule: str = "0 3 * * *",
        backup_keep: int = 7,
        restore_from: RestoreFrom | None = None,
    ) -> None:
        super().__init__(
            scope, id, namespace=check.dns_label("namespace", namespace), disable_resource_name_hashes=True
        )
        self.namespace_object = cluster_scoped(
            k8s.KubeNamespace(self, "Namespace", metadata=k8s.ObjectMeta(name=namespace))
        )
        if storage_class_name is None:
            self.storage = LocalStorage(self, "Storage")
        else:
            self.storage = LocalStorage(self, "Storage", storage_class_name=storage_class_name, dynamic=True)
        self.config = MySQLConfig(self, "Config", engine=engine, credentials=credentials, tls=tls,
                                  require_secure_transport=require_secure_transport)
        self.services = ReadWriteServices(self, "Services")
        self.mysql = ReplicatedMySQL(
            self, "MySQL", config=self.config, storage=self.storage, services=self.services, replicas=replicas,
            metrics=metrics, metrics_namespace=metrics_namespace, primary_ordinal=primary_ordinal, semi_sync=semi_sync,
            semi_sync_timeout_seconds=semi_sync_timeout_seconds, restore_from=restore_from,
        )
        self.backup: MySQLBackup | None = None
        if backup_target is not None:
            self.backup = MySQLBackup(self, "Backup", cluster=self.mysql, target=backup_target,
                                      schedule=backup_schedule, keep=backup_keep)
        annotate_sync_waves(self)
        order_by_sync_wave(self)

    @property
    def primary_host(self) -> str:
        """Fully qualified DNS name of the primary, for writes from any namespace."""
        return f"{self.mysql.primary_host}.{self.namespace}.svc.cluster.local"

    @property
    def read_host(self) -> str:
        """Fully qualified DNS name of the read Service."""
        return f"{self.mysql.read_host}.{self.namespace}.svc.cluster.local"
