"""Helpers of the emulated-pod scenarios: a writer that keeps inserting, an argv scanner."""

from __future__ import annotations

import os
import time
from pathlib import Path

from emulator import Cluster
from emulator.background import BackgroundLoop

APP_USER = "app"
PREFIX = os.environ.get("MYSQL_HA_E2E_PREFIX", "mh")[:2]
"""First letters of every network name the scenarios create: checkouts that run their
scenarios on the same machine at the same time set ``MYSQL_HA_E2E_PREFIX`` apart."""


SPEED = 3.0
"""The speed of every scenario's cluster (``Cluster(speed=...)``): the emulator's own timings at a
third of a real cluster's. A changed ConfigMap or Secret reaches each pod within 30 s (kubelet sync
period 20 s, jittered), restarts back off from 3.3 s to 100 s, Job pods from 3.3 s to 2 min. The
manifests' timings (probes, grace periods) and the scripts' own are never scaled. Only the switchover
under real propagation (``failover_scenarios.py``) sets its cluster to speed 1 while it runs."""

TEST_CLIENT_MARK = "MYSQL_HA_E2E_CLIENT=1"
"""In the environment of the scenarios' own SQL clients (which get their password through
``MYSQL_PWD``, as an operator's ``kubectl exec`` would): the scan leaves those alone."""


class ArgvScanner(BackgroundLoop):
    """Samples every process's argv and environment on the machine for the Secret's values
    (the pods' servers, sidecars, probes and their children alike)."""

    def __init__(self, needles: list[str]) -> None:
        super().__init__()
        self.needles = [n for n in needles if n]
        self.samples = 0
        self.processes_seen = 0
        self.environments_seen = 0
        self.hits: list[str] = []
        self.environ_hits: list[str] = []

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
            try:
                environ = (entry / "environ").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            self.environments_seen += 1
            if TEST_CLIENT_MARK in environ:
                continue
            for needle in self.needles:
                for variable in environ:
                    if needle in variable:
                        self.environ_hits.append(f"pid {entry.name} ({argv[:80]}): {variable.split('=')[0]}")
        self.samples += 1


class Writer(BackgroundLoop):
    """Inserts rows on the primary as the application user, one autocommit INSERT each,
    and remembers which ones the server acknowledged and when.

    By default on pod 0's server; with ``host`` (e.g. the write Service) through that name,
    from a client in pod ``client_pod``."""

    def __init__(self, cluster: Cluster, table: str, start: int, *, host: str | None = None,
                 client_pod: int = 0) -> None:
        super().__init__()
        self.cluster = cluster
        self.table = table
        self.next_id = start
        self.host = host
        self.client_pod = client_pod
        self.acknowledged: list[int] = []
        self.successes: list[float] = []
        self.errors = 0

    def step(self) -> float:
        values = ",".join(f"({i})" for i in range(self.next_id, self.next_id + 20))
        extra = {"host": self.host} if self.host else {}
        try:
            self.cluster.sql(self.client_pod, f"INSERT INTO {self.table} (id) VALUES {values}", user=APP_USER,
                             password=self.cluster.app_password, check=False, timeout=10, **extra)
        except Exception:  # noqa: BLE001 - the primary may be down, or its pod gone
            self.errors += 1
            return 0.2
        self.successes.append(time.monotonic())
        self.acknowledged += range(self.next_id, self.next_id + 20)
        self.next_id += 20
        return 0.02

    def longest_gap(self) -> float:
        """The longest time between two acknowledged writes."""
        return max((b - a for a, b in zip(self.successes, self.successes[1:])), default=0.0)
