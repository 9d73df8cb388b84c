"""The benchmark's outputs: the JSON summary and the table (docs/performance.md: ``docs.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .engines import DEFAULT_KEY
from .floors import FLOOR_RELAYS
from .results import EngineResult
from .synth import SynthResult

TARGETS = {
    "synth_ratio": ("<=", 1.25),
    "synth_scaling": ("<=", 1.2),
    "bringup_3pods_s": ("<", 15.0),
    "clone_ratio": (">=", 0.9),
    "clone_ratio_tls": (">=", 0.7),
    "switchover_write_gap_s": ("<=", 105.0),  # ConfigMap propagation (90 s) + the hand-over
    "lost_acknowledged_rows": ("<=", 0),
    "backup_ratio": (">=", 0.8),
    "restore_512mib_s": ("<", 30.0),
    "pitr_rpo_s": ("<=", 10.0),
    "rollout_write_gap_s": ("<=", 5.0),
    "pod_delete_s": ("<=", 10.0),
}
UNSUFFIXED = ("bringup_3pods_s", "clone_mib_s", "copy_floor_mib_s", "clone_ratio", "clone_s", "copy_floor_s",
              "catchup_rows_s", "clone_ratio_tls")
"""Keys that also appear without an engine suffix, carrying the default engine's (MySQL 8.4's) figures."""


def met(key: str, value: float) -> bool:
    op, target = TARGETS[key]
    return {"<=": value <= target, "<": value < target, ">=": value >= target}[op]


def _r3(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _floor_key(relay: str) -> str:
    return "copy_floor_" + relay.split()[0] + "_mib_s"  # copy_floor_ncat_mib_s, copy_floor_socat_mib_s


def engine_figures(e: EngineResult) -> dict[str, object]:
    """One engine's headline figures, by key without suffix."""
    head = e.headline
    figures = {
        "bringup_3pods_s": _r3(e.bring_up.seconds),
        "clone_ratio": _r3(head.ratio),
        "clone_copy_ratio": _r3(head.copy_ratio),
        "clone_mib_s": _r3(head.clone_mib_s),
        "copy_floor_mib_s": _r3(head.floor_mib_s),
        **{_floor_key(relay): _r3(head.donor_datadir_mib / s) for relay, s in head.floors_s.items()},
        "clone_s": _r3(head.clone_s),
        "clone_copy_s": _r3(head.copy_s),
        "clone_overhead_s": _r3(head.overhead_s),
        "copy_floor_s": _r3(head.floor_s),
        "copy_floor_relay": head.floor_relay,
        "clone_data_mib": round(head.data_mib, 1),
        "clone_datadir_mib": round(head.donor_datadir_mib, 1),
        "catchup_rows_s": round(e.catch_up.rows_s, 1),
        "catchup_rows": e.catch_up.rows,
    }
    tls = e.headline_tls
    if tls is not None:
        # The same clone with TLS on, against the same (plain) floors: what encryption costs.
        figures.update({"clone_ratio_tls": _r3(tls.ratio), "clone_tls_mib_s": _r3(tls.clone_mib_s),
                        "clone_tls_s": _r3(tls.clone_s)})
    figures.update(backup_figures(e))
    return figures


