"""Backups and restores, run for real: the chart's backup CronJob run as a Job (``mysql-backup``,
to the claim ``mysql-backups``, so no network or S3 server is timed), a fresh set restored from
what it wrote, and point-in-time restore: binary logs archived by the ``binlog-archive``
sidecars, how far behind a committed write the archive is, and how fast a restore replays them.

The restored sets are clusters of their own (own network namespaces: the engine's prefix plus
``r``, ``p`` or ``q``) that share only the claims folder with the set they restore, as a
ReadWriteMany volume would be shared.
"""

from __future__ import annotations

import inspect
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from emulator import Cluster, EmulatorError
from emulator.background import BackgroundLoop

from mysql_ha import MySQLBackup, RestoreFrom

from .catchup import insert_rows
from .charts import BACKUP_CLAIM, BACKUP_CRONJOB, CLAIM_TARGET, manifests
from .floors import MIB, level_the_field, tree_bytes
from .results import BackupRun, LargeRun, PointInTime, RestoreRun
from .samplers import KINDS, ProcessSampler, event_time

DEFAULT_ARCHIVE_SECONDS: int = inspect.signature(MySQLBackup.__init__).parameters["binlog_archive_interval_seconds"].default
"""The library's default ``binlog_archive_interval_seconds``."""

# What the backup container (sidecars/backup.sh) runs, by a piece of the command line; the
# first match wins. The copy itself is copy.sh's, as a clone's (samplers.KINDS).
BACKUP_KINDS = (("verify", "--skip-grant-tables"), *KINDS, ("pack", "zstd -q -T0"), ("pack", "gzip -1"),
                ("pack", " -cf - ."), ("checksum", "sha256sum"))
# What restore-mysql (sidecars/restore.sh) runs.
RESTORE_KINDS = (("checksum", "sha256sum"), ("unpack", " -d -c"), ("unpack", " -xf -"), ("replay", "--stop-datetime"),
                 ("server", "--skip-grant-tables"), ("client", "--protocol=SOCKET"))


@dataclass(frozen=True)
class Options:
    archive_seconds: int  # binlog_archive_interval_seconds of the point-in-time set
    rpo_writes: int  # single-row writes whose way to the archive is timed
    rpo_span_s: float  # spread evenly over this long
    replay_rows: int  # rows loaded after the backup, replayed by the restore
    large_mib: float = 0.0  # table data of the large backup and restore (0: none)


def complete_backups(claim: Path) -> list[str]:
    """The backups on the claim that have a manifest, oldest first."""
    folder = claim / "backups"
    return sorted(p.name for p in folder.iterdir() if (p / "manifest").exists()) if folder.exists() else []


def manifest(claim: Path, name: str) -> dict[str, str]:
    lines = (claim / "backups" / name / "manifest").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _span(sampler: ProcessSampler, kind: str) -> tuple[float, float] | None:
    """From the first start to the last end of the processes of ``kind``."""
    spans = sampler.spans(kind)
    return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None


