"""The example apps of examples/ synthesize, quietly, into a kustomize base each, and build what
their docstrings promise. test_schema and test_policy run the same checks on their output as
on dist/."""

from __future__ import annotations

import re

import yaml
from synth_helpers import EXAMPLE_NAMES, EXAMPLES, by_kind, container, example_manifests, pod_spec, run_example


def test_every_example_is_listed_in_the_examples_readme():
    listed = re.findall(r"^\| \[`([\w-]+)/`\]", (EXAMPLES / "README.md").read_text(), re.MULTILINE)
    assert sorted(listed) == EXAMPLE_NAMES
    assert {"mariadb", "dynamic-storage", "metrics", "app-chart"} <= set(EXAMPLE_NAMES)


def test_every_example_synthesizes_quietly_with_its_kustomization():
    for name in EXAMPLE_NAMES:
        outdir, stderr = run_example(name)
        assert stderr == "", f"examples/{name}: {stderr}"
        manifests = sorted(path.name for path in outdir.glob("*.k8s.yaml"))
        assert len(manifests) == 1, (name, manifests)
        kustomization = yaml.safe_load((outdir / "Kustomization").read_text())
        assert kustomization["resources"] == manifests, name


def test_mariadb_runs_the_mariadb_images():
    manifests = example_manifests("mariadb")
    assert container(manifests, "mysql")["image"] == "mariadb:11.4"
    assert container(manifests, "clone-mysql")["image"] == "mariadb:11.4"
    assert by_kind(manifests, "Namespace", "mysql")


def test_dynamic_storage_spreads_three_pods_hard_on_provisioned_volumes():
    manifests = example_manifests("dynamic-storage")
    assert by_kind(manifests, "StorageClass") == [] and by_kind(manifests, "PersistentVolume") == []
    (stateful_set,) = by_kind(manifests, "StatefulSet")
    assert stateful_set["spec"]["replicas"] == 3
    claim = stateful_set["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "standard"
    assert claim["resources"]["requests"]["storage"] == "20Gi"
    anti_affinity = pod_spec(manifests)["affinity"]["podAntiAffinity"]
    (required,) = anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["topologyKey"] == "kubernetes.io/hostname"
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in anti_affinity


def test_metrics_adds_the_exporter_and_its_port():
    manifests = example_manifests("metrics")
    exporter = container(manifests, "metrics")
    assert [p["containerPort"] for p in exporter["ports"]] == [9104]
    headless = by_kind(manifests, "Service", "mysql")
    assert "metrics" in [p["name"] for p in headless["spec"]["ports"]]
    policy = by_kind(manifests, "NetworkPolicy", "mysql")
    assert 9104 in [port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]]


def test_app_chart_puts_its_deployment_beside_the_database_and_inside_its_policy():
    manifests = example_manifests("app-chart")
    assert {m["metadata"].get("namespace") for m in manifests if m["kind"] != "Namespace"} == {"shop"}
    web = by_kind(manifests, "Deployment", "shop-web")
    database_policy = by_kind(manifests, "NetworkPolicy", "shop-db")
    clients = database_policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert clients.items() <= web["spec"]["template"]["metadata"]["labels"].items()
    env = {e["name"]: e["value"] for e in web["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"DB_WRITE_HOST": "shop-db-0.shop-db", "DB_READ_HOST": "shop-db-read"}
    waves = {m["kind"] + "/" + m["metadata"]["name"]: m["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
             for m in manifests if m["kind"] in ("Namespace", "StatefulSet", "Deployment")}
    assert waves == {"Namespace/shop": "-4", "StatefulSet/shop-db": "0", "Deployment/shop-web": "1"}
