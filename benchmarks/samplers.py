"""What runs beside a timed step: which programs a clone init container runs and when, and
when each pod's server first answers."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from emulator import Cluster, EmulatorError, SQLError
from emulator.background import BackgroundLoop

# The programs of sidecars/clone.sh worth timing, by a piece of their command line.
KINDS = (
    ("initialize", "--initialize-insecure"),  # clone-plugin: the throwaway seed server's data directory
    ("seed server", "--skip-networking"),  # clone-plugin: the seed server itself
    ("client", "--protocol=SOCKET"),  # clone-plugin: the seed's client (waits, CLONE INSTANCE, shutdown)
    ("prepare", "--prepare"),  # backup-stream
    ("extract", " -x"),  # backup-stream: mbstream / xbstream
)


def event_time(events: list[tuple[float, str]], pattern: str) -> float | None:
    """When the emulator first logged an event matching ``pattern`` (a regular expression)."""
    regex = re.compile(pattern)
    return next((t for t, message in events if regex.search(message)), None)


def rows_or_none(c: Cluster, ordinal: int, statement: str, **kwargs) -> list[list[str]] | None:
    """The rows, or None while the pod or its server is not there to answer."""
    try:
        return c.sql(ordinal, statement, check=False, timeout=10, **kwargs)
    except (SQLError, EmulatorError, KeyError, subprocess.TimeoutExpired):
        return None


def wait_gone(c: Cluster, ordinal: int, timeout: float = 60) -> None:
    """Waits until pod N is gone and so is its veth's bridge end: the kernel removes a deleted
    namespace's veth pair asynchronously, and a pod created anew before that finds its veth name
    taken."""
    veth = f"v{c.prefix}{ordinal}"

    def released() -> bool:
        if ordinal in c.pods:
            return False
        shown = subprocess.run(["ip", "netns", "exec", c.network.bridge_ns, "ip", "link", "show", veth],
                               capture_output=True, text=True)
        return shown.returncode != 0

    c.wait_for(released, timeout=timeout, what=f"pod {ordinal} and its network to go away")


class ProcessSampler(BackgroundLoop):
    """Watches every descendant of one container's process (``/proc/PID/task/*/children``,
    cheap enough to read every 20 ms) and records, per process of a known kind, when it was
    first and last seen. ``find_pid`` may name another container's process from one call to
    the next (a pod's init containers in turn)."""

    def __init__(self, find_pid: Callable[[], int | None], interval: float = 0.02,
                 kinds: tuple[tuple[str, str], ...] = KINDS) -> None:
        """``kinds``: (kind, a piece of its command line) pairs, the first that matches wins."""
        super().__init__()
        self.find_pid = find_pid
        self.interval = interval
        self.kinds = kinds
        self.seen: dict[int, list] = {}  # pid -> [kind, first, last]
        self._kinds: dict[int, str | None] = {}

    def _kind(self, pid: int) -> str | None:
        # A child is a forked shell until it execs: only a recognized command line is kept.
        if self._kinds.get(pid) is None:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                return None
            self._kinds[pid] = next((kind for kind, needle in self.kinds if needle in argv), None)
        return self._kinds[pid]

    @staticmethod
    def _descendants(pid: int) -> list[int]:
        found, todo = [], [pid]
        while todo:
            parent = todo.pop()
            try:
                tasks = list(Path(f"/proc/{parent}/task").iterdir())
            except OSError:
                continue
            for task in tasks:
                try:
                    children = [int(p) for p in (task / "children").read_text().split()]
                except OSError:
                    continue
                found += children
                todo += children
        return found

    def step(self) -> None:
        pid = self.find_pid()
        if pid is None:
            return
        now = time.monotonic()
        for child in self._descendants(pid):
            kind = self._kind(child)
            if kind:
                self.seen.setdefault(child, [kind, now, now])[2] = now

    def spans(self, kind: str) -> list[tuple[float, float]]:
        """(first, last) seen of each process of ``kind``, in order of appearance."""
        return sorted((first, last) for k, first, last in self.seen.values() if k == kind)


def clone_phases(method: str, sampler: ProcessSampler, started: float, finished: float) -> dict[str, float]:
    """Where a clone init container's time went, from what the sampler saw. The data-copy
    phase needs its process seen once; a phase shorter than one sample may be missing."""
    if method == "clone-plugin":
        init, clients = sampler.spans("initialize"), sampler.spans("client")
        if not clients:
            return {}
        copy = max(clients, key=lambda span: span[1] - span[0])  # CLONE INSTANCE: the long-lived client
        phases = {"CLONE INSTANCE": copy[1] - copy[0], "stop seed + rename + exit": finished - copy[1]}
        if init:
            phases = {"start-up": init[0][0] - started, "initialize seed": init[-1][1] - init[0][0],
                      "start seed": copy[0] - init[-1][1], **phases}
        return phases
    extract, prepare = sampler.spans("extract"), sampler.spans("prepare")
    if not extract:
        return {}
    phases = {"start-up": extract[0][0] - started, "stream + extract": extract[-1][1] - extract[0][0]}
    if prepare:
        phases.update({"checks": prepare[0][0] - extract[-1][1], "prepare": prepare[-1][1] - prepare[0][0],
                       "rename + exit": finished - prepare[-1][1]})
    return phases


class ServerPoller(BackgroundLoop):
    """During bring-up: notes when each pod's server first answers ``SELECT 1``, by asking
    every 0.2 s, and only while its pod runs and its server has not answered yet."""

    def __init__(self, cluster: Cluster, interval: float = 0.2) -> None:
        super().__init__()
        self.cluster = cluster
        self.interval = interval
        self.answered: dict[int, float] = {}

    def step(self) -> None:
        for ordinal, pod in list(self.cluster.pods.items()):
            if ordinal in self.answered or pod.phase != "Running":
                continue
            if rows_or_none(self.cluster, ordinal, "SELECT 1") == [["1"]]:
                self.answered[ordinal] = time.monotonic()
