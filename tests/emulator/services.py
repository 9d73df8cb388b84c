"""Services, as the API server, the endpoints controller and kube-proxy (iptables mode) make
them work: a Service's endpoints are the pods of its namespace that its selector matches and
that are ready (every one of them, Terminating ones too, with ``publishNotReadyAddresses``);
a Service without a selector has none.

A ClusterIP Service (any but ``clusterIP: None``) gets a virtual IP from ``SERVICE_RANGE``
(the manifest's ``clusterIP`` if it names one), drawn at random as the API server draws it.
Each new TCP (or UDP) connection from a pod to ``<cluster IP>:<port>`` goes to one of the
Service's endpoints chosen at random, on the port's ``targetPort`` (a number, or the name of
a container port of that endpoint: an endpoint without it is left out for that port); an
established connection stays where it went when the endpoints change (conntrack). A
Service port without endpoints rejects (ICMP port unreachable: the client's connect fails
at once). This is one nftables table (``TABLE``) in every pod's network namespace, the
same for all (kube-proxy's rules are node-wide): a ``dnat`` in the ``output`` hook of the
client's own namespace, so the server sees the client pod's own address, and NetworkPolicy
(``netpolicy.py``) matches it. A pod that is an endpoint of the Service it connects to
reaches itself (hairpin): the kernel routes the rewritten packet over the pod's loopback,
which NetworkPolicy admits, and answers or refuses at once as for any other endpoint. A real
kube-proxy masquerades such a connection (so the server sees an address of the node, not its
own) and the kubelet's hairpin mode sends it back into the pod; a node without hairpin mode
would drop it, and the client's connect would time out. The table is replaced in one
transaction when the endpoints change, at most once per kube-proxy's minimum sync period
(``timings.py``); a new pod gets the rules in force before its containers start.

A headless Service (``clusterIP: None``) has no virtual IP: its name resolves to its
endpoints' addresses, and each endpoint whose ``subdomain`` names the Service to a name of
its own (``dns.py``)."""

from __future__ import annotations

import ipaddress
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .dns import SERVICE_DOMAIN
from .errors import EmulatorError
from .netpolicy import ContainerPort, LivePod, load_ruleset

TABLE = "services"
SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/16")
RESERVED = 16  # the range's first addresses, kept for the cluster's own Services (kube-dns)


@dataclass(frozen=True)
class Endpoint:
    """What Services read of a pod: ``order`` sorts a Service's pods (a StatefulSet pod's
    ordinal, else its creation); ``hostname`` and ``subdomain`` give it a name of its own
    under the headless Service ``subdomain``; ``ports`` are its containers' ports."""

    name: str
    namespace: str
    ip: str
    order: float
    labels: dict = field(hash=False)
    ready: bool
    terminating: bool = False
    hostname: str = ""
    subdomain: str | None = None
    ports: tuple[ContainerPort, ...] = ()


@dataclass(frozen=True)
class ServicePort:
    port: int
    protocol: str
    target: int | str


def service_ports(service: dict) -> list[ServicePort]:
    return [ServicePort(p["port"], p.get("protocol", "TCP"), p.get("targetPort", p["port"]))
            for p in service["spec"].get("ports") or []]


def is_headless(service: dict) -> bool:
    return service["spec"].get("clusterIP") == "None"


def published(service: dict, endpoints: Iterable[Endpoint], default_namespace: str) -> list[Endpoint]:
    """The Service's endpoints, in order: the pods its selector matches in its namespace that
    are ready (or all of them, with ``publishNotReadyAddresses``)."""
    spec = service["spec"]
    selector = spec.get("selector")
    if not selector:
        return []
    namespace = service["metadata"].get("namespace", default_namespace)
    every = bool(spec.get("publishNotReadyAddresses"))
    return sorted((e for e in endpoints if e.namespace == namespace and (every or (e.ready and not e.terminating))
                   and all(e.labels.get(k) == v for k, v in selector.items())), key=lambda e: e.order)


def target_port(port: ServicePort, endpoint: Endpoint) -> int | None:
    """The endpoint's port for a Service port: the number, or the endpoint's container port of
    that name and protocol (None: it has none)."""
    if isinstance(port.target, int) or str(port.target).isdigit():
        return int(port.target)
    return next((p.number for p in endpoint.ports if p.name == port.target and p.protocol == port.protocol), None)


