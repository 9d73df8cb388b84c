"""The backups section of docs/performance.md: the backup Job against the copy floor, the restore
from it, and point-in-time restore (how far the archive trails a write, how fast a restore replays)."""

from __future__ import annotations

from mysql_ha._backup_pods import ARCHIVE_POLL_SECONDS

from .docs_engines import NAMES
from .report import TARGETS, Results, met
from .results import EngineResult

COPIES = {
    "clone-plugin": (
        "The copy is made as a new replica's (`copy_with_plugin` in sidecars/copy.sh): a throwaway server "
        "initialized and started in the Job's pod runs `CLONE INSTANCE` from the replica. CLONE reports no GTID "
        "set, so sidecars/backup.sh then starts a server on the copy to read it (\"start the copy for its GTID "
        "set\"), which also proves that the copy starts."
    ),
    "backup-stream": (
        "The copy is made as a new replica's (`copy_from_stream` in sidecars/copy.sh): the replica's sidecar "
        "streams a hot backup over port 3307, the Job's pod extracts it with `mbstream` and prepares it; the "
        "GTID position comes from the backup's own files, so no server is started on the copy."
    ),
}


def _verdict(key: str, engine_key: str, value: float) -> str:
    op, target = TARGETS[key]
    sign = {"<=": "≤", ">=": "≥", "<": "<"}[op]
    return f"`{key}_{engine_key}` = {value:.2f}: the target ({sign} {target:g}) is " + (
        "met." if met(key, value) else "**missed**.")


def _largest(phases: dict[str, float], total: float, count: int = 3) -> str:
    top = sorted(phases.items(), key=lambda item: -item[1])[:count]
    return "; ".join(f"{name} {seconds:.2f} s ({seconds / total * 100:.0f} %)" for name, seconds in top)


def _seconds(value: float) -> str:
    # A process seen in one sample only ran for less than the sampling interval.
    return f"{value:.2f} s" if value >= 0.02 else "< 0.02 s"


def _phase_rows(engines: list[EngineResult], phases_of) -> list[str]:
    """A row per phase (``|`` escaped for the table), a column per engine; "–" where an engine has no such phase."""
    names = list(dict.fromkeys(name for e in engines for name in phases_of(e)))
    return [f"| {name.replace('|', chr(92) + '|')} | "
            + " | ".join(_seconds(phases_of(e)[name]) if name in phases_of(e) else "–" for e in engines) + " |"
            for name in names]


def _header(engines: list[EngineResult]) -> list[str]:
    return ["| | " + " | ".join(NAMES.get(e.key, e.key) for e in engines) + " |", "|---" * (1 + len(engines)) + "|"]


