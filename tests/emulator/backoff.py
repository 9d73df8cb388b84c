"""Restart delays, as Kubernetes computes them (the values, scaled by the cluster's speed,
are in ``timings.py``).

The kubelet (``flowcontrol.Backoff`` in its runtime manager, keyed by pod and container): a
container that exits is restarted at once the first time; after that each restart waits
10 s, then twice as long as the one before, up to 300 s. The delay starts from where it
began (a restart at once, then 10 s) when the container ran longer than twice the cap
(10 minutes) since its last restart. Init containers the same.

The Job controller: a failed pod is replaced after 10 s, then twice as long for each further
failure, up to 6 minutes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .timings import Timings


@dataclass
class _Entry:
    delay: float  # what the next restart waits
    restarted_at: float  # the last restart


class RestartBackoff:
    """The kubelet's restart delays, one entry per container of a pod, at the speed of the
    ``timings`` it reads each time (a real cluster's by default: 10 s doubling to 300 s)."""

    def __init__(self, timings: Callable[[], Timings] = Timings) -> None:
        self._timings = timings
        self._entries: dict[object, _Entry] = {}

    def restart_at(self, key: object, exited_at: float) -> float:
        """When a container that exited at ``exited_at`` starts again; records that restart."""
        t = self._timings()
        initial, cap = t.restart_backoff_seconds, t.restart_backoff_max_seconds
        entry = self._entries.get(key)
        if entry is None or exited_at - entry.restarted_at > 2 * cap:
            delay, following = 0.0, initial
        else:
            delay, following = min(entry.delay, cap), min(entry.delay * 2, cap)
        self._entries[key] = _Entry(following, exited_at + delay)
        return exited_at + delay

    def forget(self, key: object) -> None:
        self._entries.pop(key, None)


def job_delay(failures: int, timings: Timings | None = None) -> float:
    """What the Job controller waits before replacing a pod after ``failures`` failed ones
    (10 s doubling to 6 minutes at a real cluster's speed)."""
    t = timings or Timings()
    return min(t.job_backoff_seconds * 2 ** max(failures - 1, 0), t.job_backoff_max_seconds)
