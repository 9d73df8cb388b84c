"""What a test does to nodes, PersistentVolumes and claims, and what the scheduler and the node
lifecycle and PVC-protection controllers do each step: ``Cluster`` has these. They use its
nodes, storage, budgets, StatefulSet controller (``set``), kubelet, lock and ``wait_for``.

    lose_node(node)            the node stops answering: its pods frozen and cut off (``nodes.py``)
    restore_node(node)         it answers again: its pods thaw and reconnect; those deleted
                               meanwhile (Terminating) are stopped by the returning kubelet
    force_delete(ordinal)      ``kubectl delete pod --force --grace-period=0``
    cordon(node), uncordon(node)
    evict(pod_name) -> bool    the Eviction API, against the PodDisruptionBudgets (``disruption.py``)
    drain(node, timeout)       ``kubectl drain --ignore-daemonsets --delete-emptydir-data``
    delete_pvc(ordinal|name)   ``kubectl delete pvc`` (held while a pod uses it)
    delete_pv(name)            ``kubectl delete pv``
"""

from __future__ import annotations

import threading
import time

from .disruption import Refusal, decide
from .errors import EmulatorError
from .nodes import cut_off, node_score, reconnect
from .pods import Pod
from .storage import HOSTNAME_LABEL, access_conflict
from .volumes import claim_names

# How often ``kubectl drain`` asks again after an eviction was refused.
DRAIN_RETRY_SECONDS = 5.0


