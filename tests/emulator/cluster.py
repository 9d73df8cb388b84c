"""Runs the pods of a synthesized StatefulSet, the way a cluster would: the StatefulSet
controller (OrderedReady) and a kubelet (``pods.py``) in one background loop.

Everything comes from the manifests: container images (each run from a root filesystem
that stands in for it, see ``images``), commands and args, env, envFrom and valueFrom,
securityContext, volume mounts (subPath, readOnly), ConfigMap and Secret files (items,
defaultMode), probes and their timings, replica count, init-container order.

Where the work is done:
    pods.py         pod lifecycle: init containers, restarts and backoff, termination
    runtime.py      containers: overlay root on the image, mounts, chroot, setpriv, exec
    probes.py       startup, liveness and readiness probes
    volumes.py      emptyDir, configMap, secret and claim volumes, fsGroup
    environment.py  a container's environment
    network.py      network namespaces, the bridge, /etc/hosts for pods and Services
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

from emulator.images import ensure_image

from .errors import EmulatorError, SQLError
from .network import Network, hosts_lines, write_hosts
from .objects import Objects
from .pods import Kubelet, Pod
from .processes import killpg, process_group
from .runtime import Runtime
from .volumes import Volumes

SERVER_CONTAINER = "mysql"


class Cluster:
    """One StatefulSet's pods, run for real. Use as a context manager: teardown always runs.

    ``prefix`` names the network namespaces (``<prefix>-...``) and veths: emulators that
    run at the same time need distinct prefixes (at most 12 characters)."""

    def __init__(self, manifests: list[dict], workdir: Path, *, prefix: str = "mh", backoff_seconds: float = 1.0,
                 max_backoff_seconds: float = 10.0, tick_seconds: float = 0.1) -> None:
        self.workdir = Path(workdir)
        self.prefix = prefix
        self.tick = tick_seconds
        self.manifests = manifests
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
        self.objects = Objects(manifests)
        self.desired = self.spec.get("replicas", 1)
        self.grace = self.template.get("terminationGracePeriodSeconds", 30)
        self.network = Network(prefix)
        self.volumes = Volumes(self.objects, self.spec, self.workdir / "pvc")
        self.runtime = Runtime(self.template)
        self.kubelet = Kubelet(set_name=self.set_name, namespace=self.namespace, grace=self.grace,
                               objects=self.objects, volumes=self.volumes, network=self.network, runtime=self.runtime,
                               log=self.log, backoff=backoff_seconds, max_backoff=max_backoff_seconds)
        self.images: dict = {}
        self.pods: dict[int, Pod] = {}
        self.held: set[int] = set()  # ordinals whose node is lost (lose_node)
        self.events: list[tuple[float, str]] = []
        self.errors: list[Exception] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def image_names(self) -> list[str]:
        """Every image the StatefulSet's pods run, in order of first use."""
        names = [c["image"] for c in self.template.get("initContainers", []) + self.template["containers"]]
        return list(dict.fromkeys(names))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def start(self) -> None:
        """Finds (or builds) the images, creates the network, starts the controller and kubelet loop."""
        self.images = {name: ensure_image(name) for name in self.image_names}
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.network.create()
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        self._thread.start()

    def teardown(self) -> None:
        """Stops every process and removes every namespace; raises an error the loop met."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        with self._lock:
            pods = list(self.pods.values())
        for pod in pods:
            self.kubelet.terminate(pod, 5)
        self.pods.clear()
        self.network.destroy()
        self._raise_errors()

    # ------------------------------------------------------------------ what a test does to the cluster

    def scale(self, replicas: int) -> None:
        with self._lock:
            self.log(f"scale to {replicas}")
            self.desired = replicas

    def delete_pod(self, ordinal: int, *, grace: float | None = None, delete_claims: bool = False) -> None:
        """Deletes pod N; the controller then creates it anew. Its claims stay, unless
        ``delete_claims`` (``kubectl delete pvc`` first: the claim goes with the pod)."""
        with self._lock:
            pod = self.pods[ordinal]
            pod.deleting = True
        self.kubelet.terminate(pod, self.grace if grace is None else grace)
        with self._lock:
            if delete_claims:
                for claim in self.volumes.claims:
                    shutil.rmtree(self.pvc_dir(ordinal, claim), ignore_errors=True)
            self.pods.pop(ordinal, None)
            self._write_hosts()

    def lose_node(self, ordinal: int) -> None:
        """Pod N's node is gone with its local volume: the pod dies at once, its claim's data
        is lost, and no new pod N starts until ``replace_node`` (on a real cluster it stays
        Pending on the lost node until its claim is deleted)."""
        self.log(f"node of {self.pods[ordinal].name} lost")
        with self._lock:
            self.held.add(ordinal)
        self.delete_pod(ordinal, grace=0, delete_claims=True)

    def replace_node(self, ordinal: int) -> None:
        """Lets pod N start again (with an empty claim) after ``lose_node``."""
        with self._lock:
            self.held.discard(ordinal)

    def kill_container(self, ordinal: int, name: str, sig: int = signal.SIGKILL) -> None:
        """Signals a container's whole process group, as a crash or an OOM kill would."""
        container = self.pods[ordinal].container(name)
        if container.proc is None:
            raise EmulatorError(f"container {name} of pod {ordinal} is not running")
        self.log(f"signal {sig} to {self.pods[ordinal].name}/{name}")
        killpg(container.proc.pid, sig)

    def partition(self, ordinal: int) -> None:
        """Cuts pod N off the network (its link goes down); the pod itself keeps running."""
        self.log(f"partition {self.pods[ordinal].name}")
        self.network.set_link(self.pods[ordinal].netns, up=False)

    def heal(self, ordinal: int) -> None:
        self.log(f"heal {self.pods[ordinal].name}")
        self.network.set_link(self.pods[ordinal].netns, up=True)

    def limit_bandwidth(self, ordinal: int, rate: str | None) -> None:
        """Caps what pod N sends to ``rate`` (``tc`` syntax, e.g. ``"80mbit"``): a slow link.
        ``None`` lifts the cap."""
        self.log(f"bandwidth of {self.pods[ordinal].name}: {rate or 'unlimited'}")
        self.network.limit_egress(self.pods[ordinal].netns, rate)

    def update_secret(self, name: str, string_data: dict[str, str]) -> None:
        """``kubectl apply`` of a changed Secret: the running pods' volumes follow it."""
        with self._lock:
            self.log(f"update Secret {name}")
            secret = self.objects.secrets[name]
            secret.pop("data", None)
            secret["stringData"] = dict(string_data)
            for pod in self.pods.values():
                self.volumes.refresh_secret(pod.dir, name)

    def delete_pvc(self, ordinal: int, claim: str = "data") -> None:
        """Deletes a PersistentVolumeClaim of a pod that does not exist (kubectl delete pvc)."""
        if ordinal in self.pods:
            raise EmulatorError(f"pod {ordinal} still uses its claim")
        shutil.rmtree(self.pvc_dir(ordinal, claim))

    def update_config_map(self, name: str, data: dict[str, str]) -> None:
        """Replaces a ConfigMap's data (kubectl apply): the files of its volumes change in the
        running pods, as the kubelet's atomic writer swaps them; environment variables taken
        from it at container start stay as they were."""
        with self._lock:
            self.log(f"update ConfigMap {name}")
            self.objects.config_maps[name]["data"] = dict(data)
            for pod in self.pods.values():
                if pod.phase not in ("Terminating", "Terminated"):
                    self.volumes.update_config_map(pod.dir, name, dict(data))

    def update_service(self, name: str, selector: dict[str, str]) -> None:
        """Replaces a Service's selector: its endpoints and the names in every pod's hosts file
        follow on the next sync."""
        with self._lock:
            self.log(f"update Service {name}: selector {selector}")
            self.objects.service(name)["spec"]["selector"] = dict(selector)
            self._write_hosts()

    def apply(self, manifests: list[dict]) -> list[str]:
        """``kubectl apply`` of a new synth of the same chart: changed ConfigMaps and Service
        selectors take effect in the running pods. A changed StatefulSet would roll every pod
        on a real cluster, so it is refused. Returns what changed."""
        statefulsets = [m for m in manifests if m["kind"] == "StatefulSet"]

        def without_replicas(sts: dict) -> dict:
            return {**sts, "spec": {k: v for k, v in sts["spec"].items() if k != "replicas"}}

        if len(statefulsets) != 1 or without_replicas(statefulsets[0]) != without_replicas(self.statefulset):
            raise EmulatorError("the StatefulSet's pods changed: a real cluster would restart every pod")
        changed = []
        if statefulsets[0]["spec"].get("replicas", 1) != self.desired:
            self.scale(statefulsets[0]["spec"].get("replicas", 1))
            changed.append(f"StatefulSet/{self.set_name}: replicas")
        for m in manifests:
            name = m["metadata"]["name"]
            if m["kind"] == "ConfigMap" and m.get("data") != self.objects.config_maps[name].get("data"):
                self.update_config_map(name, m.get("data") or {})
                changed.append(f"ConfigMap/{name}")
            elif m["kind"] == "Service":
                selector = m["spec"].get("selector", {})
                if selector != self.objects.service(name)["spec"].get("selector", {}):
                    self.update_service(name, selector)
                    changed.append(f"Service/{name}")
        return changed

    # ------------------------------------------------------------------ what a test reads

    def endpoints(self, service: str) -> list[str]:
        """Names of the ready pods a Service routes to (its Endpoints)."""
        selector = self.objects.service(service)["spec"].get("selector", {})
        with self._lock:
            return [p.name for _, p in sorted(self.pods.items())
                    if p.ready and all(p.labels.get(k) == v for k, v in selector.items())]

    def pod(self, ordinal: int) -> Pod:
        return self.pods[ordinal]

    def pod_processes(self, ordinal: int) -> list[int]:
        """Every process of every running container of pod N."""
        return [pid for c in self.pods[ordinal].all_containers if c.running for pid in process_group(c.proc.pid)]

    def wait_ready(self, count: int | None = None, timeout: float = 120) -> float:
        """Waits until pods 0..count-1 are all ready (and no others exist); returns the seconds it took."""
        count = self.desired if count is None else count

        def ready() -> bool:
            with self._lock:
                return len(self.pods) == count and all(o in self.pods and self.pods[o].ready for o in range(count))

        return self.wait_for(ready, timeout=timeout, what=f"{count} ready pods", interval=0.1)

    def wait_for(self, predicate, timeout: float = 60, what: str = "condition", interval: float = 0.2) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self._raise_errors()
            if predicate():
                return time.monotonic() - start
            time.sleep(interval)
        raise EmulatorError(f"timed out after {timeout}s waiting for {what}: {self.describe()}")

    def sql(self, ordinal: int, statement: str, *, user: str = "root", password: str | None = None,
            database: str | None = None, check: bool = True, timeout: float = 60,
            column_names: bool = False, host: str = "127.0.0.1") -> list[list[str]]:
        """Runs SQL in pod N with the engine's own client, inside the server container, over
        TCP (as ``kubectl exec`` would; ``host`` names another server, e.g. a Service, reached
        from that pod); rows as lists of tab-separated fields. A failure
        raises EmulatorError, or SQLError with the client's message when ``check`` is False."""
        if password is None and user == "root":
            password = self.root_password
        pod = self.pods[ordinal]
        server = pod.container(SERVER_CONTAINER)
        client = server.env.get("MYSQL_HA_CLIENT")
        if not client:
            raise EmulatorError(f"container {SERVER_CONTAINER} of {pod.name} has no MYSQL_HA_CLIENT in its environment")
        port = next((p["containerPort"] for p in server.spec.get("ports", []) if p.get("name") == "mysql"), 3306)
        args = [client, "--protocol=TCP", f"--host={host}", f"--port={port}", "--connect-timeout=5", f"--user={user}", "--batch",
                "--column-names" if column_names else "--skip-column-names"]
        if database:
            args.append(f"--database={database}")
        try:
            result = self.runtime.exec(server, args, env={**server.env, "MYSQL_PWD": password or ""},
                                       input=statement, timeout=timeout)
        except EmulatorError as error:  # the server container is not running
            result = None
            message = f"{pod.name}: {error}"
        else:
            message = result.stderr.strip()
        if result is None or result.returncode != 0:
            if check:
                raise EmulatorError(f"SQL on {pod.name} failed: {message}")
            raise SQLError(message)
        return [line.split("\t") for line in result.stdout.splitlines()]

    def exec(self, ordinal: int, container: str, command: list[str], timeout: float = 30):
        """Runs a command inside a running container (kubectl exec); a CompletedProcess."""
        return self.runtime.exec(self.pods[ordinal].container(container), command, timeout=timeout)

    @property
    def root_password(self) -> str:
        return self.volumes.file_of_secret_volume("root-password")

    def secret_values(self) -> list[str]:
        return self.objects.secret_values()

    def describe(self) -> str:
        with self._lock:
            parts = []
            for _, p in sorted(self.pods.items()):
                cs = ",".join(f"{c.name}:{'R' if c.running else 'X'}{'+' if c.ready else '-'}r{c.restarts}"
                              for c in p.all_containers)
                parts.append(f"{p.name}[{p.phase} {cs}]")
            return f"desired={self.desired} " + " ".join(parts)

    def logs(self, ordinal: int, container: str) -> str:
        c = self.pods[ordinal].container(container)
        return c.log_path.read_text(errors="replace") if c.log_path and c.log_path.exists() else ""

    def log(self, message: str) -> None:
        self.events.append((time.monotonic(), message))

    def pvc_dir(self, ordinal: int, claim: str = "data") -> Path:
        return self.volumes.pvc_dir(self.set_name, ordinal, claim)

    def _raise_errors(self) -> None:
        if self.errors:
            raise EmulatorError(f"the emulator failed: {self.errors[0]!r}") from self.errors[0]

    # ------------------------------------------------------------------ controller loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._control()
                with self._lock:
                    pods = list(self.pods.values())
                for pod in pods:
                    if not pod.deleting:
                        self.kubelet.sync(pod)
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
                    if ordinal in self.held:
                        continue
                    if all(o in self.held or (o in self.pods and self.pods[o].ready) for o in range(ordinal)):
                        self._create_pod(ordinal)
                    return
                if not self.pods[ordinal].ready:
                    return

    def _create_pod(self, ordinal: int) -> None:
        pod = Pod(set_name=self.set_name, ordinal=ordinal, template=self.template, labels=self.template_labels,
                  images=self.images, network=self.network, pods_dir=self.workdir / "pods")
        self.kubelet.create(pod)
        self.pods[ordinal] = pod
        self._write_hosts()

    def _scale_down(self, pod: Pod) -> None:
        self.kubelet.terminate(pod, self.grace)
        with self._lock:
            if self.pods.get(pod.ordinal) is pod:
                self.pods.pop(pod.ordinal)
            self._write_hosts()

    def _write_hosts(self) -> None:
        with self._lock:
            pods = [p for p in self.pods.values() if p.phase != "Terminated"]
            common = hosts_lines([p.endpoint() for p in pods], self.objects.services, governing=self.service_name,
                                 namespace=self.namespace)
            for pod in pods:
                write_hosts(pod.dir / "hosts", pod.endpoint(), common)
