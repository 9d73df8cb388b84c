"""The emulator's own timings: those of the kubelet and the controllers it stands in for, at
a real cluster's defaults, all scaled by one speed factor. The manifests' timings (probe
periods, ``terminationGracePeriodSeconds``, a Job's ``activeDeadlineSeconds``) and what the
pods' scripts do (their sleeps, their timeouts) belong to the product: never scaled.

At ``speed`` 1 the emulator waits as a default kubelet does; at ``speed`` 3 every one of these
waits is a third as long (a ConfigMap change reaches each pod within 30 s instead of 90 s)."""

from __future__ import annotations

from dataclasses import dataclass

# The kubelet's syncFrequency (its pod workers resync each pod this often, jittered by a
# factor of 0.5: every 60 to 90 s). A ConfigMap or Secret volume is rewritten at the pod's
# next sync after the kubelet's cache has the change (Watch strategy: at once).
CONFIG_SYNC_SECONDS = 60.0
CONFIG_SYNC_JITTER = 0.5
# The kubelet's restart backoff (10 s doubling to 5 min) and the Job controller's pod
# backoff (10 s doubling to 6 min).
RESTART_BACKOFF_SECONDS = 10.0
RESTART_BACKOFF_MAX_SECONDS = 300.0
JOB_BACKOFF_SECONDS = 10.0
JOB_BACKOFF_MAX_SECONDS = 360.0
# The node lifecycle controller: a node that stops answering is NotReady after the node-monitor
# grace period (its pods' Ready condition False); its pods are evicted (marked Terminating)
# after the default toleration of the ``unreachable`` taint, counted from then.
NODE_MONITOR_GRACE_SECONDS = 40.0
DEFAULT_TOLERATION_SECONDS = 300.0
# CoreDNS's kubernetes plugin answers with a TTL of 5 s, and its cache gives an answer again
# until then: a change reaches a client within 5 s, and may take that long.
DNS_TTL_SECONDS = 5.0
# kube-proxy's minimum sync period (iptables mode): its rules change at most once a second.
PROXY_MIN_SYNC_SECONDS = 1.0


@dataclass(frozen=True)
class Timings:
    """Every timing the emulator applies by itself, at ``speed`` (1 = a real cluster's)."""

    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be a positive factor, got {self.speed!r}")

    def _scaled(self, seconds: float) -> float:
        return seconds / self.speed

    @property
    def config_sync_seconds(self) -> float:
        """The kubelet's syncFrequency at this speed."""
        return self._scaled(CONFIG_SYNC_SECONDS)

    @property
    def config_window_seconds(self) -> float:
        """A changed ConfigMap or Secret reaches each pod's volumes at a moment of its own,
        uniformly spread over this window after the change (syncFrequency plus its jitter)."""
        return self._scaled(CONFIG_SYNC_SECONDS * (1 + CONFIG_SYNC_JITTER))

    @property
    def restart_backoff_seconds(self) -> float:
        return self._scaled(RESTART_BACKOFF_SECONDS)

    @property
    def restart_backoff_max_seconds(self) -> float:
        return self._scaled(RESTART_BACKOFF_MAX_SECONDS)

    @property
    def dns_ttl_seconds(self) -> float:
        """How long the cluster DNS gives an answer again (its TTL and its cache's)."""
        return self._scaled(DNS_TTL_SECONDS)

    @property
    def proxy_min_sync_seconds(self) -> float:
        """How long kube-proxy waits, after changing a Service's rules, before it changes them again."""
        return self._scaled(PROXY_MIN_SYNC_SECONDS)

    @property
    def job_backoff_seconds(self) -> float:
        return self._scaled(JOB_BACKOFF_SECONDS)

    @property
    def job_backoff_max_seconds(self) -> float:
        return self._scaled(JOB_BACKOFF_MAX_SECONDS)

    @property
    def node_monitor_grace_seconds(self) -> float:
        return self._scaled(NODE_MONITOR_GRACE_SECONDS)

    @property
    def toleration_seconds(self) -> float:
        return self._scaled(DEFAULT_TOLERATION_SECONDS)
