"""Pod lifecycle, as the kubelet's pod workers run it: a pod gets its network and volumes,
runs its init containers one at a time in order (each until it succeeds, with the kubelet's
restart backoff: ``backoff.py``), then starts its containers together, probes them, restarts the ones that exit
or fail their liveness or startup probe as its restartPolicy says (Always, OnFailure,
Never), ends Succeeded or Failed when none is left to restart, and on deletion stops them
all within the grace period. A changed ConfigMap or Secret reaches a running pod's volumes at
the pod's own next sync, a moment drawn for each pod within the sync window after the change
(``timings.py``), all its files at once (``volumes.py``).

Every pod runs here: a StatefulSet's (``statefulset.py``), a Job's (``jobs.py``) and one a
test runs by itself (``standalone.py``), once the scheduler has given it a node (``nodes.py``);
until then it is Pending. On a lost node its processes are frozen and its kubelet does nothing
for it: no probe, no restart, no volume sync."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from emulator.images import ImageStandIn

from . import probes
from .backoff import RestartBackoff
from .environment import container_env
from .dns import SERVICE_DOMAIN, pod_hosts, resolv_conf
from .errors import EmulatorError
from .netpolicy import policy_pod
from .network import NODE_IP, Network
from .nodes import Freezer
from .objects import Objects
from .runtime import Container, Runtime
from .services import Endpoint
from .timings import Timings
from .volumes import Mount, Volumes

FINISHED = ("Succeeded", "Failed", "Terminated")

MINIMUM_GRACE_SECONDS = 2.0
"""The kubelet's floor for the grace period left after a preStop hook (minimumGracePeriodInSeconds)."""


class Pod:
    """One pod: its spec, identity on the network, containers and phase.

    ``namespace`` is the one it lives in (the Services and policies that may select it are
    that namespace's); ``ip`` is its address, taken from ``network`` when its node creates it
    and given back when it ends; ``claims`` maps the volume names of its StatefulSet's claim templates
    to the claims' names; ``subdomain`` is the headless Service under which it has a name of its
    own (``<hostname>.<subdomain>``), its hostname the spec's ``hostname`` or its name."""

    def __init__(self, *, name: str, namespace: str, spec: dict, labels: dict, images: dict[str, ImageStandIn],
                 network: Network, pods_dir: Path, ordinal: int | None = None,
                 claims: dict[str, str] | None = None, subdomain: str | None = None) -> None:
        self.name = name
        self.namespace = namespace
        self.spec = spec
        self.ordinal = ordinal
        self.hostname = spec.get("hostname", name)
        self.netns = network.netns(name)
        self.ip: str | None = None  # given by the network once the pod has a node (Kubelet.create)
        self.dir = pods_dir / f"{name}-{int(time.time() * 1000)}"
        self.phase = "Pending"
        self.created_at = time.monotonic()
        security = spec.get("securityContext", {})
        self.init_containers = [Container(c, images[c["image"]], True, security) for c in spec.get("initContainers", [])]
        self.containers = [Container(c, images[c["image"]], False, security) for c in spec["containers"]]
        self.init_index = 0
        self.deleting = False
        self.labels = dict(labels)
        self.claims = dict(claims or {})
        # Its node (None: not scheduled yet, and why), and what a lost node did to it: its
        # processes frozen, and its Ready condition set False by the node lifecycle controller.
        self.node: str | None = None
        self.pending_reason: str | None = None
        self.frozen = False
        self.node_unready = False
        self.freezer: Freezer | None = None
        self.subdomain = subdomain
        self.restart_policy = spec.get("restartPolicy", "Always")
        self.grace = spec.get("terminationGracePeriodSeconds", 30)
        # Its configMap and secret volumes as last written (volume name -> files), and the
        # moment of its next sync that carries a changed object into them.
        self.projections: dict[str, dict[str, tuple[str, int]]] = {}
        self.volume_sync_at: float | None = None
        # Held by a sync step and by termination: a pod is never stopped halfway through a start.
        self.lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.phase == "Running" and not self.node_unready and all(c.ready for c in self.containers)

    @property
    def scheduled(self) -> bool:
        """It has a node: its network namespace, folder and volumes exist."""
        return self.node is not None

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED

    @property
    def all_containers(self) -> list[Container]:
        return self.init_containers + self.containers

    def container(self, name: str) -> Container:
        for c in self.all_containers:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def fqdn(self) -> str | None:
        """``<hostname>.<subdomain>.<namespace>.svc.cluster.local``, for a pod with a subdomain."""
        return f"{self.hostname}.{self.subdomain}.{self.namespace}.{SERVICE_DOMAIN}" if self.subdomain else None

    def endpoint(self) -> Endpoint:
        """What Services read of the pod (``services.py``)."""
        order = self.ordinal if self.ordinal is not None else self.created_at
        return Endpoint(self.name, self.namespace, self.ip, order, self.labels, self.ready,
                        self.deleting or self.phase == "Terminating", self.hostname, self.subdomain,
                        policy_pod(self).ports)


