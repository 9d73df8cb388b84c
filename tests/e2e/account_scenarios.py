"""The set's accounts and passwords, run for real in emulated pods after ``scenarios.py``
on the same cluster (and on 1-pod sets of their own for an existing Secret): a replication
password with quotes, no password on any command line, what each account may do and from
where, and an existing Secret that is too long or lacks keys.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time

import cdk8s
import pytest

from emulator import Cluster
from mysql_ha import MySQLCredentials, MySQLHAChart
from mysql_ha.credentials import ADMIN_USER, STATUS_USER
from scenario_tools import PREFIX, SPEED, client_pod_spec
from scenarios import replicating

pytestmark = pytest.mark.e2e


def test_10_special_replication_password(cluster):
    """The cluster's replication password has the longest length replicas accept and the
    characters that break quoting: scenario 1 replicated with it."""
    password = cluster.replication_password
    assert len(password) == cluster.engine.max_replication_password_length == 32
    assert all(c in password for c in "'\"\\$#"), password
    assert all(replicating(cluster, o) for o in (1, 2, 3))


def test_11_no_password_on_any_command_line(cluster):
    scanner = cluster.argv_scanner
    assert scanner.samples > 20 and scanner.processes_seen > 1000, "the scan did not run"
    assert scanner.environments_seen > 1000, "the scan read no process's environment"
    assert not scanner.hits, "a password appeared in a process's argv:\n" + "\n".join(scanner.hits[:5])
    assert not scanner.environ_hits, ("a password appeared in a process's environment:\n"
                                      + "\n".join(scanner.environ_hits[:5]))


def _login(cluster, container, host: str, user: str, password: str, statement: str = "SELECT CURRENT_USER()",
           *, from_cache: bool = False):
    """``statement`` as ``user`` on ``host``:3306, from ``container`` (another pod's), over TCP.
    ``from_cache``: without TLS and without the server's key, as the set's own clients log in
    (caching_sha2_password then authenticates from the server's cache or fails with 2061)."""
    args = [cluster.engine.client, "--protocol=TCP", f"--host={host}", "--port=3306", "--connect-timeout=5",
            f"--user={user}", "--batch", "--skip-column-names", "-e", statement]
    if from_cache:
        args.insert(1, "--ssl-mode=DISABLED")
    elif cluster.engine.client == "mysql":
        # caching_sha2 without TLS: the client fetches the server's key to send the password.
        args.insert(1, "--get-server-public-key")
    return cluster.runtime.exec(container, args, env={"MYSQL_PWD": password, "MYSQL_HA_E2E_CLIENT": "1",
                                                      "HOME": "/tmp", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                                timeout=30)


def _refused(result) -> bool:
    return result.returncode != 0 and ("Access denied" in result.stderr or "is not allowed" in result.stderr)


def _auth_cache(cluster, box, primary: str, network: dict[str, str]) -> None:
    """TLS off, caching_sha2_password: no password of the set crosses the network. The
    server's probes fill its authentication cache, so every network account logs in without
    TLS and without the server's key; the replicas never fetch that key; after FLUSH
    PRIVILEGES empties the cache, the liveness probe fills it again."""
    engine = cluster.engine
    for user, password in network.items():
        result = _login(cluster, box, primary, user, password, from_cache=True)
        assert result.returncode == 0, f"{user} did not log in from the server's cache: {result.stderr}"
    for replica in (1, 2):
        rows = cluster.sql(replica, "SELECT GET_PUBLIC_KEY FROM performance_schema.replication_connection_configuration")
        assert rows == [["NO"]], f"mysql-{replica} fetches the source's key: {rows}"
    cluster.sql(0, "FLUSH LOCAL PRIVILEGES")
    started = time.monotonic()
    result = _login(cluster, box, primary, STATUS_USER, network[STATUS_USER], from_cache=True)
    assert result.returncode != 0 and "2061" in result.stderr, \
        f"a login without TLS and key after FLUSH PRIVILEGES: {result.returncode} {result.stderr}"
    cluster.wait_for(lambda: all(_login(cluster, box, primary, user, password, from_cache=True).returncode == 0
                                 for user, password in network.items()),
                     timeout=60, what="the liveness probe to fill the emptied authentication cache", interval=1)
    print(f"e2e {engine.name} security auth-cache: network accounts log in without TLS or key, replicas fetch no "
          f"key, cache refilled {time.monotonic() - started:.1f} s after FLUSH PRIVILEGES")


def test_11b_root_and_the_set_accounts_from_other_pods(cluster, request):
    """Root and the sidecar's administration account log in over the socket alone; the network
    accounts authenticate from anywhere but can do nothing beyond their grants; what each
    container can read holds only the passwords it uses."""
    engine = cluster.engine
    passwords = cluster.passwords
    labels = {"mysql-client": "true"}
    spec = client_pod_spec(engine.server_image)
    client = cluster.run_pod("app-client", spec, labels=labels)
    try:
        client.wait_ready(timeout=60)
        box = client.pod.container("client")
        primary = "mysql-0.mysql"
        refused = {"root": passwords["root_password"], ADMIN_USER: passwords["admin_password"]}
        if engine.clone_method != "clone-plugin":
            refused["clone"] = passwords["clone_password"]
        for user, password in refused.items():
            result = _login(cluster, box, primary, user, password)
            assert _refused(result), f"{user} logged in from a client pod: {result.stdout} {result.stderr}"
        # From a replica's own server container, root and the administration account are
        # refused on the primary too.
        replica = cluster.pod(1).container("mysql")
        for user, password in {"root": passwords["root_password"], ADMIN_USER: passwords["admin_password"]}.items():
            result = _login(cluster, replica, primary, user, password)
            assert _refused(result), f"{user} logged in to the primary from mysql-1: {result.stdout} {result.stderr}"
        # The network accounts get in, and can neither read rows nor write.
        network = {STATUS_USER: passwords["status_password"], "repl": passwords["replication_password"]}
        if engine.clone_method == "clone-plugin":
            network["clone"] = passwords["clone_password"]
        for user, password in network.items():
            result = _login(cluster, box, primary, user, password)
            assert result.returncode == 0, f"{user} was refused: {result.stderr}"
            for statement in ("SELECT COUNT(*) FROM mysql.user", "CREATE DATABASE mysql_ha_intruder"):
                result = _login(cluster, box, primary, user, password, statement)
                assert result.returncode != 0 and "denied" in result.stderr, (
                    f"{user} ran {statement!r}: {result.stdout} {result.stderr}")
        if engine.fast_auth_cache:
            _auth_cache(cluster, box, primary, network)
        users = {tuple(row) for row in cluster.sql(0, "SELECT user, host FROM mysql.user WHERE user = 'root'")}
        assert users == {("root", "localhost")}, f"root accounts on the primary: {users}"
        # Without the client label, the NetworkPolicy drops the connection before any login.
        cluster.run_pod("no-label", spec, labels={}).wait_ready(timeout=60)
        started = time.monotonic()
        result = _login(cluster, cluster.standalone["no-label"].pod.container("client"), primary, STATUS_USER,
                        passwords["status_password"])
        assert result.returncode != 0 and "connect" in result.stderr.lower(), result.stderr
        assert time.monotonic() - started >= 4, f"refused at once rather than dropped: {result.stderr}"
    finally:
        cluster.delete_pod_named("app-client", grace=1)
        if "no-label" in cluster.standalone:
            cluster.delete_pod_named("no-label", grace=1)
    # What each in-memory volume of option files holds: a container's own passwords only.
    pod_dir = cluster.pod(0).dir
    def text_of(volume: str) -> str:
        folder = pod_dir / "emptydir" / volume
        return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())

    def holds(text: str, name: str) -> bool:
        """The password as it is, in an option file (quoted) or in SQL (a literal)."""
        value = passwords[name]
        forms = (value, value.replace("\\", "\\\\").replace('"', '\\"'),
                 value.replace("\\", "\\\\").replace("'", "''"))
        return any(form in text for form in forms)

    sidecar, server, shared = text_of("sidecar-auth"), text_of("server-auth"), text_of("run")
    assert holds(sidecar, "admin_password") and holds(sidecar, "replication_password"), "the sidecar's own are missing"
    for name in ("root_password", "clone_password" if engine.clone_method == "clone-plugin" else None):
        if name:
            assert not holds(sidecar, name), f"the replication sidecar can read the {name}"
    assert holds(server, "root_password")  # the server's own init file
    assert not any(holds(shared, name) for name in passwords), "a password sits in the volume every container shares"
    request.node.user_properties.append(("e2e-report", (
        f"e2e {engine.name} security: root and {ADMIN_USER} refused from a client pod and from mysql-1; "
        "a pod without the client label dropped by the NetworkPolicy; "
        f"{', '.join(network)} confined to their grants; sidecar, server and shared volumes hold only their own "
        "passwords")))


@contextlib.contextmanager
def _one_pod_set(engine, tmp_path, secret_name: str, keys: dict[str, str], tag: str):
    """A started 1-pod set whose passwords come from the Secret ``secret_name``, made outside
    the library with ``keys`` (nothing checks it at synth time)."""
    chart = MySQLHAChart(cdk8s.Testing.app(), tag, engine=engine,
                         credentials=MySQLCredentials.from_existing_secret(secret_name), replicas=1,
                         storage_class_name="standard")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name, "namespace": "mysql"},
              "stringData": keys}
    with Cluster([*chart.to_json(), secret], tmp_path, prefix=f"{PREFIX}{tag}{engine.name[:2]}{os.getpid() % 4096:03x}",
                 speed=SPEED) as small:
        small.start()
        yield small


