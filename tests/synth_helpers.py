"""Helpers of the unit tests: synthesize charts in memory, pick objects out of them,
snapshot them as YAML files.

Test modules import them with ``from synth_helpers import ...`` (``tests/`` is on
``sys.path``). Not from ``conftest``: ``tests/e2e/conftest.py`` is imported under the
same module name and would shadow ``tests/conftest.py``. The helpers use
``import cdk8s`` and ``cdk8s.Testing.app()``: a ``from cdk8s import Testing`` in a test
module makes pytest try to collect ``Testing``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

LOCKED_NODE = REPO / "node_modules" / ".bin" / "node"
"""The supported LTS Node that `npm ci` installs from package-lock.json. jsii starts its
runtime when cdk8s is imported, so this comes first; subprocesses inherit it."""
if LOCKED_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(LOCKED_NODE))

import functools  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import cdk8s  # noqa: E402
import yaml  # noqa: E402
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode  # noqa: E402

import mysql_ha  # noqa: E402
from mysql_ha.mysql_config import CONTENT_HASH_LENGTH  # noqa: E402

SIDECARS = REPO / "sidecars"
DIST = REPO / "dist"
EXAMPLES = REPO / "examples"
EXAMPLE_NAMES = sorted(path.parent.name for path in EXAMPLES.glob("*/main.py"))
"""Every example app, one folder of ``examples/`` each."""

ENGINE_NAMES = list(mysql_ha.ENGINES)
"""Every supported engine, in the library's order (the default, MySQL 8.4, first)."""

CLUSTER_SCOPED_KINDS = {"Namespace", "StorageClass", "PersistentVolume"}

# cdk8s.Testing.app() makes a fresh temporary folder per app unless given one; the tests
# never synthesize to disk, so every app shares one folder, removed at the end.
_APP_OUTDIR = tempfile.mkdtemp(prefix="mysql-ha-tests-")


def remove_app_outdir() -> None:
    """Called by conftest.py at the end of the session."""
    shutil.rmtree(_APP_OUTDIR, ignore_errors=True)


# --- building and synthesizing -------------------------------------------------------


def new_app() -> cdk8s.App:
    """A fresh test app (``cdk8s.Testing.app()``)."""
    return cdk8s.Testing.app(outdir=_APP_OUTDIR)


def new_chart(namespace: str | None = "mysql") -> cdk8s.Chart:
    """An empty chart in its own test app, with exact resource names (no hashes)."""
    return cdk8s.Chart(new_app(), "test", namespace=namespace, disable_resource_name_hashes=True)


def synth(chart: cdk8s.Chart) -> list[dict[str, Any]]:
    """The chart's objects as plain dicts, in synthesis order, without touching disk."""
    return list(cdk8s.Testing.synth(chart))


def to_yaml(manifests: list[dict[str, Any]]) -> str:
    """The manifests as cdk8s writes them to dist/ (same YAML emitter, same layout)."""
    return cdk8s.Yaml.stringify(*manifests)


def existing_secret() -> mysql_ha.MySQLCredentials:
    """The credentials of the committed dist/: a Secret created outside the library."""
    return mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials")


REQUIRED_PASSWORDS = ("root_password", "admin_password", "status_password", "replication_password",
                      "clone_password")
"""The passwords ``MySQLCredentials.from_passwords`` requires, for every engine."""


def unit_passwords(*optional: str) -> dict[str, str]:
    """A distinct random password for each required account and each name in ``optional``
    (``"metrics_password"``, ``"backup_password"``), as keyword arguments."""
    return {name: f"{name.split('_')[0].title()}-{secrets.token_urlsafe(12)}"
            for name in (*REQUIRED_PASSWORDS, *optional)}


def password_credentials(*optional: str, **props: Any) -> mysql_ha.MySQLCredentials:
    """``MySQLCredentials.from_passwords`` with ``unit_passwords(*optional)``; ``props``
    override any of them or add other props (``secret_name``...)."""
    return mysql_ha.MySQLCredentials.from_passwords(**{**unit_passwords(*optional), **props})


def whole_chart(
    engine: mysql_ha.Engine = mysql_ha.MYSQL_8_4,
    credentials: mysql_ha.MySQLCredentials | None = None,
    **props: Any,
) -> list[dict[str, Any]]:
    """``MySQLHAChart`` synthesized (credentials default to the existing Secret)."""
    chart = mysql_ha.MySQLHAChart(
        new_app(), "mysql-ha", engine=engine, credentials=credentials or existing_secret(), **props
    )
    return synth(chart)


