"""Facts about the machine a run came from, so a figure is never read without them."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path


def _first_line(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    result = subprocess.run(argv, capture_output=True, text=True)
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _socat_version() -> str:
    if shutil.which("socat") is None:
        return "not installed"
    text = subprocess.run(["socat", "-V"], capture_output=True, text=True).stdout
    match = re.search(r"socat version (\S+)", text)
    return match.group(1) if match else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _filesystem(path: str) -> str:
    result = subprocess.run(["df", "--output=fstype,source", path], capture_output=True, text=True)
    lines = result.stdout.split("\n")
    return " ".join(lines[1].split()) if len(lines) > 1 else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def facts(images: dict[str, str]) -> dict[str, object]:
    """``images``: each image the charts name -> the server package that stands in for it."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(),
        "os": _os_release(),
        "filesystem": _filesystem(os.environ.get("TMPDIR", "/tmp")),
        "images": images,
        "socat": _socat_version(),
        "ncat": _first_line(["ncat", "--version"]),
        "python": sys.version.split()[0],
        "node": _first_line([os.environ.get("JSII_NODE", "node"), "--version"]),  # the Node jsii runs on
        "cdk8s": _version("cdk8s"),
        "cdk8s_plus_27": _version("cdk8s-plus-27"),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
