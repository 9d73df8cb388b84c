"""ReadWriteServices: where clients send writes and reads."""

from __future__ import annotations

from cdk8s import JsonPatch
from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _validation as check
from ._k8s import LABEL_INSTANCE, LABEL_NAME, annotate_sync_waves

MYSQL_PORT = 3306
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"


class ReadWriteServices(Construct):
    """Three Services in front of the StatefulSet's pods.

    - ``{name}`` (headless): stable DNS per pod; writes go to ``{name}-0.{name}``.
    - ``{read_name}``: reads, balanced over every ready pod.
    - ``{primary_name}``: a ClusterIP that selects only the declared primary (ordinal 0
      unless ``ReplicatedMySQL(primary_ordinal=...)`` says otherwise), for clients that want
      one stable virtual IP for writes.

    The StatefulSet takes ``name`` as its own name, so its pods are ``{name}-0`` ...

    :param name: the headless Service and the StatefulSet. Defaults to ``mysql``.
    :param read_name: the read Service. Defaults to ``{name}-read``.
    :param primary_name: the write Service. Defaults to ``{name}-primary``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str = "mysql",
        read_name: str | None = None,
        primary_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.name = check.dns_label("name", name)
        # Pod names are {name}-{ordinal} and carry the controller-revision-hash label, which
        # caps a StatefulSet name at 52 characters.
        if len(self.name) > 52:
            raise ValueError(f"name must be at most 52 characters (the StatefulSet's pods add -<ordinal>), got {name!r}")
        read_name = check.dns_label("read_name", f"{name}-read" if read_name is None else read_name)
        primary_name = check.dns_label("primary_name", f"{name}-primary" if primary_name is None else primary_name)
        names = [self.name, read_name, primary_name]
        if len(set(names)) != 3:
            raise ValueError(f"name, read_name and primary_name must differ, got {names}")
        self.port = MYSQL_PORT
        self.selector = {LABEL_NAME: "mysql", LABEL_INSTANCE: self.name}
        """Labels of every pod of the set; the StatefulSet stamps them on its pod template."""

        self.headless = self._service("Headless", self.name, self.selector, headless=True)
        self.read = self._service("Read", read_name, self.selector)
        self.primary_ordinal = 0
        self.primary = self._service(
            "Primary", primary_name, {**self.selector, POD_NAME_LABEL: f"{self.name}-0"}
        )
        annotate_sync_waves(self)

    def add_metrics_port(self, port: int, name: str = "metrics") -> None:
        """Publishes a metrics port (the container port ``name``) on the headless Service, for
        per-pod scraping."""
        self.headless.add_json_patch(
            JsonPatch.add("/spec/ports/-", {"name": name, "port": port, "targetPort": name})
        )

    def select_primary(self, ordinal: int) -> None:
        """Points the write Service (and ``primary_host``) at pod ``{name}-{ordinal}``;
        ``ReplicatedMySQL`` calls it with its ``primary_ordinal``."""
        self.primary_ordinal = ordinal
        self.primary.add_json_patch(
            JsonPatch.replace(f"/spec/selector/{POD_NAME_LABEL.replace('/', '~1')}", f"{self.name}-{ordinal}")
        )

    @property
    def primary_host(self) -> str:
        """DNS name that reaches the declared primary from the same namespace."""
        return f"{self.name}-{self.primary_ordinal}.{self.name}"

    @property
    def read_host(self) -> str:
        """DNS name that spreads reads over every ready pod."""
        return self.read.name

    def _service(self, id: str, name: str, selector: dict[str, str], *, headless: bool = False) -> k8s.KubeService:
        return k8s.KubeService(
            self,
            id,
            metadata=k8s.ObjectMeta(name=name, labels=dict(self.selector)),
            spec=k8s.ServiceSpec(
                cluster_ip="None" if headless else None,
                # The headless Service publishes pods before they are ready: a replica's clone
                # resolves its donor's name as soon as the donor's pod exists.
                publish_not_ready_addresses=True if headless else None,
                selector=selector,
                ports=[k8s.ServicePort(name="mysql", port=MYSQL_PORT, target_port=k8s.IntOrString.from_string("mysql"))],
            ),
        )
