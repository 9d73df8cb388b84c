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


def client_pod_spec(image: str) -> dict:
    """A pod outside the set that runs ``image``'s SQL client by ``kubectl exec``: as the
    image's user, a read-only root, a writable /tmp."""
    return {"restartPolicy": "Always", "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "tmp", "emptyDir": {}}],
            "containers": [{"name": "client", "image": image, "command": ["sleep", "86400"],
                            "securityContext": {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True,
                                                "readOnlyRootFilesystem": True},
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}]}


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
        self.failures: list[tuple[float, str]] = []  # (when, why) of the last 50 failed writes
        self.unknown: list[int] = []  # ids of failed writes: committed or not

    def insert(self, statement: str) -> None:
        """Runs the INSERT; raises when it was not acknowledged."""
        extra = {"host": self.host} if self.host else {}
        self.cluster.sql(self.client_pod, statement, user=APP_USER, password=self.cluster.app_password, check=False,
                         timeout=10, **extra)

    def step(self) -> float:
        values = ",".join(f"({i})" for i in range(self.next_id, self.next_id + 20))
        try:
            self.insert(f"INSERT INTO {self.table} (id) VALUES {values}")
        except Exception as error:  # noqa: BLE001 - the primary may be down, or its pod gone
            self.errors += 1
            self.failures.append((time.monotonic(), str(error)[-200:]))
            del self.failures[:-50]
            # Its outcome is unknown (a connection lost at commit may have committed it):
            # the next write takes new ids, so that a committed batch does not fail forever.
            self.unknown += range(self.next_id, self.next_id + 20)
            self.next_id += 20
            return 0.2
        self.successes.append(time.monotonic())
        self.acknowledged += range(self.next_id, self.next_id + 20)
        self.next_id += 20
        return 0.02

    def longest_gap(self, since: float | None = None, until: float | None = None) -> float:
        """The longest time between two acknowledged writes; with ``since`` and ``until``, the
        window's bounds count as writes (a writer that got nothing in after ``since`` saw a
        gap from then on)."""
        times = [*([since] if since is not None else []), *self.successes, *([until] if until is not None else [])]
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


class PodWriter(Writer):
    """A ``Writer`` whose client runs in a pod of its own (``Cluster.run_pod``), outside the
    set: it writes through ``host`` (e.g. the write Service) while every pod of the set
    restarts."""

    def __init__(self, cluster: Cluster, table: str, start: int, *, host: str, client,
                 options: tuple[str, ...] = ()) -> None:
        super().__init__(cluster, table, start, host=host)
        self.client = client  # the client pod's container
        self.options = options  # further client options, e.g. the CA to check the server with

    def insert(self, statement: str) -> None:
        engine = self.cluster.engine
        args = [engine.client, "--protocol=TCP", f"--host={self.host}", "--port=3306", "--connect-timeout=5",
                f"--user={APP_USER}", "--batch", "--skip-column-names", *self.options]
        if engine.client == "mysql":
            # caching_sha2 without TLS: the client fetches the server's key to send the password.
            args.append("--get-server-public-key")
        result = self.cluster.runtime.exec(
            self.client, args, input=statement, timeout=10,
            env={"MYSQL_PWD": self.cluster.app_password, "MYSQL_HA_E2E_CLIENT": "1", "HOME": "/tmp",
                 "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip())


class WritablePoller(BackgroundLoop):
    """Asks every pod of the set, round after round, whether its server takes writes
    (``@@read_only`` off, and ``@@super_read_only`` off where the engine has it); remembers
    the most servers seen writable in one round, and when."""

    interval = 0.1

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.rounds = 0
        self.most_writable: list[int] = []
        self.writable_at: list[tuple[float, list[int]]] = []  # rounds with more than one

    def writable(self, ordinal: int) -> bool:
        statement = "SELECT @@GLOBAL.read_only"
        if self.cluster.engine.read_only_option == "super-read-only":
            statement += "; SELECT @@GLOBAL.super_read_only"
        try:
            rows = self.cluster.sql(ordinal, statement, check=False, timeout=5)
        except Exception:  # noqa: BLE001 - a server that does not answer takes no writes
            return False
        return bool(rows) and all(row == ["0"] for row in rows)

    def step(self) -> None:
        with self.cluster.lock:
            ordinals = sorted(self.cluster.pods)
        writable = [o for o in ordinals if self.writable(o)]
        self.rounds += 1
        if len(writable) > len(self.most_writable):
            self.most_writable = writable
        if len(writable) > 1:
            self.writable_at.append((time.monotonic(), writable))
