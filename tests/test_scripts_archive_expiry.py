"""The archiver's part in binary log expiry and its metrics, run in rclone's image against a
target folder (``archive_sandbox.py``): which files it names for purging, the warning for
old files it could not copy, and the metrics file served by the archive-metrics
container's own command."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest
from archive_sandbox import T0, archived, binlog, sandbox  # noqa: F401
from prometheus_client.parser import text_string_to_metric_families
from synth_helpers import container, whole_chart

import mysql_ha

pytestmark = pytest.mark.e2e  # needs root and the rclone image's root filesystem


def test_only_files_archived_and_past_the_expiry_are_named_for_purging_and_old_unarchived_ones_are_warned_of(
        sandbox):
    """The server expires nothing itself: the archiver names the first file it must keep
    (the replication sidecar purges the ones before it). A file it could not copy stays,
    however old, and is logged."""
    keep = 3600
    files = {n: binlog(T0 + 10 * n, 100 * (n - 1)) for n in range(1, 6)}
    purge_to = sandbox.host / "work" / "purge-to"
    env = {"MYSQL_HA_BINLOG_KEEP_SECONDS": str(keep), "MYSQL_HA_BINLOG_PURGE_FILE": "/tmp/work/purge-to"}

    def age(numbers, seconds):
        for n in numbers:
            then = time.time() - seconds
            os.utime(sandbox.data / f"mysql-bin.{n:06d}", (then, then))

    # 1 and 2 copied; 1 past the expiry, 2 not yet: only 1 goes.
    sandbox.write_binlogs({n: files[n] for n in (1, 2)}, 3)
    (sandbox.data / "mysql-bin.000003").write_bytes(files[3])
    age([1], keep + 60)
    age([2, 3], keep - 600)
    sandbox.close_at(T0 + 25)
    sandbox.archive(lambda: purge_to.exists(), **env)
    assert purge_to.read_text() == "mysql-bin.000002\n"
    (one,) = sandbox.series()

    # 3 and 4 closed, but the target takes no file (rclone stops at its first byte): both
    # stay, past the expiry as they are, and are logged.
    sandbox.write_binlogs({n: files[n] for n in (1, 2, 3, 4)}, 5)
    (sandbox.data / "mysql-bin.000005").write_bytes(files[5])
    age([1, 2, 3, 4, 5], keep + 60)
    purge_to.unlink()
    log = sandbox.archive(lambda: purge_to.exists(), RCLONE_MAX_TRANSFER="1", **env)
    assert purge_to.read_text() == "mysql-bin.000003\n", log
    assert sorted(archived(one)) == ["mysql-bin.000001", "mysql-bin.000002"], log
    assert "WARNING: 2 closed binary logs of mysql-0 (0 MiB) are older than the expiry (3600 s) and not " \
           "archived: the server keeps them" in log, log

    # Without an expiry (0: keep forever) nothing is named, though every file is copied.
    purge_to.unlink()
    log = sandbox.archive(lambda: len(archived(one)) == 4, MYSQL_HA_BINLOG_KEEP_SECONDS="0",
                          MYSQL_HA_BINLOG_PURGE_FILE="/tmp/work/purge-to")
    assert not purge_to.exists() and "WARNING" not in log, log


def test_the_metrics_report_a_gap_until_a_backup_newer_than_it_completes_served_as_the_pod_serves_them(sandbox):
    """The archiver's metrics file, served by the archive-metrics container's own command
    (rclone serve http), read back with Prometheus' parser."""
    manifests = whole_chart(mysql_ha.MYSQL_8_4, replicas=2, metrics=True,
                            backup_target=mysql_ha.BackupTarget.volume_claim("backups"))
    command = container(manifests, "archive-metrics")["command"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    served = [{"/metrics": "/tmp/work/metrics", ":9105": f"127.0.0.1:{port}"}.get(arg, arg) for arg in command]
    (sandbox.host / "work" / "metrics").mkdir()
    env = sandbox.env(MYSQL_HA_ARCHIVE_METRICS_DIR="/tmp/work/metrics", MYSQL_HA_ARCHIVE_GAP_CHECK_SECONDS="1")
    server = subprocess.Popen(sandbox.chrooted(*served),
                              env={"PATH": env["PATH"], "RCLONE_CONFIG": "/dev/null", "HOME": "/tmp/work/metrics"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def metrics() -> dict[str, float]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics.txt", timeout=5) as response:
                assert response.headers["Content-Type"].startswith("text/plain")
                text = response.read().decode()
        except OSError:
            return {}
        return {sample.name: sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples}

    archiver = None
    try:
        files = {n: binlog(T0 + 10 * n, 100 * (n - 1)) for n in range(1, 9)}
        sandbox.write_binlogs({n: files[n] for n in (1, 2, 3)}, 4)
        (sandbox.data / "mysql-bin.000004").write_bytes(files[4])
        sandbox.close_at(T0 + 35)
        archiver = subprocess.Popen(sandbox.command("binlog-archive.sh"), env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)

        def wait(predicate, what):
            deadline = time.monotonic() + 30
            while not predicate():
                assert time.monotonic() < deadline, f"{what}: {metrics()}"
                assert archiver.poll() is None and server.poll() is None
                time.sleep(0.2)

        wait(lambda: metrics().get("mysql_ha_binlog_archive_until_timestamp_seconds") == T0 + 35, "archived")
        assert metrics()["mysql_ha_binlog_archive_gap"] == 0
        assert metrics()["mysql_ha_binlog_archive_copy_failures_total"] == 0
        # 4 and 5 purged before they were copied: a gap.
        sandbox.write_binlogs({6: files[6]}, 7)
        (sandbox.data / "mysql-bin.000007").write_bytes(files[7])
        sandbox.close_at(T0 + 65)
        wait(lambda: metrics().get("mysql_ha_binlog_archive_gap") == 1, "the gap")
        # A backup that started before the gap does not clear it; one after it does.
        for name, started in (("b1", T0 + 20), ("b2", T0 + 61)):
            manifest = sandbox.target / "backups" / name / "manifest"
            manifest.parent.mkdir(parents=True)
            manifest.write_text(f"started_epoch={started}\n")
            if name == "b1":
                time.sleep(3)
                assert metrics()["mysql_ha_binlog_archive_gap"] == 1
        wait(lambda: metrics().get("mysql_ha_binlog_archive_gap") == 0, "the gap cleared by a newer backup")
    finally:
        for process in (archiver, server):
            if process is not None:
                process.terminate()
                process.communicate(timeout=20)
