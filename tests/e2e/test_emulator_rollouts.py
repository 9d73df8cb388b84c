"""The emulator's StatefulSet controller, pinned on small hand-written sets in the
``rclone/rclone:1.75`` stand-in (busybox sh), as kube-controller-manager runs a set: a changed
pod template rolls the pods from the highest ordinal down, each after the previous updated one
is Running and Ready, never below ``partition``; ``OnDelete`` waits for deletions;
``OrderedReady`` creates pod N only while every lower one is ready and scales down one pod at a
time, highest first; ``Parallel`` does both at once. Each pod carries its template's revision
in ``controller-revision-hash``.

A pod's readiness probe checks for ``/tmp/ready``: its script touches it ``READY`` seconds
after start, or never (``READY=manual``: the test touches it with ``kubectl exec``)."""

from __future__ import annotations

import contextlib
import os
import re
import time

import pytest

from emulator import Cluster, EmulatorError
from emulator.statefulset import REVISION_LABEL
from scenario_tools import PREFIX

pytestmark = pytest.mark.e2e

IMAGE = "rclone/rclone:1.75"
SET = "web"
SECURITY = {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
# Ends on SIGTERM after TERM_SECONDS (the round's sleep first): a deletion takes a moment, so
# that one pod's end and the next one's deletion can be told apart.
TERM_SECONDS = 2
SCRIPT = (f"trap 'echo terminating; sleep {TERM_SECONDS}; exit 0' TERM; "
          '[ "$READY" = manual ] || { sleep "$READY"; touch /tmp/ready; }; '
          "while :; do sleep 1; done")


def statefulset(version: str = "1", *, replicas: int = 3, ready: str = "1", policy: str = "OrderedReady",
                strategy: dict | None = None) -> list[dict]:
    """The set ``web`` and its headless Service; ``version`` is an annotation of the pod
    template (a change of it is a new revision)."""
    labels = {"app": SET}
    probe = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    template = {
        "metadata": {"labels": labels, "annotations": {"version": version}},
        "spec": {"terminationGracePeriodSeconds": 10, "volumes": [{"name": "tmp", "emptyDir": {}}],
                 "containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", SCRIPT],
                                 "env": [{"name": "READY", "value": ready}], "securityContext": SECURITY,
                                 "readinessProbe": probe,
                                 "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}]},
    }
    spec = {"serviceName": SET, "replicas": replicas, "podManagementPolicy": policy,
            "selector": {"matchLabels": labels}, "template": template}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    return [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": SET, "namespace": "roll"},
             "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 80}]}},
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": SET, "namespace": "roll"},
             "spec": spec}]


@contextlib.contextmanager
def started(tmp_path, manifests: list[dict], tag: str):
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network, mount and PID namespaces, overlay mounts)", pytrace=False)
    with Cluster(manifests, tmp_path / tag, prefix=f"{PREFIX}ro{os.getpid() % 4096:03x}{tag}") as cluster:
        cluster.start()
        yield cluster


def revisions(cluster) -> dict[int, str]:
    with cluster.lock:
        return {o: p.labels[REVISION_LABEL] for o, p in sorted(cluster.pods.items())}


def events(cluster, pattern: str) -> list[tuple[float, re.Match]]:
    """(time, match) of every event of the cluster's log that matches ``pattern``, in order."""
    found = []
    for when, message in list(cluster.events):
        match = re.fullmatch(pattern, message)
        if match:
            found.append((when, match))
    return found


def deletions(cluster, since: float = 0.0) -> list[tuple[float, int]]:
    return [(t, int(m.group(1))) for t, m in events(cluster, rf"statefulset {SET}: delete {SET}-(\d+) \(.*\)")
            if t >= since]


def ready_at(cluster, ordinal: int, after: float) -> float:
    """When pod N's container first turned ready after ``after``."""
    return min(t for t, _ in events(cluster, rf"{SET}-{ordinal}/main ready") if t > after)


def touch_ready(cluster, ordinal: int) -> None:
    cluster.wait_for(lambda: ordinal in cluster.pods and cluster.pod(ordinal).container("main").running,
                     timeout=30, what=f"{SET}-{ordinal} to run")
    result = cluster.exec(ordinal, "main", ["touch", "/tmp/ready"])
    assert result.returncode == 0, result.stderr


