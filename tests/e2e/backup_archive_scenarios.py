"""Backups and the binary log archive on day 2, run for real (``backup_env.py``), after
``backup_scenarios.py`` on the same source cluster: binary logs expired only once archived,
a gap in the archive that no restore crosses, the restore drill, and a lagging replica that
the backup waits for, then reports.

A module names its ``ENGINE`` and imports these after ``backup_scenarios``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backup_env import *  # noqa: F401,F403 - the fixtures and helpers the scenarios use
from backup_env import _start_s3
from backup_scenarios import _point, _target_answers
from mysql_ha import RestoreFrom

pytestmark = pytest.mark.e2e


def test_backup_7_binary_logs_purged_before_they_were_archived_are_a_gap_no_restore_crosses(backups, backup_report):
    source, storage = backups.source, backups.storage
    source.sql(0, "CREATE TABLE bk.t7 (id INT PRIMARY KEY, payload VARCHAR(100))")
    name, _ = backups.backup()
    source.sql(0, "INSERT INTO bk.t7 VALUES (1, SHA2('1', 256))")
    written = time.time()
    source.wait_for(lambda: storage.archived_until() > written, timeout=120, what="the archive to pass the write")
    (old, *_) = storage.series("mysql-0")[-1:]
    # The servers expire no binary log themselves: each pod purges the files archived and
    # past the expiry (made so here by their modification time, which both the server's
    # expiry and the archiver read), on the primary and on a read-only replica alike.
    for ordinal in (0, 1):
        source.sql(ordinal, "FLUSH BINARY LOGS")
    flushed = time.time()
    source.wait_for(lambda: storage.archived_until() > flushed and all(
        _closed_binlogs(source, o) and not _unarchived(source, storage, o) for o in (0, 1)),
        timeout=120, what="every closed binary log archived")
    for ordinal in (0, 1):
        aged = [name for name in _closed_binlogs(source, ordinal) if name not in _unarchived(source, storage, ordinal)]
        _age(source, ordinal, aged)
        source.wait_for(lambda: not set(aged) & set(_binlogs(source, ordinal)), timeout=60,
                        what=f"mysql-{ordinal} to purge its archived binary logs past the expiry")
        assert f"purged the binary logs before {_binlogs(source, ordinal)[0]}" in source.logs(ordinal, "replication")
    # The target goes away (its Service without an endpoint: the archiver's copies fail);
    # meanwhile the primary closes and purges files it never archived.
    source.delete_pod_named("s3")
    source.wait_for(lambda: not _target_answers(source), timeout=60, what="the S3 server to be gone")
    for i in range(2, 5):
        source.sql(0, f"INSERT INTO bk.t7 VALUES ({i}, SHA2('{i}', 256)); FLUSH BINARY LOGS")
    # Past the expiry but not archived: kept, by the server (a rotation runs its expiry,
    # were it on) and by the pod, and the archiver warns.
    unarchived = _unarchived(source, storage, 0)
    assert len(unarchived) >= 3, unarchived
    _age(source, 0, unarchived)
    source.sql(0, "FLUSH BINARY LOGS")
    warning = f"WARNING: {len(unarchived)} closed binary logs of mysql-0"
    try:
        source.wait_for(lambda: warning in source.logs(0, "binlog-archive"), timeout=90,
                        what="the archiver to warn of unarchived files")
    except Exception as error:
        raise AssertionError(f"{error}\n{unarchived}\n{source.logs(0, 'binlog-archive')[-3000:]}") from None
    assert set(unarchived) <= set(_binlogs(source, 0)), "a binary log past the expiry went before it was archived"
    source.wait_for(lambda: _archive_metrics(source)["mysql_ha_binlog_archive_unarchived_expired_files"]
                    == len(unarchived), timeout=30, what="the metric of unarchived files")
    # PURGE leaves a file the server still needs (MariaDB: until its binary log checkpoint
    # moves on), and MariaDB deletes the files after it returns: purge again until only the
    # file being written is left, in the index too.
    index = source.pvc_dir(0) / "mysql" / "mysql-bin.index"

    def purged_all() -> bool:
        source.sql(0, "PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 SECOND")
        return len(source.sql(0, "SHOW BINARY LOGS")) == 1 and len(index.read_text().split()) == 1
    source.wait_for(purged_all, timeout=60, what="every closed binary log purged", interval=1)
    purged = time.time()
    assert not _target_answers(source), "the target came back before the purge"
    frozen = int((old / "archived-until").read_text())
    _start_s3(source, backups.s3_secret)
    source.sql(0, "INSERT INTO bk.t7 VALUES (5, SHA2('5', 256))")
    source.wait_for(lambda: storage.series("mysql-0")[-1] != old and storage.archived_until() > purged,
                    timeout=120, what="a new series past the purge")
    new = storage.series("mysql-0")[-1]
    meta = Storage.meta(new)
    assert meta["cause"] == "purged" and meta["after"] == old.name, meta
    assert int((old / "archived-until").read_text()) == frozen < purged, "the old series moved past the gap"
    log = source.logs(0, "binlog-archive")
    assert f"ERROR: gap in the archive: {meta['missing_files']} of mysql-0 were purged before they were archived" \
        in log, log
    status = source.exec(0, "binlog-archive", ["sh", "/opt/mysql-ha/archive-status.sh"])
    assert status.returncode == 1 and f"GAP: {meta['missing_files']}" in status.stdout, status.stdout + status.stderr
    source.wait_for(lambda: _archive_metrics(source)["mysql_ha_binlog_archive_gap"] == 1, timeout=30,
                    what="the gap metric")
    # A point in time past the gap, from the backup before it: refused, naming what is missing.
    point = _point(storage.archived_until() - 1)
    with backups.restored(RestoreFrom(S3_TARGET, backup=name, point_in_time=point)) as restored:
        restored.wait_for(lambda: "past a gap" in restored.logs(0, "restore-fetch"), timeout=180,
                          what="the restore to refuse a point past the gap")
        message = restored.logs(0, "restore-fetch")
        assert f"the point in time {point} is past a gap in the archived binary logs" in message, message
        assert f"{meta['missing_files']} of mysql-0 were purged before they were archived" in message, message
        missing = re.search(r"were archived \(transactions ([^)]*)\)", message).group(1)
        assert re.fullmatch(r"[0-9a-f-]{36}:\d+(-\d+)?(:\d+(-\d+)?)*|\d+-\d+-\d+\.\.\d+", missing), missing
        assert not (restored.pvc_dir(0) / "mysql").exists()
        assert restored.logs(0, "mysql") == "" and not restored.pod(0).ready
    # A new backup after the gap makes the archive whole again for the latest times.
    backups.backup()
    status = source.exec(0, "binlog-archive", ["sh", "/opt/mysql-ha/archive-status.sh"])
    assert status.returncode == 0, status.stdout
    backup_report("scenario 7 (gap)", f"{meta['missing_files']} purged before archived: new series {new.name}, "
                                      f"old series frozen, a restore past it refused (missing {missing}), "
                                      "archive-status exits 1 until the next backup")


def _archive_metrics(source, ordinal: int = 0) -> dict[str, float]:
    """The archiver's metrics file, as the archive-metrics container serves it."""
    text = source.exec(ordinal, "binlog-archive", ["cat", "/tmp/binlog-archive-metrics/metrics.txt"]).stdout
    return {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples}


