"""PodDisruptionBudgets and the Eviction API, as the disruption controller and the API server
decide an eviction (``policy/v1``, ``unhealthyPodEvictionPolicy: IfHealthyBudget``, the
default):

- a pod that is Pending (its init containers running, too), has ended, or is being deleted
  may always be evicted;
- a pod no budget of its namespace selects may be evicted; one selected by two budgets is
  refused (the API server's 500);
- otherwise, from the budget: ``expected`` is the replica count of the pods' controller (the
  StatefulSet's ``replicas``; for pods without one, the pods the budget selects),
  ``currentHealthy`` the selected pods that are Ready and not being deleted,
  ``desiredHealthy`` ``minAvailable`` (an integer, or a percentage of ``expected`` rounded
  up) or ``expected - maxUnavailable`` (a percentage rounded up), and
  ``disruptionsAllowed = max(0, currentHealthy - desiredHealthy)``;
- a pod that is not Ready is evicted when ``currentHealthy >= desiredHealthy > 0`` (it does
  not count against the budget); any pod when ``disruptionsAllowed > 0``; else 429.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import EmulatorError
from .netpolicy import selector_matches


@dataclass(frozen=True)
class Refusal:
    """An eviction refused: the pod, when (monotonic seconds, or seconds into a drain), why."""

    pod: str
    at: float
    reason: str


@dataclass(frozen=True)
class Budget:
    name: str
    namespace: str
    selector: dict
    min_available: int | str | None
    max_unavailable: int | str | None

    @classmethod
    def from_manifest(cls, manifest: dict, default_namespace: str) -> "Budget":
        spec = manifest["spec"]
        if ("minAvailable" in spec) == ("maxUnavailable" in spec):
            raise EmulatorError(f"PodDisruptionBudget {manifest['metadata']['name']}: exactly one of minAvailable "
                                "and maxUnavailable")
        return cls(manifest["metadata"]["name"], manifest["metadata"].get("namespace", default_namespace),
                   spec.get("selector", {}), spec.get("minAvailable"), spec.get("maxUnavailable"))

    def selects(self, pod) -> bool:
        return pod.namespace == self.namespace and selector_matches(self.selector, pod.labels)

    def desired_healthy(self, expected: int) -> int:
        if self.min_available is not None:
            return _scaled(self.min_available, expected)
        return max(0, expected - _scaled(self.max_unavailable, expected))


def _scaled(value: int | str, total: int) -> int:
    """An integer, or a percentage of ``total`` rounded up (``GetScaledValueFromIntOrPercent``)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def healthy(pod) -> bool:
    return pod.ready and not pod.deleting


def decide(pod, budgets: list[Budget], pods: list, expected: int | None) -> tuple[bool, str]:
    """Whether the Eviction API lets ``pod`` go, and why. ``pods``: every pod that exists;
    ``expected``: the replica count of ``pod``'s controller (None: it has none)."""
    if pod.phase in ("Pending", "Init") or pod.finished or pod.deleting:
        # "Init" is the emulator's name for a Pending pod whose init containers run.
        state = "being deleted" if pod.deleting else "Pending" if pod.phase == "Init" else pod.phase
        return True, f"{pod.name} is {state}: no budget applies"
    matching = [b for b in budgets if b.selects(pod)]
    if not matching:
        return True, "no PodDisruptionBudget selects it"
    if len(matching) > 1:
        return False, f"500: more than one PodDisruptionBudget selects {pod.name}: {[b.name for b in matching]}"
    budget = matching[0]
    selected = [p for p in pods if budget.selects(p) and not p.finished]
    count = expected if expected is not None else len(selected)
    current = sum(1 for p in selected if healthy(p))
    desired = budget.desired_healthy(count)
    allowed = max(0, current - desired)
    status = f"PodDisruptionBudget {budget.name}: currentHealthy {current}, desiredHealthy {desired}, " \
             f"expectedPods {count}, disruptionsAllowed {allowed}"
    if not pod.ready and current >= desired > 0:
        return True, f"{pod.name} is not Ready and the budget is healthy ({status})"
    if allowed > 0:
        return True, status
    return False, f"429: Cannot evict pod as it would violate the pod's disruption budget ({status})"
