"""The TLS paths of the pod scripts, run in bash in the sandbox of ``script_sandbox.py`` (stand-ins
for the tools) on the TLS-on charts: socat's mutual-TLS addresses, the client option files,
the change-source statement with its TLS options, TLS-only accounts and the reload of a
renewed certificate."""

from __future__ import annotations

import configparser
import functools
import re
import threading
import time
from unittest import mock

import pytest
import script_sandbox
import test_scripts
from script_sandbox import PASSWORD, PASSWORD_SQL, Pod, run_bash
from synth_helpers import SIDECARS, by_kind, container, env_of
from tls_helpers import TLS_ENGINE_NAMES, tls_chart

import mysql_ha

TLS_DIR = "/etc/mysql-ha/tls"


@functools.lru_cache(maxsize=None)
def _tls_manifests(engine_name: str, **props) -> tuple:
    return tuple(tls_chart(engine_name, **props))


def tls_pod(root, engine_name: str, ordinal: int, **props) -> Pod:
    """A sandbox pod of the TLS-on chart (``props``: ``Pod``'s, passwords included)."""
    with mock.patch.object(script_sandbox, "chart", _tls_manifests):
        return Pod(root, engine_name, ordinal, **props)


def rotate_after_first_beat(pod: Pod, file) -> threading.Thread:
    """Renews ``file`` (as the kubelet swaps a renewed Secret in) once the sidecar's watch
    loop has gone round once."""
    def renew() -> None:
        sleeps = pod.log / "sleeps"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if sleeps.exists() and script_sandbox.WATCH_INTERVAL in sleeps.read_text().splitlines():
                file.write_text(file.read_text() + "renewed\n")
                return
            time.sleep(0.01)

    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    return thread


# --- what the scripts receive ---------------------------------------------------------------


