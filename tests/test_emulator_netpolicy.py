"""The emulator's NetworkPolicy rules, as text (no root, no network): which pods a policy
selects, which sources and ports each rule admits, and when a pod's ruleset is reloaded.
``tests/e2e/test_emulator_network_policy.py`` proves the same rules with real connections."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import cdk8s
import pytest

from emulator import EmulatorError
from emulator.netpolicy import OPEN, ContainerPort, NetworkPolicies, Policy, PolicyPod, ruleset, selector_matches
from emulator.network import NODE_IP
from mysql_ha import BackupTarget, MySQLBackup, MySQLHAChart, engine_by_name
from synth_helpers import password_credentials

NS = "shop"
DB = PolicyPod("db-0", NS, "10.0.0.10", {"app": "db"}, (ContainerPort(3306, "TCP", "mysql"),
                                                        ContainerPort(9104, "TCP", "metrics"),
                                                        ContainerPort(53, "UDP", "dns")))
CLIENT = PolicyPod("client", NS, "10.0.0.110", {"role": "client"})
STRANGER = PolicyPod("stranger", NS, "10.0.0.111", {})
AWAY = PolicyPod("away", "other", "10.0.0.112", {"role": "client"})
SCRAPER = PolicyPod("scraper", "monitoring", "10.0.0.113", {"app": "prometheus"})
PODS = [DB, CLIENT, STRANGER, AWAY, SCRAPER]
NAMESPACES = {"monitoring": {"purpose": "metrics"}}


def policy(*ingress: dict, select: dict | None = None, namespace: str = NS, types: list[str] | None = None) -> Policy:
    spec = {"podSelector": {"matchLabels": {"app": "db"}} if select is None else select, "ingress": list(ingress)}
    if types is not None:
        spec["policyTypes"] = types
    return Policy("p", namespace, spec)


def rules(*policies: Policy, pod: PolicyPod = DB) -> list[str]:
    """The accept rules of ``pod``'s ruleset after the four it always has; None when it is open."""
    text = ruleset(pod, PODS, policies, NAMESPACES)
    if text == OPEN:
        return None
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(f"ip saddr {NODE_IP} accept") + 1
    return lines[start:lines.index("}")]


def tcp(port, **extra) -> dict:
    return {"port": port, "protocol": "TCP", **extra}


# ---------------------------------------------------------------------- selectors

@pytest.mark.parametrize("selector, labels, matches", [
    ({}, {}, True),
    ({}, {"a": "1"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
    ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
    ({"matchLabels": {"a": "1"}}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "2"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
    ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
    ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"b": "1"}, False),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"b": "1"}, True),
    ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": "1"}, False),
    ({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}, {"a": "1"}, False),
])
def test_a_label_selector_needs_every_label_and_every_expression(selector, labels, matches):
    assert selector_matches(selector, labels) is matches


@pytest.mark.parametrize("expression", [{"key": "a", "operator": "Matches", "values": ["1"]},
                                        {"key": "a", "operator": "In", "values": []}])
def test_an_unknown_operator_or_in_without_values_is_an_error(expression):
    with pytest.raises(EmulatorError, match="matchExpressions"):
        selector_matches({"matchExpressions": [expression]}, {"a": "1"})


# ---------------------------------------------------------------------- which pods are isolated

def test_a_pod_no_policy_selects_admits_everything():
    assert rules(policy({"from": [{"podSelector": {}}]}), pod=CLIENT) is None
    assert ruleset(DB, PODS, [], {}) == OPEN


def test_only_policies_of_the_pods_own_namespace_select_it():
    assert rules(policy(select={}, namespace="other")) is None
    assert rules(policy(select={}, namespace="other"), pod=AWAY) == []


def test_an_egress_only_policy_isolates_nothing_here():
    assert rules(policy(types=["Egress"])) is None
    assert rules(policy(types=["Ingress", "Egress"])) == []


