"""The emulator enforces NetworkPolicy on ingress as a CNI plugin does, proven with real
connections (busybox ``nc`` in the ``rclone/rclone:1.75`` stand-in) on small hand-written
manifests: a server pod of a StatefulSet with listeners on several ports, client pods in its
namespace and in two others, a pod no policy selects, and a pod whose policy admits nobody.

A dropped connection is told apart from a refused one by its time: nc gives up after its
2 s connect timeout, where a reset would fail at once. One cluster for the module; the checks
of a test run side by side, so each test waits out at most one timeout."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from emulator import Cluster
from emulator.netpolicy import OPEN
from emulator.network import SUBNET
from scenario_tools import PREFIX, SPEED

pytestmark = pytest.mark.e2e

NAMESPACE = "shop"
CLIENTS_NAMESPACE = "partners"  # its Namespace object labels it purpose=clients
ELSEWHERE = "elsewhere"  # no Namespace object: only its name label
IMAGE = "rclone/rclone:1.75"
SERVER = f"server-0.server.{NAMESPACE}"  # resolvable from every namespace
CONNECT_TIMEOUT = 2
# Each port answers with "<pod>:<port>" and closes; SLOW_PORT answers twice, 3 s apart.
PORTS = (8080, 8081, 8082, 8083)
SLOW_PORT = 8085
LISTEN = "\n".join([
    *(f'nc -ll -p {port} -e echo "$HOSTNAME:{port}" &' for port in PORTS),
    f"nc -ll -p {SLOW_PORT} -e sh -c 'echo one; sleep 3; echo two' &",
    "wait",
])
CLIENT = {"role": "client"}


def _prefix() -> str:
    return f"{PREFIX}np{os.getpid() % 4096:03x}"


def pod_spec(script: str = "exec sleep 3600", *, ports: list[dict] = (), probe_port: str | int | None = None) -> dict:
    container = {"name": "main", "image": IMAGE, "command": ["sh", "-c", script], "ports": list(ports)}
    if probe_port is not None:
        container["readinessProbe"] = {"tcpSocket": {"port": probe_port}, "periodSeconds": 1}
    return {"terminationGracePeriodSeconds": 1, "containers": [container]}


def peer(labels: dict, namespace_selector: dict | None = None) -> dict:
    found = {"podSelector": {"matchLabels": labels}}
    return found if namespace_selector is None else {**found, "namespaceSelector": namespace_selector}


def policy(name: str, select: dict, ingress: list[dict]) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"podSelector": select, "policyTypes": ["Ingress"], "ingress": ingress}}


def tcp(*ports: int | str) -> list[dict]:
    return [{"port": port, "protocol": "TCP"} for port in ports]


PARTNERS = {"matchExpressions": [{"key": "purpose", "operator": "In", "values": ["clients"]}]}
SERVER_RULES = [
    {"from": [peer(CLIENT)], "ports": tcp(8080, SLOW_PORT)},  # podSelector alone: this namespace only
    {"from": [peer(CLIENT, PARTNERS)], "ports": tcp(8081)},  # both selectors, one peer: AND
    {"from": [peer(CLIENT)], "ports": tcp("alt-web")},  # named: the server's 8082
]  # 8083 listens, but no rule names it


def manifests(server_rules: list[dict] = SERVER_RULES) -> list[dict]:
    server = pod_spec(LISTEN, probe_port="web",
                      ports=[{"containerPort": 8080, "name": "web"}, {"containerPort": 8082, "name": "alt-web"}])
    statefulset = {"apiVersion": "apps/v1", "kind": "StatefulSet",
                   "metadata": {"name": "server", "namespace": NAMESPACE},
                   "spec": {"replicas": 1, "serviceName": "server", "selector": {"matchLabels": {"app": "server"}},
                            "template": {"metadata": {"labels": {"app": "server"}}, "spec": server}}}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": CLIENTS_NAMESPACE, "labels": {"purpose": "clients"}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "server", "namespace": NAMESPACE},
         "spec": {"clusterIP": "None", "selector": {"app": "server"}, "ports": [{"port": 8080}]}},
        # The standalone pods "open" and "quiet", reached by name.
        *({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 8080}]}} for name in ("open", "quiet")),
        policy("server", {"matchLabels": {"app": "server"}}, server_rules),
        policy("quiet", {"matchLabels": {"app": "quiet"}}, []),  # admits nobody
        # Clients admit nobody either: the replies to their own connections still reach them.
        policy("clients", {"matchExpressions": [{"key": "role", "operator": "Exists"}]}, []),
        statefulset,
    ]


@dataclass
class Attempt:
    ok: bool
    output: str
    seconds: float

    @property
    def dropped(self) -> bool:
        """Failed after waiting out the connect timeout: no reset came back."""
        return not self.ok and not self.output and self.seconds >= CONNECT_TIMEOUT - 0.5


def connect(cluster: Cluster, client: str, host: str, port: int) -> Attempt:
    """``nc`` from pod ``client`` (a standalone pod, or the server's own) to ``host:port``."""
    command = ["sh", "-c", f"nc -w {CONNECT_TIMEOUT} {host} {port} </dev/null"]
    started = time.monotonic()
    if client == "server-0":
        result = cluster.exec(0, "main", command, timeout=30)
    else:
        result = cluster.standalone[client].exec("main", command, timeout=30)
    return Attempt(result.returncode == 0, result.stdout.strip(), time.monotonic() - started)


def attempts(cluster: Cluster, *cases: tuple[str, str, int]) -> list[Attempt]:
    """Every (client, host, port) connection at once."""
    with ThreadPoolExecutor(len(cases)) as pool:
        return list(pool.map(lambda case: connect(cluster, *case), cases))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network and mount namespaces, overlay mounts)", pytrace=False)
    with Cluster(manifests(), tmp_path_factory.mktemp("netpol"), prefix=_prefix(), speed=SPEED) as c:
        c.start()
        pods = [c.run_pod("client", pod_spec(), labels=CLIENT),
                c.run_pod("stranger", pod_spec()),
                c.run_pod("partner", pod_spec(), labels=CLIENT, namespace=CLIENTS_NAMESPACE),
                c.run_pod("outsider", pod_spec(), labels=CLIENT, namespace=ELSEWHERE),
                c.run_pod("open", pod_spec(LISTEN), labels={"app": "open"}),
                c.run_pod("quiet", pod_spec(LISTEN, probe_port=8080), labels={"app": "quiet"})]
        c.wait_ready(1, timeout=60)
        for pod in pods:
            pod.wait_ready(60)
        yield c


