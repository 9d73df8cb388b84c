"""Policy scan: checkov finds nothing to fail in dist/, in any engine's chart nor in any
example's output, and every check the manifests skip carries its reason next to the skip."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from synth_helpers import DIST, EXAMPLE_NAMES, REPO, existing_secret, run_example, to_yaml, whole_chart

import mysql_ha

CHECKOV = Path(os.environ.get("CHECKOV", REPO / ".checkov" / "bin" / "checkov"))


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> list[dict]:
    if not CHECKOV.exists():
        pytest.fail(
            f"checkov not found at {CHECKOV}: it runs in its own venv "
            "(python3 -m venv .checkov && .checkov/bin/pip install checkov), or set CHECKOV",
            pytrace=False,
        )
    folder = tmp_path_factory.mktemp("policy")
    (folder / "dist.yaml").write_text((DIST / "mysql-ha.k8s.yaml").read_text())
    for name, engine in mysql_ha.ENGINES.items():
        (folder / f"{name}.yaml").write_text(to_yaml(whole_chart(engine, existing_secret())))
    metrics = whole_chart(mysql_ha.MYSQL_8_4, existing_secret(), metrics=True)
    (folder / "metrics.yaml").write_text(to_yaml(metrics))
    for name in EXAMPLE_NAMES:
        outdir, _ = run_example(name)
        for manifest in outdir.glob("*.k8s.yaml"):
            (folder / f"example-{name}-{manifest.name}").write_text(manifest.read_text())
    result = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, timeout=300,
    )
    report = json.loads(result.stdout)
    return report if isinstance(report, list) else [report]


def test_no_failed_checks(scan):
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for report in scan for c in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert sum(report["summary"]["passed"] for report in scan) > 300, "checkov scanned too little"


def test_every_skip_has_a_reason(scan):
    skipped = [c for report in scan for c in report["results"]["skipped_checks"]]
    assert skipped, "the StatefulSet's documented skips should show up"
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} is skipped without a reason"
