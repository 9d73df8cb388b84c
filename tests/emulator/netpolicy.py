"""NetworkPolicy, enforced as a CNI plugin enforces it: the manifests' ``networking.k8s.io/v1``
NetworkPolicy objects become nftables rules inside each pod's network namespace, filtering
what reaches the pod.

Ingress only. A policy's ``egress`` rules are not enforced, and a policy whose
``policyTypes`` name only Egress selects nothing here: every pod may send anywhere, and what
it sends is filtered by the receiving pod's rules. The charts restrict ingress only.

As Kubernetes defines it:

- a pod that no policy of its own namespace selects admits everything;
- a selected pod admits only what some ingress rule of some selecting policy allows;
- a rule's ``from`` peers: ``podSelector`` (pods of the policy's namespace),
  ``namespaceSelector`` (every pod of the namespaces whose labels match), both in one peer
  (the pods the pod selector matches in the namespaces the namespace selector matches),
  ``ipBlock`` (``cidr`` without its ``except`` ranges); no ``from``, or an empty one: from
  anywhere;
- a rule's ``ports``: ``protocol`` (TCP unless given, UDP, SCTP), ``port`` as a number (with
  ``endPort``, a range) or a name, looked up among the selected pod's containers' ports (a
  name it lacks admits nothing); no ``port``: every port of the protocol; no ``ports``: every
  port and protocol;
- selectors with ``matchLabels`` and ``matchExpressions`` (In, NotIn, Exists, DoesNotExist);
  every namespace carries ``kubernetes.io/metadata.name: <name>`` besides the labels of its
  Namespace object.

Always admitted, as on a real node: loopback inside the pod, the node's address (``NODE_IP``,
from which the kubelet's tcpSocket probes connect), and the replies to connections the pod
made (conntrack's established and related). Anything else is dropped, never answered with a
reset: a client's connection attempt times out, as with most CNI plugins.

A pod's rules are one nftables table, replaced in one transaction, and reloaded only when
their text changes: pods come and go (a pod's address is its slot's, which another pod may
take later), labels change, and an apply brings changed policies.
"""

from __future__ import annotations

import copy
import ipaddress
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .errors import EmulatorError
from .network import NODE_IP
from .processes import run

TABLE = "netpol"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
PROTOCOLS = ("TCP", "UDP", "SCTP")
OPEN = f"table inet {TABLE}\ndelete table inet {TABLE}\n"
"""The ruleset of a pod that no policy selects: no table, everything admitted. A fresh network
namespace has none: a pod that is never selected is never loaded."""


@dataclass(frozen=True)
class ContainerPort:
    number: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class PolicyPod:
    """What policies read of a pod: its namespace, address, labels and named ports."""

    name: str
    namespace: str
    ip: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A NetworkPolicy: its namespace (the manifest's, else the cluster's) and its spec."""

    name: str
    namespace: str
    spec: dict = field(hash=False, compare=True)

    @classmethod
    def from_manifest(cls, manifest: dict, default_namespace: str) -> "Policy":
        meta = manifest["metadata"]
        policy = cls(meta["name"], meta.get("namespace", default_namespace), copy.deepcopy(manifest.get("spec") or {}))
        policy.validate()
        return policy

    @property
    def filters_ingress(self) -> bool:
        """Kubernetes' default for a missing ``policyTypes``: Ingress, always."""
        types = self.spec.get("policyTypes")
        return not types or "Ingress" in types

    def selects(self, pod: PolicyPod) -> bool:
        return (self.filters_ingress and pod.namespace == self.namespace
                and selector_matches(self.spec.get("podSelector") or {}, pod.labels))

    def validate(self) -> None:
        """Fails on what the API server would refuse, and on what is not enforced here."""
        where = f"NetworkPolicy {self.namespace}/{self.name}"
        for rule in self.spec.get("ingress") or []:
            for peer in rule.get("from") or []:
                if not {"podSelector", "namespaceSelector", "ipBlock"} & set(peer):
                    raise EmulatorError(f"{where}: a peer needs podSelector, namespaceSelector or ipBlock, got {peer}")
                if "ipBlock" in peer and len(peer) > 1:
                    raise EmulatorError(f"{where}: ipBlock goes alone in its peer, got {sorted(peer)}")
            for port in rule.get("ports") or []:
                if port.get("protocol", "TCP") not in PROTOCOLS:
                    raise EmulatorError(f"{where}: protocol must be one of {PROTOCOLS}, got {port['protocol']!r}")
                if isinstance(port.get("port"), str) and "endPort" in port:
                    raise EmulatorError(f"{where}: endPort needs a numeric port, got {port['port']!r}")


# ---------------------------------------------------------------------- selectors


