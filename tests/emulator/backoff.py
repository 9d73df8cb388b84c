"""Restart delays, as Kubernetes computes them.

The kubelet (``flowcontrol.Backoff`` in its runtime manager, keyed by pod and container): a
container that exits is restarted at once the first time; after that each restart waits
10 s, then twice as long as the one before, up to 300 s. The delay starts from where it
began (a restart at once, then 10 s) when the container ran longer than twice the cap
(10 minutes) since its last restart. Init containers the same.

The Job controller: a failed pod is replaced after 10 s, then twice as long for each further
failure, up to 6 minutes."""

from __future__ import annotations

from dataclasses import dataclass

# pkg/kubelet/kubelet.go: backOffPeriod, MaxContainerBackOff.
CONTAINER_BACKOFF_SECONDS = 10.0
CONTAINER_MAX_BACKOFF_SECONDS = 300.0
# pkg/controller/job: DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff.
JOB_BACKOFF_SECONDS = 10.0
JOB_MAX_BACKOFF_SECONDS = 360.0


@dataclass
class _Entry:
    delay: float  # what the next restart waits
    restarted_at: float  # the last restart


class RestartBackoff:
    """The kubelet's restart delays, one entry per container of a pod."""

    def __init__(self, initial: float = CONTAINER_BACKOFF_SECONDS, cap: float = CONTAINER_MAX_BACKOFF_SECONDS) -> None:
        self.initial = initial
        self.cap = cap
        self._entries: dict[object, _Entry] = {}

    def restart_at(self, key: object, exited_at: float) -> float:
        """When a container that exited at ``exited_at`` starts again; records that restart."""
        entry = self._entries.get(key)
        if entry is None or exited_at - entry.restarted_at > 2 * self.cap:
            delay, following = 0.0, self.initial
        else:
            delay, following = entry.delay, min(entry.delay * 2, self.cap)
        self._entries[key] = _Entry(following, exited_at + delay)
        return exited_at + delay

    def forget(self, key: object) -> None:
        self._entries.pop(key, None)


def job_delay(failures: int, initial: float = JOB_BACKOFF_SECONDS, cap: float = JOB_MAX_BACKOFF_SECONDS) -> float:
    """What the Job controller waits before replacing a pod after ``failures`` failed ones."""
    return min(initial * 2 ** max(failures - 1, 0), cap)
