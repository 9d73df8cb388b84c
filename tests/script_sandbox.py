"""The pod sandbox of the script tests: a "pod" is a set of temporary folders laid out from
the synthesized StatefulSet: every path a container's environment names is mapped to the
folder of the volume mounted there (a folder that holds mount points, such as init-mysql's
/mnt/auth, to a folder of links to them; paths the container does not mount map to folders
that do not exist). The tools the engine table names (mysqld, mysql, xtrabackup, xbstream,
ncat, socat, ...) are one stub that records its arguments and standard input; ``sleep``
records its argument too, so a test can stop the sidecar once its watch loop has gone round.

The Secret's volumes hold a distinct password per key (``Pod(..., status_password=...)``
sets one); the containers' option-file volumes (``server-auth``, ``sidecar-auth``,
``metrics-auth``) are filled by running init-config.sh, as init-mysql fills them before any
other container starts, unless ``Pod(..., auth=False)`` leaves them to the test.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from synth_helpers import ENGINE_NAMES, SIDECARS, by_kind, container, env_of, pod_spec, whole_chart

import mysql_ha


BACKUP_STREAM_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].serves_backup_streams]
CLONE_PLUGIN_ENGINES = [name for name in ENGINE_NAMES if not mysql_ha.ENGINES[name].serves_backup_streams]
PASSWORD_FILES = ("root-password", "admin-password", "status-password", "replication-password", "clone-password",
                  "metrics-password", "backup-password")
"""Every file of the Secret's volumes: ``<account>-password``, one per account."""
AUTH_VOLUMES = ("server-auth", "sidecar-auth", "metrics-auth")
PASSWORD = "Repl'pa\\ss&word"  # a quote, a backslash and an ampersand
PASSWORD_SQL = "Repl''pa\\\\ss&word"
CLONE_PASSWORD = "Cl'one\\pa$s#word"  # a quote, a backslash, a dollar and a hash
CLONE_PASSWORD_SQL = "Cl''one\\\\pa$s#word"


