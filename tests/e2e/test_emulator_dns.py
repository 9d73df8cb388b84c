"""The emulator's pod network is a real cluster's, proven with real lookups and connections
(busybox ``nslookup`` and ``nc`` in the ``rclone/rclone:1.75`` stand-in) on small hand-written
manifests: a StatefulSet ``web`` of three pods under a headless Service, a ClusterIP Service in
front of them, client pods in the set's namespace and in another one.

A pod gets a new address each time it is made; names resolve through the cluster DNS, whose
answers stay cached for its TTL (5 s: the module runs at speed 1); a ClusterIP Service
spreads new connections over its ready endpoints, keeps an established one where it went,
and rejects when it has none; a pod reaches itself through a Service whose endpoint it is
(hairpin); NetworkPolicy sees the client's own address behind a Service."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest

from emulator import Cluster
from emulator.processes import run
from emulator.timings import DNS_TTL_SECONDS
from scenario_tools import PREFIX

pytestmark = pytest.mark.e2e

NAMESPACE = "shop"
ELSEWHERE = "elsewhere"
IMAGE = "rclone/rclone:1.75"
UNREADY = "/tmp/unready"  # a web pod with this file fails its readiness probe
# 8080 answers with the pod's name; 8085 answers with it, then again 3 s later.
LISTEN = "\n".join([
    'nc -ll -p 8080 -e echo "$HOSTNAME" &',
    "nc -ll -p 8085 -e sh -c 'echo \"$HOSTNAME\"; sleep 3; echo \"$HOSTNAME\"' &",
    "wait",
])
CLIENT = {"role": "client"}
WEB = {"app": "web"}


def _prefix() -> str:
    return f"{PREFIX}dn{os.getpid() % 4096:03x}"


def pod_spec(script: str = "exec sleep 3600", **container) -> dict:
    return {"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", script], **container}]}


def service(name: str, selector: dict, ports: list[dict], *, headless: bool = False, namespace: str = NAMESPACE) -> dict:
    spec = {"selector": selector, "ports": ports, **({"clusterIP": "None"} if headless else {})}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def manifests() -> list[dict]:
    web = pod_spec(LISTEN, ports=[{"containerPort": 8080, "name": "http"}, {"containerPort": 8085, "name": "slow"}],
                   readinessProbe={"exec": {"command": ["sh", "-c", f"test ! -e {UNREADY}"]}, "periodSeconds": 1})
    return [
        service("web", WEB, [{"port": 8080}], headless=True),
        # Named and numeric target ports.
        service("front", WEB, [{"port": 80, "targetPort": "http"}, {"port": 85, "targetPort": 8085}]),
        service("single", {**WEB, "statefulset.kubernetes.io/pod-name": "web-0"}, [{"port": 85, "targetPort": "slow"}]),
        service("nobody", {"app": "none"}, [{"port": 80, "targetPort": 8080}]),
        # web-1 alone, for its own connections (hairpin).
        service("itself", {**WEB, "statefulset.kubernetes.io/pod-name": "web-1"}, [{"port": 80, "targetPort": "http"}]),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web", "namespace": NAMESPACE},
         "spec": {"podSelector": {"matchLabels": WEB}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": CLIENT}, "namespaceSelector": {}},
                                        {"podSelector": {"matchLabels": WEB}}]}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": NAMESPACE},
         "spec": {"replicas": 3, "serviceName": "web", "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": WEB}, "template": {"metadata": {"labels": WEB}, "spec": web}}},
    ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network and mount namespaces, overlay mounts)", pytrace=False)
    with Cluster(manifests(), tmp_path_factory.mktemp("dns"), prefix=_prefix(), speed=1) as c:
        c.start()
        pods = [c.run_pod("client", pod_spec(), labels=CLIENT), c.run_pod("stranger", pod_spec()),
                c.run_pod("faraway", pod_spec(), labels=CLIENT, namespace=ELSEWHERE)]
        c.wait_ready(3, timeout=60)
        for pod in pods:
            pod.wait_ready(60)
        yield c


def sh(cluster: Cluster, pod: str, script: str, timeout: float = 60):
    return cluster.standalone[pod].exec("main", ["sh", "-c", script], timeout=timeout)


def lookup(cluster: Cluster, name: str, pod: str = "client") -> list[str] | None:
    """The addresses the pod's libc resolver gets for ``name``, through its search path
    (``getent ahostsv4``); None: not found."""
    result = sh(cluster, pod, f"getent ahostsv4 {name}")
    if result.returncode == 2:
        return None
    assert result.returncode == 0, result
    return [line.split()[0] for line in result.stdout.splitlines() if "STREAM" in line]


def nslookup(cluster: Cluster, fqdn: str, pod: str = "client") -> list[str]:
    """The A records busybox nslookup gets for ``fqdn``, in the order the DNS gave them."""
    result = sh(cluster, pod, f"nslookup -type=a {fqdn}.")
    assert result.returncode == 0 and "Name:" in result.stdout, result
    return [line.split()[-1] for line in result.stdout.split("Name:", 1)[1].splitlines() if line.startswith("Address")]


def connect_many(cluster: Cluster, pod: str, host: str, port: int, count: int) -> list[str]:
    """``count`` connections one after the other; what each got (empty: it failed)."""
    script = f'for i in $(seq {count}); do echo "[$(nc -w 2 {host} {port} </dev/null)]"; done'
    return [line.strip("[]") for line in sh(cluster, pod, script, timeout=count * 3 + 10).stdout.splitlines()]


def bridge_mac(cluster: Cluster) -> str:
    """The MAC of the node's interface, the pods' gateway and DNS server."""
    return run("ip", "-n", cluster.network.bridge_ns, "-br", "link", "show", "br0").stdout.split()[2]


def set_ready(cluster: Cluster, ordinal: int, ready: bool) -> None:
    cluster.exec(ordinal, "main", ["sh", "-c", f"rm -f {UNREADY}" if ready else f"touch {UNREADY}"])
    cluster.wait_for(lambda: cluster.pod(ordinal).ready == ready, timeout=15, what=f"web-{ordinal} ready={ready}")


def proxy_rules_follow(cluster: Cluster, pod: str = "client") -> None:
    """Waits until kube-proxy's rules in ``pod`` are those of the endpoints as they are now."""
    def settled() -> bool:
        ips = {p.ip for p in cluster.pods.values() if p.name in cluster.endpoints("front")}
        loaded = cluster.services.loaded(cluster.standalone[pod].pod) or ""
        return all(p.ip in loaded for p in cluster.pods.values() if p.ip in ips) and not any(
            p.ip in loaded for p in cluster.pods.values() if p.ip not in ips)
    cluster.wait_for(settled, timeout=10, what="kube-proxy's rules to follow the endpoints", interval=0.1)


