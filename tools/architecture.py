"""Draws docs/architecture.{dot,svg,png} from the synthesized manifests of dist/.

    pipenv run python tools/architecture.py          # needs Graphviz's dot (apt-get install graphviz)

Everything in the picture is read from the objects: the StatefulSet's pods (one per replica,
ordinal 0 the primary) with their init containers, containers, images and ports; the volumes
and the claims of the PVC template; the Services and the pods their selectors pick; the
ConfigMaps and Secret the pods mount; the NetworkPolicy's allowed paths; the StorageClass and
PersistentVolumes. The clone and replication flows follow the ports the pods publish: pod N
clones pod N-1 through its ``clone`` port (or, CLONE plugin, its ``mysql`` port), and every
replica replicates from ordinal 0 through its ``mysql`` port. tests/test_architecture.py fails when docs/architecture.dot no longer
matches the chart.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"

Manifest = dict[str, Any]


CONTENT_NAMED = re.compile(r"^(.*)-[0-9a-f]{10}$")


def without_hashes(manifests: list[Manifest]) -> list[Manifest]:
    """``manifests`` with each immutable ConfigMap's content hash shown as ``<hash>``: the
    picture does not change with every script."""
    text = json.dumps(manifests)
    for manifest in manifests:
        found = CONTENT_NAMED.match(manifest["metadata"]["name"])
        if manifest["kind"] == "ConfigMap" and manifest.get("immutable") and found:
            text = text.replace(f'"{manifest["metadata"]["name"]}"', f'"{found.group(1)}-<hash>"')
    return json.loads(text)


def architecture_dot(manifests: list[Manifest]) -> str:
    """The Graphviz source of the picture of ``manifests`` (one StatefulSet), deterministic."""
    manifests = without_hashes(manifests)
    by_kind: dict[str, list[Manifest]] = {}
    for manifest in manifests:
        by_kind.setdefault(manifest["kind"], []).append(manifest)
    (stateful_set,) = by_kind["StatefulSet"]
    name = stateful_set["metadata"]["name"]
    namespace = stateful_set["metadata"].get("namespace", "default")
    spec = stateful_set["spec"]
    pod_spec = spec["template"]["spec"]
    pods = [f"{name}-{ordinal}" for ordinal in range(spec.get("replicas", 1))]
    pod_labels = {pod: {**spec["template"]["metadata"].get("labels", {}), POD_NAME_LABEL: pod} for pod in pods}

    out = [
        "digraph architecture {",
        '  graph [rankdir=TB, compound=true, newrank=true, fontname="Helvetica", fontsize=11, nodesep=0.35, ranksep=0.6];',
        '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", fillcolor="#ffffff"];',
        # Every edge attribute in use declared at the top: Graphviz 2.4x mixes up attributes first
        # set on edges inside a subgraph.
        '  edge [fontname="Helvetica", fontsize=9, color="black", style="solid", penwidth=1, '
        'constraint=true, lhead="", label="", dir="forward"];',
    ]
    out += _storage(by_kind, spec, pods)
    out.append(f'  subgraph "cluster_ns" {{ label=<<b>Namespace {_e(namespace)}</b>>; style="dashed";')
    out += _indent(_pods_cluster(stateful_set, pods, pod_spec))
    out += _indent(_config_nodes(by_kind, pod_spec, pods[0]))
    out += _indent(_services(by_kind, pods, pod_labels))
    out += _indent(_policy(by_kind, pods, pod_labels))
    out.append("  }")
    out += _flows(pod_spec, pods)
    out.append("}")
    return "\n".join(out) + "\n"


def _pods_cluster(stateful_set: Manifest, pods: list[str], pod_spec: dict[str, Any]) -> list[str]:
    spec = stateful_set["spec"]
    out = [
        f'subgraph "cluster_sts" {{ label=<<b>StatefulSet {_e(stateful_set["metadata"]["name"])}</b><br/>'
        f'{spec.get("replicas", 1)} pods, {_e(spec.get("podManagementPolicy", "OrderedReady"))}, '
        f'ServiceAccount {_e(pod_spec.get("serviceAccountName", "default"))}>; style="rounded,filled"; '
        'fillcolor="#eef3fb";'
    ]
    for ordinal, pod in enumerate(pods):
        out += _indent([_pod_node(pod, "primary" if ordinal == 0 else "replica", pod_spec)])
    out.append("}")
    return out


def _pod_node(pod: str, role: str, pod_spec: dict[str, Any]) -> str:
    rows = [f'<tr><td colspan="3" bgcolor="#c9d9f2"><b>pod {_e(pod)}</b> ({role})</td></tr>']
    for index, container in enumerate(pod_spec.get("initContainers", []), 1):
        rows.append(_container_row(container, f"init {index}"))
    for container in pod_spec["containers"]:
        rows.append(_container_row(container, "container"))
    volumes = [_e(_volume_text(volume)) for volume in pod_spec.get("volumes", [])]
    lines = "<br/>".join(", ".join(volumes[i:i + 3]) for i in range(0, len(volumes), 3))
    rows.append(f'<tr><td colspan="3" align="left" balign="left"><font point-size="8">volumes: {lines}</font></td></tr>')
    return f'"{pod}" [shape=plain, label=<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">{"".join(rows)}</table>>];'


def _container_row(container: dict[str, Any], kind: str) -> str:
    ports = ", ".join(f'{p.get("name", "")} {p["containerPort"]}' for p in container.get("ports", []))
    return (
        f'<tr><td align="left" port="{_e(container["name"])}"><font point-size="8">{kind}</font> '
        f'<b>{_e(container["name"])}</b></td><td align="left"><font point-size="8">{_e(container["image"])}</font></td>'
        f'<td>{_e(ports) or "-"}</td></tr>'
    )


def _volume_text(volume: dict[str, Any]) -> str:
    if "configMap" in volume:
        return f'{volume["name"]} (ConfigMap {volume["configMap"]["name"]})'
    if "secret" in volume:
        return f'{volume["name"]} (Secret {volume["secret"]["secretName"]})'
    if "emptyDir" in volume:
        medium = volume["emptyDir"].get("medium")
        return f'{volume["name"]} (emptyDir{", " + medium if medium else ""})'
    return volume["name"]


def _storage(by_kind: dict[str, list[Manifest]], spec: dict[str, Any], pods: list[str]) -> list[str]:
    out = []
    storage_classes = {sc["metadata"]["name"]: sc for sc in by_kind.get("StorageClass", [])}
    for template in spec.get("volumeClaimTemplates", []):
        claim = template["spec"]
        class_name = claim.get("storageClassName", "default")
        size = claim["resources"]["requests"]["storage"]
        sc_id = f"sc/{class_name}"
        if class_name in storage_classes:
            sc = storage_classes[class_name]
            out.append(
                f'  "{sc_id}" [shape=cylinder, fillcolor="#fdf2d0", label=<StorageClass <b>{_e(class_name)}</b><br/>'
                f'<font point-size="8">{_e(sc["provisioner"])}, {_e(sc.get("volumeBindingMode", "Immediate"))}, '
                f'{_e(sc.get("reclaimPolicy", "Delete"))}</font>>];'
            )
        else:
            out.append(f'  "{sc_id}" [shape=cylinder, style="dashed", label=<StorageClass <b>{_e(class_name)}</b><br/>'
                       '<font point-size="8">the cluster\'s, provisions the volumes</font>>];')
        for pod in pods:
            pvc = f'{template["metadata"]["name"]}-{pod}'
            out.append(f'  "pvc/{pvc}" [shape=note, fillcolor="#fdf2d0", label=<PVC <b>{_e(pvc)}</b><br/>'
                       f'<font point-size="8">{_e(size)}, {_e(", ".join(claim.get("accessModes", [])))}</font>>];')
            out.append(f'  "{pod}" -> "pvc/{pvc}" [label="{_e(template["metadata"]["name"])}", dir=none];')
            out.append(f'  "pvc/{pvc}" -> "{sc_id}" [style=dotted, label="binds"];')
    for pv in by_kind.get("PersistentVolume", []):
        pv_spec = pv["spec"]
        node = pv_spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0]
        out.append(
            f'  "pv/{pv["metadata"]["name"]}" [shape=cylinder, fillcolor="#fdf2d0", label=<PV <b>{_e(pv["metadata"]["name"])}</b><br/>'
            f'<font point-size="8">{_e(pv_spec["capacity"]["storage"])} local {_e(pv_spec["local"]["path"])}<br/>on node {_e(node)}</font>>];'
        )
        out.append(f'  "sc/{pv_spec["storageClassName"]}" -> "pv/{pv["metadata"]["name"]}" [style=dotted, dir=none];')
    return out


def _config_nodes(by_kind: dict[str, list[Manifest]], pod_spec: dict[str, Any], first_pod: str) -> list[str]:
    out = []
    in_chart = {(m["kind"], m["metadata"]["name"]) for kind in ("ConfigMap", "Secret") for m in by_kind.get(kind, [])}
    mounted: dict[tuple[str, str], list[str]] = {}
    for volume in pod_spec.get("volumes", []):
        if "configMap" in volume:
            mounted.setdefault(("ConfigMap", volume["configMap"]["name"]), []).append(f'volume {volume["name"]}')
        if "secret" in volume:
            mounted.setdefault(("Secret", volume["secret"]["secretName"]), []).append(f'volume {volume["name"]}')
    for container in pod_spec.get("initContainers", []) + pod_spec["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                uses = mounted.setdefault(("ConfigMap", source["configMapRef"]["name"]), [])
                if "envFrom" not in uses:
                    uses.append("envFrom")
    for (kind, name), uses in sorted(mounted.items()):
        outside = (kind, name) not in in_chart
        keys = ""
        for manifest in by_kind.get(kind, []):
            if manifest["metadata"]["name"] == name:
                names = sorted(manifest.get("data", manifest.get("stringData", {})))
                keys = ", ".join(names) if len(names) <= 3 else f"{len(names)} keys ({names[0]}, ...)"
        note = "created outside the chart" if outside else keys
        style = 'style="dashed"' if outside else 'fillcolor="#e8f5e9"'
        out.append(f'"{kind.lower()}/{name}" [shape=folder, {style}, label=<{kind} <b>{_e(name)}</b><br/>'
                   f'<font point-size="8">{_e(note)}</font>>];')
        out.append(f'"{kind.lower()}/{name}" -> "{first_pod}" [lhead="cluster_sts", style=dashed, '
                   f'label="{_e(", ".join(uses))}"];')
    return out


def _services(by_kind: dict[str, list[Manifest]], pods: list[str], pod_labels: dict[str, dict[str, str]]) -> list[str]:
    out = []
    for service in by_kind.get("Service", []):
        name, spec = service["metadata"]["name"], service["spec"]
        kind = "headless" if spec.get("clusterIP") == "None" else spec.get("type", "ClusterIP")
        ports = ", ".join(f'{p["port"]}→{p.get("targetPort", p["port"])}' for p in spec.get("ports", []))
        out.append(f'"svc/{name}" [shape=oval, fillcolor="#fff3e0", label=<Service <b>{_e(name)}</b><br/>'
                   f'<font point-size="8">{_e(kind)}, {_e(ports)}</font>>];')
        for pod in pods:
            if _selects(spec.get("selector", {}), pod_labels[pod]):
                target = spec["ports"][0].get("targetPort", "") if spec.get("ports") else ""
                port = f':"{_container_with_port(by_kind, target)}"' if _container_with_port(by_kind, target) else ""
                out.append(f'"svc/{name}" -> "{pod}"{port} [color="#e65100"];')
    return out


def _policy(by_kind: dict[str, list[Manifest]], pods: list[str], pod_labels: dict[str, dict[str, str]]) -> list[str]:
    out = []
    for policy in by_kind.get("NetworkPolicy", []):
        name, spec = policy["metadata"]["name"], policy["spec"]
        guarded = [pod for pod in pods if _selects(spec["podSelector"].get("matchLabels", {}), pod_labels[pod])]
        if not guarded:
            continue
        lines = []
        edges = []
        for index, rule in enumerate(spec.get("ingress", [])):
            ports = "TCP " + ", ".join(str(p["port"]) for p in rule.get("ports", []))
            for peer in rule.get("from", []):
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                if "namespaceSelector" not in peer and all(_selects(labels, pod_labels[p]) for p in pods):
                    lines.append(f"{ports} between the set's own pods")
                    continue
                where = "any namespace" if "namespaceSelector" in peer else "this namespace"
                selector = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "all pods"
                source = f"peer/{name}/{index}/{selector}"
                out.append(f'"{source}" [shape=box, style="rounded,dashed", label=<pods <b>{_e(selector)}</b><br/>'
                           f'<font point-size="8">{where}</font>>];')
                edges.append(f'"{source}" -> "{guarded[0]}" [lhead="cluster_sts", color="#2e7d32", '
                             f'label="{_e(ports)}"];')
                lines.append(f"{ports} from pods {selector} ({where})")
        allowed = "<br/>".join(_e(line) for line in lines) or "nothing"
        out.append(f'"netpol/{name}" [shape=hexagon, fillcolor="#fce4ec", label=<NetworkPolicy <b>{_e(name)}</b><br/>'
                   f'<font point-size="8">{_e(", ".join(spec.get("policyTypes", [])))} allowed only:<br/>{allowed}</font>>];')
        out.append(f'"netpol/{name}" -> "{guarded[0]}" [lhead="cluster_sts", style=dotted, label="guards"];')
        out += edges
    return out


def _flows(pod_spec: dict[str, Any], pods: list[str]) -> list[str]:
    """Clone: pod N's first init container reads pod N-1's ``clone`` port (backup stream), or
    its ``mysql`` port when there is none (CLONE plugin). Replication: every replica's server
    reads the primary's ``mysql`` port."""
    ports = {p["name"]: (c["name"], p["containerPort"]) for c in pod_spec["containers"] for p in c.get("ports", [])}
    init = pod_spec.get("initContainers", [])
    out = []
    # Without a clone port, the clone init container reads the donor's server port (CLONE plugin).
    method = "backup stream" if "clone" in ports else "CLONE plugin"
    if init and ("clone" in ports or "mysql" in ports):
        donor, port = ports["clone"] if "clone" in ports else ports["mysql"]
        for previous, pod in zip(pods, pods[1:]):
            out.append(f'  "{previous}":"{donor}" -> "{pod}":"{init[0]["name"]}" [color="#1565c0", penwidth=2, '
                       f'label="clone ({method}) :{port}"];')
    if "mysql" in ports:
        server, port = ports["mysql"]
        for pod in pods[1:]:
            out.append(f'  "{pods[0]}":"{server}" -> "{pod}":"{server}" [color="#6a1b9a", penwidth=2, '
                       f'label="replication (binlog) :{port}"];')
    return out


def _container_with_port(by_kind: dict[str, list[Manifest]], target: Any) -> str | None:
    (stateful_set,) = by_kind["StatefulSet"]
    for container in stateful_set["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            if target in (port.get("name"), port["containerPort"]):
                return container["name"]
    return None


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _indent(lines: Iterable[str]) -> list[str]:
    return [f"  {line}" for line in lines]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def load_manifests(folder: Path) -> list[Manifest]:
    import yaml

    return [doc for path in sorted(folder.glob("*.k8s.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


def main() -> None:
    dot_source = architecture_dot(load_manifests(REPO / "dist"))
    (DOCS / "architecture.dot").write_text(dot_source)
    for fmt in ("svg", "png"):
        try:
            subprocess.run(["dot", f"-T{fmt}", "-Gdpi=110" if fmt == "png" else "-Gpad=0.1",
                            "-o", str(DOCS / f"architecture.{fmt}")], input=dot_source, text=True, check=True)
        except FileNotFoundError:
            sys.exit("tools/architecture.py: Graphviz's dot is not installed (apt-get install graphviz)")
    print("wrote docs/architecture.dot, docs/architecture.svg, docs/architecture.png")


if __name__ == "__main__":
    main()
