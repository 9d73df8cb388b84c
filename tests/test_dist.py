"""The committed dist/ (manifests and Kustomization) is exactly what main.py synthesizes,
and synthesis is deterministic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cdk8s
import pytest
import yaml
from synth_helpers import DIST, REPO

import mysql_ha


def start_synth(outdir: Path) -> subprocess.Popen:
    # The committed dist/ uses none of the MYSQL_HA_* variables; main.py picks its Node itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL_HA_", "JSII_"))}
    env.update(CDK8S_OUTDIR=str(outdir))
    return subprocess.Popen(
        [sys.executable, "main.py"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def files_of(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def two_synths(tmp_path_factory):
    """Two independent runs of main.py, side by side."""
    outdirs = [tmp_path_factory.mktemp("synth-a"), tmp_path_factory.mktemp("synth-b")]
    runs = [start_synth(outdir) for outdir in outdirs]
    stderrs = []
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        stderrs.append(stderr)
    return [files_of(outdir) for outdir in outdirs], stderrs


def test_fresh_synth_equals_committed_dist(two_synths):
    fresh = two_synths[0][0]
    committed = files_of(DIST)
    assert sorted(fresh) == sorted(committed) == ["Kustomization", "mysql-ha.k8s.yaml"]
    for name, content in committed.items():
        assert fresh[name] == content, (
            f"dist/{name} is stale: run `python main.py` (or `cdk8s synth`), read the diff, and commit it"
        )


def test_synthesis_is_deterministic(two_synths):
    first, second = two_synths[0]
    assert first == second


def test_synthesis_prints_nothing_on_stderr(two_synths):
    """No end-of-life banner: main.py runs jsii on the LTS Node that `npm ci` installs from
    package-lock.json, with no JSII_* variable set by the caller."""
    assert two_synths[1] == ["", ""], two_synths[1][0]


def test_kustomization_lists_the_manifests():
    kustomization = yaml.safe_load((DIST / "Kustomization").read_text())
    assert kustomization == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["mysql-ha.k8s.yaml"],
    }


def test_write_kustomization_lists_every_manifest_of_the_app(tmp_path):
    app = cdk8s.App(outdir=str(tmp_path))
    for name in ("b-chart", "a-chart"):
        cdk8s.ApiObject(cdk8s.Chart(app, name), "Map", api_version="v1", kind="ConfigMap")
    app.synth()
    path = mysql_ha.write_kustomization(app)
    assert path == tmp_path / "Kustomization"
    assert yaml.safe_load(path.read_text())["resources"] == ["a-chart.k8s.yaml", "b-chart.k8s.yaml"]


def test_write_kustomization_refuses_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="call app.synth"):
        mysql_ha.write_kustomization(cdk8s.App(outdir=str(tmp_path)))


def test_kubectl_apply_f_reads_only_manifests():
    """`kubectl apply -f dist/` reads every *.yaml, *.yml and *.json file of the folder as
    manifests: each must hold Kubernetes objects, so the kustomization is not among them."""
    readable = [p for p in DIST.iterdir() if p.suffix in (".yaml", ".yml", ".json")]
    assert [p.name for p in readable] == ["mysql-ha.k8s.yaml"]
    for path in readable:
        for document in yaml.safe_load_all(path.read_text()):
            assert document["apiVersion"] and document["kind"] != "Kustomization", path
