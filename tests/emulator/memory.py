"""A memory cgroup per container, as the container runtime makes one: its limit from the
container's ``resources.limits.memory``, swap included (none beyond it), its peak usage
recorded. A container that goes over its limit meets the kernel's OOM killer; the runtime
then reports it as Kubernetes does: exit code 137, reason OOMKilled.

cgroup v1 (this machine's kind: the memory controller at ``/sys/fs/cgroup/memory``). Each
start of a container gets its own group, ``mysql-ha/<pod folder>/<container>.<restart>``;
the container's first process joins it before anything else runs, so every process of
the container is in it. Where the host has no v1 memory controller, nothing is limited."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .errors import EmulatorError

ROOT = Path("/sys/fs/cgroup/memory")
GROUP = "mysql-ha"
_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 10**-3, "": 1}


def quantity_bytes(value: str | int | float) -> int:
    """A Kubernetes quantity (``512Mi``, ``1G``, ``1.5Gi``, ``128974848``, ``129e6``) in bytes,
    rounded up as the API server rounds a memory quantity."""
    match = re.fullmatch(r"([0-9.]+)(?:[eE]([+-]?[0-9]+))?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?", str(value).strip())
    if not match:
        raise EmulatorError(f"not a quantity: {value!r}")
    number, exponent, suffix = match.groups()
    scaled = float(number) * 10 ** int(exponent or 0) * _SUFFIXES[suffix or ""]
    return int(-(-scaled // 1))


def memory_limit(spec: dict) -> int | None:
    """The container's memory limit in bytes, if it has one."""
    limit = spec.get("resources", {}).get("limits", {}).get("memory")
    return None if limit is None else quantity_bytes(limit)


class MemoryCgroup:
    """One start's memory cgroup."""

    def __init__(self, path: Path, limit: int | None) -> None:
        self.path = path
        self.limit = limit

    @classmethod
    def create(cls, name: str, limit: int | None) -> "MemoryCgroup | None":
        """The group ``mysql-ha/<name>`` with ``limit`` (None: unlimited); None without a v1
        memory controller on the host."""
        if not (ROOT / "memory.limit_in_bytes").exists():
            return None
        path = ROOT / GROUP / name
        path.mkdir(parents=True, exist_ok=True)
        if limit is not None:
            (path / "memory.limit_in_bytes").write_text(str(limit))
            swap = path / "memory.memsw.limit_in_bytes"
            if swap.exists():  # memory plus swap: no swap beyond the limit, as a kubelet runs it
                swap.write_text(str(limit))
        return cls(path, limit)

    def join_line(self) -> str:
        """The shell line by which the container's first process joins the group (0: itself)."""
        return f"echo 0 > {self.path / 'cgroup.procs'}"

    def oom_kills(self) -> int:
        """Processes the OOM killer killed in the group."""
        try:
            text = (self.path / "memory.oom_control").read_text()
        except OSError:
            return 0
        match = re.search(r"^oom_kill (\d+)$", text, re.MULTILINE)
        return int(match.group(1)) if match else 0

    def peak(self) -> int:
        """The most memory the group has used, in bytes."""
        try:
            return int((self.path / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return 0

    def remove(self) -> None:
        """Removes the group once its processes are gone (the kernel refuses it before), then
        its pod's folder when it was the last."""
        for _ in range(50):
            try:
                self.path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass
