"""Jobs made from CronJobs (``kubectl create job --from=cronjob/...``), run as the Job
controller runs them: one pod at a time from the job template, a failed pod replaced by a
new one after the Job controller's delay (10 s, doubling to 6 minutes: ``backoff.py``) until
``backoffLimit`` failures, the whole job stopped once
``activeDeadlineSeconds`` have passed. A pod's containers follow its restartPolicy (Never or
OnFailure; with OnFailure every container restart counts as a failure too)."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from typing import TYPE_CHECKING

from .backoff import job_delay
from .errors import EmulatorError
from .pods import Pod

if TYPE_CHECKING:
    from .cluster import Cluster

# What Kubernetes draws a generated name's suffix from, without its digits.
_SUFFIX_LETTERS = "bcdfghjklmnpqrstvwxz"


class Job:
    """A running or finished Job, its pods in ``namespace`` (its CronJob's). ``state``:
    Active, Complete, Failed or Deleted; ``reason`` says why a job failed
    (BackoffLimitExceeded, DeadlineExceeded)."""

    def __init__(self, cluster: Cluster, name: str, spec: dict, *, namespace: str) -> None:
        template = spec["template"]
        self.pod_spec = template["spec"]
        policy = self.pod_spec.get("restartPolicy")
        if policy not in ("Never", "OnFailure"):
            raise EmulatorError(f"job {name}: restartPolicy must be Never or OnFailure, got {policy!r}")
        for field in ("completions", "parallelism"):
            if spec.get(field, 1) != 1:
                raise EmulatorError(f"job {name}: only {field} 1 is emulated, got {spec[field]}")
        self.cluster = cluster
        self.name = name
        self.namespace = namespace
        self.spec = spec
        uid = str(uuid.uuid4())
        self.labels = {**template.get("metadata", {}).get("labels", {}), "batch.kubernetes.io/job-name": name,
                       "job-name": name, "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
        self.backoff_limit = spec.get("backoffLimit", 6)
        self.deadline = spec.get("activeDeadlineSeconds")
        self.started_at = time.monotonic()
        self.state = "Active"
        self.reason: str | None = None
        self.failed_pods = 0
        self._pods: list[Pod] = []
        self._counted: set[str] = set()  # failed pods already counted
        self._not_before = 0.0  # the next pod's backoff
        self._stopping = False

    # ------------------------------------------------------------------ what a test reads

    @property
    def succeeded(self) -> bool:
        return self.state == "Complete"

    @property
    def failed(self) -> bool:
        return self.state == "Failed"

    @property
    def pods(self) -> list[str]:
        """The names of the job's pods, oldest first."""
        return [p.name for p in self._pods]

    @property
    def pod(self) -> Pod | None:
        """The newest pod."""
        return self._pods[-1] if self._pods else None

    @property
    def failures(self) -> int:
        """What counts against backoffLimit: failed pods, and with restartPolicy OnFailure the
        container restarts of the running pod."""
        pod = self.pod
        restarts = sum(c.restarts for c in pod.all_containers) if pod is not None and not pod.finished else 0
        return self.failed_pods + restarts

    def wait(self, timeout: float = 120) -> bool:
        """Waits until the job has finished: True when it succeeded, False when it failed."""
        self.cluster.wait_for(lambda: self.state != "Active", timeout=timeout, what=f"job {self.name} to finish")
        if self.state == "Deleted":
            raise EmulatorError(f"job {self.name} was deleted")
        return self.succeeded

    def wait_running(self, container: str, timeout: float = 60) -> str:
        """Waits until ``container`` runs in the job's newest pod; returns that pod's name."""
        def running() -> bool:
            pod = self.pod
            return pod is not None and not pod.finished and pod.container(container).running

        self.cluster.wait_for(running, timeout=timeout, what=f"{container} of job {self.name} to run")
        return self.pod.name

    def logs(self, container: str, pod: str | None = None) -> str:
        """What ``container`` of the pod named ``pod`` (default: the newest) has written."""
        target = self.pod if pod is None else next((p for p in self._pods if p.name == pod), None)
        if target is None:
            raise EmulatorError(f"job {self.name} has no pod {pod!r} (pods: {self.pods})")
        c = target.container(container)
        return c.log_path.read_text(errors="replace") if c.log_path and c.log_path.exists() else ""

    # ------------------------------------------------------------------ what a test does to the job

    def kill(self) -> None:
        """SIGKILL to every process of the newest pod (a node crash, or ``kubectl delete pod
        --grace-period=0``): the pod fails, and the job replaces it within backoffLimit."""
        pod = self.pod
        if pod is None or pod.finished:
            raise EmulatorError(f"job {self.name} has no running pod to kill")
        self.cluster.log(f"kill pod {pod.name} of job {self.name}")
        self.cluster.kubelet.kill(pod)

    def delete(self) -> None:
        """``kubectl delete job``: no new pod, the running one stopped within its grace period."""
        with self.cluster.lock:
            self.cluster.log(f"delete job {self.name}")
            self.state = "Deleted"
            pods = [p for p in self._pods if not p.finished]
        for pod in pods:
            self.cluster.kubelet.terminate(pod, pod.grace)

    # ------------------------------------------------------------------ the Job controller

    @property
    def live_pods(self) -> list[Pod]:
        return [p for p in self._pods if not p.finished]

    def control(self, now: float) -> None:
        """One step of the Job controller (called with the cluster's lock held)."""
        if self.state != "Active" or self._stopping:
            return
        pod = self.pod
        if pod is not None and pod.phase == "Succeeded":
            self._end("Complete", None)
            return
        if pod is not None and pod.phase == "Failed" and pod.name not in self._counted:
            self._counted.add(pod.name)
            self.failed_pods += 1
            self._not_before = now + job_delay(self.failed_pods, self.cluster.timings)
            self.cluster.log(f"job {self.name}: pod {pod.name} failed, the next in {self._not_before - now:.0f} s")
        if self.deadline is not None and now - self.started_at >= self.deadline:
            self._stop("DeadlineExceeded")
        elif self.failures > self.backoff_limit:
            self._stop("BackoffLimitExceeded")
        elif (pod is None or pod.phase == "Failed") and now >= self._not_before:
            self._create_pod()

    def _create_pod(self) -> None:
        name = f"{self.name}-{''.join(secrets.choice(_SUFFIX_LETTERS) for _ in range(5))}"
        pod = Pod(name=name, namespace=self.namespace, spec=self.pod_spec, labels=self.labels,
                  images=self.cluster.images, network=self.cluster.network, pods_dir=self.cluster.pods_dir,
                  subdomain=self.pod_spec.get("subdomain"))
        self._pods.append(pod)
        self.cluster.place(pod)
        self.cluster.follow_pods()

    def _stop(self, reason: str) -> None:
        """The job failed: its running pod is stopped (in the background), then the job is Failed."""
        self._stopping = True
        self.cluster.log(f"job {self.name}: {reason}")

        def stop() -> None:
            for pod in self.live_pods:
                self.cluster.kubelet.terminate(pod, pod.grace)
            with self.cluster.lock:
                self._end("Failed", reason)

        threading.Thread(target=stop, daemon=True).start()

    def _end(self, state: str, reason: str | None) -> None:
        if self.state == "Active":
            self.cluster.log(f"job {self.name} {state.lower()}")
            self.state = state
            self.reason = reason
