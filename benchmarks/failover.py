"""Switchover, failover and semi-sync, measured on the emulated MariaDB chart: the longest
time a steady writer goes without an acknowledged write while the declared primary moves,
how many acknowledged rows a lost primary takes with it (must be 0), and what semi-sync
costs a single writer.

The switchover and the failover run with the kubelet's real timings (the emulator's speed 1:
each pod sees the new declared primary within 90 s, as a ConfigMap volume is refreshed),
except in tiny mode (speed 3, within 30 s); the semi-sync toggles, which are not measured,
reach every pod at once.

Runs its own 3-pod cluster in network namespaces named ``<MYSQL_HA_E2E_PREFIX>fover-*``, under a scratch
directory, and removes both at the end.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cdk8s

from mysql_ha import MARIADB_11_4, Engine, MySQLCredentials, MySQLHAChart

from .emulated import Cluster  # the pod emulator, which .emulated finds beside the e2e scenarios
from .engines import E2E_PREFIX
from emulator.background import BackgroundLoop  # noqa: E402,I001 - importable once .emulated ran
from emulator.errors import EmulatorError  # noqa: E402,I001

PREFIX = f"{E2E_PREFIX}fover"
APP = "app"


class Writer(BackgroundLoop):
    """One autocommit INSERT after another through the write Service, from a client in pod
    ``client``; remembers the acknowledged ids and when each write returned."""

    interval = 0.0

    def __init__(self, cluster: Cluster, password: str, client: int, start: int) -> None:
        super().__init__()
        self.cluster, self.password, self.client = cluster, password, client
        self.next_id = start
        self.acknowledged: list[int] = []
        self.times: list[float] = []

    def step(self) -> float:
        try:
            self.cluster.sql(self.client, f"INSERT INTO app.t (id) VALUES ({self.next_id})", user=APP,
                             password=self.password, host="mysql-primary", check=False, timeout=15)
        except Exception:  # noqa: BLE001 - no primary for a moment
            return 0.1
        self.acknowledged.append(self.next_id)
        self.times.append(time.monotonic())
        self.next_id += 1
        return 0.0

    def longest_gap(self) -> float:
        return max((b - a for a, b in zip(self.times, self.times[1:])), default=0.0)

    def rate(self) -> float:
        return (len(self.times) - 1) / (self.times[-1] - self.times[0]) if len(self.times) > 1 else 0.0


def leads(cluster: Cluster, engine: Engine, primary: int, pods: list[int]) -> bool:
    """``primary`` takes writes and every other pod of ``pods`` replicates from it."""
    try:
        if cluster.sql(primary, "SELECT @@GLOBAL.read_only")[0][0] != "0":
            return False
        for o in pods:
            if o == primary:
                continue
            rows = cluster.sql(o, engine.sql_replica_status, column_names=True)
            status = dict(zip(rows[0], rows[1])) if len(rows) > 1 else {}
            if (status.get(engine.status_source_host) != f"mysql-{primary}.mysql"
                    or status.get(engine.status_sql_running) != "Yes"):
                return False
        return True
    except Exception:  # noqa: BLE001 - a pod may be busy or restarting
        return False


def _replication_logs(cluster: Cluster, pods: list[int], lines: int = 30) -> str:
    """The last lines of each pod's replication sidecar, for a failure's message."""
    return "\n".join(f"mysql-{o} replication:\n" + "\n".join(cluster.logs(o, "replication").splitlines()[-lines:])
                     for o in pods)


def _most_advanced(cluster: Cluster, tries: int = 10) -> tuple[str, int]:
    """The status command's most advanced replica, as an operator reads it: asked again while
    a replica does not answer (it may hold more) or none is named."""
    for _ in range(tries):
        out = cluster.exec(2, "replication", ["bash", "/opt/mysql-ha/status.sh"], timeout=60).stdout
        match = re.search(r"^most advanced replica: mysql-(\d+)$", out, re.MULTILINE)
        if match and "not answering:" not in out:
            return out, int(match.group(1))
        time.sleep(1)
    raise EmulatorError(f"the status command named no most advanced replica in {tries} tries:\n{out}")


def run(*, tiny: bool, progress: Callable[[str], None] = print) -> dict[str, float]:
    engine = MARIADB_11_4
    credentials = MySQLCredentials.from_passwords(
        **{f"{account}_password": f"{account.title()}-{secrets.token_urlsafe(12)}"
           for account in ("root", "admin", "status", "replication", "clone")})

    def synth(primary: int, semi_sync: bool = True) -> list[dict]:
        return MySQLHAChart(cdk8s.Testing.app(), "bench", engine=engine, credentials=credentials, replicas=3,
                            storage_class_name="standard", primary_ordinal=primary, semi_sync=semi_sync).to_json()

    def semi_sync_on() -> bool:
        return c.sql(0, f"SELECT @@GLOBAL.{engine.semi_sync_source_enabled}")[0][0] == "1"

    workdir = Path(tempfile.mkdtemp(prefix="mysql-ha-failover-"))
    password = "App-" + secrets.token_urlsafe(12)
    try:
        # Brought up with semi-sync off: its cost is measured off first, then on.
        with Cluster(synth(0, semi_sync=False), workdir / "cluster", prefix=PREFIX, speed=3.0 if tiny else 1.0) as c:
            at_once = {f"mysql-{o}": 0.0 for o in range(3)}
            progress("failover: bring-up of 3 pods ...")
            c.start()
            c.wait_ready(3, timeout=300)
            c.sql(0, f"CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); "
                     f"CREATE USER '{APP}'@'%' IDENTIFIED BY '{password}'; GRANT INSERT, SELECT ON app.* TO '{APP}'@'%'")
            c.wait_for(lambda: leads(c, engine, 0, [0, 1, 2]), timeout=60, what="replicas")

            # Semi-sync's cost to one writer: autocommit INSERTs in one session, with it off (the
            # set as brought up), then on (each commit waits for a replica's acknowledgement):
            # semi_sync=True applied, which rolls the pods (the sidecars read it at their
            # start, and keep the source side as the set wants it: a SET GLOBAL by hand does
            # not last).
            rates = {}
            count = 200 if tiny else 3000
            for state, base in (("OFF", 20_000_000), ("ON", 10_000_000)):
                if state == "ON":
                    c.apply(synth(0), moments=at_once)
                    c.wait_rolled_out(timeout=600)
                    c.wait_for(lambda: leads(c, engine, 0, [0, 1, 2]) and semi_sync_on(), timeout=120,
                               what="mysql-0 leading with semi-sync on")
                assert semi_sync_on() == (state == "ON"), f"semi-sync's source side should be {state}"
                script = "".join(f"INSERT INTO app.t (id) VALUES ({base + i});\n" for i in range(count))
                started = time.monotonic()
                c.sql(0, script, timeout=600)
                rates[state] = count / (time.monotonic() - started)
                assert semi_sync_on() == (state == "ON"), f"semi-sync's source side changed during the {state} run"
            progress(f"failover: one writer, semi-sync on {rates['ON']:.0f} rows/s, off {rates['OFF']:.0f} rows/s")

            progress("failover: switchover 0 -> 1 under writes ...")
            with Writer(c, password, client=2, start=1) as w:
                time.sleep(2)
                c.apply(synth(1))
                c.wait_for(lambda: leads(c, engine, 1, [0, 1, 2]), timeout=180, what="mysql-1 to lead", interval=0.5)
                time.sleep(2)
            switchover_gap = w.longest_gap()

            progress("failover: the primary's node lost under writes ...")
            with Writer(c, password, client=2, start=1_000_000) as w:
                time.sleep(2)
                c.lose_node(c.node_of(1))
                out, chosen = _most_advanced(c)
                c.apply(synth(chosen))
                try:
                    c.wait_for(lambda: leads(c, engine, chosen, [0, 2]), timeout=180, what="the failover", interval=0.5)
                except EmulatorError as e:
                    raise EmulatorError(f"{e}\nstatus before the failover:\n{out}\n{_replication_logs(c, [0, 2])}") from e
                time.sleep(2)
            failover_gap = w.longest_gap()
            have = {int(r[0]) for r in c.sql(chosen, "SELECT id FROM app.t")}
            lost = len(set(w.acknowledged) - have)
            progress(f"failover: switchover gap {switchover_gap:.2f} s, failover gap {failover_gap:.2f} s "
                     f"(to mysql-{chosen}), {lost} acknowledged rows lost")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "switchover_write_gap_s": round(switchover_gap, 3),
        "failover_write_gap_s": round(failover_gap, 3),
        "lost_acknowledged_rows": lost,
        "semisync_throughput_ratio": round(rates["ON"] / rates["OFF"], 3) if rates["OFF"] else 0.0,
        "semisync_rows_s": round(rates["ON"], 1),
        "async_rows_s": round(rates["OFF"], 1),
    }
