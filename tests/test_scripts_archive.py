"""The binary log archive's scripts, run in rclone's image (its root filesystem, busybox sh,
the real rclone) against a target folder: binlog-archive.sh, restore-fetch.sh's choice of
binary logs, and archive-status.sh: series, gaps and what a restore replays (the sandbox
and its binary logs: ``archive_sandbox.py``; expiry and metrics:
``test_scripts_archive_expiry.py``).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time

import pytest
from archive_sandbox import FLAVOURS, POD, T0, UUID, Sandbox, archived, text_of, binlog, history, sandbox  # noqa: F401

pytestmark = pytest.mark.e2e  # needs root and the rclone image's root filesystem


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_binlog_header_reads_creation_server_and_the_history_before_the_file(sandbox, flavour):
    (sandbox.host / "work" / "a").write_bytes(binlog(T0, 0, flavour=flavour))
    (sandbox.host / "work" / "b").write_bytes(binlog(T0 + 7, 4321, flavour=flavour, server_id=102))
    (sandbox.host / "work" / "c").write_bytes(b"not a binary log" * 10)
    result = sandbox.shell("for f in a b c; do binlog_header </tmp/work/$f || echo failed; done")
    assert result.stdout.splitlines() == [f"{T0} 100 -", f"{T0 + 7} 102 {history(flavour, 4321).replace('-100-', '-102-')}",
                                          "failed"], result.stderr


@pytest.mark.parametrize("have, want, missing", [
    (f"{UUID}:1-500", f"{UUID}:1-800", f"{UUID}:501-800"),
    (f"{UUID}:1-10:20-30", f"{UUID}:1-40", f"{UUID}:11-19:31-40"),
    (f"{UUID}:20-30,{UUID}:1-10", f"{UUID}:1-40", f"{UUID}:11-19:31-40"),
    (f"{UUID}:1-800", f"{UUID}:1-800", ""),
    ("", f"{UUID}:1-3", f"{UUID}:1-3"),
    ("0-100-500", "0-100-620", "0-100-501..620"),
    ("0-100-500,1-101-9", "0-100-500,1-101-12", "1-101-10..12"),
    ("-", "0-100-6", "0-100-1..6"),
])
def test_gtid_missing_names_what_the_second_set_has_and_the_first_lacks(sandbox, have, want, missing):
    result = sandbox.shell(f"gtid_missing '{have}' '{want}'")
    assert result.returncode == 0 and result.stdout == missing + "\n", result.stderr


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_new_data_directory_starts_a_series_and_never_overwrites_the_old_one(sandbox, flavour):
    first = {n: binlog(T0 + 10 * n, 100 * (n - 1), flavour=flavour) for n in (1, 2, 3)}
    sandbox.write_binlogs(first, 4)
    (sandbox.data / "mysql-bin.000004").write_bytes(binlog(T0 + 40, 300, flavour=flavour))
    sandbox.close_at(T0 + 45)
    log = sandbox.archive(lambda: (sandbox.target / "binlogs" / POD).exists() and any(
        (s / "archived-until").exists() for s in sandbox.series()))
    (one,) = sandbox.series()
    assert one.name == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(T0 + 10)) + "-000001"
    assert archived(one) == {f"mysql-bin.{n:06d}": first[n] for n in first}
    assert (one / "archived-until").read_text() == f"{T0 + 45}\n"
    # Every transaction of the files copied: what precedes the file after the last one.
    assert (one / "archived-gtids").read_text() == f"mysql-bin.000004 {T0 + 40} 100 {history(flavour, 300)}\n"
    assert Sandbox.meta(one)["cause"] == "first" and "new series" in log

    # Re-seeded: the data directory numbers its files from 1 again, with another history.
    second = {n: binlog(T0 + 1000 + 10 * n, 5000 + n, flavour=flavour) for n in (1, 2)}
    sandbox.write_binlogs(second, 3)
    (sandbox.data / "mysql-bin.000003").write_bytes(binlog(T0 + 1030, 5003, flavour=flavour))
    sandbox.close_at(T0 + 1035)
    log = sandbox.archive(lambda: len(sandbox.series()) == 2 and (sandbox.series()[1] / "archived-until").exists())
    old, new = sandbox.series()
    assert old == one and archived(old) == {f"mysql-bin.{n:06d}": first[n] for n in first}, "overwritten"
    assert (old / "archived-until").read_text() == f"{T0 + 45}\n", "the old series moved on"
    assert archived(new) == {f"mysql-bin.{n:06d}": second[n] for n in second}
    meta = Sandbox.meta(new)
    assert meta["cause"] == "new-data-directory" and meta["after"] == one.name, meta
    assert meta["gtids_before"] == history(flavour, 5001) and meta["after_gtids"] == history(flavour, 300)
    assert "new series" in log and "ERROR" not in log, log


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_restart_continues_the_series_and_files_purged_before_they_were_copied_are_a_gap(sandbox, flavour):
    files = {n: binlog(T0 + 10 * n, 100 * (n - 1), flavour=flavour) for n in range(1, 9)}
    sandbox.write_binlogs({n: files[n] for n in (1, 2, 3)}, 4)
    (sandbox.data / "mysql-bin.000004").write_bytes(files[4])
    sandbox.close_at(T0 + 35)
    sandbox.archive(lambda: any((s / "archived-until").exists() for s in sandbox.series()))
    (one,) = sandbox.series()

    # Restarted after the server purged files it had archived: the same series goes on.
    sandbox.write_binlogs({n: files[n] for n in (4, 5)}, 6)
    (sandbox.data / "mysql-bin.000006").write_bytes(files[6])
    sandbox.close_at(T0 + 55)
    log = sandbox.archive(lambda: (one / "archived-until").read_text() == f"{T0 + 55}\n")
    assert sandbox.series() == [one] and sorted(archived(one)) == [f"mysql-bin.{n:06d}" for n in range(1, 6)]
    assert f"continuing series {one.name} after mysql-bin.000003" in log, log

    # The target was away while the server purged 6 and 7: a gap; the old series stops there.
    sandbox.write_binlogs({8: files[8]}, 9)
    (sandbox.data / "mysql-bin.000009").write_bytes(binlog(T0 + 90, 800, flavour=flavour))
    sandbox.close_at(T0 + 95)
    log = sandbox.archive(lambda: len(sandbox.series()) == 2 and (sandbox.series()[1] / "archived-until").exists())
    old, new = sandbox.series()
    assert (old / "archived-until").read_text() == f"{T0 + 55}\n"
    assert (old / "archived-gtids").read_text() == f"mysql-bin.000006 {T0 + 60} 100 {history(flavour, 500)}\n"
    meta = Sandbox.meta(new)
    assert meta["cause"] == "purged" and meta["missing_files"] == "mysql-bin.000006 to mysql-bin.000007", meta
    missing = f"{UUID}:501-700" if flavour == "mysql" else "0-100-501..700"
    assert "ERROR: gap in the archive: mysql-bin.000006 to mysql-bin.000007 of mysql-0 were purged before they " \
           f"were archived (transactions {missing})" in log, log
    assert sorted(archived(new)) == ["mysql-bin.000008"]

    # archive-status lists the gap, and says (exit 1) that no backup reaches past it.
    manifest = sandbox.target / "backups" / "b1" / "manifest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(f"started_epoch={T0 + 12}\nfinished_epoch={T0 + 14}\n")
    status = sandbox.run_script("archive-status.sh")
    assert status.returncode == 1, status.stdout + status.stderr
    assert f"{POD}/{new.name}" in status.stdout and "GAP: mysql-bin.000006 to mysql-bin.000007" in status.stdout
    restorable = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + 54))
    assert f"b1\t{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(T0 + 12))}\t{restorable}\t" in status.stdout

    # restore-fetch: a point before the gap replays the old series; past it, it is refused.
    def fetch(point: int) -> subprocess.CompletedProcess:
        shutil.rmtree(sandbox.host / "restore")
        (sandbox.host / "restore").mkdir()
        return sandbox.run_script("restore-fetch.sh", MYSQL_HA_RESTORE_BACKUP="latest",
                                  MYSQL_HA_RESTORE_STOP_EPOCH=str(point + 1),
                                  MYSQL_HA_RESTORE_POINT_IN_TIME=f"@{point}")

    before = fetch(T0 + 50)
    assert before.returncode == 0, before.stderr
    plan = (sandbox.host / "restore" / "restore.tmp" / "plan").read_text()
    assert f"binlog_source={POD}/{old.name}\n" in plan
    fetched = sorted(p.name for p in (sandbox.host / "restore" / "restore.tmp" / "binlogs").iterdir())
    assert fetched == [f"mysql-bin.{n:06d}" for n in range(1, 6)]
    past = fetch(T0 + 90)
    assert past.returncode == 1 and not (sandbox.host / "restore" / "restore.tmp" / "plan").exists()
    assert "is past a gap in the archived binary logs" in past.stderr and missing in past.stderr, past.stderr
    assert "mysql-bin.000006 to mysql-bin.000007 of mysql-0 were purged" in past.stderr


def test_the_archiver_stops_at_sigterm(sandbox):
    sandbox.write_binlogs({1: binlog(T0, 0)}, 2)
    process = subprocess.Popen(sandbox.command("binlog-archive.sh"), env=sandbox.env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not (sandbox.host / "work" / "beat").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0 and "SIGTERM: stopping" in output, output


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_new_data_directory_with_the_same_history_is_told_apart_after_retention_emptied_the_series(sandbox,
                                                                                                   flavour):
    """A replica's binary logs may hold no transaction of its own (MariaDB: an empty Gtid_list
    in each), and retention deletes a series' files: the creation times still tell two data
    directories apart."""
    sandbox.write_binlogs({n: binlog(T0 + n, 0, flavour=flavour) for n in (1, 2)}, 3)
    (sandbox.data / "mysql-bin.000003").write_bytes(binlog(T0 + 3, 0, flavour=flavour))
    sandbox.archive(lambda: any((s / "archived-gtids").exists() for s in sandbox.series()))
    (one,) = sandbox.series()
    for path in one.glob("mysql-bin.*"):
        path.unlink()
    sandbox.write_binlogs({n: binlog(T0 + 500 + n, 0, flavour=flavour) for n in (1, 2)}, 3)
    (sandbox.data / "mysql-bin.000003").write_bytes(binlog(T0 + 503, 0, flavour=flavour))
    log = sandbox.archive(lambda: len(sandbox.series()) == 2 and any(sandbox.series()[1].glob("mysql-bin.*")))
    meta = Sandbox.meta(sandbox.series()[1])
    assert meta["cause"] == "new-data-directory" and meta["after"] == one.name, (meta, log)
    assert "continuing" not in log and not any(one.glob("mysql-bin.*")), log


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_file_being_written_is_uploaded_as_far_as_the_mark_and_superseded_once_closed(sandbox, flavour):
    """Continuous archiving: the replication sidecar's mark ("time file position") says that
    the first <position> bytes of the file being written hold every commit before that time."""
    files = {n: binlog(T0 + 10 * n, 100 * (n - 1), flavour=flavour, size=5000) for n in (1, 2, 3)}
    sandbox.write_binlogs({1: files[1]}, 2)
    (sandbox.data / "mysql-bin.000002").write_bytes(files[2])
    sandbox.close_at(T0 + 15)
    (sandbox.run / "binlog-mark").write_text(f"{T0 + 27} mysql-bin.000002 1500 {history(flavour, 150)}\n")
    sandbox.archive(lambda: any((s / "current" / "mysql-bin.000002").exists() for s in sandbox.series())
                    and text_of(sandbox.series()[0] / "archived-until") == f"{T0 + 27}\n")
    (series,) = sandbox.series()
    assert (series / "current" / "mysql-bin.000002").read_bytes() == files[2][:1500]
    assert sorted(archived(series)) == ["mysql-bin.000001"]
    assert text_of(series / "archived-gtids-marked") == f"{history(flavour, 150)}\n"

    # restore-fetch takes the beginning of the file being written with the closed ones.
    manifest = sandbox.target / "backups" / "b1" / "manifest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(f"started_epoch={T0 + 12}\nfinished_epoch={T0 + 14}\n")
    fetch = sandbox.run_script("restore-fetch.sh", MYSQL_HA_RESTORE_BACKUP="latest",
                               MYSQL_HA_RESTORE_STOP_EPOCH=str(T0 + 27), MYSQL_HA_RESTORE_POINT_IN_TIME=f"@{T0 + 26}")
    assert fetch.returncode == 0, fetch.stderr
    staged = sandbox.host / "restore" / "restore.tmp" / "binlogs"
    assert (staged / "mysql-bin.000002").read_bytes() == files[2][:1500]
    assert (staged / "mysql-bin.000001").read_bytes() == files[1]

    # The file closes: copied whole, its beginning deleted; the mark moves to the next one.
    sandbox.write_binlogs({1: files[1], 2: files[2]}, 3)
    (sandbox.data / "mysql-bin.000003").write_bytes(files[3])
    (sandbox.run / "binlog-mark").write_text(f"{T0 + 33} mysql-bin.000003 700\n")
    sandbox.archive(lambda: (series / "current" / "mysql-bin.000003").exists()
                    and not (series / "current" / "mysql-bin.000002").exists())
    assert archived(series)["mysql-bin.000002"] == files[2]
    assert (series / "current" / "mysql-bin.000003").read_bytes() == files[3][:700]
    assert (series / "archived-until").read_text() == f"{T0 + 33}\n"


def test_a_gap_ends_the_series_even_when_only_the_file_being_written_is_left(sandbox):
    """Every closed file purged before it was copied: the next close would show the gap, but
    the old series must not take the close's time meanwhile."""
    sandbox.write_binlogs({n: binlog(T0 + 10 * n, 100 * (n - 1)) for n in (1, 2)}, 3)
    (sandbox.data / "mysql-bin.000003").write_bytes(binlog(T0 + 30, 200))
    sandbox.close_at(T0 + 25)
    sandbox.archive(lambda: text_of(sandbox.series()[0] / "archived-until") == f"{T0 + 25}\n"
                    if sandbox.series() else False)
    (old,) = sandbox.series()
    sandbox.write_binlogs({}, 5)
    (sandbox.data / "mysql-bin.000005").write_bytes(binlog(T0 + 50, 400))
    sandbox.close_at(T0 + 55)
    log = sandbox.archive(lambda: len(sandbox.series()) == 2 and (sandbox.series()[1] / "archived-until").exists())
    new = sandbox.series()[1]
    assert text_of(old / "archived-until") == f"{T0 + 25}\n", "the old series passed the gap"
    meta = Sandbox.meta(new)
    assert meta["cause"] == "purged" and meta["missing_files"] == "mysql-bin.000003 to mysql-bin.000004", (meta, log)


def test_a_target_that_does_not_answer_at_the_start_begins_no_series(sandbox):
    """A series begun while the target was away would end the one this data directory
    continues: the archiver waits for the target to answer before it decides."""
    sandbox.write_binlogs({1: binlog(T0, 0)}, 2)
    (sandbox.data / "mysql-bin.000002").write_bytes(binlog(T0 + 10, 100))
    away = ":s3,provider=Other,endpoint='http://127.0.0.1:9',access_key_id=x,secret_access_key=y:bucket"
    process = subprocess.Popen(sandbox.command("binlog-archive.sh"),
                               env=sandbox.env(MYSQL_HA_BACKUP_LOCATION=away, RCLONE_LOW_LEVEL_RETRIES="1",
                                               RCLONE_CONTIMEOUT="1s"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (sandbox.host / "work" / "beat").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert "does not answer; next try" in output and "new series" not in output, output
