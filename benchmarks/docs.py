"""docs/performance.md and its plot, written from one full run (``--write-docs``)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from .docs_backups import backup_section
from .docs_engines import NAMES, bring_up_section, catch_up_section, clone_section
from .floors import FLOOR_RELAYS
from .report import TARGETS, Results, met
from .results import CloneRun

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "performance.md"
PLOT = REPO / "docs" / "performance-clone.png"


def write_docs(results: Results) -> list[Path]:
    plot(results, PLOT)
    DOC.write_text(render(results))
    return [DOC, PLOT]


def _by_size(clones: list[CloneRun]) -> list[list[CloneRun]]:
    groups: dict[float, list[CloneRun]] = {}
    for c in clones:
        groups.setdefault(c.data_mib, []).append(c)
    return [groups[k] for k in sorted(groups)]


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = list(results.engines.values())
    fig, axes = plt.subplots(1, len(engines), figsize=(6 * len(engines), 4.2), dpi=110, sharey=True)
    for ax, e in zip(axes if len(engines) > 1 else [axes], engines):
        groups = _by_size(e.clones)
        sizes = [statistics.median(c.donor_datadir_mib for c in g) for g in groups]
        med = lambda f, g: statistics.median(f(c) for c in g)  # noqa: E731
        series = [("clone init container (what a new replica waits)", "o-", "tab:blue", lambda c: c.clone_s),
                  (f"its data-copy phase ({e.headline.copy_phase})", "^:", "tab:green", lambda c: c.copy_s or 0)]
        series += [(f"tar | {relay}", "s--", color, lambda c, r=relay: c.floors_s[r])
                   for relay, color in zip(FLOOR_RELAYS, ("tab:gray", "tab:brown"))]
        for label, style, color, f in series:
            ax.scatter([c.donor_datadir_mib for c in e.clones], [f(c) for c in e.clones], color=color, s=12, alpha=0.5)
            ax.plot(sizes, [med(f, g) for g in groups], style, color=color, label=label)
        ax.set_title(f"{NAMES.get(e.key, e.key)}: chart {e.image}, server {e.server_version}", fontsize=10)
        ax.set_xlabel("donor data directory (MiB)")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    (axes[0] if len(engines) > 1 else axes).set_ylabel("seconds")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _status(key: str, value: float) -> str:
    op, target = TARGETS[key]
    return f"{ {'<=': '≤', '>=': '≥', '<': '<'}[op]} {target:g}, {'met' if met(key, value) else '**missed**'}"


def _results_table(results: Results) -> list[str]:
    s = results.summary()
    slots = results.slots
    lines = [
        "| figure | measured | floor | ratio | target |",
        "|---|---|---|---|---|",
        f"| synth: `python main.py`, median of {s['synth_runs']} | {s['synth_s']:.2f} s | {s['floor_s']:.2f} s "
        f"(empty chart) | **{s['synth_ratio']:.2f}** | {_status('synth_ratio', s['synth_ratio'])} |",
        f"| synth scaling: {max(slots)} slots / {min(slots)} slot | {slots[max(slots)]:.2f} s | "
        f"{slots[min(slots)]:.2f} s | **{s['synth_scaling']:.2f}** | {_status('synth_scaling', s['synth_scaling'])} |",
    ]
    for e in results.engines.values():
        n, head = NAMES.get(e.key, e.key), e.headline
        floors = "; ".join(f"{relay.split()[0]} {head.floors_s[relay]:.2f} s" for relay in FLOOR_RELAYS)
        lines += [
            f"| {n}: bring-up, 3 pods to all replicating | **{e.bring_up.seconds:.1f} s** | | | "
            f"{_status('bringup_3pods_s', e.bring_up.seconds)} |",
            f"| {n}: clone, {head.data_mib:.0f} MiB of table data, {head.donor_datadir_mib:.0f} MiB data directory "
            f"(whole init container) | {head.clone_s:.2f} s, {head.clone_mib_s:.0f} MiB/s | {head.floor_s:.2f} s, "
            f"{head.floor_mib_s:.0f} MiB/s ({floors}) | **{head.ratio:.2f}** | {_status('clone_ratio', head.ratio)} |",
        ]
        if head.copy_s:
            lines.append(f"| {n}: the clone's data-copy phase alone ({head.copy_phase}) | {head.copy_s:.2f} s | "
                         f"{head.floor_s:.2f} s | {head.copy_ratio:.2f} | (not the target's measure) |")
        lines.append(f"| {n}: catch-up after a restart, {e.catch_up.rows:,} rows | **{e.catch_up.rows_s:,.0f} rows/s** "
                     "| | | |")
        tls = e.headline_tls
        if tls is not None:
            lines.append(f"| {n}: the same clone with TLS on (whole init container) | {tls.clone_s:.2f} s, "
                         f"{tls.clone_mib_s:.0f} MiB/s | {tls.floor_s:.2f} s (plain) | **{tls.ratio:.2f}** | "
                         f"{_status('clone_ratio_tls', tls.ratio)} |")
        lines += _backup_rows(e)
    f = results.failover
    if f:
        lines += [
            f"| switchover 0 → 1 (3-pod MariaDB set), a steady writer's longest gap | "
            f"**{f['switchover_write_gap_s']:.2f} s** | | | {_status('switchover_write_gap_s', f['switchover_write_gap_s'])} |",
            f"| failover after losing the primary's node, longest gap | {f['failover_write_gap_s']:.2f} s | | | |",
            f"| acknowledged rows lost in that failover | **{f['lost_acknowledged_rows']}** | | | "
            f"{_status('lost_acknowledged_rows', f['lost_acknowledged_rows'])} |",
            f"| one writer, semi-sync on / off | {f['semisync_rows_s']:.0f} rows/s | {f['async_rows_s']:.0f} rows/s "
            f"| **{f['semisync_throughput_ratio']:.2f}** | |",
        ]
    for key, r in results.rollouts.items():
        n = NAMES.get(key, key)
        lines += [
            f"| {n}: rollout of a changed template (3 pods, the primary last, in place), a steady writer's longest "
            f"gap | **{r['rollout_write_gap_s']:.2f} s** (rolled in {r['rollout_s']:.0f} s, "
            f"{r['rollout_lost_rows']} acknowledged rows lost) | | | {_status('rollout_write_gap_s', r['rollout_write_gap_s'])} |",
            f"| {n}: `kubectl delete pod` of the primary, to gone | **{r['pod_delete_s']:.2f} s** | | | "
            f"{_status('pod_delete_s', r['pod_delete_s'])} |",
        ]
    return lines


def _backup_rows(e) -> list[str]:
    n, head, lines = NAMES.get(e.key, e.key), e.headline, []
    if e.backup is not None:
        b = e.backup
        lines.append(f"| {n}: backup Job to a claim, {b.datadir_mib:.0f} MiB data directory (created to complete) | "
                     f"{b.seconds:.2f} s, {b.mib_s:.0f} MiB/s | {head.floor_s:.2f} s, {head.floor_mib_s:.0f} MiB/s | "
                     f"**{e.backup_ratio:.2f}** | {_status('backup_ratio', e.backup_ratio)} |")
    if e.restore is not None:
        lines.append(f"| {n}: restore of that backup, a fresh 1-pod set to ready | **{e.restore.seconds:.2f} s** | | | "
                     f"{_status('restore_512mib_s', e.restore.seconds)} |")
    large = e.large
    if large is not None:
        lines += [
            f"| {n}: backup Job under a steady writer, {large.datadir_mib:.0f} MiB data directory | "
            f"{large.backup.seconds:.2f} s | {large.floor_s:.2f} s | {large.floor_s / large.backup.seconds:.2f} | |",
            f"| {n}: restore of that backup, a fresh 1-pod set to ready; {large.writer_rows} acknowledged rows and "
            f"{large.tables_checked} tables' checksums as recorded | **{large.restore.seconds:.2f} s** | "
            f"{large.floor_s:.2f} s | {large.floor_s / large.restore.seconds:.2f} | |",
        ]
    p = e.point_in_time
    if p is not None:
        lines += [
            f"| {n}: archive behind a committed write, max of {len(p.rpo_s)} over {p.write_times[-1]:.0f} s "
            f"(median), archived every {p.archive_interval_s} s | **{p.rpo_max_s:.1f} s** ({p.rpo_median_s:.1f} s) "
            f"| | | {_status('pitr_rpo_s', p.rpo_max_s)} |",
            f"| {n}: point-in-time restore, replay of {p.rows:,} rows | **{p.replay_rows_s:,.0f} rows/s** | | | |",
        ]
    return lines


def _synth_section(results: Results) -> list[str]:
    s, slots, phases = results.summary(), results.slots, results.synth_phases
    ours = ("import mysql_ha", "construct the chart", "synth (resolve, YAML, write)")
    floor_like = sum(v for k, v in phases.items() if k not in ours)
    per_slot_ms = (slots[max(slots)] - slots[min(slots)]) / (max(slots) - min(slots)) * 1000
    lines = [
        "## Synthesis", "",
        "`synth_s` is the wall time of `python main.py` (the default chart: MySQL 8.4, an existing Secret,",
        "static local storage) as a fresh process writing to a scratch `CDK8S_OUTDIR`; `floor_s` is the same",
        "for `benchmarks/apps/floor.py`, which imports cdk8s-plus-27 and synthesizes one empty chart. Each",
        f"is the median of {s['synth_runs']} runs, all variants interleaved round by round after one discarded",
        "warm-up round.", "",
        "| variant | median | min | max |", "|---|---|---|---|",
    ]
    for name in results.synth.times:
        low, high = results.synth.spread(name)
        lines.append(f"| {name} | {results.synth.median(name):.2f} s | {low:.2f} s | {high:.2f} s |")
    lines += ["", "Where `python main.py`'s time goes (median of 3, timed inside the process by",
              "`benchmarks/apps/phases.py`):", "", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in phases.items()]
    lines += [
        "",
        f"**What limits it.** The framework: {floor_like:.2f} s of the {sum(phases.values()):.2f} s are the "
        "interpreter's start-up and exit, jsii starting its Node runtime, and importing cdk8s and",
        "cdk8s-plus-27, which the empty chart pays too. Our own share is mostly constructing the chart,",
        f"{phases.get('construct the chart', 0.0):.2f} s: every construct and every L1 object is created through "
        "the jsii bridge in Node, so the cost",
        "follows the number of objects, not the amount of Python.", "",
        "**Scaling.** `benchmarks/apps/slots.py N` builds the same chart with N local PersistentVolumes and",
        f"N replicas. From {min(slots)} to {max(slots)} slots the time grows by {per_slot_ms:.0f} ms per slot "
        "(medians: " + ", ".join(f"{k} slot{'s' if k > 1 else ''} {v:.2f} s" for k, v in sorted(slots.items()))
        + "): each slot is one more PersistentVolume object; the StatefulSet and the pod template do not grow.",
        "",
    ]
    return lines


def render(results: Results) -> str:
    s, m = results.summary(), results.machine
    lines = [
        "# Performance", "",
        "What users of mysql-ha pay, each figure next to a floor measured back to back in the same run",
        "(these machines are noisy: compare ratios within a run, never seconds across runs). Written by",
        "`python -m benchmarks --write-docs`; `python -m benchmarks` prints the same table and, as its last",
        "line, the JSON object below. `tests/test_benchmarks_smoke.py` runs `--tiny` so the command keeps",
        "working; the full run is not part of the test suite.", "",
        "Every engine's chart runs for real in the pod emulator (tests/emulator): each pod a network namespace,",
        "each container its processes in a Debian root filesystem that stands in for its image. The engines run",
        "one after the other. Keys with an engine suffix (`clone_ratio_mysql`, `clone_ratio_mariadb`, ...) are",
        "that engine's; the unsuffixed `bringup_3pods_s`, `clone_ratio`, ... carry the default engine's",
        f"({s['default_engine']}).",
        "", "## Machine", "", "| | |", "|---|---|",
        f"| CPUs (nproc) | {m['nproc']} × {m['cpu']} |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| kernel | Linux {m['kernel']} ({m['os']}) |",
        f"| file system of the scratch directory | {m['filesystem']} |",
        *[f"| image `{image}` stands in as | {version} |" for image, version in m["images"].items()],
        f"| socat, ncat (host, for the floors) | {m['socat']}; {m['ncat']} |",
        f"| Python, Node (jsii), cdk8s, cdk8s-plus-27 | {m['python']}, {m['node']}, {m['cdk8s']}, "
        f"{m['cdk8s_plus_27']} |",
        f"| load average (1 min) at start, at end | {m['load_average_at_start']}, {m.get('load_average_at_end')} |",
        f"| date, duration of the run | {m['date']}, {m.get('duration_s')} s |",
        "", "## Results", "",
        *_results_table(results),
        "", "```json", json.dumps(s), "```", "",
        *_synth_section(results),
        *bring_up_section(results),
        *clone_section(results),
        *catch_up_section(results),
        *backup_section(results),
    ]
    return "\n".join(lines)