class NodeOperations:
    """The nodes' side of ``Cluster``."""

    # ------------------------------------------------------------------ what a test reads

    @property
    def nodes(self) -> dict[str, str]:
        """Each node's state: ready, cordoned or lost."""
        return {name: node.state for name, node in self._nodes.items()}

    def node_of(self, ordinal: int) -> str | None:
        """The node pod N runs on (None: Pending)."""
        return self.pods[ordinal].node

    @property
    def pvs(self) -> dict:
        """The PersistentVolumes by name: ``phase``, ``claim``, ``node``, ``path``."""
        return self.storage.pvs

    @property
    def pvcs(self) -> dict:
        """The PersistentVolumeClaims by name: ``phase``, ``volume``, ``deleting``."""
        return self.storage.pvcs

    # ------------------------------------------------------------------ the scheduler

    def place(self, pod: Pod) -> bool:
        """Schedules a Pending pod (``nodes.py``): binds its claims on the node chosen and has
        the kubelet create it there. False, with ``pod.pending_reason``, when it fits nowhere."""
        with self.lock:
            if pod.scheduled or pod.deleting or pod.finished:
                return pod.scheduled
            claims, why = self._claims_of(pod)
            node, why = (None, why) if why else self._pick_node(pod, claims)
            if node is None:
                if why != pod.pending_reason:
                    self.log(f"{pod.name} Pending: {why}")
                pod.pending_reason = why
                return False
            self.storage.bind_for(claims, node)
            pod.node, pod.pending_reason = node, None
            self.kubelet.create(pod)
            self.follow_pods()
            return True

    def _claims_of(self, pod: Pod) -> tuple[list, str | None]:
        claims = []
        for claim_name in claim_names(pod).values():
            claim = self.storage.pvcs.get(claim_name)
            if claim is None:
                if claim_name in pod.claims.values():
                    return [], f'persistentvolumeclaim "{claim_name}" not found'
                claim = self.storage.named_claim(claim_name, pod.namespace)
            claims.append(claim)
        return claims, None

    def _pick_node(self, pod: Pod, claims: list) -> tuple[str | None, str | None]:
        """The node for the pod, or None and why none fits."""
        others = [p for p in self._live_pods() if p.scheduled and p is not pod]
        wanted = pod.spec.get("nodeSelector", {}).get(HOSTNAME_LABEL)
        reasons: dict[str, list[str]] = {}
        best = None
        for index, node in enumerate(self._nodes.values()):
            if not node.schedulable:
                why = "node is cordoned (unschedulable)" if node.state == "cordoned" else "node is not ready"
            elif wanted is not None and node.name != wanted:
                why = "node does not match the pod's nodeSelector"
            else:
                why = self.storage.unfit(claims, node.name)
                for claim in claims:
                    if why:
                        break
                    users = [(p.name, p.node) for p in others if not p.finished
                             and claim.name in claim_names(p).values()]
                    why = access_conflict(claim, node.name, users)
                score = 0
                if not why:
                    why, score = node_score(pod, node.name, others)
            if why:
                reasons.setdefault(why, []).append(node.name)
                continue
            key = (-score, sum(1 for p in others if p.node == node.name), index)
            if best is None or key < best[0]:
                best = (key, node.name)
        if best is None:
            return None, f"0/{len(self._nodes)} nodes are available: " + "; ".join(
                f"{why} ({', '.join(names)})" for why, names in reasons.items())
        return best[1], None

    def _schedule_pending(self) -> None:
        """Every Pending pod is tried again (called with the lock held)."""
        for pod in self._live_pods():
            if not pod.scheduled and not pod.deleting:
                self.place(pod)

    # ------------------------------------------------------------------ controllers, each step

    def _node_lifecycle(self, now: float) -> None:
        """A lost node's pods: Ready False after the node-monitor grace period, Terminating
        after the default toleration too (called with the lock held)."""
        changed = False
        for node in self._nodes.values():
            if node.lost_at is None:
                continue
            for pod in self._pods_on(node.name):
                if not pod.node_unready and now - node.lost_at >= self.timings.node_monitor_grace_seconds:
                    pod.node_unready = True
                    changed = True
                    self.log(f"{pod.name}: Ready False ({node.name} NotReady)")
                if not pod.deleting and now - node.lost_at >= (self.timings.node_monitor_grace_seconds
                                                               + self.timings.toleration_seconds):
                    pod.deleting = True
                    self.log(f"{pod.name}: Terminating (evicted from the unreachable {node.name})")
        if changed:
            self.follow_pods()

    def _protect_claims(self) -> None:
        """kubernetes.io/pvc-protection: a deleted claim goes once no pod uses it (called with
        the lock held)."""
        for claim in [c for c in self.storage.pvcs.values() if c.deleting]:
            if not self._claim_users(claim.name):
                self.storage.remove_claim(claim)

    def _claim_users(self, claim_name: str) -> list[Pod]:
        return [p for p in self._live_pods() if p.scheduled and claim_name in claim_names(p).values()]

    def _pods_on(self, node: str) -> list[Pod]:
        return [p for p in self._live_pods() if p.node == node]

    def _node(self, name: str):
        if name not in self._nodes:
            raise EmulatorError(f"no node {name!r} (have {sorted(self._nodes)})")
        return self._nodes[name]

    # ------------------------------------------------------------------ a lost node

    def lose_node(self, name: str) -> list[str]:
        """The node stops answering: each pod on it cut off the network (every packet in and
        out dropped, silently), then frozen; its kubelet is gone. Returns the pods it held."""
        node = self._node(name)
        with self.lock:
            pods = self._pods_on(name)
            self.log(f"node {name} lost with {', '.join(p.name for p in pods) or 'no pod'}")
            node.lost_at = time.monotonic()
            for pod in pods:
                if pod.freezer is None:
                    raise EmulatorError("a lost node needs the cgroup v1 freezer controller "
                                        "(/sys/fs/cgroup/freezer) to freeze its pods")
                cut_off(pod.netns)
                pod.freezer.freeze()
                pod.frozen = True
        return [p.name for p in pods]

    def restore_node(self, name: str) -> None:
        """The node answers again: its pods reconnect and thaw, their probes resume; a pod
        deleted meanwhile (marked Terminating) is stopped within its grace period."""
        node = self._node(name)
        with self.lock:
            node.lost_at = None
            pods = self._pods_on(name)
            self.log(f"node {name} back")
            for pod in pods:
                if pod.frozen:
                    reconnect(pod.netns)
                    pod.freezer.thaw()
                    pod.frozen = False
                pod.node_unready = False
            for pod in pods:
                if pod.deleting:
                    self._delete_in_background(pod, "deleted while its node was lost")
            self.follow_pods()

    def force_delete(self, ordinal: int) -> None:
        """``kubectl delete pod --force --grace-period=0``: pod N's object goes at once and the
        StatefulSet controller creates it anew. Its processes are killed here (on a lost node
        they are frozen and cut off: nobody sees them again; its returning kubelet would kill
        them)."""
        with self.lock:
            pod = self.pods[ordinal]
            pod.deleting = True
            self.log(f"force delete {pod.name}")
        self.kubelet.kill(pod)
        self.set.remove(pod)

    # ------------------------------------------------------------------ drains

    def cordon(self, name: str) -> None:
        with self.lock:
            self._node(name).cordoned = True
            self.log(f"cordon {name}")

    def uncordon(self, name: str) -> None:
        with self.lock:
            self._node(name).cordoned = False
            self.log(f"uncordon {name}")

    def evict(self, pod_name: str) -> bool:
        """The Eviction API for the pod named ``pod_name``: True when it was allowed (the pod
        is then deleted within its grace period), False when refused (429, recorded in
        ``refusals`` with the budget's numbers)."""
        return self._evict(pod_name)[0]

    def _evict(self, pod_name: str) -> tuple[bool, str]:
        with self.lock:
            pod = next((p for p in self._live_pods() if p.name == pod_name), None)
            if pod is None:
                raise EmulatorError(f"no pod {pod_name}")
            ours = self.set is not None and self.pods.get(pod.ordinal) is pod
            allowed, why = decide(pod, self.budgets, self._live_pods(), self.set.desired if ours else None)
            self.log(f"evict {pod_name}: {'allowed' if allowed else 'refused'}: {why}")
            if allowed:
                self._delete_in_background(pod, "evicted")
            else:
                self.refusals.append(Refusal(pod_name, time.monotonic(), why))
            return allowed, why

    def _delete_in_background(self, pod: Pod, why: str) -> None:
        """Deletes any pod with its grace period, as its controller then sees it go."""
        if self.set is not None and self.pods.get(pod.ordinal) is pod:
            self.set.delete_in_background(pod, why)
            return
        pod.deleting = True
        name = next((n for n, h in self.standalone.items() if h.pod is pod), None)
        if name is not None:
            self.standalone.pop(name)

        def stop() -> None:
            self.kubelet.terminate(pod, pod.grace)
            if any(pod in job._pods for job in self.jobs.values()):
                pod.phase = "Failed"  # the Job controller replaces it
            self.follow_pods()

        threading.Thread(target=stop, daemon=True).start()

    def drain(self, name: str, *, timeout: float = 120) -> list[Refusal]:
        """``kubectl drain <node> --ignore-daemonsets --delete-emptydir-data``: cordons the node,
        evicts every pod on it, asking again every 5 s while an eviction is refused, and returns
        once every evicted pod is gone, with the refusals met on the way. Raises when
        ``timeout`` passes first."""
        self.cordon(name)
        started = time.monotonic()
        refusals: list[Refusal] = []
        with self.lock:
            waiting = self._pods_on(name)
        self.log(f"drain {name}: {', '.join(p.name for p in waiting) or 'no pod'}")
        evicted: list[Pod] = []
        while waiting:
            for pod in list(waiting):
                if pod.finished:
                    waiting.remove(pod)
                    continue
                allowed, why = self._evict(pod.name)
                if allowed:
                    waiting.remove(pod)
                    evicted.append(pod)
                else:
                    refusals.append(Refusal(pod.name, time.monotonic() - started, why))
            if waiting:
                if time.monotonic() - started + DRAIN_RETRY_SECONDS > timeout:
                    raise EmulatorError(f"drain {name}: timed out after {timeout:g} s with "
                                        f"{[p.name for p in waiting]} not evicted: {refusals[-1].reason}")
                time.sleep(DRAIN_RETRY_SECONDS)
        left = max(1.0, timeout - (time.monotonic() - started))
        self.wait_for(lambda: all(p.finished for p in evicted), timeout=left, what=f"the pods evicted from {name}")
        return refusals

    # ------------------------------------------------------------------ claims and volumes

    def delete_pvc(self, claim: int | str, template: str = "data") -> None:
        """``kubectl delete pvc``: a claim by name, or pod N's claim of ``template``. It goes at
        once, or once no pod uses it; its PV then follows its reclaim policy (``storage.py``)."""
        name = self.set.claim_name(claim, template) if isinstance(claim, int) else claim
        with self.lock:
            users = self._claim_users(name)
            self.storage.delete_claim(name, in_use=bool(users))

    def delete_pv(self, name: str) -> None:
        """``kubectl delete pv``: the object goes, its folder stays; ``apply`` of manifests that
        hold it brings it back Available."""
        with self.lock:
            self.storage.delete_volume(name)
