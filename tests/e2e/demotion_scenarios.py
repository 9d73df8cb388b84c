"""Demotion: a primary that turns replica at a switchover stops taking writes from everyone, at
once, whatever its sessions are doing, run for real in emulated pods.

The pods see the new declared primary at the same moment (the propagation of the ConfigMap is
not what these scenarios measure). What they check, on the old primary against the new one:
no write of any session (root's over the socket included) is committed there after it turned
read-only, so it follows the new primary with no transaction of its own (no errant GTID); a
transaction open across the switchover is rolled back, or was committed before the demotion,
never after; and a long transaction or statement does not hold the switchover up.
"""

from __future__ import annotations

import threading
import re
import time

import pytest

from emulator import SQLError
from failover_scenarios import declare_primary, read_only, source_of, wait_primary, wait_same_rows
from scenario_tools import APP_USER, Writer
from scenarios import ids, replicating, test_1_bring_up_three_pods  # noqa: F401 - the module's first scenario

pytestmark = pytest.mark.e2e

LONG_SECONDS = 30
"""How long the long transaction and the long statement of scenario d2 would run."""


def primary_of(cluster) -> int:
    return next(o for o in sorted(cluster.pods) if not read_only(cluster, o))


def now_together(cluster) -> dict[str, float]:
    """Every pod sees the new declared primary at once."""
    return {f"mysql-{o}": 0 for o in sorted(cluster.pods)}


def gtids(cluster, ordinal: int) -> str:
    return cluster.sql(ordinal, cluster.engine.sql_gtid_executed)[0][0].replace("\\n", "")


def same_history(cluster, old: int, new: int) -> str:
    """Waits until the old primary holds exactly the new one's transactions (it has none of its
    own: it could not follow otherwise); returns the GTID set."""
    cluster.wait_for(lambda: gtids(cluster, old) == gtids(cluster, new), timeout=60,
                     what=f"mysql-{old} and mysql-{new} with the same GTID set", interval=0.5)
    return gtids(cluster, new)


class RootWriter(Writer):
    """Inserts rows as root over the server's socket inside pod ``ordinal``'s server container
    (``kubectl exec -c mysql -- mysql -uroot``), one autocommit INSERT per session; remembers
    when the server first refused one as read-only."""

    def __init__(self, cluster, table: str, start: int, *, ordinal: int) -> None:
        super().__init__(cluster, table, start, client_pod=ordinal)
        self.refused_at: float | None = None
        self.refusals = 0

    def insert(self, statement: str) -> None:
        try:
            self.cluster.sql(self.client_pod, statement, check=False, timeout=10)
        except SQLError as error:
            if "read-only" in str(error).lower() or "read_only" in str(error).lower():
                self.refusals += 1
                if self.refused_at is None:
                    self.refused_at = time.monotonic()
            raise


def test_d1_root_on_the_old_primary_writes_nothing_after_demotion(cluster, request):
    """root writes on the primary, over its socket, through a switchover: each write is
    refused from the moment the pod is read-only (MariaDB: READ_ONLY ADMIN, part of root's ALL
    PRIVILEGES, is revoked from root; MySQL: super_read_only), so the old primary follows the
    new one with exactly its transactions, and every write root got acknowledged is there."""
    old = primary_of(cluster)
    new = (old + 1) % len(cluster.pods)
    pods = sorted(cluster.pods)
    cluster.sql(old, "CREATE TABLE app.root_rows (id INT PRIMARY KEY)")
    wait_same_rows(cluster, "app.root_rows", old, pods)
    with RootWriter(cluster, "app.root_rows", start=1, ordinal=old) as writer:
        time.sleep(3)
        applied = time.monotonic()
        declare_primary(cluster, new, moments=now_together(cluster))
        wait_primary(cluster, new, pods, timeout=90)
        seconds = time.monotonic() - applied
        time.sleep(3)  # root keeps trying on the demoted pod
    assert writer.acknowledged, f"root never got a row in: {writer.failures[-3:]}"
    assert writer.refusals, f"root was never refused as read-only: {writer.failures[-3:]}"
    late = [t - writer.refused_at for t in writer.successes if t > writer.refused_at]
    assert not late, f"root's writes acknowledged on the read-only old primary {late[:5]} s after its first refusal"
    history = same_history(cluster, old, new)
    wait_same_rows(cluster, "app.root_rows", new, pods)
    on_new = ids(cluster, new, "app.root_rows")
    assert ids(cluster, old, "app.root_rows") == on_new
    missing = set(writer.acknowledged) - on_new
    assert not missing, f"the new primary lacks {len(missing)} rows root got acknowledged"
    assert read_only(cluster, old) and replicating(cluster, old) and source_of(cluster, old) == f"mysql-{new}.mysql"
    # root cannot lift read-only either (MariaDB: READ_ONLY ADMIN is what sets it; MySQL's root
    # could, and super_read_only is then what the sidecar sets back within a second).
    if cluster.engine.sql_root_obeys_read_only:
        with pytest.raises(SQLError, match="READ_ONLY ADMIN"):
            cluster.sql(old, "SET GLOBAL read_only = OFF", check=False)
    line = (f"e2e {cluster.engine.name} demotion under root's writes (socket, mysql-{old} -> mysql-{new}): "
            f"switchover done in {seconds:.1f} s; root got {len(writer.acknowledged)} rows acknowledged, all on "
            f"mysql-{new}, then {writer.refusals} writes refused as read-only and 0 acknowledged after the first "
            f"refusal; mysql-{old} follows with the same GTID set ({history}), no errant transaction")
    request.node.user_properties.append(("e2e-report", line))
    print(line)


