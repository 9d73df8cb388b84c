"""The emulator's nodes, PersistentVolumes and claims, lost nodes and drains, pinned on small
hand-written manifests in the ``rclone/rclone:1.75`` stand-in (busybox sh): pods scheduled onto
nodes as their volumes and anti-affinity allow, static local PVs that pin a pod to its node and
stay Released when their claim goes, dynamically provisioned ones that go with it, access
modes, a lost node's pods frozen and silently cut off until they are force-deleted, and drains
that wait for the PodDisruptionBudget.

Each pod of the set ``db`` writes the time into ``/data/tick`` (its claim) five times a second
and is ready while ``/tmp/ready`` exists (it touches it at start; a test removes it)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from types import SimpleNamespace

import pytest

from emulator import Cluster, EmulatorError
from emulator.disruption import Budget, decide
from scenario_tools import PREFIX

pytestmark = pytest.mark.e2e

IMAGE = "rclone/rclone:1.75"
NAMESPACE = "nodes"
SET = "db"
LABELS = {"app": SET}
SECURITY = {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
SCRIPT = "trap 'exit 0' TERM; touch /tmp/ready; while :; do date +%s > /data/tick; sleep 0.2; done"
# Node timings at this speed: Ready False 4 s after a node is lost, Terminating 30 s later.
SPEED = 10


def metadata(name: str, namespaced: bool = True) -> dict:
    return {"name": name, **({"namespace": NAMESPACE} if namespaced else {})}


def local_pv(name: str, node: str | None, *, storage_class: str = "local", modes: tuple[str, ...] = ("ReadWriteOnce",),
             size: str = "1Gi") -> dict:
    spec = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": "Retain", "local": {"path": f"/mnt/{name}"}}
    if node is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": metadata(name, False), "spec": spec}


def storage_class(name: str, binding: str = "WaitForFirstConsumer") -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": metadata(name, False),
            "provisioner": "kubernetes.io/no-provisioner", "reclaimPolicy": "Retain", "volumeBindingMode": binding}


def container(script: str = SCRIPT, mounts: tuple[str, ...] = ("data",)) -> dict:
    probe = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    return {"name": "main", "image": IMAGE, "command": ["sh", "-c", script], "securityContext": SECURITY,
            "readinessProbe": probe,
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *({"name": m, "mountPath": "/data"} for m in mounts)]}


def manifests(*, nodes: tuple[str, ...] = ("disk-a", "disk-b", "disk-c"), replicas: int = 3, static: bool = True,
              anti: str = "required", budget: dict | None = None) -> list[dict]:
    """The set ``db`` with its Services; with ``static``, a local StorageClass and one PV on
    each of ``nodes``, else claims of kind's ``standard`` class."""
    selector = {"labelSelector": {"matchLabels": LABELS}, "topologyKey": "kubernetes.io/hostname"}
    affinity = ({"requiredDuringSchedulingIgnoredDuringExecution": [selector]} if anti == "required" else
                {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": selector}]})
    template = {"metadata": {"labels": LABELS},
                "spec": {"terminationGracePeriodSeconds": 5, "securityContext": {"fsGroup": 999},
                         "affinity": {"podAntiAffinity": affinity},
                         "volumes": [{"name": "tmp", "emptyDir": {}}], "containers": [container()]}}
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                     "storageClassName": "local" if static else "standard",
                                                     "resources": {"requests": {"storage": "1Gi"}}}}
    objects = [
        {"apiVersion": "v1", "kind": "Service", "metadata": metadata(SET),
         "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": LABELS, "ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": metadata(f"{SET}-read"),
         "spec": {"selector": LABELS, "ports": [{"port": 80}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata(SET),
         "spec": {"serviceName": SET, "replicas": replicas, "podManagementPolicy": "Parallel",
                  "selector": {"matchLabels": LABELS}, "template": template, "volumeClaimTemplates": [claim]}},
    ]
    if static:
        objects += [storage_class("local"), *(local_pv(f"pv-{node}", node) for node in nodes)]
    if budget is not None:
        objects.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": metadata(SET),
                        "spec": {**budget, "selector": {"matchLabels": LABELS}}})
    return objects


