"""Synthesis cost: ``python main.py`` against the framework floor, and against replica slots.

Each variant runs as a fresh ``python`` process (what a user or ``cdk8s synth`` pays:
interpreter, jsii's node runtime, imports, construction, YAML), writing into a scratch
``CDK8S_OUTDIR`` so dist/ is never touched. Variants are interleaved round by round so
that a noisy moment on the machine lands on all of them, and a first round is thrown
away to warm the page cache.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
SLOT_COUNTS = (1, 3, 9, 27)


@dataclass
class SynthResult:
    runs: int
    times: dict[str, list[float]] = field(default_factory=dict)

    def median(self, variant: str) -> float:
        return statistics.median(self.times[variant])

    def spread(self, variant: str) -> tuple[float, float]:
        return min(self.times[variant]), max(self.times[variant])


def _environment(outdir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_HA_")}  # the default chart
    env["CDK8S_OUTDIR"] = outdir
    return env


def _time_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return elapsed


def variants(slots: tuple[int, ...] = SLOT_COUNTS) -> dict[str, list[str]]:
    python = sys.executable
    found = {
        "main": [python, "main.py"],
        "floor": [python, str(APPS / "floor.py")],
    }
    for count in slots:
        found[f"slots-{count}"] = [python, str(APPS / "slots.py"), str(count)]
    return found


def measure(runs: int, warmup: int = 1, slots: tuple[int, ...] = SLOT_COUNTS, progress=print) -> SynthResult:
    """Median-ready timings: ``runs`` rounds of every variant, after ``warmup`` rounds."""
    result = SynthResult(runs=runs)
    todo = variants(slots)
    with tempfile.TemporaryDirectory(prefix="mysql-ha-synth-") as scratch:
        for round_number in range(warmup + runs):
            for name, argv in todo.items():
                outdir = os.path.join(scratch, f"{name}-{round_number}")
                seconds = _time_once(argv, _environment(outdir))
                if round_number >= warmup:
                    result.times.setdefault(name, []).append(seconds)
            if round_number >= warmup:
                progress(f"synth round {round_number - warmup + 1}/{runs}: "
                         + " ".join(f"{n}={t[-1]:.2f}s" for n, t in result.times.items()))
    return result


def phases(runs: int = 3) -> dict[str, float]:
    """Median seconds of each phase of main.py's work, timed inside the process
    (apps/phases.py), plus what the process costs around it (interpreter start-up,
    node runtime shut-down) as measured from outside."""
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="mysql-ha-synth-") as scratch:
        for run in range(runs):
            env = _environment(os.path.join(scratch, str(run)))
            started = time.perf_counter()
            out = subprocess.run([sys.executable, str(APPS / "phases.py")], cwd=REPO, env=env, check=True,
                                 capture_output=True, text=True).stdout
            total = time.perf_counter() - started
            sample = json.loads(out.strip().splitlines()[-1])
            sample["interpreter start-up and exit"] = total - sum(sample.values())
            samples.append(sample)
    return {name: statistics.median(s[name] for s in samples) for name in samples[0]}
