"""Runs the pods of a synthesized StatefulSet as processes, the way a kubelet would.

Everything comes from the manifests: container commands and args, env, envFrom and
valueFrom, volume mounts (subPath, readOnly), ConfigMap and Secret files (items,
defaultMode), probes and their timings, replica count, init-container order and the
OrderedReady policy. Only the container images are stood in for by the host's
programs (see ``images.py``).

Per pod: a network namespace with its own address on a bridge (the bridge lives in a
namespace of its own, so nothing touches the host's network); per container: a mount
and UTS namespace in which the pod's volumes are bind-mounted at the container's
mount paths, ``/etc/hosts`` resolves pods and Services, and the hostname is the pod's.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .images import ImageStandIn, stand_in_for

BRIDGE_NS_SUFFIX = "net"
SUBNET = "10.244.77"
CLUSTER_DOMAIN = "svc.cluster.local"


class EmulatorError(RuntimeError):
    pass


def _run(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


@dataclass
class Probe:
    """A probe as the manifest declares it, with kubelet's defaults."""

    command: list[str]
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int

    @classmethod
    def parse(cls, spec: dict | None, container: dict) -> "Probe | None":
        if not spec:
            return None
        if "exec" in spec:
            command = list(spec["exec"]["command"])
        elif "tcpSocket" in spec:
            # The kubelet connects to the pod's port; a connect from inside the pod is the same test.
            port = spec["tcpSocket"]["port"]
            if isinstance(port, str):
                port = next(p["containerPort"] for p in container.get("ports", []) if p.get("name") == port)
            command = ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{int(port)}"]
        else:
            raise EmulatorError(f"only exec and tcpSocket probes are emulated, got {sorted(spec)}")
        return cls(
            command=command,
            initial_delay=spec.get("initialDelaySeconds", 0),
            period=spec.get("periodSeconds", 10),
            timeout=spec.get("timeoutSeconds", 1),
            failure_threshold=spec.get("failureThreshold", 3),
            success_threshold=spec.get("successThreshold", 1),
        )


@dataclass
class ProbeState:
    probe: Probe
    next_at: float
    proc: subprocess.Popen | None = None
    deadline: float = 0.0
    failures: int = 0
    successes: int = 0
    results: list[tuple[float, bool]] = field(default_factory=list)


@dataclass
class Container:
    spec: dict
    image: ImageStandIn
    init: bool
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    not_before: float = 0.0  # restart backoff
    startup_passed: bool = False
    ready: bool = False
    exit_codes: list[int] = field(default_factory=list)
    probes: dict[str, ProbeState] = field(default_factory=dict)
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # as started; probes and exec get the same

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Pod:
    def __init__(self, cluster: "Cluster", ordinal: int) -> None:
        self.cluster = cluster
        self.ordinal = ordinal
        self.name = f"{cluster.set_name}-{ordinal}"
        self.netns = f"{cluster.prefix}-{self.name}"
        self.ip = f"{SUBNET}.{10 + ordinal}"
        self.dir = cluster.workdir / "pods" / f"{self.name}-{int(time.time() * 1000)}"
        self.phase = "Pending"
        self.created_at = time.monotonic()
        self.init_containers = [Container(c, stand_in_for(c["image"], cluster), True) for c in cluster.template["initContainers"]]
        self.containers = [Container(c, stand_in_for(c["image"], cluster), False) for c in cluster.template["containers"]]
        self.init_index = 0
        self.deleting = False
        self.labels = {**cluster.template_labels, "statefulset.kubernetes.io/pod-name": self.name}

    @property
    def ready(self) -> bool:
        return self.phase == "Running" and all(c.ready for c in self.containers)

    def container(self, name: str) -> Container:
        for c in self.init_containers + self.containers:
            if c.name == name:
                return c
        raise KeyError(name)


