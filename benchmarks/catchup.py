"""A restarted replica's catch-up: how fast it applies what it missed while it was gone."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from emulator import Cluster, EmulatorError

from .engines import BenchEngine
from .results import CatchUp
from .samplers import rows_or_none, wait_gone


def catch_up(c: Cluster, bench_engine: BenchEngine, rows: int, *, rows_per_transaction: int = 100,
             progress: Callable[[str], None] = print) -> CatchUp:
    """Stops mysql-1 (its claim stays), writes ``rows`` rows on the primary in transactions
    of ``rows_per_transaction``, starts mysql-1 again and watches MAX(id) on it until it
    holds them all. When mysql-1 is done before it could be watched (a fast machine, few
    rows), tries again with four times the rows."""
    for attempt in range(1, 4):
        result = _catch_up_once(c, bench_engine, f"catchup_{attempt}", rows, rows_per_transaction)
        if result is not None:
            return result
        progress(f"{bench_engine.key}: mysql-1 applied {rows} rows before it could be watched; again with {rows * 4}")
        rows *= 4
    raise RuntimeError("mysql-1 kept catching up before it could be watched")


def _write_while_stopped(c: Cluster, table: str, rows: int, rows_per_transaction: int) -> int:
    """Stops mysql-1, writes the rows on the primary; returns the number of transactions."""
    c.sql(0, f"CREATE TABLE bench.{table} (id INT PRIMARY KEY, payload CHAR(64) NOT NULL)")
    c.wait_for(lambda: rows_or_none(c, 1, f"SELECT COUNT(*) FROM bench.{table}") == [["0"]],
               timeout=60, what=f"the table bench.{table} on mysql-1")
    c.scale(1)
    c.wait_for(lambda: sorted(c.pods) == [0], timeout=300, what="mysql-1 to stop")
    wait_gone(c, 1)
    return insert_rows(c, table, rows, rows_per_transaction)


def insert_rows(c: Cluster, table: str, rows: int, rows_per_transaction: int = 100) -> int:
    """Writes ids 1..``rows`` with 64 random hex characters each into ``bench.<table>`` (id INT
    PRIMARY KEY, payload CHAR(64)) on the primary, ``rows_per_transaction`` to an INSERT (each
    its own transaction, autocommit), from one client session. Returns the transactions."""
    statements = []
    for first in range(1, rows + 1, rows_per_transaction):
        values = ",".join(f"({i},'{secrets.token_hex(32)}')"
                          for i in range(first, min(first + rows_per_transaction, rows + 1)))
        statements.append(f"INSERT INTO bench.{table} VALUES {values};")
    c.sql(0, "\n".join(statements), timeout=900)
    return len(statements)


def _catch_up_once(c: Cluster, b: BenchEngine, table: str, rows: int, rows_per_transaction: int) -> CatchUp | None:
    transactions = _write_while_stopped(c, table, rows, rows_per_transaction)
    binlog_format = c.sql(0, "SELECT @@binlog_format")[0][0]
    restarted = time.monotonic()
    c.scale(2)
    observations: list[tuple[float, int]] = []
    deadline = restarted + 900
    while time.monotonic() < deadline:
        answer = rows_or_none(c, 1, f"SELECT COALESCE(MAX(id), 0) FROM bench.{table}")
        if answer:
            observations.append((time.monotonic(), int(answer[0][0])))
            if observations[-1][1] >= rows:
                break
        time.sleep(0.1)
    else:
        raise EmulatorError(f"mysql-1 did not catch up: {observations[-3:]} {c.describe()}")
    c.wait_ready(2, timeout=300)
    # The applier's work lies between the last sight of the old state and the first sight of
    # every row: the rate below is, if anything, an underestimate.
    untouched = [o for o in observations if o[1] == observations[0][1]]
    (t_first, v_first), (t_last, v_last) = untouched[-1], observations[-1]
    if len(observations) < 3 or v_first > rows // 2:
        return None
    values = c.sql(1, "SELECT " + ", ".join(f"@@{n}" for n in b.applier_settings))[0]
    return CatchUp(rows=rows, applied_rows=v_last - v_first, seconds=t_last - t_first,
                   restart_to_caught_up_s=t_last - restarted, transactions=transactions,
                   binlog_format=binlog_format, replica_settings=dict(zip(b.applier_settings, values)))
