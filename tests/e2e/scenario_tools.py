"""Helpers of the emulated-pod scenarios: a writer that keeps inserting, an argv scanner."""

from __future__ import annotations

from pathlib import Path

from emulator import Cluster
from emulator.background import BackgroundLoop

APP_USER = "app"


class ArgvScanner(BackgroundLoop):
    """Samples every process's argv on the machine for the Secret's values."""

    def __init__(self, needles: list[str]) -> None:
        super().__init__()
        self.needles = [n for n in needles if n]
        self.samples = 0
        self.processes_seen = 0
        self.hits: list[str] = []

    def step(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            self.processes_seen += 1
            for needle in self.needles:
                if needle in argv:
                    self.hits.append(f"pid {entry.name}: {argv[:200]}")
        self.samples += 1


class Writer(BackgroundLoop):
    """Inserts rows on the primary as the application user, one autocommit INSERT each,
    and remembers which ones the server acknowledged."""

    def __init__(self, cluster: Cluster, table: str, start: int) -> None:
        super().__init__()
        self.cluster = cluster
        self.table = table
        self.next_id = start
        self.acknowledged: list[int] = []
        self.errors = 0

    def step(self) -> float:
        values = ",".join(f"({i})" for i in range(self.next_id, self.next_id + 20))
        try:
            self.cluster.sql(0, f"INSERT INTO {self.table} (id) VALUES {values}", user=APP_USER,
                             password=self.cluster.app_password, check=False, timeout=10)
        except Exception:  # noqa: BLE001 - the primary may be down, or its pod gone
            self.errors += 1
            return 0.2
        self.acknowledged += range(self.next_id, self.next_id + 20)
        self.next_id += 20
        return 0.02
