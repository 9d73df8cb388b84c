"""The pods' network: one network namespace per pod with its own address on a bridge, the
bridge in a namespace of its own (nothing touches the host's network), and the hosts file
through which pods and Services resolve, as the cluster DNS would answer.

A pod sits in a slot of the bridge's subnet: a StatefulSet's pod N in slot N, the other pods
(a Job's, or one a test runs by itself) in the lowest free slot from ``FIRST_FREE_SLOT``."""

from __future__ import annotations

import fcntl
import string
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import EmulatorError
from .processes import run

SUBNET = "10.244.77"
CLUSTER_DOMAIN = "svc.cluster.local"
NODE_IP = f"{SUBNET}.1"
IFNAMSIZ = 15  # longest network interface name
LOCK_DIR = Path("/run/mysql-ha-emulator")  # one lock per network prefix in use
FIRST_FREE_SLOT = 100  # slots below are a StatefulSet's ordinals
LAST_SLOT = 244  # address .254
_DIGITS = string.digits + string.ascii_lowercase


@dataclass(frozen=True)
class Endpoint:
    """What the hosts file needs of a pod: ``order`` sorts a Service's pods (a StatefulSet
    pod's ordinal); ``subdomain`` is the headless Service under which the pod has a record of
    its own (``<name>.<subdomain>``), ``aliases`` the other names it resolves as;
    ``namespace`` is the pod's (None: the Services' own), and only a Service of that
    namespace selects it."""

    name: str
    ip: str
    order: int
    labels: dict
    ready: bool
    subdomain: str | None = None
    aliases: tuple[str, ...] = ()
    namespace: str | None = None


