"""replication.sh's watch loop (the receiver restarted after a network error, the heartbeat,
the backup server) and its end on SIGTERM, run for real in the pod sandbox
(``script_sandbox.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from script_sandbox import BACKUP_STREAM_ENGINES, Pod, WATCH_INTERVAL, positioned_replica
from synth_helpers import ENGINE_NAMES

import mysql_ha


@pytest.mark.parametrize(
    "engine_name, errno",
    [*[(name, "2003") for name in ENGINE_NAMES], ("mysql-8.4", "2005"), ("mysql-8.4", "2013"), ("mysql-5.7", "1159")],
)
def test_watch_restarts_a_receiver_stopped_by_a_network_error(tmp_path, engine_name, errno):
    """The receiver gives up after its retry count (10 by default in MySQL 8.4): the sidecar
    starts it again instead of leaving the replica stale for good."""
    pod = positioned_replica(tmp_path, engine_name)
    pod.replica_status(io="No", sql="Yes", io_errno=errno,
                       io_error="error connecting to source 'repl@mysql-0.mysql:3306' - retry-time: 10 retries: 10")
    result = pod.run_sidecar(beats=2)
    assert result.returncode is None, result.stderr
    starts = [s for s in pod.sql().splitlines() if s == f"{pod.engine.sql_start_replica} IO_THREAD;"]
    assert len(starts) == 2, pod.sql()  # once per round, while it stays stopped
    assert f"the receiver stopped on error {errno}" in result.stderr


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize(
    "io, errno",
    [
        pytest.param("No", "0", id="stopped-by-an-operator"),
        pytest.param("No", "1045", id="access-denied"),  # a wrong password does not fix itself
        pytest.param("Yes", "0", id="running"),
        pytest.param("Connecting", "2003", id="still-retrying"),
    ],
)
def test_watch_leaves_the_receiver_alone_otherwise(tmp_path, engine_name, io, errno):
    pod = positioned_replica(tmp_path, engine_name)
    pod.replica_status(io=io, sql="Yes", io_errno=errno)
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr
    assert "IO_THREAD" not in pod.sql()
    assert pod.sql().count(pod.engine.sql_replica_status) >= 1  # it did look (more rounds may pass before the stop)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_watch_never_restarts_anything_on_the_primary(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0)
    pod.replica_status(io="No", sql="No", io_errno="2003")
    result = pod.run_sidecar(beats=2)
    assert result.returncode is None, result.stderr
    assert "IO_THREAD" not in pod.sql() and "CHANGE" not in pod.sql() and "STOP" not in pod.sql()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_watch_beats_every_10_seconds(tmp_path, engine_name):
    pod = positioned_replica(tmp_path, engine_name)
    heartbeat = pod.volumes["run"] / "replication-heartbeat"
    result = pod.run_sidecar(beats=1)
    assert result.returncode is None, result.stderr
    assert heartbeat.exists() and time.time() - heartbeat.stat().st_mtime < 10
    assert (pod.log / "sleeps").read_text().splitlines().count(WATCH_INTERVAL) >= 1


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_sidecar_ends_when_its_backup_server_ends(tmp_path, engine_name):
    """The kubelet restarts the container rather than leave a pod that cannot serve clones."""
    pod = positioned_replica(tmp_path, engine_name)
    result = pod.run_sidecar(beats=2, STUB_LISTEN_SECONDS="0")
    assert result.returncode == 1
    assert "the backup server or the watch loop stopped" in result.stderr


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("ordinal", [0, 1])
def test_sidecar_ends_within_a_second_on_sigterm(tmp_path, engine_name, ordinal):
    """As its container's PID 1 the sidecar gets the kubelet's SIGTERM alone, and bash would
    ignore it without a trap: the pod's deletion would wait out the grace period. The watch
    loop's sleep (a minute here) is cut short, the backup server stops with it."""
    pod = positioned_replica(tmp_path, engine_name) if ordinal else Pod(tmp_path, engine_name, 0)
    result = pod.run_sidecar(beats=1, terminate=True)
    assert result.returncode == 0, result.stderr
    assert result.seconds < 1, f"ended {result.seconds:.1f} s after SIGTERM"
    serves = mysql_ha.ENGINES[engine_name].serves_backup_streams
    stopping = "SIGTERM: stopping the watch loop" + (" and the backup server" if serves else "")
    assert stopping in result.stderr


def test_sidecar_waiting_for_its_server_ends_on_sigterm(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 1)
    scripts_dir = pod.path_in("replication", "/opt/mysql-ha")
    process = subprocess.Popen(["bash", str(scripts_dir / "replication.sh")],
                               env=pod.environment("replication", STUB_SERVER_DOWN="1"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(1)
        assert process.poll() is None, process.communicate()[1]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert time.monotonic() - started < 1
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert process.returncode == 0 and "waiting for the local server" in stderr and "SIGTERM: stopping" in stderr