def backup_figures(e: EngineResult) -> dict[str, object]:
    """The backup (MiB/s of the primary's data directory, against the headline clone's faster
    floor), the restore from it, and point-in-time restore."""
    figures: dict[str, object] = {}
    if e.backup is not None:
        b = e.backup
        figures.update({"backup_mib_s": _r3(b.mib_s), "backup_ratio": _r3(e.backup_ratio), "backup_s": _r3(b.seconds),
                        "backup_datadir_mib": round(b.datadir_mib, 1), "backup_archive_mib": round(b.archive_mib, 1),
                        "backup_phases_s": {k: _r3(v) for k, v in b.phases.items()}})
    if e.restore is not None:
        figures.update({"restore_512mib_s": _r3(e.restore.seconds),
                        "restore_phases_s": {k: _r3(v) for k, v in e.restore.phases.items()}})
    large = e.large
    if large is not None:
        figures.update({"restore_4gib_s": _r3(large.restore.seconds), "restore_4gib_floor_s": _r3(large.floor_s),
                        "backup_4gib_s": _r3(large.backup.seconds),
                        "backup_4gib_ratio": _r3(large.floor_s / large.backup.seconds),
                        "large_datadir_mib": round(large.datadir_mib, 1), "large_writer_rows": large.writer_rows,
                        "large_tables_checked": large.tables_checked,
                        "backup_4gib_phases_s": {k: _r3(v) for k, v in large.backup.phases.items()},
                        "restore_4gib_phases_s": {k: _r3(v) for k, v in large.restore.phases.items()}})
    p = e.point_in_time
    if p is not None:
        figures.update({"pitr_rpo_s": _r3(p.rpo_max_s), "pitr_rpo_median_s": _r3(p.rpo_median_s),
                        "pitr_archive_interval_s": p.archive_interval_s, "pitr_replay_rows_s": round(p.replay_rows_s, 1),
                        "pitr_replay_s": _r3(p.replay_s), "pitr_rows": p.rows, "pitr_restore_s": _r3(p.restore.seconds)})
    return figures


@dataclass
class Results:
    mode: str
    machine: dict[str, object]
    synth: SynthResult
    synth_phases: dict[str, float]
    engines: dict[str, EngineResult]  # by BenchEngine.key, in the order they ran
    failover: dict[str, float] = field(default_factory=dict)
    rollouts: dict[str, dict[str, float]] = field(default_factory=dict)  # by BenchEngine.key (benchmarks/rollouts.py)

    @property
    def slots(self) -> dict[int, float]:
        return {int(k.split("-")[1]): self.synth.median(k) for k in self.synth.times if k.startswith("slots-")}

    @property
    def transport_mib_s(self) -> dict[str, float]:
        return next((e.transport_mib_s for e in self.engines.values() if e.transport_mib_s), {})

    def summary(self) -> dict[str, object]:
        main, floor = self.synth.median("main"), self.synth.median("floor")
        slots = self.slots
        out: dict[str, object] = {
            "mode": self.mode,
            "synth_s": _r3(main),
            "floor_s": _r3(floor),
            "synth_ratio": _r3(main / floor),
            "synth_scaling": _r3(slots[max(slots)] / slots[min(slots)]),
            "synth_slots_s": {str(k): _r3(v) for k, v in sorted(slots.items())},
            "synth_runs": self.synth.runs,
        }
        figures = {key: engine_figures(e) for key, e in self.engines.items()}
        default = figures.get(DEFAULT_KEY) or next(iter(figures.values()))
        out.update({k: default[k] for k in UNSUFFIXED})
        out["default_engine"] = self.engines.get(DEFAULT_KEY, next(iter(self.engines.values()))).engine
        for key, f in figures.items():
            out.update({f"{name}_{key}": value for name, value in f.items()})
        out["clone_runs"] = {
            key: [{"data_mib": round(c.data_mib, 1), "datadir_mib": round(c.donor_datadir_mib, 1),
                   "clone_s": _r3(c.clone_s), "copy_s": _r3(c.copy_s),
                   "floors_s": {r: _r3(s) for r, s in c.floors_s.items()}, "ratio": _r3(c.ratio)}
                  for c in e.clones]
            for key, e in self.engines.items()
        }
        out["transport_mib_s"] = {k: round(v, 1) for k, v in self.transport_mib_s.items()}
        alone = next((e.backup_alone for e in self.engines.values() if e.backup_alone), None)
        out["backup_alone_mib_s"] = round(alone[0] / alone[1], 1) if alone else None
        out.update(self.failover)
        for key, r in self.rollouts.items():
            out.update({f"{name}_{key}": value for name, value in r.items()})
        out["machine"] = self.machine
        return out


def _target(key: str, value: float | None) -> str:
    op, target = TARGETS[key]
    if value is None:
        return ""
    return f"{op} {target:g}  {'met' if met(key, value) else 'MISSED'}"


