"""Backups and point-in-time restore, run for real: the chart's backup CronJobs run as Jobs
and every restore starts a fresh cluster (the source, its targets and the writer are in
``backup_env.py``).

A module names its ``ENGINE`` and imports these; the scenarios run in order on one source
cluster.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from backup_env import *  # noqa: F401,F403 - the fixtures and helpers the scenarios use
from emulator import Cluster
from mysql_ha import RestoreFrom

pytestmark = pytest.mark.e2e


def test_backup_1_under_writes_restores_into_a_fresh_cluster(backups, backup_report):
    source = backups.source
    with StampedWriter(source, "bk.t1") as writer:
        time.sleep(2)
        job_started = time.time()
        name, seconds = backups.backup("mysql-backup-pvc")
        time.sleep(1)
    manifest = Storage.manifest(backups.storage.claim, name)
    assert manifest["source"] == "mysql-1.mysql" and manifest["source_role"] == "replica", manifest
    assert manifest["engine"] == backups.engine.name and manifest["format"] == "zstd-files"
    assert manifest["gtid"] and len(manifest["sha256"]) == 64 and int(manifest["size_bytes"]) > 0
    acknowledged_before = {row[0] for row in writer.rows if row[2] < job_started}
    assert acknowledged_before, "the writer got nothing in before the backup"
    # The server expires no binary log itself, whatever the option files say (the mariadb
    # image's 50-server.cnf has expire_logs_days = 10): the pods purge what is archived.
    if backups.engine.binlog_keep_option.startswith("--binlog-expire-logs-auto-purge"):
        assert source.sql(0, "SELECT @@GLOBAL.binlog_expire_logs_auto_purge") == [["0"]]
    else:
        assert source.sql(0, "SELECT @@GLOBAL.binlog_expire_logs_seconds") == [["0"]]

    started = time.monotonic()
    with backups.restored(RestoreFrom(CLAIM_TARGET, backup=name), replicas=2,
                          root_password="Other-root-" + secrets.token_urlsafe(8)) as restored:
        restored.wait_ready(2, timeout=300)
        took = time.monotonic() - started
        rows = ids(restored, "bk.t1")
        # A prefix of what the writer wrote: every row acknowledged before the backup began,
        # nothing it never wrote, no hole.
        assert acknowledged_before <= rows
        assert rows == set(range(1, max(rows) + 1))
        assert max(rows) <= max(row[0] for row in writer.rows)
        # The same table as the source at the backup's position.
        source.sql(0, f"CREATE TABLE bk.t1_at LIKE bk.t1; INSERT INTO bk.t1_at SELECT * FROM bk.t1 "
                      f"WHERE id <= {max(rows)}")
        assert checksum(restored, "bk.t1") == checksum(source, "bk.t1_at")
        restored.wait_for(lambda: ids(restored, "bk.t1", 1) == rows, timeout=60, what="the replica to clone")
        assert checksum(restored, "bk.t1", 1) == checksum(source, "bk.t1_at")
        # The restored primary takes writes; the new Secret's root password works.
        restored.sql(0, "INSERT INTO bk.t1 (id, payload) VALUES (100000000, 'after restore')")
        assert "restored backup" in restored.logs(0, "restore-mysql")
    backup_report("scenario 1 (backup under writes, restore)",
                  f"backup {seconds:.1f} s ({int(manifest['size_bytes'])} bytes, {manifest['format']}), restore of "
                  f"2 pods {took:.1f} s, {len(rows)} rows checked, archived binary logs purged after "
                  f"{backups.engine.default_binlog_expiry_seconds} s (the server's own expiry off)")


def _reseed_replica(backups) -> None:
    """The runbook's re-seed of mysql-1 (its claim and pod deleted: the new pod clones), then
    a closed binary log, so that its new data directory's series reaches the archive."""
    source = backups.source
    series = len(backups.storage.series("mysql-1"))
    source.delete_pod(1, delete_claims=True)
    source.wait_ready(2, timeout=240)
    source.wait_for(lambda: _flushed(source, 1) and len(backups.storage.series("mysql-1")) > series
                    and _holds_files(backups.storage.series("mysql-1")[-1]),
                    timeout=120, what="the re-seeded replica's new series in the archive", interval=3)