def test_a_pod_with_the_label_reaches_the_allowed_port_and_one_without_it_times_out(cluster):
    allowed, unlabelled = attempts(cluster, ("client", SERVER, 8080), ("stranger", SERVER, 8080))

    assert allowed.ok and allowed.output == "server-0:8080"
    assert unlabelled.dropped, unlabelled
    # The client admits nobody itself: the server's answer came back as a reply.
    assert cluster.network_policies.loaded(cluster.standalone["client"].pod) != OPEN


def test_another_namespace_needs_a_rule_that_selects_its_namespace_and_its_pods(cluster):
    by_pod_selector, by_both, wrong_namespace, own_namespace = attempts(
        cluster, ("partner", SERVER, 8080), ("partner", SERVER, 8081), ("outsider", SERVER, 8081),
        ("client", SERVER, 8081))

    assert by_pod_selector.dropped, "a podSelector alone admits pods of the policy's namespace only"
    assert by_both.ok and by_both.output == "server-0:8081"
    assert wrong_namespace.dropped, "its namespace lacks the label purpose=clients"
    assert own_namespace.dropped, "the server's own namespace lacks it too"


def test_a_named_port_is_the_servers_port_of_that_name_and_an_unlisted_port_is_dropped(cluster):
    named, named_unlabelled, unlisted, loopback = attempts(
        cluster, ("client", SERVER, 8082), ("stranger", SERVER, 8082), ("client", SERVER, 8083),
        ("server-0", "127.0.0.1", 8083))

    assert named.ok and named.output == "server-0:8082"
    assert named_unlabelled.dropped
    assert unlisted.dropped, unlisted
    assert loopback.ok and loopback.output == "server-0:8083", "loopback inside the pod is always admitted"


def test_a_pod_no_policy_selects_admits_everyone(cluster):
    results = attempts(cluster, *[(client, f"open.{NAMESPACE}", 8083) for client in ("stranger", "partner", "outsider", "server-0")])

    assert all(r.ok and r.output == "open:8083" for r in results), results
    assert cluster.network_policies.loaded(cluster.standalone["open"].pod) == OPEN


def test_probes_from_the_node_pass_on_a_pod_whose_policy_admits_nobody(cluster):
    quiet = cluster.standalone["quiet"].pod
    (attempt,) = attempts(cluster, ("client", "quiet", 8080))

    assert attempt.dropped
    assert quiet.ready and quiet.container("main").probes["readiness"].results[-1][1]
    assert "ip saddr { " not in cluster.network_policies.loaded(quiet)
    # The server's tcpSocket probe on its named port "web" passes too, though only clients are admitted.
    assert cluster.pod(0).ready


def test_a_relabelled_pod_is_admitted_and_then_dropped_again(cluster):
    cluster.standalone["stranger"].label(CLIENT)
    try:
        (attempt,) = attempts(cluster, ("stranger", SERVER, 8080))
        assert attempt.ok and attempt.output == "server-0:8080"
    finally:
        cluster.standalone["stranger"].label({"role": None})

    (attempt,) = attempts(cluster, ("stranger", SERVER, 8080))
    assert attempt.dropped


def test_an_open_connection_survives_its_servers_rules_changing(cluster):
    server = cluster.pod(0)
    before = cluster.network_policies.loaded(server)
    slow: list[Attempt] = []
    reader = threading.Thread(target=lambda: slow.append(connect(cluster, "client", SERVER, SLOW_PORT)))
    reader.start()
    time.sleep(1)

    newcomer = cluster.run_pod("newcomer", pod_spec(), labels=CLIENT)  # a new peer: the server's rules reload
    reader.join(timeout=30)
    try:
        assert cluster.network_policies.loaded(server) != before
        assert newcomer.pod.ip in cluster.network_policies.loaded(server)
        assert slow and slow[0].ok and slow[0].output.split() == ["one", "two"], slow
    finally:
        newcomer.delete()
    assert newcomer.pod.ip not in cluster.network_policies.loaded(server)


def test_a_policy_change_applied_takes_effect_and_can_be_undone(cluster):
    stranger_ip = cluster.standalone["stranger"].pod.ip
    block = {"ipBlock": {"cidr": f"{SUBNET}.0/24", "except": [f"{stranger_ip}/32"]}}
    wider = [*SERVER_RULES, {"from": [block], "ports": tcp(8083)}]

    assert cluster.apply(manifests(wider)) == ["NetworkPolicy/server"]
    try:
        admitted, excepted, outside = attempts(cluster, ("client", SERVER, 8083), ("stranger", SERVER, 8083),
                                               ("outsider", SERVER, 8083))
        assert admitted.ok and admitted.output == "server-0:8083"
        assert excepted.dropped, "the ipBlock's except range"
        assert outside.ok, "any namespace's pod in the block"
    finally:
        assert cluster.apply(manifests()) == ["NetworkPolicy/server"]

    (attempt,) = attempts(cluster, ("client", SERVER, 8083))
    assert attempt.dropped
