"""ReadWriteServices: headless, read and primary Services."""

from __future__ import annotations

from synth_helpers import by_kind, new_chart, synth

import mysql_ha

SELECTOR = {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql"}
PORTS = [{"name": "mysql", "port": 3306, "targetPort": "mysql"}]


def services_manifests(**props):
    chart = new_chart()
    services = mysql_ha.ReadWriteServices(chart, "Services", **props)
    return services, synth(chart)


def test_snapshot(yaml_snapshot):
    _, manifests = services_manifests()
    assert manifests == yaml_snapshot


def test_three_services():
    _, manifests = services_manifests()
    assert [(m["kind"], m["metadata"]["name"]) for m in manifests] == [
        ("Service", "mysql"),
        ("Service", "mysql-read"),
        ("Service", "mysql-primary"),
    ]


def test_headless_service_publishes_pods_before_they_are_ready():
    _, manifests = services_manifests()
    spec = by_kind(manifests, "Service", "mysql")["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["publishNotReadyAddresses"] is True
    assert spec["selector"] == SELECTOR
    assert spec["ports"] == PORTS


def test_read_service_balances_over_every_pod():
    _, manifests = services_manifests()
    spec = by_kind(manifests, "Service", "mysql-read")["spec"]
    assert "clusterIP" not in spec
    assert "publishNotReadyAddresses" not in spec  # only ready pods serve reads
    assert spec["selector"] == SELECTOR
    assert spec["ports"] == PORTS


def test_primary_service_selects_only_ordinal_zero():
    _, manifests = services_manifests()
    spec = by_kind(manifests, "Service", "mysql-primary")["spec"]
    assert "clusterIP" not in spec
    assert spec["selector"] == {**SELECTOR, "statefulset.kubernetes.io/pod-name": "mysql-0"}
    assert spec["ports"] == PORTS


def test_no_cdk8s_internal_labels():
    _, manifests = services_manifests()
    for service in manifests:
        assert not any("cdk8s.io" in key for key in service["metadata"].get("labels", {}))
        assert not any("cdk8s.io" in key for key in service["spec"]["selector"])


def test_custom_names_and_hosts():
    services, manifests = services_manifests(name="orders", read_name="orders-ro", primary_name="orders-rw")
    assert [m["metadata"]["name"] for m in manifests] == ["orders", "orders-ro", "orders-rw"]
    assert by_kind(manifests, "Service", "orders-rw")["spec"]["selector"][
        "statefulset.kubernetes.io/pod-name"
    ] == "orders-0"
    assert services.selector == {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "orders"}
    assert services.primary_host == "orders-0.orders"
    assert services.read_host == "orders-ro"
    assert services.port == 3306


def test_default_hosts():
    services, _ = services_manifests()
    assert services.primary_host == "mysql-0.mysql"
    assert services.read_host == "mysql-read"