class Network:
    """Namespaces named ``<prefix>-...``, veths named ``v<prefix><slot>``: a distinct prefix
    per emulator lets several run side by side."""

    def __init__(self, prefix: str) -> None:
        if len(f"v{prefix}99") > IFNAMSIZ:
            raise EmulatorError(f"prefix {prefix!r} is too long: veth names are at most {IFNAMSIZ} characters")
        self.prefix = prefix
        self.bridge_ns = f"{prefix}-net"
        self.up = False
        self._lock: IO[str] | None = None
        self._slots: set[int] = set()
        self._slots_lock = threading.Lock()

    def netns(self, pod_name: str) -> str:
        return f"{self.prefix}-{pod_name}"

    @staticmethod
    def ip(slot: int) -> str:
        return f"{SUBNET}.{10 + slot}"

    @classmethod
    def mac(cls, slot: int) -> str:
        """eth0's MAC address, derived from its IP address as Docker derives it: a pod made
        again on the same slot keeps both, so the entries its peers' neighbour caches hold
        for it stay right (with a random MAC, peers that keep sending to the address would
        send into the void until their entry expires, 30 s and more)."""
        return "02:42:" + ":".join(f"{int(octet):02x}" for octet in cls.ip(slot).split("."))

    def veth(self, slot: int) -> str:
        """The bridge's end of the pod's veth: ``v<prefix><ordinal>`` for a StatefulSet's pod,
        a letter and a digit (``a0``, ``a1``, ...) for a pod in a free slot."""
        if slot < FIRST_FREE_SLOT:
            return f"v{self.prefix}{slot}"
        index = slot - FIRST_FREE_SLOT
        return f"v{self.prefix}{_DIGITS[10 + index // 36]}{_DIGITS[index % 36]}"

    def allocate(self) -> int:
        """The lowest free slot for a pod that is not a StatefulSet's."""
        with self._slots_lock:
            slot = next((s for s in range(FIRST_FREE_SLOT, LAST_SLOT + 1) if s not in self._slots), None)
            if slot is None:
                raise EmulatorError(f"no free address left on the pods' network ({len(self._slots)} pods)")
            self._slots.add(slot)
            return slot

    def release(self, slot: int) -> None:
        with self._slots_lock:
            self._slots.discard(slot)

    def create(self) -> None:
        """The bridge, with the node's address on it. The prefix is locked for as long as this
        network lives: a second emulator with the same prefix fails here instead of deleting
        the first one's bridge (which would cut every pod of the first off the network)."""
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        lock = open(LOCK_DIR / f"{self.prefix}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise EmulatorError(f"network prefix {self.prefix!r} is in use by another emulator on this machine; "
                                "give this one another prefix") from None
        self._lock = lock
        # Left over by an emulator that died: nobody holds its lock any more.
        run("ip", "netns", "del", self.bridge_ns, check=False)
        run("ip", "netns", "add", self.bridge_ns)
        self.up = True
        ns = ("ip", "netns", "exec", self.bridge_ns)
        run(*ns, "ip", "link", "add", "br0", "type", "bridge")
        # The node's own address: tcpSocket probes connect from here, as the kubelet does.
        run(*ns, "ip", "addr", "add", f"{NODE_IP}/24", "dev", "br0")
        run(*ns, "ip", "link", "set", "br0", "up")
        run(*ns, "ip", "link", "set", "lo", "up")

    def add_pod(self, netns: str, slot: int) -> None:
        """A namespace whose eth0 is a veth to the bridge, with the address of its slot."""
        run("ip", "netns", "del", netns, check=False)
        run("ip", "netns", "add", netns)
        host_end = self.veth(slot)
        # A namespace is torn down asynchronously: the veth of this pod's previous life may
        # still sit on the bridge under the same name. Deleting one end removes the pair.
        run("ip", "-n", self.bridge_ns, "link", "del", host_end, check=False)
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns)
        run("ip", "link", "set", host_end, "netns", self.bridge_ns)
        bridge = ("ip", "netns", "exec", self.bridge_ns)
        run(*bridge, "ip", "link", "set", host_end, "master", "br0")
        run(*bridge, "ip", "link", "set", host_end, "up")
        inside = ("ip", "netns", "exec", netns)
        run(*inside, "ip", "link", "set", "eth0", "address", self.mac(slot))
        run(*inside, "ip", "addr", "add", f"{self.ip(slot)}/24", "dev", "eth0")
        run(*inside, "ip", "link", "set", "eth0", "up")
        run(*inside, "ip", "link", "set", "lo", "up")

    def remove_pod(self, netns: str) -> None:
        run("ip", "netns", "del", netns, check=False)

    def set_link(self, netns: str, up: bool) -> None:
        """Takes a pod's eth0 down (a partition) or up again."""
        run("ip", "netns", "exec", netns, "ip", "link", "set", "eth0", "up" if up else "down")

    def limit_egress(self, netns: str, rate: str | None) -> None:
        """Caps what a pod sends (a token bucket on its eth0, e.g. ``"80mbit"``), or lifts the cap."""
        inside = ("ip", "netns", "exec", netns, "tc", "qdisc")
        if rate is None:
            run(*inside, "del", "dev", "eth0", "root", check=False)
        else:
            run(*inside, "replace", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "256kb", "latency", "100ms")

    def destroy(self) -> None:
        """Removes the bridge and every namespace of this prefix."""
        if self.up:
            run("ip", "netns", "del", self.bridge_ns, check=False)
        for line in run("ip", "netns", "list").stdout.splitlines():
            name = line.split()[0] if line.strip() else ""
            if name.startswith(f"{self.prefix}-"):
                run("ip", "netns", "del", name, check=False)
        self.up = False
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def hosts_lines(endpoints: list[Endpoint], services: list[dict], *, namespace: str) -> list[str]:
    """The Service and pod names every pod resolves: each pod's own record under its headless
    Service (a StatefulSet's pods under the governing Service), its aliases, and each
    Service's name at its first routable pod. ``namespace`` is that of Services that name
    none."""
    lines = [f"{e.ip} {' '.join(e.aliases)}" for e in sorted(endpoints, key=lambda e: e.order) if e.aliases]
    for svc in services:
        spec = svc["spec"]
        name = svc["metadata"]["name"]
        ns = svc["metadata"].get("namespace", namespace)
        selected = [e for e in sorted(endpoints, key=lambda e: e.order) if e.namespace in (None, ns)
                    and all(e.labels.get(k) == v for k, v in spec.get("selector", {}).items())]
        headless = spec.get("clusterIP") == "None"
        visible = selected if (headless and spec.get("publishNotReadyAddresses")) else [e for e in selected if e.ready]
        if headless:
            lines += [f"{e.ip} {e.name}.{name}.{ns}.{CLUSTER_DOMAIN} {e.name}.{name}"
                      for e in visible if e.subdomain == name]
        if visible:
            lines.append(f"{visible[0].ip} {name}.{ns}.{CLUSTER_DOMAIN} {name}")
    return lines


def write_hosts(path: Path, endpoint: Endpoint, common: list[str]) -> None:
    """Writes a pod's hosts file in place when it changed: it is bind-mounted, a rename would not show."""
    own = f"{endpoint.ip} {endpoint.name}"
    text = "\n".join(["127.0.0.1 localhost", own, *(line for line in common if line != own)]) + "\n"
    if path.exists() and path.read_text() == text:
        return
    with open(path, "r+" if path.exists() else "w") as f:
        f.seek(0)
        f.write(text)
        f.truncate()
