"""status.sh, run for real in the pod sandbox (``script_sandbox.py``)."""

from __future__ import annotations

from script_sandbox import Pod


HOSTS = "mysql-0.mysql mysql-1.mysql mysql-2.mysql"


def test_status_names_the_replicas_that_do_not_answer(tmp_path):
    """The lost primary (mysql-0) and a replica (mysql-2) do not answer: mysql-1 is the most
    advanced of those that did, and the silent replica is named, as it may hold more."""
    pod = Pod(tmp_path, "mariadb-11.4", 1)
    result = pod.run("replication", "status.sh", STUB_HOSTS=HOSTS, STUB_DOWN_HOSTS="mysql-0.mysql mysql-2.mysql",
                     STUB_GTID="0-100-10")
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in result.stdout.splitlines() if "\t" in line}
    assert rows == {"pod": "role", "mysql-0": "unreachable", "mysql-1": "read-only, not replicating",
                    "mysql-2": "unreachable"}, result.stdout
    assert "not answering: mysql-2 (it may hold transactions" in result.stdout
    assert "mysql-0 (" not in result.stdout.split("not answering:")[1]  # the declared primary is not a replica
    assert result.stdout.splitlines()[-1] == "most advanced replica: mysql-1"
    # Every pod's state, its own included, read as the read-only status account.
    clients = [line for line in pod.calls().splitlines() if line.startswith("mariadb ")]
    assert clients and all(f"--defaults-extra-file={pod.volumes['sidecar-auth']}/status.cnf --protocol=TCP --host="
                           in line for line in clients), clients


def test_status_with_every_replica_answering_names_none_as_silent(tmp_path):
    pod = Pod(tmp_path, "mariadb-11.4", 1)
    result = pod.run("replication", "status.sh", STUB_HOSTS=HOSTS, STUB_DOWN_HOSTS="mysql-0.mysql",
                     STUB_GTID="0-100-10")
    assert result.returncode == 0, result.stderr
    assert "not answering" not in result.stdout
    assert result.stdout.splitlines()[-1] == "most advanced replica: mysql-2"  # equal sets: the last