def run_backup(c: Cluster, timeout: float = 1800) -> tuple[str, float, dict[str, float], float | None]:
    """One Job of the CronJob ``mysql-backup``, to its end. Returns the backup's name, the Job's
    seconds (created to complete, from the emulator's events), where they went, and the part
    of the copy that moved the data (CLONE INSTANCE, or the stream and its extraction)."""
    claim = c.claim_dir(BACKUP_CLAIM)
    before = set(complete_backups(claim))
    first_event = len(c.events)
    jobs = []

    def backup_pid() -> int | None:
        pod = jobs[0].pod if jobs else None
        proc = pod.container("backup").proc if pod is not None and not pod.finished else None
        return proc.pid if proc is not None else None

    with ProcessSampler(backup_pid, kinds=BACKUP_KINDS) as sampler:
        job = c.run_job(BACKUP_CRONJOB)
        jobs.append(job)
        succeeded = job.wait(timeout=timeout)
    if not succeeded or job.failures:
        raise EmulatorError(f"the backup job failed ({job.failures} failed pod(s)):\n{job.logs('backup')[-3000:]}\n"
                            f"{job.logs('upload')[-2000:]}")
    new = sorted(set(complete_backups(claim)) - before)
    if len(new) != 1:
        raise EmulatorError(f"the backup job left {new} as new complete backups, expected one")
    events, pod = c.events[first_event:], re.escape(job.pods[-1])
    at = {mark: event_time(events, pattern) for mark, pattern in {
        "created": rf"^create job {re.escape(job.name)} ", "backup": rf"^{pod}/backup started pid",
        "backup done": rf"^{pod}/backup completed$", "upload": rf"^{pod}/upload started pid",
        "upload done": rf"^{pod}/upload exited with 0$", "complete": rf"^job {re.escape(job.name)} complete$"}.items()}
    phases = {"pod start": at["backup"] - at["created"]}
    verify, pack = _span(sampler, "verify"), _span(sampler, "pack")
    if pack:
        phases["copy (as a new replica's)"] = (verify or pack)[0] - at["backup"]
        if verify:
            phases["start the copy for its GTID set"] = pack[0] - verify[0]
        phases["pack (tar | zstd)"] = pack[1] - pack[0]
        phases["checksum + manifest"] = at["backup done"] - pack[1]
    else:
        phases["copy + pack"] = at["backup done"] - at["backup"]
    phases["upload (rclone to the claim)"] = at["upload done"] - at["upload"]
    phases["between containers, job end"] = (at["upload"] - at["backup done"]) + (at["complete"] - at["upload done"])
    clients = [s for s in sampler.spans("client") if not verify or s[0] < verify[0]]
    moving = max(clients, key=lambda s: s[1] - s[0], default=None) or _span(sampler, "extract")
    return new[0], at["complete"] - at["created"], phases, (moving[1] - moving[0]) if moving else None


def backup_largest(bench) -> BackupRun:
    """A backup of ``bench``'s set (a ``emulated.Bench`` holding the largest clone size: the
    primary and the replica that cloned it) to the claim; the replica's files read once before,
    as the floors' are."""
    c = bench.cluster
    source_dir = c.pvc_dir(1) / "mysql"
    level_the_field(source_dir)
    datadir_mib = tree_bytes(c.pvc_dir(0) / "mysql") / MIB
    source_mib = tree_bytes(source_dir) / MIB
    data_mib = sum(p.stat().st_size for p in (c.pvc_dir(0) / "mysql" / "bench").glob("data_*.ibd")) / MIB
    name, seconds, phases, copy_data_s = run_backup(c)
    claim = c.claim_dir(BACKUP_CLAIM)
    about = manifest(claim, name)
    run = BackupRun(name=name, source=about.get("source", "?"), data_mib=data_mib, datadir_mib=datadir_mib,
                    source_datadir_mib=source_mib, archive_mib=int(about["size_bytes"]) / MIB, seconds=seconds,
                    phases=phases, copy_data_s=copy_data_s)
    bench.progress(f"{bench.b.key}: backup {name} of {about.get('source')}: {seconds:.2f} s for the primary's "
                   f"{datadir_mib:.0f} MiB data directory ({run.mib_s:.0f} MiB/s), {run.archive_mib:.0f} MiB archive; "
                   + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items()))
    return run


