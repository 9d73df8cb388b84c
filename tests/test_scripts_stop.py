"""A pod's stop: pre-stop.sh in the server and sidecar containers, and replication.sh's
release of the server (a primary read-only before its server gets SIGTERM), run for real in
the pod sandbox (``script_sandbox.py``)."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from script_sandbox import Pod
from synth_helpers import ENGINE_NAMES

import mysql_ha

RUN_DIR = "/run/mysql-ha"
SWITCHING_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].sql_read_only]


def run_dir(pod: Pod):
    path = pod.path_in("replication", RUN_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("engine_name", SWITCHING_ENGINES)
def test_a_stopping_primary_turns_read_only_before_its_server_stops(tmp_path, engine_name):
    engine = mysql_ha.ENGINES[engine_name]
    pod = Pod(tmp_path, engine_name, 0)
    (run_dir(pod) / "stop-requested").touch()
    result = pod.run_sidecar(beats=3, STUB_SERVER_STARTED="1000000")
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    demotions = [s for s in statements if engine.sql_read_only in s]
    assert len(demotions) == 1, statements
    assert "read-only: the server is stopping" in result.stderr
    # Nothing makes it writable again while it stops.
    assert not [s for s in statements[statements.index(demotions[0]):] if engine.sql_writable in s], statements
    if engine.sql_stop_feeding:
        assert statements.count(f"{engine.sql_stop_feeding};") == 1, statements
        assert statements.index(f"{engine.sql_stop_feeding};") > statements.index(demotions[0])
    else:
        assert "offline_mode" not in pod.sql()
    assert (run_dir(pod) / "stop-ready").read_text().strip() == "1000000"


@pytest.mark.parametrize("engine_name", ["mysql-8.4", "mariadb-11.4"])
def test_a_stopping_replica_is_released_without_a_demotion(tmp_path, engine_name):
    engine = mysql_ha.ENGINES[engine_name]
    pod = Pod(tmp_path, engine_name, 1)
    pod.replica_status(io="Yes", sql="Yes")
    (run_dir(pod) / "stop-requested").touch()
    result = pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000000")
    assert result.returncode is None, result.stderr
    assert engine.sql_read_only not in pod.sql() and engine.sql_start_replica not in pod.sql()
    assert (run_dir(pod) / "stop-ready").exists()


def test_the_feeds_end_only_once_the_replicas_have_everything(tmp_path):
    """Feeds still sending: the server waits (2 s at most), then ends them anyway."""
    pod = Pod(tmp_path, "mysql-8.4", 0)
    (run_dir(pod) / "stop-requested").touch()
    result = pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000000", STUB_FEEDS="1")
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    sending = [s for s in statements if "STATE NOT LIKE" in s]
    assert len(sending) == 20, len(sending)  # polled 2 s, every 0.1 s
    assert statements.index("SET GLOBAL offline_mode = ON;") > statements.index(sending[-1])


def test_a_server_started_after_its_release_carries_on(tmp_path):
    """The server's container alone restarted (a failed liveness probe ran the hook): the new
    server is led as usual."""
    engine = mysql_ha.ENGINES["mysql-8.4"]
    pod = Pod(tmp_path, "mysql-8.4", 0)
    (run_dir(pod) / "stop-requested").touch()
    (run_dir(pod) / "stop-ready").write_text("999000\n")
    result = pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000000", STUB_READ_ONLY="1")
    assert result.returncode is None, result.stderr
    assert "the server started again after its stop: carrying on" in result.stderr
    assert not (run_dir(pod) / "stop-requested").exists() and not (run_dir(pod) / "stop-ready").exists()
    assert engine.sql_writable in pod.sql()  # lead() went on


def test_the_same_server_stays_released(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 0)
    (run_dir(pod) / "stop-requested").touch()
    (run_dir(pod) / "stop-ready").write_text("1000000\n")
    result = pod.run_sidecar(beats=2, STUB_SERVER_STARTED="1000001", STUB_READ_ONLY="1")
    assert result.returncode is None, result.stderr
    assert "SET GLOBAL" not in pod.sql()
    assert (run_dir(pod) / "stop-requested").exists()


def hook(pod: Pod, role: str, **env: str) -> subprocess.Popen:
    scripts = pod.path_in("replication", "/opt/mysql-ha")
    return subprocess.Popen(["bash", str(scripts / "pre-stop.sh"), role],
                            env={"PATH": "/usr/bin:/bin", "MYSQL_HA_RUN_DIR": str(run_dir(pod)), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_hooks_wait_for_the_release(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 0)
    sidecar, server = hook(pod, "sidecar"), hook(pod, "server")
    time.sleep(1)
    assert (run_dir(pod) / "stop-requested").exists()
    assert sidecar.poll() is None and server.poll() is None  # both wait
    released = time.monotonic()
    threading.Timer(0, lambda: (run_dir(pod) / "stop-ready").write_text("1000000\n")).start()
    for process in (sidecar, server):
        assert process.wait(timeout=5) == 0
    assert time.monotonic() - released < 1


def test_the_sidecar_alone_asks_nothing(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 0)
    started = time.monotonic()
    assert hook(pod, "sidecar").wait(timeout=10) == 0
    assert 1.5 < time.monotonic() - started < 5
    assert not (run_dir(pod) / "stop-requested").exists()


def test_the_hooks_give_up_when_nothing_releases_the_server(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 0)
    started = time.monotonic()
    server = hook(pod, "server", MYSQL_HA_STOP_WAIT_SECONDS="1")
    assert server.wait(timeout=10) == 0
    assert 0.9 < time.monotonic() - started < 5
    assert "not released within 1 s: stopping anyway" in server.stderr.read()