def selector_matches(selector: Mapping, labels: Mapping[str, str]) -> bool:
    """A LabelSelector against labels: every ``matchLabels`` pair and every expression; the
    empty selector matches everything."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expression: Mapping, labels: Mapping[str, str]) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
    if operator in ("In", "NotIn") and not values:
        raise EmulatorError(f"matchExpressions: {operator} needs values, got {dict(expression)}")
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise EmulatorError(f"matchExpressions: unknown operator {operator!r} (In, NotIn, Exists, DoesNotExist)")


def namespace_labels(name: str, declared: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """A namespace's labels: its Namespace object's, and the name label every namespace carries."""
    return {**declared.get(name, {}), NAMESPACE_NAME_LABEL: name}


# ---------------------------------------------------------------------- rules


def ruleset(pod: PolicyPod, pods: Iterable[PolicyPod], policies: Iterable[Policy],
            namespaces: Mapping[str, Mapping[str, str]]) -> str:
    """The nftables text for ``pod``, given every pod that exists (the possible peers), the
    policies and the namespaces' declared labels: ``OPEN`` when no policy selects it."""
    selecting = [p for p in policies if p.selects(pod)]
    if not selecting:
        return OPEN
    pods = list(pods)
    lines = {line for policy in selecting for rule in policy.spec.get("ingress") or []
             for line in _rule_lines(rule, policy.namespace, pod, pods, namespaces)}
    return _table(sorted(lines))


def _table(rules: list[str]) -> str:
    body = "\n".join(f"\t\t{rule}" for rule in rules)
    return (f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n"
            "\tchain ingress {\n"
            "\t\ttype filter hook input priority filter; policy drop;\n"
            "\t\tiif lo accept\n"
            "\t\tct state established,related accept\n"
            f"\t\tip saddr {NODE_IP} accept\n"
            + (body + "\n" if body else "")
            + "\t}\n}\n")