class Session(threading.Thread):
    """One client session running ``statement`` to its end; records its outcome."""

    def __init__(self, cluster, ordinal: int, statement: str, **login) -> None:
        super().__init__(daemon=True)
        self.cluster, self.ordinal, self.statement, self.login = cluster, ordinal, statement, login
        self.error: str | None = None
        self.ended_at: float | None = None

    def run(self) -> None:
        try:
            self.cluster.sql(self.ordinal, self.statement, check=False, timeout=LONG_SECONDS + 30, **self.login)
        except SQLError as error:
            self.error = str(error)[-200:]
        self.ended_at = time.monotonic()


def test_d2_long_transaction_and_statement_do_not_hold_the_switchover(cluster, request):
    """On the primary, while it is demoted: an application session in a transaction (a row
    written, then 30 s of SLEEP before a second row and COMMIT) and root running one 30 s
    write statement (INSERT ... SELECT SLEEP(30)), which holds read-only back as long as it
    runs. The switchover ends in a few seconds, not 30: read-only waits at most a few seconds,
    then the sessions are killed. The transaction is rolled back (neither of its rows is
    anywhere); the statement is rolled back or was committed before the demotion, on both
    pods alike; the old primary follows with no transaction of its own."""
    old = primary_of(cluster)
    new = (old + 1) % len(cluster.pods)
    pods = sorted(cluster.pods)
    cluster.sql(old, "CREATE TABLE app.long_rows (id INT PRIMARY KEY, v INT)")
    wait_same_rows(cluster, "app.long_rows", old, pods)
    transaction = Session(cluster, old, f"BEGIN; INSERT INTO app.long_rows VALUES (1, 0); SELECT SLEEP({LONG_SECONDS}); "
                                        "INSERT INTO app.long_rows VALUES (2, 0); COMMIT;",
                          user=APP_USER, password=cluster.app_password)
    statement = Session(cluster, old, f"INSERT INTO app.long_rows SELECT 3, SLEEP({LONG_SECONDS})")
    started = time.monotonic()
    transaction.start()
    statement.start()
    time.sleep(2)
    assert transaction.ended_at is None and statement.ended_at is None, (transaction.error, statement.error)
    applied = time.monotonic()
    declare_primary(cluster, new, moments=now_together(cluster))
    wait_primary(cluster, new, pods, timeout=90)
    seconds = time.monotonic() - applied
    transaction.join(timeout=LONG_SECONDS + 40)
    statement.join(timeout=LONG_SECONDS + 40)
    assert seconds < LONG_SECONDS - 10, f"the switchover waited for the long sessions: {seconds:.1f} s"
    for session in (transaction, statement):
        assert session.ended_at is not None and session.ended_at - started < LONG_SECONDS, \
            "a long session ran to its end instead of being killed"
        assert session.error, "a killed session cannot have succeeded"
    history = same_history(cluster, old, new)
    wait_same_rows(cluster, "app.long_rows", new, pods)
    rows = ids(cluster, new, "app.long_rows")
    assert ids(cluster, old, "app.long_rows") == rows
    assert not rows & {1, 2}, f"the open transaction was committed: {rows}"
    statement_outcome = "committed before the demotion" if 3 in rows else "rolled back"
    log = cluster.logs(old, "replication")
    kills = [line for line in log.splitlines() if "killed" in line and "client session" in line]
    assert kills and "root" in " ".join(kills) and APP_USER in " ".join(kills), log[-2000:]
    # Held up by the long statement, read-only gave up after its lock wait, not after 30 s.
    assert "read-only not set yet (ERROR 1205" in log, log[-2000:]
    assert read_only(cluster, old) and replicating(cluster, old)
    # The new primary takes the application's writes through the write Service, once the
    # Service routes to it (it is ready, and kube-proxy has synced), as a client retrying sees it.
    cluster.wait_for(lambda: cluster.pod(new).ready, timeout=60, what=f"mysql-{new} ready as the primary")
    failures: list[str] = []

    def written() -> bool:
        try:
            cluster.sql(new, "INSERT INTO app.long_rows VALUES (4, 0)", user=APP_USER,
                        password=cluster.app_password, host="mysql-primary")
            return True
        except Exception as error:  # noqa: BLE001 - the Service may not route to it yet
            failures.append(str(error)[-200:])
            assert not re.search(r"(?i)read.only|duplicate", str(error)), failures
            return False

    cluster.wait_for(written, timeout=30, what="a write through mysql-primary", interval=1)
    wait_same_rows(cluster, "app.long_rows", new, pods)
    line = (f"e2e {cluster.engine.name} demotion with a {LONG_SECONDS} s transaction and a {LONG_SECONDS} s write "
            f"statement open (mysql-{old} -> mysql-{new}): switchover done in {seconds:.1f} s; the sessions "
            f"were killed after {transaction.ended_at - applied:.1f} s and {statement.ended_at - applied:.1f} s; "
            f"the transaction rolled back, the statement {statement_outcome}; same GTID set on both ({history}); "
            f"sidecar: {kills[-1].split(': ', 1)[-1]}; the write Service took a write "
            f"after {len(failures)} failed attempts")
    request.node.user_properties.append(("e2e-report", line))
    print(line)
