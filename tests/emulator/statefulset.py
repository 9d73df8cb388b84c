"""The StatefulSet controller, as kube-controller-manager's runs a set: pods ``<set>-<N>``,
each from a revision of the pod template and labelled with it (``controller-revision-hash``),
each with its claims (one PersistentVolumeClaim per volumeClaimTemplate and ordinal,
``<template>-<set>-<N>``, outliving its pods: ``storage.py``). A pod is created Pending and
given to the scheduler (``nodes.py``); a claim of an existing pod that is missing (deleted
since) is created again, as the real controller does on its next sync.

One step (``control``) does what one sync of the real controller does, in its order:

1. Pods 0..replicas-1: a missing one is created (from the current revision below the
   partition, or below the count of pods still at the current revision when no partition
   is set; from the update revision otherwise). With ``podManagementPolicy: OrderedReady``
   the step ends at the first pod just created, Terminating, or not Running and Ready: pod N
   is never created while a lower ordinal is not ready. ``Parallel`` creates them all.
2. Pods at or above replicas (scale-down), highest first: OrderedReady deletes one at a
   time, and only once every remaining pod is ready; Parallel deletes them all at once.
3. ``updateStrategy: RollingUpdate``: from the highest ordinal down to ``partition``, the
   first pod not at the update revision is deleted (step 1 recreates it from the new
   template); a pod at the update revision that is not Running and Ready ends the step, so
   the next pod goes only once the previous updated one is ready. ``OnDelete``: nothing;
   a pod picks up the new template when it is deleted.

When every pod is at the update revision and ready, it becomes the current revision.
``apply`` takes a new StatefulSet object: only replicas, template and updateStrategy may
change, as the API server allows."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

from emulator.images import ImageStandIn

from .errors import EmulatorError
from .network import Network
from .pods import Kubelet, Pod
from .storage import Storage

REVISION_LABEL = "controller-revision-hash"
POLICIES = ("OrderedReady", "Parallel")
STRATEGIES = ("RollingUpdate", "OnDelete")
# What the API server lets an update of a StatefulSet's spec change.
MUTABLE = ("replicas", "template", "updateStrategy", "minReadySeconds", "persistentVolumeClaimRetentionPolicy",
           "ordinals")


def revision_name(set_name: str, template: dict) -> str:
    """``<set>-<hash of the pod template>``, as the pods' ``controller-revision-hash`` label."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return f"{set_name}-{digest[:10]}"