def test_rolling_update_goes_down_from_the_highest_ordinal_each_after_the_previous_is_ready(tmp_path):
    with started(tmp_path, statefulset("1"), "r") as cluster:
        cluster.wait_ready(3, timeout=60)
        old = revisions(cluster)
        assert len(set(old.values())) == 1 and old[0].startswith(f"{SET}-")
        applied = time.monotonic()

        assert cluster.apply(statefulset("2")) == [f"StatefulSet/{SET}: template"]
        seconds = cluster.wait_rolled_out(timeout=120)

        new = revisions(cluster)
        assert len(set(new.values())) == 1 and new[0] != old[0]
        assert cluster.set.current_revision == cluster.set.update_revision == new[0]
        assert all(cluster.pod(o).labels["app"] == SET for o in range(3))
        order = deletions(cluster, applied)
        assert [o for _, o in order] == [2, 1, 0], order
        for (_, previous), (deleted_at, ordinal) in zip(order, order[1:]):
            # The pod deleted before this one came back at the new revision and got ready first.
            created = [t for t, m in events(cluster, rf"statefulset {SET}: create {SET}-{previous} at (\S+)")
                       if m.group(1) == new[0]]
            assert created, f"{SET}-{previous} was not created at {new[0]}"
            assert ready_at(cluster, previous, created[0]) < deleted_at, (
                f"{SET}-{ordinal} was deleted before the updated {SET}-{previous} was ready")
        print(f"emulator rollout of 3 pods (ready 1 s after start): {seconds:.1f} s")


def test_a_template_whose_pods_never_get_ready_stalls_at_the_highest_pod(tmp_path):
    """As the Kubernetes documentation says under "Forced rollback": the rollout stops at the
    broken pod, and after the template is reverted the broken pod must be deleted by hand."""
    with started(tmp_path, statefulset("1"), "s") as cluster:
        cluster.wait_ready(3, timeout=60)
        old = revisions(cluster)
        applied = time.monotonic()
        cluster.apply(statefulset("broken", ready="manual"))
        broken = cluster.set.update_revision
        cluster.wait_for(lambda: 2 in cluster.pods and revisions(cluster)[2] == broken, timeout=60,
                         what=f"{SET}-2 at the broken revision")
        time.sleep(6)

        assert [o for _, o in deletions(cluster, applied)] == [2]
        assert revisions(cluster) == {0: old[0], 1: old[1], 2: broken}
        assert cluster.pod(0).ready and cluster.pod(1).ready and not cluster.pod(2).ready
        assert cluster.set.current_revision == old[0]

        # A fixed template alone does not help: OrderedReady waits for the unready pod before
        # anything else (Kubernetes' "forced rollback": delete the broken pod by hand).
        cluster.apply(statefulset("3"))
        time.sleep(4)
        assert revisions(cluster)[2] == broken and [o for _, o in deletions(cluster, applied)] == [2]
        cluster.delete_pod(2)
        cluster.wait_rolled_out(timeout=120)
        assert set(revisions(cluster).values()) == {cluster.set.update_revision}
        assert [o for _, o in deletions(cluster, applied)] == [2, 1, 0]