def _backup_part(engines: list[EngineResult]) -> list[str]:
    lines = [
        "### The backup Job", "",
        "`backup_mib_s` = the primary's data directory (MiB, what the copy floors copy) / the seconds of one run",
        "of the backup Job, from its creation (`kubectl create job --from=cronjob/mysql-backup`) to its",
        "completion, from the emulator's events. It runs right after the clones at the largest size, on the set",
        "that holds them: the primary and the replica that cloned it last, which the Job chooses as its source.",
        "The chart carries `MySQLBackup(target=BackupTarget.volume_claim(\"mysql-backups\"),",
        "binlog_archive_interval_seconds=None)`, which leaves the pods as they are, so the Job writes to a",
        "claim: a folder on the same file system, with no network or S3 server to time. The replica's files are",
        "read once before it, as the floors' are. `backup_ratio` = `backup_mib_s` / the MiB/s of the faster",
        "floor of the headline clone (the same as the floor's seconds / the Job's seconds). Phases: the",
        "emulator's container events, and the processes of the `backup` container (sampled every 20 ms):",
        "the server started on the copy, `tar | zstd`, `sha256sum`.", "",
        *_header(engines),
        "| source | " + " | ".join(e.backup.source for e in engines) + " |",
        "| primary's data directory / source's | " + " | ".join(
            f"{e.backup.datadir_mib:.0f} MiB / {e.backup.source_datadir_mib:.0f} MiB" for e in engines) + " |",
        "| archive (data.tar.zst) | " + " | ".join(
            f"{e.backup.archive_mib:.1f} MiB ({e.backup.source_datadir_mib / e.backup.archive_mib:.0f}:1)"
            for e in engines) + " |",
        "| **the Job, created to complete** | " + " | ".join(
            f"**{e.backup.seconds:.2f} s**, {e.backup.mib_s:.0f} MiB/s" for e in engines) + " |",
        "| faster floor of the headline clone | " + " | ".join(
            f"{e.headline.floor_s:.2f} s, {e.headline.floor_mib_s:.0f} MiB/s" for e in engines) + " |",
        "| **backup_ratio** | " + " | ".join(f"**{e.backup_ratio:.2f}**" for e in engines) + " |",
        *_phase_rows(engines, lambda e: e.backup.phases),
        "| of the copy: the data moving (CLONE INSTANCE / stream + extract) | " + " | ".join(
            f"{e.backup.copy_data_s:.2f} s" if e.backup.copy_data_s else "n/a" for e in engines) + " |",
        "",
    ]
    for e in engines:
        b = e.backup
        text = (f"**{NAMES.get(e.key, e.key)}.** {_verdict('backup_ratio', e.key, e.backup_ratio)} "
                f"**What limits it:** {_largest(b.phases, b.seconds)}. {COPIES[e.clone_method]}")
        if b.copy_data_s:
            text += (f" The data itself moved in {b.copy_data_s:.2f} s ({b.datadir_mib / b.copy_data_s:.0f} MiB/s of "
                     f"the primary's data directory, {e.headline.floor_s / b.copy_data_s:.2f} of the floor's rate): "
                     f"the other {b.seconds - b.copy_data_s:.2f} s are what a backup adds around it.")
        lines += [text, ""]
    lines += [
        "The archives are small because the benchmark's data compresses well: each row repeats one SHA-256",
        "digest fifteen times, and most of the rest of a data directory (system and undo tablespaces, redo",
        "log) is empty pages. Real data compresses less: packing, the checksum and the upload grow with the",
        "archive, the copy does not.", "",
    ]
    return lines


def _restore_part(engines: list[EngineResult]) -> list[str]:
    lines = [
        "### Restore from that backup", "",
        "`restore_512mib_s` = seconds from `Cluster.start()` of a fresh 1-pod set, made with",
        "`restore_from=RestoreFrom(BackupTarget.volume_claim(\"mysql-backups\"), backup=<that backup>)`, to its",
        "pod being ready (the server's and the replication sidecar's readiness probes). The set has its own",
        "network namespaces and data; it shares only the claims folder with the source, as a ReadWriteMany",
        "volume would be shared. Written data is synced first. Afterwards the benchmark checks that it holds",
        "every row of the source. Phases: the emulator's events, and the processes of `restore-mysql`.", "",
        *_header(engines),
        "| data directory restored | " + " | ".join(f"{e.restore.restored_mib:.0f} MiB" for e in engines) + " |",
        "| **to ready** | " + " | ".join(f"**{e.restore.seconds:.2f} s**" for e in engines) + " |",
        *_phase_rows(engines, lambda e: e.restore.phases),
        "",
    ]
    for e in engines:
        r = e.restore
        moving = sum(v for k, v in r.phases.items() if k.startswith(("restore-fetch", "checksum", "unpack")))
        lines += [f"**{NAMES.get(e.key, e.key)}.** {_verdict('restore_512mib_s', e.key, r.seconds)} "
                  f"Where the time goes: {_largest(r.phases, r.seconds)}. Moving the data (fetch, checksum, "
                  f"unpack) took {moving:.2f} s, {moving / r.seconds * 100:.0f} %; the rest is starting servers "
                  "(one on the copy, to clear the source's replication settings; "
                  "then the pod's own), the init containers between, and the probes that wait for them.", ""]
    return lines


