"""Nodes and the scheduler: which node a pod runs on, and what a lost node does to its pods.

A node is ready, cordoned (no new pod goes there; what runs there stays) or lost. The
scheduler places a pod on a node that is neither, that it fits:

- a claim bound to a PV with node affinity pins the pod to that node; an unbound claim of a
  static class needs an Available PV the node reaches (``storage.py``), and the access modes
  of the claims hold (ReadWriteOncePod: no other pod uses it; ReadWriteOnce: none on another
  node);
- ``nodeSelector`` on ``kubernetes.io/hostname``;
- ``podAntiAffinity`` with topologyKey ``kubernetes.io/hostname``: a required term keeps the
  pod off a node where a pod it selects (in its namespace) runs; a preferred term scores such
  a node down by its weight.

Among the nodes that fit, the best score wins, then the node with the fewest pods, then the
first name. A pod that fits nowhere stays Pending with the reason (``Pod.pending_reason``),
and is tried again on every step of the loop (an uncordon, a new PV, a deleted claim).

A lost node (``Lost``): every pod on it is frozen (its containers' processes, in a cgroup v1
freezer group per pod, stop where they are: no signal, nothing ends) and cut off (an nftables
table of its own in the pod's network namespace drops every packet in and out but loopback's:
no reset, no ICMP; ARP may still answer). Its kubelet is gone: no probe, no restart, no exec.
The node lifecycle controller marks the pods' Ready condition False after the node-monitor
grace period and marks them Terminating after the default toleration (``timings.py``); they
stay until force-deleted or until the node comes back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .errors import EmulatorError
from .netpolicy import selector_matches
from .processes import run
from .storage import HOSTNAME_LABEL

GENERIC_NODES = 8
FREEZER_ROOT = Path("/sys/fs/cgroup/freezer")
FREEZER_GROUP = "mysql-ha"
LOST_TABLE = "node-lost"
LOST_RULES = (f"table inet {LOST_TABLE} {{\n"
              "\tchain input {\n\t\ttype filter hook input priority -300; policy drop;\n\t\tiif lo accept\n\t}\n"
              "\tchain output {\n\t\ttype filter hook output priority -300; policy drop;\n\t\toif lo accept\n\t}\n"
              "}\n")


@dataclass
class Node:
    """``lost_at``: when it stopped answering (None: it answers)."""

    name: str
    cordoned: bool = False
    lost_at: float | None = None

    @property
    def state(self) -> str:
        """ready, cordoned or lost."""
        return "lost" if self.lost_at is not None else "cordoned" if self.cordoned else "ready"

    @property
    def schedulable(self) -> bool:
        return self.state == "ready"


def default_nodes(pv_nodes: list[str]) -> list[str]:
    """The nodes the manifests' PVs name, then ``node-0`` .. ``node-7``."""
    generic = [f"node-{i}" for i in range(GENERIC_NODES)]
    return list(dict.fromkeys([*pv_nodes, *generic]))


# ---------------------------------------------------------------------- scheduling


def anti_affinity_terms(pod_spec: dict) -> tuple[list[dict], list[tuple[int, dict]]]:
    """The pod's podAntiAffinity terms on ``kubernetes.io/hostname``: (required label
    selectors, preferred (weight, label selector))."""
    anti = pod_spec.get("affinity", {}).get("podAntiAffinity", {})
    required, preferred = [], []
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution", []):
        _check_topology(term)
        required.append(term.get("labelSelector", {}))
    for weighted in anti.get("preferredDuringSchedulingIgnoredDuringExecution", []):
        term = weighted["podAffinityTerm"]
        _check_topology(term)
        preferred.append((int(weighted.get("weight", 1)), term.get("labelSelector", {})))
    return required, preferred


def _check_topology(term: dict) -> None:
    if term.get("topologyKey") != HOSTNAME_LABEL:
        raise EmulatorError(f"podAntiAffinity: only topologyKey {HOSTNAME_LABEL} is emulated, got {term}")


def node_score(pod, node: str, others: list) -> tuple[str | None, int]:
    """(why the pod's anti-affinity keeps it off ``node``, or None; its preference score
    there). ``others``: the scheduled pods that have not ended, with ``node``, ``labels``,
    ``namespace``."""
    required, preferred = anti_affinity_terms(pod.spec)
    there = [p for p in others if p.node == node and p.namespace == pod.namespace and p is not pod]
    for selector in required:
        clash = next((p for p in there if selector_matches(selector, p.labels)), None)
        if clash is not None:
            return f"podAntiAffinity: {clash.name} runs on {node}", 0
    return None, -sum(weight for weight, selector in preferred if any(selector_matches(selector, p.labels)
                                                                       for p in there))


# ---------------------------------------------------------------------- a lost node's pods


class Freezer:
    """A pod's cgroup v1 freezer group, ``mysql-ha/<pod folder>``: every process of its
    containers joins it at start; freezing it stops them all where they are."""

    def __init__(self, name: str) -> None:
        self.path = FREEZER_ROOT / FREEZER_GROUP / name

    @staticmethod
    def available() -> bool:
        return (FREEZER_ROOT / "freezer.state").exists() or (FREEZER_ROOT / "cgroup.procs").exists()

    def create(self) -> None:
        if not self.available():
            raise EmulatorError(f"the pod emulator needs the cgroup v1 freezer controller ({FREEZER_ROOT}) "
                                "to stand in for a lost node")
        self.path.mkdir(parents=True, exist_ok=True)

    def join_line(self) -> str:
        return f"echo 0 > {self.path / 'cgroup.procs'}"

    def freeze(self) -> None:
        self._set("FROZEN")

    def thaw(self) -> None:
        self._set("THAWED")

    def _set(self, state: str) -> None:
        if not self.path.is_dir():
            return
        (self.path / "freezer.state").write_text(state)
        deadline = time.monotonic() + 10
        while (self.path / "freezer.state").read_text().strip() != state:
            if time.monotonic() > deadline:
                raise EmulatorError(f"freezer {self.path} did not reach {state}")
            time.sleep(0.01)

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


def cut_off(netns: str) -> None:
    """Drops every packet to and from the pod's network namespace (loopback aside), silently."""
    result = run("ip", "netns", "exec", netns, "nft", "-f", "-", input=LOST_RULES, check=False)
    if result.returncode != 0:
        raise EmulatorError(f"nft in network namespace {netns} failed: {result.stderr.strip()}")


def reconnect(netns: str) -> None:
    run("ip", "netns", "exec", netns, "nft", "delete", "table", "inet", LOST_TABLE, check=False)