def restore(manifests_: list[dict], workdir: Path, prefix: str, claims_dir: Path,
            check: Callable[[Cluster], None]) -> tuple[RestoreRun, ProcessSampler, str]:
    """Starts a fresh set from ``manifests_`` (restore_from set) and times it to its pod ready;
    ``check`` then asserts on what it holds. Returns the run, the sampler that watched
    restore-mysql, and that container's log."""
    os.sync()  # no restore pays for the writeback of what came before
    with Cluster(manifests_, workdir, prefix=prefix, claims_dir=claims_dir) as c:
        def restore_pid() -> int | None:
            pod = c.pods.get(0)
            proc = pod.container("restore-mysql").proc if pod is not None else None
            return proc.pid if proc is not None else None

        started = time.monotonic()
        with ProcessSampler(restore_pid, kinds=RESTORE_KINDS) as sampler:
            c.start()
            c.wait_ready(1, timeout=900)
            ready = time.monotonic()
        check(c)
        log = c.logs(0, "restore-mysql")
        at = {mark: event_time(c.events, rf"^{c.set_name}-0/{pattern}") for mark, pattern in {
            "fetch": "restore-fetch started pid", "fetch done": "restore-fetch completed$",
            "restore": "restore-mysql started pid", "restore done": "restore-mysql completed$",
            "server": "mysql started pid"}.items()}
        backup = re.search(r"restoring backup (\S+)", c.logs(0, "restore-fetch"))
        restored_mib = tree_bytes(c.pvc_dir(0) / "mysql") / MIB
    phases = {"network, pod, volumes": at["fetch"] - started,
              "restore-fetch (rclone from the claim)": at["fetch done"] - at["fetch"]}
    inside = {name: span[1] - span[0] for name, span in (("checksum (sha256sum)", _span(sampler, "checksum")),
                                                        ("unpack (zstd -d | tar -x)", _span(sampler, "unpack")),
                                                        ("replay of binary logs", _replay_span(sampler)))
              if span}
    phases.update(inside)
    phases["restore-mysql: its server on the copy, stop"] = (
        at["restore done"] - at["restore"] - sum(inside.values()))
    phases["clone-mysql, init-mysql"] = at["server"] - at["restore done"]
    phases["server start to pod ready"] = ready - at["server"]
    run = RestoreRun(backup=backup.group(1) if backup else "?", seconds=ready - started, phases=phases,
                     restored_mib=restored_mib)
    return run, sampler, log


def _replay_span(sampler: ProcessSampler) -> tuple[float, float] | None:
    """From the binary log reader's start to the end of the client session it feeds (the
    longest-lived client: its statements are applied when it exits)."""
    replay = _span(sampler, "replay")
    if replay is None:
        return None
    session = max((s for s in sampler.spans("client") if s[0] <= replay[0]), key=lambda s: s[1] - s[0], default=None)
    return replay[0], max(replay[1], session[1] if session else replay[1])


def restore_largest(bench, backup: BackupRun) -> RestoreRun:
    """A fresh 1-pod set from ``backup`` (by name), timed to its pod ready; checks it holds every row."""
    objects = manifests(bench.engine, 1, restore_from=RestoreFrom(CLAIM_TARGET, backup=backup.name))
    tables = " UNION ALL ".join(f"SELECT MAX(id) AS m FROM bench.data_{i}" for i in range(1, 5))

    def check(c: Cluster) -> None:
        highest = c.sql(0, f"SELECT MAX(m) FROM ({tables}) AS t")[0][0]
        if int(highest) != bench.rows:
            raise EmulatorError(f"the restore of {backup.name} holds rows up to {highest}, expected {bench.rows}")

    run, _, _ = restore(objects, bench.workdir / "restore", bench.b.prefix + "r",
                        bench.cluster.claims_dir, check)
    bench.progress(f"{bench.b.key}: restore of {backup.name} ({run.restored_mib:.0f} MiB data directory): "
                   f"{run.seconds:.2f} s to ready; " + ", ".join(f"{k} {v:.2f}s" for k, v in run.phases.items()))
    return run


class ArchiveWatch(BackgroundLoop):
    """Reads ``binlogs/<pod>/<series>/archived-until`` on the claim every 0.1 s; remembers when each new
    value (the highest of the pods') was first seen, by the wall clock."""

    interval = 0.1

    def __init__(self, binlogs: Path) -> None:
        super().__init__()
        self.binlogs = binlogs
        self.seen: list[tuple[float, int]] = []

    def step(self) -> None:
        values = []
        for path in self.binlogs.glob("*/*/archived-until"):
            try:
                values.append(int(path.read_text().strip()))
            except (OSError, ValueError):  # being replaced
                continue
        if values and (not self.seen or max(values) > self.seen[-1][1]):
            self.seen.append((time.time(), max(values)))

    def passed(self, moment: float) -> float | None:
        """When the archive was first seen to hold every transaction committed by ``moment``."""
        return next((at for at, until in self.seen if until > moment), None)


