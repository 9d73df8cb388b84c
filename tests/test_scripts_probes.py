"""backup-stream.sh, readiness.sh and sidecar-liveness.sh, run for real in the pod sandbox
(``script_sandbox.py``)."""

from __future__ import annotations

import os
import time

import pytest

import mysql_ha
from script_sandbox import BACKUP_STREAM_ENGINES, CLONE_PLUGIN_ENGINES, Pod
from synth_helpers import ENGINE_NAMES


# --- backup-stream.sh and readiness.sh ------------------------------------------------------


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_backup_stream_runs_the_engine_backup_tool(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1)
    result = pod.run("replication", "backup-stream.sh")
    assert result.returncode == 0, result.stderr
    (call,) = pod.calls().splitlines()
    # The clone account's option file (init-mysql's, in the sidecar's own volume), over the socket.
    socket = pod.environment("replication")["MYSQL_HA_SOCKET"]
    assert socket == str(pod.volumes["socket"] / "mysqld.sock")
    assert call.startswith(f"{pod.engine.backup} --defaults-extra-file={pod.volumes['sidecar-auth']}/backup-tool.cnf "
                           "--backup ")
    assert "--slave-info" in call and "--stream=xbstream" in call and f"--socket={socket}" in call
    assert "--host" not in call and "--port" not in call
    assert (pod.volumes["sidecar-auth"] / "backup-tool.cnf").exists()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_readiness(tmp_path, engine_name):
    primary = Pod(tmp_path / "primary", engine_name, 0)
    assert primary.run("mysql", "readiness.sh", STUB_SEMI_SYNC="1").returncode == 0

    replica = Pod(tmp_path / "replica", engine_name, 1)
    replica.replica_status(io="Yes", sql="Yes")
    assert replica.run("mysql", "readiness.sh").returncode == 0
    # One client call: read_only and the replica status in the same round trip.
    clients = [line for line in replica.calls().splitlines() if line.startswith(replica.engine.client + " ")]
    assert len(clients) == 1, clients

    replica.replica_status(io="Connecting", sql="Yes")
    result = replica.run("mysql", "readiness.sh")
    assert result.returncode == 1
    assert "replication threads: IO=Connecting SQL=Yes" in result.stderr

    replica.replica_status(io="Yes", sql="Yes", lag="30")  # MYSQL_HA_MAX_LAG_SECONDS defaults to 30
    assert replica.run("mysql", "readiness.sh").returncode == 0

    replica.replica_status(io="Yes", sql="Yes", lag="31")
    result = replica.run("mysql", "readiness.sh")
    assert result.returncode == 1
    assert "replica 31s behind the primary (limit 30s)" in result.stderr

    replica.replica_status(io="Yes", sql="Yes", lag="NULL")
    result = replica.run("mysql", "readiness.sh")
    assert result.returncode == 1
    assert "replication lag unknown (NULL)" in result.stderr

    (replica.log / "replica-status").unlink()
    result = replica.run("mysql", "readiness.sh")
    assert result.returncode == 1
    assert "IO=none SQL=none" in result.stderr

    replica.datadir.mkdir()
    (replica.datadir / "mysql-ha-source-position").write_text("")
    replica.replica_status(io="Yes", sql="Yes")
    result = replica.run("mysql", "readiness.sh")
    assert result.returncode == 1
    assert "replica not positioned yet" in result.stderr


@pytest.mark.parametrize("engine_name", [n for n in ENGINE_NAMES if mysql_ha.engine_by_name(n).supports_semi_sync])
def test_a_primary_taking_writes_without_semi_sync_is_not_ready(tmp_path, engine_name):
    """A restarted server starts with the source side off until the sidecar turns it on."""
    primary = Pod(tmp_path, engine_name, 0)
    result = primary.run("mysql", "readiness.sh", STUB_SEMI_SYNC="0")
    assert result.returncode == 1
    assert "taking writes with semi-sync's source side off" in result.stderr
    # A set without semi-sync: nothing to wait for.
    (primary.volumes["topology"] / "semi-sync.cnf").write_text("[mysqld]\n")
    assert primary.run("mysql", "readiness.sh", STUB_SEMI_SYNC="0").returncode == 0


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("semi_sync", ["with-semi-sync", "without"])
def test_a_read_only_declared_primary_is_not_ready(tmp_path, engine_name, semi_sync):
    """Every server starts read-only: the write Service waits until the sidecar has made the
    declared primary writable (still catching up at a switchover, or just restarted)."""
    primary = Pod(tmp_path, engine_name, 0)
    if semi_sync == "without" or not primary.engine.supports_semi_sync:
        (primary.volumes["topology"] / "semi-sync.cnf").write_text("[mysqld]\n")
    result = primary.run("mysql", "readiness.sh", STUB_SEMI_SYNC="1", STUB_READ_ONLY="1")
    assert result.returncode == 1
    assert "the declared primary does not take writes yet" in result.stderr
    assert primary.run("mysql", "readiness.sh", STUB_SEMI_SYNC="1", STUB_READ_ONLY="0").returncode == 0
    clients = [line for line in primary.calls().splitlines() if line.startswith(primary.engine.client + " ")]
    assert len(clients) == 2, clients  # one per probe


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_a_writable_replica_is_not_ready(tmp_path, engine_name):
    """A replica that takes writes (a demoted primary before its sidecar turned it read-only)
    leaves the read Service, even with replication running."""
    replica = Pod(tmp_path, engine_name, 1)
    replica.replica_status(io="Yes", sql="Yes")
    result = replica.run("mysql", "readiness.sh", STUB_READ_ONLY="0")
    assert result.returncode == 1
    assert "a replica that takes writes" in result.stderr


