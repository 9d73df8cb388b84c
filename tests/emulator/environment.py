"""A container's environment, as the kubelet assembles it: envFrom, then env (value and
valueFrom), over the image's ENV and what the runtime sets itself (PATH, HOSTNAME, HOME)."""

from __future__ import annotations

from .errors import EmulatorError
from .objects import Objects

# The official images' PATH (their Dockerfiles inherit Debian's, or Docker's default on Alpine:
# the same string).
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def container_env(objects: Objects, spec: dict, *, pod_name: str, pod_ip: str, namespace: str,
                  home: str, image_env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a container of pod ``pod_name`` starts with."""
    env = {"PATH": IMAGE_PATH, "HOSTNAME": pod_name, "HOME": home, **(image_env or {})}
    for source in spec.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = objects.config_map_data(source["configMapRef"]["name"])
        elif "secretRef" in source:
            data = objects.secret_data(source["secretRef"]["name"])
        else:
            raise EmulatorError(f"envFrom: unsupported source {sorted(source)}")
        env.update({prefix + k: v for k, v in data.items()})
    fields = {"metadata.name": pod_name, "metadata.namespace": namespace, "status.podIP": pod_ip}
    for var in spec.get("env", []):
        env[var["name"]] = _value(objects, var, fields)
    return env


def _value(objects: Objects, var: dict, fields: dict[str, str]) -> str:
    if "valueFrom" not in var:
        return var.get("value", "")
    ref = var["valueFrom"]
    if "secretKeyRef" in ref:
        return objects.secret_data(ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]]
    if "configMapKeyRef" in ref:
        return objects.config_map_data(ref["configMapKeyRef"]["name"])[ref["configMapKeyRef"]["key"]]
    if "fieldRef" in ref and ref["fieldRef"]["fieldPath"] in fields:
        return fields[ref["fieldRef"]["fieldPath"]]
    raise EmulatorError(f"env {var['name']}: unsupported valueFrom {ref}")