class Services:
    """The cluster's Services (the manifests', as ``services`` lists them, a list that
    ``apply`` may grow): their cluster IPs, their endpoints, the names the cluster DNS gives
    (``names``) and kube-proxy's table in every pod (``sync``). ``min_sync`` is kube-proxy's
    minimum sync period in seconds (read at each sync); ``load`` puts a ruleset into a
    network namespace."""

    def __init__(self, services: list[dict], *, default_namespace: str, min_sync: Callable[[], float],
                 load: Callable[[str, str], None] = load_ruleset) -> None:
        self.services = services
        self.default_namespace = default_namespace
        self.min_sync = min_sync
        self.random = random.Random()
        self._load = load
        self._ips: dict[tuple[str, str], str] = {}
        self._rules = ruleset([])  # in force: every new pod gets it
        self._synced_at = float("-inf")
        self._loaded: dict[LivePod, str] = {}
        self._lock = threading.Lock()
        self.assign_ips()

    def key(self, service: dict) -> tuple[str, str]:
        return service["metadata"].get("namespace", self.default_namespace), service["metadata"]["name"]

    def assign_ips(self) -> None:
        """A cluster IP for every ClusterIP Service that has none yet."""
        taken = set(self._ips.values())
        for service in self.services:
            key = self.key(service)
            if is_headless(service) or key in self._ips:
                continue
            wanted = service["spec"].get("clusterIP")
            if wanted:
                if wanted in taken or ipaddress.ip_address(wanted) not in SERVICE_RANGE:
                    raise EmulatorError(f"Service {key[0]}/{key[1]}: clusterIP {wanted} is taken or outside "
                                        f"{SERVICE_RANGE}")
                ip = wanted
            else:
                size = SERVICE_RANGE.num_addresses - RESERVED - 1  # without the broadcast address
                if len(taken) >= size:
                    raise EmulatorError(f"no cluster IP left in {SERVICE_RANGE}")
                ip = next(a for a in iter(lambda: str(SERVICE_RANGE[RESERVED + self.random.randrange(size)]), None)
                          if a not in taken)
            self._ips[key] = ip
            taken.add(ip)

    def cluster_ip(self, service: dict) -> str | None:
        """The Service's virtual IP; None for a headless one."""
        return self._ips.get(self.key(service))

    def service(self, name: str, namespace: str | None = None) -> dict:
        namespace = namespace or self.default_namespace
        for service in self.services:
            if self.key(service) == (namespace, name):
                return service
        raise EmulatorError(f"Service {namespace}/{name} is not among the manifests")

    def endpoints(self, service: dict, endpoints: Iterable[Endpoint]) -> list[Endpoint]:
        return published(service, endpoints, self.default_namespace)

    def names(self, endpoints: list[Endpoint]) -> dict[str, tuple[str, ...]]:
        """Every name the cluster DNS answers, with its addresses."""
        names: dict[str, tuple[str, ...]] = {}
        for service in self.services:
            namespace, name = self.key(service)
            base = f"{name}.{namespace}.{SERVICE_DOMAIN}"
            if not is_headless(service):
                names[base] = (self.cluster_ip(service),)
                continue
            shown = self.endpoints(service, endpoints)
            names[base] = tuple(e.ip for e in shown)
            for e in shown:
                if e.subdomain == name:
                    names[f"{e.hostname}.{base}"] = (e.ip,)
        return names

    def sync(self, pods: list[LivePod], endpoints: list[Endpoint], now: float | None = None) -> None:
        """kube-proxy: the rules for the endpoints as they are now (``endpoints``: of every
        pod that exists), in force once the minimum sync period has passed since the last
        change; every pod of ``pods`` (all that exist) holds the rules in force."""
        now = time.monotonic() if now is None else now
        wanted = ruleset([(self.cluster_ip(s), p, [(e.ip, target_port(p, e)) for e in self.endpoints(s, endpoints)])
                          for s in self.services if not is_headless(s) for p in service_ports(s)])
        with self._lock:
            if wanted != self._rules and now - self._synced_at >= self.min_sync():
                self._rules = wanted
                self._synced_at = now
            self._loaded = {p: text for p, text in self._loaded.items() if p in pods}
            for pod in pods:
                if self._loaded.get(pod) != self._rules and not pod.finished:
                    self._reload(pod, self._rules)

    def _reload(self, pod: LivePod, text: str) -> None:
        try:
            self._load(pod.netns, text)
        except EmulatorError:
            if pod.deleting or pod.finished:
                return  # its network namespace is going away with it
            raise
        self._loaded[pod] = text

    def loaded(self, pod: LivePod) -> str | None:
        """The table ``pod``'s network namespace holds (None: not loaded yet)."""
        with self._lock:
            return self._loaded.get(pod)


def ruleset(ports: list[tuple[str, ServicePort, list[tuple[str, int | None]]]]) -> str:
    """The nftables text of kube-proxy's table for (cluster IP, Service port, endpoints as
    (address, target port)) triples: a random pick among the endpoints for each new
    connection, a reject where there is none."""
    nat, reject = [], []
    for ip, port, targets in ports:
        match = f"ip daddr {ip} {port.protocol.lower()} dport {port.port}"
        targets = [(address, number) for address, number in targets if number is not None]
        if not targets:
            reject.append(f"{match} reject")
            continue
        choices = ", ".join(f"{i} : {address} . {number}" for i, (address, number) in enumerate(targets))
        nat.append(f"{match} dnat to numgen random mod {len(targets)} map {{ {choices} }}")
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{",
             "\tchain nat-output {", "\t\ttype nat hook output priority -100; policy accept;",
             *(f"\t\t{line}" for line in nat), "\t}",
             "\tchain filter-output {", "\t\ttype filter hook output priority 0; policy accept;",
             *(f"\t\t{line}" for line in reject), "\t}", "}"]
    return "\n".join(lines) + "\n"