def test_readiness_fails_when_the_server_does_not_answer(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 0)
    assert pod.run("mysql", "readiness.sh", STUB_SERVER_DOWN="1").returncode != 0


# --- sidecar-liveness.sh ----------------------------------------------------------------------


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
def test_sidecar_liveness_follows_the_heartbeat(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1)
    heartbeat = pod.volumes["run"] / "replication-heartbeat"
    # Before the first beat (set-up may wait for the server): alive.
    assert pod.run("replication", "sidecar-liveness.sh").returncode == 0
    heartbeat.touch()
    assert pod.run("replication", "sidecar-liveness.sh").returncode == 0
    stale = time.time() - 120
    os.utime(heartbeat, (stale, stale))
    result = pod.run("replication", "sidecar-liveness.sh")
    assert result.returncode == 1
    assert "the replication watch loop last beat 1" in result.stderr


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_sidecar_liveness_needs_the_backup_server_for_backup_stream_engines(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1)
    # Setting up (no beat yet): the backup server starts after set-up, nothing is asked of it.
    assert pod.run("replication", "sidecar-liveness.sh", MYSQL_HA_CLONE_PORT="1").returncode == 0
    (pod.volumes["run"] / "replication-heartbeat").touch()
    # A port nothing listens on in this sandbox.
    result = pod.run("replication", "sidecar-liveness.sh", MYSQL_HA_CLONE_PORT="1")
    assert result.returncode == 1
    assert "nothing listens on port 1" in result.stderr


# --- server-probe.sh ------------------------------------------------------------------------


def _logins(pod: Pod) -> list[str]:
    """The probe's logins, as ``<option file> <options>``, in order."""
    client = pod.engine.client
    return [call.split(" ", 1)[1].replace(f"--defaults-extra-file={pod.volumes['server-auth']}/", "")
            .replace(" --batch --skip-column-names", "")
            for call in pod.calls().splitlines() if call.startswith(f"{client} ")]


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_server_probe_pings_and_fills_the_authentication_cache(tmp_path, engine_name):
    """Startup: ping, then (caching_sha2_password, TLS off) every network account logs in
    once over the loopback with the full exchange. Liveness: ping and one login from the
    cache; only a miss logs every account in again. The probe fails only when the server
    does not answer."""
    pod = Pod(tmp_path, engine_name, 0)
    admin = pod.engine.admin
    result = pod.run_probe("startup")
    assert result.returncode == 0, result.stderr
    assert pod.calls().splitlines()[0] == f"{admin} --defaults-extra-file={pod.volumes['server-auth']}/client.cnf ping"
    full = [f"cache-{name}.cnf --get-server-public-key" for name in ("backup", "clone", "replication", "status")]
    if not pod.engine.fast_auth_cache:
        assert _logins(pod) == []
        return
    assert _logins(pod) == full

    (pod.log / "calls").unlink()
    assert pod.run_probe("liveness").returncode == 0
    assert _logins(pod) == ["cache-status.cnf --ssl-mode=DISABLED"]

    (pod.log / "calls").unlink()
    assert pod.run_probe("liveness", STUB_AUTH_CACHE_COLD="1").returncode == 0
    assert _logins(pod) == ["cache-status.cnf --ssl-mode=DISABLED", *full]

    (pod.log / "calls").unlink()
    assert pod.run_probe("liveness", STUB_SERVER_DOWN="1").returncode == 1
    assert _logins(pod) == []