def test_12_too_long_replication_password_in_an_existing_secret(engine, tmp_path):
    """A Secret made outside the library cannot be checked at synth time: the pod says what
    is wrong when it starts, instead of every replica failing its CHANGE statement."""
    keys = {"root-password": "Root-" + secrets.token_urlsafe(16),
            "admin-password": "Admin-" + secrets.token_urlsafe(16),
            "status-password": "Status-" + secrets.token_urlsafe(16),
            "replication-password": "x" * (engine.max_replication_password_length + 1),
            "clone-password": "Clone-" + secrets.token_urlsafe(16)}
    with _one_pod_set(engine, tmp_path, "outside", keys, "pw") as small:
        message = f"has {engine.max_replication_password_length + 1} characters; replicas accept at most"
        small.wait_for(lambda: 0 in small.pods and message in small.logs(0, "replication"), timeout=120,
                       what="the sidecar to refuse the password")
        assert not small.pod(0).ready


def test_12b_existing_secret_without_the_new_keys(engine, tmp_path):
    """A Secret made before every account had its own password: the pod stops before its
    server starts and names each missing key, instead of a pod that waits for a volume."""
    keys = {"root-password": "Root-" + secrets.token_urlsafe(16),
            "replication-password": "Repl-" + secrets.token_urlsafe(16),
            "clone-password": "Clone-" + secrets.token_urlsafe(16)}
    with _one_pod_set(engine, tmp_path, "older", keys, "ky") as small:
        message = "the Secret older has no (or an empty) key admin-password status-password"
        small.wait_for(lambda: 0 in small.pods and message in small.logs(0, "init-mysql"), timeout=120,
                       what="init-mysql to name the missing keys")
        assert not small.pod(0).ready
        assert not (small.pod(0).dir / "emptydir" / "server-auth" / "bootstrap.sql").exists()
