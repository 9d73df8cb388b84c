"""A pod a test runs by itself from a plain pod spec (``kubectl run`` of a manifest): a
server the pods of the set reach through a Service that selects it (e.g. an S3 endpoint for
backups), or a client. Its
containers are restarted as its restartPolicy says (Always unless the spec says otherwise);
it runs until it is deleted or the cluster is torn down."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from .errors import EmulatorError
from .pods import Pod

if TYPE_CHECKING:
    from .cluster import Cluster


class StandalonePod:
    """The handle of a pod named ``name`` in ``namespace``. Its name resolves nowhere: other
    pods reach it through a Service that selects it by its labels (by its own name as well
    when its spec names a ``subdomain`` and a headless Service of that name selects it)."""

    def __init__(self, cluster: Cluster, name: str, spec: dict, labels: dict, namespace: str) -> None:
        self.cluster = cluster
        self.name = name
        self.namespace = namespace
        self.pod = Pod(name=name, namespace=namespace, spec=spec, labels=labels, images=cluster.images,
                       network=cluster.network, pods_dir=cluster.pods_dir, subdomain=spec.get("subdomain"))

    @property
    def ready(self) -> bool:
        return self.pod.ready

    def wait_ready(self, timeout: float = 60) -> float:
        """Waits until every container runs (and passes its readiness probe); the seconds it took."""
        return self.cluster.wait_for(lambda: self.pod.ready, timeout=timeout, what=f"pod {self.name} to be ready")

    def logs(self, container: str) -> str:
        c = self.pod.container(container)
        return c.log_path.read_text(errors="replace") if c.log_path and c.log_path.exists() else ""

    def exec(self, container: str, command: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs a command inside a running container (kubectl exec)."""
        c = self.pod.container(container)
        if not c.running:
            raise EmulatorError(f"container {container} of pod {self.name} is not running")
        self.cluster.check_reachable(self.pod)
        return self.cluster.runtime.exec(c, command, timeout=timeout)

    def label(self, labels: dict[str, str | None]) -> None:
        """``kubectl label pod --overwrite``: sets the labels given, removes those given as None."""
        self.cluster.label_pod(self.name, labels)

    def delete(self) -> None:
        """``kubectl delete pod``: stops it within its grace period; it leaves its Services' endpoints."""
        self.cluster.delete_pod_named(self.name)
