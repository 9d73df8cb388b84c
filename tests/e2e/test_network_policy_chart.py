"""The chart's own NetworkPolicy, enforced by the emulator, proven with real connections.

The synthesized policy of a 2-pod set with metrics on is applied as it is; the set's pods are
stand-ins with the set's labels and ports (busybox ``nc`` listening on 3306 and 9104 in the
``rclone/rclone:1.75`` image: the mysqld_exporter image has no stand-in here, and the policy
does not care what listens). Clients are pods of their own in the set's namespace and in
``monitoring``. One cluster for the module, one test per chart."""

from __future__ import annotations

import os
import time

import cdk8s
import pytest

from emulator import Cluster
from mysql_ha import MYSQL_8_4, MySQLCredentials, MySQLHAChart
from scenario_tools import PREFIX, SPEED

pytestmark = pytest.mark.e2e

IMAGE = "rclone/rclone:1.75"
CONNECT_TIMEOUT = 2
LISTEN = "\n".join([*(f'nc -ll -p {port} -e echo "$HOSTNAME:{port}" &' for port in (3306, 9104)), "wait"])


def _chart(**props) -> list[dict]:
    """The set's Namespace, policy and a StatefulSet of stand-in pods with its labels and ports."""
    objects = MySQLHAChart(cdk8s.Testing.app(), "policy", engine=MYSQL_8_4, replicas=2, metrics=True,
                           storage_class_name="standard",
                           credentials=MySQLCredentials.from_existing_secret("mysql-credentials"), **props).to_json()
    (sts,) = [m for m in objects if m["kind"] == "StatefulSet"]
    template = sts["spec"]["template"]
    ports = [p for c in template["spec"]["containers"] for p in c.get("ports") or []]
    stand_in = {"name": "main", "image": IMAGE, "command": ["sh", "-c", LISTEN], "ports": ports,
                "readinessProbe": {"tcpSocket": {"port": 3306}, "periodSeconds": 1}}
    stand_in_set = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": sts["metadata"],
                    "spec": {"replicas": 1, "serviceName": sts["spec"]["serviceName"],
                             "selector": sts["spec"]["selector"],
                             "template": {"metadata": {"labels": template["metadata"]["labels"]},
                                          "spec": {"terminationGracePeriodSeconds": 1, "containers": [stand_in]}}}}
    kept = [m for m in objects if m["kind"] in ("Namespace", "NetworkPolicy", "Service")
            and m["metadata"]["name"].startswith("mysql")]
    return [*kept, stand_in_set]


def _client(cluster: Cluster, name: str, namespace: str, labels: dict) -> None:
    spec = {"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": IMAGE, "command": ["sh", "-c", "exec sleep 3600"]}]}
    cluster.run_pod(name, spec, labels=labels, namespace=namespace).wait_ready(timeout=60)


def _reaches(cluster: Cluster, client: str, port: int) -> bool:
    """A connection from ``client`` to the set's pod on ``port`` gets the listener's answer; a
    dropped one waits out the connect timeout (no reset comes back)."""
    address = cluster.pods[0].ip
    started = time.monotonic()
    result = cluster.standalone[client].exec(
        "main", ["sh", "-c", f"nc -w {CONNECT_TIMEOUT} {address} {port} </dev/null"], timeout=30)
    if result.returncode == 0 and f":{port}" in result.stdout:
        return True
    assert time.monotonic() - started >= CONNECT_TIMEOUT - 0.5, f"refused rather than dropped: {result.stderr}"
    return False


@pytest.mark.parametrize("metrics_namespace", [None, "monitoring"])
def test_the_chart_policy_admits_clients_and_scrapers_only(tmp_path, metrics_namespace, request):
    prefix = f"{PREFIX}pc{os.getpid() % 4096:03x}{'m' if metrics_namespace else 'd'}"
    with Cluster(_chart(metrics_namespace=metrics_namespace), tmp_path, prefix=prefix, speed=SPEED) as cluster:
        cluster.start()
        cluster.wait_ready(1, timeout=120)
        _client(cluster, "app", "mysql", {"mysql-client": "true"})
        _client(cluster, "unlabelled", "mysql", {})
        _client(cluster, "scraper-here", "mysql", {"app.kubernetes.io/name": "prometheus"})
        _client(cluster, "scraper-monitoring", "monitoring", {"app.kubernetes.io/name": "prometheus"})
        _client(cluster, "app-elsewhere", "other", {"mysql-client": "true"})
        assert _reaches(cluster, "app", 3306)
        assert not _reaches(cluster, "unlabelled", 3306), "a pod without the client label reached 3306"
        assert not _reaches(cluster, "app-elsewhere", 3306), "a client pod of another namespace reached 3306"
        assert not _reaches(cluster, "app", 9104), "a client pod reached the exporter"
        scrapers = {name: _reaches(cluster, name, 9104) for name in ("scraper-here", "scraper-monitoring")}
        expected = {"scraper-here": metrics_namespace is None, "scraper-monitoring": metrics_namespace == "monitoring"}
        assert scrapers == expected, scrapers
    where = metrics_namespace or "the set's own namespace"
    request.node.user_properties.append(("e2e-report", (
        f"e2e chart network policy (metrics_namespace={metrics_namespace}): 3306 from client pods only, "
        f"9104 from Prometheus in {where} only; others dropped after {CONNECT_TIMEOUT} s")))
