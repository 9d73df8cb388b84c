"""Rollouts and pod deletions, measured on each engine's emulated 3-pod chart (declared primary
mysql-0):

- ``rollout_write_gap_s``: the longest time a steady writer goes without an acknowledged write
  while a changed pod template (the server's CPU request, as a resize would change it) rolls
  the whole set: the StatefulSet replaces mysql-2, mysql-1, then the primary mysql-0, each
  once the one before is Ready. The writer runs in a client pod outside the set and writes
  through the ``mysql-primary`` Service, 20 rows per autocommit INSERT. Also: how long the
  rollout took, the writes that failed, and the acknowledged rows lost (must be 0).
- ``pod_delete_s``: ``kubectl delete pod`` of the declared primary with its grace period, from
  the request until the pod is gone (the slowest pod of the set to stop: its server shuts
  down with replicas attached); the StatefulSet then makes it again.

Runs with the emulator's speed 1 (tiny mode: 3), in network namespaces named
``<BenchEngine.prefix>o-*``, under a scratch directory; removes both at the end.
"""

from __future__ import annotations

import copy
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .charts import manifests
from .emulated import Cluster  # the pod emulator, which .emulated finds beside the e2e scenarios
from .engines import BenchEngine
from .failover import leads
from emulator.errors import EmulatorError  # noqa: E402,I001 - importable once .emulated ran
from scenario_tools import APP_USER, PodWriter, client_pod_spec  # noqa: E402,I001

RESIZED_CPU = "600m"
"""The server container's CPU request after the change (the chart's default is 500m)."""


def resized(objects: list[dict]) -> list[dict]:
    """``objects`` with the server container's CPU request changed: a new pod template."""
    for m in objects:
        if m["kind"] == "StatefulSet":
            server = m["spec"]["template"]["spec"]["containers"][0]
            server.setdefault("resources", {}).setdefault("requests", {})["cpu"] = RESIZED_CPU
    return objects


def run(b: BenchEngine, *, tiny: bool, progress: Callable[[str], None] = print) -> dict[str, float]:
    """The figures of one engine, keys without the engine's suffix."""
    objects = manifests(b.engine, 3)
    changed = resized(copy.deepcopy(objects))
    workdir = Path(tempfile.mkdtemp(prefix=f"mysql-ha-rollout-{b.key}-"))
    try:
        with Cluster(objects, workdir / "cluster", prefix=f"{b.prefix}o", speed=3.0 if tiny else 1.0) as c:
            c.engine = b.engine
            c.app_password = "App-" + secrets.token_urlsafe(12)
            progress(f"{b.key}: rollout: bring-up of 3 pods ...")
            c.start()
            c.wait_ready(3, timeout=300)
            c.sql(0, f"CREATE DATABASE app; CREATE TABLE app.r (id INT PRIMARY KEY); "
                     f"CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{c.app_password}'; "
                     f"GRANT INSERT, SELECT ON app.* TO '{APP_USER}'@'%'")
            c.wait_for(lambda: leads(c, b.engine, 0, [0, 1, 2]), timeout=60, what="replicas")
            client = c.run_pod("rollout-client", client_pod_spec(b.engine.server_image),
                               labels={"mysql-client": "true"})
            client.wait_ready(timeout=60)

            progress(f"{b.key}: rollout of a changed template under writes ...")
            with PodWriter(c, "app.r", start=1, host="mysql-primary", client=client.pod.container("client")) as w:
                time.sleep(2)
                applied = time.monotonic()
                assert c.apply(changed) == ["StatefulSet/mysql: template"], "the template should change alone"
                rollout_s = c.wait_rolled_out(timeout=900)
                c.wait_for(lambda: leads(c, b.engine, 0, [0, 1, 2]), timeout=180, what="mysql-0 to lead again")
                time.sleep(2)
                ended = time.monotonic()
            gap = w.longest_gap(applied, ended)
            c.wait_for(lambda: all(len(c.sql(o, "SELECT id FROM app.r")) >= len(w.acknowledged) for o in (1, 2)),
                       timeout=120, what="the replicas to hold every acknowledged row")
            have = {int(r[0]) for r in c.sql(0, "SELECT id FROM app.r")}
            lost = len(set(w.acknowledged) - have)

            progress(f"{b.key}: deletion of the primary's pod ...")
            started = time.monotonic()
            c.delete_pod(0)
            delete_s = time.monotonic() - started
            c.wait_ready(3, timeout=300)
            c.wait_for(lambda: leads(c, b.engine, 0, [0, 1, 2]), timeout=180, what="mysql-0 to lead after its deletion")
            progress(f"{b.key}: rollout {rollout_s:.1f} s, longest write gap {gap:.2f} s, {w.errors} failed writes, "
                     f"{lost} of {len(w.acknowledged)} acknowledged rows lost; primary's pod deleted in {delete_s:.1f} s")
            if lost:
                raise EmulatorError(f"{b.key}: the rollout lost {lost} acknowledged rows")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"rollout_write_gap_s": round(gap, 3), "rollout_s": round(rollout_s, 1),
            "rollout_failed_writes": w.errors, "rollout_lost_rows": lost, "pod_delete_s": round(delete_s, 2)}
