"""The emulator's ``kubectl apply`` of ConfigMaps without running a pod: a new ConfigMap (a
content-named one of a new version) is created beside the old one, and a changed immutable
ConfigMap is refused as the API server refuses it, before anything is applied. How a changed
ConfigMap reaches running pods is pinned by tests/e2e/test_emulator_config_maps.py."""

from __future__ import annotations

import pytest

from emulator import Cluster
from emulator.errors import EmulatorError


def config_map(name: str, data: dict[str, str], *, immutable: bool = False) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data,
            **({"immutable": True} if immutable else {})}


def statefulset() -> dict:
    template = {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": "rclone/rclone:1.75", "command": ["sleep", "1"]}]}}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
            "spec": {"replicas": 0, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                     "template": template}}


@pytest.fixture
def cluster(tmp_path):
    return Cluster([config_map("env-1", {"A": "1"}, immutable=True), config_map("live", {"B": "1"}), statefulset()],
                   tmp_path, prefix="mhcmu")


def test_a_changed_immutable_config_map_is_refused_and_nothing_is_applied(cluster):
    with pytest.raises(EmulatorError, match=r"ConfigMap 'env-1' is invalid: data: Forbidden: field is immutable"):
        cluster.apply([config_map("env-1", {"A": "2"}, immutable=True), config_map("env-2", {"A": "2"}), statefulset()])

    assert cluster.objects.config_map_data("env-1") == {"A": "1"}
    assert "env-2" not in cluster.objects.config_maps