@contextlib.contextmanager
def started(tmp_path, objects: list[dict], tag: str, speed: float = SPEED, nodes: list[str] | None = None,
            cordoned: tuple[str, ...] = ()):
    """A started cluster; ``cordoned`` nodes are cordoned before any pod exists."""
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network, mount and PID namespaces, overlay mounts)", pytrace=False)
    with Cluster(objects, tmp_path / tag, prefix=f"{PREFIX}nd{os.getpid() % 4096:03x}{tag}", speed=speed,
                 nodes=nodes) as cluster:
        for node in cordoned:
            cluster.cordon(node)
        cluster.start()
        yield cluster


def pending(cluster, ordinal: int) -> str:
    """Pod N's pending reason, once it exists and is Pending."""
    cluster.wait_for(lambda: ordinal in cluster.pods and cluster.pod(ordinal).pending_reason, timeout=30,
                     what=f"{SET}-{ordinal} Pending")
    return cluster.pod(ordinal).pending_reason


def tick(cluster, ordinal: int) -> str:
    return (cluster.pvc_dir(ordinal) / "tick").read_text()


def connect_seconds(cluster, ordinal: int, ip: str) -> tuple[float, str]:
    """How long ``nc`` in pod N takes to fail to connect to ``ip``:7000 (nothing listens there),
    and what it said."""
    started_at = time.monotonic()
    result = cluster.exec(ordinal, "main", ["timeout", "10", "nc", "-w", "3", ip, "7000"], timeout=20)
    assert result.returncode != 0
    return time.monotonic() - started_at, result.stderr


def test_static_local_volumes_pin_each_pod_to_its_node_and_stay_released_when_the_claim_goes(tmp_path):
    with started(tmp_path, manifests(), "s") as cluster:
        cluster.wait_ready(3, timeout=60)
        assert cluster.nodes == {**{n: "ready" for n in ("disk-a", "disk-b", "disk-c")},
                                 **{f"node-{i}": "ready" for i in range(8)}}
        assert sorted(cluster.node_of(o) for o in range(3)) == ["disk-a", "disk-b", "disk-c"]
        for o in range(3):
            pv = cluster.pvs[cluster.pvcs[f"data-{SET}-{o}"].volume]
            assert (pv.phase, pv.claim, pv.node) == ("Bound", f"data-{SET}-{o}", cluster.node_of(o))
            assert cluster.pvc_dir(o) == pv.path and (pv.path / "tick").exists()

        # A fourth pod has no volume anywhere: Pending, until a PV is added on a node of its own.
        cluster.scale(4)
        assert "no Available PersistentVolume of class local" in pending(cluster, 3)
        time.sleep(1)
        assert not cluster.pod(3).scheduled and cluster.pvcs[f"data-{SET}-3"].phase == "Pending"
        assert cluster.apply(manifests(nodes=("disk-a", "disk-b", "disk-c", "node-0"), replicas=4)) == [
            "PersistentVolume/pv-node-0"]
        cluster.wait_ready(4, timeout=60)
        assert cluster.node_of(3) == "node-0" and cluster.pvs["pv-node-0"].claim == f"data-{SET}-3"
        (cluster.pvc_dir(3) / "marker").write_text("written by db-3\n")

        # Retain: the claim goes, the PV stays Released with its data, and is never bound again.
        cluster.scale(3)
        cluster.wait_for(lambda: 3 not in cluster.pods, timeout=30, what=f"{SET}-3 to go")
        folder = cluster.pvs["pv-node-0"].path
        cluster.delete_pvc(3)
        assert f"data-{SET}-3" not in cluster.pvcs
        assert cluster.pvs["pv-node-0"].phase == "Released" and (folder / "marker").exists()
        cluster.scale(4)
        assert "no Available PersistentVolume" in pending(cluster, 3)
        time.sleep(1)
        assert cluster.pvs["pv-node-0"].phase == "Released" and not cluster.pod(3).scheduled

        # Recycled by hand: the PV deleted and applied again comes Available, data and all.
        cluster.delete_pv("pv-node-0")
        cluster.apply(manifests(nodes=("disk-a", "disk-b", "disk-c", "node-0"), replicas=4))
        cluster.wait_ready(4, timeout=60)
        assert cluster.pvs["pv-node-0"].claim == f"data-{SET}-3"
        assert (cluster.pvc_dir(3) / "marker").read_text() == "written by db-3\n"


