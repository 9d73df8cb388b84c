"""The TLS scenarios, run for real in emulated pods: a chart with TLS on, its certificate
made by the test (a CA and a leaf signed by it, with openssl) in an existing Secret.

Each ``test_tls_<engine>.py`` module names its ``ENGINE``, the client flag that turns
TLS off (``NO_TLS_FLAG``) and the variable with the server's GTID state (``GTID_STATE``),
and imports these; its pods form one cluster of their own (a
distinct network prefix), the scenarios run in order.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import cdk8s
import pytest

from emulator import Cluster
from mysql_ha import MySQLCredentials, MySQLHAChart, MySQLTLS
from mysql_ha.credentials import STATUS_USER
from scenario_tools import APP_USER, SPEED, PodWriter, WritablePoller, client_pod_spec
from scenarios import count, ids, replica_status, replicating, wait_converged

pytestmark = pytest.mark.e2e

TLS_DIR = "/etc/mysql-ha/tls"
SECRET = "mysql-tls"
MEMBER = f"cert={TLS_DIR}/tls.crt,key={TLS_DIR}/tls.key,cafile={TLS_DIR}/ca.crt,verify=1"
"""socat options of a member of the set: its own certificate, the donor's checked."""
PODS = 4  # the certificate names one more pod than the chart starts: scale-out is a scenario
DNS_NAMES = [
    *(f"mysql-{n}.mysql" for n in range(PODS)),
    "*.mysql.mysql.svc.cluster.local",
    *(f"{s}{suffix}" for s in ("mysql", "mysql-read", "mysql-primary") for suffix in ("", ".mysql.svc.cluster.local")),
]


# --- certificates ---------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> None:
    """``{name}.key`` and a self-signed ``{name}.crt``."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
             "-days", "30", "-subj", f"/CN={name}", cwd=folder)


def make_leaf(folder: Path, ca: str, name: str, days: int) -> dict[str, str]:
    """A certificate for every name of the set, signed by ``ca``: the Secret's three keys."""
    (folder / f"{name}.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        f"subjectAltName={','.join('DNS:' + n for n in DNS_NAMES)}\n"
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-set_serial",
             str(secrets.randbits(63)), "-out", f"{name}.crt", "-days", str(days), "-extfile", f"{name}.ext",
             cwd=folder)
    return {"tls.crt": (folder / f"{name}.crt").read_text(), "tls.key": (folder / f"{name}.key").read_text(),
            "ca.crt": (folder / f"{ca}.crt").read_text()}


# --- the cluster ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(request, engine, tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("openssl") is None:
        pytest.fail("the TLS scenarios need root (namespaces, overlay mounts) and openssl", pytrace=False)
    passwords = {name: name[0].upper() + "'\"\\$#-" + secrets.token_urlsafe(16)
                 for name in ("root_password", "admin_password", "status_password", "replication_password",
                              "clone_password")}
    certs = tmp_path_factory.mktemp(f"certs-{engine.name}")
    make_ca(certs, "set-ca")
    make_ca(certs, "other-ca")
    secret_data = make_leaf(certs, "set-ca", "server", days=30)
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": SECRET, "namespace": "mysql"}, "stringData": secret_data}

    def manifests(tls: MySQLTLS | None) -> list[dict]:
        chart = MySQLHAChart(cdk8s.Testing.app(), "e2e", engine=engine,
                             credentials=MySQLCredentials.from_passwords(**passwords), replicas=3,
                             storage_class_name="standard", tls=tls)
        return [*chart.to_json(), secret]

    workdir = tmp_path_factory.mktemp(f"tls-cluster-{engine.name}")
    prefix = "mt" + re.sub(r"[^a-z0-9]", "", engine.name)[:8]
    # The set starts without TLS; the first scenario turns it on, as a running set's owner would.
    with Cluster(manifests(None), workdir, prefix=prefix, speed=SPEED) as c:
        c.tls_manifests = manifests(MySQLTLS.from_existing_secret(SECRET, dns_names=DNS_NAMES))
        c.engine = engine
        c.certs = certs
        c.passwords = passwords
        c.start()
        try:
            yield c
        finally:
            if os.environ.get("MYSQL_HA_E2E_KEEP_LOGS"):
                keep = Path(os.environ["MYSQL_HA_E2E_KEEP_LOGS"]) / f"tls-{engine.name}"
                shutil.copytree(workdir, keep, dirs_exist_ok=True, symlinks=True,
                                ignore=shutil.ignore_patterns("pv", "containers", "*.sock"))


