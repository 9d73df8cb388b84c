"""The container runtime: runs a container's command inside its image, as containerd and
runc would on a kubelet's node.

A container gets its own mount, UTS and PID namespaces inside its pod's network namespace:
its command is PID 1 there, and its /proc lists only its own processes. Its root is an
overlay whose lower layer is the image's root filesystem (``emulator.images``, left
untouched) and whose upper layer is fresh for every start, under the pod's folder. Into
that root go /proc (of the container's PID namespace), a minimal /dev, /sys (read-only),
the pod's /etc/hosts, /etc/resolv.conf and /etc/hostname, and the pod's volumes at their
mountPaths; mount points the image lacks are made in the overlay, and so is the working directory
(``workingDir``, else the image's WORKDIR). The root is made read-only last, when
readOnlyRootFilesystem asks for it (a bind mount copies the read-only flag of its source's
mount). Then ``unshare --root --wd`` (a chroot into the working directory), and the image's
own ``setpriv`` takes the manifest's user, groups and capabilities and runs the command:
``command`` in place of the image's ENTRYPOINT, ``args`` in place of its CMD.

Each start runs in a memory cgroup of its own (``memory.py``) limited to the container's
``resources.limits.memory``: the OOM killer ends a container that goes over it, reported as
exit code 137, reason OOMKilled; its peak usage is recorded.

Stopping a container is the kubelet's: SIGTERM to its PID 1 alone, and SIGKILL at the end
of the grace period. The kernel delivers to a namespace's PID 1 only the signals it has a
handler for (SIGKILL always): a shell without a TERM trap ignores SIGTERM, as it does on a
real node. When PID 1 ends, the kernel kills every other process of its namespace: the
container ends with its PID 1.

The process the runtime holds (``Container.proc``) is ``unshare --fork``'s parent, which
stays on the host and ends with PID 1 (with its exit status); ``Container.pid`` is PID 1's
pid on the host, the one signals go to. ``kubectl exec`` and exec probes enter the same
namespaces (the PID namespace too), root and working directory with ``nsenter``; a probe that
times out has only its own processes killed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulator.images import ImageStandIn

from .errors import EmulatorError
from .memory import MemoryCgroup, memory_limit
from .probes import ProbeState
from .processes import children, host_tool, killpg, rooted_at, signal_process, wait_gone
from .volumes import Mount

# containerd's default capability set for a container that drops none.
DEFAULT_CAPABILITIES = ("chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
                        "net_bind_service", "net_raw", "sys_chroot", "mknod", "audit_write", "setfcap")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# Variables the start script's bash adds to the environment it passes on.
SHELL_VARIABLES = ("SHLVL", "PWD", "OLDPWD", "_")
ENTER_SECONDS = 10
# How long the end of a killed container's PID 1 (and with it its namespace) may take.
GONE_SECONDS = 10


@dataclass
class Container:
    spec: dict
    image: ImageStandIn
    init: bool
    pod_security: dict = field(default_factory=dict)  # the pod's securityContext
    proc: subprocess.Popen | None = None  # the runtime's process on the host: ends with PID 1
    pid: int | None = None  # the container's PID 1, as the host numbers it
    started_at: float = 0.0
    restarts: int = 0
    not_before: float = 0.0  # restart backoff
    startup_passed: bool = False
    ready: bool = False
    done: bool = False  # ended and, by the pod's restartPolicy, not to be restarted
    exit_codes: list[int] = field(default_factory=list)
    probes: dict[str, ProbeState] = field(default_factory=dict)
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # as started; probes and exec get the same
    root_dir: Path | None = None  # overlay upper, work and mount point of the current start
    memory: MemoryCgroup | None = None  # the current start's memory cgroup (memory.py)
    memory_peak: int = 0  # bytes, the most the last run used
    oom_kills: int = 0  # runs that the OOM killer ended
    reason: str | None = None  # why the last run ended: Completed, Error, OOMKilled

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def workdir(self) -> str:
        """``workingDir``, else the image's WORKDIR."""
        return self.spec.get("workingDir") or self.image.workdir


def command_of(spec: dict, image: ImageStandIn) -> list[str]:
    """``command`` replaces the image's ENTRYPOINT and drops its CMD; ``args`` replace CMD."""
    if spec.get("command"):
        argv = list(spec["command"]) + list(spec.get("args") or [])
    else:
        argv = list(image.entrypoint) + list(spec["args"] if "args" in spec else image.cmd)
    if not argv:
        raise EmulatorError(f"container {spec['name']}: no command, and image {image.image} has no ENTRYPOINT or CMD")
    return argv


