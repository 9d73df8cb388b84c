"""The committed dist/ is exactly what main.py synthesizes, and synthesis is deterministic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from synth_helpers import DIST, REPO


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
    assert sorted(fresh) == sorted(committed) == ["mysql-ha.k8s.yaml"]
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
