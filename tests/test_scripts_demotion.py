"""replication.sh's demotion of a pod that turns replica (a bounded read-only, then client
sessions killed until it holds), run for real in the pod sandbox (``script_sandbox.py``)."""

from __future__ import annotations

import pytest
from script_sandbox import PASSWORD, Pod, SWITCHOVER_ENGINES


@pytest.mark.parametrize("engine_name", SWITCHOVER_ENGINES)
def test_demotion_is_bounded_then_kills_client_sessions_until_read_only_holds(tmp_path, engine_name):
    """A primary that turns replica: read-only waits at most a few seconds for the writes under
    way (a long statement, a lock held); then every client session is killed (its transaction
    rolls back) and read-only is set again, until it holds; the sessions are killed once it
    holds too (pooled connections, open transactions). The log says how many sessions of
    which users, nothing of what they ran."""
    pod = Pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    sessions = "41\\troot\\n42\\tapp\\n43\\tapp\\n"
    result = pod.run_sidecar(STUB_READ_ONLY="0", STUB_LOCK_WAITS="2", STUB_SESSIONS=sessions)
    assert result.returncode is None, result.stderr
    statements = pod.sql().splitlines()
    read_only = f"SET SESSION lock_wait_timeout = 3; {pod.engine.sql_read_only};"
    tries = [i for i, line in enumerate(statements) if line == read_only]
    assert len(tries) >= 3, statements
    listed = [i for i, line in enumerate(statements) if "FROM information_schema.PROCESSLIST" in line]
    kills = [i for i, line in enumerate(statements) if line == "KILL CONNECTION 41;"]
    # Each try is followed by the kills, the third (which holds) too.
    assert len(kills) >= 3 and all(any(t < k for k in kills) for t in tries[:3])
    assert listed[0] > tries[0] and kills[0] > listed[0]
    assert {"KILL CONNECTION 42;", "KILL CONNECTION 43;"} <= set(statements)
    query = statements[listed[0]]
    # Never the sidecar itself, the server's own threads, or the set's own accounts.
    for excluded in ("ID <> CONNECTION_ID()", "'system user'", "'event_scheduler'", "'mysqlha_admin'",
                     "'mysqlha_status'", "'repl'", "'clone'", "'Binlog Dump GTID'"):
        assert excluded in query, (excluded, query)
    assert "'root'" not in query
    assert result.stderr.count("read-only not set yet (ERROR 1205") == 2
    assert "killed 3 client session(s) (by user: " in result.stderr
    assert "app: 2" in result.stderr and "root: 1" in result.stderr
    assert "read-only: mysql-0.mysql is the declared primary" in result.stderr


@pytest.mark.parametrize("engine_name", SWITCHOVER_ENGINES)
def test_demotion_gives_up_for_the_round_when_read_only_never_holds(tmp_path, engine_name):
    pod = Pod(tmp_path, engine_name, 1, replication_password=PASSWORD)
    result = pod.run_sidecar(STUB_READ_ONLY="0", STUB_LOCK_WAITS="1000")
    assert result.returncode is None, result.stderr
    assert "ERROR: still not read-only after 10 tries" in result.stderr
    # Never re-pointed while it may still take writes.
    assert pod.engine.sql_change_source_prefix not in pod.sql()


def test_mariadb_demotion_warns_of_accounts_read_only_does_not_stop(tmp_path):
    pod = Pod(tmp_path, "mariadb-11.4", 1, replication_password=PASSWORD)
    exempt = "'mysqlha_admin'@'localhost'\\n'big'@'%'\\n"
    result = pod.run_sidecar(STUB_READ_ONLY="0", STUB_EXEMPT=exempt)
    assert result.returncode is None, result.stderr
    assert "WARNING: read-only does not stop 'big'@'%' (READ_ONLY ADMIN)" in result.stderr
    assert "mysqlha_admin'@'localhost' (READ" not in result.stderr