@functools.lru_cache(maxsize=None)
def chart(engine_name: str, **props) -> tuple:
    """The chart of ``engine_name`` (an existing Secret) with ``props`` (``metrics=True``)."""
    return tuple(whole_chart(mysql_ha.ENGINES[engine_name], **props))


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
    # caching_sha2_password without TLS and without the RSA key: only from the server's cache.
    if [[ -n ${STUB_AUTH_CACHE_COLD:-} && " $* " == *" --ssl-mode=DISABLED "* ]]; then
      echo "ERROR 2061 (HY000): Authentication plugin 'caching_sha2_password' reported error: Authentication requires secure connection." >&2
      exit 1
    fi
    # Another pod's server (--host): down when listed in STUB_DOWN_HOSTS; its GTID set is STUB_GTID.
    host_re=' --host=([^ ]+) '
    if [[ " $* " =~ $host_re ]]; then
      if [[ " ${STUB_DOWN_HOSTS:-} " == *" ${BASH_REMATCH[1]} "* ]]; then
        echo "ERROR 2003 (HY000): Can't connect to MySQL server on '${BASH_REMATCH[1]}:3306' (110)" >&2
        exit 1
      fi
      # A server whose certificate is not of the set's CA (it has not restarted with TLS yet).
      if [[ " ${STUB_UNVERIFIED_HOSTS:-} " == *" ${BASH_REMATCH[1]} "* ]]; then
        echo "ERROR 2026 (HY000): SSL connection error: error:0A000086:SSL routines::certificate verify failed" >&2
        exit 1
      fi
      if [[ " ${STUB_REFUSING_HOSTS:-} " == *" ${BASH_REMATCH[1]} "* ]]; then
        echo "ERROR 1040 (08004): Too many connections" >&2
        exit 1
      fi
      [[ $sql != "${MYSQL_HA_SQL_GTID_EXECUTED:-}" ]] || printf '%s\n' "${STUB_GTID:-}"
    fi
    if [[ -n ${STUB_SQL_FAILS:-} && $sql == *"$STUB_SQL_FAILS"* ]]; then
      echo "ERROR 1045 (28000): Access denied" >&2
      exit 1
    fi
    # Semi-sync's source side: off (STUB_SEMI_SYNC=0, as init-config.sh starts it) or on.
    semi_enabled_re='^SELECT @@GLOBAL\.rpl_semi_sync_(source|master)_enabled$'
    [[ ! $sql =~ $semi_enabled_re ]] || printf '%s\n' "${STUB_SEMI_SYNC:-0}"
    # read_only: off on mysql-0 (the declared primary of the chart), on elsewhere.
    if [[ -n ${STUB_READ_ONLY:-} ]]; then read_only=$STUB_READ_ONLY; elif [[ $HOSTNAME == *-0 ]]; then read_only=0; else read_only=1; fi
    if [[ " $* " == *" --vertical "* && $sql == *" AS mysql_ha_read_only;"* ]]; then
      printf '*************************** 1. row ***************************\nmysql_ha_read_only: %s\n' "$read_only"
    fi
    if [[ " $* " == *" --vertical "* && -f $STUB_LOG/replica-status ]]; then
      cat "$STUB_LOG/replica-status"
    fi
    # The server's start (STUB_SERVER_STARTED, seconds since the epoch) as its uptime and clock.
    if [[ $sql == "SHOW GLOBAL STATUS LIKE 'Uptime'; SELECT UNIX_TIMESTAMP();" ]]; then
      printf 'Uptime\t100\n%s\n' "$((${STUB_SERVER_STARTED:-1000000} + 100))"
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
    [[ $sql != *performance_schema.clone_status* ]] \
      || printf '%s\t%s\n' "${STUB_CLONE_STATE:-Completed}" "${STUB_CLONE_GTID:-3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5}"
    # A demotion: read-only gives up waiting for a lock STUB_LOCK_WAITS times, then holds; the
    # client sessions are STUB_SESSIONS ("id<TAB>user" lines, printf %b escapes).
    if [[ $sql == "SET SESSION lock_wait_timeout = "* && -n ${STUB_LOCK_WAITS:-} ]]; then
      waits=$(cat "$STUB_LOG/lock-waits" 2>/dev/null || echo 0)
      if ((waits < STUB_LOCK_WAITS)); then
        echo $((waits + 1)) >"$STUB_LOG/lock-waits"
        echo "ERROR 1205 (HY000) at line 1: Lock wait timeout exceeded; try restarting transaction" >&2
        exit 1
      fi
    fi
    # The threads that feed replicas (a stopping server's): STUB_FEEDS of them.
    if [[ $sql == "SELECT COUNT(*) FROM information_schema.PROCESSLIST"* ]]; then
      echo "${STUB_FEEDS:-0}"
    elif [[ $sql == *"FROM information_schema.PROCESSLIST"* ]]; then
      printf '%b' "${STUB_SESSIONS:-}"
    fi
    [[ $sql != *"FROM information_schema.USER_PRIVILEGES"* ]] || printf '%b' "${STUB_EXEMPT:-}"
    if [[ $sql == "SELECT @@GLOBAL.read_only"* && $sql != *mysql_ha_read_only* ]]; then
      # With the semi-sync source side in the same row (readiness.sh).
      if [[ $sql == *", @@GLOBAL.rpl_semi_sync_"*"_enabled" ]]; then
        printf '%s\t%s\n' "$read_only" "${STUB_SEMI_SYNC:-0}"
      else
        echo "$read_only"
      fi
    fi
    [[ $sql != SHUTDOWN ]] || touch "$STUB_LOG/shutdown"
    ;;
  mysqladmin | mariadb-admin)
    # ping: the server answers unless STUB_SERVER_DOWN.
    [[ -z ${STUB_SERVER_DOWN:-} ]] || exit 1
    ;;
  mysqld | mariadbd | mariadb-install-db)
    # The server's version (STUB_SERVER_VERSION), as the real programs print it.
    if [[ " $* " == *" --version "* ]]; then
      printf '%s  Ver %s for debian-linux-gnu on x86_64\n' "$tool" "${STUB_SERVER_VERSION:-11.8.9}-MariaDB"
      exit 0
    fi
    if [[ " $* " == *" --initialize-insecure "* || $tool == mariadb-install-db ]]; then
      datadir_re=" --datadir=([^ ]+) "
      if [[ " $* " =~ $datadir_re ]]; then
        mkdir -p "${BASH_REMATCH[1]}"
        printf '%s\n' "$tool $*" >"${BASH_REMATCH[1]}/stub-initialized"
        # mariadb-install-db records the version it made the system tables with.
        [[ $tool != mariadb-install-db ]] \
          || printf '%s\n' "${STUB_SERVER_VERSION:-11.8.9}-MariaDB" >"${BASH_REMATCH[1]}/mariadb_upgrade_info"
      fi
      # What the configuration holds as the server initializes.
      [[ -z ${STUB_INITIALIZE_SEES:-} ]] || ls "$MYSQL_HA_CONF_DIR" >"$STUB_INITIALIZE_SEES"
      exit "${STUB_INITIALIZE_STATUS:-0}"
    fi
    # A running server, until SHUTDOWN (or a signal).
    until [[ -e $STUB_LOG/shutdown ]]; do /usr/bin/sleep 0.05; done
    ;;
  mariadb-upgrade)
    # Upgrades the system tables of STUB_UPGRADE_DATADIR (exit STUB_UPGRADE_STATUS).
    [[ -z ${STUB_UPGRADE_DATADIR:-} ]] \
      || printf '%s\n' "${STUB_SERVER_VERSION:-11.8.9}-MariaDB" >"$STUB_UPGRADE_DATADIR/mariadb_upgrade_info"
    exit "${STUB_UPGRADE_STATUS:-0}"
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
  getent)
    # The pods' DNS names: those listed in STUB_HOSTS resolve.
    [[ " ${STUB_HOSTS:-} " == *" ${*: -1} "* ]] || exit 2
    printf '10.0.0.1\t%s\n' "${*: -1}"
    ;;
  *) echo "stub: unexpected tool $tool" >&2; exit 127 ;;