def _rule_lines(rule: Mapping, policy_namespace: str, pod: PolicyPod, pods: list[PolicyPod],
                namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    """One ``accept`` line per source and protocol the rule admits (none: it admits nothing)."""
    peers = rule.get("from") or []
    sources = [s for peer in peers for s in _peer_sources(peer, policy_namespace, pods, namespaces)] if peers else [""]
    ports = _port_matches(rule.get("ports") or [], pod)
    return [" ".join(part for part in (source, port, "accept") if part) for source in sources for port in ports]


def _peer_sources(peer: Mapping, policy_namespace: str, pods: list[PolicyPod],
                  namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The source match of one peer: an address block, or the addresses of the pods it
    selects (none when it selects no pod)."""
    if "ipBlock" in peer:
        return [_ip_block(peer["ipBlock"])]
    namespace_selector = peer.get("namespaceSelector")
    pod_selector = peer.get("podSelector") or {}

    def in_namespace(ns: str) -> bool:
        if namespace_selector is None:
            return ns == policy_namespace
        return selector_matches(namespace_selector, namespace_labels(ns, namespaces))

    ips = {p.ip for p in pods if in_namespace(p.namespace) and selector_matches(pod_selector, p.labels)}
    if not ips:
        return []
    return [f"ip saddr {{ {', '.join(sorted(ips, key=ipaddress.ip_address))} }}"]


def _ip_block(block: Mapping) -> str:
    network = ipaddress.ip_network(block["cidr"], strict=False)
    family = "ip" if network.version == 4 else "ip6"
    text = f"{family} saddr {network}"
    excepted = [str(ipaddress.ip_network(e, strict=False)) for e in block.get("except") or []]
    return text + (f" {family} saddr != {{ {', '.join(excepted)} }}" if excepted else "")


def _port_matches(ports: list[Mapping], pod: PolicyPod) -> list[str]:
    """The destination matches of a rule's ``ports``, one per protocol: ``[""]`` (any) when
    it lists none, ``[]`` when none of its named ports exists on ``pod``."""
    if not ports:
        return [""]
    by_protocol: dict[str, set[str] | None] = {}  # None: every port of the protocol
    for entry in ports:
        protocol = entry.get("protocol", "TCP")
        numbers = _port_numbers(entry, protocol, pod)
        if numbers is None or by_protocol.get(protocol, set()) is None:
            by_protocol[protocol] = None
        else:
            by_protocol.setdefault(protocol, set()).update(numbers)
    matches = []
    for protocol, numbers in sorted(by_protocol.items()):
        if numbers is None:
            matches.append(f"meta l4proto {protocol.lower()}")
        elif numbers:
            ordered = sorted(numbers, key=lambda n: int(n.split("-")[0]))
            matches.append(f"{protocol.lower()} dport {{ {', '.join(ordered)} }}")
    return matches


def _port_numbers(entry: Mapping, protocol: str, pod: PolicyPod) -> set[str] | None:
    """The ports (``"3306"``, ``"8000-8010"``) of one ``ports`` entry on ``pod``; None: all."""
    port = entry.get("port")
    if port is None:
        return None
    if isinstance(port, str):
        return {str(p.number) for p in pod.ports if p.name == port and p.protocol == protocol}
    end = entry.get("endPort")
    return {f"{port}-{end}" if end is not None and end != port else str(port)}


# ---------------------------------------------------------------------- the pods' rulesets


class LivePod(Protocol):
    """What ``NetworkPolicies.sync`` needs of a running pod (``pods.Pod``)."""

    name: str
    namespace: str
    ip: str
    netns: str
    labels: dict
    spec: dict
    deleting: bool

    @property
    def finished(self) -> bool: ...


def policy_pod(pod: LivePod) -> PolicyPod:
    ports = tuple(ContainerPort(p["containerPort"], p.get("protocol", "TCP"), p.get("name"))
                  for c in pod.spec.get("containers", []) for p in c.get("ports") or [])
    return PolicyPod(pod.name, pod.namespace, pod.ip, dict(pod.labels), ports)


def load_ruleset(netns: str, text: str) -> None:
    """Loads a ruleset inside a pod's network namespace, as one nftables transaction."""
    result = run("ip", "netns", "exec", netns, "nft", "-f", "-", input=text, check=False)
    if result.returncode != 0:
        raise EmulatorError(f"nft in network namespace {netns} failed: {result.stderr.strip()}\n{text}")


class NetworkPolicies:
    """A cluster's NetworkPolicy objects and Namespace labels, and every pod's loaded ruleset.

    ``default_namespace`` is the namespace of manifests that name none; ``load`` puts a
    ruleset into a network namespace (``load_ruleset`` unless given)."""

    def __init__(self, manifests: list[dict], *, default_namespace: str,
                 load: Callable[[str, str], None] = load_ruleset) -> None:
        self.default_namespace = default_namespace
        self.policies: dict[tuple[str, str], Policy] = {}
        self.namespaces: dict[str, dict[str, str]] = {}
        self._load = load
        self._loaded: dict[LivePod, str] = {}  # what each pod's namespace holds, when not OPEN
        self._lock = threading.Lock()
        self.apply(manifests)

    def check_host(self) -> None:
        """Fails when the manifests hold policies and the host has no ``nft`` to enforce them."""
        if self.policies and shutil.which("nft") is None:
            names = ", ".join(f"{ns}/{name}" for ns, name in sorted(self.policies))
            raise EmulatorError(f"the manifests hold NetworkPolicy objects ({names}) and the pod emulator enforces "
                                "them with nft, which the host lacks: apt-get install nftables")

    def apply(self, manifests: list[dict]) -> list[str]:
        """``kubectl apply`` of the NetworkPolicy and Namespace objects among ``manifests``:
        new and changed ones take effect at the next ``sync``; objects absent from them stay,
        as ``kubectl apply`` without ``--prune`` leaves them. Returns what changed."""
        changed = []
        for m in manifests:
            if m["kind"] == "NetworkPolicy":
                policy = Policy.from_manifest(m, self.default_namespace)
                key = (policy.namespace, policy.name)
                if self.policies.get(key) != policy:
                    self.policies[key] = policy
                    changed.append(f"NetworkPolicy/{policy.name}")
            elif m["kind"] == "Namespace":
                name, labels = m["metadata"]["name"], dict(m["metadata"].get("labels") or {})
                if self.namespaces.get(name, {}) != labels:
                    self.namespaces[name] = labels
                    changed.append(f"Namespace/{name}")
        return changed

    def sync(self, pods: list[LivePod]) -> None:
        """Brings every pod's ruleset in line with the policies and the pods that exist now
        (``pods``: all of them), loading only the ones whose text changed."""
        views = [policy_pod(p) for p in pods]
        with self._lock:
            self._loaded = {p: text for p, text in self._loaded.items() if p in pods}
            for pod, view in zip(pods, views):
                text = ruleset(view, views, self.policies.values(), self.namespaces)
                if text != self._loaded.get(pod, OPEN):
                    self._reload(pod, text)

    def _reload(self, pod: LivePod, text: str) -> None:
        try:
            self._load(pod.netns, text)
        except EmulatorError:
            if pod.deleting or pod.finished:
                return  # its network namespace is going away with it
            raise
        self._loaded[pod] = text

    def loaded(self, pod: LivePod) -> str:
        """The ruleset ``pod``'s network namespace holds (``OPEN``: none)."""
        with self._lock:
            return self._loaded.get(pod, OPEN)
