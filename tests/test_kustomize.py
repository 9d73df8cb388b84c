"""`kubectl kustomize dist/` (kubectl's built-in kustomize) renders exactly the objects of dist/.

kubectl comes from Debian's kubernetes-client package (or any kubectl on PATH; set KUBECTL to
pick one). kustomize re-sorts objects by kind, and its order differs between versions (kustomize
2 puts PersistentVolumes last): the objects are compared as sets, and the order checked is the
one every version keeps, the Namespace first and the StatefulSet after the ConfigMaps, Services
and ServiceAccount it uses. Argo CD orders a sync by the sync-wave annotations, not by file order.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml
from synth_helpers import DIST


def _key(manifest: dict) -> tuple[str, str, str]:
    return manifest["kind"], manifest["metadata"].get("namespace", ""), manifest["metadata"]["name"]


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl not found: apt-get install kubernetes-client (or set KUBECTL)", pytrace=False)
    result = subprocess.run([kubectl, "kustomize", str(DIST)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_kustomize_renders_exactly_the_objects_of_dist(rendered):
    committed = [doc for doc in yaml.safe_load_all((DIST / "mysql-ha.k8s.yaml").read_text()) if doc]
    assert len(rendered) == len(committed) == 16
    assert sorted(rendered, key=_key) == sorted(committed, key=_key)


def test_kustomize_creates_the_namespace_first_and_the_statefulset_after_what_it_uses(rendered):
    kinds = [manifest["kind"] for manifest in rendered]
    assert kinds[0] == "Namespace"
    stateful_set = kinds.index("StatefulSet")
    for kind in ("ConfigMap", "Service", "ServiceAccount"):
        assert max(i for i, k in enumerate(kinds) if k == kind) < stateful_set, kind
