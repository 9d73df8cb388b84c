"""LocalStorage: the StorageClass and the static local PersistentVolumes."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from decimal import Decimal

from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _validation as check
from ._k8s import annotate_sync_waves, cluster_scoped

DEFAULT_PATHS = (
    "/data/svr/projects/mysql",
    "/data/svr/projects/mysql2",
    "/data/svr/projects/mysql3",
)
DEFAULT_NODES = ("node1",)


class LocalStorage(Construct):
    """Where the replicas keep their data.

    Static mode (the default) creates a ``kubernetes.io/no-provisioner`` StorageClass
    with delayed binding (``WaitForFirstConsumer``) and one local PersistentVolume per
    replica slot, each pinned to a node. Dynamic mode (``dynamic=True``) uses a
    StorageClass that already exists in the cluster, backed by a provisioner, and
    creates nothing: the production path, since a local PV ties its pod to one node.

    :param storage_class_name: StorageClass the PVCs ask for. Defaults to ``local-storage``.
    :param paths: one directory per replica slot; the number of paths caps the number of
        replicas. Absolute and distinct. Defaults to the three walkthrough directories
        ``/data/svr/projects/mysql``, ``.../mysql2``, ``.../mysql3``.
    :param nodes: node names (``kubernetes.io/hostname``) that hold the directories; PV i
        is pinned to ``nodes[i % len(nodes)]``. Defaults to ``node1``.
    :param capacity: capacity of each PV, a Kubernetes quantity. Defaults to ``15Gi``.
    :param reclaim_policy: ``Retain`` or ``Delete``, for the StorageClass and the PVs.
        Defaults to ``Retain`` (data outlives a deleted claim).
    :param pv_name_prefix: PV i is named ``{pv_name_prefix}-{i + 1}``. Defaults to ``mysql-pv``.
    :param dynamic: use the existing StorageClass ``storage_class_name`` and create no
        objects; ``paths``, ``nodes``, ``capacity`` and ``pv_name_prefix`` must then be left
        out. Defaults to static local volumes.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        storage_class_name: str = "local-storage",
        paths: Sequence[str] | None = None,
        nodes: Sequence[str] | None = None,
        capacity: str | None = None,
        reclaim_policy: str = "Retain",
        pv_name_prefix: str | None = None,
        dynamic: bool = False,
    ) -> None:
        super().__init__(scope, id)
        self.storage_class_name = check.dns_subdomain("storage_class_name", storage_class_name)
        self.dynamic = dynamic
        if dynamic:
            static_only = {"paths": paths, "nodes": nodes, "capacity": capacity, "pv_name_prefix": pv_name_prefix}
            given = [name for name, value in static_only.items() if value is not None]
            if given:
                raise ValueError(
                    f"LocalStorage(dynamic=True) uses the existing StorageClass {storage_class_name!r} "
                    f"and creates no PersistentVolumes; leave out {', '.join(given)}"
                )
            self.paths: tuple[str, ...] = ()
            self.nodes: tuple[str, ...] = ()
            self.capacity: str | None = None
            self.capacity_bytes: Decimal | None = None
            self.persistent_volumes: tuple[k8s.KubePersistentVolume, ...] = ()
            self.storage_class: k8s.KubeStorageClass | None = None
            return

        self.paths = check.unique_nonempty("paths", DEFAULT_PATHS if paths is None else paths, "directory")
        for path in self.paths:
            if not path.startswith("/") or "/../" in f"{path}/" or path == "/":
                raise ValueError(f"paths must be absolute directories below /, got {path!r}")
        normalized = [posixpath.normpath(path) for path in self.paths]
        repeated = sorted({p for p in normalized if normalized.count(p) > 1})
        if repeated:
            raise ValueError(f"paths must not name a directory twice, got {', '.join(map(repr, repeated))} twice")
        self.nodes = check.unique_nonempty("nodes", DEFAULT_NODES if nodes is None else nodes, "node name")
        for node in self.nodes:
            check.dns_subdomain("nodes", node)
        self.capacity = "15Gi" if capacity is None else capacity
        self.capacity_bytes = check.quantity("capacity", self.capacity)
        reclaim_policy = check.one_of("reclaim_policy", reclaim_policy, ("Retain", "Delete"))
        prefix = check.dns_subdomain("pv_name_prefix", "mysql-pv" if pv_name_prefix is None else pv_name_prefix)

        self.storage_class = cluster_scoped(
            k8s.KubeStorageClass(
                self,
                "StorageClass",
                metadata=k8s.ObjectMeta(name=self.storage_class_name),
                provisioner="kubernetes.io/no-provisioner",
                volume_binding_mode="WaitForFirstConsumer",
                reclaim_policy=reclaim_policy,
            )
        )
        self.persistent_volumes = tuple(
            cluster_scoped(
                k8s.KubePersistentVolume(
                    self,
                    f"PersistentVolume{index + 1}",
                    metadata=k8s.ObjectMeta(name=f"{prefix}-{index + 1}"),
                    spec=k8s.PersistentVolumeSpec(
                        capacity={"storage": k8s.Quantity.from_string(self.capacity)},
                        access_modes=["ReadWriteOnce"],
                        persistent_volume_reclaim_policy=reclaim_policy,
                        storage_class_name=self.storage_class_name,
                        volume_mode="Filesystem",
                        local=k8s.LocalVolumeSource(path=path),
                        node_affinity=_pinned_to(self.nodes[index % len(self.nodes)]),
                    ),
                )
            )
            for index, path in enumerate(self.paths)
        )
        annotate_sync_waves(self)

    @property
    def max_replicas(self) -> int | None:
        """How many replicas this storage can hold: one per local PV; ``None`` when dynamic."""
        return None if self.dynamic else len(self.paths)


def _pinned_to(node: str) -> k8s.VolumeNodeAffinity:
    return k8s.VolumeNodeAffinity(
        required=k8s.NodeSelector(
            node_selector_terms=[
                k8s.NodeSelectorTerm(
                    match_expressions=[
                        k8s.NodeSelectorRequirement(key="kubernetes.io/hostname", operator="In", values=[node])
                    ]
                )
            ]
        )
    )