@pytest.mark.parametrize("engine_name", TLS_ENGINE_NAMES)
@pytest.mark.parametrize("container_name", list(test_scripts.RUNS))
def test_every_variable_a_script_reads_is_set_with_tls_on(engine_name, container_name):
    manifests = list(_tls_manifests(engine_name))
    each = container(manifests, container_name)
    provided = set(env_of(each))
    for source in each.get("envFrom", []):
        provided |= set(by_kind(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
    for script in test_scripts.RUNS[container_name]:
        missing = test_scripts.variables_used(script, "common.sh", optional=True) - provided - {
            "MYSQL_HA_DATA_ROOT", "MYSQL_HA_CONF_DIR", "MYSQL_HA_CONFIG_DIR",  # set per container where used
            "MYSQL_HA_BINLOG_FLUSH_SECONDS", "MYSQL_HA_BINLOG_MARK_SECONDS",  # set by MySQLBackup (archive)
            "MYSQL_HA_BINLOG_PURGE_FILE",
            "MYSQL_HA_AUTH_CACHE"}  # TLS off only
        assert not missing, f"{container_name} runs {script} without {sorted(missing)}"


# --- common.sh: the clone stream ------------------------------------------------------------


def _common(tmp_path, code: str, **env: str):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("socat", "ncat"):
        path = bin_dir / tool
        path.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "${0##*/} $*" >>"$STUB_CALLS"\n')
        path.chmod(0o755)
    calls = tmp_path / "calls"
    result = run_bash(code, PATH=f"{bin_dir}:/usr/bin:/bin", STUB_CALLS=str(calls), **env)
    return result, calls.read_text() if calls.exists() else ""


def test_backup_server_demands_the_set_certificate(tmp_path):
    result, calls = _common(tmp_path, 'serve_streams 3307 /opt/mysql-ha/backup-stream.sh',
                            MYSQL_HA_TRANSPORT="socat", MYSQL_HA_TLS_DIR=TLS_DIR)
    assert result.returncode == 0, result.stderr
    assert calls == (
        f"socat -b 1048576 -U OPENSSL-LISTEN:3307,reuseaddr,fork,max-children=1,cert={TLS_DIR}/tls.crt,"
        f"key={TLS_DIR}/tls.key,cafile={TLS_DIR}/ca.crt,verify=1 EXEC:bash /opt/mysql-ha/backup-stream.sh\n"
    )


def test_clone_presents_its_certificate_and_checks_the_donor(tmp_path):
    result, calls = _common(tmp_path, 'receive_stream mysql-1.mysql 3307',
                            MYSQL_HA_TRANSPORT="socat", MYSQL_HA_TLS_DIR=TLS_DIR)
    assert result.returncode == 0, result.stderr
    # socat checks the donor's certificate against the CA and the host name it connects to.
    assert calls == (
        f"socat -b 1048576 -u OPENSSL:mysql-1.mysql:3307,connect-timeout=10,cert={TLS_DIR}/tls.crt,"
        f"key={TLS_DIR}/tls.key,cafile={TLS_DIR}/ca.crt,verify=1 STDOUT\n"
    )


def test_tls_clone_stream_refuses_ncat(tmp_path):
    result, calls = _common(tmp_path, 'serve_streams 3307 x.sh', MYSQL_HA_TRANSPORT="ncat", MYSQL_HA_TLS_DIR=TLS_DIR)
    assert result.returncode == 1 and calls == ""
    assert "TLS clone streams need socat, got 'ncat'" in result.stderr


@pytest.mark.parametrize("transport, expected", [
    ("socat", "socat -b 1048576 -U TCP-LISTEN:3307,reuseaddr,fork,max-children=1 EXEC:bash x.sh\n"),
    ("ncat", "ncat --listen --keep-open --send-only --max-conns=1 3307 --sh-exec exec bash 'x.sh'\n"),
])
def test_tls_off_keeps_plain_streams(tmp_path, transport, expected):
    result, calls = _common(tmp_path, 'serve_streams 3307 x.sh', MYSQL_HA_TRANSPORT=transport)
    assert result.returncode == 0, result.stderr
    assert calls == expected


# --- init-config.sh: the pod's own connections ----------------------------------------------


@pytest.mark.parametrize("engine_name, expected", [
    ("mysql-8.4", {"ssl-mode": "VERIFY_IDENTITY", "ssl-ca": f"{TLS_DIR}/ca.crt", "ssl-cert": f"{TLS_DIR}/tls.crt",
                   "ssl-key": f"{TLS_DIR}/tls.key"}),
    ("mysql-9.7", {"ssl-mode": "VERIFY_IDENTITY", "ssl-ca": f"{TLS_DIR}/ca.crt", "ssl-cert": f"{TLS_DIR}/tls.crt",
                   "ssl-key": f"{TLS_DIR}/tls.key"}),
    ("mariadb-11.4", {"ssl": "ON", "ssl-ca": f"{TLS_DIR}/ca.crt", "ssl-verify-server-cert": "ON",
                      "ssl-cert": f"{TLS_DIR}/tls.crt", "ssl-key": f"{TLS_DIR}/tls.key"}),
])
def test_client_option_file_speaks_tls(tmp_path, engine_name, expected):
    """The status account's option file, for the other pods' servers, carries the engine's
    client TLS options; the socket's option files need none (the socket cannot carry TLS);
    the exporter speaks TLS when its option file names the CA."""
    pod = tls_pod(tmp_path, engine_name, 0, metrics=True, auth=False)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    tls_dir = pod.environment("init-mysql")["MYSQL_HA_TLS_DIR"]  # the sandbox's folder of the tls volume

    def options(volume: str, name: str) -> configparser.SectionProxy:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string((pod.volumes[volume] / name).read_text())
        return parser["client"]

    status = options("sidecar-auth", "status.cnf")
    assert {k: status[k] for k in expected} == expected
    assert status["user"] == "mysqlha_status" and "host" not in status  # peer_sql names each pod
    for volume in ("server-auth", "sidecar-auth"):
        over_socket = options(volume, "client.cnf")
        assert "socket" in over_socket and not set(over_socket) & set(expected), volume
    assert options("metrics-auth", "exporter.cnf")["ssl-ca"] == f"{tls_dir}/ca.crt"


# --- copy.sh with the CLONE plugin (clone.sh and backup.sh) ---------------------------------


def test_clone_plugin_requires_ssl_with_the_set_certificate():
    text = (SIDECARS / "copy.sh").read_text()
    assert '"--clone-ssl-ca=${tls_dir}/ca.crt" "--clone-ssl-cert=${tls_dir}/tls.crt" ' \
           '"--clone-ssl-key=${tls_dir}/tls.key"' in text
    assert "--plugin-load-add=mysql_clone.so \"${tls[@]}\"" in text
    assert "DATA DIRECTORY = '$(sql_string \"$target\")'${require};" in text
    assert "require=' REQUIRE SSL'" in text


# --- replication.sh -------------------------------------------------------------------------


@pytest.mark.parametrize("engine_name", TLS_ENGINE_NAMES)
def test_the_set_s_network_accounts_require_a_certificate(tmp_path, engine_name):
    """Every server sets the accounts from its init file (init-config.sh); those that log in
    over the network need TLS and a certificate the server checks against the set's CA
    (REQUIRE X509), so a client pod that knows a password cannot log in with it; the
    sidecar writes none."""
    pod = tls_pod(tmp_path, engine_name, 0, replication_password=PASSWORD)
    sql = (pod.volumes["server-auth"] / "bootstrap.sql").read_text()
    assert f"CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '{PASSWORD_SQL}' REQUIRE X509;" in sql
    assert f"ALTER USER 'repl'@'%' IDENTIFIED BY '{PASSWORD_SQL}' REQUIRE X509;" in sql
    assert re.search(r"^CREATE USER IF NOT EXISTS 'mysqlha_status'@'%' IDENTIFIED BY '[^\n]*' REQUIRE X509;$", sql,
                     re.MULTILINE)
    assert re.search(r"^CREATE USER IF NOT EXISTS 'mysqlha_admin'@'localhost' IDENTIFIED BY '[^\n]*' REQUIRE NONE;$",
                     sql, re.MULTILINE)
    if mysql_ha.ENGINES[engine_name].clone_method == "clone-plugin":
        assert re.search(r"CREATE USER IF NOT EXISTS 'clone'@'%' IDENTIFIED BY '[^\n]*' REQUIRE X509;", sql)
    else:
        assert re.search(r"CREATE USER IF NOT EXISTS 'clone'@'localhost' IDENTIFIED BY '[^\n]*' REQUIRE NONE;", sql)
    pod.run_sidecar()
    assert "CREATE USER" not in pod.sql() and "REQUIRE" not in pod.sql()


@pytest.mark.parametrize("engine_name, options", [
    ("mysql-8.4", f"SOURCE_SSL=1, SOURCE_SSL_CA='{TLS_DIR}/ca.crt', SOURCE_SSL_CERT='{TLS_DIR}/tls.crt', "
                  f"SOURCE_SSL_KEY='{TLS_DIR}/tls.key', SOURCE_SSL_VERIFY_SERVER_CERT=1"),
    ("mysql-9.7", f"SOURCE_SSL=1, SOURCE_SSL_CA='{TLS_DIR}/ca.crt', SOURCE_SSL_CERT='{TLS_DIR}/tls.crt', "
                  f"SOURCE_SSL_KEY='{TLS_DIR}/tls.key', SOURCE_SSL_VERIFY_SERVER_CERT=1"),
    ("mariadb-11.4", f"MASTER_SSL=1, MASTER_SSL_CA='{TLS_DIR}/ca.crt', MASTER_SSL_CERT='{TLS_DIR}/tls.crt', "
                     f"MASTER_SSL_KEY='{TLS_DIR}/tls.key', MASTER_SSL_VERIFY_SERVER_CERT=1"),
])
def test_replica_connects_with_tls_and_verifies_the_primary(tmp_path, engine_name, options):
    pod = tls_pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position").write_text("LOG_FILE=\nLOG_POS=\nGTID=0-100-7\n")
    pod.run_sidecar()
    (change,) = [line for line in pod.sql().splitlines() if "CHANGE " in line]
    assert change.endswith(f", {options};"), change
    assert "MASTER_HOST='mysql-0.mysql'" in change or "SOURCE_HOST='mysql-0.mysql'" in change
    assert (pod.datadir / "mysql-ha-source-position.applied").exists()
    assert PASSWORD not in pod.calls()


@pytest.mark.parametrize("engine_name", TLS_ENGINE_NAMES)
def test_renewed_certificate_is_reloaded(tmp_path, engine_name):
    engine = mysql_ha.ENGINES[engine_name]
    pod = tls_pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    rotate_after_first_beat(pod, pod.volumes["tls"] / "tls.crt")
    result = pod.run_sidecar(beats=8)
    assert "the certificate in " in result.stderr and " changed" in result.stderr, result.stderr
    assert pod.sql().count(f"{engine.sql_reload_tls};") == 1
    assert f"the server loaded the renewed certificate ({engine.sql_reload_tls})" in result.stderr
    if engine.serves_backup_streams:
        # socat reads its certificate when it starts: the idle backup server is started again.
        assert "restarting the backup server with the renewed certificate" in result.stderr, result.stderr
        assert pod.calls().count("OPENSSL-LISTEN:3307") == 2


def test_unchanged_certificate_is_not_reloaded(tmp_path):
    pod = tls_pod(tmp_path, "mariadb-11.4", 1)
    pod.datadir.mkdir(parents=True)
    result = pod.run_sidecar(beats=4)
    assert "FLUSH LOCAL SSL" not in pod.sql()
    assert "changed" not in result.stderr


@pytest.mark.parametrize("engine_name", TLS_ENGINE_NAMES)
@pytest.mark.parametrize("connects_with_tls, presents_certificate", [(False, False), (True, False), (True, True)],
                         ids=["clear-text", "tls-without-certificate", "tls"])
def test_replica_from_before_tls_is_switched_to_tls(tmp_path, engine_name, connects_with_tls, presents_certificate):
    """A replica that replicates in clear text, or with TLS but without presenting the pod's
    certificate (which the replication account now requires), is switched to TLS with it,
    its source presenting a certificate of the set's CA."""
    engine = mysql_ha.ENGINES[engine_name]
    pod = tls_pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    write_replica_status(pod, engine, connects_with_tls, presents_certificate)
    result = pod.run_sidecar()
    filled = (engine.sql_source_tls.replace('@CA@', TLS_DIR + '/ca.crt').replace('@CERT@', TLS_DIR + '/tls.crt')
              .replace('@KEY@', TLS_DIR + '/tls.key'))
    switch = f"{engine.sql_stop_replica}; {engine.sql_change_source_prefix} {filled}; {engine.sql_start_replica};"
    if presents_certificate:
        assert "CHANGE" not in pod.sql() and "switched" not in result.stderr
    else:
        assert switch in pod.sql().splitlines(), pod.sql()
        assert "replication switched to TLS" in result.stderr


def write_replica_status(pod, engine, connects_with_tls: bool, presents_certificate: bool) -> None:
    (pod.log / "replica-status").write_text(
        "*************************** 1. row ***************************\n"
        f"{engine.status_source_host or 'Master_Host'}: mysql-0.mysql\n"
        f"{engine.status_io_running}: Yes\n{engine.status_sql_running}: Yes\n{engine.status_lag_seconds}: 0\n"
        f"{engine.status_tls_allowed}: {'Yes' if connects_with_tls else 'No'}\n"
        f"{engine.status_tls_cert}: {TLS_DIR + '/tls.crt' if presents_certificate else ''}\n"
    )


@pytest.mark.parametrize("engine_name", TLS_ENGINE_NAMES)
def test_replica_waits_for_its_source_to_present_the_set_certificate(tmp_path, engine_name):
    """TLS turned on for a running set rolls the replicas first: their source, the primary,
    has no certificate of the set's CA yet. The replica keeps replicating as it did (a channel
    that checks the certificate could not connect, and the rollout would stall on a replica
    that never gets ready), says so once, and checks again every round."""
    engine = mysql_ha.ENGINES[engine_name]
    pod = tls_pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    write_replica_status(pod, engine, connects_with_tls=False, presents_certificate=False)
    result = pod.run_sidecar(beats=4, STUB_UNVERIFIED_HOSTS="mysql-0.mysql")
    assert "CHANGE" not in pod.sql() and "switched" not in result.stderr, pod.sql()
    assert result.stderr.count("does not present a certificate of the set's CA yet") == 1, result.stderr
    # Checked with the set's CA at start and in every round of the watch loop.
    checks = [c for c in pod.calls().splitlines() if "--host=mysql-0.mysql" in c]
    assert len(checks) >= 4, pod.calls()
