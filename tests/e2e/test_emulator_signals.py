"""How the emulator stops containers, pinned on small hand-written pods in the
``rclone/rclone:1.75`` stand-in (busybox sh): as a kubelet does. Each container is its own
PID namespace with its command as PID 1; a deletion sends SIGTERM to PID 1 alone and SIGKILL
to everything at the end of the grace period; a shell as PID 1 without a TERM trap ignores
SIGTERM (the kernel delivers to a namespace's init only the signals it handles), so the
deletion takes the whole grace period; an exec probe that times out is killed alone."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from emulator import Cluster
from scenario_tools import PREFIX, SPEED

pytestmark = pytest.mark.e2e

IMAGE = "rclone/rclone:1.75"
GRACE = 8
SECURITY = {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
# Every round says how its sleep ended: 0 when it ran out, 143 when SIGTERM ended it.
NO_TRAP = 'echo "pid $$"; while :; do sleep 1; echo "sleep ended $?"; done'
TRAP = "trap 'echo terminated; exit 0' TERM; echo ready; while :; do sleep 1; done"
# A background child that outlives nothing: it ends with PID 1's namespace.
ORPHAN_SECONDS = 6173
LEAVES_A_CHILD = f"sleep {ORPHAN_SECONDS} & echo started; sleep 1; exit 3"


def pod(script: str, *, restart: str = "Always", **container: object) -> dict:
    return {"restartPolicy": restart, "terminationGracePeriodSeconds": GRACE,
            "containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", script],
                            "securityContext": SECURITY, **container}]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network, mount and PID namespaces, overlay mounts)", pytrace=False)
    with Cluster([], tmp_path_factory.mktemp("signals"), prefix=f"{PREFIX}sg{os.getpid() % 4096:03x}",
                 speed=SPEED) as c:
        c.start()
        yield c


def delete_in_background(cluster, name: str) -> tuple[threading.Thread, list[float]]:
    """``kubectl delete pod`` (the pod's grace period) in a thread; the list gets the seconds
    it took once the pod is gone."""
    took: list[float] = []
    started = time.monotonic()

    def delete() -> None:
        cluster.delete_pod_named(name)
        took.append(time.monotonic() - started)

    thread = threading.Thread(target=delete)
    thread.start()
    return thread, took


def test_a_shell_without_a_trap_ignores_sigterm_and_is_killed_at_the_grace_period(cluster):
    handle = cluster.run_pod("no-trap", pod(NO_TRAP))
    handle.wait_ready(30)
    cluster.wait_for(lambda: "sleep ended 0" in handle.logs("main"), timeout=10, what="a first round")
    container = handle.pod.container("main")

    thread, took = delete_in_background(cluster, "no-trap")
    time.sleep(4)
    rounds = handle.logs("main").count("sleep ended")
    time.sleep(1.5)

    assert container.running and not took, "SIGTERM must not end a PID 1 that has no handler for it"
    assert handle.logs("main").count("sleep ended") > rounds, "the loop runs on during the grace period"
    thread.join(GRACE + 10)
    assert took and GRACE - 0.5 <= took[0] < GRACE + 2, f"gone after {took} s, grace {GRACE} s"
    assert not container.running and container.exit_codes == [] and handle.pod.phase == "Terminated"
    log = handle.logs("main")
    assert "sleep ended 143" not in log, "the child sleep got SIGTERM: the emulator signalled more than PID 1"
    assert log.count("sleep ended 0") >= 8


def test_a_shell_that_traps_sigterm_ends_at_once(cluster):
    handle = cluster.run_pod("trap", pod(TRAP))
    handle.wait_ready(30)
    cluster.wait_for(lambda: "ready" in handle.logs("main"), timeout=10, what="the trap to be set")

    thread, took = delete_in_background(cluster, "trap")
    thread.join(GRACE + 10)

    assert took and took[0] < 2, f"gone after {took[0]:.1f} s"  # the sleep under way ends first
    assert "terminated" in handle.logs("main")


def test_a_container_sees_only_its_own_processes_with_its_command_as_pid_1(cluster):
    handle = cluster.run_pod("ps", pod(NO_TRAP))
    handle.wait_ready(30)
    cluster.wait_for(lambda: "sleep ended" in handle.logs("main"), timeout=10, what="a first round")

    ps = handle.exec("main", ["ps", "-o", "pid,args"])
    proc = handle.exec("main", ["sh", "-c", 'tr "\\0" " " </proc/1/cmdline; echo; ls /proc | grep -c "^[0-9]"'])

    assert ps.returncode == 0, ps.stderr
    rows = [line.split(None, 1) for line in ps.stdout.splitlines()[1:]]
    assert rows[0] == ["1", f"sh -c {NO_TRAP}"], ps.stdout
    assert "pid 1" in handle.logs("main")
    others = sorted(args for _, args in rows[1:])
    assert all(args in ("sleep 1", "ps -o pid,args") for args in others), ps.stdout
    assert len(rows) <= 4, ps.stdout  # PID 1, its sleep, ps (and a sleep just starting)
    cmdline, count = proc.stdout.splitlines()
    assert cmdline.strip() == f"sh -c {NO_TRAP}"
    assert int(count) <= 5, "the container's /proc lists the host's processes"
    # The emulator knows PID 1 by its host pid: the same process, seen from the host.
    assert Path(f"/proc/{handle.pod.container('main').pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sh", b"-c"]
    cluster.delete_pod_named("ps", grace=0)


def test_an_exec_probe_that_times_out_is_killed_alone(cluster):
    probe = {"exec": {"command": ["sleep", "30"]}, "timeoutSeconds": 1, "periodSeconds": 1, "failureThreshold": 1000}
    handle = cluster.run_pod("slow-probe", pod(NO_TRAP, livenessProbe=probe))
    container = handle.pod.container("main")
    cluster.wait_for(lambda: container.running and len(container.probes["liveness"].results) >= 4, timeout=30,
                     what="four liveness probes")

    assert all(ok is False for _, ok in container.probes["liveness"].results)
    assert container.running and container.restarts == 0
    ps = handle.exec("main", ["ps", "-o", "args"])
    assert ps.stdout.count("sleep 30") <= 1, f"probes that timed out still run:\n{ps.stdout}"
    assert f"sh -c {NO_TRAP}" in ps.stdout
    cluster.delete_pod_named("slow-probe", grace=0)


def test_the_container_ends_with_its_pid_1_and_takes_its_children_along(cluster):
    handle = cluster.run_pod("leaves-a-child", pod(LEAVES_A_CHILD, restart="Never"))
    container = handle.pod.container("main")
    cluster.wait_for(lambda: handle.pod.phase == "Failed", timeout=30, what="the pod to fail")

    assert container.exit_codes == [3] and "started" in handle.logs("main")
    needle = f"sleep\0{ORPHAN_SECONDS}".encode()
    left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).startswith(needle)]
    assert not left, f"the container's child outlived its PID 1: {left}"
    cluster.delete_pod_named("leaves-a-child")


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_a_pre_stop_hook_runs_before_sigterm_and_its_time_comes_off_the_grace_period(cluster):
    # PID 1 traps SIGTERM and says so; the hook writes where PID 1 prints from, then takes 3 s.
    script = ("trap 'echo terminated; exit 0' TERM; echo ready; "
              "while :; do [ -e /tmp/hook ] && { echo \"hook ran: $(cat /tmp/hook)\"; rm /tmp/hook; }; sleep 0.2; done")
    hook = {"preStop": {"exec": {"command": ["sh", "-c", "echo before-sigterm > /tmp/hook; sleep 3"]}}}
    spec = pod(script, lifecycle=hook)
    spec["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    spec["containers"][0]["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    handle = cluster.run_pod("pre-stop", spec)
    handle.wait_ready(30)
    container = handle.pod.container("main")

    thread, took = delete_in_background(cluster, "pre-stop")
    thread.join(GRACE + 10)

    logs = handle.logs("main")
    assert "hook ran: before-sigterm" in logs and logs.index("hook ran") < logs.index("terminated"), logs
    assert took and 3 <= took[0] < GRACE, f"gone after {took} s: the hook's 3 s, then SIGTERM ends PID 1 at once"
    assert not container.running
    assert any("pre-stop/main: preStop hook exited 0" in what for _, what in cluster.events), "the kubelet logs the hook"


def test_a_pre_stop_hook_that_outlasts_the_grace_period_leaves_sigterm_two_seconds(cluster):
    hook = {"preStop": {"exec": {"command": ["sh", "-c", f"sleep {GRACE * 3}"]}}}
    handle = cluster.run_pod("slow-hook", pod(TRAP, lifecycle=hook))
    handle.wait_ready(30)

    thread, took = delete_in_background(cluster, "slow-hook")
    thread.join(GRACE * 3)

    assert took and GRACE - 0.5 <= took[0] < GRACE + 3, f"gone after {took} s, grace {GRACE} s"
    assert "terminated" in handle.logs("main"), "SIGTERM still reached PID 1, with the kubelet's 2 s minimum"
