"""Small helpers around the cdk8s L1 classes, shared by the constructs."""

from __future__ import annotations

import cdk8s
from cdk8s_plus_27 import k8s
from constructs import Construct

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_WAVES = {
    # What everything else lands in or binds to.
    "Namespace": -4,
    "StorageClass": -4,
    "PersistentVolume": -4,
    # What the pods mount.
    "ConfigMap": -3,
    "PersistentVolumeClaim": -3,
    "Secret": -3,
    # cert-manager's Certificate writes the TLS Secret; Argo CD's health check of it waits
    # for the certificate to be issued.
    "Certificate": -3,
    # What the pods are reached through.
    "Service": -2,
    # Identity and policy, in force before the first pod exists.
    "ServiceAccount": -1,
    "PodDisruptionBudget": -1,
    "NetworkPolicy": -1,
    # The pods, last: everything they need is there. Wave 0 is Argo CD's default, so objects
    # an app adds without an annotation sync together with the StatefulSet.
    "StatefulSet": 0,
    # Backups run against a set that exists.
    "CronJob": 1,
}
"""Argo CD sync wave per kind: a GitOps sync creates the objects in this order, waiting for
each wave to be healthy before the next."""


def cluster_scoped(api_object: cdk8s.ApiObject) -> cdk8s.ApiObject:
    """Drops the namespace that a chart's ``namespace=`` stamps on every object:
    Namespaces, StorageClasses and PersistentVolumes are cluster-scoped."""
    if cdk8s.Chart.of(api_object).namespace:
        api_object.add_json_patch(cdk8s.JsonPatch.remove("/metadata/namespace"))
    return api_object


def api_objects(scope: Construct) -> list[cdk8s.ApiObject]:
    """Every ApiObject in ``scope``'s subtree, in construct-tree order."""
    return [node for node in scope.node.find_all() if cdk8s.ApiObject.is_api_object(node)]


def annotate_sync_waves(scope: Construct) -> None:
    """Puts the ``argocd.argoproj.io/sync-wave`` annotation of ``SYNC_WAVES`` on every object
    of a kind listed there, in ``scope``'s subtree. Each construct calls it on itself, so its
    objects carry their wave in any chart."""
    for api_object in api_objects(scope):
        wave = SYNC_WAVES.get(api_object.kind)
        if wave is not None:
            api_object.metadata.add_annotation(SYNC_WAVE, str(wave))


def order_by_sync_wave(chart: cdk8s.Chart) -> None:
    """Makes the chart synthesize its objects wave by wave (construct order within a wave):
    each object depends on the objects of the wave before its own, and cdk8s writes
    dependencies first. Objects without a known wave are left where they are."""
    waves: dict[int, list[cdk8s.ApiObject]] = {}
    for api_object in api_objects(chart):
        wave = SYNC_WAVES.get(api_object.kind)
        if wave is not None:
            waves.setdefault(wave, []).append(api_object)
    ordered = [waves[wave] for wave in sorted(waves)]
    for earlier, later in zip(ordered, ordered[1:]):
        for api_object in later:
            api_object.add_dependency(*earlier)


def container_json(container: k8s.Container) -> dict:
    """The manifest form of an L1 container (camelCase keys, quantities as strings), for a
    JSON patch that adds it to an object built earlier."""
    chart = cdk8s.Chart(cdk8s.App(), "container")
    return k8s.KubePod(chart, "Pod", spec=k8s.PodSpec(containers=[container])).to_json()["spec"]["containers"][0]


class PodTemplateAdditions:
    """Containers, volumes and variables that constructs built later add to a pod template
    (``MySQLBackup`` adds the binary log archiver to ReplicatedMySQL's pods). Kept as
    manifest dicts and merged when the owning object synthesizes."""

    def __init__(self) -> None:
        self.containers: list[dict] = []
        self.volumes: list[dict] = []
        self.env: dict[str, list[dict]] = {}
        self.args: dict[str, list[str]] = {}

    def add_container(self, container: k8s.Container) -> None:
        self.containers.append(container_json(container))

    def add_volume(self, volume: dict) -> None:
        self.volumes.append(volume)

    def add_env(self, container_name: str, name: str, value: str) -> None:
        self.env.setdefault(container_name, []).append({"name": name, "value": value})

    def add_args(self, container_name: str, *args: str) -> None:
        self.args.setdefault(container_name, []).extend(args)

    def apply(self, pod_spec: dict) -> None:
        for container in pod_spec["containers"]:
            container.setdefault("env", []).extend(self.env.get(container["name"], []))
            if container["name"] in self.args:
                container.setdefault("args", []).extend(self.args[container["name"]])
        pod_spec["containers"].extend(self.containers)
        if self.volumes:
            pod_spec.setdefault("volumes", []).extend(self.volumes)


class ExtensibleStatefulSet(k8s.KubeStatefulSet):
    """A StatefulSet whose pod template takes ``additions`` after construction."""

    additions: PodTemplateAdditions

    def to_json(self) -> dict:
        manifest = super().to_json()
        self.additions.apply(manifest["spec"]["template"]["spec"])
        return manifest


class ExtensibleNetworkPolicy(k8s.KubeNetworkPolicy):
    """A NetworkPolicy that takes ingress rules (manifest dicts) after construction."""

    extra_ingress: list[dict]

    def to_json(self) -> dict:
        manifest = super().to_json()
        manifest["spec"].setdefault("ingress", []).extend(self.extra_ingress)
        return manifest
