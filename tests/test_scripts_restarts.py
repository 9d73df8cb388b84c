"""replication.sh after its server restarts (every server starts read-only with replication
stopped: the sidecar starts it once per start, and makes the declared primary writable),
run for real in the pod sandbox (``script_sandbox.py``)."""

from __future__ import annotations

import pytest
from script_sandbox import Pod, SWITCHOVER_ENGINES, positioned_replica
from synth_helpers import ENGINE_NAMES


def test_positioned_replica_resumes_replication_after_a_server_restart(tmp_path):
    """Every server starts with replication stopped (init-config.sh): the sidecar starts it."""
    pod = Pod(tmp_path, "mysql-5.7", 1)
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000003\t157\n")
    for container_name, script in (("clone-mysql", "clone.sh"), ("init-mysql", "init-config.sh")):
        assert pod.run(container_name, script).returncode == 0, script
    # What the mysql container reads from /etc/mysql/conf.d at every start:
    conf = pod.path_in("mysql", "/etc/mysql/conf.d")
    skip = [f.name for f in conf.iterdir() if pod.engine.skip_replica_start_option in f.read_text()]
    assert skip == ["start.cnf"]
    pod.replica_status(io="No", sql="No")
    assert pod.run_sidecar().returncode is None
    assert f"{pod.engine.sql_start_replica};" in pod.sql().splitlines()


def starts(pod) -> list[str]:
    return [s for s in pod.sql().splitlines() if s.startswith(pod.engine.sql_start_replica)]


def again(pod) -> None:
    """Forgets what the last run of the sidecar did (its statements and rounds)."""
    (pod.log / "sql").unlink(missing_ok=True)
    (pod.log / "sleeps").unlink(missing_ok=True)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_replication_starts_once_per_start_of_the_server(tmp_path, engine_name):
    """The server starts with replication stopped: the sidecar starts it once per start of
    the server (its start time, read a second apart, is the same start), so that an
    operator's STOP on a running server is left alone."""
    pod = positioned_replica(tmp_path, engine_name)
    start = f"{pod.engine.sql_start_replica};"
    pod.replica_status(io="No", sql="No")
    result = pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000000")
    assert result.returncode is None, result.stderr
    assert starts(pod) == [start], pod.sql()
    assert "the server started (replication stopped): replication started from mysql-0.mysql" in result.stderr

    # The same server; an operator stops the applier (or all of replication): left alone.
    for io, applier in (("Yes", "No"), ("No", "No")):
        again(pod)
        pod.replica_status(io=io, sql=applier)
        assert pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000001").returncode is None
        assert starts(pod) == [], pod.sql()

    # The server starts again (kill -9, OOM, liveness): replication resumes, once.
    again(pod)
    assert pod.run_sidecar(beats=3, STUB_SERVER_STARTED="1000042").returncode is None
    assert starts(pod) == [start]

    # A server that is no replica (the primary, or a pod that refused its primary): nothing.
    again(pod)
    (pod.log / "replica-status").unlink()
    assert pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000100").returncode is None
    assert starts(pod) == []


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_a_restarted_declared_primary_takes_writes_once_the_sidecar_has_checked(tmp_path, engine_name):
    """The server starts read-only; the sidecar makes it writable (no other pod answers here),
    semi-sync's source side first."""
    pod = Pod(tmp_path, engine_name, 0)
    result = pod.run_sidecar(beats=2, STUB_READ_ONLY="1")
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    assert f"{pod.engine.sql_writable};" in statements, statements
    assert "this pod is the primary now: it takes writes" in result.stderr
    assert not starts(pod)


@pytest.mark.parametrize("engine_name", SWITCHOVER_ENGINES)
def test_a_declared_primary_restarted_as_a_replica_applies_what_it_received(tmp_path, engine_name):
    """Declared while its server restarted: replication runs again, and it takes writes only
    once it has applied what it received (its old primary unreachable here)."""
    pod = positioned_replica(tmp_path, engine_name)
    (pod.volumes["topology"] / "primary-ordinal").write_text("1")
    pod.replica_status(io="No", sql="No")
    result = pod.run_sidecar(beats=3, STUB_DOWN_HOSTS="mysql-0.mysql")
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    assert starts(pod) == [f"{pod.engine.sql_start_replica};"]
    assert statements.index(f"{pod.engine.sql_start_replica};") < statements.index(f"{pod.engine.sql_writable};")
