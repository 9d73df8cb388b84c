"""Pod lifecycle, as the kubelet's pod workers run it: a pod gets its network and volumes,
runs its init containers one at a time in order (each until it succeeds, with restart
backoff), then starts its containers together, probes them, restarts the ones that exit
or fail their liveness or startup probe, and on deletion stops them all within the grace
period."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from emulator.images import ImageStandIn

from . import probes
from .environment import container_env
from .network import Endpoint, Network
from .objects import Objects
from .runtime import Container, Runtime
from .volumes import Mount, Volumes


class Pod:
    def __init__(self, *, set_name: str, ordinal: int, template: dict, labels: dict, images: dict[str, ImageStandIn],
                 network: Network, pods_dir: Path) -> None:
        self.ordinal = ordinal
        self.name = f"{set_name}-{ordinal}"
        self.netns = network.netns(self.name)
        self.ip = network.ip(ordinal)
        self.dir = pods_dir / f"{self.name}-{int(time.time() * 1000)}"
        self.phase = "Pending"
        self.created_at = time.monotonic()
        self.init_containers = [Container(c, images[c["image"]], True) for c in template.get("initContainers", [])]
        self.containers = [Container(c, images[c["image"]], False) for c in template["containers"]]
        self.init_index = 0
        self.deleting = False
        self.labels = {**labels, "statefulset.kubernetes.io/pod-name": self.name}

    @property
    def ready(self) -> bool:
        return self.phase == "Running" and all(c.ready for c in self.containers)

    @property
    def all_containers(self) -> list[Container]:
        return self.init_containers + self.containers

    def container(self, name: str) -> Container:
        for c in self.all_containers:
            if c.name == name:
                return c
        raise KeyError(name)

    def endpoint(self) -> Endpoint:
        return Endpoint(self.name, self.ip, self.ordinal, self.labels, self.ready)


class Kubelet:
    """Runs pods: creation, one sync step at a time, termination."""

    def __init__(self, *, set_name: str, namespace: str, grace: float, objects: Objects, volumes: Volumes,
                 network: Network, runtime: Runtime, log: Callable[[str], None], backoff: float,
                 max_backoff: float) -> None:
        self.set_name = set_name
        self.namespace = namespace
        self.grace = grace
        self.objects = objects
        self.volumes = volumes
        self.network = network
        self.runtime = runtime
        self.log = log
        self.backoff = backoff
        self.max_backoff = max_backoff

    def create(self, pod: Pod) -> None:
        """The pod's folder, network namespace and volumes; its containers start in ``sync``."""
        self.log(f"create {pod.name}")
        pod.dir.mkdir(parents=True)
        (pod.dir / "hostname").write_text(pod.name + "\n")
        self.network.add_pod(pod.netns, pod.ordinal)
        self.volumes.materialize(pod.dir, self.set_name, pod.ordinal)
        pod.phase = "Init"

    def sync(self, pod: Pod) -> None:
        """One step: init containers in order, then the containers and their probes."""
        now = time.monotonic()
        if pod.phase == "Init":
            self._sync_init(pod, now)
        elif pod.phase == "Running":
            for c in pod.containers:
                self._sync_container(pod, c, now)

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
            code = c.proc.returncode
            c.exit_codes.append(code)
            self.runtime.reap(c)
            c.proc = None
            if code == 0:
                self.log(f"{pod.name}/{c.name} completed")
                pod.init_index += 1
            else:
                c.restarts += 1
                c.not_before = now + self._backoff(c)
                self.log(f"{pod.name}/{c.name} failed with {code}, restart #{c.restarts}")

    def _sync_container(self, pod: Pod, c: Container, now: float) -> None:
        if c.proc is None:
            if now >= c.not_before:
                self.start(pod, c)
            return
        if c.proc.poll() is not None:
            c.exit_codes.append(c.proc.returncode)
            self.log(f"{pod.name}/{c.name} exited with {c.proc.returncode}")
            self.runtime.reap(c)
            c.proc = None
            c.ready = False
            c.restarts += 1
            c.not_before = now + self._backoff(c)
            return
        why = probes.check(c, lambda probe: self._spawn_probe(pod, c, probe), now,
                           lambda what: self.log(f"{pod.name}/{c.name} {what}"))
        if why:
            self._restart(pod, c, why)

    def start(self, pod: Pod, c: Container) -> None:
        env = container_env(self.objects, c.spec, pod_name=pod.name, pod_ip=pod.ip, namespace=self.namespace,
                            home=self.runtime.home(c))
        mounts = [Mount("/etc/hosts", pod.dir / "hosts", True), Mount("/etc/hostname", pod.dir / "hostname", True)]
        mounts += self.volumes.mounts(pod.dir, self.set_name, pod.ordinal, c.spec)
        c.probes = {}
        self.runtime.start(c, pod_dir=pod.dir, hostname=pod.name, netns=pod.netns, mounts=mounts, env=env)
        c.probes = probes.probe_states(c.spec, c.started_at)
        self.log(f"{pod.name}/{c.name} started pid {c.proc.pid}")

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
        self.runtime.stop(c, self.grace)
        c.ready = False
        c.restarts += 1
        c.not_before = time.monotonic() + self._backoff(c)

    def _backoff(self, c: Container) -> float:
        return min(self.backoff * 2 ** max(c.restarts - 1, 0), self.max_backoff)

    def terminate(self, pod: Pod, grace: float) -> None:
        """Stops every container at once (SIGTERM, SIGKILL after ``grace``), then removes the
        pod's network, emptyDirs and containers' writable layers."""
        self.log(f"terminate {pod.name}")
        pod.phase = "Terminating"
        threads = [threading.Thread(target=self.runtime.stop, args=(c, grace)) for c in pod.all_containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pod.phase = "Terminated"
        self.network.remove_pod(pod.netns)
        self.volumes.release(pod.dir)
        shutil.rmtree(pod.dir / "containers", ignore_errors=True)

