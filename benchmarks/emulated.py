"""One engine's synthesized chart, its pods run for real by the pod emulator (tests/emulator):
bring-up, clones against the copy floors, a backup and a restore (``backups``), and replica
catch-up; then point-in-time restore on a set of its own; then the clone again with TLS on (a
CA and certificate made here with openssl, in an existing Secret), against the same floors.

Everything runs in network namespaces named ``<prefix>-*`` (the engine's ``BenchEngine.prefix``)
that the emulator creates and removes, and under one scratch directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from emulator import Cluster, EmulatorError
from emulator.images import ensure_image

from mysql_ha import Engine

from . import backups, floors
from .catchup import catch_up
from .charts import manifests, tls_secret
from .engines import BenchEngine
from .results import BringUp, CloneRun, EngineResult
from .samplers import ProcessSampler, ServerPoller, clone_phases, event_time, rows_or_none, wait_gone

TABLES = 4
MIB = floors.MIB


def prerequisites() -> None:
    missing = [tool for tool in floors.HOST_TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        raise SystemExit(
            "benchmarks: the emulated pods need root (network and mount namespaces) and, on the host, "
            f"{', '.join(floors.HOST_TOOLS)}; missing: {', '.join(missing) or 'root'} "
            "(apt-get install socat ncat tar iproute2 util-linux)"
        )


def replicating(c: Cluster, engine: Engine, ordinal: int) -> bool:
    rows = rows_or_none(c, ordinal, engine.sql_replica_status, column_names=True)
    if not rows or len(rows) < 2:
        return False
    status = dict(zip(rows[0], rows[1]))
    return status.get(engine.status_io_running) == "Yes" and status.get(engine.status_sql_running) == "Yes"


def scalar(c: Cluster, ordinal: int, statement: str, timeout: float = 60) -> str:
    return c.sql(ordinal, statement, timeout=timeout)[0][0]


class Bench:
    def __init__(self, bench_engine: BenchEngine, progress: Callable[[str], None], *, tls: bool = False) -> None:
        """With ``tls``, the chart with TLS on, in namespaces ``<prefix>t-*``."""
        self.b = bench_engine
        self.engine = bench_engine.engine
        self.workdir = Path(tempfile.mkdtemp(prefix=f"mysql-ha-bench-{bench_engine.key}-"))
        self.progress = progress
        secret = tls_secret(self.workdir / "certs") if tls else None
        # Without TLS, with the backup CronJob (to a claim, no binary logs archived: the pods are the same);
        # the floors' relays admitted between the set's pods.
        objects = manifests(self.engine, 3, secret, backups=not tls)
        self.cluster = Cluster([*objects, floors.floor_policy(objects)], self.workdir / "cluster",
                               prefix=bench_engine.prefix + ("t" if tls else ""))
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
            return all(replicating(c, self.engine, r) and rows_or_none(c, r, "SELECT id FROM bench.marker") == [["1"]]
                       for r in (1, 2))

        c.wait_for(confirmed, timeout=60, what="a write on the primary to reach both replicas")
        seconds = time.monotonic() - started
        events = list(c.events)
        pods = []
        for ordinal in range(3):
            name = f"{c.set_name}-{ordinal}"
            marks = {
                "created": event_time(events, rf"^create {name}$"),
                "init done": event_time(events, rf"^{name}/init-mysql completed$"),
                "server started": event_time(events, rf"^{name}/mysql started pid"),
                "server answers": poller.answered.get(ordinal),
                "startup probe passed": event_time(events, rf"^{name}/mysql started$"),
                "server ready": event_time(events, rf"^{name}/mysql ready$"),
                "sidecar ready": event_time(events, rf"^{name}/replication ready$"),
            }
            pods.append({k: v - started for k, v in marks.items() if v is not None})
        return BringUp(seconds=seconds, ready_seconds=ready, pods=pods)

    # -------------------------------------------------------------- data

    def shrink_to_primary(self) -> None:
        """Scales down to the primary alone and deletes the replicas' claims."""
        c = self.cluster
        c.scale(1)
        c.wait_for(lambda: sorted(c.pods) == [0], timeout=300, what="scale down to the primary")
        for ordinal in (1, 2):
            wait_gone(c, ordinal)
            if f"data-{c.set_name}-{ordinal}" in c.pvcs:
                c.delete_pvc(ordinal)
        # bench.numbers holds 0..99999, from a cross join of digits: the same SQL on every engine.
        digits = ", ".join(f"bench.digits {t}" for t in "abcef")
        c.sql(0, "CREATE TABLE bench.digits (d INT PRIMARY KEY); "
                 "INSERT INTO bench.digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9); "
                 "CREATE TABLE bench.numbers (n INT PRIMARY KEY); "
                 f"INSERT INTO bench.numbers SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d FROM {digits}")

    def grow_data(self, target_mib: float) -> float:
        """Inserts ~1 KiB rows into the tables bench.data_1..N, in turn, until their
        tablespaces hold ``target_mib`` together; then settles the primary (see ``settle``).
        Several tables, as a real schema has: a copy can read files in parallel, not parts
        of one file. Returns the tablespaces' size in MiB."""
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
            first = self.rows + 1
            c.sql(0, f"INSERT INTO bench.{table} SELECT {first} + n, REPEAT(SHA2({first} + n, 256), 15) "
                     f"FROM bench.numbers WHERE n < {chunk}", database="bench", timeout=600)
            self.rows += chunk
        self.settle()
        return size() / MIB

    def settle(self) -> None:
        """A quiet donor: binary logs purged, dirty pages flushed (down to at most 1 MiB)."""
        c = self.cluster
        current = c.sql(0, "FLUSH BINARY LOGS; SHOW BINARY LOGS")[-1][0]
        c.sql(0, f"PURGE BINARY LOGS TO '{current}'")
        saved = scalar(c, 0, "SELECT @@innodb_max_dirty_pages_pct")
        c.sql(0, "SET GLOBAL innodb_max_dirty_pages_pct = 0")
        try:
            c.wait_for(lambda: int(c.sql(0, "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")[0][1]) <= 64,
                       timeout=300, what="the primary to flush its dirty pages")
        finally:
            c.sql(0, f"SET GLOBAL innodb_max_dirty_pages_pct = {saved}")

    # -------------------------------------------------------------- clone and floors

    def clone(self) -> tuple[float, dict[str, float]]:
        """Scales to 2: mysql-1, whose claim is gone, clones the primary. Returns the clone
        init container's duration (start to successful exit, from the emulator's events)
        and its phases."""
        c = self.cluster
        name = f"{c.set_name}-1"
        first_event = len(c.events)

        def clone_pid() -> int | None:
            pod = c.pods.get(1)
            proc = pod.container("clone-mysql").proc if pod is not None else None
            return proc.pid if proc is not None else None

        def ended() -> bool:
            return event_time(c.events[first_event:], rf"^{name}/clone-mysql (completed|failed)") is not None

        with ProcessSampler(clone_pid) as sampler:
            c.scale(2)
            c.wait_for(ended, timeout=900, what="the clone to finish")
        events = c.events[first_event:]
        if event_time(events, rf"^{name}/clone-mysql failed") is not None:
            raise EmulatorError(f"the clone failed:\n{c.logs(1, 'clone-mysql')[-3000:]}")
        started = event_time(events, rf"^{name}/clone-mysql started pid")
        finished = event_time(events, rf"^{name}/clone-mysql completed")
        phases = clone_phases(self.engine.clone_method, sampler, started, finished)
        c.wait_ready(2, timeout=300)
        c.wait_for(lambda: replicating(c, self.engine, 1), timeout=60, what="mysql-1 to replicate")
        return finished - started, phases

    def clone_against_floors(self, data_mib: float) -> CloneRun:
        c = self.cluster
        donor = c.pvc_dir(0) / "mysql"
        donor_mib = floors.tree_bytes(donor) / MIB
        floors.level_the_field(donor)
        clone_s, phases = self.clone()
        replica_datadir_mib = floors.tree_bytes(c.pvc_dir(1) / "mysql") / MIB
        floors_s = {}
        for relay in floors.FLOOR_RELAYS:
            floors.level_the_field(donor)
            floors_s[relay] = floors.copy_floor(c, self.workdir / "floor", relay)
        run = CloneRun(data_mib=data_mib, donor_datadir_mib=donor_mib, replica_datadir_mib=replica_datadir_mib,
                       clone_s=clone_s, floors_s=floors_s, copy_phase=self.b.copy_phase, phases=phases)
        self.progress(f"{self.b.key}: clone of {data_mib:.0f} MiB of table data ({donor_mib:.0f} MiB data directory): "
                      f"clone {clone_s:.2f} s ({run.clone_mib_s:.0f} MiB/s), "
                      + ", ".join(f"tar | {r} {s:.2f} s" for r, s in floors_s.items())
                      + f", ratio {run.ratio:.2f}; " + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items()))
        return run

    def drop_replica(self) -> None:
        c = self.cluster
        c.scale(1)
        c.wait_for(lambda: sorted(c.pods) == [0], timeout=300, what="mysql-1 to go away")
        wait_gone(c, 1)
        c.delete_pvc(1)

    def clones(self, sizes_mib: list[float], repeats: int) -> list[CloneRun]:
        """For each size in turn, clones of the primary into a claim-less mysql-1, each against
        the floors: ``repeats`` pairs at the largest size, one at the others."""
        runs = []
        for index, size in enumerate(sizes_mib):
            if index:
                self.drop_replica()
            self.progress(f"{self.b.key}: loading {size:.0f} MiB ...")
            data_mib = self.grow_data(size)
            runs.append(self.clone_against_floors(data_mib))
            pairs = repeats if index == len(sizes_mib) - 1 else 1
            for _ in range(pairs - 1):
                self.drop_replica()
                self.settle()
                runs.append(self.clone_against_floors(data_mib))
        return runs

    # -------------------------------------------------------------- the donor's side alone

    def backup_alone(self) -> tuple[float, float]:
        """backup-stream engines: backup-stream.sh, run in mysql-0's sidecar container as its
        relay would run it, into ``wc -c``. Returns (MiB, seconds)."""
        c = self.cluster
        floors.level_the_field(c.pvc_dir(0) / "mysql")
        started = time.perf_counter()
        script = 'bash "$MYSQL_HA_SCRIPTS_DIR/backup-stream.sh" 2>/dev/null | wc -c'
        result = c.exec(0, "replication", ["bash", "-c", script], timeout=600)
        seconds = time.perf_counter() - started
        if result.returncode != 0 or not result.stdout.strip().isdigit():
            raise RuntimeError(f"backup-stream.sh into wc failed: {result.returncode} {result.stderr[-1000:]}")
        mib = int(result.stdout.strip()) / MIB
        self.progress(f"{self.b.key}: backup alone: {mib:.0f} MiB in {seconds:.2f} s ({mib / seconds:.0f} MiB/s)")
        return mib, seconds


