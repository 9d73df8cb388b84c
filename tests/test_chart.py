"""MySQLHAChart: the whole walkthrough cluster in one chart."""

from __future__ import annotations

import pytest
from synth_helpers import (
    CLUSTER_SCOPED_KINDS, add_stack, all_containers, by_kind, config_map, existing_secret, new_app, new_chart,
    password_credentials, synth, unhashed, walk_strings, whole_chart,
)

import mysql_ha

WALKTHROUGH_OBJECTS = [
    ("Namespace", "mysql"),
    ("StorageClass", "local-storage"),
    ("PersistentVolume", "mysql-pv-1"),
    ("PersistentVolume", "mysql-pv-2"),
    ("PersistentVolume", "mysql-pv-3"),
    ("ConfigMap", "mysql"),
    ("ConfigMap", "mysql-scripts"),
    ("ConfigMap", "mysql-env"),
    ("ConfigMap", "mysql-topology"),
    ("Service", "mysql"),
    ("Service", "mysql-read"),
    ("Service", "mysql-primary"),
    ("ServiceAccount", "mysql"),
    ("PodDisruptionBudget", "mysql"),
    ("NetworkPolicy", "mysql"),
    ("StatefulSet", "mysql"),
]

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
EXPECTED_WAVES = {
    "Namespace": -4, "StorageClass": -4, "PersistentVolume": -4,
    "ConfigMap": -3, "Secret": -3,
    "Service": -2,
    "ServiceAccount": -1, "PodDisruptionBudget": -1, "NetworkPolicy": -1,
    "StatefulSet": 0,
}


def test_whole_chart_snapshot(engine, yaml_snapshot):
    assert whole_chart(engine) == yaml_snapshot


def test_objects_and_names_are_stable(engine):
    manifests = whole_chart(engine)
    assert [(m["kind"], unhashed(m["metadata"]["name"]) if m["kind"] == "ConfigMap" else m["metadata"]["name"])
            for m in manifests] == WALKTHROUGH_OBJECTS


def _waves(manifests):
    return [(m["kind"], int(m["metadata"]["annotations"][SYNC_WAVE])) for m in manifests]


@pytest.mark.parametrize("props", [
    {},
    {"credentials": password_credentials()},
    {"storage_class_name": "standard", "metrics": True},
], ids=["default", "with-secret", "dynamic-metrics"])
def test_every_object_carries_its_sync_wave_and_the_chart_is_in_wave_order(props):
    """Argo CD creates the Namespace and storage first, the StatefulSet last; kubectl apply
    and Flux read the file top to bottom, so the file follows the same order."""
    waves = _waves(whole_chart(**props))
    assert waves == [(kind, EXPECTED_WAVES[kind]) for kind, _ in waves]
    numbers = [wave for _, wave in waves]
    assert numbers == sorted(numbers)
    assert waves[-1] == ("StatefulSet", 0)


def test_constructs_in_an_app_chart_carry_their_sync_waves():
    chart = new_chart()
    add_stack(chart, credentials=password_credentials())
    waves = _waves(synth(chart))
    assert {kind for kind, _ in waves} == set(EXPECTED_WAVES) - {"Namespace"}
    assert all(wave == EXPECTED_WAVES[kind] for kind, wave in waves)


def test_namespaced_objects_land_in_the_namespace():
    manifests = whole_chart(namespace="databases")
    assert by_kind(manifests, "Namespace", "databases")
    for manifest in manifests:
        if manifest["kind"] in CLUSTER_SCOPED_KINDS:
            assert "namespace" not in manifest["metadata"], manifest["kind"]
        else:
            assert manifest["metadata"]["namespace"] == "databases", manifest["kind"]
    assert not any(m["kind"] == "Namespace" and "spec" in m for m in manifests)


def test_replicas_prop():
    (stateful_set,) = by_kind(whole_chart(replicas=3), "StatefulSet")
    assert stateful_set["spec"]["replicas"] == 3


def test_storage_class_name_switches_to_dynamic_storage():
    manifests = whole_chart(storage_class_name="standard", replicas=4)
    assert by_kind(manifests, "StorageClass") == []
    assert by_kind(manifests, "PersistentVolume") == []
    (stateful_set,) = by_kind(manifests, "StatefulSet")
    assert stateful_set["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard"
    assert stateful_set["spec"]["replicas"] == 4


def test_from_passwords_adds_the_secret_in_the_namespace():
    credentials = password_credentials()
    manifests = whole_chart(credentials=credentials)
    secret = by_kind(manifests, "Secret", "mysql-credentials")
    assert secret["metadata"]["namespace"] == "mysql"


def test_hosts_and_parts():
    chart = mysql_ha.MySQLHAChart(new_app(), "mysql-ha", credentials=existing_secret(), namespace="db")
    assert chart.primary_host == "mysql-0.mysql.db.svc.cluster.local"
    assert chart.read_host == "mysql-read.db.svc.cluster.local"
    assert chart.config.engine is mysql_ha.MYSQL_8_4
    assert chart.storage.max_replicas == 3
    assert chart.mysql.replicas == 2


@pytest.mark.parametrize("engine", [mysql_ha.MYSQL_8_4, mysql_ha.MYSQL_9_7], ids=lambda e: e.name)
def test_mysql_8_4_and_9_7_charts_run_no_backup_tool(engine):
    """xtrabackup 8.x refuses --slave-info on a multi-threaded replica without GTIDs: these
    charts clone with the CLONE plugin and ship no backup tool or backup port at all."""
    manifests = whole_chart(engine)
    env = config_map(manifests, "mysql-env")["data"]
    assert env["MYSQL_HA_CLONE_METHOD"] == "clone-plugin"
    assert (env["MYSQL_HA_BACKUP"], env["MYSQL_HA_STREAM_EXTRACTOR"], env["MYSQL_HA_TRANSPORT"]) == ("", "", "")
    for each in all_containers(manifests):
        assert each["image"] in (engine.server_image, "prom/mysqld-exporter:v0.16.0"), each["name"]
    # Outside the scripts (which serve both kinds of engine), no trace of a backup tool.
    rest = [m for m in manifests if m is not config_map(manifests, "mysql-scripts")]
    for path, text in walk_strings(rest):
        assert not any(word in text for word in ("xtrabackup", "xbstream", "--slave-info")), path
    assert all(port["containerPort"] != 3307 for each in all_containers(manifests) for port in each.get("ports", []))
    for file in ("primary.cnf", "replica.cnf"):
        lines = config_map(manifests, "mysql")["data"][file].splitlines()
        assert {"gtid_mode=ON", "enforce_gtid_consistency=ON"} <= set(lines), file
