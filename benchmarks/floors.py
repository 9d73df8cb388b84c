"""The floors a clone is held against: the donor's data directory copied with ``tar`` through a
plain relay between the same two network namespaces, and the relays alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from emulator import Cluster

PORT = 4444
MIB = 1024 * 1024
FLOOR_RELAYS = ("ncat", "socat -b 1048576")
"""Both floors of every clone: ``tar | ncat`` and ``tar | socat -b 1048576``; the faster counts."""
PROBE_RELAYS = ("ncat", "socat", "socat -b 1048576")
HOST_TOOLS = ("socat", "ncat", "tar", "ip", "ss", "unshare", "nsenter", "tc")


def relay_commands(relay: str, ip: str, port: int = PORT) -> tuple[str, str]:
    """(receiver, sender) shell commands that move stdin to stdout across the network."""
    if relay == "ncat":
        return f"ncat --listen --recv-only {port}", f"ncat --send-only {ip} {port}"
    block = f"-b {relay.split()[-1]} " if relay.startswith("socat -b") else ""
    return f"socat {block}-u TCP-LISTEN:{port},reuseaddr STDOUT", f"socat {block}-u STDIN TCP:{ip}:{port}"


def floor_policy(objects: list[dict]) -> dict:
    """A NetworkPolicy beside the chart's that admits the relays' port between the set's pods:
    the emulator enforces the chart's own policy, which names only the server and clone ports,
    so the floors' connections would be dropped. Both the clone and its floors then cross the
    same rules."""
    (sts,) = [m for m in objects if m["kind"] == "StatefulSet"]
    selector = sts["spec"]["selector"]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "benchmark-floors", "namespace": sts["metadata"]["namespace"]},
            "spec": {"podSelector": selector, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": selector}], "ports": [{"port": PORT, "protocol": "TCP"}]}]}}


def level_the_field(datadir: Path) -> None:
    """Before each timed copy: writes still in the page cache go to disk (so no copy pays for
    the previous one's writeback), and the donor's files are read once, so every copy reads
    them from memory. InnoDB itself writes with O_DIRECT, so without this the first reader
    would pay the disk and the others would not."""
    os.sync()
    for root, _, files in os.walk(datadir):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb", buffering=0) as f:
                    while f.read(MIB):
                        pass
            except OSError:
                continue


def tree_bytes(path: Path) -> int:
    """Sum of the file sizes below ``path``: what ``tar`` reads."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _listening(netns: str, port: int = PORT) -> bool:
    return f":{port} " in subprocess.run(["ip", "netns", "exec", netns, "ss", "-ltnH"],
                                         capture_output=True, text=True).stdout


def _timed_transfer(c: Cluster, receive: str, send: str, what: str) -> float:
    """Starts ``receive`` in mysql-1's namespace, then runs ``send`` in mysql-0's; the seconds
    from the sender's start to the receiver's exit."""
    sender_ns, receiver_ns = c.pod(0).netns, c.pod(1).netns
    receiver = subprocess.Popen(["ip", "netns", "exec", receiver_ns, "bash", "-c", f"set -o pipefail; {receive}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        c.wait_for(lambda: _listening(receiver_ns), timeout=10, what=f"the {what} receiver to listen")
        started = time.perf_counter()
        sender = subprocess.run(["ip", "netns", "exec", sender_ns, "bash", "-c", f"set -o pipefail; {send}"],
                                capture_output=True, text=True, timeout=900)
        receiver.wait(timeout=900)
        seconds = time.perf_counter() - started
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    # The donor's server is running: a file changing while tar reads it is expected (tar then
    # exits 1); the bytes still cross the same pipe.
    if sender.returncode not in (0, 1) or receiver.returncode != 0:
        raise RuntimeError(f"{what} failed: sender {sender.returncode} {sender.stderr[-500:]} "
                           f"receiver {receiver.returncode} {receiver.stderr.read()[-500:]}")
    return seconds


def copy_floor(c: Cluster, target: Path, relay: str) -> float:
    """``tar | <relay>`` of the primary's data directory from its network namespace into
    ``target`` (beside mysql-1's claim), received in mysql-1's namespace. Returns seconds."""
    source = c.pvc_dir(0) / "mysql"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    listen, send = relay_commands(relay, c.pod(1).ip)
    seconds = _timed_transfer(c, f"{listen} | tar -C '{target}' -xf -",
                              f"tar --warning=no-file-changed -C '{source}' -cf - . | {send}", f"tar | {relay}")
    copied, expected = tree_bytes(target), tree_bytes(source)
    if copied < 0.98 * expected:
        raise RuntimeError(f"tar | {relay} moved {copied} of {expected} bytes")
    shutil.rmtree(target)
    return seconds


def transport_probe(c: Cluster, mib: int = 512) -> dict[str, float]:
    """MiB/s of zeros from mysql-0's namespace to mysql-1's through each relay: what the
    transport alone allows, with no disk and no database in the way."""
    found = {}
    for relay in PROBE_RELAYS:
        listen, send = relay_commands(relay, c.pod(1).ip)
        seconds = _timed_transfer(c, f"{listen} >/dev/null", f"head -c {mib}M /dev/zero | {send}", relay)
        found[relay] = mib / seconds
    return found
