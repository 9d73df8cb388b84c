"""The synthesized MariaDB chart's pods, run for real by the pod emulator (tests/emulator):
bring-up, clone against the copy floor, and replica catch-up; then the clone again with
TLS on (a certificate made here with openssl in an existing Secret), against the same floor.

Everything runs in network namespaces named ``mhbench-*`` and ``mhbtls-*`` that this
module creates (the emulator's ``prefix``) and removes at the end, and under one scratch
directory.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cdk8s

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the pod emulator lives beside the e2e scenarios

from emulator import Cluster, EmulatorError, SQLError  # noqa: E402
from emulator.background import BackgroundLoop  # noqa: E402

from mysql_ha import MARIADB_11_4, MySQLCredentials, MySQLHAChart, MySQLTLS  # noqa: E402

PREFIX = "mhbench"
PREFIX_TLS = "mhbtls"
TLS_SECRET = "mysql-tls"
TLS_NAMES = ["mysql-0.mysql", "mysql-1.mysql", "mysql-2.mysql", "*.mysql.mysql.svc.cluster.local",
             *(f"{s}{suffix}" for s in ("mysql", "mysql-read", "mysql-primary")
               for suffix in ("", ".mysql.svc.cluster.local"))]
FLOOR_PORT = 4444
TABLES = 4
MIB = 1024 * 1024
REQUIRED = ("mariadbd", "mariadb", "mariadb-admin", "mariadb-backup", "mbstream", "mariadb-install-db",
            "socat", "tar", "ip", "ss", "unshare", "nsenter")


def prerequisites() -> None:
    missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        raise SystemExit(
            "benchmarks: the emulated pods need root (network and mount namespaces) and "
            f"{', '.join(REQUIRED)}; missing: {', '.join(missing) or 'root'} "
            "(apt-get install mariadb-server mariadb-backup mariadb-client socat ncat iproute2)"
        )


def relay_commands(relay: str, ip: str, port: int) -> tuple[str, str]:
    """(receiver, sender) shell commands that move stdin to stdout across the network."""
    if relay == "ncat":
        return f"ncat --listen --recv-only {port}", f"ncat --send-only {ip} {port}"
    block = f"-b {relay.split()[-1]} " if relay.startswith("socat -b") else ""
    return f"socat {block}-u TCP-LISTEN:{port},reuseaddr STDOUT", f"socat {block}-u STDIN TCP:{ip}:{port}"


def floor_relay() -> str:
    """The floor's relay: ncat, as the issue defines it; socat where ncat is not installed."""
    return "ncat" if shutil.which("ncat") else "socat"


def tls_secret(folder: Path) -> dict[str, str]:
    """A CA and a certificate for every name of the set, made with openssl: the Secret's keys."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=bench CA")
    (folder / "ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
                                f"subjectAltName={','.join('DNS:' + n for n in TLS_NAMES)}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=mysql")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tls.crt", "-days", "2", "-extfile", "ext")
    return {name: (folder / name).read_text() for name in ("tls.crt", "tls.key", "ca.crt")}


def manifests(replicas: int, tls: dict[str, str] | None = None) -> list[dict]:
    """The MariaDB chart with fresh random passwords and a provisioner-backed StorageClass;
    with ``tls`` (the Secret's keys), TLS on and that Secret among the manifests."""
    chart = MySQLHAChart(
        cdk8s.Testing.app(),
        "bench",
        engine=MARIADB_11_4,
        credentials=MySQLCredentials.from_passwords(
            root_password="Root-" + secrets.token_urlsafe(12),
            replication_password="Repl-" + secrets.token_urlsafe(12),
        ),
        replicas=replicas,
        storage_class_name="standard",
        tls=MySQLTLS.from_existing_secret(TLS_SECRET, dns_names=TLS_NAMES) if tls else None,
    )
    objects = chart.to_json()
    if tls:
        objects.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                        "metadata": {"name": TLS_SECRET, "namespace": "mysql"}, "stringData": tls})
    return objects