def resolve_in_root(root: Path, path: str) -> str:
    """``path`` inside ``root`` with the root's symlinks followed within the root (an
    absolute link such as /var/run -> /run must not lead to the host's /run)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise EmulatorError(f"too many symlinks resolving {path} in {root}")
            link = os.readlink(candidate)
            if link.startswith("/"):
                resolved = []
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def passwd_entry(root: Path, uid: int) -> tuple[int, str] | None:
    """(primary gid, home) of ``uid`` in the image's /etc/passwd."""
    try:
        lines = (root / "etc/passwd").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 6 and fields[2] == str(uid):
            return int(fields[3]), fields[5]
    return None


class Runtime:
    """Starts, enters and stops containers; a container carries its pod's securityContext."""

    # ------------------------------------------------------------------ identity

    @staticmethod
    def security(c: Container) -> dict:
        """The container's securityContext over the pod's, as the kubelet merges them."""
        pod = {k: v for k, v in c.pod_security.items() if k in ("runAsUser", "runAsGroup", "runAsNonRoot")}
        return {**pod, **c.spec.get("securityContext", {})}

    def uid(self, c: Container) -> int:
        """runAsUser, else the image's user."""
        return int(self.security(c).get("runAsUser", c.image.uid))

    def home(self, c: Container) -> str:
        """HOME as the runtime sets it: the user's home in the image, else /."""
        entry = passwd_entry(c.image.root, self.uid(c))
        return entry[1] if entry else "/"

    def identity(self, c: Container) -> list[str]:
        """setpriv arguments for the user, groups and privileges the manifest asks for."""
        security = self.security(c)
        uid = self.uid(c)
        if security.get("runAsNonRoot") and uid == 0:
            raise EmulatorError(f"container {c.name}: runAsNonRoot, but it would run as root")
        entry = passwd_entry(c.image.root, uid)
        gid = int(security.get("runAsGroup", entry[0] if entry else 0))
        groups = [c.pod_security["fsGroup"]] if "fsGroup" in c.pod_security else []
        groups += c.pod_security.get("supplementalGroups", [])
        args = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
        args.append(f"--groups={','.join(str(g) for g in groups)}" if groups else "--clear-groups")
        if security.get("allowPrivilegeEscalation") is False:
            args.append("--no-new-privs")
        if not security.get("privileged"):
            kept = [f"+{cap}" for cap in self._capabilities(security)]
            args += ["--inh-caps=-all", "--bounding-set=" + ",".join(["-all", *kept])]
        return args

    @staticmethod
    def _capabilities(security: dict) -> list[str]:
        caps = security.get("capabilities", {})
        drop = {c.lower().removeprefix("cap_") for c in caps.get("drop", [])}
        add = [c.lower().removeprefix("cap_") for c in caps.get("add", [])]
        kept = [] if "all" in drop else [c for c in DEFAULT_CAPABILITIES if c not in drop]
        return kept + [c for c in add if c not in kept]

    # ------------------------------------------------------------------ start, enter, stop

    def start(self, c: Container, *, pod_dir: Path, hostname: str, netns: str, mounts: list[Mount],
              env: dict[str, str], join: list[str] = ()) -> None:
        """Starts the container in its image; returns once its process is inside its root.
        ``join``: shell lines by which its first process joins the pod's cgroups."""
        if not c.workdir.startswith("/"):
            raise EmulatorError(f"container {c.name}: workingDir {c.workdir!r} is not an absolute path")
        if not (c.image.root / "usr").is_dir():
            raise EmulatorError(f"container {c.name}: the root filesystem of {c.image.image} is gone ({c.image.root})")
        argv = command_of(c.spec, c.image)
        identity = self.identity(c)
        if c.root_dir is not None:
            shutil.rmtree(c.root_dir, ignore_errors=True)  # the previous start's writable layer
        c.root_dir = pod_dir / "containers" / f"{c.name}.{c.restarts}"
        for sub in ("upper", "work", "root"):
            (c.root_dir / sub).mkdir(parents=True)
        c.memory = MemoryCgroup.create(f"{pod_dir.name}/{c.name}.{c.restarts}", memory_limit(c.spec))
        script = c.root_dir / "start.sh"
        script.write_text(self._start_script(c, hostname, mounts, [*identity, "--", *argv], join))
        c.log_path = pod_dir / f"{c.name}.log"
        with open(c.log_path, "a") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} (restart {c.restarts})\n")
            log.flush()
            proc = subprocess.Popen(
                [host_tool("nsenter"), f"--net=/run/netns/{netns}", "--",
                 host_tool("unshare"), "--mount", "--uts", "--pid", "--fork", "--kill-child", "--propagation",
                 "private", host_tool("bash"), str(script)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env=env, cwd="/",
            )
        pid = self._wait_entered(c.name, proc)
        # Published only now: exec and probes need the container's root.
        c.env = env
        c.proc = proc
        c.pid = pid
        c.started_at = time.monotonic()
        c.startup_passed = False
        c.ready = False

    def _start_script(self, c: Container, hostname: str, mounts: list[Mount], command: list[str],
                      join: list[str] = ()) -> str:
        """The steps between a new mount namespace and the container's command."""
        q = shlex.quote
        lower, root = c.image.root, c.root_dir / "root"
        r = q(str(root))
        layers = f"lowerdir={lower},upperdir={c.root_dir}/upper,workdir={c.root_dir}/work"
        lines = [
            "set -o errexit -o nounset",
            *([c.memory.join_line()] if c.memory else []),
            *join,
            f"hostname {q(hostname)}",
            f"mount -t overlay overlay -o {q(layers)} {r}",
            f"mkdir -p {r}/proc {r}/dev {r}/sys",
            f"mount -t proc -o nosuid,nodev,noexec proc {r}/proc",
            f"mount -t tmpfs -o nosuid,noexec,mode=0755,size=1m tmpfs {r}/dev",
            *(f"touch {r}/dev/{d} && mount --bind /dev/{d} {r}/dev/{d}" for d in DEVICES),
            f"ln -s /proc/self/fd {r}/dev/fd",
            *(f"ln -s /proc/self/fd/{n} {r}/dev/{name}" for n, name in enumerate(("stdin", "stdout", "stderr"))),
            f"mkdir {r}/dev/shm && mount -t tmpfs -o nosuid,nodev,noexec,mode=1777 shm {r}/dev/shm",
            f"mount -t sysfs -o ro,nosuid,nodev,noexec sysfs {r}/sys",
        ]
        # Parents before children, as containerd sorts them; a volume replaces the image's folder.
        for m in sorted(mounts, key=lambda m: len([p for p in m.target.split("/") if p])):
            target = q(f"{root}{resolve_in_root(lower, m.target)}")
            if m.source.is_dir():
                lines.append(f"mkdir -p {target}")
            else:
                lines.append(f"mkdir -p \"$(dirname {target})\" && {{ [ -e {target} ] || touch {target}; }}")
            lines.append(f"mount --bind {q(str(m.source))} {target}")
            if m.read_only:
                lines.append(f"mount -o remount,bind,ro {target}")
        # The runtime makes a missing working directory, before the root turns read-only.
        lines.append(f"mkdir -p {q(f'{root}{resolve_in_root(lower, c.workdir)}')}")
        if self.security(c).get("readOnlyRootFilesystem"):
            lines.append(f"mount -o remount,bind,ro {r}")
        unset = " ".join(f"-u {v}" for v in SHELL_VARIABLES)
        lines.append(f"exec {host_tool('env')} {unset} {host_tool('unshare')} --root={r} --wd={q(c.workdir)} "
                     f"{shlex.join(command)}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _wait_entered(name: str, proc: subprocess.Popen) -> int | None:
        """Waits until the container's PID 1 (the only child of ``unshare --fork``) is chrooted
        into its image, so that exec and probes find its root; returns PID 1's host pid, or
        None when the container has ended already."""
        host_root = os.stat("/").st_dev
        deadline = time.monotonic() + ENTER_SECONDS
        pid = None
        while proc.poll() is None and time.monotonic() < deadline:
            if pid is None:
                pid = next(iter(children(proc.pid)), None)
            try:
                if pid is not None and os.stat(f"/proc/{pid}/root").st_dev != host_root:
                    return pid
            except OSError:
                pass
            time.sleep(0.005)
        if proc.poll() is None:
            signal_process(proc.pid, signal.SIGKILL)
            if pid is not None:
                signal_process(pid, signal.SIGKILL)
            killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise EmulatorError(f"container {name} did not enter its image within {ENTER_SECONDS}s")
        return None

    def enter(self, c: Container, command: list[str]) -> list[str]:
        """argv that runs ``command`` in the running container, as its user; the environment
        (the container's) is the caller's to pass."""
        if not c.running:
            raise EmulatorError(f"container {c.name} is not running")
        pid = c.pid
        workdir = resolve_in_root(c.image.root, c.workdir).rstrip("/")
        # With --pid nsenter forks: its child is in the container's PID namespace.
        return [host_tool("nsenter"), f"--target={pid}", "--mount", "--uts", "--net", "--pid", "--root",
                f"--wd=/proc/{pid}/root{workdir}", "--", *self.identity(c), "--", *command]

    def spawn(self, c: Container, command: list[str], **popen) -> subprocess.Popen:
        """Starts ``command`` in the container (a probe), in a process group of its own: a
        probe that times out is killed with its group, and nothing else of the container."""
        return subprocess.Popen(self.enter(c, command), env=c.env, cwd="/", start_new_session=True, **popen)

    def exec(self, c: Container, command: list[str], *, env: dict[str, str] | None = None,
             input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        """Runs ``command`` in the container and waits for it (kubectl exec); at the timeout
        it is killed with its process group (nsenter's child, in the container, too) and
        subprocess.TimeoutExpired raised."""
        argv = self.enter(c, command)
        with subprocess.Popen(argv, env=c.env if env is None else env, cwd="/", start_new_session=True, text=True,
                              stdin=None if input is None else subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as proc:
            try:
                stdout, stderr = proc.communicate(input, timeout=timeout)
            except subprocess.TimeoutExpired:
                killpg(proc.pid, signal.SIGKILL)
                stdout, stderr = proc.communicate()
                raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr) from None
        return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)

    def stop(self, c: Container, grace: float) -> str | None:
        """As the kubelet stops a container: SIGTERM to its PID 1 alone (ignored by a PID 1
        without a handler for it), then, if PID 1 still runs after the grace period, SIGKILL
        to every process of the container. Says how a running container ended ("ended after
        N s on SIGTERM", "killed at the grace period of N s"); None if it was not running."""
        if c.proc is None:
            return None
        how = None
        if c.proc.poll() is None:
            started = time.monotonic()
            if c.pid is not None:
                signal_process(c.pid, signal.SIGTERM)
            try:
                c.proc.wait(timeout=grace)
                how = f"ended after {time.monotonic() - started:.1f} s on SIGTERM (exit {c.proc.returncode})"
            except subprocess.TimeoutExpired:
                self.kill(c)
                how = f"killed at the grace period of {grace:g} s"
        self.reap(c)
        c.proc = None
        c.pid = None
        return how

    def exit_code(self, c: Container) -> int:
        """The exit code of a container that ended by itself, as the runtime reports it: 137
        (SIGKILL) with reason OOMKilled when the OOM killer struck in its memory cgroup (the
        runtime's own process, outside it, saw its PID 1 die and exits 1)."""
        if c.memory is not None and c.memory.oom_kills():
            c.reason = "OOMKilled"
            c.oom_kills += 1
            return 137
        code = c.proc.returncode
        c.reason = "Completed" if code == 0 else "Error"
        return code

    def signal_all(self, c: Container, sig: int) -> None:
        """``sig`` to every process of the container at once (a crash, an OOM kill): its PID 1
        and its process group. SIGKILL goes to the runtime's process first, so that it ends by
        the signal as its container does (were it to see PID 1 killed, unshare would exit 1)."""
        if c.proc is None or c.proc.poll() is not None:
            return
        if sig == signal.SIGKILL:
            signal_process(c.proc.pid, sig)
        if c.pid is not None:
            signal_process(c.pid, sig)
        killpg(c.proc.pid, sig)

    def kill(self, c: Container) -> None:
        """SIGKILL to every process of the container; returns once PID 1, and with it the
        container's PID namespace, has ended."""
        if c.proc is None:
            return
        self.signal_all(c, signal.SIGKILL)
        c.proc.wait()
        if c.pid is not None and not wait_gone(c.pid, GONE_SECONDS):
            raise EmulatorError(f"container {c.name}: PID 1 (pid {c.pid}) survived SIGKILL for {GONE_SECONDS}s")

    def reap(self, c: Container) -> None:
        """A container's end takes all its processes with it: the end of its PID 1 ends its
        PID namespace; what is left of its process group on the host (an exec's nsenter),
        its probes, and whatever is still rooted in it are killed here."""
        if c.proc is not None:
            killpg(c.proc.pid, signal.SIGKILL)
        if c.root_dir is not None:
            for pid in rooted_at(c.root_dir / "root"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for state in c.probes.values():
            state.cancel()
        c.pid = None
        if c.memory is not None:
            c.memory_peak = c.memory.peak()
            c.memory.remove()
            c.memory = None
