"""Every synthesized object is valid for the oldest and newest Kubernetes we target."""

from __future__ import annotations

import kubernetes_validate
import pytest
from synth_helpers import (CLUSTER_SCOPED_KINDS, ENGINE_NAMES, EXAMPLE_NAMES, add_stack, example_manifests, new_chart,
                           password_credentials, synth, walk_strings, whole_chart)

import mysql_ha

KUBERNETES_VERSIONS = ["1.27", "1.37"]


def _stack_with_metrics():
    chart = new_chart()
    add_stack(chart, credentials=password_credentials("metrics_password"), metrics=True)
    return synth(chart)


VARIANTS = {
    **{name: lambda name=name: whole_chart(mysql_ha.ENGINES[name]) for name in ENGINE_NAMES},
    "from-passwords": lambda: whole_chart(credentials=password_credentials()),
    "dynamic-storage": lambda: whole_chart(storage_class_name="standard", replicas=3),
    "other-namespace": lambda: whole_chart(namespace="databases"),
    "metrics": _stack_with_metrics,
    **{f"example-{name}": lambda name=name: example_manifests(name) for name in EXAMPLE_NAMES},
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def manifests(request):
    return VARIANTS[request.param]()


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_passes_strict_schema_validation(manifests, version):
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:  # pragma: no cover - message on failure
            pytest.fail(f"{manifest['kind']} {manifest['metadata']['name']} is invalid for {version}: {error}")


def test_cluster_scoped_objects_have_no_namespace(manifests):
    cluster_scoped = [m for m in manifests if m["kind"] in CLUSTER_SCOPED_KINDS]
    for manifest in cluster_scoped:
        assert "namespace" not in manifest["metadata"], (manifest["kind"], manifest["metadata"])
    for manifest in manifests:
        if manifest["kind"] not in CLUSTER_SCOPED_KINDS:
            assert manifest["metadata"].get("namespace"), (manifest["kind"], manifest["metadata"])


def test_no_cdk8s_internal_label_anywhere(manifests):
    for manifest in manifests:
        for path, text in walk_strings(manifest):
            assert "cdk8s.io/metadata.addr" not in text, (manifest["kind"], path)


def test_no_noise(manifests):
    for manifest in manifests:
        assert manifest["metadata"].get("annotations") is None or manifest["metadata"]["annotations"]
        if manifest["kind"] == "Namespace":
            assert "spec" not in manifest
        # Only MySQLConfig's content-named ConfigMaps are immutable, and say so.
        assert manifest.get("immutable", True) is True, manifest["metadata"]["name"]
        if manifest.get("immutable"):
            assert manifest["kind"] == "ConfigMap" and manifest["metadata"]["name"] != "mysql-topology"
        if manifest["kind"] == "Service":
            assert "externalIPs" not in manifest["spec"]