def level_the_field(datadir: Path) -> None:
    """Before each timed copy: writes still in the page cache go to disk (so neither copy
    pays for the previous one's writeback), and the donor's files are read once, so both
    copies read them from memory. InnoDB itself writes with O_DIRECT, so without this the
    first reader would pay the disk and the second would not."""
    os.sync()
    for root, _, files in os.walk(datadir):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb", buffering=0) as f:
                    while f.read(MIB):
                        pass
            except OSError:
                continue


def tree_bytes(path: Path) -> int:
    """Sum of the file sizes below ``path``: what ``tar`` reads."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
    return total


# ---------------------------------------------------------------------------- results


@dataclass
class BringUp:
    seconds: float
    ready_seconds: float
    pods: list[dict[str, float]]  # per pod: phase -> seconds since start()


@dataclass
class CloneRun:
    data_mib: float  # table data on the donor (the bench.data_* tablespaces)
    donor_datadir_mib: float  # every file in the donor's data directory: what the floor copies
    replica_datadir_mib: float  # mysql-1's data directory once its server runs
    clone_s: float  # clone-mysql init container: start to successful exit
    floor_s: float  # tar | ncat (or socat) of the donor's data directory, pod to pod
    phases: dict[str, float] = field(default_factory=dict)  # where the clone's time went

    @property
    def clone_mib_s(self) -> float:
        return self.donor_datadir_mib / self.clone_s

    @property
    def floor_mib_s(self) -> float:
        return self.donor_datadir_mib / self.floor_s

    @property
    def ratio(self) -> float:
        return self.clone_mib_s / self.floor_mib_s


@dataclass
class CatchUp:
    rows: int
    applied_rows: int  # rows applied between the first and the last observation
    seconds: float  # between those two observations
    restart_to_caught_up_s: float  # from the replica's re-creation to holding every row
    transactions: int
    binlog_format: str  # on the primary
    replica_settings: dict[str, str] = field(default_factory=dict)

    @property
    def rows_s(self) -> float:
        return self.applied_rows / self.seconds


@dataclass
class EmulatedResult:
    bring_up: BringUp
    clones: list[CloneRun]
    catch_up: CatchUp
    transport_mib_s: dict[str, float] = field(default_factory=dict)
    backup_alone: tuple[float, float] | None = None  # (MiB streamed, seconds) into a pipe, no relay
    floor_relay: str = "ncat"
    clones_tls: list[CloneRun] = field(default_factory=list)  # the same clone with TLS on


# ---------------------------------------------------------------------------- helpers


def _events_since(cluster: Cluster, index: int) -> list[tuple[float, str]]:
    return list(cluster.events[index:])


def _event_time(events: list[tuple[float, str]], pattern: str, last: bool = False) -> float | None:
    regex = re.compile(pattern)
    hits = [t for t, message in events if regex.search(message)]
    if not hits:
        return None
    return hits[-1] if last else hits[0]


def _replicating(cluster: Cluster, ordinal: int) -> bool:
    try:
        rows = cluster.sql(ordinal, "SHOW SLAVE STATUS\\G", column_names=True, check=False, timeout=10)
    except (SQLError, EmulatorError, KeyError, subprocess.TimeoutExpired):
        return False
    status = {}
    for row in rows:
        key, _, value = row[0].strip().partition(": ")
        status[key] = value
    return status.get("Slave_IO_Running") == "Yes" and status.get("Slave_SQL_Running") == "Yes"


def _rows_or_none(cluster: Cluster, ordinal: int, statement: str) -> list[list[str]] | None:
    """The rows, or None while the pod or its server is not there to answer."""
    try:
        return cluster.sql(ordinal, statement, check=False, timeout=10)
    except (SQLError, EmulatorError, KeyError, subprocess.TimeoutExpired):
        return None


def _scalar(cluster: Cluster, ordinal: int, statement: str, timeout: float = 60) -> str:
    return cluster.sql(ordinal, statement, timeout=timeout)[0][0]


class ChildSampler(BackgroundLoop):
    """Watches the children of one container's main process (``/proc/PID/task/PID/children``,
    cheap enough to read every 20 ms) and records when each kind of child was first and last
    seen: the stream extractor and the prepare step."""

    KINDS = (("prepare", "--prepare"), ("extract", " -x"))

    def __init__(self, find_pid: Callable[[], int | None], interval: float = 0.02) -> None:
        super().__init__()
        self.find_pid = find_pid
        self.interval = interval
        self.seen: dict[str, list[float]] = {}
        self._names: dict[int, str | None] = {}

    def _kind(self, pid: int) -> str | None:
        # A child is a forked shell until it execs: only a recognized command line is kept.
        if self._names.get(pid) is None:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                return None
            self._names[pid] = next((kind for kind, needle in self.KINDS if needle in argv), None)
        return self._names[pid]

    def step(self) -> None:
        pid = self.find_pid()
        if pid is None:
            return
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        now = time.monotonic()
        for child in children:
            kind = self._kind(int(child))
            if kind:
                first_last = self.seen.setdefault(kind, [now, now])
                first_last[1] = now


class ServerPoller(BackgroundLoop):
    """During bring-up: notes when each pod's server first answers ``SELECT 1``, by asking
    every 0.2 s, and only while its server container runs and has not answered yet."""

    def __init__(self, cluster: Cluster, interval: float = 0.2) -> None:
        super().__init__()
        self.cluster = cluster
        self.interval = interval
        self.answered: dict[int, float] = {}

    def step(self) -> None:
        for ordinal, pod in list(self.cluster.pods.items()):
            if ordinal in self.answered or pod.phase != "Running":
                continue
            if _rows_or_none(self.cluster, ordinal, "SELECT 1") == [["1"]]:
                self.answered[ordinal] = time.monotonic()


# ---------------------------------------------------------------------------- the benchmark


class Bench:
    def __init__(self, workdir: Path, progress: Callable[[str], None], *, tls: bool = False) -> None:
        self.workdir = workdir
        self.progress = progress
        secret = tls_secret(workdir / "certs") if tls else None
        self.cluster = Cluster(manifests(3, secret), workdir / "cluster", prefix=PREFIX_TLS if tls else PREFIX)
        self.rows = 0  # rows in the bench.data_* tables
        self.chunks = 0  # INSERTs that wrote them

    # -------------------------------------------------------------- bring-up

    def bring_up(self) -> BringUp:
        c = self.cluster
        started = time.monotonic()
        with ServerPoller(c) as poller:
            c.start()
            c.wait_ready(3, timeout=300)
        ready = time.monotonic() - started
        c.sql(0, "CREATE DATABASE bench; CREATE TABLE bench.marker (id INT PRIMARY KEY); "
                 "INSERT INTO bench.marker VALUES (1)")

        def confirmed() -> bool:
            for replica in (1, 2):
                if not _replicating(c, replica):
                    return False
                try:
                    if c.sql(replica, "SELECT id FROM bench.marker", check=False) != [["1"]]:
                        return False
                except SQLError:
                    return False
            return True

        c.wait_for(confirmed, timeout=60, what="a write on the primary to reach both replicas")
        seconds = time.monotonic() - started
        events = _events_since(c, 0)
        pods = []
        for ordinal in range(3):
            name = f"{c.set_name}-{ordinal}"
            marks = {
                "created": _event_time(events, rf"^create {name}$"),
                "init done": _event_time(events, rf"^{name}/init-mysql completed$"),
                "server started": _event_time(events, rf"^{name}/mysql started pid"),
                "server answers": poller.answered.get(ordinal),
                "startup probe passed": _event_time(events, rf"^{name}/mysql started$"),
                "server ready": _event_time(events, rf"^{name}/mysql ready$"),
                "sidecar ready": _event_time(events, rf"^{name}/replication ready$"),
            }
            pods.append({k: v - started for k, v in marks.items() if v is not None})
        return BringUp(seconds=seconds, ready_seconds=ready, pods=pods)

    # -------------------------------------------------------------- data

    def shrink_to_primary(self) -> None:
        """Scales down to the primary alone and deletes the replicas' claims."""
        c = self.cluster
        c.scale(1)
        c.wait_for(lambda: sorted(c.pods) == [0], timeout=300, what="scale down to the primary")
        for ordinal in range(1, 3):
            if c.pvc_dir(ordinal).exists():
                c.delete_pvc(ordinal)

    def grow_data(self, target_mib: float) -> float:
        """Inserts ~1 KiB rows into the tables bench.data_1..N, in turn, until their
        tablespaces hold ``target_mib`` together; then settles the primary (see ``settle``).
        Several tables, as a real schema has: a backup tool copies files in parallel, not
        parts of one file. Returns the tablespaces' size in MiB."""
        c = self.cluster
        tables = [f"data_{i}" for i in range(1, TABLES + 1)]
        for table in tables:
            c.sql(0, f"CREATE TABLE IF NOT EXISTS bench.{table} (id INT PRIMARY KEY, pad VARCHAR(1000) NOT NULL)")
        datadir = c.pvc_dir(0) / "mysql" / "bench"

        def size() -> int:
            return sum((datadir / f"{t}.ibd").stat().st_size for t in tables)

        while size() < target_mib * MIB:
            chunk = int(min(max((target_mib * MIB - size()) / 1100, 2000), 25_000))
            table = tables[self.chunks % len(tables)]
            self.chunks += 1
            c.sql(0, f"INSERT INTO bench.{table} SELECT seq, REPEAT(MD5(seq), 30) "
                     f"FROM seq_{self.rows + 1}_to_{self.rows + chunk}", database="bench", timeout=600)
            self.rows += chunk
        self.settle()
        return size() / MIB

    def settle(self) -> None:
        c = self.cluster
        current = c.sql(0, "FLUSH BINARY LOGS; SHOW MASTER STATUS")[0][0]
        c.sql(0, f"PURGE BINARY LOGS TO '{current}'")
        saved = _scalar(c, 0, "SELECT @@innodb_max_dirty_pages_pct")
        c.sql(0, "SET GLOBAL innodb_max_dirty_pages_pct = 0")
        try:
            c.wait_for(lambda: _scalar(c, 0, "SELECT variable_value FROM information_schema.global_status "
                                              "WHERE variable_name = 'INNODB_BUFFER_POOL_PAGES_DIRTY'") == "0",
                       timeout=300, what="the primary to flush its dirty pages")
        finally:
            c.sql(0, f"SET GLOBAL innodb_max_dirty_pages_pct = {saved}")

    # -------------------------------------------------------------- clone and floor

    def clone(self) -> tuple[float, dict[str, float]]:
        """Scales to 2: mysql-1, whose claim is gone, clones the primary. Returns the clone
        init container's duration (start to successful exit, from the emulator's events)
        and its phases."""
        c = self.cluster
        name = f"{c.set_name}-1"
        first_event = len(c.events)

        def clone_pid() -> int | None:
            pod = c.pods.get(1)
            if pod is None:
                return None
            proc = pod.container("clone-mysql").proc
            return proc.pid if proc is not None else None

        with ChildSampler(clone_pid) as sampler:
            c.scale(2)
            c.wait_for(lambda: _event_time(_events_since(c, first_event),
                                           rf"^{name}/clone-mysql (completed|failed)") is not None,
                       timeout=900, what="the clone to finish")
        events = _events_since(c, first_event)
        if _event_time(events, rf"^{name}/clone-mysql failed") is not None:
            raise EmulatorError(f"the clone failed:\n{c.logs(1, 'clone-mysql')[-3000:]}")
        started = _event_time(events, rf"^{name}/clone-mysql started pid")
        finished = _event_time(events, rf"^{name}/clone-mysql completed")
        clone_s = finished - started
        phases: dict[str, float] = {}
        seen = sampler.seen
        if "extract" in seen and "prepare" in seen:
            phases = {
                "start-up": seen["extract"][0] - started,
                "stream + extract": seen["extract"][1] - seen["extract"][0],
                "checks": seen["prepare"][0] - seen["extract"][1],
                "prepare": seen["prepare"][1] - seen["prepare"][0],
                "rename + exit": finished - seen["prepare"][1],
            }
        c.wait_ready(2, timeout=300)
        c.wait_for(lambda: _replicating(c, 1), timeout=60, what="mysql-1 to replicate")
        return clone_s, phases

    def copy_floor(self) -> float:
        """``tar | ncat`` (socat without ncat) of the primary's data directory from its network namespace into a
        directory beside mysql-1's claim, received in mysql-1's namespace: the floor the
        clone is held against. Returns the seconds from the sender's start to the
        receiver's exit."""
        c = self.cluster
        source = c.pvc_dir(0) / "mysql"
        target = self.workdir / "floor"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        sender_ns, receiver_ns, receiver_ip = c.pod(0).netns, c.pod(1).netns, c.pod(1).ip
        listen, send = relay_commands(floor_relay(), receiver_ip, FLOOR_PORT)
        receiver = subprocess.Popen(
            ["ip", "netns", "exec", receiver_ns, "bash", "-c", f"set -o pipefail; {listen} | tar -C '{target}' -xf -"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            listening = f":{FLOOR_PORT} "
            c.wait_for(lambda: listening in subprocess.run(["ip", "netns", "exec", receiver_ns, "ss", "-ltnH"],
                                                          capture_output=True, text=True).stdout,
                       timeout=10, what="the floor's receiver to listen")
            started = time.perf_counter()
            # The donor's server is running: a file changing while tar reads it is expected
            # (tar then exits 1); the bytes still cross the same pipe.
            sender = subprocess.run(
                ["ip", "netns", "exec", sender_ns, "bash", "-c",
                 f"set -o pipefail; tar --warning=no-file-changed -C '{source}' -cf - . | {send}"],
                capture_output=True, text=True, timeout=900,
            )
            receiver.wait(timeout=900)
            seconds = time.perf_counter() - started
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
        if sender.returncode not in (0, 1) or receiver.returncode != 0:
            raise RuntimeError(f"copy floor failed: sender {sender.returncode} {sender.stderr[-500:]} "
                               f"receiver {receiver.returncode} {receiver.stderr.read()[-500:]}")
        copied = tree_bytes(target)
        expected = tree_bytes(source)
        if copied < 0.98 * expected:
            raise RuntimeError(f"copy floor moved {copied} of {expected} bytes")
        shutil.rmtree(target)
        return seconds

    def clone_against_floor(self, data_mib: float) -> CloneRun:
        c = self.cluster
        donor_mib = tree_bytes(c.pvc_dir(0) / "mysql") / MIB
        level_the_field(c.pvc_dir(0) / "mysql")
        clone_s, phases = self.clone()
        replica_datadir_mib = tree_bytes(c.pvc_dir(1) / "mysql") / MIB
        level_the_field(c.pvc_dir(0) / "mysql")
        floor_s = self.copy_floor()
        run = CloneRun(data_mib=data_mib, donor_datadir_mib=donor_mib, replica_datadir_mib=replica_datadir_mib,
                       clone_s=clone_s, floor_s=floor_s, phases=phases)
        self.progress(f"clone of {data_mib:.0f} MiB of table data ({donor_mib:.0f} MiB data directory): "
                      f"clone {clone_s:.2f} s ({run.clone_mib_s:.0f} MiB/s), floor {floor_s:.2f} s "
                      f"({run.floor_mib_s:.0f} MiB/s), ratio {run.ratio:.2f}; "
                      + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items()))
        return run

    def drop_replica(self) -> None:
        c = self.cluster
        c.scale(1)
        c.wait_for(lambda: sorted(c.pods) == [0], timeout=300, what="mysql-1 to go away")
        c.delete_pvc(1)

    # -------------------------------------------------------------- catch-up

    def catch_up(self, rows: int, rows_per_transaction: int = 100) -> CatchUp:
        """Stops mysql-1 (its claim stays), writes ``rows`` rows on the primary in
        transactions of ``rows_per_transaction``, starts mysql-1 again and watches
        MAX(id) on it until it holds them all. When mysql-1 is done before it could be
        watched (a fast machine, few rows), tries again with four times the rows."""
        for attempt in range(1, 4):
            result = self._catch_up_once(f"catchup_{attempt}", rows, rows_per_transaction)
            if result is not None:
                return result
            self.progress(f"mysql-1 applied {rows} rows before it could be watched; again with {rows * 4}")
            rows *= 4
        raise RuntimeError("mysql-1 kept catching up before it could be watched")

    def _catch_up_once(self, table: str, rows: int, rows_per_transaction: int) -> CatchUp | None:
        c = self.cluster
        c.sql(0, f"CREATE TABLE bench.{table} (id INT PRIMARY KEY, payload CHAR(64) NOT NULL)")
        c.wait_for(lambda: _rows_or_none(c, 1, f"SELECT COUNT(*) FROM bench.{table}") == [["0"]],
                   timeout=60, what=f"the table bench.{table} on mysql-1")
        c.scale(1)
        c.wait_for(lambda: sorted(c.pods) == [0], timeout=300, what="mysql-1 to stop")
        statements = []
        for first in range(1, rows + 1, rows_per_transaction):
            values = ",".join(f"({i},'{secrets.token_hex(32)}')"
                              for i in range(first, min(first + rows_per_transaction, rows + 1)))
            statements.append(f"INSERT INTO bench.{table} VALUES {values};")
        c.sql(0, "\n".join(statements), timeout=900)
        binlog_format = _scalar(c, 0, "SELECT @@binlog_format")
        restarted = time.monotonic()
        c.scale(2)
        observations: list[tuple[float, int]] = []
        deadline = restarted + 900
        while time.monotonic() < deadline:
            answer = _rows_or_none(c, 1, f"SELECT COALESCE(MAX(id), 0) FROM bench.{table}")
            if answer:
                observations.append((time.monotonic(), int(answer[0][0])))
                if observations[-1][1] >= rows:
                    break
            time.sleep(0.1)
        else:
            raise EmulatorError(f"mysql-1 did not catch up: {observations[-3:]} {c.describe()}")
        c.wait_ready(2, timeout=300)
        # The applier's work lies between the last sight of the old state and the first
        # sight of every row: the rate below is, if anything, an underestimate.
        untouched = [o for o in observations if o[1] == observations[0][1]]
        (t_first, v_first), (t_last, v_last) = untouched[-1], observations[-1]
        if len(observations) < 3 or v_first > rows // 2:
            return None
        names = ("slave_parallel_threads", "innodb_flush_log_at_trx_commit", "sync_binlog", "log_slave_updates",
                 "binlog_format")
        values = c.sql(1, "SELECT " + ", ".join(f"@@{n}" for n in names))[0]
        return CatchUp(rows=rows, applied_rows=v_last - v_first, seconds=t_last - t_first,
                       restart_to_caught_up_s=t_last - restarted, transactions=len(statements),
                       binlog_format=binlog_format, replica_settings=dict(zip(names, values)))

    # -------------------------------------------------------------- transport

    def backup_alone(self) -> tuple[float, float]:
        """The donor's side without the relay: backup-stream.sh, run in mysql-0's sidecar
        container as its socat would run it, into ``wc -c``. Returns (MiB, seconds)."""
        c = self.cluster
        level_the_field(c.pvc_dir(0) / "mysql")
        started = time.perf_counter()
        result = c.exec(0, "replication", ["bash", "-c", 'bash "$MYSQL_HA_SCRIPTS_DIR/backup-stream.sh" 2>/dev/null | wc -c'],
                        timeout=600)
        seconds = time.perf_counter() - started
        if result.returncode != 0 or not result.stdout.strip().isdigit():
            raise RuntimeError(f"backup-stream.sh into wc failed: {result.returncode} {result.stderr[-1000:]}")
        mib = int(result.stdout.strip()) / MIB
        self.progress(f"backup alone: {mib:.0f} MiB in {seconds:.2f} s ({mib / seconds:.0f} MiB/s)")
        return mib, seconds

    def transport_probe(self, mib: int = 512) -> dict[str, float]:
        """MiB/s of zeros from mysql-0's namespace to mysql-1's through each relay the
        clone and the floor use, with its default buffer, and socat with 128 KiB buffers:
        what the transport alone allows, with no disk and no database in the way."""
        c = self.cluster
        sender_ns, receiver_ns, ip = c.pod(0).netns, c.pod(1).netns, c.pod(1).ip
        names = (["ncat"] if shutil.which("ncat") else []) + ["socat", "socat -b 1048576"]
        relays = {name: relay_commands(name, ip, FLOOR_PORT) for name in names}
        found = {}
        for name, (listen, send) in relays.items():
            receiver = subprocess.Popen(["ip", "netns", "exec", receiver_ns, "bash", "-c", f"{listen} >/dev/null"])
            try:
                c.wait_for(lambda: f":{FLOOR_PORT} " in subprocess.run(
                    ["ip", "netns", "exec", receiver_ns, "ss", "-ltnH"], capture_output=True, text=True).stdout,
                    timeout=10, what=f"the {name} receiver to listen")
                started = time.perf_counter()
                subprocess.run(["ip", "netns", "exec", sender_ns, "bash", "-c",
                                f"set -o pipefail; head -c {mib}M /dev/zero | {send}"], check=True, timeout=300)
                receiver.wait(timeout=300)
                found[name] = mib / (time.perf_counter() - started)
            finally:
                if receiver.poll() is None:
                    receiver.kill()
                    receiver.wait()
        self.progress("transport alone: " + ", ".join(f"{k} {v:.0f} MiB/s" for k, v in found.items()))
        return found


def run(sizes_mib: list[float], catchup_rows: int, *, repeats: int = 1, probe_transport: bool = True,
        progress: Callable[[str], None] = print) -> EmulatedResult:
    """Bring-up of 3 pods; then, for each size in turn, clones of the primary into a
    claim-less mysql-1, each against the copy floor (``repeats`` pairs at the largest size,
    up to 3 at the others); the backup and the transport alone; the catch-up of
    ``catchup_rows`` rows."""
    prerequisites()
    workdir = Path(tempfile.mkdtemp(prefix="mysql-ha-bench-"))
    try:
        bench = Bench(workdir, progress)
        with bench.cluster:
            progress("bring-up of 3 pods ...")
            bring_up = bench.bring_up()
            progress(f"bring-up: {bring_up.seconds:.1f} s to all replicating ({bring_up.ready_seconds:.1f} s to ready)")
            bench.shrink_to_primary()
            clones = []
            for index, size in enumerate(sizes_mib):
                if index:
                    bench.drop_replica()
                progress(f"loading {size:.0f} MiB ...")
                data_mib = bench.grow_data(size)
                clones.append(bench.clone_against_floor(data_mib))
                pairs = repeats if index == len(sizes_mib) - 1 else min(repeats, 3)
                for _ in range(pairs - 1):
                    bench.drop_replica()
                    bench.settle()
                    clones.append(bench.clone_against_floor(data_mib))
            backup_alone = bench.backup_alone() if probe_transport else None
            transport = bench.transport_probe() if probe_transport else {}
            progress(f"catch-up of {catchup_rows} rows ...")
            catch_up = bench.catch_up(catchup_rows)
            progress(f"catch-up: {catch_up.rows_s:.0f} rows/s ({catch_up.binlog_format} binlog)")
        clones_tls = clone_with_tls(workdir / "tls", sizes_mib[-1], min(repeats, 3), progress)
        return EmulatedResult(bring_up=bring_up, clones=clones, catch_up=catch_up, transport_mib_s=transport,
                              backup_alone=backup_alone, floor_relay=floor_relay(), clones_tls=clones_tls)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def clone_with_tls(workdir: Path, size_mib: float, repeats: int, progress: Callable[[str], None]) -> list[CloneRun]:
    """The clone of ``size_mib`` of table data with TLS on (mutual TLS on the clone stream),
    each against the same plain ``tar | ncat`` floor: what the encryption costs."""
    workdir.mkdir(parents=True)
    bench = Bench(workdir, progress, tls=True)
    with bench.cluster:
        progress("TLS on: bring-up of 3 pods ...")
        bench.bring_up()
        bench.shrink_to_primary()
        progress(f"TLS on: loading {size_mib:.0f} MiB ...")
        data_mib = bench.grow_data(size_mib)
        runs = [bench.clone_against_floor(data_mib)]
        for _ in range(repeats - 1):
            bench.drop_replica()
            bench.settle()
            runs.append(bench.clone_against_floor(data_mib))
        return runs