def test_a_selected_pod_without_rules_admits_only_loopback_the_node_and_replies():
    text = ruleset(DB, PODS, [policy()], NAMESPACES)
    assert "policy drop;" in text and "reject" not in text
    assert "iif lo accept" in text and "ct state established,related accept" in text
    assert f"ip saddr {NODE_IP} accept" in text
    assert rules(policy()) == []


def test_a_ruleset_replaces_the_previous_one_in_one_transaction():
    text = ruleset(DB, PODS, [policy()], NAMESPACES)
    assert text.startswith("table inet netpol\ndelete table inet netpol\ntable inet netpol {\n")


# ---------------------------------------------------------------------- sources

def test_a_pod_selector_admits_matching_pods_of_the_policys_namespace_only():
    assert rules(policy({"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]})) == [
        "ip saddr { 10.0.0.110 } accept"]


def test_an_empty_pod_selector_admits_every_pod_of_the_namespace():
    assert rules(policy({"from": [{"podSelector": {}}]})) == ["ip saddr { 10.0.0.10, 10.0.0.110, 10.0.0.111 } accept"]


def test_a_namespace_selector_alone_admits_every_pod_of_the_matching_namespaces():
    by_name = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}
    by_label = {"namespaceSelector": {"matchLabels": {"purpose": "metrics"}}}
    assert rules(policy({"from": [by_name]})) == ["ip saddr { 10.0.0.112 } accept"]
    assert rules(policy({"from": [by_label]})) == ["ip saddr { 10.0.0.113 } accept"]
    assert rules(policy({"from": [{"namespaceSelector": {}}]})) == [
        "ip saddr { 10.0.0.10, 10.0.0.110, 10.0.0.111, 10.0.0.112, 10.0.0.113 } accept"]


def test_both_selectors_in_one_peer_must_both_match_and_in_two_peers_either_may():
    ns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}
    role = {"podSelector": {"matchLabels": {"role": "client"}}}
    assert rules(policy({"from": [{**ns, **role}]})) == ["ip saddr { 10.0.0.112 } accept"]
    assert rules(policy({"from": [ns, role]})) == ["ip saddr { 10.0.0.110 } accept", "ip saddr { 10.0.0.112 } accept"]
    nobody = {"namespaceSelector": {"matchLabels": {"purpose": "metrics"}}, **role}
    assert rules(policy({"from": [nobody]})) == []


def test_an_ip_block_admits_its_range_without_its_exceptions():
    block = {"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.112/32", "10.0.0.64/26"]}}
    assert rules(policy({"from": [block]})) == [
        "ip saddr 10.0.0.0/24 ip saddr != { 10.0.0.112/32, 10.0.0.64/26 } accept"]
    assert rules(policy({"from": [{"ipBlock": {"cidr": "fd00::/8"}}]})) == ["ip6 saddr fd00::/8 accept"]


def test_a_rule_without_from_or_with_an_empty_one_admits_any_source():
    assert rules(policy({"ports": [tcp(3306)]})) == ["tcp dport { 3306 } accept"]
    assert rules(policy({"from": [], "ports": [tcp(3306)]})) == ["tcp dport { 3306 } accept"]
    assert rules(policy({})) == ["accept"]


def test_a_peer_that_selects_no_pod_admits_nothing():
    assert rules(policy({"from": [{"podSelector": {"matchLabels": {"role": "nobody"}}}]})) == []


# ---------------------------------------------------------------------- ports

def test_numeric_ports_ranges_and_protocols_group_by_protocol():
    ports = [tcp(9104), tcp(3306), tcp(8000, endPort=8010), {"port": 53, "protocol": "UDP"}, {"port": 7}]
    assert rules(policy({"ports": ports})) == ["tcp dport { 7, 3306, 8000-8010, 9104 } accept",
                                               "udp dport { 53 } accept"]


def test_a_protocol_without_a_port_admits_all_its_ports():
    assert rules(policy({"ports": [{"protocol": "UDP"}, {"port": 53, "protocol": "UDP"}, tcp(3306)]})) == [
        "meta l4proto udp accept", "tcp dport { 3306 } accept"]