def _engine_rows(e: EngineResult) -> list[tuple[str, ...]]:
    head = e.headline
    floors = ", ".join(f"{r.split()[0]} {head.floors_s[r]:.2f} s" for r in FLOOR_RELAYS if r in head.floors_s)
    rows = [
        (f"{e.key}: bring-up, 3 pods to replicating", f"{e.bring_up.seconds:.1f} s", "", "",
         _target("bringup_3pods_s", e.bring_up.seconds)),
        (f"{e.key}: clone, {head.data_mib:.0f} MiB data / {head.donor_datadir_mib:.0f} MiB dir",
         f"{head.clone_s:.2f} s {head.clone_mib_s:.0f} MiB/s", f"{head.floor_s:.2f} s ({floors})",
         f"{head.ratio:.2f}", _target("clone_ratio", head.ratio)),
    ]
    if head.copy_s:
        rows.append((f"{e.key}: clone, data-copy phase ({head.copy_phase})", f"{head.copy_s:.2f} s",
                     f"{head.floor_s:.2f} s", f"{head.copy_ratio:.2f}", ""))
    tls = e.headline_tls
    if tls is not None:
        rows.append((f"{e.key}: clone with TLS, {tls.data_mib:.0f} MiB data", f"{tls.clone_s:.2f} s {tls.clone_mib_s:.0f} MiB/s",
                     f"{tls.floor_s:.2f} s", f"{tls.ratio:.2f}", _target("clone_ratio_tls", tls.ratio)))
    rows.append((f"{e.key}: catch-up after a restart", f"{e.catch_up.rows_s:.0f} rows/s", "", "", ""))
    if e.backup is not None:
        b = e.backup
        rows.append((f"{e.key}: backup Job to a claim, {b.datadir_mib:.0f} MiB dir", f"{b.seconds:.2f} s {b.mib_s:.0f} MiB/s",
                     f"{head.floor_s:.2f} s {head.floor_mib_s:.0f} MiB/s", f"{e.backup_ratio:.2f}",
                     _target("backup_ratio", e.backup_ratio)))
    if e.restore is not None:
        rows.append((f"{e.key}: restore of that backup, 1 pod to ready", f"{e.restore.seconds:.2f} s", "", "",
                     _target("restore_512mib_s", e.restore.seconds)))
    large = e.large
    if large is not None:
        rows.append((f"{e.key}: backup Job under a steady writer, {large.datadir_mib:.0f} MiB dir",
                     f"{large.backup.seconds:.2f} s", f"{large.floor_s:.2f} s",
                     f"{large.floor_s / large.backup.seconds:.2f}", ""))
        rows.append((f"{e.key}: restore of that backup, 1 pod to ready ({large.writer_rows} rows, "
                     f"{large.tables_checked} checksums as recorded)", f"{large.restore.seconds:.2f} s",
                     f"{large.floor_s:.2f} s", f"{large.floor_s / large.restore.seconds:.2f}", ""))
    p = e.point_in_time
    if p is not None:
        rows.append((f"{e.key}: archive behind a write, max (median), every {p.archive_interval_s} s",
                     f"{p.rpo_max_s:.1f} s ({p.rpo_median_s:.1f} s)", "", "", _target("pitr_rpo_s", p.rpo_max_s)))
        rows.append((f"{e.key}: point-in-time replay, {p.rows} rows", f"{p.replay_rows_s:.0f} rows/s", "", "", ""))
    return rows


def _phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in phases.items())


