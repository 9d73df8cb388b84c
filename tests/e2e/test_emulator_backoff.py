"""The emulator's restart delays on small hand-written pods in the ``rclone/rclone:1.75``
stand-in (busybox sh), as a kubelet and the Job controller run them: a container that keeps
failing is restarted at once, then after 10 s, then 20 s (``backoff.py``: doubling to 300 s,
reset after 10 minutes, which ``tests/test_emulator_restart_delays.py`` pins without waiting);
an init container the same; a Job's failed pod is replaced after 10 s. A container that goes over
its memory limit is OOM-killed (exit 137, reason OOMKilled) and restarted the same way; one
under it runs, its peak usage recorded (``memory.py``: a cgroup v1 memory group per start)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator import Cluster
from scenario_tools import PREFIX

pytestmark = pytest.mark.e2e

IMAGE = "rclone/rclone:1.75"
NAMESPACE = "backoff"
SECURITY = {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
FAILS = "echo attempt; exit 1"


def container(name: str, script: str) -> dict:
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", script], "securityContext": SECURITY}


def pod(*, init: list[dict] = (), restart: str = "Always") -> dict:
    return {"restartPolicy": restart, "terminationGracePeriodSeconds": 1, "initContainers": list(init),
            "containers": [container("main", "trap 'exit 0' TERM; while :; do sleep 1; done")]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network, mount and PID namespaces, overlay mounts)", pytrace=False)
    spec = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [container("fail", FAILS)]}
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "fails", "namespace": NAMESPACE},
               "spec": {"schedule": "0 3 * * *",
                        "jobTemplate": {"spec": {"backoffLimit": 1, "template": {"spec": spec}}}}}
    with Cluster([cronjob], tmp_path_factory.mktemp("backoff"), prefix=f"{PREFIX}bo{os.getpid() % 4096:03x}") as c:
        c.start()
        yield c


def times(cluster, prefix: str) -> list[float]:
    return [t for t, message in list(cluster.events) if message.startswith(prefix)]


def waits(cluster, name: str, ended: str) -> list[float]:
    """Seconds between each end of container ``name`` (``<pod>/<container>``) and its next start."""
    ends, starts = times(cluster, f"{name} {ended}"), times(cluster, f"{name} started pid")
    return [start - end for end, start in zip(ends, starts[1:])]


def test_a_failing_container_restarts_at_once_then_after_10_s_then_20_s(cluster):
    handle = cluster.run_pod("crashes", {**pod(), "containers": [container("main", f"sleep 1; {FAILS}")]})
    main = handle.pod.container("main")
    cluster.wait_for(lambda: main.restarts >= 3 and main.running, timeout=120, what="a third restart")

    first, second, third = waits(cluster, "crashes/main", "exited with")[:3]
    assert first < 3, f"the first restart waited {first:.1f} s"
    assert 10 <= second < 10 + 8 and 20 <= third < 20 + 8, (second, third)
    assert handle.logs("main").count("attempt") >= 3
    cluster.delete_pod_named("crashes", grace=0)


def test_a_failing_init_container_backs_off_the_same_way(cluster):
    handle = cluster.run_pod("init-fails", pod(init=[container("init", FAILS)]))
    init = handle.pod.container("init")
    cluster.wait_for(lambda: init.restarts >= 2 and init.running or init.restarts >= 3, timeout=60,
                     what="a second restart of the init container")

    first, second = waits(cluster, "init-fails/init", "failed with")[:2]
    assert first < 3 and 10 <= second < 10 + 8, (first, second)
    assert not handle.pod.container("main").running, "the pod's container started before its init container succeeded"
    cluster.delete_pod_named("init-fails", grace=0)


def test_a_jobs_failed_pod_is_replaced_after_10_s(cluster):
    job = cluster.run_job("fails")

    assert job.wait(90) is False and job.reason == "BackoffLimitExceeded" and len(job.pods) == 2
    failed = times(cluster, f"job {job.name}: pod {job.pods[0]} failed")
    created = times(cluster, f"create {job.pods[1]}")
    assert failed and created and 10 <= created[0] - failed[0] < 10 + 8, (failed, created)


def allocates(mebibytes: int, then: str = "") -> str:
    """A script that touches ``mebibytes`` MiB at once (dd's buffer, filled from /dev/zero)."""
    return f"echo allocating; dd if=/dev/zero of=/dev/null bs={mebibytes}M count=1 2>/dev/null; {then}"


def test_a_container_over_its_memory_limit_is_oom_killed_and_restarted_with_backoff(cluster):
    hog = {**container("main", allocates(96, "exit 0")), "resources": {"limits": {"memory": "32Mi"}}}
    handle = cluster.run_pod("hog", {**pod(), "containers": [hog]})
    main = handle.pod.container("main")
    limits = []

    def limited() -> bool:
        group = main.memory
        try:
            limits.append(int(Path(group.path, "memory.limit_in_bytes").read_text()))
        except (AttributeError, OSError):
            return False
        return True

    cluster.wait_for(limited, timeout=30, what="the hog's memory cgroup", interval=0.01)
    cluster.wait_for(lambda: len(main.exit_codes) >= 2 and len(times(cluster, "hog/main started pid")) >= 3,
                     timeout=60, what="two OOM kills and a third start")

    assert limits[-1] == 32 << 20
    assert main.exit_codes[:2] == [137, 137] and main.reason == "OOMKilled" and main.oom_kills >= 2
    assert len(times(cluster, "hog/main exited with 137 (OOMKilled)")) >= 2
    first, second = waits(cluster, "hog/main", "exited with")[:2]
    assert first < 3 and 10 <= second < 10 + 8, (first, second)
    cluster.delete_pod_named("hog", grace=0)


def test_a_container_under_its_memory_limit_runs_and_its_peak_is_recorded(cluster):
    modest = {**container("main", allocates(24, "exit 0")), "resources": {"limits": {"memory": "64Mi"}}}
    handle = cluster.run_pod("modest", {**pod(restart="Never"), "containers": [modest]})
    cluster.wait_for(lambda: handle.pod.phase == "Succeeded", timeout=30, what="the pod to succeed")

    main = handle.pod.container("main")
    assert main.exit_codes == [0] and main.reason == "Completed" and main.oom_kills == 0
    assert 24 << 20 <= main.memory_peak <= 64 << 20, main.memory_peak
    cluster.delete_pod_named("modest")
