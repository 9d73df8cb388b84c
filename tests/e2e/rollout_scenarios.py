"""A rollout of the chart's StatefulSet, run for real in emulated pods.

They follow the failover scenarios on the same cluster. The pod template changes as
``kubectl rollout restart`` changes it (an annotation with the time), and the StatefulSet
controller replaces the pods one at a time from the highest ordinal down, each once the one
before is ready: the declared primary, ordinal 0, restarts in place last. What a client of
the write Service sees is reported: the longest write gap, acknowledged rows lost, and the
most servers that took writes at one moment.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from failover_scenarios import declare_primary, wait_primary, wait_same_rows
from scenario_tools import PodWriter, WritablePoller, client_pod_spec
from scenarios import checksum, ids

pytestmark = pytest.mark.e2e

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
STAMP = "2026-12-04T18:00:00Z"


def declared(cluster) -> int:
    return int(cluster.objects.config_maps[f"{cluster.set_name}-topology"]["data"]["primary-ordinal"])


def restarted(manifests: list[dict], stamp: str) -> list[dict]:
    """``manifests`` with the StatefulSet's pod template annotated as ``kubectl rollout
    restart`` does."""
    for m in manifests:
        if m["kind"] == "StatefulSet":
            metadata = m["spec"]["template"].setdefault("metadata", {})
            metadata["annotations"] = {**(metadata.get("annotations") or {}), RESTARTED_AT: stamp}
    return manifests


def client_pod(cluster, name: str):
    """A pod outside the set with the client label, running the server image's client."""
    spec = client_pod_spec(cluster.engine.server_image)
    handle = cluster.run_pod(name, spec, labels={f"{cluster.set_name}-client": "true"})
    handle.wait_ready(timeout=60)
    return handle


def test_18_rollout_restart_under_writes(cluster, request):
    """Three pods, primary mysql-0: the template changes, every pod is replaced in turn (2, 1,
    then the primary), while a client outside the set writes through the write Service."""
    if declared(cluster) != 0:
        declare_primary(cluster, 0)
    cluster.scale(3)
    cluster.wait_ready(3, timeout=240)
    wait_primary(cluster, 0, [0, 1, 2])
    cluster.sql(0, "CREATE TABLE app.r (id INT PRIMARY KEY)")
    wait_same_rows(cluster, "app.r", 0, [0, 1, 2])
    before = dict((o, p.labels["controller-revision-hash"]) for o, p in cluster.pods.items())
    client = client_pod(cluster, "rollout-client")
    try:
        with WritablePoller(cluster) as poller, PodWriter(cluster, "app.r", start=1, host="mysql-primary",
                                                          client=client.pod.container("client")) as writer:
            time.sleep(2)
            applied = time.monotonic()
            changed = cluster.apply(restarted(cluster.synth(replicas=3, primary_ordinal=0), STAMP))
            assert changed == ["StatefulSet/mysql: template"], changed
            cluster.wait_rolled_out(timeout=600)
            seconds = time.monotonic() - applied
            wait_primary(cluster, 0, [0, 1, 2])
            time.sleep(2)
            ended = time.monotonic()
    finally:
        cluster.delete_pod_named("rollout-client", grace=1)
    assert writer.acknowledged, "the writer never got a row in"
    order = [int(m.group(1)) for t, message in cluster.events if t >= applied
             for m in [re.fullmatch(r"statefulset mysql: delete mysql-(\d+) \(update to .*\)", message)] if m]
    assert order == [2, 1, 0], order
    after = {o: p.labels["controller-revision-hash"] for o, p in cluster.pods.items()}
    assert len(set(after.values())) == 1 and not set(after.values()) & set(before.values())
    wait_same_rows(cluster, "app.r", 0, [0, 1, 2])
    acknowledged = set(writer.acknowledged)
    lost = {o: len(acknowledged - ids(cluster, o, "app.r")) for o in range(3)}
    assert len({checksum(cluster, o, "app.r") for o in range(3)}) == 1
    writable = (f"at most {len(poller.most_writable)} writable server(s) at once "
                f"({', '.join(f'mysql-{o}' for o in poller.most_writable) or 'none'}) in {poller.rounds} polls")
    line = (f"e2e {cluster.engine.name} rollout of 3 pods (template changed): rolled out in {seconds:.1f} s, "
            f"longest write gap {writer.longest_gap(applied, ended):.2f} s, {writer.errors} failed writes, "
            f"{max(lost.values())} of {len(acknowledged)} acknowledged rows lost; {writable}")
    request.node.user_properties.append(("e2e-report", line))
    print(line)
    assert not any(lost.values()), f"acknowledged rows lost: {lost}"
    assert len(poller.most_writable) <= 1, f"two servers took writes: {poller.writable_at[:5]}"
    # Later applies carry the annotation, as every apply of the same source after the restart.
    synth = cluster.synth
    cluster.synth = lambda **props: restarted(synth(**props), STAMP)


def delete_together(cluster, ordinals: list[int]) -> None:
    """``kubectl delete pod mysql-A mysql-B``: the pods go at the same time."""
    threads = [threading.Thread(target=cluster.delete_pod, args=(o,)) for o in ordinals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_19_primary_at_a_higher_ordinal_comes_back(cluster, request):
    """After a switchover to mysql-2, pods are deleted as a drain or a node's restart deletes
    them: mysql-0 alone, then the primary alone, then both together. Each time the set must
    come back by itself. (A replica is ready only while it replicates: with OrderedReady,
    a replica below the primary that waits for it would hold the primary back for good.)"""
    declare_primary(cluster, 2)
    wait_primary(cluster, 2, [0, 1, 2])
    took = {}
    for what, ordinals in (("mysql-0", [0]), ("the primary mysql-2", [2]), ("mysql-0 and mysql-2", [0, 2])):
        started = time.monotonic()
        delete_together(cluster, ordinals)
        cluster.wait_ready(3, timeout=300)
        wait_primary(cluster, 2, [0, 1, 2])
        took[what] = time.monotonic() - started
    cluster.sql(2, "INSERT INTO app.r (id) VALUES (9500001)")
    wait_same_rows(cluster, "app.r", 2, [0, 1, 2])
    line = (f"e2e {cluster.engine.name} primary mysql-2, pods deleted: "
            + ", ".join(f"{what} ready again after {seconds:.1f} s" for what, seconds in took.items()))
    request.node.user_properties.append(("e2e-report", line))
    print(line)