def table(results: Results) -> str:
    s = results.summary()
    m = results.machine
    slots = results.slots
    rows = [
        ("synth, python main.py (median)", f"{s['synth_s']:.2f} s", f"{s['floor_s']:.2f} s",
         f"{s['synth_ratio']:.2f}", _target("synth_ratio", s["synth_ratio"])),
        (f"synth, {max(slots)} slots / {min(slots)} slot", f"{slots[max(slots)]:.2f} s", f"{slots[min(slots)]:.2f} s",
         f"{s['synth_scaling']:.2f}", _target("synth_scaling", s["synth_scaling"])),
    ]
    if results.failover:
        f = results.failover
        rows += [
            ("switchover 0 -> 1, longest write gap", f"{f['switchover_write_gap_s']:.2f} s", "", "",
             _target("switchover_write_gap_s", f["switchover_write_gap_s"])),
            ("failover (node lost), longest write gap", f"{f['failover_write_gap_s']:.2f} s", "", "", ""),
            ("acknowledged rows lost in the failover", str(f["lost_acknowledged_rows"]), "", "",
             _target("lost_acknowledged_rows", f["lost_acknowledged_rows"])),
            ("one writer, semi-sync on / off", f"{f['semisync_rows_s']:.0f} rows/s", f"{f['async_rows_s']:.0f} rows/s",
             f"{f['semisync_throughput_ratio']:.2f}", ""),
        ]
    for e in results.engines.values():
        rows += _engine_rows(e)
    for key, r in results.rollouts.items():
        rows += [
            (f"{key}: rollout of 3 pods, longest write gap", f"{r['rollout_write_gap_s']:.2f} s",
             f"rolled in {r['rollout_s']:.0f} s", "", _target("rollout_write_gap_s", r["rollout_write_gap_s"])),
            (f"{key}: primary's pod deleted to gone", f"{r['pod_delete_s']:.2f} s", "", "",
             _target("pod_delete_s", r["pod_delete_s"])),
        ]
    header = ("figure", "measured", "floor", "ratio", "target")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    images = ", ".join(f"{k} -> {v}" for k, v in m["images"].items())
    lines = [f"mysql-ha benchmarks ({results.mode}): {m['nproc']} CPUs {m['cpu']}, {m['memory_gib']} GiB, "
             f"Linux {m['kernel']}, images {images}, load {m['load_average_at_start']} -> "
             f"{m.get('load_average_at_end')}, {m.get('duration_s')} s"]
    for row in [header, *rows]:
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    lines.append("synth medians: " + ", ".join(f"{k} {results.synth.median(k):.2f} s" for k in results.synth.times))
    for e in results.engines.values():
        for c in e.clones:
            lines.append(f"{e.key}: clone {c.data_mib:.0f} MiB ({c.donor_datadir_mib:.0f} MiB dir; the replica's running "
                         f"{c.replica_datadir_mib:.0f} MiB): clone {c.clone_s:.2f} s, "
                         + ", ".join(f"tar | {r} {v:.2f} s" for r, v in c.floors_s.items())
                         + f", ratio {c.ratio:.2f}; " + ", ".join(f"{k} {v:.2f}" for k, v in c.phases.items()))
        if e.backup is not None:
            lines.append(f"{e.key}: backup {e.backup.name} of {e.backup.source} ({e.backup.source_datadir_mib:.0f} MiB "
                         f"dir, {e.backup.archive_mib:.0f} MiB archive): " + _phases(e.backup.phases))
        if e.restore is not None:
            lines.append(f"{e.key}: restore ({e.restore.restored_mib:.0f} MiB dir): " + _phases(e.restore.phases))
        if e.point_in_time is not None:
            p = e.point_in_time
            lines.append(f"{e.key}: archive behind each write: " + ", ".join(f"{s:.1f}" for s in p.rpo_s) + " s; "
                         f"replay of {p.rows} rows ({p.transactions} transactions, {p.binlogs} binary log(s)) "
                         f"{p.replay_s:.2f} s ({p.replay_measured_by}); restore to ready {p.restore.seconds:.2f} s")
        if e.backup_alone:
            mib, seconds = e.backup_alone
            lines.append(f"{e.key}: backup-stream.sh alone, into a pipe: {mib:.0f} MiB in {seconds:.2f} s "
                         f"({mib / seconds:.0f} MiB/s)")
    if results.transport_mib_s:
        lines.append("transport alone: " + ", ".join(f"{k} {v:.0f} MiB/s" for k, v in results.transport_mib_s.items()))
    return "\n".join(lines)
