"""Host processes: running a tool, signalling a process group, listing its members."""

from __future__ import annotations

import os
import shutil
import subprocess
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