def connect_from_web(cluster: Cluster, ordinal: int, host: str, port: int, count: int) -> list[str]:
    """``connect_many`` from pod ``web-<ordinal>``."""
    script = f'for i in $(seq {count}); do echo "[$(nc -w 5 {host} {port} </dev/null)]"; done'
    result = cluster.exec(ordinal, "main", ["sh", "-c", script], timeout=count * 6 + 10)
    return [line.strip("[]") for line in result.stdout.splitlines()]


def proxy_rule_follows(cluster: Cluster, ordinal: int, service_name: str, wanted) -> None:
    """Waits until the line for ``service_name`` in kube-proxy's table in web-<ordinal>
    satisfies ``wanted`` (the DNAT to its endpoints, or its reject)."""
    def rule() -> str:
        loaded = cluster.services.loaded(cluster.pod(ordinal)) or ""
        needle = f"ip daddr {cluster.cluster_ip(service_name)} "
        return next((line.strip() for line in loaded.splitlines() if needle in line), "")
    cluster.wait_for(lambda: wanted(rule()), timeout=10, what=f"kube-proxy's rule for {service_name}", interval=0.1)


def test_a_pod_gets_resolv_conf_and_hosts_as_the_kubelet_writes_them(cluster):
    resolv = sh(cluster, "client", "cat /etc/resolv.conf").stdout
    hosts = sh(cluster, "client", "cat /etc/hosts").stdout
    web_hosts = cluster.exec(0, "main", ["cat", "/etc/hosts"]).stdout

    assert resolv.splitlines() == [f"search {NAMESPACE}.svc.cluster.local svc.cluster.local cluster.local",
                                   "nameserver 10.244.77.1", "options ndots:5"]
    client_ip = cluster.standalone["client"].pod.ip
    assert hosts.splitlines()[-1] == f"{client_ip}\tclient"
    assert "web" not in hosts and "127.0.0.1\tlocalhost" in hosts
    assert web_hosts.splitlines()[-1] == f"{cluster.pod(0).ip}\tweb-0.web.{NAMESPACE}.svc.cluster.local\tweb-0"


def test_names_resolve_in_the_own_namespace_by_the_search_path_and_elsewhere_with_the_namespace(cluster):
    front_ip = cluster.cluster_ip("front")

    assert front_ip.startswith("10.96.")
    assert lookup(cluster, "front") == [front_ip]
    assert lookup(cluster, "web-1.web") == [cluster.pod(1).ip]
    assert lookup(cluster, f"web-1.web.{NAMESPACE}.svc.cluster.local") == [cluster.pod(1).ip]
    assert lookup(cluster, "front", pod="faraway") is None, "another namespace's Service by its name alone"
    assert lookup(cluster, f"front.{NAMESPACE}", pod="faraway") == [front_ip]
    assert lookup(cluster, "stranger") is None, "another pod's name is no DNS name"
    assert lookup(cluster, "client") == [cluster.standalone["client"].pod.ip], "its own, from its hosts file"
    assert lookup(cluster, "example.org") is None
    # The libc resolver of the clients (nc) goes through the same DNS.
    assert connect_many(cluster, "faraway", f"web-2.web.{NAMESPACE}", 8080, 1) == ["web-2"]


def test_a_headless_name_lists_the_ready_pods_in_varying_order(cluster):
    every = sorted(p.ip for p in cluster.pods.values())
    answers = [nslookup(cluster, f"web.{NAMESPACE}.svc.cluster.local") for _ in range(8)]

    assert all(sorted(a) == every for a in answers), answers
    assert len({tuple(a) for a in answers}) > 1, "the order never varied"

    set_ready(cluster, 2, False)
    try:
        time.sleep(DNS_TTL_SECONDS + 0.5)  # the cached answer expires
        assert sorted(lookup(cluster, "web")) == sorted([cluster.pod(0).ip, cluster.pod(1).ip])
        assert lookup(cluster, "web-2.web") is None, "without publishNotReadyAddresses an unready pod has no name"
    finally:
        set_ready(cluster, 2, True)


def test_a_recreated_pod_has_a_new_address_and_its_name_follows_within_the_ttl(cluster):
    time.sleep(DNS_TTL_SECONDS + 0.5)  # whatever was cached for the name has expired
    old = cluster.pod(1).ip
    asked = time.monotonic()
    assert lookup(cluster, "web-1.web") == [old]  # cached from now on for the TTL

    node_mac = bridge_mac(cluster)
    cluster.delete_pod(1)
    cluster.wait_ready(3, timeout=30)
    ready = time.monotonic()
    new = cluster.pod(1).ip
    assert new != old, "a pod made again gets another address"
    assert bridge_mac(cluster) == node_mac, "the node keeps its MAC (pods' neighbour entries for it stay right)"
    seen: list[tuple[float, list[str] | None]] = []
    while time.monotonic() < max(ready, asked + DNS_TTL_SECONDS) + DNS_TTL_SECONDS + 2:
        seen.append((time.monotonic(), lookup(cluster, "web-1.web")))
        if seen[-1][1] == [new]:
            break
        time.sleep(0.2)

    first_new = next(at for at, answer in seen if answer == [new])
    assert all(answer == [old] for at, answer in seen if at < asked + DNS_TTL_SECONDS - 0.3), seen
    assert first_new >= asked + DNS_TTL_SECONDS - 0.1, "the cached answer was given up early"
    assert first_new <= max(ready, asked + DNS_TTL_SECONDS) + DNS_TTL_SECONDS + 1, seen


def test_connections_to_a_cluster_ip_spread_over_every_ready_endpoint_and_never_an_unready_one(cluster):
    counts = Counter(connect_many(cluster, "client", "front", 80, 60))

    assert set(counts) == {"web-0", "web-1", "web-2"}, counts

    set_ready(cluster, 0, False)
    try:
        proxy_rules_follow(cluster)
        counts = Counter(connect_many(cluster, "client", "front", 80, 30))
        assert set(counts) == {"web-1", "web-2"}, counts
    finally:
        set_ready(cluster, 0, True)
    proxy_rules_follow(cluster)


def test_an_established_connection_stays_on_its_endpoint_when_the_endpoints_change(cluster):
    slow: list[str] = []
    reader = threading.Thread(target=lambda: slow.append(sh(cluster, "client", "nc -w 10 single 85 </dev/null").stdout))
    reader.start()
    time.sleep(1)
    cluster.update_service("single", {**WEB, "statefulset.kubernetes.io/pod-name": "web-1"})
    try:
        proxy_rules_follow(cluster)
        time.sleep(1.5)  # kube-proxy's sync period
        after = connect_many(cluster, "client", "single", 85, 1)
        reader.join(timeout=30)
        assert slow and slow[0].split() == ["web-0", "web-0"], slow
        assert after == ["web-1", "web-1"], "a new connection goes to the new endpoint"
    finally:
        cluster.update_service("single", {**WEB, "statefulset.kubernetes.io/pod-name": "web-0"})


