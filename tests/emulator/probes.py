"""Probes, as the kubelet's prober runs them: startup first, then liveness and readiness,
each on its own period with its timeout and thresholds.

An exec probe runs inside its container (``runtime.Runtime.spawn``); a tcpSocket probe
connects from the node, here the bridge's namespace, to the pod's address."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import EmulatorError
from .processes import killpg

KINDS = ("startup", "liveness", "readiness")


@dataclass
class Probe:
    """A probe as the manifest declares it, with the kubelet's defaults."""

    command: list[str] | None  # exec probes
    port: int | None  # tcpSocket probes
    initial_delay: float
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int

    @classmethod
    def parse(cls, spec: dict | None, container: dict) -> "Probe | None":
        if not spec:
            return None
        command = port = None
        if "exec" in spec:
            command = list(spec["exec"]["command"])
        elif "tcpSocket" in spec:
            port = spec["tcpSocket"]["port"]
            if isinstance(port, str):
                port = next(p["containerPort"] for p in container.get("ports", []) if p.get("name") == port)
            port = int(port)
        else:
            raise EmulatorError(f"only exec and tcpSocket probes are emulated, got {sorted(spec)}")
        return cls(
            command=command,
            port=port,
            initial_delay=spec.get("initialDelaySeconds", 0),
            period=spec.get("periodSeconds", 10),
            timeout=spec.get("timeoutSeconds", 1),
            failure_threshold=spec.get("failureThreshold", 3),
            success_threshold=spec.get("successThreshold", 1),
        )


@dataclass
class ProbeState:
    probe: Probe
    next_at: float
    proc: subprocess.Popen | None = None
    deadline: float = 0.0
    failures: int = 0
    successes: int = 0
    results: list[tuple[float, bool]] = field(default_factory=list)

    def cancel(self) -> None:
        """Kills a probe still running (its container is going away)."""
        if self.proc is not None and self.proc.poll() is None:
            killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def probe_states(spec: dict, started_at: float) -> dict[str, ProbeState]:
    """The container's probes, each first due after its initial delay."""
    states = {}
    for kind in KINDS:
        probe = Probe.parse(spec.get(f"{kind}Probe"), spec)
        if probe:
            states[kind] = ProbeState(probe, next_at=started_at + probe.initial_delay)
    return states


Spawn = Callable[[Probe], subprocess.Popen]


def advance(state: ProbeState, spawn: Spawn, now: float) -> bool | None:
    """Advances one probe: starts it when due, kills it at its timeout; returns its result
    when one arrives."""
    if state.proc is None:
        if now >= state.next_at:
            state.next_at = now + state.probe.period
            state.deadline = now + state.probe.timeout
            state.proc = spawn(state.probe)
        return None
    if state.proc.poll() is None:
        if now < state.deadline:
            return None
        state.cancel()
        ok = False
    else:
        ok = state.proc.returncode == 0
    state.proc = None
    state.results.append((now, ok))
    del state.results[:-50]
    if ok:
        state.successes += 1
        state.failures = 0
    else:
        state.failures += 1
        state.successes = 0
    return ok


def check(container, spawn: Spawn, now: float, log: Callable[[str], None]) -> str | None:
    """Runs a running container's probes and updates its ``startup_passed`` and ``ready``;
    returns why the container must restart, if it must."""
    startup = container.probes.get("startup")
    if startup and not container.startup_passed:
        result = advance(startup, spawn, now)
        if result is True:
            container.startup_passed = True
            log("started")
        elif result is False and startup.failures >= startup.probe.failure_threshold:
            return "startup probe failed"
        return None
    liveness = container.probes.get("liveness")
    if liveness and advance(liveness, spawn, now) is False and liveness.failures >= liveness.probe.failure_threshold:
        return "liveness probe failed"
    readiness = container.probes.get("readiness")
    if readiness is None:
        container.ready = True
        return None
    result = advance(readiness, spawn, now)
    if result is True and readiness.successes >= readiness.probe.success_threshold and not container.ready:
        container.ready = True
        log("ready")
    elif result is False and readiness.failures >= readiness.probe.failure_threshold and container.ready:
        container.ready = False
        log("not ready")
    return None