def status_login(cluster) -> dict:
    """A network account over TCP with TLS and the pod's certificate, which the set's network
    accounts require (root logs in over the socket, where no TLS is)."""
    return {"user": STATUS_USER, "password": cluster.passwords["status_password"],
            "options": (f"--ssl-cert={TLS_DIR}/tls.crt", f"--ssl-key={TLS_DIR}/tls.key")}


def status_value(cluster, ordinal: int, name: str, **login) -> str:
    rows = cluster.sql(ordinal, f"SHOW STATUS LIKE '{name}'", **login)
    return rows[0][1] if rows else ""


def stream_bytes(cluster, ordinal: int, donor: int, kind: str, options: str) -> tuple[int, str]:
    """Bytes that a socat ``kind`` (TCP, OPENSSL) connection with ``options`` from pod
    ``ordinal``'s sidecar receives from the donor's port 3307."""
    address = f"{kind}:mysql-{donor}.mysql:3307,connect-timeout=5{',' + options if options else ''}"
    command = ["bash", "-c", f"timeout 20 socat -u '{address}' STDOUT | wc -c"]
    result = cluster.exec(ordinal, "replication", command, timeout=60)
    return int(result.stdout.strip() or 0), result.stderr


# --- scenarios ------------------------------------------------------------------------------


def test_tls_0_turn_tls_on_for_a_running_set(cluster, request):
    """Three pods without TLS, primary mysql-0; the chart with TLS on is applied while a client
    outside the set writes through the write Service (with the set's CA, as an application
    told to trust it before the change). The pods roll 2, 1, then the primary; each replica
    comes back replicating over TLS from a primary that may not have the certificate yet;
    no acknowledged row is lost and no two servers take writes at once."""
    cluster.wait_ready(3, timeout=240)
    engine = cluster.engine
    cluster.app_password = "App-" + secrets.token_urlsafe(12)
    cluster.sql(0, f"""
        CREATE DATABASE app;
        CREATE TABLE app.rows (id INT PRIMARY KEY, payload VARCHAR(100));
        INSERT INTO app.rows VALUES (1, 'one'), (2, 'two'), (3, 'three');
        CREATE TABLE app.w (id INT PRIMARY KEY);
        CREATE USER '{APP_USER}'@'%' IDENTIFIED BY '{cluster.app_password}';
        GRANT SELECT, INSERT ON app.* TO '{APP_USER}'@'%';
    """)
    wait_converged(cluster, "app.rows", 3)
    for replica in (1, 2):
        status = replica_status(cluster, replica)
        # No CA of the set yet (MySQL may encrypt with the server's own key; MariaDB checks a
        # self-signed certificate by the replication password).
        assert not status.get("Source_SSL_CA_File", status.get("Master_SSL_CA_File")), status
    before = {o: p.labels["controller-revision-hash"] for o, p in cluster.pods.items()}
    client = cluster.run_pod("tls-writer", client_pod_spec(engine.server_image), labels={"mysql-client": "true"})
    try:
        client.wait_ready(timeout=60)
        tmp = client.pod.dir / "emptydir" / "tmp"
        shutil.copy(cluster.certs / "set-ca.crt", tmp / "ca.crt")
        os.chmod(tmp / "ca.crt", 0o444)
        # MySQL's client encrypts when the server offers TLS (its default, PREFERRED); MariaDB's
        # checks the server's certificate by default, so it is given the set's CA.
        options = () if engine.client == "mysql" else ("--ssl-ca=/tmp/ca.crt",)
        with WritablePoller(cluster) as poller, PodWriter(cluster, "app.w", start=1, host="mysql-primary",
                                                          client=client.pod.container("client"),
                                                          options=options) as writer:
            time.sleep(2)
            applied = time.monotonic()
            changed = cluster.apply(cluster.tls_manifests)
            assert "StatefulSet/mysql: template" in changed, changed
            cluster.wait_rolled_out(timeout=900)
            seconds = time.monotonic() - applied
            cluster.wait_for(lambda: all(replicating(cluster, o) for o in (1, 2)), timeout=60,
                             what="both replicas replicating after the rollout")
            time.sleep(2)
            ended = time.monotonic()
    finally:
        cluster.delete_pod_named("tls-writer", grace=1)
    assert writer.acknowledged, f"the writer never got a row in: {writer.failures[-3:]}"
    order = [int(m.group(1)) for t, message in cluster.events if t >= applied
             for m in [re.fullmatch(r"statefulset mysql: delete mysql-(\d+) \(update to .*\)", message)] if m]
    assert order == [2, 1, 0], order
    after = {o: p.labels["controller-revision-hash"] for o, p in cluster.pods.items()}
    assert len(set(after.values())) == 1 and not set(after.values()) & set(before.values())
    wait_converged(cluster, "app.w", 3)
    acknowledged = set(writer.acknowledged)
    lost = {o: len(acknowledged - ids(cluster, o, "app.w")) for o in range(3)}
    switched = [o for o in (1, 2) if "replication switched to TLS" in cluster.logs(o, "replication")]
    line = (f"e2e {engine.name} TLS turned on for a running set of 3 pods under writes: rolled out in "
            f"{seconds:.1f} s, longest write gap {writer.longest_gap(applied, ended):.2f} s, {writer.errors} failed "
            f"writes, {max(lost.values())} of {len(acknowledged)} acknowledged rows lost; at most "
            f"{len(poller.most_writable)} writable server(s) at once; replicas switched to TLS in place: "
            f"{', '.join(f'mysql-{o}' for o in switched) or 'none'}")
    request.node.user_properties.append(("e2e-report", line))
    print(line)
    assert not any(lost.values()), f"acknowledged rows lost: {lost}"
    assert len(poller.most_writable) <= 1, f"two servers took writes: {poller.writable_at[:5]}"


