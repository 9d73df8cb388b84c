"""Small helpers around the cdk8s L1 classes, shared by the constructs."""

from __future__ import annotations

import cdk8s

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"


def cluster_scoped(api_object: cdk8s.ApiObject) -> cdk8s.ApiObject:
    """Drops the namespace that a chart's ``namespace=`` stamps on every object:
    Namespaces, StorageClasses and PersistentVolumes are cluster-scoped."""
    if cdk8s.Chart.of(api_object).namespace:
        api_object.add_json_patch(cdk8s.JsonPatch.remove("/metadata/namespace"))
    return api_object
