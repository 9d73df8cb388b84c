"""Runs the pods of synthesized manifests, the way a cluster would: a StatefulSet's pods
(its controller: OrderedReady or Parallel, rollouts of a changed template), Jobs made from its CronJobs, pods a test runs by itself, and
a kubelet for all of them, in one background loop; the manifests' NetworkPolicy objects are
enforced on every pod's ingress, as a CNI plugin would (``netpolicy``). Every pod runs on a
node the scheduler picks (``nodes``); its claims are bound to PersistentVolumes, each a folder
of its own (``storage``); a node can be lost, cordoned and drained through the manifests'
PodDisruptionBudgets (``node_operations``). The network is a
cluster's: each pod gets a new address when it is made, names resolve through a cluster DNS
that answers as CoreDNS does and caches its answers for their TTL (``dns``), and a ClusterIP
Service's virtual IP spreads new connections over its ready endpoints, as kube-proxy does
(``services``).

Everything comes from the manifests: container images (each run from a root filesystem
that stands in for it, see ``images``), commands and args, env, envFrom and valueFrom,
securityContext, volume mounts (subPath, readOnly), ConfigMap and Secret files (items,
defaultMode), claims (the StatefulSet's templates, and claims named by ``claimName``, kept
in a claims folder that two clusters may share), StorageClasses and PersistentVolumes
(capacity, access modes, reclaim policy, node affinity), podAntiAffinity on the hostname,
PodDisruptionBudgets, probes and their timings, replica count,
init-container order, restartPolicy, a Job's backoffLimit and activeDeadlineSeconds,
NetworkPolicy (ingress: pod, namespace and ipBlock peers, numeric and named ports) with the
Namespace objects' labels, Services (selector, clusterIP or headless, ports and numeric or
named targetPorts, publishNotReadyAddresses), a pod's hostname and subdomain.
terminationGracePeriodSeconds. Each container is its own PID namespace with its command as
PID 1; stopping one is the kubelet's: SIGTERM to PID 1 alone (a shell without a TERM trap
ignores it), SIGKILL to all of it at the end of the grace period.

What a test calls (besides the StatefulSet's scale, delete_pod, kill_container, sql, ...):
    run_job(cronjob, job_name=None) -> Job     a Job from a CronJob's jobTemplate (jobs.py)
    run_pod(name, pod_spec, labels=None,       a pod of its own, in the cluster's namespace or
            namespace=None) -> StandalonePod    another (standalone.py); delete_pod_named(name)
    apply_service(service)                      ``kubectl apply`` of a Service (one that selects
                                                such a pod makes it reachable by name)
    label_pod(name, labels)                     ``kubectl label pod``: Services and policies follow
    endpoints(service), cluster_ip(service)     a Service's ready pods (its Endpoints), its virtual IP
    apply(manifests, moments=None) -> changed   ``kubectl apply`` of a new synth (operations.py);
                                                a changed ConfigMap reaches each pod at its own
                                                moment (``moments`` pins some, by pod name); a
                                                changed pod template rolls the set; wait_rolled_out
    update_config_map / update_secret           the same for one object
    speed                                       the factor on every emulator timing (read, set)
    claim_dir(name)                             the folder of claim ``name`` (its PV's)
    nodes, node_of(ordinal), pod.node,          name -> ready / cordoned / lost; a pod's node;
        pod.pending_reason                      why a pod stays Pending (node_operations.py)
    pvs, pvcs, delete_pvc, delete_pv            PersistentVolumes (phase, claim, node, path) and
                                                claims; ``kubectl delete pvc`` / ``pv``
    lose_node(node), restore_node(node)         a node stops answering / answers again
    force_delete(ordinal)                       ``kubectl delete pod --force --grace-period=0``
    cordon, uncordon, evict(pod) -> bool,       ``kubectl cordon`` / ``drain``, the Eviction API
        drain(node, timeout) -> refusals        against the PodDisruptionBudgets

Where the work is done:
    operations.py   what a test does to the StatefulSet's pods and reads from them (kubectl's verbs)
    node_operations.py  the scheduler's step, the node lifecycle and PVC-protection controllers,
                    and what a test does to nodes, volumes and claims
    nodes.py        nodes, scheduling rules, a lost node's freezer group and nftables cut-off
    storage.py      StorageClasses, PersistentVolumes and claims: binding, provisioning, reclaim,
                    access modes
    disruption.py   PodDisruptionBudgets and the Eviction API's decision
    statefulset.py  the StatefulSet controller: OrderedReady or Parallel creation and scale down,
                    revisions of the template, RollingUpdate (partition) and OnDelete, claims per pod
    jobs.py         the Job controller: pods from the template, backoffLimit, deadline
    standalone.py   a pod run from a plain pod spec
    pods.py         pod lifecycle: init containers, restarts, restartPolicy, termination
    backoff.py      the kubelet's restart backoff (10 s doubling to 300 s) and the Job controller's
    runtime.py      containers: PID namespace, overlay root on the image, mounts, chroot, setpriv,
                    exec, stop (SIGTERM to PID 1, SIGKILL at the grace period)
    timings.py      the kubelet's and controllers' own timings (and the node lifecycle
                    controller's), scaled by the cluster's speed
    memory.py       a memory cgroup per container start: resources.limits.memory, OOM kills, peak
    probes.py       startup, liveness and readiness probes
    volumes.py      emptyDir, configMap, secret and claim volumes (their PVs' folders), fsGroup; the atomic writer's
                    ``..data`` layout, refreshed at each pod's own sync (pods.py)
    environment.py  a container's environment
    network.py      network namespaces, the bridge, a new address per pod (round-robin, as
                    host-local IPAM), MACs derived from addresses
    dns.py          the cluster DNS (dnslib, on the node's address): CoreDNS's names, its TTL
                    and cache; the kubelet's /etc/resolv.conf and /etc/hosts
    services.py     Services: endpoints, cluster IPs, kube-proxy's DNAT rules in each pod's
                    network namespace (random endpoint per new connection, reject without one)
    netpolicy.py    NetworkPolicy as nftables rules in each pod's network namespace (ingress)
"""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path

