"""Fixtures of the emulated-pod scenarios: one MariaDB cluster per module, run for real."""

from __future__ import annotations

import os
import secrets
import shutil

import cdk8s
import pytest

from emulator import Cluster
from mysql_ha import MARIADB_11_4, MySQLCredentials, MySQLHAChart
from scenario_tools import ArgvScanner

REQUIRED = ("mariadbd", "mariadb", "mariadb-admin", "mariadb-backup", "mbstream", "mariadb-install-db",
            "socat", "ip", "unshare", "nsenter")


def _prerequisites() -> None:
    missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        pytest.fail(
            "the e2e scenarios need root (network and mount namespaces) and "
            f"{', '.join(REQUIRED)}; missing: {', '.join(missing) or 'root'} "
            "(apt-get install mariadb-server mariadb-backup mariadb-client socat iproute2)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    _prerequisites()
    root = "Root-" + secrets.token_urlsafe(12)
    replication = "Repl-" + secrets.token_urlsafe(12)
    app = cdk8s.Testing.app()
    chart = MySQLHAChart(
        app,
        "e2e",
        engine=MARIADB_11_4,
        credentials=MySQLCredentials.from_passwords(root_password=root, replication_password=replication),
        replicas=3,
        storage_class_name="standard",
    )
    scanner = ArgvScanner([root, replication])
    workdir = tmp_path_factory.mktemp("cluster")
    with Cluster(chart.to_json(), workdir) as c:
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
                shutil.copytree(workdir, os.environ["MYSQL_HA_E2E_KEEP_LOGS"], dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("pvc"))


@pytest.fixture
def report():
    """Prints one line per scenario for later benchmarks: time to replication, rows checked."""
    lines = []

    def add(scenario: str, seconds: float, rows: int, pods: int) -> None:
        lines.append(f"e2e {scenario}: replicated after {seconds:.1f} s, {rows} rows checked on {pods} pods")

    yield add
    for line in lines:
        print(line)