def test_partition_holds_the_lower_ordinals_at_the_current_revision(tmp_path):
    with started(tmp_path, statefulset("1"), "p") as cluster:
        cluster.wait_ready(3, timeout=60)
        old = revisions(cluster)[0]
        applied = time.monotonic()
        cluster.apply(statefulset("2", strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
        cluster.wait_rolled_out(timeout=60)
        new = cluster.set.update_revision
        time.sleep(3)
        assert revisions(cluster) == {0: old, 1: old, 2: new}

        # A pod below the partition that is deleted comes back at the current revision.
        cluster.delete_pod(0)
        cluster.wait_ready(3, timeout=60)
        assert revisions(cluster) == {0: old, 1: old, 2: new}
        assert cluster.set.current_revision == old

        cluster.apply(statefulset("2", strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}))
        cluster.wait_rolled_out(timeout=120)
        assert set(revisions(cluster).values()) == {new} and cluster.set.current_revision == new
        assert [o for _, o in deletions(cluster, applied)] == [2, 1, 0]


def test_on_delete_updates_a_pod_only_when_it_is_deleted(tmp_path):
    on_delete = {"type": "OnDelete"}
    with started(tmp_path, statefulset("1", strategy=on_delete), "o") as cluster:
        cluster.wait_ready(3, timeout=60)
        old = revisions(cluster)[0]
        applied = time.monotonic()
        assert cluster.apply(statefulset("2", strategy=on_delete)) == [f"StatefulSet/{SET}: template"]
        new = cluster.set.update_revision
        time.sleep(5)
        assert revisions(cluster) == {0: old, 1: old, 2: old} and not deletions(cluster, applied)

        cluster.delete_pod(1)
        cluster.wait_ready(3, timeout=60)
        assert revisions(cluster) == {0: old, 1: new, 2: old}


def test_ordered_ready_creates_pod_n_after_the_lower_ones_are_ready(tmp_path):
    with started(tmp_path, statefulset("1", ready="manual"), "c") as cluster:
        cluster.wait_for(lambda: 0 in cluster.pods and cluster.pod(0).container("main").running, timeout=30,
                         what=f"{SET}-0 to run")
        time.sleep(4)
        assert sorted(cluster.pods) == [0], "pod 1 was created while pod 0 was not ready"
        touch_ready(cluster, 0)
        touch_ready(cluster, 1)
        cluster.wait_for(lambda: 2 in cluster.pods, timeout=30, what=f"{SET}-2 to be created")
        touch_ready(cluster, 2)
        cluster.wait_ready(3, timeout=30)

        # Pod 0 not ready: a deleted higher pod is not created again until pod 0 is ready.
        assert cluster.exec(0, "main", ["rm", "/tmp/ready"]).returncode == 0
        cluster.wait_for(lambda: not cluster.pod(0).ready, timeout=30, what=f"{SET}-0 to turn unready")
        cluster.delete_pod(2)
        time.sleep(4)
        assert sorted(cluster.pods) == [0, 1], f"{SET}-2 came back while {SET}-0 was not ready"
        touch_ready(cluster, 0)
        touch_ready(cluster, 2)
        cluster.wait_ready(3, timeout=30)


def test_ordered_ready_scales_down_one_pod_at_a_time_highest_first(tmp_path):
    with started(tmp_path, statefulset("1", replicas=4), "d") as cluster:
        cluster.wait_ready(4, timeout=90)
        scaled = time.monotonic()
        cluster.scale(1)
        cluster.wait_for(lambda: sorted(cluster.pods) == [0], timeout=90, what="one pod left")

        order = deletions(cluster, scaled)
        assert [o for _, o in order] == [3, 2, 1], order
        gone = {int(m.group(1)): t for t, m in events(cluster, rf"statefulset {SET}: {SET}-(\d+) gone") if t >= scaled}
        for (_, previous), (deleted_at, _) in zip(order, order[1:]):
            assert gone[previous] <= deleted_at, f"deleted before {SET}-{previous} was gone"


def test_parallel_creates_and_deletes_every_pod_at_once(tmp_path):
    with started(tmp_path, statefulset("1", replicas=3, ready="manual", policy="Parallel"), "a") as cluster:
        cluster.wait_for(lambda: len(cluster.pods) == 3 and all(p.container("main").running
                                                                 for p in cluster.pods.values()),
                         timeout=60, what="three pods running")
        assert not any(p.ready for p in cluster.pods.values()), "no pod was made ready yet"

        scaled = time.monotonic()
        cluster.scale(1)
        cluster.wait_for(lambda: sorted(cluster.pods) == [0], timeout=60, what="one pod left")
        order = deletions(cluster, scaled)
        gone = [t for t, _ in events(cluster, rf"statefulset {SET}: {SET}-\d+ gone") if t >= scaled]
        assert sorted(o for _, o in order) == [1, 2]
        assert max(t for t, _ in order) < min(gone), "the second pod waited for the first to go"

        # podManagementPolicy is immutable, as the API server says.
        with pytest.raises(EmulatorError, match="Forbidden.*podManagementPolicy"):
            cluster.apply(statefulset("1", replicas=1, policy="OrderedReady"))