def add_stack(
    chart: cdk8s.Chart,
    *,
    engine: mysql_ha.Engine = mysql_ha.MYSQL_8_4,
    credentials: mysql_ha.MySQLCredentials | None = None,
    storage: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    services: dict[str, Any] | None = None,
    **mysql_props: Any,
) -> mysql_ha.ReplicatedMySQL:
    """``ReplicatedMySQL`` with everything it needs, each part with optional props."""
    return mysql_ha.ReplicatedMySQL(
        chart,
        "MySQL",
        config=mysql_ha.MySQLConfig(
            chart, "Config", engine=engine, credentials=credentials or existing_secret(), **(config or {})
        ),
        storage=mysql_ha.LocalStorage(chart, "Storage", **(storage or {})),
        services=mysql_ha.ReadWriteServices(chart, "Services", **(services or {})),
        **mysql_props,
    )


@functools.cache
def run_example(name: str) -> tuple[Path, str]:
    """Runs ``examples/<name>/main.py`` as ``cdk8s synth`` would (``CDK8S_OUTDIR``, once per
    test run) and returns its output folder and what it wrote to stderr."""
    outdir = Path(_APP_OUTDIR) / "examples" / name
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_HA_")}
    env["CDK8S_OUTDIR"] = str(outdir)
    result = subprocess.run([sys.executable, "main.py"], cwd=EXAMPLES / name, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"examples/{name}: {result.stderr}"
    return outdir, result.stderr


def example_manifests(name: str) -> list[dict[str, Any]]:
    """The objects an example synthesizes, from its manifest files."""
    outdir, _ = run_example(name)
    return [doc for path in sorted(outdir.glob("*.k8s.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


# --- looking things up ----------------------------------------------------------------


def by_kind(manifests: list[dict[str, Any]], kind: str, name: str | None = None) -> Any:
    """Without ``name``: every object of ``kind``, in order (possibly none).
    With ``name``: the one object of that kind and name (fails the test otherwise)."""
    found = [m for m in manifests if m["kind"] == kind]
    if name is None:
        return found
    named = [m for m in found if m["metadata"].get("name") == name]
    assert len(named) == 1, f"expected one {kind} {name!r}, found {[m['metadata'].get('name') for m in found]}"
    return named[0]


def unhashed(name: str) -> str:
    """A content-named ConfigMap's name without its hash (``mysql-env-0123456789``: ``mysql-env``)."""
    return re.sub(rf"-[0-9a-f]{{{CONTENT_HASH_LENGTH}}}$", "", name)


def config_map(manifests: list[dict[str, Any]], prefix: str) -> Any:
    """The one content-named ConfigMap ``prefix-<hash>`` (MySQLConfig's)."""
    named = [m for m in manifests if m["kind"] == "ConfigMap"
             and re.fullmatch(rf"{re.escape(prefix)}-[0-9a-f]{{{CONTENT_HASH_LENGTH}}}", m["metadata"].get("name", ""))]
    assert len(named) == 1, f"expected one ConfigMap {prefix}-<hash>, found {[m['metadata'].get('name') for m in named]}"
    return named[0]


def pod_spec(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod template spec of the (single) StatefulSet."""
    (stateful_set,) = by_kind(manifests, "StatefulSet")
    return stateful_set["spec"]["template"]["spec"]


def container(manifests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """A container or init container of the StatefulSet's pods, by name."""
    spec = pod_spec(manifests)
    found = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name]
    assert len(found) == 1, f"expected one container {name!r}"
    return found[0]


def all_containers(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spec = pod_spec(manifests)
    return spec.get("initContainers", []) + spec["containers"]


def env_of(container_: dict[str, Any]) -> dict[str, str]:
    """A container's literal ``env`` entries as a dict."""
    return {e["name"]: e["value"] for e in container_.get("env", []) if "value" in e}


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a manifest (keys included), with a JSON-pointer-like path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}/{key}#key", key
            yield from walk_strings(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}/{index}")
    elif isinstance(value, str):
        yield path, value


# --- snapshots --------------------------------------------------------------------------


class YamlSnapshotExtension(SingleFileSnapshotExtension):
    """One readable ``.yaml`` file per snapshot, under ``tests/__snapshots__/<module>/``."""

    file_extension = "yaml"
    _write_mode = WriteMode.TEXT

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return data if isinstance(data, str) else to_yaml(list(data))
