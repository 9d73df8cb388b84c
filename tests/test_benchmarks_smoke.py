"""`python -m benchmarks --tiny`: the benchmark command still runs end to end.

The full benchmark is not part of the test suite (minutes, and its figures only mean
something as ratios within one run); this runs its tiny mode (a few minutes: one synth round,
then every engine's chart at once, each a 3-pod bring-up, one small clone against both copy
floors, a backup and its restore, a short catch-up and a point-in-time restore) and checks the
contract of its last line. Like the e2e scenarios it needs root and the images' root
filesystems; on the host socat and ncat.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENGINES = ("mysql", "mariadb")
PER_ENGINE = (
    "bringup_3pods_s",
    "clone_mib_s",
    "copy_floor_mib_s",
    "copy_floor_ncat_mib_s",
    "copy_floor_socat_mib_s",
    "clone_ratio",
    "clone_copy_ratio",
    "clone_s",
    "clone_copy_s",
    "clone_overhead_s",
    "copy_floor_s",
    "catchup_rows_s",
    "clone_ratio_tls",
    "backup_mib_s",
    "backup_ratio",
    "restore_512mib_s",
    "restore_4gib_s",
    "restore_4gib_floor_s",
    "backup_4gib_s",
    "large_tables_checked",
    "pitr_rpo_s",
    "pitr_replay_rows_s",
    "rollout_write_gap_s",
    "pod_delete_s",
)
KEYS = (
    "synth_s",
    "floor_s",
    "synth_ratio",
    "synth_scaling",
    # the default engine's (MySQL 8.4's) figures, without a suffix
    "bringup_3pods_s",
    "clone_mib_s",
    "copy_floor_mib_s",
    "clone_ratio",
    "catchup_rows_s",
    "clone_ratio_tls",
    "switchover_write_gap_s",
    "failover_write_gap_s",
    "lost_acknowledged_rows",
    "semisync_throughput_ratio",
    *(f"{key}_{engine}" for engine in ENGINES for key in PER_ENGINE),
)
E2E_PREFIX = os.environ.get("MYSQL_HA_E2E_PREFIX", "mh")[:2]  # as benchmarks/engines.py reads it
NETWORK_PREFIXES = tuple(f"{E2E_PREFIX}{name}-" for name in (
    *(f"bm{e}{variant}" for e in "ya" for variant in ("", "t", "r", "p", "q", "o", "l")), "fover"))

pytestmark = pytest.mark.e2e


def test_tiny_run_prints_every_key_as_a_number_on_its_last_line():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-4000:]}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["lost_acknowledged_rows"] == 0, "a failover lost acknowledged rows"
    assert summary["rollout_lost_rows_mysql"] == summary["rollout_lost_rows_mariadb"] == 0, "a rollout lost rows"
    for key in KEYS:
        if key == "lost_acknowledged_rows":
            continue
        value = summary.get(key)
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{key}: {value!r}"
        assert math.isfinite(value) and value > 0, f"{key}: {value!r}"
    assert summary["mode"] == "tiny"
    assert summary["clone_ratio"] == summary["clone_ratio_mysql"], "unsuffixed keys carry the default engine's figures"
    assert "figure" in result.stdout, "the table comes before the JSON line"
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(prefix in leftovers for prefix in NETWORK_PREFIXES), f"network namespaces left behind:\n{leftovers}"