def test_a_lost_node_freezes_its_pod_silently_and_its_claim_keeps_the_new_pod_pending(tmp_path):
    with started(tmp_path, manifests(), "l") as cluster:
        cluster.wait_ready(3, timeout=60)
        pod = cluster.pod(1)
        node, ip, folder = pod.node, pod.ip, cluster.pvc_dir(1)
        refused, said = connect_seconds(cluster, 0, ip)
        assert refused < 2, f"nothing listens on {ip}:7000: refused at once ({said!r})"

        assert cluster.lose_node(node) == [f"{SET}-1"]
        lost = time.monotonic()
        assert cluster.nodes[node] == "lost"
        assert (pod.freezer.path / "freezer.state").read_text().strip() == "FROZEN"
        # Taken once frozen: a probe's short process that ended just before is no evidence.
        pids = cluster.pod_processes(1)
        assert pids
        before = tick(cluster, 1)
        time.sleep(1.5)
        assert tick(cluster, 1) == before, "a frozen pod went on writing"
        assert all(os.path.exists(f"/proc/{p}") for p in pids), "a lost node's processes end nothing"
        waited, _ = connect_seconds(cluster, 0, ip)
        assert waited >= 2.9, "a lost node's pod answered (a reset or an ICMP error)"
        with pytest.raises(EmulatorError, match="does not answer"):
            cluster.exec(1, "main", ["true"])

        # Ready until the node-monitor grace period (40 s / SPEED), then out of the Services;
        # the headless Service keeps its name (publishNotReadyAddresses).
        cluster.wait_for(lambda: f"{SET}-1" not in cluster.endpoints(f"{SET}-read"), timeout=30,
                         what=f"{SET}-1 to leave the endpoints")
        assert time.monotonic() - lost >= 40 / SPEED - 0.5
        answer = cluster.exec(0, "main", ["getent", "ahostsv4", f"{SET}-1.{SET}.{NAMESPACE}.svc.cluster.local"])
        assert answer.returncode == 0 and ip in answer.stdout.split(), answer

        # Terminating after the default toleration (300 s / SPEED more), but the pod stays.
        cluster.wait_for(lambda: cluster.pod(1).deleting, timeout=60, what=f"{SET}-1 to be Terminating")
        assert time.monotonic() - lost >= (40 + 300) / SPEED - 0.5
        time.sleep(1)
        assert cluster.pod(1) is pod and pod.ip == ip and pod.frozen

        # Force-deleted: a new pod 1, Pending while its claim's PV sits on the lost node.
        cluster.force_delete(1)
        assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
                       for p in pids)
        reason = pending(cluster, 1)
        assert cluster.pod(1) is not pod
        assert "volume node affinity conflict" in reason and f"node is not ready ({node})" in reason, reason
        time.sleep(1)
        assert not cluster.pod(1).scheduled

        # The node comes back: the new pod goes there, on its old volume.
        cluster.restore_node(node)
        cluster.wait_ready(3, timeout=60)
        assert cluster.node_of(1) == node and cluster.pvc_dir(1) == folder
        cluster.wait_for(lambda: tick(cluster, 1) != before, timeout=10, what=f"{SET}-1 to write again")


def test_a_node_back_before_its_pod_is_evicted_thaws_the_pod_where_it_stopped(tmp_path):
    with started(tmp_path, manifests(), "b") as cluster:
        cluster.wait_ready(3, timeout=60)
        pod = cluster.pod(2)
        pid = pod.container("main").pid
        cluster.lose_node(pod.node)
        cluster.wait_for(lambda: not pod.ready, timeout=30, what=f"{SET}-2's Ready condition False")
        before = tick(cluster, 2)

        cluster.restore_node(pod.node)

        cluster.wait_for(lambda: tick(cluster, 2) != before, timeout=10, what=f"{SET}-2 to write again")
        cluster.wait_for(lambda: f"{SET}-2" in cluster.endpoints(f"{SET}-read"), timeout=10,
                         what=f"{SET}-2 back in the endpoints")
        assert cluster.pod(2) is pod and pod.container("main").pid == pid and pod.container("main").restarts == 0
        assert cluster.exec(2, "main", ["true"]).returncode == 0


