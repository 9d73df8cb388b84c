"""LocalStorage: the no-provisioner StorageClass and one local PV per replica slot."""

from __future__ import annotations

import pytest
from synth_helpers import by_kind, new_chart, synth

import mysql_ha
from mysql_ha.local_storage import DEFAULT_PATHS


def storage_manifests(**props):
    chart = new_chart()
    storage = mysql_ha.LocalStorage(chart, "Storage", **props)
    return storage, synth(chart)


def test_snapshot(yaml_snapshot):
    _, manifests = storage_manifests()
    assert manifests == yaml_snapshot


def test_storage_class_has_no_provisioner_and_waits_for_first_consumer():
    _, manifests = storage_manifests()
    storage_class = by_kind(manifests, "StorageClass", "local-storage")
    assert storage_class["apiVersion"] == "storage.k8s.io/v1"
    assert storage_class["provisioner"] == "kubernetes.io/no-provisioner"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["reclaimPolicy"] == "Retain"


def test_one_persistent_volume_per_walkthrough_directory():
    storage, manifests = storage_manifests()
    volumes = by_kind(manifests, "PersistentVolume")
    assert [v["metadata"]["name"] for v in volumes] == ["mysql-pv-1", "mysql-pv-2", "mysql-pv-3"]
    assert [v["spec"]["local"]["path"] for v in volumes] == [
        "/data/svr/projects/mysql",
        "/data/svr/projects/mysql2",
        "/data/svr/projects/mysql3",
    ]
    assert list(DEFAULT_PATHS) == [v["spec"]["local"]["path"] for v in volumes]
    for volume in volumes:
        spec = volume["spec"]
        assert spec["capacity"] == {"storage": "15Gi"}
        assert spec["accessModes"] == ["ReadWriteOnce"]
        assert spec["storageClassName"] == "local-storage"
        assert spec["persistentVolumeReclaimPolicy"] == "Retain"
        assert spec["volumeMode"] == "Filesystem"
        assert spec["nodeAffinity"] == {
            "required": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node1"]}]}
                ]
            }
        }
    assert storage.max_replicas == 3


def test_cluster_scoped_objects_carry_no_namespace():
    # The chart has namespace "mysql"; StorageClass and PVs are cluster-scoped.
    _, manifests = storage_manifests()
    assert manifests, "static storage creates objects"
    for manifest in manifests:
        assert "namespace" not in manifest["metadata"], manifest["metadata"]


def test_volumes_are_spread_over_nodes_round_robin():
    _, manifests = storage_manifests(
        nodes=["node-a", "node-b"], paths=["/mnt/a", "/mnt/b", "/mnt/c"], capacity="20Gi",
        pv_name_prefix="db", storage_class_name="fast-local", reclaim_policy="Delete",
    )
    volumes = by_kind(manifests, "PersistentVolume")
    pinned = [
        v["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"]
        for v in volumes
    ]
    assert pinned == [["node-a"], ["node-b"], ["node-a"]]
    assert [v["metadata"]["name"] for v in volumes] == ["db-1", "db-2", "db-3"]
    assert {v["spec"]["capacity"]["storage"] for v in volumes} == {"20Gi"}
    assert {v["spec"]["storageClassName"] for v in volumes} == {"fast-local"}
    assert {v["spec"]["persistentVolumeReclaimPolicy"] for v in volumes} == {"Delete"}
    assert by_kind(manifests, "StorageClass", "fast-local")["reclaimPolicy"] == "Delete"


@pytest.mark.parametrize("paths, expected", [(["/a"], 1), (["/a", "/b"], 2), (["/a", "/b", "/c", "/d"], 4)])
def test_number_of_paths_caps_replicas(paths, expected):
    storage, manifests = storage_manifests(paths=paths)
    assert storage.max_replicas == expected
    assert len(by_kind(manifests, "PersistentVolume")) == expected


def test_dynamic_mode_creates_no_objects():
    storage, manifests = storage_manifests(storage_class_name="standard", dynamic=True)
    assert manifests == []
    assert storage.max_replicas is None
    assert storage.storage_class is None
    assert storage.persistent_volumes == ()
    assert storage.storage_class_name == "standard"