from emulator.images import ensure_image

from .disruption import Budget, Refusal
from .errors import EmulatorError
from .jobs import Job
from .netpolicy import NetworkPolicies
from .dns import ClusterDNS
from .network import NODE_IP, Network
from .node_operations import NodeOperations
from .nodes import Node, default_nodes
from .objects import Objects
from .operations import SetOperations
from .pods import Kubelet, Pod
from .runtime import Runtime
from .services import Services
from .standalone import StandalonePod
from .statefulset import StatefulSetController
from .storage import Storage, pv_nodes
from .timings import Timings
from .volumes import Volumes


class Cluster(SetOperations, NodeOperations):
    """The pods of a chart's StatefulSet (if it has one), its CronJobs' Jobs and standalone
    pods, run for real. Use as a context manager: teardown always runs.

    ``prefix`` names the network namespaces (``<prefix>-...``) and veths: emulators that
    run at the same time need distinct prefixes (at most 12 characters). ``claims_dir``
    holds the claims that pods name by ``claimName`` (defaults to ``<workdir>/claims``);
    clusters given the same folder share those claims, as pods share a ReadWriteMany volume.
    ``nodes`` names the nodes (defaults to those the manifests' PersistentVolumes sit on, then
    ``node-0`` .. ``node-7``).
    ``namespace`` is the StatefulSet's (else the first CronJob's, else ``default``): that of
    every object and pod that names none.

    ``speed`` (defaults to 1: a real cluster's timings) divides every timing that is the
    emulator's own, all together (``timings.py``): the kubelet's sync, which carries a changed
    ConfigMap or Secret into each running pod's volumes at a moment of its own within 60 s
    jittered to 90 s; its restart backoff (10 s doubling to 300 s) and the Job controller's
    (10 s doubling to 360 s); the node lifecycle controller's node-monitor grace period (40 s)
    and default toleration (300 s); the cluster DNS's TTL and cache (5 s) and kube-proxy's
    minimum sync period (1 s). The manifests' timings (probe periods and timeouts,
    ``terminationGracePeriodSeconds``, ``activeDeadlineSeconds``) and whatever the pods' scripts
    wait for are the product's and never scaled; nor is ``tick_seconds``, how often the loop
    looks (no kubelet timing), or the 5 s teardown allows each pod. Every scenario of
    ``tests/e2e`` runs at ``scenario_tools.SPEED`` (3: a ConfigMap change reaches each pod within
    30 s); the switchover under real propagation sets ``speed = 1`` while it runs. A speed
    changed on a running cluster changes every timing at once."""

    def __init__(self, manifests: list[dict], workdir: Path, *, prefix: str = "mh", speed: float = 1.0,
                 tick_seconds: float = 0.1, claims_dir: Path | None = None, nodes: list[str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.prefix = prefix
        self.tick = tick_seconds
        self.timings = Timings(speed)
        self.manifests = manifests
        sts = [m for m in manifests if m["kind"] == "StatefulSet"]
        if len(sts) > 1:
            raise EmulatorError(f"expected at most one StatefulSet, got {len(sts)}")
        self.cronjobs = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "CronJob"}
        owner = sts[0] if sts else next(iter(self.cronjobs.values()), {"metadata": {}})
        self.namespace = owner["metadata"].get("namespace", "default")
        self.objects = Objects(manifests)
        self.network_policies = NetworkPolicies(manifests, default_namespace=self.namespace)
        self.network = Network(prefix)
        self.services = Services(self.objects.services, default_namespace=self.namespace,
                                 min_sync=lambda: self.timings.proxy_min_sync_seconds)
        self.dns = ClusterDNS(ttl=lambda: self.timings.dns_ttl_seconds)
        self.claims_dir = Path(claims_dir) if claims_dir is not None else self.workdir / "claims"
        self.storage = Storage(self.workdir / "pv", self.claims_dir, log=self.log)
        self.storage.add(manifests)
        names = default_nodes(pv_nodes(manifests)) if nodes is None else list(nodes)
        if not names or len(set(names)) != len(names):
            raise EmulatorError(f"nodes must be distinct names, at least one, got {names}")
        self._nodes = {name: Node(name) for name in names}
        self.budgets = [Budget.from_manifest(m, self.namespace) for m in manifests if m["kind"] == "PodDisruptionBudget"]
        self.refusals: list[Refusal] = []
        self.volumes = Volumes(self.objects, self.storage)
        self.runtime = Runtime()
        self.kubelet = Kubelet(objects=self.objects, volumes=self.volumes, network=self.network, runtime=self.runtime,
                               log=self.log, timings=self.timings)
        self.images: dict = {}
        self.pods_dir = self.workdir / "pods"
        self.events: list[tuple[float, str]] = []
        self.errors: list[Exception] = []
        self.lock = threading.RLock()
        self.set = (StatefulSetController(sts[0], kubelet=self.kubelet, network=self.network, images=self.images,
                                          pods_dir=self.pods_dir, storage=self.storage, lock=self.lock,
                                          on_change=self.follow_pods, place=self.place) if sts else None)
        self.jobs: dict[str, Job] = {}
        self.standalone: dict[str, StandalonePod] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def speed(self) -> float:
        """The factor that scales every timing of the emulator's own (see the class docstring)."""
        return self.timings.speed

    @speed.setter
    def speed(self, speed: float) -> None:
        """Changes the speed of a running cluster, every timing at once: a moment already drawn
        for a pending volume sync or a restart stays."""
        self.timings = Timings(speed)
        self.kubelet.timings = self.timings
        self.log(f"speed {speed:g}: ConfigMap window {self.timings.config_window_seconds:g} s, "
                 f"restart backoff {self.timings.restart_backoff_seconds:g} s")

    # ------------------------------------------------------------------ the StatefulSet, as before

    @property
    def statefulset(self) -> dict | None:
        return self.set.statefulset if self.set else None

    @property
    def set_name(self) -> str | None:
        return self.set.name if self.set else None

    @property
    def template(self) -> dict | None:
        return self.set.template if self.set else None

    @property
    def pods(self) -> dict[int, Pod]:
        """The StatefulSet's pods by ordinal."""
        return self.set.pods if self.set else {}

    @property
    def desired(self) -> int:
        return self.set.desired if self.set else 0

    @property
    def image_names(self) -> list[str]:
        """Every image the manifests' pods run (the StatefulSet's, then the CronJobs'), in order of first use."""
        names = list(self.set.image_names) if self.set else []
        for cronjob in self.cronjobs.values():
            names += _images_of(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        return list(dict.fromkeys(names))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def start(self) -> None:
        """Finds (or builds) the images, creates the network, starts the controllers and kubelet
        loop. Fails first when the manifests hold NetworkPolicy objects and the host cannot
        enforce them (no ``nft``)."""
        self.network_policies.check_host()
        self.images.update({name: ensure_image(name) for name in self.image_names})
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.network.create()
        self.dns.start(self.network.bridge_ns, NODE_IP)
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        self._thread.start()

    def teardown(self) -> None:
        """Stops every process and removes every namespace; raises an error the loop met."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        with self.lock:
            pods = self._live_pods()
            for job in self.jobs.values():
                job.state = "Deleted" if job.state == "Active" else job.state
        for pod in pods:
            if pod.frozen:
                self.kubelet.kill(pod)
        threads = [threading.Thread(target=self.kubelet.terminate, args=(pod, 5)) for pod in pods]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.pods.clear()
        self.standalone.clear()
        self.dns.stop()
        self.network.destroy()
        self._raise_errors()

    # ------------------------------------------------------------------ Jobs and standalone pods

    def run_job(self, cronjob_name: str, *, job_name: str | None = None) -> Job:
        """``kubectl create job <job_name> --from=cronjob/<cronjob_name>``: a Job from the
        CronJob's jobTemplate, its first pod started by the next step of the loop. The name
        defaults to ``<cronjob>-manual-<n>``."""
        if self._thread is None:
            raise EmulatorError("start the cluster before running a job")
        if cronjob_name not in self.cronjobs:
            raise EmulatorError(f"CronJob {cronjob_name!r} is not among the manifests (have {sorted(self.cronjobs)})")
        spec = copy.deepcopy(self.cronjobs[cronjob_name]["spec"]["jobTemplate"]["spec"])
        self._ensure_images(spec["template"]["spec"])
        with self.lock:
            if job_name is None:
                n = 1 + sum(1 for name in self.jobs if name.startswith(f"{cronjob_name}-manual-"))
                job_name = f"{cronjob_name}-manual-{n}"
            if job_name in self.jobs:
                raise EmulatorError(f"job {job_name} already exists")
            namespace = self.cronjobs[cronjob_name]["metadata"].get("namespace", self.namespace)
            job = Job(self, job_name, spec, namespace=namespace)
            self.log(f"create job {job_name} from cronjob/{cronjob_name}")
            self.jobs[job_name] = job
        return job

    def run_pod(self, name: str, pod_spec: dict, *, labels: dict | None = None,
                namespace: str | None = None) -> StandalonePod:
        """Runs a pod of its own from ``pod_spec``, hostname ``name`` (other pods reach it
        through a Service that selects it: ``apply_service``); stopped at teardown. It lives in
        ``namespace`` (defaults to the cluster's): only that namespace's policies select it,
        and a namespaceSelector sees that namespace's labels (``kubernetes.io/metadata.name``
        and those of its Namespace object, if the manifests hold one). Pod names are unique
        across namespaces here: a pod's network namespace is named after it."""
        if self._thread is None:
            raise EmulatorError("start the cluster before running a pod")
        self._ensure_images(pod_spec)
        with self.lock:
            if name in {p.name for p in self._live_pods()}:
                raise EmulatorError(f"a pod named {name} already runs")
            handle = StandalonePod(self, name, copy.deepcopy(pod_spec), dict(labels or {}), namespace or self.namespace)
            self.standalone[name] = handle
            self.place(handle.pod)
            self.follow_pods()
        return handle

    def label_pod(self, name: str, labels: dict[str, str | None]) -> None:
        """``kubectl label pod <name> --overwrite``: sets the labels given and removes those
        given as None, on any running pod (the StatefulSet's, a Job's, a standalone one). When
        it returns, the Services' endpoints and every pod's NetworkPolicy rules follow the
        change; names follow through the DNS's cache, and kube-proxy's rules within its sync
        period."""
        with self.lock:
            pod = next((p for p in self._live_pods() if p.name == name), None)
            if pod is None:
                raise EmulatorError(f"no running pod {name}")
            self.log(f"label {name}: {labels}")
            for key, value in labels.items():
                if value is None:
                    pod.labels.pop(key, None)
                else:
                    pod.labels[key] = value
            self.follow_pods()

    def delete_pod_named(self, name: str, *, grace: float | None = None) -> None:
        """Deletes a pod that ``run_pod`` started (its grace period unless ``grace``)."""
        with self.lock:
            if name not in self.standalone:
                raise EmulatorError(f"no pod {name} was started with run_pod (have {sorted(self.standalone)})")
            if self.standalone[name].pod.frozen:
                self.standalone[name].pod.deleting = True  # Terminating until its node answers again
                return
            pod = self.standalone.pop(name).pod
            self.follow_pods()
        self.kubelet.terminate(pod, pod.grace if grace is None else grace)

    def claim_dir(self, name: str) -> Path:
        """The folder of the claim that pods name by ``claimName: <name>``."""
        return self.volumes.claim_dir(name)

    def _ensure_images(self, pod_spec: dict) -> None:
        for image in _images_of(pod_spec):
            if image not in self.images:
                self.images[image] = ensure_image(image)

    # ------------------------------------------------------------------ what a test reads

    def wait_for(self, predicate, timeout: float = 60, what: str = "condition", interval: float = 0.2) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self._raise_errors()
            if predicate():
                return time.monotonic() - start
            time.sleep(interval)
        raise EmulatorError(f"timed out after {timeout}s waiting for {what}: {self.describe()}")

    def secret_values(self) -> list[str]:
        return self.objects.secret_values()

    def describe(self) -> str:
        with self.lock:
            parts = []
            named = [(p.name, p) for _, p in sorted(self.pods.items())]
            named += [(f"{job.name}:{p.name}", p) for job in self.jobs.values() for p in job.live_pods]
            named += [(name, handle.pod) for name, handle in self.standalone.items()]
            for label, p in named:
                cs = ",".join(f"{c.name}:{'R' if c.running else 'X'}{'+' if c.ready else '-'}r{c.restarts}"
                              for c in p.all_containers)
                where = f"@{p.node}" + ("(frozen)" if p.frozen else "") if p.scheduled else f" ({p.pending_reason})"
                parts.append(f"{label}[{p.phase}{where} {p.ip or '-'} {cs}]")
            jobs = " ".join(f"job/{job.name}={job.state}" for job in self.jobs.values())
            return " ".join([f"desired={self.desired}", *parts, *([jobs] if jobs else [])])

    def log(self, message: str) -> None:
        self.events.append((time.monotonic(), message))

    def _raise_errors(self) -> None:
        if self.errors:
            raise EmulatorError(f"the emulator failed: {self.errors[0]!r}") from self.errors[0]

    # ------------------------------------------------------------------ controller loop

    def _live_pods(self) -> list[Pod]:
        """Every pod that exists and has not ended (call with the lock held)."""
        pods = list(self.pods.values())
        pods += [p for job in self.jobs.values() for p in job.live_pods]
        pods += [handle.pod for handle in self.standalone.values()]
        return [p for p in pods if not p.finished]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.set:
                    self.set.control()
                with self.lock:
                    now = time.monotonic()
                    self._node_lifecycle(now)
                    self._protect_claims()
                    for job in list(self.jobs.values()):
                        job.control(now)
                    self._schedule_pending()
                    pods = self._live_pods()
                for pod in pods:
                    self.kubelet.sync(pod)
                self.follow_pods()
            except Exception as error:  # noqa: BLE001 - raised again by every wait and by teardown
                self.log(f"emulator error: {error!r}")
                self.errors.append(error)
            self._stop.wait(self.tick)

    def follow_pods(self) -> None:
        """After pods came, went, changed readiness or labels (every step of the loop): the
        names the cluster DNS gives, kube-proxy's rules and the NetworkPolicy rules in every
        live pod that has a node. A new pod gets its rules here, before any of its containers
        start."""
        with self.lock:
            pods = [p for p in self._live_pods() if p.scheduled]
            endpoints = [p.endpoint() for p in pods]
            self.dns.update(self.services.names(endpoints))
            self.services.sync(pods, endpoints)
            self.network_policies.sync(pods)


def _images_of(pod_spec: dict) -> list[str]:
    return [c["image"] for c in pod_spec.get("initContainers", []) + pod_spec["containers"]]