class Kubelet:
    """Runs pods: creation, one sync step at a time, termination. ``timings`` are its own
    (restart backoff, the sync that refreshes volumes), at the cluster's speed."""

    def __init__(self, *, objects: Objects, volumes: Volumes, network: Network, runtime: Runtime,
                 log: Callable[[str], None], timings: Timings) -> None:
        self.objects = objects
        self.volumes = volumes
        self.network = network
        self.runtime = runtime
        self.log = log
        self.timings = timings
        self.random = random.Random()
        self.restart_backoff = RestartBackoff(lambda: self.timings)

    def object_changed(self, pod: Pod, kind: str, name: str, after: float | None = None) -> None:
        """A ConfigMap or Secret changed: if ``pod`` shows it in a volume, the pod's next sync
        writes it there, ``after`` seconds from now (by default a moment drawn uniformly within
        the sync window). A pod whose next sync is already due keeps its moment, and that sync
        carries every change made until then."""
        if pod.finished or pod.deleting or not any(Volumes.projects(v, kind, name) for v in pod.spec.get("volumes", [])):
            return
        now = time.monotonic()
        if after is not None:
            pod.volume_sync_at = now + after
        elif pod.volume_sync_at is None:
            pod.volume_sync_at = now + self.random.uniform(0, self.timings.config_window_seconds)
        self.log(f"{kind} {name} reaches {pod.name} in {pod.volume_sync_at - now:.1f} s")

    def create(self, pod: Pod) -> None:
        """The pod's folder, network namespace, freezer group and volumes, once it has a node
        and its claims are bound; its containers start in ``sync``."""
        if pod.restart_policy not in ("Always", "OnFailure", "Never"):
            raise ValueError(f"pod {pod.name}: unknown restartPolicy {pod.restart_policy!r}")
        self.log(f"create {pod.name} on {pod.node}")
        pod.dir.mkdir(parents=True)
        pod.ip = self.network.allocate()
        if Freezer.available():
            pod.freezer = Freezer(pod.dir.name)
            pod.freezer.create()
        (pod.dir / "hostname").write_text(pod.hostname + "\n")
        (pod.dir / "hosts").write_text(pod_hosts(pod.ip, pod.hostname, pod.fqdn))
        (pod.dir / "resolv.conf").write_text(resolv_conf(pod.namespace, NODE_IP))
        self.network.add_pod(pod.netns, pod.ip)
        self.volumes.materialize(pod)
        pod.phase = "Init"

    def sync(self, pod: Pod) -> None:
        """One step: init containers in order, then the containers and their probes. A pod
        that is being stopped is left alone."""
        if not pod.lock.acquire(blocking=False):
            return
        try:
            if pod.deleting or pod.frozen or not pod.scheduled:
                return
            now = time.monotonic()
            if pod.volume_sync_at is not None and now >= pod.volume_sync_at:
                pod.volume_sync_at = None
                updated = self.volumes.refresh(pod)
                if updated:
                    self.log(f"{pod.name}: volumes {', '.join(updated)} updated")
            if pod.phase == "Init":
                self._sync_init(pod, now)
            elif pod.phase == "Running":
                for c in pod.containers:
                    self._sync_container(pod, c, now)
                self._check_completion(pod)
        finally:
            pod.lock.release()

    def _sync_init(self, pod: Pod, now: float) -> None:
        if pod.init_index >= len(pod.init_containers):
            pod.phase = "Running"
            for c in pod.containers:
                self.start(pod, c)
            return
        c = pod.init_containers[pod.init_index]
        if c.proc is None:
            if now >= c.not_before:
                self.start(pod, c)
        elif c.proc.poll() is not None:
            code = self.runtime.exit_code(c)
            c.exit_codes.append(code)
            self.runtime.reap(c)
            c.proc = None
            if code == 0:
                self.log(f"{pod.name}/{c.name} completed")
                pod.init_index += 1
            elif pod.restart_policy == "Never":
                self.log(f"{pod.name}/{c.name} failed with {code}")
                c.done = True
                self._finish(pod, "Failed")
            else:
                c.restarts += 1
                c.not_before = self._restart_at(pod, c, now)
                self.log(f"{pod.name}/{c.name} failed with {code}, restart #{c.restarts} "
                         f"in {c.not_before - now:.0f} s")

    def _sync_container(self, pod: Pod, c: Container, now: float) -> None:
        if c.done:
            return
        if c.proc is None:
            if now >= c.not_before:
                self.start(pod, c)
            return
        if c.proc.poll() is not None:
            code = self.runtime.exit_code(c)
            c.exit_codes.append(code)
            self.log(f"{pod.name}/{c.name} exited with {code}" + (" (OOMKilled)" if c.reason == "OOMKilled" else ""))
            self.runtime.reap(c)
            c.proc = None
            c.ready = False
            self._after_exit(pod, c, code, now)
            return
        why = probes.check(c, lambda probe: self._spawn_probe(pod, c, probe), now,
                           lambda what: self.log(f"{pod.name}/{c.name} {what}"))
        if why:
            self._restart(pod, c, why)

    def _after_exit(self, pod: Pod, c: Container, code: int, now: float) -> None:
        """Restarts the container after its backoff, unless the restartPolicy keeps it ended."""
        if pod.restart_policy == "Never" or (pod.restart_policy == "OnFailure" and code == 0):
            c.done = True
            return
        c.restarts += 1
        c.not_before = self._restart_at(pod, c, now)

    def _check_completion(self, pod: Pod) -> None:
        if pod.restart_policy != "Always" and all(c.done for c in pod.containers):
            self._finish(pod, "Succeeded" if all(c.exit_codes[-1] == 0 for c in pod.containers) else "Failed")

    def start(self, pod: Pod, c: Container) -> None:
        env = container_env(self.objects, c.spec, pod_name=pod.name, pod_ip=pod.ip, namespace=pod.namespace,
                            home=self.runtime.home(c), image_env=c.image.env)
        mounts = [Mount("/etc/hosts", pod.dir / "hosts", True), Mount("/etc/hostname", pod.dir / "hostname", True),
                  Mount("/etc/resolv.conf", pod.dir / "resolv.conf", True)]
        mounts += self.volumes.mounts(pod, c.spec)
        c.probes = {}
        self.runtime.start(c, pod_dir=pod.dir, hostname=pod.hostname, netns=pod.netns, mounts=mounts, env=env,
                           join=[pod.freezer.join_line()] if pod.freezer else [])
        c.probes = probes.probe_states(c.spec, c.started_at)
        self.log(f"{pod.name}/{c.name} started pid {c.pid}")

    def _spawn_probe(self, pod: Pod, c: Container, probe: probes.Probe) -> subprocess.Popen:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "stdin": subprocess.DEVNULL}
        if probe.command is not None:
            return self.runtime.spawn(c, probe.command, **quiet)
        # A tcpSocket probe connects from the node (the bridge's namespace) with the node's tools.
        return subprocess.Popen(
            ["ip", "netns", "exec", self.network.bridge_ns, "bash", "-c", f"exec 3<>/dev/tcp/{pod.ip}/{probe.port}"],
            start_new_session=True, **quiet,
        )

    def _restart(self, pod: Pod, c: Container, why: str) -> None:
        self.log(f"{pod.name}/{c.name}: {why}, restarting")
        proc = c.proc
        # Held in this step, as every sync of the loop: a container that ignores SIGTERM holds
        # the loop for the grace period (a kubelet's pod workers would hold only this pod).
        self._stop(pod, c, pod.grace)
        c.ready = False
        if pod.restart_policy == "Always":
            c.restarts += 1
            c.not_before = self._restart_at(pod, c, time.monotonic())
        else:
            c.exit_codes.append(proc.returncode)
            self._after_exit(pod, c, proc.returncode, time.monotonic())

    def _restart_at(self, pod: Pod, c: Container, exited_at: float) -> float:
        """When the container starts again, by the kubelet's backoff (``backoff.py``)."""
        return self.restart_backoff.restart_at((pod.dir, c.name), exited_at)

    def terminate(self, pod: Pod, grace: float) -> None:
        """Stops every container at once (SIGTERM, SIGKILL after ``grace``), then removes the
        pod's network, emptyDirs and containers' writable layers. A pod that has ended keeps
        its phase (Succeeded or Failed). A pod on a lost node is only marked (Terminating):
        no kubelet there stops it."""
        pod.deleting = True
        if pod.frozen:
            return
        with pod.lock:
            if pod.phase in FINISHED:
                return
            self.log(f"terminate {pod.name}")
            pod.phase = "Terminating"
            threads = [threading.Thread(target=self._stop, args=(pod, c, grace)) for c in pod.all_containers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self._release(pod, "Terminated")

    def _stop(self, pod: Pod, c: Container, grace: float) -> None:
        grace = self._pre_stop(pod, c, grace)
        how = self.runtime.stop(c, grace)
        if how:
            self.log(f"{pod.name}/{c.name} {how}")

    def _pre_stop(self, pod: Pod, c: Container, grace: float) -> float:
        """The container's ``lifecycle.preStop`` hook, as the kubelet runs it before it stops a
        running container (a deletion, a failed liveness or startup probe; not a container that
        ended by itself): an ``exec`` in the container, given the grace period as its timeout;
        its failure is only logged. What it took comes off the grace period left for SIGTERM,
        which keeps at least the kubelet's minimum of 2 s. Returns that grace period."""
        hook = (c.spec.get("lifecycle") or {}).get("preStop")
        if not hook or c.proc is None or c.proc.poll() is not None:
            return grace
        if set(hook) != {"exec"}:
            raise EmulatorError(f"{pod.name}/{c.name}: preStop handlers other than exec are not emulated: {sorted(hook)}")
        started = time.monotonic()
        try:
            result = self.runtime.exec(c, hook["exec"]["command"], timeout=grace)
            outcome = f"exited {result.returncode}"
        except subprocess.TimeoutExpired:
            outcome = "still running at the grace period"
        took = time.monotonic() - started
        self.log(f"{pod.name}/{c.name}: preStop hook {outcome} after {took:.1f} s")
        return max(grace - took, MINIMUM_GRACE_SECONDS)

    def kill(self, pod: Pod) -> None:
        """SIGKILL to every process of the pod at once (its node crashed, or a deletion with
        no grace period): the pod ends Failed."""
        pod.deleting = True
        with pod.lock:
            if pod.phase in FINISHED:
                return
            self.log(f"kill {pod.name}")
            for c in pod.all_containers:
                self.runtime.signal_all(c, signal.SIGKILL)
            if pod.frozen:
                # A frozen process takes its SIGKILL when it thaws: it runs no more code.
                pod.freezer.thaw()
                pod.frozen = False
            for c in pod.all_containers:
                self.runtime.stop(c, 0)
            self._release(pod, "Failed")

    def _finish(self, pod: Pod, phase: str) -> None:
        """The pod ended by itself: nothing runs in it any more."""
        self.log(f"{pod.name} {phase.lower()}")
        for c in pod.all_containers:
            self.runtime.stop(c, 0)
        self._release(pod, phase)

    def _release(self, pod: Pod, phase: str) -> None:
        pod.phase = phase
        self.network.remove_pod(pod.netns)
        if pod.ip is not None:
            self.network.release(pod.ip)
        self.volumes.release(pod.dir)
        shutil.rmtree(pod.dir / "containers", ignore_errors=True)
        if pod.freezer is not None:
            pod.freezer.remove()