def test_a_drain_waits_for_the_budget_and_the_evicted_pod_waits_for_its_cordoned_node(tmp_path):
    with started(tmp_path, manifests(budget={"maxUnavailable": 1}), "d") as cluster:
        cluster.wait_ready(3, timeout=60)
        node = cluster.node_of(1)
        assert cluster.exec(0, "main", ["rm", "/tmp/ready"]).returncode == 0
        cluster.wait_for(lambda: not cluster.pod(0).ready, timeout=10, what=f"{SET}-0 unready")

        assert cluster.evict(f"{SET}-1") is False
        assert "429" in cluster.refusals[-1].reason and "disruptionsAllowed 0" in cluster.refusals[-1].reason
        assert cluster.pod(1).ready and not cluster.pod(1).deleting

        # The unready pod gets ready again 7 s into the drain: the second retry succeeds.
        threading.Timer(7, lambda: cluster.exec(0, "main", ["touch", "/tmp/ready"])).start()
        began = time.monotonic()
        refusals = cluster.drain(node, timeout=60)
        took = time.monotonic() - began

        assert [r.pod for r in refusals] == [f"{SET}-1", f"{SET}-1"], refusals
        assert 10 <= took < 20, took
        assert cluster.nodes[node] == "cordoned"
        reason = pending(cluster, 1)
        assert "cordoned" in reason and "volume node affinity conflict" in reason, reason
        # With db-1 Pending, the budget allows no other eviction.
        assert cluster.evict(f"{SET}-2") is False

        cluster.uncordon(node)
        cluster.wait_ready(3, timeout=60)
        assert cluster.node_of(1) == node


def test_dynamic_claims_are_provisioned_on_the_pods_node_and_deleted_with_the_claim(tmp_path):
    with started(tmp_path, manifests(static=False, anti="preferred"), "p") as cluster:
        cluster.wait_ready(3, timeout=60)
        assert cluster.nodes == {f"node-{i}": "ready" for i in range(8)}
        nodes = [cluster.node_of(o) for o in range(3)]
        assert len(set(nodes)) == 3, "preferred anti-affinity: each pod on an empty node"
        old = cluster.pvs[cluster.pvcs[f"data-{SET}-1"].volume]
        assert old.name.startswith("pvc-") and old.node == nodes[1] and old.reclaim_policy == "Delete"

        cluster.delete_pod(1, delete_claims=True)

        assert old.name not in cluster.pvs and not old.path.exists()
        cluster.wait_ready(3, timeout=60)
        new = cluster.pvs[cluster.pvcs[f"data-{SET}-1"].volume]
        assert new.name != old.name and new.node == cluster.node_of(1)

        # A pod of its own gets a node too, by the same rules.
        client = cluster.run_pod("client", {"volumes": [{"name": "tmp", "emptyDir": {}}],
                                            "containers": [container("touch /tmp/ready; exec sleep 600", ())]})
        client.wait_ready(30)
        assert client.pod.node in cluster.nodes


def test_required_anti_affinity_keeps_a_third_pod_off_two_nodes_until_a_third_is_free(tmp_path):
    with started(tmp_path, manifests(static=False), "r", nodes=["n1", "n2", "n3"], cordoned=("n3",)) as cluster:
        assert cluster.nodes == {"n1": "ready", "n2": "ready", "n3": "cordoned"}
        # Parallel: pods 0, 1 and 2 are created in that order, and 2 finds no node left.
        reason = pending(cluster, 2)
        assert "podAntiAffinity" in reason and "cordoned" in reason, reason
        time.sleep(1)
        assert not cluster.pod(2).scheduled
        assert sorted([cluster.node_of(0), cluster.node_of(1)]) == ["n1", "n2"]

        cluster.uncordon("n3")
        cluster.wait_ready(3, timeout=60)
        assert sorted(cluster.node_of(o) for o in range(3)) == ["n1", "n2", "n3"]


