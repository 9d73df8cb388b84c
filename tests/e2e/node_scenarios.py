"""Nodes: a drain of the primary's node through the PodDisruptionBudget and the loss of the
primary's node with its static local volume, run for real in emulated pods.

The module's cluster is the walkthrough's storage spread over nodes: one static local
PersistentVolume (``Retain``, ``WaitForFirstConsumer``) on each of ``LOCAL_NODES`` nodes, for a
3-pod set, so that one volume stays spare. A pod lives where its volume is: drained, it waits
for its node; lost with its node, it comes back only on another volume, and its old one stays
``Released`` with the data it held.
"""

from __future__ import annotations

import time

import pytest

from failover_scenarios import declare_primary, most_advanced, read_only, status, wait_primary, wait_same_rows
from rollout_scenarios import client_pod
from scenario_tools import PodWriter
from scenarios import checksum, clone_runs, ids, test_1_bring_up_three_pods  # noqa: F401 - the module's first scenario

pytestmark = pytest.mark.e2e

LOCAL_NODES = 4
"""Nodes of the module's cluster, each with one local PersistentVolume (see conftest.py)."""


def claim_pv(cluster, ordinal: int):
    """The PersistentVolume bound to pod N's data claim."""
    return cluster.pvs[cluster.pvcs[f"data-{cluster.set_name}-{ordinal}"].volume]


def every_acknowledged_row(cluster, writer, table: str, pods: list[int]) -> int:
    acknowledged = set(writer.acknowledged)
    assert acknowledged, "the writer never got a row in"
    for o in pods:
        missing = acknowledged - ids(cluster, o, table)
        assert not missing, f"mysql-{o} lacks {len(missing)} acknowledged rows"
    assert len({checksum(cluster, o, table) for o in pods}) == 1
    return len(acknowledged)


def test_n1_each_pod_on_its_own_node_and_volume(cluster):
    nodes = [cluster.node_of(o) for o in range(3)]
    assert len(set(nodes)) == 3, f"soft anti-affinity spreads the pods: {nodes}"
    for o in range(3):
        pv = claim_pv(cluster, o)
        assert pv.phase == "Bound" and pv.node == nodes[o], (o, pv)
    spare = [pv for pv in cluster.pvs.values() if pv.phase == "Available"]
    assert len(spare) == 1 and spare[0].node not in nodes, spare


def test_n2_drain_of_the_primary_node_through_the_pdb(cluster):
    """``kubectl drain`` of mysql-0's node under a writer outside the set: the eviction is
    admitted (every pod healthy), mysql-0 ends within seconds and waits, Pending, for its
    volume's node; meanwhile the PodDisruptionBudget refuses the eviction of another pod;
    after ``uncordon`` mysql-0 comes back as the primary with every acknowledged row."""
    cluster.sql(0, "CREATE TABLE app.d (id INT PRIMARY KEY)")
    wait_same_rows(cluster, "app.d", 0, [0, 1, 2])
    client = client_pod(cluster, "drain-client")
    node = cluster.node_of(0)
    with PodWriter(cluster, "app.d", start=1, host="mysql-primary", client=client.pod.container("client")) as writer:
        time.sleep(3)
        started = time.monotonic()
        refusals = cluster.drain(node, timeout=120)
        drained = time.monotonic() - started
        assert not refusals, f"every pod was healthy, the eviction should pass: {refusals}"
        cluster.wait_for(lambda: 0 in cluster.pods and cluster.pod(0).pending_reason, timeout=30,
                         what="mysql-0 to wait for its node")
        reason = cluster.pod(0).pending_reason
        assert not cluster.evict("mysql-1"), "the PodDisruptionBudget allows one pod down"
        assert not cluster.evict("mysql-2"), "the PodDisruptionBudget allows one pod down"
        time.sleep(5)  # the node's maintenance
        uncordoned = time.monotonic()
        cluster.uncordon(node)
        cluster.wait_ready(3, timeout=180)
        wait_primary(cluster, 0, [0, 1, 2])
        back = time.monotonic() - uncordoned
        time.sleep(2)
    assert cluster.node_of(0) == node
    rows = every_acknowledged_row(cluster, writer, "app.d", [0, 1, 2])
    # Healthy again: the next drain (a replica's node) passes the budget at once.
    replica_node = cluster.node_of(2)
    assert not cluster.drain(replica_node, timeout=120)
    cluster.uncordon(replica_node)
    cluster.wait_ready(3, timeout=180)
    wait_primary(cluster, 0, [0, 1, 2])
    print(f"e2e {cluster.engine.name} drain of the primary's node: mysql-0 evicted and gone in {drained:.1f} s "
          f"(grace 60 s), then Pending ({reason}); evictions of mysql-1 and mysql-2 refused by the "
          f"PodDisruptionBudget meanwhile; primary again {back:.1f} s after uncordon; longest write gap "
          f"{writer.longest_gap():.1f} s (the node's maintenance included); 0 of {rows} acknowledged rows lost")