def clones_with_tls(bench: Bench, size_mib: float, repeats: int) -> list[CloneRun]:
    """``bench`` with TLS on: bring-up, then ``repeats`` clones of ``size_mib`` of data against
    the same floors as without TLS (plain copies): what encryption costs the clone."""
    key, progress = bench.b.key, bench.progress
    try:
        with bench.cluster:
            progress(f"{key}: TLS on: bring-up of 3 pods ...")
            bench.bring_up()
            bench.shrink_to_primary()
            return bench.clones([size_mib], repeats)
    finally:
        shutil.rmtree(bench.workdir, ignore_errors=True)


def run(bench: Bench, sizes_mib: list[float], catchup_rows: int, *, repeats: int = 1,
        probe_transport: bool = True, tls_bench: Bench | None = None,
        backup_options: backups.Options | None = None) -> EngineResult:
    """Bring-up of 3 pods; clones against the floors (``Bench.clones``); with
    ``backup_options``, a backup of the largest size to a claim and a fresh set restored from
    it; with ``probe_transport``, the relays alone (and the backup stream alone where there is
    one); the catch-up of ``catchup_rows`` rows; then, with ``backup_options``, point-in-time
    restore on a set of its own (``backups.point_in_time``). ``bench`` is made in the main
    thread; ``run`` may run in another (the charts it synthesizes itself take
    ``charts.SYNTH_LOCK``: jsii is not thread-safe)."""
    key, progress = bench.b.key, bench.progress
    try:
        with bench.cluster as c:
            progress(f"{key}: bring-up of 3 pods ...")
            bring_up = bench.bring_up()
            progress(f"{key}: bring-up {bring_up.seconds:.1f} s to all replicating "
                     f"({bring_up.ready_seconds:.1f} s to ready)")
            bench.shrink_to_primary()
            clones = bench.clones(sizes_mib, repeats)
            backup = restore = None
            if backup_options is not None:
                backup = backups.backup_largest(bench)
                restore = backups.restore_largest(bench, backup)
            backup_alone = bench.backup_alone() if probe_transport and bench.engine.serves_backup_streams else None
            transport = floors.transport_probe(c) if probe_transport else {}
            if transport:
                progress(f"{key}: transport alone: " + ", ".join(f"{k} {v:.0f} MiB/s" for k, v in transport.items()))
            progress(f"{key}: catch-up of {catchup_rows} rows ...")
            caught_up = catch_up(c, bench.b, catchup_rows, progress=progress)
            progress(f"{key}: catch-up {caught_up.rows_s:.0f} rows/s ({caught_up.binlog_format} binlog)")
            large = None
            if backup_options is not None and backup_options.large_mib:
                large = backups.large_backup_and_restore(bench, backup_options.large_mib, clones[-1].floor_mib_s)
            image = ensure_image(bench.engine.server_image)
            server = next((p for p in image.versions if p.endswith("-server")), "")
            result = EngineResult(key=key, engine=bench.engine.name, image=bench.engine.server_image,
                                  server_version=image.versions.get(server, image.suite),
                                  clone_method=bench.engine.clone_method, bring_up=bring_up, clones=clones,
                                  catch_up=caught_up, transport_mib_s=transport, backup_alone=backup_alone,
                                  backup=backup, restore=restore, large=large)
        if backup_options is not None:
            result.point_in_time = backups.point_in_time(bench, backup_options)
    finally:
        shutil.rmtree(bench.workdir, ignore_errors=True)
    if tls_bench is not None:
        result.clones_tls = clones_with_tls(tls_bench, sizes_mib[-1], min(repeats, 3))
    return result