def _binlogs(source, ordinal: int) -> list[str]:
    return [row[0] for row in source.sql(ordinal, "SHOW BINARY LOGS")]


def _closed_binlogs(source, ordinal: int) -> list[str]:
    return _binlogs(source, ordinal)[:-1]


def _age(source, ordinal: int, names: list[str], days: int = 90) -> None:
    """Makes binary logs look ``days`` old (older than any expiry the set has)."""
    then = time.time() - days * 86400
    for name in names:
        os.utime(source.pvc_dir(ordinal) / "mysql" / name, (then, then))


def _unarchived(source, storage, ordinal: int) -> list[str]:
    """The closed binary logs of pod N that its newest series has not taken (retention may
    have deleted files it took: its archived-gtids names the file after the last one copied)."""
    newest = storage.series(f"mysql-{ordinal}")[-1]
    first = int(newest.name.rsplit("-", 1)[1])
    marker = newest / "archived-gtids"
    upto = int(marker.read_text().split()[0].rsplit(".", 1)[1]) if marker.exists() else first
    return [name for name in _closed_binlogs(source, ordinal) if not first <= int(name.rsplit(".", 1)[1]) < upto]


def _drill(backups):
    """Runs the restore drill once: its Job, and whether it succeeded."""
    job = backups.source.run_job("mysql-backup-drill")
    return job, job.wait(timeout=300)


