"""Helpers of the emulated-pod scenarios: a writer that keeps inserting, an argv scanner."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from emulator import Cluster

APP_USER = "app"


class ArgvScanner:
    """Samples every process's argv on the machine for the Secret's values."""

    def __init__(self, needles: list[str]) -> None:
        self.needles = [n for n in needles if n]
        self.samples = 0
        self.processes_seen = 0
        self.hits: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
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
            self._stop.wait(0.2)


class Writer:
    """Inserts rows on the primary as the application user, one autocommit INSERT each,
    and remembers which ones the server acknowledged."""

    def __init__(self, cluster: Cluster, table: str, start: int) -> None:
        self.cluster = cluster
        self.table = table
        self.next_id = start
        self.acknowledged: list[int] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Writer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            values = ",".join(f"({i})" for i in range(self.next_id, self.next_id + 20))
            try:
                self.cluster.sql(0, f"INSERT INTO {self.table} (id) VALUES {values}", user=APP_USER,
                                 password=self.cluster.app_password, check=False, timeout=10)
            except Exception:  # noqa: BLE001 - the primary may be down, or its pod gone
                self.errors += 1
                time.sleep(0.2)
                continue
            self.acknowledged += range(self.next_id, self.next_id + 20)
            self.next_id += 20
            time.sleep(0.02)