def test_tls_1_bring_up_with_tls(cluster):
    cluster.wait_ready(3, timeout=240)
    wait_converged(cluster, "app.rows", 3)
    # The servers present the set's certificate, and a network account's connection (TCP to
    # 127.0.0.1: root has the socket alone) uses it.
    assert status_value(cluster, 0, "Ssl_cipher", **status_login(cluster)), \
        "the client connection to 127.0.0.1 is not encrypted"
    assert cluster.sql(0, "SELECT @@require_secure_transport")[0][0] in ("1", "ON")
    # The set's own network accounts log in over TLS only, with a certificate of the set's CA.
    for user in ("repl", STATUS_USER, *(["clone"] if cluster.engine.clone_method == "clone-plugin" else [])):
        ssl_type = cluster.sql(0, f"SELECT ssl_type FROM mysql.user WHERE user = '{user}' AND host = '%'")[0][0]
        assert ssl_type == "X509", f"{user} must REQUIRE X509, has ssl_type {ssl_type!r}"


def test_tls_2_replication_reports_tls(cluster):
    for replica in (1, 2):
        status = replica_status(cluster, replica)
        assert replicating(cluster, replica), status
        allowed = status.get("Source_SSL_Allowed", status.get("Master_SSL_Allowed"))
        verify = status.get("Source_SSL_Verify_Server_Cert", status.get("Master_SSL_Verify_Server_Cert"))
        ca = status.get("Source_SSL_CA_File", status.get("Master_SSL_CA_File"))
        cert = status.get("Source_SSL_Cert", status.get("Master_SSL_Cert"))
        assert (allowed, verify, ca, cert) == ("Yes", "Yes", f"{TLS_DIR}/ca.crt", f"{TLS_DIR}/tls.crt"), status