def test_a_service_without_ready_endpoints_rejects_at_once(cluster):
    started = time.monotonic()
    result = sh(cluster, "client", "nc -w 5 nobody 80 </dev/null")

    assert result.returncode != 0 and not result.stdout
    assert time.monotonic() - started < 2, "refused at once, not timed out"


def test_network_policy_sees_the_clients_own_address_behind_a_service(cluster):
    client, faraway = connect_many(cluster, "client", "front", 80, 1), connect_many(cluster, "faraway",
                                                                                     f"front.{NAMESPACE}", 80, 1)
    started = time.monotonic()
    stranger = connect_many(cluster, "stranger", "front", 80, 1)

    assert client[0].startswith("web-") and faraway[0].startswith("web-")
    assert stranger == [""] and time.monotonic() - started >= 1.5, "a pod the policy does not admit is dropped"
    # The web pods' rules name the clients' own addresses: no address of the Service or the node stands in.
    rules = cluster.network_policies.loaded(cluster.pod(0))
    assert cluster.standalone["client"].pod.ip in rules and cluster.standalone["faraway"].pod.ip in rules
    assert cluster.standalone["stranger"].pod.ip not in rules


def test_a_pod_reaches_itself_through_a_cluster_ip_whose_endpoint_it_is(cluster):
    """Hairpin: web-1, the one endpoint of ``itself``, connecting to it gets itself, as on a
    cluster (kube-proxy masquerades such traffic, the kubelet's hairpin mode sends it back
    into the pod). While the Service moves to web-0 and back, and kube-proxy's table in web-1
    is replaced each time, every attempt is answered, by one pod or the other; no connect
    hangs. Unready, web-1 is no endpoint: it is refused at once, as any client is."""
    me = cluster.pod(1)
    proxy_rule_follows(cluster, 1, "itself", lambda rule: f"{me.ip} . 8080" in rule)
    assert connect_from_web(cluster, 1, "itself", 80, 10) == ["web-1"] * 10

    errors: list[Exception] = []

    def moves() -> None:
        try:
            for name in ("web-0", "web-1", "web-0", "web-1"):
                time.sleep(1.2)  # kube-proxy's minimum sync period since the last change
                cluster.update_service("itself", {**WEB, "statefulset.kubernetes.io/pod-name": name})
                ip = cluster.pod(int(name[-1])).ip
                proxy_rule_follows(cluster, 1, "itself", lambda rule, ip=ip: f"{ip} . 8080" in rule)
        except Exception as error:  # noqa: BLE001 - raised again below
            errors.append(error)

    mover = threading.Thread(target=moves)
    script = ('end=$(($(date +%s) + 9)); while [ "$(date +%s)" -lt "$end" ]; do '
              'echo "[$(nc -w 5 itself 80 </dev/null)]"; sleep 0.1; done')
    try:
        mover.start()
        lines = cluster.exec(1, "main", ["sh", "-c", script], timeout=40).stdout.split()
    finally:
        mover.join(timeout=30)
        cluster.update_service("itself", {**WEB, "statefulset.kubernetes.io/pod-name": "web-1"})
    assert not errors, errors
    answers = [line.strip("[]") for line in lines]
    assert len(answers) >= 15 and all(answers), answers
    assert set(answers) == {"web-0", "web-1"}, answers

    set_ready(cluster, 1, False)
    try:
        proxy_rule_follows(cluster, 1, "itself", lambda rule: rule.endswith("reject"))
        started = time.monotonic()
        result = cluster.exec(1, "main", ["sh", "-c", "nc -w 5 itself 80 </dev/null"])
        assert result.returncode != 0 and not result.stdout
        assert time.monotonic() - started < 2, "refused at once, not timed out"
    finally:
        set_ready(cluster, 1, True)
    proxy_rule_follows(cluster, 1, "itself", lambda rule: f"{me.ip} . 8080" in rule)
    assert connect_from_web(cluster, 1, "itself", 80, 3) == ["web-1"] * 3


def test_a_pod_cut_off_and_healed_reaches_services_again(cluster):
    cluster.partition(2)
    cluster.heal(2)

    answers = [cluster.exec(2, "main", ["sh", "-c", "nc -w 2 front 80 </dev/null"]).stdout.strip() for _ in range(6)]
    assert all(answer.startswith("web-") for answer in answers), answers
