"""The binary log archive's scripts, run in rclone's image (its root filesystem, busybox sh,
the real rclone) against a target folder: binlog-archive.sh, restore-fetch.sh's choice of
binary logs, and archive-status.sh.

The binary logs are made here, in each engine's format as far as the scripts read it (the
magic number, the first event's header, MySQL's Previous_gtids or MariaDB's Gtid_list event,
then filler); the e2e backup scenarios run the same scripts on real servers' files, in pods
with the chart's security context (here they run as root, in a chroot that shares the host's
network).
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

from emulator.images import ensure_image
from synth_helpers import SIDECARS

pytestmark = pytest.mark.e2e  # needs root and the rclone image's root filesystem

UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
POD = "mysql-0"


def _event(kind: int, created: int, server_id: int, body: bytes) -> bytes:
    size = 19 + len(body)
    return struct.pack("<IBIIIH", created, kind, server_id, size, 0, 0) + body


def binlog(created: int, gtids: int, *, flavour: str = "mysql", server_id: int = 100, size: int = 3000) -> bytes:
    """A binary log created at ``created`` whose history before it is transactions 1..gtids."""
    fde = _event(15, created, server_id, b"\x04\x00" + b"9.7.0".ljust(50, b"\x00") + bytes(40))
    if flavour == "mysql":
        if gtids:
            body = struct.pack("<Q", 1) + bytes.fromhex(UUID.replace("-", "")) + struct.pack("<QQQ", 1, 1, gtids + 1)
        else:
            body = struct.pack("<Q", 0)
        second = _event(35, created, server_id, body)
    else:
        body = struct.pack("<I", 1) + struct.pack("<IIQ", 0, server_id, gtids) if gtids else struct.pack("<I", 0)
        second = _event(163, created, server_id, body)
    head = b"\xfebin" + fde + second
    return head + bytes((created + i) % 251 for i in range(size - len(head)))


def history(flavour: str, gtids: int) -> str:
    if not gtids:
        return "-"
    return f"{UUID}:1-{gtids}" if flavour == "mysql" else f"0-100-{gtids}"


class Sandbox:
    """rclone's root filesystem with the scripts, a data directory, a run directory and a
    target folder bound in (a private mount namespace per run)."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = ensure_image("rclone/rclone:1.75").root
        self.host = tmp_path / "host"
        for name in ("scripts", "data", "run", "target", "topology", "restore", "work"):
            (self.host / name).mkdir(parents=True)
        for path in SIDECARS.glob("*.sh"):
            shutil.copy(path, self.host / "scripts" / path.name)
        self.data, self.run, self.target = self.host / "data", self.host / "run", self.host / "target"
        (self.host / "topology" / "primary-ordinal").write_text("0\n")
        self.files: dict[int, bytes] = {}

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp/work",
                "TMPDIR": "/tmp/work", "RCLONE_CONFIG": "/dev/null",
                "MYSQL_HA_SCRIPTS_DIR": "/tmp/scripts", "MYSQL_HA_BACKUP_LOCATION": "/tmp/target",
                "MYSQL_HA_BACKUP_TARGET": "the test folder", "MYSQL_HA_DATADIR": "/tmp/data",
                "MYSQL_HA_RUN_DIR": "/tmp/run", "MYSQL_HA_POD_NAME": POD,
                "MYSQL_HA_ARCHIVE_POLL_SECONDS": "0.2", "MYSQL_HA_ARCHIVE_HEARTBEAT": "/tmp/work/beat",
                "MYSQL_HA_TOPOLOGY_DIR": "/tmp/topology", "MYSQL_HA_DATA_ROOT": "/tmp/restore",
                **extra}

    def command(self, script: str, *args: str) -> list[str]:
        inner = f'mount --bind "{self.host}" "{self.root}/tmp" && exec chroot "{self.root}" sh "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh",
                f"/tmp/scripts/{script}", *args]

    def run_script(self, script: str, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(script, *args), env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout)

    def shell(self, code: str) -> subprocess.CompletedProcess:
        """``code`` in busybox sh with target.sh and archive.sh sourced."""
        (self.host / "work" / "code.sh").write_text(
            ". /tmp/scripts/target.sh\n. /tmp/scripts/archive.sh\n" + code)
        inner = f'mount --bind "{self.host}" "{self.root}/tmp" && exec chroot "{self.root}" sh "$@"'
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh",
                               "/tmp/work/code.sh"], env=self.env(), capture_output=True, text=True,
                              timeout=60)

    # --- the server's data directory ---

    def write_binlogs(self, files: dict[int, bytes], current: int) -> None:
        """The data directory holds ``files`` (number: bytes) and ``current``, being written."""
        for old in self.data.glob("mysql-bin.*"):
            old.unlink()
        for number, content in {**files}.items():
            (self.data / f"mysql-bin.{number:06d}").write_bytes(content)
        names = sorted([*files, current])
        (self.data / "mysql-bin.index").write_text("".join(f"./mysql-bin.{n:06d}\n" for n in names))

    def close_at(self, epoch: int) -> None:
        (self.run / "binlog-closed-at").write_text(f"{epoch}\n")

    # --- the archiver ---

    def archive(self, until: callable, timeout: float = 60, **env: str) -> str:
        """Runs binlog-archive.sh until ``until()`` holds, then stops it (SIGTERM); its log."""
        process = subprocess.Popen(self.command("binlog-archive.sh"), env=self.env(**env), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        try:
            while not until():
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the archiver did not get there"
                time.sleep(0.2)
            time.sleep(0.5)  # a round more: nothing else may happen
        finally:
            # unshare and chroot exec: the process is the script's shell, as a container's PID 1.
            process.terminate()
            try:
                output, _ = process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
        return output

    def series(self) -> list[Path]:
        folder = self.target / "binlogs" / POD
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []

    @staticmethod
    def meta(series: Path) -> dict[str, str]:
        lines = (series / "series").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture
def sandbox(tmp_path):
    return Sandbox(tmp_path)


FLAVOURS = ["mysql", "mariadb"]
T0 = 1_790_000_000


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


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _archived(series: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in series.glob("mysql-bin.*")}


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
    assert _archived(one) == {f"mysql-bin.{n:06d}": first[n] for n in first}
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
    assert old == one and _archived(old) == {f"mysql-bin.{n:06d}": first[n] for n in first}, "overwritten"
    assert (old / "archived-until").read_text() == f"{T0 + 45}\n", "the old series moved on"
    assert _archived(new) == {f"mysql-bin.{n:06d}": second[n] for n in second}
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
    assert sandbox.series() == [one] and sorted(_archived(one)) == [f"mysql-bin.{n:06d}" for n in range(1, 6)]
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
    assert sorted(_archived(new)) == ["mysql-bin.000008"]

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
                    and _text(sandbox.series()[0] / "archived-until") == f"{T0 + 27}\n")
    (series,) = sandbox.series()
    assert (series / "current" / "mysql-bin.000002").read_bytes() == files[2][:1500]
    assert sorted(_archived(series)) == ["mysql-bin.000001"]
    assert _text(series / "archived-gtids-marked") == f"{history(flavour, 150)}\n"

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
    assert _archived(series)["mysql-bin.000002"] == files[2]
    assert (series / "current" / "mysql-bin.000003").read_bytes() == files[3][:700]
    assert (series / "archived-until").read_text() == f"{T0 + 33}\n"