def test_backup_8_a_restore_drill_restores_checks_reports_and_fails_on_a_corrupt_backup(backups, backup_report):
    source, storage = backups.source, backups.storage
    source.sql(0, "CREATE TABLE bk.t8 (id INT PRIMARY KEY, payload VARCHAR(100)); "
                  "INSERT INTO bk.t8 SELECT id, payload FROM bk.t1")
    newest, _ = backups.backup()
    manifest = Storage.manifest(storage.s3, newest)
    recorded = (storage.s3 / "backups" / newest / "checksums").read_text().splitlines()
    assert any(line.startswith("bk.t8\t") for line in recorded), recorded
    source.sql(0, "INSERT INTO bk.t8 VALUES (900000001, 'after the backup')")
    written = time.time()
    source.wait_for(lambda: storage.archived_until() > written, timeout=60, what="the archive to pass the write")

    started = time.monotonic()
    job, ok = _drill(backups)
    took = time.monotonic() - started
    restore_log = job.logs("restore-mysql")
    assert ok, job.logs("restore-fetch") + restore_log + job.logs("report")
    reports = sorted((storage.s3 / "drills").glob("*/report"))
    report = dict(line.split("=", 1) for line in reports[-1].read_text().splitlines() if "=" in line)
    assert report["backup"] == newest and report["result"] == "restored", report
    assert int(report["tables_checked"]) == len(recorded), (report, recorded)
    assert f"{len(recorded)} tables of backup {newest} match the checksums it recorded" in restore_log, restore_log
    # As far as the archive reaches: past the write made after the backup.
    reached = datetime.strptime(report["point_in_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert reached.timestamp() >= int(written), report
    assert report["gtid"] and report["gtid"] != manifest["gtid"], "nothing after the backup was replayed"
    assert "restore drill" in job.logs("report")
    status = source.exec(0, "binlog-archive", ["sh", "/opt/mysql-ha/archive-status.sh"])
    assert f"last restore drill\t{reports[-1].parent.name}\tbackup={newest}" in status.stdout, status.stdout

    # A backup whose recorded checksums do not match its data, then one with flipped bytes:
    # each drill fails (a failed Job, not retried), and reports nothing.
    checksums = storage.s3 / "backups" / newest / "checksums"
    original = checksums.read_text()
    checksums.write_text(original.replace("bk.t8\t", "bk.t8\t1", 1))
    try:
        job, ok = _drill(backups)
        assert not ok and job.failures == 1, job.logs("restore-mysql")
        assert "table bk.t8 restores with the checksum" in job.logs("restore-mysql"), job.logs("restore-mysql")
    finally:
        checksums.write_text(original)
    data = max((storage.s3 / "backups" / newest / "data").rglob("*.zst"), key=lambda p: p.stat().st_size)
    original_data = data.read_bytes()
    flipped = bytearray(original_data)
    flipped[len(flipped) // 2] ^= 0xFF
    data.write_bytes(bytes(flipped))
    try:
        job, ok = _drill(backups)
        assert not ok and f"backup {newest} is corrupt" in job.logs("restore-mysql"), job.logs("restore-mysql")
    finally:
        data.write_bytes(original_data)
    assert sorted((storage.s3 / "drills").glob("*/report")) == reports, "a failed drill left a report"
    backup_report("scenario 8 (restore drill)",
                  f"backup {newest} restored to {report['point_in_time']} in {took:.1f} s (fetch "
                  f"{report['fetch_seconds']} s, restore {report['restore_seconds']} s), {report['tables_checked']} "
                  "tables matched their recorded checksums; a mismatched checksum and a corrupt file each failed "
                  "the drill")


def test_backup_9_a_lagging_replica_is_waited_for_then_the_primary_is_copied_and_the_run_says_so(
        backups, backup_report):
    """The replica's applier is held (a read lock on it, as a long report could): the run
    waits for it (replica_wait_seconds, 5 s here), then copies the primary, with a WARNING
    naming the replica and why, in its log and in the manifest."""
    source, storage = backups.source, backups.storage
    def hold() -> None:
        try:
            source.sql(1, "FLUSH TABLES WITH READ LOCK; DO SLEEP(300)", check=False, timeout=330)
        except Exception:  # killed below: its client reports the lost connection
            pass
    lock = threading.Thread(target=hold, daemon=True)
    lock.start()
    try:
        source.wait_for(lambda: any("SLEEP(300)" in " ".join(row) for row in source.sql(1, "SHOW PROCESSLIST")),
                        timeout=30, what="the read lock on the replica")
        source.sql(0, "CREATE TABLE bk.t9 (id INT PRIMARY KEY); INSERT INTO bk.t9 VALUES (1)")
        name, seconds, job = backups.backup_job("mysql-backup-pvc")
    finally:
        for row in source.sql(1, "SHOW PROCESSLIST"):
            if "SLEEP(300)" in " ".join(row):
                source.sql(1, f"KILL {row[0]}", check=False)
        lock.join(timeout=60)
    manifest = Storage.manifest(storage.claim, name)
    assert manifest["source"] == "mysql-0.mysql" and manifest["source_role"] == "primary", manifest
    reason = manifest.get("source_fallback", "")
    assert reason.startswith("no replica was ready within 5 s (mysql-1.mysql ") and (
        "has not applied the primary's transactions" in reason or " lags " in reason), manifest
    log = job.logs("backup")
    assert f"WARNING: {reason}: backing up the declared primary mysql-0.mysql" in log, log
    assert seconds > 5, "the run did not wait for the replica"
    source.wait_for(lambda: source.sql(1, "SELECT COUNT(*) FROM bk.t9") == [["1"]], timeout=60,
                    what="the replica to catch up once the lock is gone")
    backup_report("scenario 9 (lagging replica)", f"the run waited 5 s, then copied the primary ({seconds:.1f} s "
                                                  f"in all): {reason}")