def _pitr_part(engines: list[EngineResult], results: Results) -> list[str]:
    p0 = engines[0].point_in_time
    spread = p0.write_times[-1]
    default = "the library's default" if p0.archive_interval_s == 30 else "not the library's default of 30 s"
    lines = [
        "### Point-in-time restore", "",
        "A 1-pod set of its own with `MySQLBackup(..., binlog_archive_interval_seconds="
        f"{p0.archive_interval_s})` ({default}) to the same kind of claim: a backup, then {len(p0.rpo_s)} single-row",
        f"autocommit INSERTs spread evenly over {spread:.0f} s. `pitr_rpo_s` is, of these writes, the longest time",
        "from the moment the INSERT returned (after its commit) to the moment the benchmark, reading",
        "`binlogs/*/*/archived-until` on the claim every 0.1 s, first saw a value past it: from then on a restore",
        "can reach that write. Then rows are written as in the catch-up (transactions of 100 rows, `INSERT ...",
        "VALUES`); once the archive passes them, a fresh 1-pod set restores that backup to the second of the",
        "last row, `RestoreFrom(target, backup=<that backup>, point_in_time=...)`, and is checked to hold",
        "exactly those rows. `pitr_replay_rows_s` = the rows / the replay's seconds: from the start of the",
        "binary log reader (`mysqlbinlog`, `mariadb-binlog`) to the end of the one client session it feeds,",
        "both seen among the processes of `restore-mysql` (sampled every 20 ms).", "",
        *_header(engines),
        "| archive behind each write | " + " | ".join(", ".join(f"{s:.1f}" for s in e.point_in_time.rpo_s) + " s"
                                                    for e in engines) + " |",
        "| **pitr_rpo_s** (max), median | " + " | ".join(
            f"**{e.point_in_time.rpo_max_s:.1f} s**, {e.point_in_time.rpo_median_s:.1f} s" for e in engines) + " |",
        "| rows replayed (transactions, binary logs) | " + " | ".join(
            f"{e.point_in_time.rows:,} ({e.point_in_time.transactions:,}, {e.point_in_time.binlogs})"
            for e in engines) + " |",
        "| replay | " + " | ".join(f"{e.point_in_time.replay_s:.2f} s" + (
            "" if e.point_in_time.replay_measured_by == "processes" else " (from the log's whole seconds)")
            for e in engines) + " |",
        "| **pitr_replay_rows_s** | " + " | ".join(f"**{e.point_in_time.replay_rows_s:,.0f}**" for e in engines) + " |",
        "| a replica's catch-up on the same kind of rows (above) | " + " | ".join(
            f"{e.catch_up.rows_s:,.0f} rows/s" for e in engines) + " |",
        "| the restore to that point, to ready | " + " | ".join(
            f"{e.point_in_time.restore.seconds:.2f} s" for e in engines) + " |",
        "",
    ]
    bound = p0.archive_interval_s + ARCHIVE_POLL_SECONDS
    verdicts = " ".join(_verdict("pitr_rpo_s", e.key, e.point_in_time.rpo_max_s) for e in engines)
    lines += [
        f"{verdicts} **What limits it:** the interval. A write waits for the declared primary's next mark",
        f"(every {p0.archive_interval_s} s, checked by the replication sidecar's loop every second: how much of the",
        "file being written holds every commit), then for the archiver's next round (every "
        f"{ARCHIVE_POLL_SECONDS} s) to upload",
        f"that beginning and publish `archived-until`: at most about {bound} s plus a second or two (that loop,",
        "the whole seconds of `archived-until`, the upload); the spread of the values is the writes' places",
        "in that cycle. The file itself closes every `binlog_rotate_seconds` (300): each upload is at most",
        "that long's worth of binary log.", "",
        "**How the replay runs:** restore.sh pipes the binary log reader into one `mysql`/`mariadb` client",
        "session against a server on the restored copy, so the transactions are applied one after another,",
        "each committed in turn, where a replica's applier may apply them on several threads. Against a",
        "replica's catch-up on the same kind of rows, the replay ran "
        + ", ".join(f"{e.point_in_time.replay_rows_s / e.catch_up.rows_s:.2f} times as fast ({NAMES.get(e.key, e.key)})"
                    for e in engines)
        + "; its share of the whole restore to that point: "
        + ", ".join(f"{e.point_in_time.replay_s:.2f} s of {e.point_in_time.restore.seconds:.2f} s "
                    f"({NAMES.get(e.key, e.key)})" for e in engines) + ".", "",
    ]
    return lines


def backup_section(results: Results) -> list[str]:
    engines = [e for e in results.engines.values() if e.backup is not None and e.restore is not None
               and e.point_in_time is not None]
    if not engines:
        return []
    return ["## Backups and restore", "", *_backup_part(engines), *_restore_part(engines),
            *_pitr_part(engines, results)]