def test_a_named_port_is_the_selected_pods_container_port_of_that_name_and_protocol():
    assert rules(policy({"ports": [tcp("metrics")]})) == ["tcp dport { 9104 } accept"]
    assert rules(policy({"ports": [{"port": "dns", "protocol": "UDP"}]})) == ["udp dport { 53 } accept"]
    # A name the pod lacks (or has for another protocol) admits nothing, not every port.
    assert rules(policy({"ports": [tcp("dns")]})) == []
    assert rules(policy({"ports": [tcp("web")]}, select={}), pod=CLIENT) == []


def test_sources_and_ports_of_a_rule_combine_and_rules_of_all_selecting_policies_add_up():
    clients = policy({"from": [{"podSelector": {"matchLabels": {"role": "client"}}}], "ports": [tcp(3306)]})
    scrapers = policy({"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "prometheus"}}}],
                       "ports": [tcp("metrics")]})
    assert rules(clients, scrapers) == ["ip saddr { 10.0.0.110 } tcp dport { 3306 } accept",
                                        "ip saddr { 10.0.0.113 } tcp dport { 9104 } accept"]
    assert rules(clients, clients) == rules(clients)


@pytest.mark.parametrize("ingress, message", [
    ({"from": [{}]}, "a peer needs"),
    ({"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}, "ipBlock goes alone"),
    ({"ports": [{"port": 1, "protocol": "ICMP"}]}, "protocol must be"),
    ({"ports": [{"port": "web", "endPort": 90}]}, "endPort needs a numeric port"),
])
def test_a_policy_the_api_server_would_refuse_is_an_error(ingress, message):
    manifest = {"kind": "NetworkPolicy", "metadata": {"name": "bad"}, "spec": {"podSelector": {}, "ingress": [ingress]}}
    with pytest.raises(EmulatorError, match=message):
        Policy.from_manifest(manifest, NS)


# ---------------------------------------------------------------------- the cluster's policies

@dataclass(eq=False)
class FakePod:
    name: str
    ip: str
    labels: dict
    namespace: str = NS
    spec: dict = field(default_factory=lambda: {"containers": []})
    deleting: bool = False
    finished: bool = False

    @property
    def netns(self) -> str:
        return f"t-{self.name}"


def manifest(name: str, spec: dict, namespace: str | None = NS) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec}


CLIENTS_ONLY = manifest("db", {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                               "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]})


def enforcer(*manifests: dict) -> tuple[NetworkPolicies, list[tuple[str, str]]]:
    loads: list[tuple[str, str]] = []
    return NetworkPolicies(list(manifests), default_namespace=NS, load=lambda ns, text: loads.append((ns, text))), loads


def test_a_ruleset_is_loaded_only_when_its_text_changes():
    policies, loads = enforcer(CLIENTS_ONLY)
    db, client = FakePod("db-0", "10.0.0.10", {"app": "db"}), FakePod("client", "10.0.0.110", {})

    policies.sync([db, client])
    policies.sync([db, client])
    assert [ns for ns, _ in loads] == ["t-db-0"]  # the client is selected by nothing: never loaded
    assert "ip saddr {" not in loads[-1][1]

    client.labels["role"] = "client"
    policies.sync([db, client])
    assert len(loads) == 2 and "ip saddr { 10.0.0.110 } accept" in loads[-1][1]

    newcomer = FakePod("client-2", "10.0.0.111", {"role": "client"})
    policies.sync([db, client, newcomer])
    assert "ip saddr { 10.0.0.110, 10.0.0.111 } accept" in loads[-1][1]
    policies.sync([db, newcomer])
    assert "ip saddr { 10.0.0.111 } accept" in loads[-1][1] and len(loads) == 4
    assert policies.loaded(db) == loads[-1][1]


def test_a_pod_no_longer_selected_gets_its_table_removed():
    policies, loads = enforcer(CLIENTS_ONLY)
    db = FakePod("db-0", "10.0.0.10", {"app": "db"})
    policies.sync([db])
    db.labels.clear()
    policies.sync([db])
    assert loads[-1] == ("t-db-0", OPEN) and len(loads) == 2


def test_apply_adds_and_changes_policies_and_namespace_labels_and_says_what_changed():
    policies, _ = enforcer(CLIENTS_ONLY)
    assert policies.apply([CLIENTS_ONLY]) == []
    wider = manifest("db", {**CLIENTS_ONLY["spec"], "ingress": [{}]})
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other", "labels": {"team": "a"}}}
    assert policies.apply([wider, namespace, manifest("other", {"podSelector": {}}, namespace=None)]) == [
        "NetworkPolicy/db", "Namespace/other", "NetworkPolicy/other"]
    assert policies.policies[(NS, "other")].namespace == NS  # the cluster's, when the manifest names none
    assert policies.namespaces == {"other": {"team": "a"}}


def test_a_pod_going_away_may_fail_to_load_but_a_running_one_may_not():
    def failing(ns: str, text: str) -> None:
        raise EmulatorError(f"nft in network namespace {ns} failed")

    policies = NetworkPolicies([CLIENTS_ONLY], default_namespace=NS, load=failing)
    db = FakePod("db-0", "10.0.0.10", {"app": "db"}, deleting=True)
    policies.sync([db])
    assert policies.loaded(db) == OPEN
    db.deleting = False
    with pytest.raises(EmulatorError, match="nft in network namespace t-db-0"):
        policies.sync([db])


def test_without_nft_on_the_host_policies_fail_loudly_and_no_policy_needs_none(monkeypatch):
    monkeypatch.setattr("emulator.netpolicy.shutil.which", lambda name: None)
    policies, _ = enforcer(CLIENTS_ONLY)
    with pytest.raises(EmulatorError, match=r"NetworkPolicy objects \(shop/db\).*apt-get install nftables"):
        policies.check_host()
    enforcer()[0].check_host()


# ---------------------------------------------------------------------- the product's own policies

def admitted(text: str, ip: str, port: int, protocol: str = "tcp") -> bool:
    """Whether a ruleset's accept lines (as ``ruleset`` writes them) let a new connection from
    ``ip`` to ``port`` in: what the kernel decides, read back from the text."""
    if text == OPEN:
        return True
    for line in text.splitlines()[7:-2]:
        match = re.fullmatch(r"\s*(?:ip saddr (\{ [^}]* \}|\S+)(?: ip saddr != \{ ([^}]*) \})? )?"
                             r"(?:(tcp|udp|sctp) dport \{ ([^}]*) \} |meta l4proto (\w+) )?accept", line)
        assert match, line
        sources, excepted, proto, ports, any_port_proto = match.groups()
        if sources and not _in(ip, sources.strip("{} ").split(", ")):
            continue
        if excepted and _in(ip, excepted.split(", ")):
            continue
        if any_port_proto and any_port_proto != protocol:
            continue
        if proto and (proto != protocol or not any(_port_in(port, p) for p in ports.split(", "))):
            continue
        return True
    return False


def _in(ip: str, networks: list[str]) -> bool:
    return any(ipaddress.ip_address(ip) in ipaddress.ip_network(n, strict=False) for n in networks)


def _port_in(port: int, spec: str) -> bool:
    low, _, high = spec.partition("-")
    return int(low) <= port <= int(high or low)


def chart_manifests(engine_name: str, **props) -> list[dict]:
    """The chart the e2e scenarios run (3 pods), with both backups of the backup scenarios and
    the metrics exporter on."""
    engine = engine_by_name(engine_name)
    chart = MySQLHAChart(cdk8s.Testing.app(), "e2e", engine=engine, replicas=3, storage_class_name="standard",
                         credentials=password_credentials("metrics_password", "backup_password"), metrics=True,
                         **props)
    MySQLBackup(chart, "Backup", cluster=chart.mysql, target=BackupTarget.volume_claim("mysql-backups"))
    return chart.to_json()


@pytest.mark.parametrize("engine_name, clone_port", [("mariadb-11.4", 3307), ("mysql-8.4", None)])
def test_the_charts_policies_admit_what_the_scenarios_do_and_nothing_else(engine_name, clone_port):
    objects = chart_manifests(engine_name)
    (sts,) = [m for m in objects if m["kind"] == "StatefulSet"]
    (cronjob,) = [m for m in objects if m["kind"] == "CronJob"]
    ns = sts["metadata"]["namespace"]
    set_labels = sts["spec"]["template"]["metadata"]["labels"]
    backup_labels = {**cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"], "job-name": "b"}
    ports = tuple(ContainerPort(p["containerPort"], p.get("protocol", "TCP"), p.get("name"))
                  for c in sts["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or [])
    members = [PolicyPod(f"mysql-{n}", ns, f"10.0.0.{10 + n}", {**set_labels, "statefulset.kubernetes.io/pod-name":
                                                                f"mysql-{n}"}, ports) for n in range(3)]
    backup = PolicyPod("backup", ns, "10.0.0.110", backup_labels)
    client = PolicyPod("app", ns, "10.0.0.111", {"mysql-client": "true"})
    s3 = PolicyPod("s3", ns, "10.0.0.112", {})
    scraper = PolicyPod("prometheus", ns, "10.0.0.113", {"app.kubernetes.io/name": "prometheus"})
    away = PolicyPod("away", "other", "10.0.0.114", {"mysql-client": "true"})
    elsewhere = PolicyPod("prometheus-elsewhere", "monitoring", "10.0.0.115", {"app.kubernetes.io/name": "prometheus"})
    pods = [*members, backup, client, s3, scraper, away, elsewhere]
    policies = NetworkPolicies(objects, default_namespace=ns, load=lambda ns, text: None)
    text = {p.name: ruleset(p, pods, policies.policies.values(), policies.namespaces) for p in pods}

    for source in (members[0], members[2], backup, client):
        assert admitted(text["mysql-1"], source.ip, 3306), source.name
    for source in (s3, scraper, away):
        assert not admitted(text["mysql-1"], source.ip, 3306), source.name
    if clone_port:
        assert [p.name for p in pods if admitted(text["mysql-1"], p.ip, clone_port)] == [
            "mysql-0", "mysql-1", "mysql-2", "backup"]
    # The scrapers of the set's own namespace, not those of any namespace.
    assert [p.name for p in pods if admitted(text["mysql-1"], p.ip, 9104)] == ["prometheus"]
    assert not admitted(text["mysql-1"], members[0].ip, 4444)  # a port no rule names
    assert NODE_IP in text["mysql-1"]  # the node's probes
    assert not any(admitted(text["backup"], p.ip, 3306) for p in pods)  # backup pods admit nobody
    assert text["s3"] == text["app"] == text["prometheus"] == OPEN


def test_metrics_namespace_names_the_scrapers_namespace():
    """``metrics_namespace="monitoring"``: Prometheus there scrapes 9104; one in the set's own
    namespace, or any other, does not."""
    objects = chart_manifests("mysql-8.4", metrics_namespace="monitoring")
    (sts,) = [m for m in objects if m["kind"] == "StatefulSet"]
    ns = sts["metadata"]["namespace"]
    ports = tuple(ContainerPort(p["containerPort"], p.get("protocol", "TCP"), p.get("name"))
                  for c in sts["spec"]["template"]["spec"]["containers"] for p in c.get("ports") or [])
    member = PolicyPod("mysql-0", ns, "10.0.0.10", dict(sts["spec"]["template"]["metadata"]["labels"]), ports)
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    scrapers = [PolicyPod("in-monitoring", "monitoring", "10.0.0.20", prometheus),
                PolicyPod("in-set", ns, "10.0.0.21", prometheus),
                PolicyPod("in-other", "other", "10.0.0.22", prometheus)]
    policies = NetworkPolicies(objects, default_namespace=ns, load=lambda ns, text: None)
    text = ruleset(member, [member, *scrapers], policies.policies.values(), policies.namespaces)
    assert [p.name for p in scrapers if admitted(text, p.ip, 9104)] == ["in-monitoring"]
