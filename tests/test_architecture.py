"""docs/architecture.{dot,svg} show the chart as it is synthesized now.

The picture's Graphviz source is compared as text (deterministic, no rendering); the SVG is
checked to draw exactly the nodes and edges of that source, so a source regenerated without
its rendering fails too. Regenerate all three files with `pipenv run python tools/architecture.py`.
"""

from __future__ import annotations

import html
import importlib.util
import re

import pytest
from synth_helpers import REPO, all_containers, by_kind, password_credentials, whole_chart

import mysql_ha

DOCS = REPO / "docs"
REGENERATE = "run `pipenv run python tools/architecture.py` (needs Graphviz's dot) and commit docs/architecture.*"

_spec = importlib.util.spec_from_file_location("architecture", REPO / "tools" / "architecture.py")
architecture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(architecture)

NODE = re.compile(r'^\s*"([^"]+)" \[', re.MULTILINE)
EDGE = re.compile(r'^\s*"([^"]+)"(?::"([^"]+)")? -> "([^"]+)"(?::"([^"]+)")? \[', re.MULTILINE)


def _graph(dot: str) -> tuple[set[str], set[str]]:
    nodes = set(NODE.findall(dot))
    edges = {f"{a}{':' + ap if ap else ''}->{b}{':' + bp if bp else ''}" for a, ap, b, bp in EDGE.findall(dot)}
    return nodes, edges


def test_committed_picture_source_matches_the_chart():
    assert architecture.architecture_dot(whole_chart()) == (DOCS / "architecture.dot").read_text(), REGENERATE


def test_committed_svg_is_rendered_from_the_committed_source():
    nodes, edges = _graph((DOCS / "architecture.dot").read_text())
    titles = {html.unescape(t) for t in re.findall(r"<title>([^<]*)</title>", (DOCS / "architecture.svg").read_text())}
    titles -= {"architecture", "cluster_ns", "cluster_sts"}
    assert titles == nodes | edges, REGENERATE
    assert (DOCS / "architecture.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("props", [{}, {"metrics": True, "replicas": 3, "storage_class_name": "standard"}],
                         ids=["default", "metrics-dynamic-3"])
def test_picture_draws_every_part_of_the_chart(props):
    manifests = whole_chart(**props)
    dot = architecture.architecture_dot(manifests)
    nodes, edges = _graph(dot)
    (stateful_set,) = by_kind(manifests, "StatefulSet")
    pods = [f"mysql-{i}" for i in range(stateful_set["spec"]["replicas"])]
    assert set(pods) <= nodes
    for container in all_containers(manifests):
        assert f'port="{container["name"]}"' in dot and container["image"] in dot
        for port in container.get("ports", []):
            assert f'{port["name"]} {port["containerPort"]}' in dot
    for service in by_kind(manifests, "Service"):
        assert f'svc/{service["metadata"]["name"]}' in nodes
    assert {e for e in edges if e.startswith("svc/mysql-primary")} == {"svc/mysql-primary->mysql-0:mysql"}
    assert {e for e in edges if e.startswith("svc/mysql-read")} == {f"svc/mysql-read->{p}:mysql" for p in pods}
    # MySQL 8.4 clones with the CLONE plugin over the donor's server port; no port 3307.
    for previous, pod in zip(pods, pods[1:]):
        assert f"{previous}:mysql->{pod}:clone-mysql" in edges
        assert f"mysql-0:mysql->{pod}:mysql" in edges
    assert "clone (CLONE plugin) :3306" in dot
    for pod in pods:
        assert f"{pod}->pvc/data-{pod}" in edges
    assert "TCP 3307" not in dot
    assert "peer/mysql/0/mysql-client=true" in nodes
    if props.get("metrics"):
        # The scrapers of the set's own namespace unless metrics_namespace names another.
        assert "TCP 9104 from pods app.kubernetes.io/name=prometheus (this namespace)" in dot
        assert not any(n.startswith("pv/") for n in nodes)
    else:
        assert {n for n in nodes if n.startswith("pv/")} == {"pv/mysql-pv-1", "pv/mysql-pv-2", "pv/mysql-pv-3"}


def test_secret_from_the_chart_is_drawn_as_part_of_it():
    dot = architecture.architecture_dot(whole_chart(credentials=password_credentials()))
    assert "created outside the chart" not in dot
    # root, admin, status, replication and clone: more than the picture lists by name.
    assert "Secret <b>mysql-credentials</b><br/><font point-size=\"8\">5 keys (admin-password, ...)</font>" in dot
    # Both of the pod's Secret volumes: every password for init-mysql, the clone's alone.
    assert '"secret/mysql-credentials" -> "mysql-0" [lhead="cluster_sts", style=dashed, ' \
           'label="volume credentials, volume clone-credentials"]' in dot


def test_a_backup_stream_engine_clones_through_port_3307():
    dot = architecture.architecture_dot(whole_chart(mysql_ha.MARIADB_11_4))
    assert '"mysql-0":"replication" -> "mysql-1":"clone-mysql"' in dot
    assert "clone (backup stream) :3307" in dot and "TCP 3307 between the set&#x27;s own pods" in dot