def _holds_files(series: Path) -> bool:
    return any(".partial" not in p.name for p in series.glob("mysql-bin.*"))


def _flushed(cluster: Cluster, ordinal: int) -> bool:
    try:
        cluster.sql(ordinal, "FLUSH BINARY LOGS")
    except Exception:  # noqa: BLE001 - the server is still starting
        return False
    return True


def _target_answers(cluster: Cluster) -> bool:
    """The archiver of mysql-0 reaches the target (rclone lists it)."""
    listed = cluster.exec(0, "binlog-archive", ["sh", "-c", '. /opt/mysql-ha/target.sh && load_target_credentials && '
                                                          'rclone lsf --low-level-retries 1 --retries 1 '
                                                          '--contimeout 2s "$MYSQL_HA_BACKUP_LOCATION"'])
    return listed.returncode == 0


def _point(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _restore_to(backups, point: int, writer: StampedWriter, table: str) -> tuple[set[int], float, str]:
    """A fresh cluster restored to the second ``point``: its rows of ``table`` (each row's
    payload checked), the restore's seconds and the logs of restore-fetch and restore-mysql."""
    started = time.monotonic()
    with backups.restored(RestoreFrom(S3_TARGET, point_in_time=_point(point))) as restored:
        restored.wait_ready(1, timeout=300)
        took = time.monotonic() - started
        rows = ids(restored, table)
        assert {i for i, _, acked in writer.rows if acked < point} <= rows
        assert rows <= {i for i, begun in writer.first_try.items() if begun < point + 1}
        assert rows == set(range(1, max(rows) + 1)), "a hole in the restored rows"
        wrong = restored.sql(0, f"SELECT COUNT(*) FROM {table} WHERE payload <> SHA2(id, 256)")[0][0]
        assert int(wrong) == 0, f"{wrong} rows of {table} differ from what the writer wrote"
        return rows, took, restored.logs(0, "restore-fetch") + restored.logs(0, "restore-mysql")


def test_backup_2_point_in_time_brings_back_a_dropped_table(backups, backup_report):
    """Between the point in time and the drop, the replica is re-seeded twice: its archive
    holds a series per data directory and keeps every file archived before; a restore to a
    point after the second re-seed is right too."""
    source = backups.source
    source.sql(0, "CREATE TABLE bk.t2 (id INT PRIMARY KEY, payload VARCHAR(100))")
    source.wait_for(lambda: _flushed(source, 1) and backups.storage.series("mysql-1")
                    and _holds_files(backups.storage.series("mysql-1")[-1]), timeout=60,
                    what="the replica's first series", interval=3)
    with StampedWriter(source, "bk.t2") as writer:
        backups.backup()
        time.sleep(5)
        moment = int(time.time())
        time.sleep(2)
        archived = backups.storage.archived_files("mysql-1")
        for _ in range(2):
            _reseed_replica(backups)
            now = backups.storage.archived_files("mysql-1")
            assert archived.items() <= now.items(), "an archived binary log was overwritten or deleted"
            archived = now
        later_moment = int(time.time())
        time.sleep(max(3.0, moment + 60 - time.time()))
        with StampedWriter(source, "bk.t3", start=1) as later:
            source.sql(0, "CREATE TABLE bk.t3 (id INT PRIMARY KEY, payload VARCHAR(100))")
            writer.stop()
            source.sql(0, "DROP TABLE bk.t2")
            dropped = time.time()
            time.sleep(3)
    assert later.rows, "nothing was written after the drop"
    series = backups.storage.series("mysql-1")
    causes = [Storage.meta(each)["cause"] for each in series]
    assert len(series) >= 3 and causes[-2:] == ["new-data-directory"] * 2, causes
    # How far behind the archive is: until it holds every transaction up to the drop.
    backups.source.wait_for(lambda: backups.storage.archived_until() > dropped, timeout=120,
                            what="the archive to pass the drop")
    rpo = time.time() - dropped
    rows, took, log = _restore_to(backups, moment, writer, "bk.t2")
    assert "replaying" in log, log
    # MySQL's image has no mysqlbinlog: the server's SQL thread replays the logs.
    assert ("the replay ends SQL_BEFORE_GTIDS" in log) == (backups.engine.binlog_replay == "applier"), log
    later_rows, later_took, later_log = _restore_to(backups, later_moment, writer, "bk.t2")
    assert len(later_rows) > len(rows)
    # Continuous archiving: a restore to a recent second replays the beginning of the file
    # that was being written, unless the file closed (every ROTATE_SECONDS) in between.
    beginnings = sum("was being written" in each for each in (log, later_log))
    backup_report("scenario 2 (point in time)",
                  f"restored to {_point(moment)} ({backups.engine.binlog_replay} replay): {len(rows)} rows of the "
                  f"dropped table back, restore {took:.1f} s, archive caught up with the drop after {rpo:.1f} s; "
                  f"mysql-1 re-seeded twice: {len(series)} series, none overwritten; restored to "
                  f"{_point(later_moment)}, after the second re-seed: {len(later_rows)} rows ({later_took:.1f} s); "
                  f"{beginnings} of the 2 restores replayed the beginning of a file being written")


def test_backup_3_retention_keeps_the_newest(backups, backup_report):
    runs = [backups.backup_job() for _ in range(KEEP + 2)]
    names = [name for name, _, _ in runs]
    assert Storage.complete(backups.storage.s3) == names[-KEEP:]
    assert Storage.all(backups.storage.s3) == names[-KEEP:], "an unfinished or expired backup is left"
    # The README's runbook: the upload's last line lists what is kept; rclone lists the
    # complete backups (a folder with a manifest) and how far the binary logs reach.
    last = runs[-1][2].logs("upload").strip().splitlines()[-1]
    assert "backup-upload.sh: kept: " in last and last.split("kept: ")[1].split() == names[-KEEP:], last
    # (rclone lists in the backend's order, a local folder's in directory order: the
    # runbook sorts.)
    target = (f":s3,provider=Other,endpoint='http://s3:9000',access_key_id={S3_ID},"
              f"secret_access_key={backups.s3_secret}:{BUCKET}/{S3_PREFIX}")
    s3 = backups.source.standalone["s3"]
    listed = s3.exec("s3", ["sh", "-c", "rclone --config /dev/null lsf -R --files-only --include '/*/manifest' "
                                        f"\"{target}/backups\" | sort"])
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [f"{name}/manifest" for name in names[-KEEP:]]
    # The runbook's archive status: every series, and each kept backup's restorable point.
    status = backups.source.exec(0, "binlog-archive", ["sh", "/opt/mysql-ha/archive-status.sh"])
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split("\t") == ["series", "created", "archived_until", "files", "follows"], lines
    reach = {line.split("\t")[0]: line.split("\t")[2] for line in lines if line.split("\t")[0] in names}
    assert sorted(reach) == names[-KEEP:], lines
    # Each copied the replica (the run says which pod it copied, and why it was the primary).
    assert "backup\tstarted\trestorable_until\tcopied" in lines, lines
    assert all(line.split("\t")[3] == "mysql-1.mysql (replica)" for line in lines if line.split("\t")[0] in names)
    for value in reach.values():
        restorable = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        assert restorable > time.time() - 120, lines
    backup_report("scenario 3 (retention)", f"{KEEP + 2} runs, kept {Storage.complete(backups.storage.s3)}")


def test_backup_4_killed_midway_leaves_nothing_to_restore(backups, backup_report):
    before = Storage.complete(backups.storage.s3)
    job = backups.source.run_job("mysql-backup")
    job.wait_running("upload", timeout=240)
    job.kill()
    partial = [n for n in Storage.all(backups.storage.s3) if n not in Storage.complete(backups.storage.s3)]
    # The Job's next pod (backoffLimit) makes a backup of its own and clears what the killed one left.
    assert job.wait(timeout=240), job.logs("upload")
    assert job.failures >= 1
    after = Storage.complete(backups.storage.s3)
    assert len(after) == KEEP and after[-1] not in before and after[-1] not in partial
    assert Storage.all(backups.storage.s3) == after, "the killed run's upload was not cleared"
    backup_report("scenario 4 (killed midway)", f"unfinished at the kill: {partial or 'none'}, then {after}")


def test_backup_5_corrupt_backup_and_a_time_past_the_archive_are_refused(backups, backup_report):
    newest = Storage.complete(backups.storage.s3)[-1]
    # The largest file of the backup (a tablespace), as a disk or an object store would damage it.
    data = max((backups.storage.s3 / "backups" / newest / "data").rglob("*.zst"), key=lambda p: p.stat().st_size)
    original = data.read_bytes()
    flipped = bytearray(original)
    for offset in (len(flipped) // 3, len(flipped) // 2):
        flipped[offset] ^= 0xFF
    data.write_bytes(bytes(flipped))
    try:
        with backups.restored(RestoreFrom(S3_TARGET, backup=newest)) as restored:
            restored.wait_for(lambda: "is corrupt" in restored.logs(0, "restore-mysql"), timeout=180,
                              what="the restore to refuse the corrupt backup")
            corrupt = restored.logs(0, "restore-mysql")
            assert f"backup {newest} is corrupt" in corrupt
            assert not (restored.pvc_dir(0) / "mysql").exists()
            assert restored.logs(0, "mysql") == "" and not restored.pod(0).ready
    finally:
        data.write_bytes(original)
    future = datetime.fromtimestamp(time.time() + 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with backups.restored(RestoreFrom(S3_TARGET, point_in_time=future)) as restored:
        restored.wait_for(lambda: "after the last archived binary log" in restored.logs(0, "restore-fetch"),
                          timeout=180, what="the restore to refuse a time past the archive")
        message = restored.logs(0, "restore-fetch")
        assert f"the point in time {future} is after the last archived binary log" in message
        assert newest in message and "binary logs up to" in message
        assert not (restored.pvc_dir(0) / "mysql").exists()
        assert restored.logs(0, "mysql") == "" and not restored.pod(0).ready
    backup_report("scenario 5 (refusals)", "corrupt backup and a time past the archive refused, nothing started")


def test_backup_6_same_backup_to_the_claim_and_to_s3_restores_from_s3(backups, backup_report):
    source = backups.source
    source.sql(0, "CREATE TABLE bk.t6 (id INT PRIMARY KEY, payload VARCHAR(100)); "
                  "INSERT INTO bk.t6 SELECT id, payload FROM bk.t1")
    time.sleep(1)
    on_claim, _ = backups.backup("mysql-backup-pvc")
    on_s3, seconds = backups.backup("mysql-backup")
    claim_manifest = Storage.manifest(backups.storage.claim, on_claim)
    s3_manifest = Storage.manifest(backups.storage.s3, on_s3)
    # Nothing was written in between: the same data, at the same GTID set, on both targets.
    assert claim_manifest["gtid"] == s3_manifest["gtid"]
    with backups.restored(RestoreFrom(S3_TARGET), replicas=2) as restored:
        restored.wait_ready(2, timeout=300)
        for table in ("bk.t1", "bk.t6"):
            assert checksum(restored, table) == checksum(source, table)
            assert checksum(restored, table, 1) == checksum(source, table)
        assert f"restoring backup {on_s3}" in restored.logs(0, "restore-fetch")
    backup_report("scenario 6 (claim and S3)", f"{on_claim} on the claim, {on_s3} on S3 ({seconds:.1f} s), "
                                               "restored from S3 on 2 pods")