def test_access_modes_decide_which_pods_share_a_claim(tmp_path):
    """``solo`` (ReadWriteOncePod, provisioned), ``rwo`` and ``many`` (static PVs every node
    reaches, bound at once)."""
    def claim(name: str, mode: str, cls: str) -> dict:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata(name),
                "spec": {"accessModes": [mode], "storageClassName": cls, "resources": {"requests": {"storage": "1Gi"}}}}

    objects = [storage_class("network", "Immediate"),
               local_pv("net-rwo", None, storage_class="network"),
               local_pv("net-many", None, storage_class="network", modes=("ReadWriteMany",)),
               claim("solo", "ReadWriteOncePod", "standard"), claim("rwo", "ReadWriteOnce", "network"),
               claim("many", "ReadWriteMany", "network")]

    def spec(claim_name: str, node: str) -> dict:
        return {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 2,
                "securityContext": {"fsGroup": 999},
                "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "data", "persistentVolumeClaim": {
                    "claimName": claim_name}}], "containers": [container()]}

    with started(tmp_path, objects, "m") as cluster:
        first = cluster.run_pod("a", spec("solo", "node-0"))
        first.wait_ready(30)
        second = cluster.run_pod("b", spec("solo", "node-0"))
        time.sleep(1)
        assert not second.pod.scheduled and "ReadWriteOncePod and a uses it" in second.pod.pending_reason
        first.delete()
        second.wait_ready(30)

        cluster.run_pod("c", spec("rwo", "node-0")).wait_ready(30)
        other_node = cluster.run_pod("d", spec("rwo", "node-1"))
        cluster.run_pod("e", spec("rwo", "node-0")).wait_ready(30)
        assert not other_node.pod.scheduled
        assert "ReadWriteOnce and c uses it on node-0" in other_node.pod.pending_reason
        assert cluster.pvs["net-rwo"].claim == "rwo" and cluster.claim_dir("rwo") == cluster.pvs["net-rwo"].path

        cluster.run_pod("f", spec("many", "node-0")).wait_ready(30)
        cluster.run_pod("g", spec("many", "node-1")).wait_ready(30)


def _pod(name: str, ready: bool = True, phase: str = "Running", deleting: bool = False):
    return SimpleNamespace(name=name, namespace="ns", labels={"app": "db"}, ready=ready, phase=phase,
                           deleting=deleting, finished=phase in ("Succeeded", "Failed"))


@pytest.mark.parametrize(("budget", "ready", "evicted", "allowed"), [
    ({"maxUnavailable": 1}, [True, True, True], 0, True),
    ({"maxUnavailable": 1}, [False, True, True], 1, False),  # another pod is down already
    ({"maxUnavailable": 1}, [False, True, True], 0, True),  # unready, and the budget is healthy without it
    ({"maxUnavailable": 1}, [False, False, True], 0, False),  # unready, but the budget is not healthy
    ({"maxUnavailable": "34%"}, [False, True, True], 1, True),  # 34% of 3 rounds up to 2
    ({"minAvailable": 2}, [True, True, True], 2, True),
    ({"minAvailable": "100%"}, [True, True, True], 0, False),
    ({"minAvailable": 1}, [False, True, True], 0, True),  # unready, and the budget is healthy
])
def test_the_eviction_api_follows_the_disruption_controllers_arithmetic(budget, ready, evicted, allowed):
    pods = [_pod(f"db-{i}", ready=r) for i, r in enumerate(ready)]
    budgets = [Budget.from_manifest({"metadata": {"name": "db", "namespace": "ns"},
                                     "spec": {**budget, "selector": {"matchLabels": {"app": "db"}}}}, "ns")]
    assert decide(pods[evicted], budgets, pods, 3)[0] is allowed
    # A Pending or terminating pod may always go; one no budget selects too.
    assert decide(_pod("db-9", phase="Pending"), budgets, pods, 3)[0]
    assert decide(_pod("db-8", phase="Init", ready=False), budgets, pods, 3)[0]
    assert decide(_pod("db-7", deleting=True), budgets, pods, 3)[0]
    assert decide(SimpleNamespace(**{**vars(_pod("x")), "labels": {}}), budgets, pods, 3)[0]
