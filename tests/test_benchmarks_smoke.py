"""`python -m benchmarks --tiny`: the benchmark command still runs end to end.

The full benchmark is not part of the test suite (minutes, and its figures only mean
something as ratios within one run); this runs its tiny mode (about 30 s: one synth
round, a 3-pod bring-up, one small clone against the copy floor, a short catch-up)
and checks the contract of its last line. Like the e2e scenarios it needs root,
MariaDB, socat and ncat.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KEYS = (
    "synth_s",
    "floor_s",
    "synth_ratio",
    "synth_scaling",
    "bringup_3pods_s",
    "clone_mib_s",
    "copy_floor_mib_s",
    "clone_ratio",
    "catchup_rows_s",
    "switchover_write_gap_s",
    "failover_write_gap_s",
    "lost_acknowledged_rows",
    "semisync_throughput_ratio",
)

pytestmark = pytest.mark.e2e


def test_tiny_run_prints_every_key_as_a_number_on_its_last_line():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--tiny"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-4000:]}"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["lost_acknowledged_rows"] == 0, "a failover lost acknowledged rows"
    for key in KEYS:
        if key == "lost_acknowledged_rows":
            continue
        value = summary.get(key)
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{key}: {value!r}"
        assert math.isfinite(value) and value > 0, f"{key}: {value!r}"
    assert summary["mode"] == "tiny"
    assert "figure" in result.stdout, "the table comes before the JSON line"
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "mhbench-" not in leftovers and "mhfover-" not in leftovers, f"network namespaces left behind:\n{leftovers}"
