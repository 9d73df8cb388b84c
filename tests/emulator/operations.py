"""What a test does to the StatefulSet's pods and the chart's objects, and reads from them:
the verbs of kubectl (scale, delete, exec, apply) and a network's failures (a node's are in
``node_operations.py``). ``Cluster`` has these; they use its StatefulSet controller (``set``),
network, volumes, storage, network policies, runtime, lock and ``wait_for``."""

from __future__ import annotations

import signal
from pathlib import Path

from .errors import EmulatorError, SQLError
from .pods import Pod
from .processes import process_group

SERVER_CONTAINER = "mysql"


class SetOperations:
    """The StatefulSet's side of ``Cluster``."""

    # ------------------------------------------------------------------ what a test does to the set

    def scale(self, replicas: int) -> None:
        with self.lock:
            self.log(f"scale to {replicas}")
            self.set.desired = replicas

    def delete_pod(self, ordinal: int, *, grace: float | None = None, delete_claims: bool = False) -> None:
        """Deletes pod N within its grace period (``grace`` overrides it); the controller then
        creates it anew. Its claims stay, unless ``delete_claims`` (``kubectl delete pvc``
        first: the claims go with the pod, and the new pod gets new ones). A pod on a lost node
        is only marked Terminating (see ``force_delete``)."""
        self.set.delete_pod(ordinal, grace, delete_claims)
        with self.lock:
            self._protect_claims()

    def kill_container(self, ordinal: int, name: str, sig: int = signal.SIGKILL) -> None:
        """Signals every process of a container at once (its PID 1 and process group), as a
        crash or an OOM kill would."""
        container = self.pods[ordinal].container(name)
        if container.proc is None:
            raise EmulatorError(f"container {name} of pod {ordinal} is not running")
        self.log(f"signal {sig} to {self.pods[ordinal].name}/{name}")
        self.runtime.signal_all(container, sig)

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

    def update_secret(self, name: str, string_data: dict[str, str], *, moments: dict[str, float] | None = None) -> None:
        """``kubectl apply`` of a changed Secret: each running pod's volumes of it follow at
        the pod's own next sync (see ``update_config_map``); environment variables taken from
        it stay as they were."""
        with self.lock:
            self.log(f"update Secret {name}")
            secret = self.objects.secrets[name]
            secret.pop("data", None)
            secret["stringData"] = dict(string_data)
            self._object_changed("Secret", name, moments)

    def update_config_map(self, name: str, data: dict[str, str], *, moments: dict[str, float] | None = None) -> None:
        """Replaces a ConfigMap's data (kubectl apply). A pod created from now on gets the new
        files; in each running pod that mounts it, the files change at the pod's own next sync,
        a moment within the sync window (``timings``), all at once through the ``..data``
        swap; a ``subPath`` mount and environment variables taken from it at container start
        stay as they were. ``moments`` pins a pod's moment (pod name -> seconds from now), as a
        test that needs a given order does; the others draw theirs."""
        with self.lock:
            self.log(f"update ConfigMap {name}")
            self.objects.config_maps[name]["data"] = dict(data)
            self._object_changed("ConfigMap", name, moments)

    def _object_changed(self, kind: str, name: str, moments: dict[str, float] | None) -> None:
        moments = dict(moments or {})
        for pod in self._live_pods():
            self.kubelet.object_changed(pod, kind, name, moments.pop(pod.name, None))
        if moments:
            raise EmulatorError(f"moments name pods that do not run: {sorted(moments)}")

    def update_service(self, name: str, selector: dict[str, str]) -> None:
        """Replaces a Service's selector: its endpoints follow at once, the names the cluster
        DNS gives through its cache, kube-proxy's rules within its sync period."""
        with self.lock:
            self.log(f"update Service {name}: selector {selector}")
            self.objects.service(name)["spec"]["selector"] = dict(selector)
            self.follow_pods()

    def apply_service(self, service: dict) -> None:
        """``kubectl apply`` of a Service: a new one gets its cluster IP (unless headless) and
        its names; for one that exists, a changed selector (``update_service``)."""
        name = service["metadata"]["name"]
        with self.lock:
            if any(s["metadata"]["name"] == name for s in self.objects.services):
                selector = service["spec"].get("selector", {})
                if selector != self.objects.service(name)["spec"].get("selector", {}):
                    self.update_service(name, selector)
                return
            self.log(f"create Service {name}")
            self.objects.services.append(service)
            self.services.assign_ips()
            self.follow_pods()

    def apply(self, manifests: list[dict], *, moments: dict[str, float] | None = None) -> list[str]:
        """``kubectl apply`` of a new synth of the same chart: new ConfigMaps are created (an
        immutable one cannot change: the API server refuses), changed ones reach the
        running pods' volumes each at its own moment (``update_config_map``, which takes
        ``moments``), Service selectors take effect at once, and new or changed NetworkPolicy and
        Namespace objects in every pod's rules (objects absent from ``manifests`` stay, as
        without ``--prune``). A changed StatefulSet goes to its controller last: a new pod
        template rolls the pods as its updateStrategy says (``statefulset.py``). Returns
        what changed."""
        statefulsets = [m for m in manifests if m["kind"] == "StatefulSet"]
        if self.set is None or len(statefulsets) != 1 or statefulsets[0]["metadata"]["name"] != self.set_name:
            raise EmulatorError(f"expected the StatefulSet {self.set_name} among the manifests")
        for m in manifests:
            known = self.objects.config_maps.get(m["metadata"]["name"]) if m["kind"] == "ConfigMap" else None
            if known is not None and known.get("immutable") and m.get("data") != known.get("data"):
                # The API server's answer to a changed immutable ConfigMap; nothing is applied.
                raise EmulatorError(f"ConfigMap {m['metadata']['name']!r} is invalid: data: Forbidden: field is "
                                    "immutable when `immutable` is set")
        self._ensure_images(statefulsets[0]["spec"]["template"]["spec"])
        changed = []
        for m in manifests:
            name = m["metadata"]["name"]
            if m["kind"] == "ConfigMap" and name not in self.objects.config_maps:
                with self.lock:
                    self.log(f"create ConfigMap {name}")
                    self.objects.config_maps[name] = m
                changed.append(f"ConfigMap/{name}")
            elif m["kind"] == "ConfigMap" and m.get("data") != self.objects.config_maps[name].get("data"):
                self.update_config_map(name, m.get("data") or {}, moments=moments)
                changed.append(f"ConfigMap/{name}")
            elif m["kind"] == "Service":
                known = any(s["metadata"]["name"] == name for s in self.objects.services)
                if not known or m["spec"].get("selector", {}) != self.objects.service(name)["spec"].get("selector", {}):
                    self.apply_service(m)
                    changed.append(f"Service/{name}")
        changed += self.update_network_policies(manifests)
        with self.lock:
            changed += self.storage.add(manifests)
        changed += self.apply_statefulset(statefulsets[0])
        return changed

    def apply_statefulset(self, statefulset: dict) -> list[str]:
        """``kubectl apply`` of the StatefulSet alone; returns what changed (``replicas``,
        ``template``, ``updateStrategy``)."""
        self._ensure_images(statefulset["spec"]["template"]["spec"])
        fields = self.set.apply(statefulset)
        if fields:
            self.log(f"apply StatefulSet/{self.set_name}: {', '.join(fields)}")
        return [f"StatefulSet/{self.set_name}: {field}" for field in fields]

    def wait_rolled_out(self, timeout: float = 120) -> float:
        """``kubectl rollout status``: waits until every pod (at or above the partition) runs
        the update revision and is ready; returns the seconds it took."""
        return self.wait_for(lambda: self.set.rolled_out, timeout=timeout, what="the rollout", interval=0.1)

    def update_network_policies(self, manifests: list[dict]) -> list[str]:
        """``kubectl apply`` of the NetworkPolicy and Namespace objects among ``manifests``:
        when it returns, every pod's rules follow. Returns what changed."""
        with self.lock:
            changed = self.network_policies.apply(manifests)
            if changed:
                self.log(f"apply {', '.join(changed)}")
                self.network_policies.check_host()
                self.follow_pods()
        return changed

    # ------------------------------------------------------------------ what a test reads

    def endpoints(self, service: str) -> list[str]:
        """Names of the pods a Service routes to (its Endpoints: the ready ones, every one with
        ``publishNotReadyAddresses``), as the API server has them now."""
        svc = self.objects.service(service)
        with self.lock:
            return [e.name for e in self.services.endpoints(svc, [p.endpoint() for p in self._live_pods()])]

    def cluster_ip(self, service: str) -> str | None:
        """A Service's virtual IP (None for a headless one)."""
        return self.services.cluster_ip(self.objects.service(service))

    def pod(self, ordinal: int) -> Pod:
        return self.pods[ordinal]

    def pod_processes(self, ordinal: int) -> list[int]:
        """Every process of every running container of pod N."""
        return [pid for c in self.pods[ordinal].all_containers if c.running for pid in process_group(c.proc.pid)]

    def wait_ready(self, count: int | None = None, timeout: float = 120) -> float:
        """Waits until pods 0..count-1 are all ready (and no others exist); returns the seconds it took."""
        count = self.desired if count is None else count

        def ready() -> bool:
            with self.lock:
                return len(self.pods) == count and all(o in self.pods and self.pods[o].ready for o in range(count))

        return self.wait_for(ready, timeout=timeout, what=f"{count} ready pods", interval=0.1)

    def sql(self, ordinal: int, statement: str, *, user: str = "root", password: str | None = None,
            database: str | None = None, check: bool = True, timeout: float = 60,
            column_names: bool = False, host: str = "127.0.0.1", options: tuple[str, ...] = ()) -> list[list[str]]:
        """Runs SQL in pod N with the engine's own client, inside the server container (as
        ``kubectl exec`` would): root over the server's socket, the only way root logs in;
        any other user over TCP (``host`` names another server, e.g. a Service, reached from
        that pod; ``options``: further client options, e.g. a certificate); rows as lists of
        tab-separated fields. A failure
        raises EmulatorError, or SQLError with the client's message when ``check`` is False."""
        if password is None and user == "root":
            password = self.root_password
        pod = self.pods[ordinal]
        server = pod.container(SERVER_CONTAINER)
        client = server.env.get("MYSQL_HA_CLIENT")
        if not client:
            raise EmulatorError(f"container {SERVER_CONTAINER} of {pod.name} has no MYSQL_HA_CLIENT in its environment")
        port = next((p["containerPort"] for p in server.spec.get("ports", []) if p.get("name") == "mysql"), 3306)
        socket = server.env.get("MYSQL_HA_SOCKET")
        if user == "root" and host == "127.0.0.1" and socket:
            # root logs in over the server's socket alone (kubectl exec -c mysql).
            where = ["--protocol=SOCKET", f"--socket={socket}"]
        else:
            where = ["--protocol=TCP", f"--host={host}", f"--port={port}"]
        args = [client, *where, *options, "--connect-timeout=5", f"--user={user}", "--batch",
                "--column-names" if column_names else "--skip-column-names"]
        if database:
            args.append(f"--database={database}")
        try:
            self.check_reachable(pod)
            result = self.runtime.exec(server, args, env={**server.env, "MYSQL_PWD": password or "",
                                                          "MYSQL_HA_E2E_CLIENT": "1"},
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
        self.check_reachable(self.pods[ordinal])
        return self.runtime.exec(self.pods[ordinal].container(container), command, timeout=timeout)

    @staticmethod
    def check_reachable(pod: Pod) -> None:
        """``kubectl exec`` goes through the pod's kubelet: it fails while the node is lost."""
        if pod.frozen:
            raise EmulatorError(f"error dialing backend: the kubelet of {pod.node} ({pod.name}'s node) does not answer")

    @property
    def root_password(self) -> str:
        return self.volumes.file_of_secret_volume(self.template, "root-password")

    def logs(self, ordinal: int, container: str) -> str:
        c = self.pods[ordinal].container(container)
        return c.log_path.read_text(errors="replace") if c.log_path and c.log_path.exists() else ""

    def pvc_dir(self, ordinal: int, claim: str = "data") -> Path:
        return self.set.pvc_dir(ordinal, claim)
