"""The emulator's Services and cluster DNS without running a pod: kube-proxy's rules for a
set of endpoints, the cluster IPs, and the DNS cache's timing. The same behaviour, with real
pods and connections, is pinned by tests/e2e/test_emulator_dns.py."""

from __future__ import annotations

import ipaddress

import pytest

from emulator.dns import ClusterDNS, pod_hosts, resolv_conf
from emulator.errors import EmulatorError
from emulator.netpolicy import ContainerPort
from emulator.services import SERVICE_RANGE, Endpoint, Services


def endpoint(name: str, ip: str, order: int, *, ready: bool = True, terminating: bool = False,
             ports: tuple[ContainerPort, ...] = (ContainerPort(3306, "TCP", "mysql"),)) -> Endpoint:
    return Endpoint(name, "db", ip, order, {"app": "db"}, ready, terminating, name, "db", ports)


def service(name: str, *, target: int | str = "mysql", **spec) -> dict:
    return {"metadata": {"name": name},
            "spec": {"selector": {"app": "db"}, "ports": [{"port": 3306, "targetPort": target}], **spec}}


class Recorder:
    def __init__(self) -> None:
        self.loads: list[tuple[str, str]] = []

    def __call__(self, netns: str, text: str) -> None:
        self.loads.append((netns, text))


class FakePod:
    def __init__(self, name: str) -> None:
        self.name = name
        self.netns = f"t-{name}"
        self.deleting = False
        self.finished = False


def test_a_cluster_ip_service_picks_among_its_ready_endpoints_on_their_named_port():
    services = Services([service("db-read")], default_namespace="db", min_sync=lambda: 0, load=Recorder())
    ip = services.cluster_ip(services.services[0])
    pods = [endpoint("db-0", "10.0.0.10", 0), endpoint("db-1", "10.0.0.11", 1, ready=False),
            endpoint("db-2", "10.0.0.12", 2, ports=(ContainerPort(3307, "TCP", "mysql"),)),
            endpoint("db-3", "10.0.0.13", 3, terminating=True)]
    client = FakePod("client")

    services.sync([client], pods)

    assert ipaddress.ip_address(ip) in SERVICE_RANGE
    rules = services.loaded(client)
    assert (f"ip daddr {ip} tcp dport 3306 dnat to numgen random mod 2 map "
            "{ 0 : 10.0.0.10 . 3306, 1 : 10.0.0.12 . 3307 }") in rules
    assert "10.0.0.11" not in rules and "10.0.0.13" not in rules


def test_a_service_without_endpoints_rejects_and_a_headless_one_has_no_rules():
    services = Services([service("nobody", selector={"app": "none"}), service("db", clusterIP="None")],
                        default_namespace="db", min_sync=lambda: 0, load=Recorder())
    client = FakePod("client")

    services.sync([client], [endpoint("db-0", "10.0.0.10", 0)])

    nobody = services.cluster_ip(services.services[0])
    assert f"ip daddr {nobody} tcp dport 3306 reject" in services.loaded(client)
    assert services.cluster_ip(services.services[1]) is None and "10.0.0.10" not in services.loaded(client)


def test_kube_proxy_changes_its_rules_at_most_once_per_sync_period_and_a_new_pod_gets_those_in_force():
    load = Recorder()
    services = Services([service("db-read")], default_namespace="db", min_sync=lambda: 1.0, load=load)
    first, second = FakePod("first"), FakePod("second")
    one, two = [endpoint("db-0", "10.0.0.10", 0)], [endpoint("db-0", "10.0.0.10", 0), endpoint("db-1", "10.0.0.11", 1)]

    services.sync([first], one, now=100.0)
    services.sync([first, second], two, now=100.5)  # within the period: the rules in force stay

    assert "10.0.0.11" not in services.loaded(first) and services.loaded(second) == services.loaded(first)
    services.sync([first, second], two, now=101.0)
    assert "10.0.0.11" in services.loaded(first) and "10.0.0.11" in services.loaded(second)
    assert len(load.loads) == 4
    services.sync([first, second], two, now=105.0)
    assert len(load.loads) == 4, "unchanged rules are not loaded again"


def test_a_named_cluster_ip_is_kept_and_a_taken_one_refused():
    services = Services([service("a", clusterIP="10.96.0.50")], default_namespace="db", min_sync=lambda: 0)
    assert services.cluster_ip(services.services[0]) == "10.96.0.50"
    services.services.append(service("b", clusterIP="10.96.0.50"))
    with pytest.raises(EmulatorError, match="10.96.0.50 is taken"):
        services.assign_ips()


def test_the_dns_gives_an_answer_again_until_its_ttl_has_passed_since_it_was_first_given():
    dns = ClusterDNS(ttl=lambda: 5.0)
    dns.update({"db-0.db.db.svc.cluster.local": ("10.0.0.10",)})

    assert dns.lookup("db-0.db.db.svc.cluster.local.", now=10.0) == (("10.0.0.10",), 5.0)
    dns.update({"db-0.db.db.svc.cluster.local": ("10.0.0.20",)})
    assert dns.lookup("DB-0.db.db.svc.cluster.local", now=14.0) == (("10.0.0.10",), 1.0)
    assert dns.lookup("db-0.db.db.svc.cluster.local", now=15.0) == (("10.0.0.20",), 5.0)
    # A name that does not exist is cached as such too.
    assert dns.lookup("db-1.db.db.svc.cluster.local", now=15.0) == (None, 5.0)
    dns.update({"db-1.db.db.svc.cluster.local": ("10.0.0.11",)})
    assert dns.lookup("db-1.db.db.svc.cluster.local", now=19.9)[0] is None
    assert dns.lookup("db-1.db.db.svc.cluster.local", now=20.0)[0] == ("10.0.0.11",)


def test_resolv_conf_and_hosts_are_the_kubelets():
    assert resolv_conf("db", "10.244.77.1") == ("search db.svc.cluster.local svc.cluster.local cluster.local\n"
                                                "nameserver 10.244.77.1\noptions ndots:5\n")
    hosts = pod_hosts("10.0.0.10", "db-0", "db-0.db.db.svc.cluster.local").splitlines()
    assert hosts[1] == "127.0.0.1\tlocalhost" and hosts[-1] == "10.0.0.10\tdb-0.db.db.svc.cluster.local\tdb-0"
    assert pod_hosts("10.0.0.11", "client", None).splitlines()[-1] == "10.0.0.11\tclient"
