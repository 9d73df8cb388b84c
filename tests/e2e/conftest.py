"""Fixtures of the emulated-pod scenarios: one cluster per test module, run for real from the
images' stand-in root filesystems. A module names its engine: ``ENGINE = "mariadb-11.4"``; a
module whose first scenario changes the engine (an upgrade) names the engine its cluster
starts on too: ``START_ENGINE = "mariadb-10.11"``."""

from __future__ import annotations

import inspect
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import cdk8s
import pytest

pytest.register_assert_rewrite("scenarios", "backup_env", "backup_scenarios", "rollout_scenarios", "failover_scenarios",
                                "oom_scenarios", "node_scenarios", "demotion_scenarios", "restart_scenarios",
                                "account_scenarios", "upgrade_scenarios")

from emulator import Cluster
from emulator.images import ensure_image
from cdk8s_plus_27 import k8s
from mysql_ha import (LocalStorage, MySQLConfig, MySQLCredentials, MySQLHAChart, ReadWriteServices,
                      ReplicatedMySQL, engine_by_name)
from scenario_tools import PREFIX, SPEED, ArgvScanner

HOST_TOOLS = ("ip", "unshare", "nsenter", "mount", "chroot", "bash", "debootstrap", "nft")


def _prerequisites() -> None:
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.insert(0, "root")
    if "overlay" not in Path("/proc/filesystems").read_text().split():
        missing.append("overlayfs support in the kernel")
    if missing:
        pytest.fail(
            "the e2e scenarios need root (network and mount namespaces, overlay mounts), "
            f"{', '.join(HOST_TOOLS)}; missing: {', '.join(missing)} "
            "(apt-get install iproute2 util-linux debootstrap nftables)",
            pytrace=False,
        )


def _engine_of(request) -> object:
    name = getattr(request.module, "ENGINE", None)
    if name is None:
        pytest.fail(f"{request.module.__name__} uses the cluster fixture but names no ENGINE", pytrace=False)
    return engine_by_name(name)


def _start_engine_of(request, engine) -> object:
    """The engine the module's cluster is first applied with: ``START_ENGINE``, else ``ENGINE``."""
    name = getattr(request.module, "START_ENGINE", None)
    return engine if name is None else engine_by_name(name)


def _credentials(passwords: dict[str, str]) -> MySQLCredentials:
    """Every password the product takes (a clone account's only where it has one)."""
    accepted = inspect.signature(MySQLCredentials.from_passwords).parameters
    return MySQLCredentials.from_passwords(**{k: v for k, v in passwords.items() if k in accepted})


def _prefix(engine_name: str) -> str:
    """Network names per engine, so two engines' modules can run side by side (veth names
    are ``v<prefix><ordinal>``, 15 characters at most)."""
    # The engine's first letters and this process: a checkout's two workers, and another
    # checkout's run on the same machine, never share a name.
    return f"{PREFIX}{re.sub(r'[^a-z0-9]', '', engine_name.lower())[:4]}{os.getpid() % 4096:03x}"


def _images(cluster: Cluster) -> None:
    """Builds (or finds) every image before the clock of any scenario starts."""
    for image in cluster.image_names:
        started = time.monotonic()
        try:
            ensure_image(image)
        except Exception as error:  # noqa: BLE001 - reported as the fixture's failure
            pytest.fail(f"no root filesystem for image {image}: {error}", pytrace=False)
        took = time.monotonic() - started
        if took > 5:
            print(f"image {image} built in {took:.0f} s")