class StatefulSetController:
    def __init__(self, statefulset: dict, *, kubelet: Kubelet, network: Network, images: dict[str, ImageStandIn],
                 pods_dir: Path, storage: Storage, lock: threading.RLock, on_change: Callable[[], None],
                 place: Callable[[Pod], None]) -> None:
        self.statefulset = statefulset
        self.name = statefulset["metadata"]["name"]
        self.namespace = statefulset["metadata"].get("namespace", "default")
        self.spec = statefulset["spec"]
        self.policy = self.spec.get("podManagementPolicy", "OrderedReady")
        if self.policy not in POLICIES:
            raise EmulatorError(f"StatefulSet {self.name}: podManagementPolicy must be one of {POLICIES}, "
                                f"got {self.policy!r}")
        self.service_name = self.spec["serviceName"]
        self.claim_templates = {c["metadata"]["name"]: c["spec"] for c in self.spec.get("volumeClaimTemplates", [])}
        self.claims = list(self.claim_templates)
        self.desired = self.spec.get("replicas", 1)
        self.revisions: dict[str, dict] = {}  # name -> pod template (metadata and spec)
        self.update_revision = self._add_revision(self.spec["template"])
        self.current_revision = self.update_revision
        self.kubelet = kubelet
        self.network = network
        self.images = images
        self.pods_dir = pods_dir
        self.storage = storage
        self.pods: dict[int, Pod] = {}
        self._lock = lock
        self._on_change = on_change  # Services and policies follow the pods
        self._place = place  # the scheduler: a node for a new pod, then the kubelet creates it
        self._check_strategy(self.spec)

    # ------------------------------------------------------------------ what the set is

    @property
    def template(self) -> dict:
        """The pod spec of the update revision (what a new pod gets, unless held back)."""
        return self.revisions[self.update_revision]["spec"]

    @property
    def strategy(self) -> str:
        return self.spec.get("updateStrategy", {}).get("type", "RollingUpdate")

    @property
    def partition(self) -> int:
        return int(self.spec.get("updateStrategy", {}).get("rollingUpdate", {}).get("partition", 0))

    @property
    def grace(self) -> float:
        return self.template.get("terminationGracePeriodSeconds", 30)

    @property
    def image_names(self) -> list[str]:
        return [c["image"] for c in self.template.get("initContainers", []) + self.template["containers"]]

    def revision_of(self, ordinal: int) -> str:
        """The ``controller-revision-hash`` of pod N."""
        return self.pods[ordinal].labels[REVISION_LABEL]

    @property
    def updated(self) -> list[int]:
        """Ordinals of the pods at the update revision."""
        return sorted(o for o, p in self.pods.items() if p.labels.get(REVISION_LABEL) == self.update_revision)

    @property
    def rolled_out(self) -> bool:
        """``kubectl rollout status`` would return: every pod at the update revision and ready,
        and that revision made current (with a partition, every pod at or above it)."""
        with self._lock:
            wanted = list(range(self.desired))
            low = self.partition if self.strategy == "RollingUpdate" else 0
            return (sorted(self.pods) == wanted and all(self.pods[o].ready for o in wanted)
                    and all(self.revision_of(o) == self.update_revision for o in wanted if o >= low)
                    and (low > 0 or self.current_revision == self.update_revision))

    def claim_name(self, ordinal: int, claim: str = "data") -> str:
        return f"{claim}-{self.name}-{ordinal}"

    def pvc_dir(self, ordinal: int, claim: str = "data") -> Path:
        """The folder of claim ``<claim>-<set>-<ordinal>``: its bound PV's, which outlives its pods."""
        return self.storage.path(self.claim_name(ordinal, claim))

    # ------------------------------------------------------------------ changes from outside

    def apply(self, statefulset: dict) -> list[str]:
        """``kubectl apply`` of the set: a changed template becomes the update revision (the
        pods follow through ``control``), a changed updateStrategy or replica count takes
        effect; any other change of the spec is refused, as the API server refuses it.
        Returns the fields that changed."""
        spec = statefulset["spec"]
        fixed = sorted(k for k in set(spec) | set(self.spec) if k not in MUTABLE and spec.get(k) != self.spec.get(k))
        if fixed:
            raise EmulatorError(
                f"StatefulSet.apps {self.name!r} is invalid: spec: Forbidden: updates to statefulset spec for fields "
                f"other than {', '.join(repr(k) for k in MUTABLE)} are forbidden (changed: {', '.join(fixed)})")
        self._check_strategy(spec)
        with self._lock:
            # The replica count as it is now (``kubectl scale`` changed it since the last apply).
            changed = ["replicas"] if spec.get("replicas", 1) != self.desired else []
            changed += [k for k in ("template", "updateStrategy") if spec.get(k) != self.spec.get(k)]
            self.statefulset = copy.deepcopy(statefulset)
            self.spec = self.statefulset["spec"]
            self.desired = self.spec.get("replicas", 1)
            if "template" in changed:
                self.update_revision = self._add_revision(self.spec["template"])
            return changed

    def _check_strategy(self, spec: dict) -> None:
        strategy = spec.get("updateStrategy", {})
        if strategy.get("type", "RollingUpdate") not in STRATEGIES:
            raise EmulatorError(f"StatefulSet {self.name}: updateStrategy.type must be one of {STRATEGIES}, "
                                f"got {strategy.get('type')!r}")
        rolling = strategy.get("rollingUpdate", {})
        if "maxUnavailable" in rolling:
            raise EmulatorError("rollingUpdate.maxUnavailable (alpha) is not emulated: one pod at a time")

    def _add_revision(self, template: dict) -> str:
        name = revision_name(self.name, template)
        self.revisions.setdefault(name, copy.deepcopy(template))
        return name

    # ------------------------------------------------------------------ the controller

    def control(self) -> None:
        """One sync of the set (see the module's docstring)."""
        with self._lock:
            ordered = self.policy == "OrderedReady"
            for pod in self.pods.values():
                self._ensure_claims(pod.ordinal)
            if not self._sync_replicas(ordered) or not self._scale_down(ordered):
                return
            if self.strategy == "RollingUpdate":
                self._roll()
            self._complete_rollout()

    def _sync_replicas(self, ordered: bool) -> bool:
        """Creates the missing pods below ``desired``; False when OrderedReady must wait."""
        for ordinal in range(self.desired):
            pod = self.pods.get(ordinal)
            if pod is None:
                self._create_pod(ordinal)
                if ordered:
                    return False
            elif ordered and (pod.deleting or not pod.ready):
                return False
        return True

    def _scale_down(self, ordered: bool) -> bool:
        """Deletes the pods at or above ``desired``, highest first; False when OrderedReady
        must wait for one to go."""
        condemned = sorted((o for o in self.pods if o >= self.desired), reverse=True)
        first_unhealthy = next((o for o in condemned if not self.pods[o].ready), None)
        for ordinal in condemned:
            pod = self.pods[ordinal]
            if pod.deleting:
                if ordered:
                    return False
                continue
            if ordered and not pod.ready and ordinal != first_unhealthy:
                return False
            self._delete(pod, "scale down")
            if ordered:
                return False
        return True

    def _roll(self) -> None:
        """RollingUpdate: the highest pod at or above the partition not at the update revision
        is deleted, once every pod above it is updated and ready."""
        for ordinal in sorted((o for o in self.pods if o < self.desired), reverse=True):
            if ordinal < self.partition:
                return
            pod = self.pods[ordinal]
            if pod.labels[REVISION_LABEL] != self.update_revision and not pod.deleting:
                self._delete(pod, f"update to {self.update_revision}")
                return
            if pod.deleting or not pod.ready:
                return

    def _complete_rollout(self) -> None:
        pods = [p for o, p in self.pods.items() if o < self.desired]
        if (self.current_revision != self.update_revision and len(pods) == self.desired
                and all(p.labels[REVISION_LABEL] == self.update_revision and p.ready for p in pods)):
            self.kubelet.log(f"statefulset {self.name}: revision {self.update_revision} is current")
            self.current_revision = self.update_revision

    def _revision_for(self, ordinal: int) -> str:
        """The revision a new pod N gets: the current one below the partition (or, without one,
        below the count of pods still at the current revision), else the update revision."""
        if self.strategy != "RollingUpdate":
            return self.update_revision
        if self.partition:
            return self.current_revision if ordinal < self.partition else self.update_revision
        current = sum(1 for p in self.pods.values() if p.labels[REVISION_LABEL] == self.current_revision)
        return self.current_revision if ordinal < current else self.update_revision

    # ------------------------------------------------------------------ pods

    def delete_pod(self, ordinal: int, grace: float | None, delete_claims: bool) -> None:
        """``kubectl delete pod`` (with ``delete_claims``, ``kubectl delete pvc`` of its claims
        first: they go once the pod is gone). A pod on a lost node is marked Terminating and
        stays: no kubelet ends it."""
        with self._lock:
            pod = self.pods[ordinal]
            if delete_claims:
                for claim in self.claims:
                    name = self.claim_name(ordinal, claim)
                    if name in self.storage.pvcs:
                        self.storage.delete_claim(name, in_use=pod.scheduled and not pod.finished)
            pod.deleting = True
            if pod.frozen:
                self.kubelet.log(f"statefulset {self.name}: {pod.name} Terminating, its node does not answer")
                return
        self.kubelet.terminate(pod, pod.grace if grace is None else grace)
        with self._lock:
            if self.pods.get(ordinal) is pod:
                self.pods.pop(ordinal)
            self.kubelet.log(f"statefulset {self.name}: {pod.name} gone")
            self._on_change()

    def remove(self, pod: Pod) -> None:
        """The pod's object goes at once (``kubectl delete --force --grace-period=0``): the
        controller creates pod N anew on its next step."""
        with self._lock:
            if self.pods.get(pod.ordinal) is pod:
                self.pods.pop(pod.ordinal)
            self.kubelet.log(f"statefulset {self.name}: {pod.name} gone")
            self._on_change()

    def _ensure_claims(self, ordinal: int) -> None:
        """Pod N's claims that do not exist are created from their templates."""
        for claim, spec in self.claim_templates.items():
            name = self.claim_name(ordinal, claim)
            if name not in self.storage.pvcs:
                self.storage.create_claim(name, self.namespace, spec)

    def _create_pod(self, ordinal: int) -> None:
        name = f"{self.name}-{ordinal}"
        revision = self._revision_for(ordinal)
        template = self.revisions[revision]
        labels = {**template.get("metadata", {}).get("labels", {}), "statefulset.kubernetes.io/pod-name": name,
                  REVISION_LABEL: revision}
        pod = Pod(name=name, namespace=self.namespace, spec=template["spec"], labels=labels,
                  images=self.images, network=self.network, pods_dir=self.pods_dir, ordinal=ordinal,
                  claims={claim: self.claim_name(ordinal, claim) for claim in self.claims},
                  subdomain=self.service_name)
        self.kubelet.log(f"statefulset {self.name}: create {name} at {revision}")
        self._ensure_claims(ordinal)
        self.pods[ordinal] = pod
        self._place(pod)
        self._on_change()

    def delete_in_background(self, pod: Pod, why: str) -> None:
        self._delete(pod, why)

    def _delete(self, pod: Pod, why: str) -> None:
        """Deletes a pod with its grace period, in the background (the controller goes on)."""
        self.kubelet.log(f"statefulset {self.name}: delete {pod.name} ({why})")
        pod.deleting = True
        threading.Thread(target=self._terminate, args=(pod,), daemon=True).start()

    def _terminate(self, pod: Pod) -> None:
        if pod.frozen:
            return  # Terminating until its node answers again or it is force-deleted
        self.kubelet.terminate(pod, pod.grace)
        with self._lock:
            if self.pods.get(pod.ordinal) is pod:
                self.pods.pop(pod.ordinal)
            self.kubelet.log(f"statefulset {self.name}: {pod.name} gone")
            self._on_change()
