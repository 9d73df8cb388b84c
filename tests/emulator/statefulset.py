"""The StatefulSet controller, OrderedReady: pods ``<set>-<N>`` made one at a time in order,
each once the ones before it are ready, removed from the top when scaled down; each pod's
claims (one folder per volumeClaimTemplate and ordinal) outlive it."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from emulator.images import ImageStandIn

from .errors import EmulatorError
from .network import Network
from .pods import Kubelet, Pod


class StatefulSetController:
    def __init__(self, statefulset: dict, *, kubelet: Kubelet, network: Network, images: dict[str, ImageStandIn],
                 pods_dir: Path, pvc_root: Path, lock: threading.RLock, on_change: Callable[[], None]) -> None:
        self.statefulset = statefulset
        self.name = statefulset["metadata"]["name"]
        self.namespace = statefulset["metadata"].get("namespace", "default")
        self.spec = statefulset["spec"]
        if self.spec.get("podManagementPolicy", "OrderedReady") != "OrderedReady":
            raise EmulatorError("only the OrderedReady pod management policy is emulated")
        self.template = self.spec["template"]["spec"]
        self.labels = self.spec["template"]["metadata"].get("labels", {})
        self.service_name = self.spec["serviceName"]
        self.claims = [c["metadata"]["name"] for c in self.spec.get("volumeClaimTemplates", [])]
        self.desired = self.spec.get("replicas", 1)
        self.grace = self.template.get("terminationGracePeriodSeconds", 30)
        self.kubelet = kubelet
        self.network = network
        self.images = images
        self.pods_dir = pods_dir
        self.pvc_root = pvc_root
        self.pods: dict[int, Pod] = {}
        self.held: set[int] = set()  # ordinals whose node is lost (lose_node)
        self._lock = lock
        self._on_change = on_change  # the hosts files follow the pods

    @property
    def image_names(self) -> list[str]:
        return [c["image"] for c in self.template.get("initContainers", []) + self.template["containers"]]

    def pvc_dir(self, ordinal: int, claim: str = "data") -> Path:
        """The folder of claim ``<claim>-<set>-<ordinal>``: it outlives its pods."""
        return self.pvc_root / f"{claim}-{self.name}-{ordinal}"

    def control(self) -> None:
        """One step: remove the top pod when scaled down, else create the first missing pod
        once every pod before it is ready."""
        with self._lock:
            ordinals = sorted(self.pods)
            if len(ordinals) > self.desired or (ordinals and ordinals[-1] >= self.desired):
                top = ordinals[-1]
                if all(self.pods[o].ready for o in ordinals[:-1]) and not self.pods[top].deleting:
                    pod = self.pods[top]
                    pod.deleting = True
                    threading.Thread(target=self._scale_down, args=(pod,), daemon=True).start()
                return
            for ordinal in range(self.desired):
                if ordinal not in self.pods:
                    if ordinal in self.held:
                        continue
                    if all(o in self.held or (o in self.pods and self.pods[o].ready) for o in range(ordinal)):
                        self._create_pod(ordinal)
                    return
                if not self.pods[ordinal].ready:
                    return

    def delete_pod(self, ordinal: int, grace: float | None, delete_claims: bool) -> None:
        with self._lock:
            pod = self.pods[ordinal]
            pod.deleting = True
        self.kubelet.terminate(pod, self.grace if grace is None else grace)
        with self._lock:
            if delete_claims:
                for claim in self.claims:
                    shutil.rmtree(self.pvc_dir(ordinal, claim), ignore_errors=True)
            self.pods.pop(ordinal, None)
            self._on_change()

    def _create_pod(self, ordinal: int) -> None:
        name = f"{self.name}-{ordinal}"
        pod = Pod(name=name, namespace=self.namespace, spec=self.template,
                  labels={**self.labels, "statefulset.kubernetes.io/pod-name": name},
                  images=self.images, network=self.network, slot=ordinal, pods_dir=self.pods_dir, ordinal=ordinal,
                  claims={claim: self.pvc_dir(ordinal, claim) for claim in self.claims}, subdomain=self.service_name)
        self.kubelet.create(pod)
        self.pods[ordinal] = pod
        self._on_change()

    def _scale_down(self, pod: Pod) -> None:
        self.kubelet.terminate(pod, self.grace)
        with self._lock:
            if self.pods.get(pod.ordinal) is pod:
                self.pods.pop(pod.ordinal)
            self._on_change()