class Cluster:
    """One StatefulSet's pods, run for real. Use as a context manager: teardown always runs."""

    def __init__(
        self,
        manifests: list[dict],
        workdir: Path,
        *,
        prefix: str = "mh",
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
        tick_seconds: float = 0.1,
    ) -> None:
        self.workdir = Path(workdir)
        self.prefix = prefix
        self.backoff = backoff_seconds
        self.max_backoff = max_backoff_seconds
        self.tick = tick_seconds
        self.objects = manifests
        sts = [m for m in manifests if m["kind"] == "StatefulSet"]
        if len(sts) != 1:
            raise EmulatorError(f"expected one StatefulSet, got {len(sts)}")
        self.statefulset = sts[0]
        self.namespace = self.statefulset["metadata"].get("namespace", "default")
        self.set_name = self.statefulset["metadata"]["name"]
        self.spec = self.statefulset["spec"]
        if self.spec.get("podManagementPolicy", "OrderedReady") != "OrderedReady":
            raise EmulatorError("only the OrderedReady pod management policy is emulated")
        self.template = self.spec["template"]["spec"]
        self.template_labels = self.spec["template"]["metadata"].get("labels", {})
        self.service_name = self.spec["serviceName"]
        self.config_maps = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ConfigMap"}
        self.secrets = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Secret"}
        self.services = [m for m in manifests if m["kind"] == "Service"]
        self.desired = self.spec.get("replicas", 1)
        self.grace = self.template.get("terminationGracePeriodSeconds", 30)
        self.fs_group = self.template.get("securityContext", {}).get("fsGroup")
        self.pods: dict[int, Pod] = {}
        self.events: list[tuple[float, str]] = []
        self.errors: list[Exception] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bridge_ns = f"{prefix}-{BRIDGE_NS_SUFFIX}"
        self._network_up = False

    # ------------------------------------------------------------------ public API

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def start(self) -> None:
        """Creates the network and starts the StatefulSet controller and kubelet loop."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._network()
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        self._thread.start()

    def scale(self, replicas: int) -> None:
        with self._lock:
            self.log(f"scale to {replicas}")
            self.desired = replicas

    def delete_pod(self, ordinal: int, *, grace: float | None = None) -> None:
        """Deletes pod N (its PVC stays); the controller then creates it anew."""
        with self._lock:
            pod = self.pods[ordinal]
            pod.deleting = True
        self._terminate_pod(pod, self.grace if grace is None else grace)
        with self._lock:
            self.pods.pop(ordinal, None)
            self._write_hosts()

    def kill_container(self, ordinal: int, name: str, sig: int = signal.SIGKILL) -> None:
        """Signals a container's whole process group, as a crash or an OOM kill would."""
        container = self.pods[ordinal].container(name)
        if container.proc is None:
            raise EmulatorError(f"container {name} of pod {ordinal} is not running")
        self.log(f"signal {sig} to {self.pods[ordinal].name}/{name}")
        _killpg(container.proc, sig)

    def partition(self, ordinal: int) -> None:
        """Cuts pod N off the network (its link goes down); the pod itself keeps running."""
        self.log(f"partition {self.pods[ordinal].name}")
        _run("ip", "netns", "exec", self.pods[ordinal].netns, "ip", "link", "set", "eth0", "down")

    def heal(self, ordinal: int) -> None:
        self.log(f"heal {self.pods[ordinal].name}")
        _run("ip", "netns", "exec", self.pods[ordinal].netns, "ip", "link", "set", "eth0", "up")

    def delete_pvc(self, ordinal: int, claim: str = "data") -> None:
        """Deletes a PersistentVolumeClaim of a pod that does not exist (kubectl delete pvc)."""
        if ordinal in self.pods:
            raise EmulatorError(f"pod {ordinal} still uses its claim")
        shutil.rmtree(self.pvc_dir(ordinal, claim))

    def endpoints(self, service: str) -> list[str]:
        """Names of the ready pods a Service routes to (its Endpoints)."""
        svc = next(s for s in self.services if s["metadata"]["name"] == service)
        selector = svc["spec"].get("selector", {})
        with self._lock:
            return [p.name for _, p in sorted(self.pods.items())
                    if p.ready and all(p.labels.get(k) == v for k, v in selector.items())]

    def pod(self, ordinal: int) -> Pod:
        return self.pods[ordinal]

    def pod_processes(self, ordinal: int) -> list[int]:
        """Every process of every running container of pod N."""
        pids = []
        for c in self.pods[ordinal].init_containers + self.pods[ordinal].containers:
            if c.running:
                pids += _process_group(c.proc.pid)
        return pids

    def wait_ready(self, count: int | None = None, timeout: float = 120) -> float:
        """Waits until pods 0..count-1 are all ready; returns the seconds it took."""
        count = self.desired if count is None else count
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self._raise_errors()
            with self._lock:
                ready = [o for o in range(count) if o in self.pods and self.pods[o].ready]
                if len(ready) == count and len(self.pods) == count:
                    return time.monotonic() - start
            time.sleep(0.1)
        raise EmulatorError(f"pods not ready after {timeout}s: {self.describe()}")

    def wait_for(self, predicate, timeout: float = 60, what: str = "condition") -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self._raise_errors()
            if predicate():
                return time.monotonic() - start
            time.sleep(0.2)
        raise EmulatorError(f"timed out after {timeout}s waiting for {what}: {self.describe()}")

    def sql(
        self,
        ordinal: int,
        statement: str,
        *,
        user: str = "root",
        password: str | None = None,
        database: str | None = None,
        check: bool = True,
        timeout: float = 60,
        column_names: bool = False,
    ) -> list[list[str]]:
        """Runs SQL in pod N over TCP, as a client in the pod's network would."""
        if password is None and user == "root":
            password = self.root_password
        pod = self.pods[ordinal]
        args = ["ip", "netns", "exec", pod.netns, "mariadb", "--protocol=TCP", "--host=127.0.0.1",
                f"--user={user}", "--batch", "--column-names" if column_names else "--skip-column-names"]
        if database:
            args.append(f"--database={database}")
        env = {**os.environ, "MYSQL_PWD": password or ""}
        result = subprocess.run(args, input=statement, capture_output=True, text=True, env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise EmulatorError(f"SQL on {pod.name} failed: {result.stderr.strip()}")
        if not check and result.returncode != 0:
            raise SQLError(result.stderr.strip())
        return [line.split("\t") for line in result.stdout.splitlines()]

    def exec(self, ordinal: int, container: str, command: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs a command inside a running container (kubectl exec)."""
        c = self.pods[ordinal].container(container)
        return subprocess.run(self._enter(c, command), capture_output=True, text=True, timeout=timeout)

    @property
    def root_password(self) -> str:
        return self._secret_value_of_env(self.template["containers"][0], "root-password")

    def secret_values(self) -> list[str]:
        return [
            base64.b64decode(v).decode() for s in self.secrets.values() for v in (s.get("data") or {}).values()
        ] + [v for s in self.secrets.values() for v in (s.get("stringData") or {}).values()]

    def describe(self) -> str:
        with self._lock:
            parts = []
            for o, p in sorted(self.pods.items()):
                cs = ",".join(
                    f"{c.name}:{'R' if c.running else 'X'}{'+' if c.ready else '-'}r{c.restarts}"
                    for c in p.init_containers + p.containers
                )
                parts.append(f"{p.name}[{p.phase} {cs}]")
            return f"desired={self.desired} " + " ".join(parts)

    def logs(self, ordinal: int, container: str) -> str:
        c = self.pods[ordinal].container(container)
        return c.log_path.read_text(errors="replace") if c.log_path and c.log_path.exists() else ""

    def _raise_errors(self) -> None:
        if self.errors:
            raise EmulatorError(f"the emulator failed: {self.errors[0]!r}") from self.errors[0]

    def log(self, message: str) -> None:
        self.events.append((time.monotonic(), message))

    def pvc_dir(self, ordinal: int, claim: str = "data") -> Path:
        return self.workdir / "pvc" / f"{claim}-{self.set_name}-{ordinal}"

    def teardown(self) -> None:
        """Stops every process, unmounts nothing left behind, removes every namespace."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        with self._lock:
            pods = list(self.pods.values())
        for pod in pods:
            self._terminate_pod(pod, 5)
        self.pods.clear()
        if self._network_up:
            _run("ip", "netns", "del", self._bridge_ns, check=False)
        for line in _run("ip", "netns", "list").stdout.splitlines():
            name = line.split()[0] if line.strip() else ""
            if name.startswith(f"{self.prefix}-"):
                _run("ip", "netns", "del", name, check=False)
        # The empty mount points made on the host (e.g. /data, /opt/mysql-ha) stay: removing
        # one would detach the mounts on it in every other emulator's pods (Linux >= 3.18).
        self._raise_errors()

    # ------------------------------------------------------------------ network

    def _network(self) -> None:
        _run("ip", "netns", "del", self._bridge_ns, check=False)
        _run("ip", "netns", "add", self._bridge_ns)
        self._network_up = True
        ns = ("ip", "netns", "exec", self._bridge_ns)
        _run(*ns, "ip", "link", "add", "br0", "type", "bridge")
        _run(*ns, "ip", "link", "set", "br0", "up")
        _run(*ns, "ip", "link", "set", "lo", "up")

    def _pod_network(self, pod: Pod) -> None:
        _run("ip", "netns", "del", pod.netns, check=False)
        _run("ip", "netns", "add", pod.netns)
        host_end = f"v{self.prefix}{pod.ordinal}"[:15]
        _run("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", pod.netns)
        _run("ip", "link", "set", host_end, "netns", self._bridge_ns)
        bridge = ("ip", "netns", "exec", self._bridge_ns)
        _run(*bridge, "ip", "link", "set", host_end, "master", "br0")
        _run(*bridge, "ip", "link", "set", host_end, "up")
        inside = ("ip", "netns", "exec", pod.netns)
        _run(*inside, "ip", "addr", "add", f"{pod.ip}/24", "dev", "eth0")
        _run(*inside, "ip", "link", "set", "eth0", "up")
        _run(*inside, "ip", "link", "set", "lo", "up")

    # ------------------------------------------------------------------ DNS

    def _write_hosts(self) -> None:
        with self._lock:
            pods = [p for p in self.pods.values() if p.phase != "Terminated"]
            lines_common = []
            for svc in self.services:
                spec = svc["spec"]
                name = svc["metadata"]["name"]
                selected = [p for p in sorted(pods, key=lambda p: p.ordinal)
                            if all(p.labels.get(k) == v for k, v in spec.get("selector", {}).items())]
                headless = spec.get("clusterIP") == "None"
                visible = selected if (headless and spec.get("publishNotReadyAddresses")) else [p for p in selected if p.ready]
                if headless and name == self.service_name:
                    for p in visible:
                        lines_common.append(
                            f"{p.ip} {p.name}.{name}.{self.namespace}.{CLUSTER_DOMAIN} {p.name}.{name}"
                        )
                if visible:
                    lines_common.append(f"{visible[0].ip} {name}.{self.namespace}.{CLUSTER_DOMAIN} {name}")
            for pod in pods:
                hosts = pod.dir / "hosts"
                text = "\n".join(["127.0.0.1 localhost", f"{pod.ip} {pod.name}", *lines_common]) + "\n"
                if not hosts.exists() or hosts.read_text() != text:
                    # Written in place: the file is bind-mounted, a rename would not show.
                    with open(hosts, "r+" if hosts.exists() else "w") as f:
                        f.seek(0)
                        f.write(text)
                        f.truncate()

    # ------------------------------------------------------------------ controller + kubelet

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._control()
                with self._lock:
                    pods = list(self.pods.values())
                for pod in pods:
                    if not pod.deleting:
                        self._step(pod)
                self._write_hosts()
            except Exception as error:  # noqa: BLE001 - raised again by every wait and by teardown
                self.log(f"emulator error: {error!r}")
                self.errors.append(error)
            self._stop.wait(self.tick)

    def _control(self) -> None:
        """The StatefulSet controller, OrderedReady: one pod at a time, in order."""
        with self._lock:
            ordinals = sorted(self.pods)
            if len(ordinals) > self.desired or (ordinals and ordinals[-1] >= self.desired):
                top = ordinals[-1]
                if all(self.pods[o].ready for o in ordinals[:-1]) and not self.pods[top].deleting:
                    pod = self.pods[top]
                    pod.deleting = True
                    threading.Thread(target=self._scale_down, args=(pod,), daemon=True).start()
                return
            for ordinal in range(self.desired):
                if ordinal not in self.pods:
                    if all(self.pods[o].ready for o in range(ordinal)):
                        self._create_pod(ordinal)
                    return
                if not self.pods[ordinal].ready:
                    return

    def _scale_down(self, pod: Pod) -> None:
        self._terminate_pod(pod, self.grace)
        with self._lock:
            if self.pods.get(pod.ordinal) is pod:
                self.pods.pop(pod.ordinal)
            self._write_hosts()

    def _create_pod(self, ordinal: int) -> None:
        pod = Pod(self, ordinal)
        self.log(f"create {pod.name}")
        pod.dir.mkdir(parents=True)
        self._pod_network(pod)
        self._materialize_volumes(pod)
        self.pods[ordinal] = pod
        self._write_hosts()
        pod.phase = "Init"

    def _step(self, pod: Pod) -> None:
        now = time.monotonic()
        if pod.phase == "Init":
            if pod.init_index >= len(pod.init_containers):
                pod.phase = "Running"
                for c in pod.containers:
                    self._start(pod, c)
                return
            c = pod.init_containers[pod.init_index]
            if c.proc is None:
                if now >= c.not_before:
                    self._start(pod, c)
            elif c.proc.poll() is not None:
                code = c.proc.returncode
                c.exit_codes.append(code)
                c.proc = None
                if code == 0:
                    self.log(f"{pod.name}/{c.name} completed")
                    pod.init_index += 1
                else:
                    c.restarts += 1
                    c.not_before = now + self._backoff(c)
                    self.log(f"{pod.name}/{c.name} failed with {code}, restart #{c.restarts}")
        elif pod.phase == "Running":
            for c in pod.containers:
                if c.proc is None:
                    if now >= c.not_before:
                        self._start(pod, c)
                    continue
                if c.proc.poll() is not None:
                    c.exit_codes.append(c.proc.returncode)
                    self.log(f"{pod.name}/{c.name} exited with {c.proc.returncode}")
                    self._reap(c)
                    c.proc = None
                    c.ready = False
                    c.restarts += 1
                    c.not_before = now + self._backoff(c)
                    continue
                self._probe(pod, c, now)

    def _backoff(self, c: Container) -> float:
        return min(self.backoff * 2 ** max(c.restarts - 1, 0), self.max_backoff)

    # ------------------------------------------------------------------ probes

    def _probe(self, pod: Pod, c: Container, now: float) -> None:
        startup = c.probes.get("startup")
        if startup and not c.startup_passed:
            result = self._run_probe(c, startup, now)
            if result is True:
                c.startup_passed = True
                self.log(f"{pod.name}/{c.name} started")
            elif result is False and startup.failures >= startup.probe.failure_threshold:
                self._restart_container(pod, c, "startup probe failed")
            return
        liveness = c.probes.get("liveness")
        if liveness and self._run_probe(c, liveness, now) is False and liveness.failures >= liveness.probe.failure_threshold:
            self._restart_container(pod, c, "liveness probe failed")
            return
        readiness = c.probes.get("readiness")
        if readiness is None:
            c.ready = True
            return
        result = self._run_probe(c, readiness, now)
        if result is True and readiness.successes >= readiness.probe.success_threshold and not c.ready:
            c.ready = True
            self.log(f"{pod.name}/{c.name} ready")
        elif result is False and readiness.failures >= readiness.probe.failure_threshold and c.ready:
            c.ready = False
            self.log(f"{pod.name}/{c.name} not ready")

    def _run_probe(self, c: Container, state: ProbeState, now: float) -> bool | None:
        """Advances one probe; returns its result when one arrives."""
        if state.proc is not None:
            if state.proc.poll() is None:
                if now < state.deadline:
                    return None
                _killpg(state.proc, signal.SIGKILL)
                state.proc.wait()
                ok = False
            else:
                ok = state.proc.returncode == 0
            state.proc = None
            state.results.append((now, ok))
            del state.results[:-50]
            if ok:
                state.successes += 1
                state.failures = 0
            else:
                state.failures += 1
                state.successes = 0
            return ok
        if now >= state.next_at:
            state.next_at = now + state.probe.period
            state.deadline = now + state.probe.timeout
            state.proc = subprocess.Popen(
                self._enter(c, state.probe.command),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        return None

    def _restart_container(self, pod: Pod, c: Container, why: str) -> None:
        self.log(f"{pod.name}/{c.name}: {why}, restarting")
        self._stop_container(c, self.grace)
        c.ready = False
        c.restarts += 1
        c.not_before = time.monotonic() + self._backoff(c)

    # ------------------------------------------------------------------ containers

    def _start(self, pod: Pod, c: Container) -> None:
        spec = c.spec
        command = spec.get("command") or c.image.entrypoint
        args = spec.get("args") if "args" in spec else ([] if spec.get("command") else c.image.cmd)
        argv = list(command or []) + list(args or [])
        if not argv:
            raise EmulatorError(f"container {c.name} has no command and its image stand-in no entrypoint")
        env = self._env(pod, spec)
        mounts = self._mounts(pod, c)
        script = pod.dir / f"start-{c.name}.sh"
        lines = ["set -e", f"hostname {shlex.quote(pod.name)}"]
        for target, source, read_only in mounts:
            lines.append(f"mkdir -p {shlex.quote(target)} 2>/dev/null || true")
            if source.is_file():
                lines[-1] = f"[ -e {shlex.quote(target)} ] || touch {shlex.quote(target)}"
            lines.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
            if read_only:
                lines.append(f"mount -o remount,bind,ro {shlex.quote(target)}")
        if self._security(c.spec).get("readOnlyRootFilesystem"):
            # Last: a bind mount copies the read-only flag of the mount its source is on.
            lines.append("mount -o remount,bind,ro /")
        identity = " ".join(shlex.quote(a) for a in self._identity(c.spec))
        env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        lines.append(f"cd /\nexec {identity} env -i {env_args} {' '.join(shlex.quote(a) for a in argv)}")
        script.write_text("\n".join(lines) + "\n")
        probes = {kind: Probe.parse(spec.get(f"{kind}Probe"), spec) for kind in ("startup", "liveness", "readiness")}
        c.log_path = pod.dir / f"{c.name}.log"
        log = open(c.log_path, "a")
        log.write(f"--- start {time.strftime('%H:%M:%S')} (restart {c.restarts})\n")
        log.flush()
        self._ensure_mountpoints(mounts)
        c.proc = subprocess.Popen(
            ["ip", "netns", "exec", pod.netns, "unshare", "--mount", "--uts", "--propagation", "private",
             "bash", str(script)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        c.started_at = time.monotonic()
        c.startup_passed = False
        c.ready = False
        c.probes = {}
        for kind, probe in probes.items():
            if probe:
                c.probes[kind] = ProbeState(probe, next_at=c.started_at + probe.initial_delay)
        c.env = env
        self.log(f"{pod.name}/{c.name} started pid {c.proc.pid}")

    def _enter(self, c: Container, command: list[str]) -> list[str]:
        env = [f"{k}={v}" for k, v in c.env.items()]
        return ["nsenter", f"--target={c.proc.pid}", "--mount", "--uts", "--net", "--",
                *self._identity(c.spec), "env", "-i", *env, *command]

    def _security(self, spec: dict) -> dict:
        """The container's securityContext over the pod's, as the kubelet merges them."""
        pod = {k: v for k, v in self.template.get("securityContext", {}).items()
               if k in ("runAsUser", "runAsGroup", "runAsNonRoot")}
        return {**pod, **spec.get("securityContext", {})}

    def _identity(self, spec: dict) -> list[str]:
        """setpriv arguments for the user, groups and privileges the manifest asks for."""
        security = self._security(spec)
        args = ["setpriv"]
        user, group = security.get("runAsUser"), security.get("runAsGroup")
        if security.get("runAsNonRoot") and not user:
            raise EmulatorError(f"container {spec['name']}: runAsNonRoot without a runAsUser cannot be checked")
        if user is not None:
            args.append(f"--reuid={user}")
        if group is not None:
            args.append(f"--regid={group}")
        if self.fs_group is not None:
            args.append(f"--groups={self.fs_group}")
        elif user is not None:
            args.append("--clear-groups")
        if security.get("allowPrivilegeEscalation") is False:
            args.append("--no-new-privs")
        if "ALL" in security.get("capabilities", {}).get("drop", []):
            args += ["--inh-caps=-all", "--bounding-set=-all"]
        return args if len(args) > 1 else []

    def _stop_container(self, c: Container, grace: float) -> None:
        if c.proc is None:
            return
        if c.proc.poll() is None:
            _killpg(c.proc, signal.SIGTERM)
            try:
                c.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _killpg(c.proc, signal.SIGKILL)
                c.proc.wait()
        self._reap(c)
        c.proc = None

    def _reap(self, c: Container) -> None:
        """A container's end takes its whole process group with it, as a PID namespace would."""
        if c.proc is not None:
            _killpg(c.proc, signal.SIGKILL)
        for state in c.probes.values():
            if state.proc is not None and state.proc.poll() is None:
                _killpg(state.proc, signal.SIGKILL)
                state.proc.wait()
            state.proc = None

    def _terminate_pod(self, pod: Pod, grace: float) -> None:
        self.log(f"terminate {pod.name}")
        pod.phase = "Terminating"
        threads = [threading.Thread(target=self._stop_container, args=(c, grace)) for c in pod.containers + pod.init_containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pod.phase = "Terminated"
        _run("ip", "netns", "del", pod.netns, check=False)
        shutil.rmtree(pod.dir / "emptydir", ignore_errors=True)

    # ------------------------------------------------------------------ volumes and env

    def _materialize_volumes(self, pod: Pod) -> None:
        for volume in self.template.get("volumes", []):
            target = pod.dir / "volumes" / volume["name"]
            if "emptyDir" in volume:
                target = pod.dir / "emptydir" / volume["name"]
                target.mkdir(parents=True)
                self._apply_fs_group(target)
            elif "configMap" in volume:
                source = volume["configMap"]
                data = self.config_maps[source["name"]]["data"]
                self._write_files(target, data, source.get("items"), source.get("defaultMode", 0o644))
            elif "secret" in volume:
                source = volume["secret"]
                data = self._secret_data(source["secretName"])
                self._write_files(target, data, source.get("items"), source.get("defaultMode", 0o644))
            else:
                raise EmulatorError(f"volume {volume['name']}: only emptyDir, configMap and secret are emulated")
        for claim in self.spec.get("volumeClaimTemplates", []):
            claim_dir = self.pvc_dir(pod.ordinal, claim["metadata"]["name"])
            claim_dir.mkdir(parents=True, exist_ok=True)
            self._apply_fs_group(claim_dir)

    def _apply_fs_group(self, path: Path) -> None:
        """What the kubelet does to a writable volume for a pod with an fsGroup."""
        if self.fs_group is not None:
            os.chown(path, 0, self.fs_group)
            os.chmod(path, 0o2775)

    def _write_files(self, target: Path, data: dict, items: list | None, mode: int) -> None:
        target.mkdir(parents=True)
        mapping = {i["key"]: (i["path"], i.get("mode", mode)) for i in items} if items else {k: (k, mode) for k in data}
        for key, (path, file_mode) in mapping.items():
            if key not in data:
                raise EmulatorError(f"key {key!r} not found (have {sorted(data)})")
            f = target / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(data[key])
            os.chmod(f, file_mode)
            if self.fs_group is not None:
                os.chown(f, 0, self.fs_group)

    def _secret_data(self, name: str) -> dict[str, str]:
        if name not in self.secrets:
            raise EmulatorError(f"Secret {name!r} is not among the manifests")
        secret = self.secrets[name]
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        return data

    def _volume_source(self, pod: Pod, name: str) -> Path:
        for claim in self.spec.get("volumeClaimTemplates", []):
            if claim["metadata"]["name"] == name:
                return self.pvc_dir(pod.ordinal, name)
        for volume in self.template.get("volumes", []):
            if volume["name"] == name:
                return pod.dir / ("emptydir" if "emptyDir" in volume else "volumes") / name
        raise EmulatorError(f"volume {name!r} is mounted but not declared")

    def _mounts(self, pod: Pod, c: Container) -> list[tuple[str, Path, bool]]:
        mounts = [(target, source, False) for target, source in c.image.mounts(pod, c)]
        mounts.append(("/etc/hosts", pod.dir / "hosts", True))
        for m in c.spec.get("volumeMounts", []):
            source = self._volume_source(pod, m["name"])
            if m.get("subPath"):
                source = source / m["subPath"]
                if not source.exists():  # the kubelet creates a missing subPath
                    source.mkdir(parents=True)
                    self._apply_fs_group(source)
            mounts.append((m["mountPath"], source, bool(m.get("readOnly"))))
        # The pod's own volumes replace the image's directories at the same path.
        mounts = list({target: (target, source, ro) for target, source, ro in mounts}.values())
        # Parents first; a mount that would hide the emulator's own files (the pod
        # sources live under workdir, e.g. below /tmp) goes last.
        workdir = str(self.workdir.resolve())
        return sorted(mounts, key=lambda m: (f"{workdir}/".startswith(m[0].rstrip("/") + "/"), m[0].count("/")))

    def _ensure_mountpoints(self, mounts: list[tuple[str, Path, bool]]) -> None:
        """Mount points missing on the host are created, empty, and left in place."""
        for target, source, _ in mounts:
            path = Path(target)
            missing = []
            while not path.exists():
                missing.append(path)
                path = path.parent
            for p in reversed(missing):
                if source.is_file() and p == Path(target):
                    p.touch()
                else:
                    p.mkdir()

    def _env(self, pod: Pod, spec: dict) -> dict[str, str]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": pod.name, "HOME": "/root"}
        for source in spec.get("envFrom", []):
            if "configMapRef" in source:
                env.update(self.config_maps[source["configMapRef"]["name"]]["data"])
            elif "secretRef" in source:
                env.update(self._secret_data(source["secretRef"]["name"]))
        for var in spec.get("env", []):
            if "value" in var:
                env[var["name"]] = var["value"]
            elif "valueFrom" in var:
                ref = var["valueFrom"]
                if "secretKeyRef" in ref:
                    env[var["name"]] = self._secret_data(ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]]
                elif "configMapKeyRef" in ref:
                    env[var["name"]] = self.config_maps[ref["configMapKeyRef"]["name"]]["data"][ref["configMapKeyRef"]["key"]]
                elif "fieldRef" in ref:
                    env[var["name"]] = {"metadata.name": pod.name, "metadata.namespace": self.namespace,
                                        "status.podIP": pod.ip}[ref["fieldRef"]["fieldPath"]]
                else:
                    raise EmulatorError(f"env {var['name']}: unsupported valueFrom {sorted(ref)}")
            else:
                env[var["name"]] = ""
        return env

    def _secret_value_of_env(self, container: dict, file_name: str) -> str:
        for volume in self.template.get("volumes", []):
            if "secret" in volume:
                data = self._secret_data(volume["secret"]["secretName"])
                for item in volume["secret"].get("items", []):
                    if item["path"] == file_name:
                        return data[item["key"]]
        raise EmulatorError(f"no Secret volume provides {file_name}")


class SQLError(RuntimeError):
    pass


def _killpg(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids
