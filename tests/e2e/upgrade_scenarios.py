"""A server upgrade of a running set, run for real in emulated pods: the module's cluster starts
on ``START_ENGINE`` (MariaDB 10.11) and the user changes the engine to ``ENGINE`` (11.4, whose
stand-in is 11.8) and applies, under a steady writer outside the set.

The image changes in the pod template, so the StatefulSet replaces the pods from the highest
ordinal down, each once the one before is ready, the primary (ordinal 0) last; each pod's
init-mysql upgrades its system tables (mariadb-upgrade) before its new server starts. What a
user cares about is checked: no acknowledged row lost on any pod, no replica ever fed by a
newer primary (each pod's version is polled through the rollout), the system tables at the
new version on every pod, and the longest write gap. Then the engine goes back to 10.11:
refused by the first pod replaced, before its server starts.
"""

from __future__ import annotations

import re
import time

import pytest

from emulator.background import BackgroundLoop
from failover_scenarios import wait_primary, wait_same_rows
from rollout_scenarios import client_pod
from mysql_ha import engine_by_name
from scenario_tools import PodWriter
from scenarios import checksum, ids, test_1_bring_up_three_pods  # noqa: F401 - the set the upgrade starts from

pytestmark = pytest.mark.e2e


def major_minor(version: str) -> tuple[int, int]:
    """(11, 8) of ``11.8.9-MariaDB-0+deb13u1 from Debian-log``."""
    match = re.match(r"(\d+)\.(\d+)\.", version)
    assert match, version
    return int(match[1]), int(match[2])


class VersionPoller(BackgroundLoop):
    """Asks every pod, round after round, for its server's version and the pod it replicates
    from (with the receiver running); a pod that does not answer is left out of the round."""

    interval = 0.2

    def __init__(self, cluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.rounds: list[tuple[float, dict[int, tuple[tuple[int, int], int | None]]]] = []

    def state(self, ordinal: int) -> tuple[tuple[int, int], int | None] | None:
        engine = self.cluster.engine
        try:
            version = self.cluster.sql(ordinal, "SELECT VERSION()", check=False, timeout=5)[0][0]
            rows = self.cluster.sql(ordinal, "SHOW SLAVE STATUS", check=False, timeout=5, column_names=True)
        except Exception:  # noqa: BLE001 - restarting, or its pod replaced
            return None
        source = None
        if len(rows) > 1:
            status = dict(zip(rows[0], rows[1]))
            host = re.fullmatch(r"mysql-(\d+)\.mysql", status.get(engine.status_source_host, ""))
            if host and status.get(engine.status_io_running) == "Yes":
                source = int(host[1])
        return major_minor(version), source

    def step(self) -> None:
        with self.cluster.lock:
            ordinals = sorted(self.cluster.pods)
        seen = {o: s for o in ordinals if (s := self.state(o)) is not None}
        self.rounds.append((time.monotonic(), seen))

    def versions_of(self, ordinal: int) -> list[tuple[int, int]]:
        """The versions pod N answered with, in order, each once."""
        seen: list[tuple[int, int]] = []
        for _, states in self.rounds:
            if ordinal in states and (not seen or seen[-1] != states[ordinal][0]):
                seen.append(states[ordinal][0])
        return seen

    def first_seen(self, ordinal: int, version: tuple[int, int]) -> float:
        return next(t for t, states in self.rounds if states.get(ordinal, ((0, 0), None))[0] == version)

    def newer_source_fed_older_replica(self) -> list[str]:
        """Every round in which a replica's receiver ran against a source of a newer version."""
        found = []
        for t, states in self.rounds:
            for replica, (version, source) in states.items():
                if source is not None and source in states and states[source][0] > version:
                    found.append(f"{t:.1f}: mysql-{replica} {version} from mysql-{source} {states[source][0]}")
        return found


def upgrade_checked(cluster, ordinal: int) -> tuple[int, str]:
    """``mariadb-upgrade --check-if-upgrade-is-needed`` in pod N's server container (1: no
    upgrade needed) and the version the data directory records."""
    server = cluster.pod(ordinal).container("mysql")
    result = cluster.runtime.exec(
        server, ["mariadb-upgrade", "--check-if-upgrade-is-needed", "--protocol=SOCKET",
                 f"--socket={cluster.engine.socket}", "--user=root"],
        env={**server.env, "MYSQL_PWD": cluster.root_password, "MYSQL_HA_E2E_CLIENT": "1"}, timeout=30)
    record = (cluster.pvc_dir(ordinal) / "mysql" / "mariadb_upgrade_info").read_text().strip()
    return result.returncode, record


def test_u1_upgrade_under_writes(cluster, request):
    """10.11 -> 11.4 (11.8 here): replicas first, the primary last, under a writer through the
    write Service; every acknowledged row on every pod, every pod's system tables upgraded."""
    start, target = cluster.engine, request.getfixturevalue("engine")
    assert (start.name, target.name) == ("mariadb-10.11", "mariadb-11.4"), (start.name, target.name)
    wait_primary(cluster, 0, [0, 1, 2])
    before = {o: cluster.sql(o, "SELECT VERSION()")[0][0] for o in range(3)}
    assert {major_minor(v) for v in before.values()} == {(10, 11)}, before
    cluster.sql(0, "CREATE TABLE app.u (id INT PRIMARY KEY)")
    wait_same_rows(cluster, "app.u", 0, [0, 1, 2])
    client = client_pod(cluster, "upgrade-client")  # 10.11's client, as an application keeps its own
    try:
        with VersionPoller(cluster) as versions, PodWriter(cluster, "app.u", start=1, host="mysql-primary",
                                                           client=client.pod.container("client")) as writer:
            time.sleep(2)
            applied = time.monotonic()
            cluster.change_engine(target)
            changed = cluster.apply(cluster.synth(replicas=3, primary_ordinal=0))
            assert "StatefulSet/mysql: template" in changed, changed
            cluster.wait_rolled_out(timeout=900)
            seconds = time.monotonic() - applied
            wait_primary(cluster, 0, [0, 1, 2], timeout=120)
            time.sleep(2)
            ended = time.monotonic()
    finally:
        cluster.delete_pod_named("upgrade-client", grace=1)
    order = [int(m.group(1)) for t, message in cluster.events if t >= applied
             for m in [re.fullmatch(r"statefulset mysql: delete mysql-(\d+) \(update to .*\)", message)] if m]
    after = {o: cluster.sql(o, "SELECT VERSION()")[0][0] for o in range(3)}
    wait_same_rows(cluster, "app.u", 0, [0, 1, 2])
    acknowledged = set(writer.acknowledged)
    lost = {o: len(acknowledged - ids(cluster, o, "app.u")) for o in range(3)}
    checks = {o: upgrade_checked(cluster, o) for o in range(3)}
    fed = versions.newer_source_fed_older_replica()
    line = (f"e2e {target.name} upgrade from {start.name.split('-')[-1]} (3 pods, under writes through "
            f"mysql-primary): rolled out in "
            f"{seconds:.1f} s, longest write gap {writer.longest_gap(applied, ended):.2f} s, {writer.errors} failed "
            f"writes, {max(lost.values())} of {len(acknowledged)} acknowledged rows lost; versions "
            + ", ".join(f"mysql-{o} {before[o].split('-')[0]} -> {after[o].split('-')[0]}" for o in range(3))
            + f"; {len(fed)} rounds of {len(versions.rounds)} with a replica fed by a newer primary")
    request.node.user_properties.append(("e2e-report", line))
    print(line)
    assert order == [2, 1, 0], order
    new = major_minor(after[0])
    assert new > (10, 11) and {major_minor(v) for v in after.values()} == {new}, after
    assert writer.acknowledged, "the writer never got a row in"
    assert not any(lost.values()), f"acknowledged rows lost: {lost}"
    assert len({checksum(cluster, o, "app.u") for o in range(3)}) == 1
    assert not fed, fed[:5]
    # Each pod went from the old version to the new one, once, the primary after both replicas.
    for o in range(3):
        assert versions.versions_of(o) in ([(10, 11), new], [new]), (o, versions.versions_of(o))
    assert versions.first_seen(0, new) > max(versions.first_seen(o, new) for o in (1, 2))
    for o in range(3):
        log = cluster.logs(o, "init-mysql")
        assert re.search(r"upgrading the system tables from 10\.11\.\d+-MariaDB\S* to 11\.8", log), log[-1500:]
        assert "system tables upgraded to 11.8" in log, log[-1500:]
        status, record = checks[o]
        assert status == 1 and record.startswith(after[o].split("-")[0]), (o, status, record)



def test_u2_downgrade_is_refused(cluster, request):
    """The engine set back to 10.11 on the upgraded set: the first pod replaced (mysql-2)
    stops in init-mysql, saying why, while the others keep serving on 11.8; the engine
    applied again brings mysql-2 back on 11.8."""
    upgraded, older = cluster.engine, engine_by_name("mariadb-10.11")
    applied = time.monotonic()
    cluster.change_engine(older)
    cluster.apply(cluster.synth(replicas=3, primary_ordinal=0))
    message = "a downgrade is not supported"

    def refused_there() -> bool:
        try:
            return message in cluster.logs(2, "init-mysql")
        except KeyError:  # between the old pod's deletion and the new one
            return False

    cluster.wait_for(refused_there, timeout=120, what="mysql-2's init-mysql to refuse the downgrade")
    refused = time.monotonic() - applied
    log = cluster.logs(2, "init-mysql")
    assert re.search(r"the data directory was last upgraded by 11\.8\.\d+-MariaDB \(its mariadb_upgrade_info\), "
                     r"and this server is 10\.11", log), log[-1500:]
    time.sleep(5)
    assert not cluster.pod(2).ready
    serving = [cluster.sql(o, "SELECT VERSION()")[0][0].split("-")[0] for o in (0, 1)]
    assert all(major_minor(v) > (10, 11) for v in serving), serving
    after_version = serving[0]
    cluster.sql(0, "INSERT INTO app.u (id) VALUES (90000001)")
    cluster.change_engine(upgraded)
    cluster.apply(cluster.synth(replicas=3, primary_ordinal=0))
    back = time.monotonic()
    # A StatefulSet does not replace a pod that never became ready on its own (Kubernetes'
    # "forced rollback"): it is deleted, as the README says.
    if not cluster.pod(2).ready:
        cluster.delete_pod(2)
    cluster.wait_rolled_out(timeout=300)
    wait_primary(cluster, 0, [0, 1, 2], timeout=120)
    wait_same_rows(cluster, "app.u", 0, [0, 1, 2])
    line = (f"e2e {upgraded.name} downgrade to {older.name.split('-')[-1]} refused: mysql-2 stopped in init-mysql "
            f"{refused:.1f} s after the apply (mysql-0 and mysql-1 kept serving on {after_version}), the set whole "
            f"again {time.monotonic() - back:.1f} s after the upgraded engine was applied again")
    request.node.user_properties.append(("e2e-report", line))
    print(line)
