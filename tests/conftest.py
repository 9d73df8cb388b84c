"""Fixtures of the unit tests. The helpers they share live in ``synth_helpers.py``."""

from __future__ import annotations

from typing import Any

import pytest
from synth_helpers import ENGINE_NAMES, YamlSnapshotExtension, remove_app_outdir

import mysql_ha


# The longest files first, longest first: --dist loadfile with --no-loadscope-reorder
# (pyproject.toml; xdist's default orders files by their number of tests, which put the
# one-test benchmark smoke last) hands files to the two workers in collection order as they
# free up, and a long file handed out late leaves the other worker idle at the end of the
# suite (the whole-set scenario modules take about 15 minutes each, the benchmark
# smoke 7, each backup module 6; the rest, and the unit tests, fill in after them).
FIRST = ("tests/e2e/test_mariadb.py", "tests/e2e/test_mysql.py", "tests/test_benchmarks_smoke.py",
         "tests/e2e/test_backup_mysql.py", "tests/e2e/test_backup_mariadb.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return FIRST.index(path) if path in FIRST else len(FIRST)
    items.sort(key=rank)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    remove_app_outdir()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The e2e scenarios' figures (``report`` fixture of tests/e2e), whichever worker ran them."""
    lines = [value for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "call"
             for name, value in getattr(report, "user_properties", ()) if name == "e2e-report"]
    if lines:
        terminalreporter.section("e2e scenarios")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(params=ENGINE_NAMES)
def engine(request: pytest.FixtureRequest) -> mysql_ha.Engine:
    """Runs the test once per supported engine."""
    return mysql_ha.ENGINES[request.param]


@pytest.fixture
def yaml_snapshot(snapshot: Any) -> Any:
    """``assert manifests == yaml_snapshot``: compares the manifests' YAML to the stored file."""
    return snapshot.use_extension(YamlSnapshotExtension)