def test_tls_3_client_without_tls_is_refused(cluster, request):
    server = cluster.pod(0).container("mysql")
    flag = request.module.NO_TLS_FLAG
    # An application's account (no REQUIRE SSL of its own: the server's require_secure_transport
    # alone refuses it), its right password, no TLS.
    password = "App-" + secrets.token_urlsafe(12)
    cluster.sql(0, f"CREATE USER IF NOT EXISTS 'tls_app'@'%' IDENTIFIED BY '{password}'; "
                   "GRANT SELECT ON app.* TO 'tls_app'@'%';")
    args = [cluster.engine.client, "--protocol=TCP", "--host=127.0.0.1", "--port=3306",
            "--user=tls_app", flag, "--batch", "--skip-column-names"]
    if cluster.engine.client == "mysql":
        # Lets caching_sha2 send the password without TLS (the server's key), so that the
        # refusal is the server's (3159), not the client's own (2061).
        args.insert(1, "--get-server-public-key")
    result = cluster.runtime.exec(server, args, env={**server.env, "MYSQL_PWD": password, "MYSQL_HA_E2E_CLIENT": "1"},
                                  input="SELECT COUNT(*) FROM app.rows", timeout=30)
    assert result.returncode != 0 and result.stdout == "", result.stdout
    assert "3159" in result.stderr or "insecure transport" in result.stderr, result.stderr


def test_tls_3b_set_accounts_need_the_set_certificate(cluster):
    """From a client pod (labelled for 3306) that knows every password and speaks TLS with the
    set's CA, no account of the set logs in without the set's certificate; with a certificate
    of another CA neither; with the set's own, each does (so the refusals are the
    certificate's)."""
    engine = cluster.engine
    passwords = cluster.passwords
    spec = client_pod_spec(engine.server_image)
    client = cluster.run_pod("tls-client", spec, labels={"mysql-client": "true"})
    try:
        client.wait_ready(timeout=60)
        box = client.pod.container("client")
        make_leaf(cluster.certs, "other-ca", "intruder", days=30)
        tmp = client.pod.dir / "emptydir" / "tmp"
        for source, name in (("set-ca.crt", "ca.crt"), ("server.crt", "set.crt"), ("server.key", "set.key"),
                             ("intruder.crt", "intruder.crt"), ("intruder.key", "intruder.key")):
            shutil.copy(cluster.certs / source, tmp / name)
            os.chmod(tmp / name, 0o444)
        accounts = {STATUS_USER: passwords["status_password"], "repl": passwords["replication_password"]}
        if engine.clone_method == "clone-plugin":
            accounts["clone"] = passwords["clone_password"]
        tls = (["--ssl-mode=VERIFY_IDENTITY", "--ssl-ca=/tmp/ca.crt"] if engine.client == "mysql"
               else ["--ssl", "--ssl-ca=/tmp/ca.crt", "--ssl-verify-server-cert"])

        def login(user: str, password: str, *certificate: str):
            args = [engine.client, "--protocol=TCP", "--host=mysql-0.mysql", "--port=3306", "--connect-timeout=5",
                    *tls, *certificate, f"--user={user}", "--batch", "--skip-column-names", "-e",
                    "SELECT CURRENT_USER()"]
            return cluster.runtime.exec(box, args, env={"MYSQL_PWD": password, "MYSQL_HA_E2E_CLIENT": "1",
                                                        "HOME": "/tmp", "PATH": "/usr/bin:/bin"}, timeout=30)

        outcome = {}
        for user, password in accounts.items():
            for label, certificate in (("none", ()), ("other-ca", ("--ssl-cert=/tmp/intruder.crt",
                                                                   "--ssl-key=/tmp/intruder.key"))):
                result = login(user, password, *certificate)
                assert result.returncode != 0 and result.stdout == "", (user, label, result.stdout)
                outcome[user, label] = "refused"
            result = login(user, password, "--ssl-cert=/tmp/set.crt", "--ssl-key=/tmp/set.key")
            assert result.returncode == 0 and result.stdout.strip() == f"{user}@%", (user, result.stderr)
            outcome[user, "set"] = "accepted"
        print(f"e2e {engine.name} security tls: from a client pod with every password, "
              + ", ".join(f"{user} {outcome[user, 'none']} without a certificate, {outcome[user, 'other-ca']} with "
                          f"another CA's, {outcome[user, 'set']} with the set's" for user in accounts))
    finally:
        cluster.delete_pod_named("tls-client", grace=1)


