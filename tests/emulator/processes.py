"""Host processes: running a tool, signalling a process or a process group, listing a
group's members or a process's children."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from .errors import EmulatorError


def run(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Runs a host tool, its output captured as text."""
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def host_tool(name: str) -> str:
    """The absolute path of a host tool the runtime itself uses (never one a container runs)."""
    path = shutil.which(name)
    if path is None:
        raise EmulatorError(f"the pod emulator needs {name} on the host")
    return path


def killpg(pid: int, sig: int) -> None:
    """Signals a process group; a group that is already gone is no error."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def signal_process(pid: int, sig: int) -> None:
    """Signals one process; a process that is already gone is no error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_gone(pid: int, timeout: float) -> bool:
    """Waits until ``pid`` has ended (gone, or a zombie nobody reaped yet); False if it still
    runs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            # The state follows the command's parenthesized name, which may hold blanks.
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def children(pid: int) -> list[int]:
    """The children of ``pid`` (host pids), from ``/proc/<pid>/task/*/children``; none once
    it is gone."""
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_group(pgid: int) -> list[int]:
    """Every process whose process group is ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def rooted_at(root: Path) -> list[int]:
    """Every process whose root directory is ``root`` (a container's, whatever its process group)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == str(root):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids
