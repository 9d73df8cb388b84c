"""The sandbox of the binary log archive's script tests: rclone's image (its root
filesystem, busybox sh, the real rclone) with the scripts, a data directory, a run directory
and a target folder bound in, and binary logs made in each engine's format as far as the
scripts read it (the magic number, the first event's header, MySQL's Previous_gtids or
MariaDB's Gtid_list event, then filler). The tests run as root, in a chroot that shares the
host's network: kinder than a pod there, which is why the e2e backup scenarios run the same
scripts in pods with the chart's security context.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from emulator.images import ensure_image
from synth_helpers import SIDECARS

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

    def chrooted(self, *argv: str) -> list[str]:
        """``argv`` run in the image's root, the sandbox's folders at /tmp (a private mount
        namespace per run)."""
        inner = f'mount --bind "{self.host}" "{self.root}/tmp" && exec chroot "{self.root}" "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh", *argv]

    def command(self, script: str, *args: str) -> list[str]:
        return self.chrooted("sh", f"/tmp/scripts/{script}", *args)

    def run_script(self, script: str, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(script, *args), env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout)

    def shell(self, code: str) -> subprocess.CompletedProcess:
        """``code`` in busybox sh with target.sh and archive.sh sourced."""
        (self.host / "work" / "code.sh").write_text(
            ". /tmp/scripts/target.sh\n. /tmp/scripts/archive.sh\n" + code)
        return subprocess.run(self.chrooted("sh", "/tmp/work/code.sh"), env=self.env(), capture_output=True,
                              text=True, timeout=60)

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


def text_of(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def archived(series: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in series.glob("mysql-bin.*")}