def test_n3_primary_node_lost_with_its_static_volume(cluster):
    """mysql-0's node stops answering under writes: the pod freezes in place (its name still
    resolves, its address drops every packet). The runbook: the status command's most
    advanced replica is declared primary; the lost pod is force-deleted, and its claim
    deleted; the new mysql-0 binds the spare volume on another node and clones. The lost
    volume stays ``Released`` with its data: nothing reuses it."""
    cluster.sql(0, "CREATE TABLE app.l (id INT PRIMARY KEY)")
    wait_same_rows(cluster, "app.l", 0, [0, 1, 2])
    client = client_pod(cluster, "lost-client")
    lost = cluster.node_of(0)
    old_pv = claim_pv(cluster, 0)
    with PodWriter(cluster, "app.l", start=1, host="mysql-primary",
                   client=client.pod.container("client")) as writer:
        time.sleep(3)
        cluster.lose_node(lost)
        lost_at = time.monotonic()
        text = status(cluster, 2)
        for _ in range(10):  # as an operator would: again while a replica does not answer
            if "not answering:" not in text:
                break
            time.sleep(1)
            text = status(cluster, 2)
        assert "not answering:" not in text, text
        assert "unreachable" in text, text
        chosen = most_advanced(text)
        assert chosen in (1, 2), text
        declare_primary(cluster, chosen)
        wait_primary(cluster, chosen, [1, 2], timeout=cluster.timings.config_window_seconds + 90)
        writable = time.monotonic() - lost_at
        time.sleep(2)
    assert 0 in cluster.pods, "a pod on a lost node stays until it is force-deleted"
    rows = every_acknowledged_row(cluster, writer, "app.l", [1, 2])

    cluster.force_delete(0)
    cluster.wait_for(lambda: 0 in cluster.pods and cluster.pod(0).pending_reason, timeout=30,
                     what="the new mysql-0 to wait for the lost node")
    assert "volume node affinity conflict" in cluster.pod(0).pending_reason, cluster.pod(0).pending_reason
    assert claim_pv(cluster, 0).name == old_pv.name
    cluster.delete_pvc(0)
    cluster.wait_for(lambda: cluster.pvs[old_pv.name].phase == "Released", timeout=30, what="the PV released")
    reseeded = time.monotonic()
    cluster.wait_ready(3, timeout=300)
    wait_primary(cluster, chosen, [0, 1, 2])
    seconds = time.monotonic() - reseeded
    new_pv = claim_pv(cluster, 0)
    assert new_pv.name != old_pv.name and cluster.node_of(0) not in (lost,), (new_pv, cluster.node_of(0))
    assert cluster.pvs[old_pv.name].phase == "Released" and any(cluster.pvs[old_pv.name].path.iterdir()), \
        "a Retain volume keeps its data"
    assert read_only(cluster, 0)
    assert clone_runs(cluster, 0) >= 1, "the new mysql-0 should have cloned into its new volume"
    wait_same_rows(cluster, "app.l", chosen, [0, 1, 2])
    every_acknowledged_row(cluster, writer, "app.l", [0, 1, 2])
    # The node answers again, empty of pods (the old one was force-deleted); its volume stays
    # Released: only an administrator may reuse it.
    cluster.restore_node(lost)
    time.sleep(2)
    assert cluster.pvs[old_pv.name].phase == "Released" and cluster.node_of(0) != lost
    print(f"e2e {cluster.engine.name} node lost with a static PV: mysql-{chosen} declared, writes again "
          f"{writable:.1f} s after the loss, longest write gap {writer.longest_gap():.1f} s, 0 of {rows} "
          f"acknowledged rows lost; mysql-0 re-seeded on {new_pv.name} ({cluster.node_of(0)}) in {seconds:.1f} s, "
          f"{old_pv.name} on {lost} left Released with its data")