def test_tls_4_clone_stream_needs_the_set_certificate(cluster):
    received, _ = stream_bytes(cluster, 1, 0, "TCP", "")
    assert received == 0, f"a plain TCP connection to 3307 received {received} bytes"
    if not cluster.engine.serves_backup_streams:
        # CLONE engines copy over the server port, which refuses clear text (scenario 3) to a
        # clone account that requires TLS (scenario 1): nothing listens on 3307 at all.
        return
    received, _ = stream_bytes(cluster, 1, 0, "OPENSSL", f"cafile={TLS_DIR}/ca.crt,verify=1")
    assert received == 0, f"a TLS connection without a certificate received {received} bytes"
    # A certificate of another CA: copied into the sidecar's /tmp, as an intruder would bring it.
    make_leaf(cluster.certs, "other-ca", "intruder", days=30)
    tmp = cluster.pod(1).dir / "emptydir" / "tmp"
    for name in ("intruder.crt", "intruder.key"):
        shutil.copy(cluster.certs / name, tmp / name)
        os.chmod(tmp / name, 0o444)
    received, _ = stream_bytes(cluster, 1, 0, "OPENSSL", "cert=/tmp/intruder.crt,key=/tmp/intruder.key,"
                                                         f"cafile={TLS_DIR}/ca.crt,verify=1")
    assert received == 0, f"a certificate of another CA received {received} bytes"
    # The control: the set's certificate gets a backup.
    received, errors = stream_bytes(cluster, 1, 0, "OPENSSL", MEMBER)
    assert received > 100_000, f"the set's own certificate got {received} bytes: {errors}"


def test_tls_5_scale_out_with_tls(cluster):
    cluster.sql(0, "INSERT INTO app.rows VALUES (4, 'four'), (5, 'five')")
    cluster.scale(4)
    cluster.wait_ready(4, timeout=240)
    wait_converged(cluster, "app.rows", 4)
    assert count(cluster, 3, "app.rows") == 5
    assert "clone" in cluster.logs(3, "clone-mysql") and "complete" in cluster.logs(3, "clone-mysql")
    assert replicating(cluster, 3)


def test_tls_6_rotation_reaches_running_servers(cluster, request):
    pods = 4
    before = [status_value(cluster, o, "Ssl_server_not_after", **status_login(cluster)) for o in range(pods)]
    restarts = {o: cluster.pod(o).container("mysql").restarts for o in range(pods)}
    renewed = make_leaf(cluster.certs, "set-ca", "renewed", days=20)
    cluster.update_secret(SECRET, renewed)

    def all_renewed() -> bool:
        return all(status_value(cluster, o, "Ssl_server_not_after", **status_login(cluster)) not in ("", before[o]) for o in range(pods))

    cluster.wait_for(all_renewed, timeout=90, what="every server presents the renewed certificate")
    # The sidecars' watch loops (every 10 s) tell the servers to load it.
    cluster.wait_for(lambda: all("the server loaded the renewed certificate" in cluster.logs(o, "replication")
                                 for o in range(pods)), timeout=40, what="every sidecar reloaded the certificate")
    assert {o: cluster.pod(o).container("mysql").restarts for o in range(pods)} == restarts, \
        "the servers must not restart for a renewed certificate"
    # Replication survives: new rows reach every replica, over TLS.
    cluster.sql(0, "INSERT INTO app.rows VALUES (6, 'six'), (7, 'seven')")
    try:
        wait_converged(cluster, "app.rows", pods, timeout=30)
    except Exception:
        status = replica_status(cluster, 1)
        raise AssertionError({k: v for k, v in status.items() if "Err" in k or "Running" in k or "SSL" in k})
    for replica in range(1, pods):
        assert replicating(cluster, replica)
    # The reload is not binary-logged: no replica has a transaction of its own.
    variable = request.module.GTID_STATE
    states = [cluster.sql(o, f"SELECT {variable}")[0][0].replace("\\n", "") for o in range(pods)]
    assert len(set(states)) == 1, states
    if cluster.engine.serves_backup_streams:
        cluster.wait_for(lambda: all("restarting the backup server with the renewed certificate"
                                     in cluster.logs(o, "replication") for o in range(pods)),
                         timeout=30, what="every backup server restarted with the renewed certificate")
        received, errors = stream_bytes(cluster, 1, 0, "OPENSSL", MEMBER)
        assert received > 100_000, f"after the rotation the set's certificate got {received} bytes: {errors}"