def test_a_gap_ends_the_series_even_when_only_the_file_being_written_is_left(sandbox):
    """Every closed file purged before it was copied: the next close would show the gap, but
    the old series must not take the close's time meanwhile."""
    sandbox.write_binlogs({n: binlog(T0 + 10 * n, 100 * (n - 1)) for n in (1, 2)}, 3)
    (sandbox.data / "mysql-bin.000003").write_bytes(binlog(T0 + 30, 200))
    sandbox.close_at(T0 + 25)
    sandbox.archive(lambda: _text(sandbox.series()[0] / "archived-until") == f"{T0 + 25}\n"
                    if sandbox.series() else False)
    (old,) = sandbox.series()
    sandbox.write_binlogs({}, 5)
    (sandbox.data / "mysql-bin.000005").write_bytes(binlog(T0 + 50, 400))
    sandbox.close_at(T0 + 55)
    log = sandbox.archive(lambda: len(sandbox.series()) == 2 and (sandbox.series()[1] / "archived-until").exists())
    new = sandbox.series()[1]
    assert _text(old / "archived-until") == f"{T0 + 25}\n", "the old series passed the gap"
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
    assert sorted(_archived(one)) == ["mysql-bin.000001", "mysql-bin.000002"], log
    assert "WARNING: 2 closed binary logs of mysql-0 (0 MiB) are older than the expiry (3600 s) and not " \
           "archived: the server keeps them" in log, log

    # Without an expiry (0: keep forever) nothing is named, though every file is copied.
    purge_to.unlink()
    log = sandbox.archive(lambda: len(_archived(one)) == 4, MYSQL_HA_BINLOG_KEEP_SECONDS="0",
                          MYSQL_HA_BINLOG_PURGE_FILE="/tmp/work/purge-to")
    assert not purge_to.exists() and "WARNING" not in log, log


def test_the_metrics_report_a_gap_until_a_backup_newer_than_it_completes_served_as_the_pod_serves_them(sandbox):
    """The archiver's metrics file, served by the archive-metrics container's own command
    (rclone serve http), read back with Prometheus' parser."""
    from prometheus_client.parser import text_string_to_metric_families
    from synth_helpers import container, whole_chart
    import mysql_ha
    import socket
    import urllib.request

    manifests = whole_chart(mysql_ha.MYSQL_8_4, replicas=2, metrics=True,
                            backup_target=mysql_ha.BackupTarget.volume_claim("backups"))
    command = container(manifests, "archive-metrics")["command"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    served = [{"/metrics": "/tmp/work/metrics", ":9105": f"127.0.0.1:{port}"}.get(arg, arg) for arg in command]
    (sandbox.host / "work" / "metrics").mkdir()
    env = sandbox.env(MYSQL_HA_ARCHIVE_METRICS_DIR="/tmp/work/metrics", MYSQL_HA_ARCHIVE_GAP_CHECK_SECONDS="1")
    inner = f'mount --bind "{sandbox.host}" "{sandbox.root}/tmp" && exec chroot "{sandbox.root}" "$@"'
    server = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh", *served],
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