def _log_seconds(log: str, pattern: str) -> float | None:
    match = re.search(rf"^(\S+Z) \S+: {pattern}", log, re.MULTILINE)
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() if match else None


def point_in_time(bench, options: Options) -> PointInTime:
    """A 1-pod set whose binary logs are archived every ``options.archive_seconds`` to the claim:
    a backup, then single-row writes spread over ``options.rpo_span_s`` (each timed from its
    commit to ``archived-until`` passing it), then ``options.replay_rows`` rows; once archived,
    a fresh set restored to the second of the last row, its replay timed."""
    b, progress = bench.b, bench.progress
    workdir = bench.workdir / "pitr"
    objects = manifests(bench.engine, 1, backups=True, archive_seconds=options.archive_seconds)
    with Cluster(objects, workdir / "source", prefix=b.prefix + "p", claims_dir=workdir / "claims") as c:
        progress(f"{b.key}: point in time: a set archiving its binary logs every {options.archive_seconds} s ...")
        c.start()
        c.wait_ready(1, timeout=300)
        c.sql(0, "CREATE DATABASE bench; CREATE TABLE bench.rpo (id INT PRIMARY KEY, at DOUBLE NOT NULL); "
                 "CREATE TABLE bench.replay (id INT PRIMARY KEY, payload CHAR(64) NOT NULL)")
        name, _, _, _ = run_backup(c)
        with ArchiveWatch(c.claim_dir(BACKUP_CLAIM) / "binlogs") as watch:
            committed = []
            first = time.monotonic()
            step = options.rpo_span_s / max(options.rpo_writes - 1, 1)
            for i in range(options.rpo_writes):
                time.sleep(max(0.0, first + i * step - time.monotonic()))
                c.sql(0, f"INSERT INTO bench.rpo VALUES ({i}, {time.time()})")
                committed.append(time.time())  # after the commit returned: the RPO is, if anything, overstated
            patience = 3 * options.archive_seconds + 60
            c.wait_for(lambda: watch.passed(committed[-1]) is not None, timeout=patience,
                       what="the archive to pass the last write")
            rpo = [watch.passed(t) - t for t in committed]
            progress(f"{b.key}: archive behind a write: " + ", ".join(f"{s:.1f}" for s in rpo) + " s; "
                     f"loading {options.replay_rows} rows ...")
            transactions = insert_rows(c, "replay", options.replay_rows)
            loaded = time.time()
            c.wait_for(lambda: watch.passed(loaded) is not None, timeout=patience, what="the archive to pass the rows")
    moment = datetime.fromtimestamp(int(loaded), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    objects = manifests(bench.engine, 1, restore_from=RestoreFrom(CLAIM_TARGET, backup=name, point_in_time=moment))

    def check(r: Cluster) -> None:
        counts = r.sql(0, "SELECT (SELECT COUNT(*) FROM bench.replay), (SELECT COUNT(*) FROM bench.rpo)")[0]
        if counts != [str(options.replay_rows), str(options.rpo_writes)]:
            raise EmulatorError(f"the restore to {moment} holds {counts} rows, expected "
                                f"{options.replay_rows} and {options.rpo_writes}")

    run, sampler, log = restore(objects, workdir / "restore", b.prefix + "q", workdir / "claims", check)
    replay = _replay_span(sampler)
    measured_by = "processes"
    if replay is None:  # a replay shorter than one sample: the log's whole seconds
        replay, measured_by = (_log_seconds(log, "replaying"), _log_seconds(log, "restored backup")), "log"
    binlogs = re.search(r"replaying (\d+) binary log", log)
    result = PointInTime(archive_interval_s=options.archive_seconds, write_times=[t - committed[0] for t in committed],
                         rpo_s=rpo, rows=options.replay_rows, transactions=transactions,
                         replay_s=max(replay[1] - replay[0], 0.01), replay_measured_by=measured_by,
                         binlogs=int(binlogs.group(1)) if binlogs else 0, restore=run)
    progress(f"{b.key}: point in time {moment}: replayed {result.rows} rows from {result.binlogs} binary log(s) in "
             f"{result.replay_s:.2f} s ({result.replay_rows_s:.0f} rows/s), restore {run.seconds:.2f} s to ready")
    return result


class SteadyWriter(BackgroundLoop):
    """One row every 20 ms into ``bench.steady`` on the primary; remembers when each was
    acknowledged."""

    interval = 0.02

    def __init__(self, c: Cluster) -> None:
        super().__init__()
        self.c = c
        self.acknowledged: list[tuple[int, float]] = []
        c.sql(0, "CREATE TABLE IF NOT EXISTS bench.steady (id INT PRIMARY KEY, at DOUBLE NOT NULL)")

    def step(self) -> None:
        row = len(self.acknowledged) + 1
        self.c.sql(0, f"INSERT INTO bench.steady VALUES ({row}, {time.time()})")
        self.acknowledged.append((row, time.time()))


def large_backup_and_restore(bench, large_mib: float, floor_mib_s: float) -> LargeRun:
    """The primary's data grown to ``large_mib``, a backup Job under a steady writer, then a
    fresh set restored from it: every row acknowledged before the Job was created is there,
    and each table's CHECKSUM TABLE matches what the backup recorded of its copy."""
    c = bench.cluster
    bench.progress(f"{bench.b.key}: growing the data to {large_mib:.0f} MiB for the large backup ...")
    bench.grow_data(large_mib)
    datadir_mib = tree_bytes(c.pvc_dir(0) / "mysql") / MIB
    with SteadyWriter(c) as writer:
        time.sleep(1)
        before = len(writer.acknowledged)
        name, seconds, phases, copy_data_s = run_backup(c, timeout=3600)
    claim = c.claim_dir(BACKUP_CLAIM)
    about = manifest(claim, name)
    recorded = dict(line.split("\t", 1) for line in (claim / "backups" / name / "checksums").read_text().splitlines()
                    if "\t" in line)
    backup = BackupRun(name=name, source=about.get("source", "?"), data_mib=large_mib, datadir_mib=datadir_mib,
                       source_datadir_mib=datadir_mib, archive_mib=int(about["size_bytes"]) / MIB, seconds=seconds,
                       phases=phases, copy_data_s=copy_data_s)
    objects = manifests(bench.engine, 1, restore_from=RestoreFrom(CLAIM_TARGET, backup=name))
    checked: list[int] = []

    def check(r: Cluster) -> None:
        rows = int(r.sql(0, f"SELECT COUNT(*) FROM bench.steady WHERE id <= {before}")[0][0])
        if rows != before:
            raise EmulatorError(f"the restore of {name} holds {rows} of the {before} rows acknowledged before the backup")
        tables = ", ".join(recorded)
        restored = {row[0]: row[1] for row in r.sql(0, f"CHECKSUM TABLE {tables}")}
        differ = {t for t in recorded if restored.get(t.replace("`", "")) != recorded[t].strip()}
        if differ or not recorded:
            raise EmulatorError(f"the restore of {name}: CHECKSUM TABLE differs from the backup's record for {differ}")
        checked.append(len(recorded))

    run, _, _ = restore(objects, bench.workdir / "restore-large", bench.b.prefix + "l", c.claims_dir, check)
    large = LargeRun(datadir_mib=datadir_mib, backup=backup, restore=run, floor_s=datadir_mib / floor_mib_s,
                     writer_rows=before, tables_checked=checked[0])
    bench.progress(f"{bench.b.key}: large backup {name} of {datadir_mib:.0f} MiB under writes: {seconds:.2f} s; "
                   f"restore {run.seconds:.2f} s (floor {large.floor_s:.2f} s); {before} acknowledged rows and "
                   f"{large.tables_checked} table checksums as recorded")
    return large
