"""The pods' network: one network namespace per pod with its own address on a bridge, the
bridge in a namespace of its own (nothing touches the host's network), with the node's
address on it (where the kubelet's tcpSocket probes come from and the cluster DNS listens,
``dns.py``).

A pod gets an address when it is created and keeps it while it lives (a restarted container
keeps its pod's); a pod made again (a StatefulSet's pod N after a deletion) gets another one.
Addresses are handed out as host-local IPAM hands them out: round-robin over the free ones of
the subnet, from the one after the last given, so a freed address is not given again soon.
eth0's MAC address is derived from the address, and a pod's default route goes through the
node (where a packet for no pod ends: a Service's virtual IP without a rule, ``services.py``)."""

from __future__ import annotations

import fcntl
import ipaddress
import string
import threading
from pathlib import Path
from typing import IO

from .errors import EmulatorError
from .processes import run

SUBNET = "10.244.77"
NODE_IP = f"{SUBNET}.1"
POD_NETWORK = ipaddress.ip_network(f"{SUBNET}.0/24")
FIRST_POD_IP = 2  # .1 is the node's
LAST_POD_IP = 254  # .255 is the broadcast address
IFNAMSIZ = 15  # longest network interface name
LOCK_DIR = Path("/run/mysql-ha-emulator")  # one lock per network prefix in use
_DIGITS = string.digits + string.ascii_lowercase


class Network:
    """Namespaces named ``<prefix>-...``, veths named ``v<prefix><two characters of the
    address>``: a distinct prefix per emulator lets several run side by side."""

    def __init__(self, prefix: str) -> None:
        if len(f"v{prefix}99") > IFNAMSIZ:
            raise EmulatorError(f"prefix {prefix!r} is too long: veth names are at most {IFNAMSIZ} characters")
        self.prefix = prefix
        self.bridge_ns = f"{prefix}-net"
        self.up = False
        self._lock: IO[str] | None = None
        self._in_use: set[str] = set()
        self._last = LAST_POD_IP  # the next address given is the first after it
        self._ips_lock = threading.Lock()

    def netns(self, pod_name: str) -> str:
        return f"{self.prefix}-{pod_name}"

    @staticmethod
    def mac(ip: str) -> str:
        """eth0's MAC address, derived from its IP address as Docker derives it: the entries
        peers' neighbour caches hold for an address stay right when another pod takes it later
        (with a random MAC, peers that keep sending to the address would send into the void
        until their entry expires, 30 s and more)."""
        return "02:42:" + ":".join(f"{int(octet):02x}" for octet in ip.split("."))

    def veth(self, ip: str) -> str:
        """The bridge's end of the pod's veth: ``v<prefix>`` and the last octet of the pod's
        address in base 36 (two characters), unique among the pods that exist."""
        octet = int(ip.split(".")[-1])
        return f"v{self.prefix}{_DIGITS[octet // 36]}{_DIGITS[octet % 36]}"

    def allocate(self) -> str:
        """An address for a new pod: the first free one after the last given, round the subnet."""
        with self._ips_lock:
            span = LAST_POD_IP - FIRST_POD_IP + 1
            for step in range(1, span + 1):
                octet = FIRST_POD_IP + (self._last - FIRST_POD_IP + step) % span
                ip = f"{SUBNET}.{octet}"
                if ip not in self._in_use:
                    self._in_use.add(ip)
                    self._last = octet
                    return ip
            raise EmulatorError(f"no free address left on the pods' network ({len(self._in_use)} pods)")

    def release(self, ip: str) -> None:
        with self._ips_lock:
            self._in_use.discard(ip)

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
        # A bridge without an address of its own takes the lowest MAC among its ports, which
        # changes as pods come and go: every pod's neighbour entry for the node (its DNS, its
        # default route) would then point at a MAC nobody has until it goes stale, about 30 s.
        # A node's interface keeps its MAC.
        run(*ns, "ip", "link", "add", "br0", "address", self.mac(NODE_IP), "type", "bridge")
        # The node's own address: tcpSocket probes connect from here, as the kubelet does.
        run(*ns, "ip", "addr", "add", f"{NODE_IP}/24", "dev", "br0")
        run(*ns, "ip", "link", "set", "br0", "up")
        run(*ns, "ip", "link", "set", "lo", "up")

    def add_pod(self, netns: str, ip: str) -> None:
        """A namespace whose eth0 is a veth to the bridge, with the pod's address."""
        run("ip", "netns", "del", netns, check=False)
        run("ip", "netns", "add", netns)
        host_end = self.veth(ip)
        # A namespace is torn down asynchronously: the veth of a pod that had this address
        # may still sit on the bridge under the same name. Deleting one end removes the pair.
        run("ip", "-n", self.bridge_ns, "link", "del", host_end, check=False)
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns)
        run("ip", "link", "set", host_end, "netns", self.bridge_ns)
        bridge = ("ip", "netns", "exec", self.bridge_ns)
        run(*bridge, "ip", "link", "set", host_end, "master", "br0")
        run(*bridge, "ip", "link", "set", host_end, "up")
        inside = ("ip", "netns", "exec", netns)
        run(*inside, "ip", "link", "set", "eth0", "address", self.mac(ip))
        run(*inside, "ip", "addr", "add", f"{ip}/{POD_NETWORK.prefixlen}", "dev", "eth0")
        run(*inside, "ip", "link", "set", "eth0", "up")
        run(*inside, "ip", "link", "set", "lo", "up")
        run(*inside, "ip", "route", "add", "default", "via", NODE_IP)

    def remove_pod(self, netns: str) -> None:
        run("ip", "netns", "del", netns, check=False)

    def set_link(self, netns: str, up: bool) -> None:
        """Takes a pod's eth0 down (a partition) or up again, with its default route (which
        the kernel drops with the link)."""
        run("ip", "netns", "exec", netns, "ip", "link", "set", "eth0", "up" if up else "down")
        if up:
            run("ip", "netns", "exec", netns, "ip", "route", "replace", "default", "via", NODE_IP)

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

