"""`cdk8s synth` (npm cdk8s-cli, installed by `npm ci`) writes the same files as the committed dist/."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess

import pytest
from synth_helpers import DIST, REPO


def test_cdk8s_synth_reproduces_dist(tmp_path):
    cli = REPO / "node_modules" / ".bin" / "cdk8s"
    if not cli.exists() or shutil.which("pipenv") is None:
        pytest.fail("cdk8s synth needs `npm ci` (node_modules/.bin/cdk8s) and pipenv on PATH", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_HA_")}
    # As `npx cdk8s synth` does: node_modules/.bin (with the locked Node) first on PATH.
    env = {k: v for k, v in env.items() if not k.startswith("JSII_")}
    env.update(CDK8S_CHECK_UPGRADE="false", PIPENV_VENV_IN_PROJECT="1", PIPENV_IGNORE_VIRTUALENVS="1",
               PATH=f"{cli.parent}{os.pathsep}{env.get('PATH', '')}")
    result = subprocess.run([str(cli), "synth", "--output", str(tmp_path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr + result.stdout
    files = sorted(p.name for p in DIST.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    match, mismatch, errors = filecmp.cmpfiles(DIST, tmp_path, files, shallow=False)
    assert match == files, f"differs from dist/: {mismatch + errors}"
