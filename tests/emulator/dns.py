"""The cluster DNS, as CoreDNS with its kubernetes plugin answers (``ttl 5``) behind its cache
plugin: names under ``cluster.local`` only, no upstream (any other name is NXDOMAIN).

    <pod>.<headless service>.<ns>.svc.cluster.local   the pod's IP, while the pod exists and the
                                                      Service publishes it (``services.py``)
    <headless service>.<ns>.svc.cluster.local          the IPs of its endpoints, in an order that
                                                      varies from answer to answer
    <service>.<ns>.svc.cluster.local                   a ClusterIP Service's cluster IP

A known name asked for another type (AAAA) gets an empty NOERROR answer. The cache: once a
name is answered, the same answer (an NXDOMAIN too) is given until the TTL has passed since it
was first given, with the TTL counting down; a change (a pod's new IP, readiness, a Service's
endpoints) reaches a client no later than the TTL after it happened, and may take that long.
The TTL is an emulator timing (``timings.py``), scaled by the cluster's speed.

The server runs in the emulator's own process (``dnslib``), on UDP and TCP port 53 of the
node's address: its sockets are made by a thread that has entered the bridge's network
namespace, and stay in that namespace. Each pod's ``/etc/resolv.conf`` names it, as the
kubelet writes it for ``dnsPolicy: ClusterFirst`` (``resolv_conf``); clients resolve short
names through its search path (``options ndots:5``)."""

from __future__ import annotations

import ctypes
import math
import os
import random
import threading
import time
from collections.abc import Callable, Mapping

from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import DNSLogger, DNSServer

from .errors import EmulatorError

CLUSTER_DOMAIN = "cluster.local"
SERVICE_DOMAIN = f"svc.{CLUSTER_DOMAIN}"
DNS_PORT = 53
CLONE_NEWNET = 0x40000000


def resolv_conf(namespace: str, nameserver: str) -> str:
    """``/etc/resolv.conf`` as the kubelet writes it for a pod of ``namespace``."""
    return (f"search {namespace}.{SERVICE_DOMAIN} {SERVICE_DOMAIN} {CLUSTER_DOMAIN}\n"
            f"nameserver {nameserver}\noptions ndots:5\n")


def pod_hosts(ip: str, hostname: str, fqdn: str | None) -> str:
    """``/etc/hosts`` as the kubelet writes it: localhost, and the pod's own address with its
    FQDN (when it has a subdomain) and hostname; nothing of other pods or Services."""
    own = f"{ip}\t{fqdn}\t{hostname}" if fqdn else f"{ip}\t{hostname}"
    return ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{own}\n")


class ClusterDNS:
    """The names (FQDN without the final dot -> addresses) as ``update`` last gave them, served
    through a cache whose TTL is ``ttl()`` seconds."""

    def __init__(self, ttl: Callable[[], float]) -> None:
        self.ttl = ttl
        self.random = random.Random()
        self._names: Mapping[str, tuple[str, ...]] = {}
        self._cache: dict[str, tuple[float, tuple[str, ...] | None]] = {}
        self._lock = threading.Lock()
        self._servers: list[DNSServer] = []

    def update(self, names: Mapping[str, tuple[str, ...]]) -> None:
        """The names as the API objects say now (the cache still gives what it gave)."""
        self._names = dict(names)

    def lookup(self, name: str, now: float | None = None) -> tuple[tuple[str, ...] | None, float]:
        """The addresses a client is given for ``name`` (None: NXDOMAIN) and their remaining TTL."""
        name = name.lower().rstrip(".")
        now = time.monotonic() if now is None else now
        ttl = self.ttl()
        with self._lock:
            cached = self._cache.get(name)
            if cached is None or now - cached[0] >= ttl:
                cached = (now, self._names.get(name))
                self._cache[name] = cached
        addresses = cached[1]
        if addresses is not None:
            addresses = tuple(self.random.sample(addresses, len(addresses)))
        return addresses, ttl - (now - cached[0])

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        """dnslib's resolver interface: one question, answered from ``lookup``."""
        reply = request.reply()
        question = request.q
        addresses, remaining = self.lookup(str(question.qname))
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif question.qtype in (QTYPE.A, QTYPE.ANY):
            ttl = max(1, math.ceil(remaining))
            for address in addresses:
                reply.add_answer(RR(question.qname, QTYPE.A, ttl=ttl, rdata=A(address)))
        return reply

    # ------------------------------------------------------------------ the server

    def start(self, netns: str, address: str) -> None:
        """Serves on UDP and TCP ``address:53`` inside the named network namespace."""
        def bind() -> None:
            try:
                fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
                try:
                    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {netns}")
                finally:
                    os.close(fd)
                quiet = DNSLogger(logf=lambda line: None)
                for tcp in (False, True):
                    self._servers.append(DNSServer(self, address=address, port=DNS_PORT, tcp=tcp, logger=quiet))
            except Exception as error:  # noqa: BLE001 - raised in the caller's thread
                failures.append(error)

        failures: list[Exception] = []
        # A thread of its own: setns changes the calling thread's namespace, for good.
        binder = threading.Thread(target=bind, name="dns-bind")
        binder.start()
        binder.join()
        if failures:
            self.stop()
            raise EmulatorError(f"the cluster DNS could not listen on {address}:{DNS_PORT} in {netns}: "
                                f"{failures[0]!r}") from failures[0]
        for server in self._servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self._servers:
            if getattr(server, "thread", None) is not None:
                server.stop()
            server.server.server_close()
        self._servers = []