esac
"""
TOOLS = ["mysqld", "mariadbd", "mariadb-install-db", "mariadb-upgrade", "mysql", "mariadb", "mysqladmin", "mariadb-admin", "xtrabackup",
         "mariadb-backup", "xbstream", "mbstream", "ncat", "socat", "getent"]
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

    def __init__(self, root: Path, engine_name: str, ordinal: int, *, metrics: bool = False,
                 missing: tuple[str, ...] = (), auth: bool = True, **passwords: str) -> None:
        """``passwords``: ``<account>_password=...`` for any of ``PASSWORD_FILES`` (each
        defaults to ``<account>-password-for-tests``); ``missing``: files of the Secret's
        optional volume the Secret has no key for (the kubelet leaves them out)."""
        self.root = root
        self.engine_name = engine_name
        self.engine = mysql_ha.ENGINES[engine_name]
        self.metrics = metrics
        self.manifests = list(chart(engine_name, **({"metrics": True} if metrics else {})))
        self.ordinal = ordinal
        self.passwords = {file: f"{file}-for-tests" for file in PASSWORD_FILES}
        for name, value in passwords.items():
            file = name.replace("_", "-")
            assert file in PASSWORD_FILES, f"Pod() takes <account>_password=..., got {name}"
            self.passwords[file] = value
        # Every volume of the pod spec, filled the way the kubelet would, plus the PVC.
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
                    if item["path"] in missing:
                        assert volume["secret"].get("optional"), \
                            f"the kubelet starts no pod whose Secret volume {volume['name']} lacks {item['key']}"
                        continue
                    (folder / item["path"]).write_text(self.passwords.get(item["path"], f"{item['path']}-for-tests"))
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
        if auth:
            self.fill_auth_volumes()

    def fill_auth_volumes(self) -> None:
        """The option files of every container, as init-mysql of this pod leaves them: run
        init-config.sh in a scratch pod of the same chart and passwords (the files do not
        depend on the role) and copy what it wrote."""
        scratch = Pod(self.root / "init-mysql-scratch", self.engine_name, 0, metrics=self.metrics, auth=False,
                      **{file.replace("-", "_"): value for file, value in self.passwords.items()})
        result = scratch.run("init-mysql", "init-config.sh")
        assert result.returncode == 0, f"init-config.sh (filling the option files): {result.stderr}"
        for name in AUTH_VOLUMES:
            if name in self.volumes:
                shutil.copytree(scratch.volumes[name], self.volumes[name], dirs_exist_ok=True)
        shutil.rmtree(scratch.root)

    def auth_files(self, volume: str) -> dict[str, str]:
        """The files of one of ``AUTH_VOLUMES``, by name."""
        return {path.name: path.read_text() for path in sorted(self.volumes[volume].iterdir())}

    def path_in(self, container_name: str, path: str) -> Path:
        """Where ``path`` of that container lives in the sandbox."""
        mounts = sorted(container(self.manifests, container_name)["volumeMounts"], key=lambda m: -len(m["mountPath"]))
        for mount in mounts:
            if path == mount["mountPath"] or path.startswith(mount["mountPath"] + "/"):
                base = self.volumes[mount["name"]] / mount.get("subPath", "")
                return base / path[len(mount["mountPath"]):].lstrip("/")
        below = [mount for mount in mounts if mount["mountPath"].startswith(path.rstrip("/") + "/")]
        if below:
            # A folder of the container's own file system that holds mount points.
            folder = self.root / "containers" / container_name / path.lstrip("/")
            for mount in below:
                link = folder / mount["mountPath"][len(path.rstrip("/")) + 1:]
                if not link.is_symlink():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(self.volumes[mount["name"]] / mount.get("subPath", ""))
            return folder
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

    def run_probe(self, kind: str, **extra: str) -> subprocess.CompletedProcess:
        """The server container's startup or liveness probe (server-probe.sh KIND)."""
        scripts_dir = self.path_in("mysql", "/opt/mysql-ha")
        return subprocess.run(
            ["bash", str(scripts_dir / "server-probe.sh"), kind], env=self.environment("mysql", **extra),
            capture_output=True, text=True, timeout=30,
        )

    def run_sidecar(self, beats: int = 1, timeout: float = 20, terminate: bool = False,
                    **extra: str) -> subprocess.CompletedProcess:
        """Runs replication.sh until its watch loop has gone round ``beats`` times (then stops
        it: returncode None) or until it ends on its own (returncode its exit status). With
        ``terminate``, the watch loop's rounds last a minute, and after ``beats`` rounds the
        script gets SIGTERM, as its container's PID 1 would: returncode is its exit status
        then, and ``seconds`` how long it took to end."""
        stubs = {"STUB_WATCH_INTERVAL": WATCH_INTERVAL, "STUB_WATCH_SECONDS": "60" if terminate else "0.05", **extra}
        scripts_dir = self.path_in("replication", "/opt/mysql-ha")
        out, err = self.root / "sidecar.out", self.root / "sidecar.err"
        sleeps = self.log / "sleeps"
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                ["bash", str(scripts_dir / "replication.sh")],
                env=self.environment("replication", **stubs),
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
            if terminate and returncode is None:
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                try:
                    returncode = process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"replication.sh did not end on SIGTERM in {timeout}s:\n{err.read_text()}")
                seconds = time.monotonic() - started
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        result = subprocess.CompletedProcess(process.args, returncode, out.read_text(), err.read_text())
        if terminate:
            result.seconds = seconds
        return result

    def calls(self) -> str:
        path = self.log / "calls"
        return path.read_text() if path.exists() else ""

    def sql(self) -> str:
        path = self.log / "sql"
        return path.read_text() if path.exists() else ""

    def replica_status(self, io: str, sql: str, lag: str = "0", io_errno: str = "0", io_error: str = "",
                       sql_state: str = "Waiting for dependent transaction to commit") -> None:
        """What SHOW REPLICA/SLAVE STATUS prints in vertical form."""
        e = self.engine
        (self.log / "replica-status").write_text(
            "*************************** 1. row ***************************\n"
            f"{e.status_sql_running}_State: {sql_state}\n"
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


def position_of(pod: Pod) -> dict[str, str]:
    text = (pod.datadir / "mysql-ha-source-position").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


SWITCHOVER_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].supports_switchover]
"""Engines whose replicas can follow another primary (GTID positioning)."""


def positioned_replica(tmp_path: Path, engine_name: str) -> Pod:
    """A replica positioned earlier: the sidecar goes straight to watching."""
    pod = Pod(tmp_path, engine_name, 1)
    pod.datadir.mkdir(parents=True)
    (pod.datadir / "mysql-ha-source-position.applied").write_text("")
    return pod