def _manifests(engine, credentials: MySQLCredentials, local_nodes: int | None, **props) -> list[dict]:
    """The chart of a module's cluster: ``MySQLHAChart`` on a provisioned StorageClass
    (``standard``, as kind has), or, for a module that names ``LOCAL_NODES``, the constructs
    on static local PersistentVolumes (``Retain``), one on each of that many nodes."""
    if not local_nodes:
        return MySQLHAChart(cdk8s.Testing.app(), "e2e", engine=engine, credentials=credentials,
                            storage_class_name="standard", **props).to_json()
    chart = cdk8s.Chart(cdk8s.Testing.app(), "e2e", namespace="mysql", disable_resource_name_hashes=True)
    k8s.KubeNamespace(chart, "Namespace", metadata=k8s.ObjectMeta(name="mysql"))
    storage = LocalStorage(chart, "Storage", paths=[f"/mnt/disks/mysql-{i}" for i in range(local_nodes)],
                           nodes=[f"node-{i}" for i in range(local_nodes)])
    config = MySQLConfig(chart, "Config", engine=engine, credentials=credentials)
    services = ReadWriteServices(chart, "Services")
    ReplicatedMySQL(chart, "MySQL", config=config, storage=storage, services=services, **props)
    return chart.to_json()


@pytest.fixture(scope="module")
def engine(request):
    """The engine the requesting module names in ``ENGINE``."""
    return _engine_of(request)


@pytest.fixture(scope="module")
def cluster(request, engine, tmp_path_factory):
    _prerequisites()
    # Quotes, a backslash, '$' and '#' in every password: each must survive option files,
    # SQL literals and shells. The replication password has the longest length replicas take.
    special = "'\"\\$#-"
    passwords = {name: name[0].upper() + special + secrets.token_urlsafe(24)
                 for name in ("root_password", "admin_password", "status_password", "clone_password")}
    passwords["replication_password"] = ("R" + special + secrets.token_urlsafe(32))[:engine.max_replication_password_length]
    local_nodes = getattr(request.module, "LOCAL_NODES", None)
    current = {"engine": _start_engine_of(request, engine)}

    def synth(**props) -> list[dict]:
        """The chart's manifests, of the cluster's current engine; ``props`` as a re-apply with
        other props would pass them."""
        return _manifests(current["engine"], _credentials(passwords), local_nodes, **{"replicas": 3, **props})

    scanner = ArgvScanner(list(passwords.values()))
    workdir = tmp_path_factory.mktemp(f"cluster-{engine.name}")
    with Cluster(synth(), workdir, prefix=_prefix(engine.name), speed=SPEED) as c:
        _images(c)
        if current["engine"] is not engine:
            # The engine the module changes to: its images are built before any clock starts too.
            for image in sorted({engine.server_image, engine.tools_image}):
                ensure_image(image)
        c.engine = current["engine"]

        def change_engine(new) -> None:
            """From now on the chart is synthesized with ``new`` (as a user edits the engine
            before applying); the scenarios read the engine of the set from ``c.engine``."""
            current["engine"] = new
            c.engine = new

        c.change_engine = change_engine
        c.synth = synth
        c.replication_password = passwords["replication_password"]
        c.passwords = passwords
        c.app_password = "App-" + secrets.token_urlsafe(12)
        c.argv_scanner = scanner
        scanner.needles.append(c.app_password)
        scanner.start()
        c.start()
        try:
            yield c
        finally:
            scanner.stop()
            if os.environ.get("MYSQL_HA_E2E_KEEP_LOGS"):
                keep = Path(os.environ["MYSQL_HA_E2E_KEEP_LOGS"]) / engine.name
                shutil.copytree(workdir, keep, dirs_exist_ok=True, symlinks=True,
                                ignore=shutil.ignore_patterns("pv", "containers", "*.sock"))


@pytest.fixture
def report(engine, request):
    """One line per scenario (time to replication, rows checked), printed in the session's
    summary: kept as a property of the test, so it reaches the summary from any worker. It
    names the engine the cluster runs at the time (``START_ENGINE`` before an upgrade)."""

    def add(scenario: str, seconds: float, rows: int, pods: int) -> None:
        name = request.getfixturevalue("cluster").engine.name if "cluster" in request.fixturenames else engine.name
        line = (f"e2e {name} {scenario}: replicated after {seconds:.1f} s, "
                f"{rows} rows checked on {pods} pods")
        request.node.user_properties.append(("e2e-report", line))

    return add
