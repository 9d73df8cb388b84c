"""MySQLTLS and the TLS-on charts: snapshots, the objects and settings TLS adds, the
synth-time errors, strict schemas and the policy scan."""

from __future__ import annotations

import re

import dataclasses
import json
import os
import subprocess

import kubernetes_validate
import pytest
from synth_helpers import (ENGINE_NAMES, REPO, add_stack, all_containers, by_kind, config_map, container,
                           existing_secret, new_chart, password_credentials, pod_spec, synth, to_yaml, whole_chart)
from tls_helpers import CERT_MANAGER, EXISTING_SECRET, TLS_ENGINE_NAMES, tls_chart, without_custom_resources

import mysql_ha
from mysql_ha.tls import covers

TLS_DIR = "/etc/mysql-ha/tls"


@pytest.fixture(params=TLS_ENGINE_NAMES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return request.param


# --- snapshots ------------------------------------------------------------------------------


def test_tls_chart_snapshot(engine_name, yaml_snapshot):
    assert tls_chart(engine_name) == yaml_snapshot


def test_existing_secret_chart_snapshot(yaml_snapshot):
    assert tls_chart("mariadb-11.4", EXISTING_SECRET, replicas=3) == yaml_snapshot


# --- TLS off changes nothing ----------------------------------------------------------------


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_tls_off_adds_nothing(name):
    # The scripts carry the TLS paths for every chart; nothing else mentions TLS when it is
    # off, but the set's clients' refusal of unchecked TLS (client_plain_options).
    engine = mysql_ha.ENGINES[name]
    manifests = [m for m in whole_chart(engine) if not m["metadata"]["name"].startswith("mysql-scripts-")]
    env = config_map(manifests, "mysql-env")["data"]
    assert env["MYSQL_HA_CLIENT_NETWORK_OPTIONS"] == "".join(f"{k}={v}\n" for k, v in engine.client_plain_options.items())
    del env["MYSQL_HA_CLIENT_NETWORK_OPTIONS"]
    text = to_yaml(manifests).lower()
    for word in ("tls", "ssl", "certificate", "secure_transport"):
        # A word's start (information_schema.processlist is no mention of ssl).
        assert not re.search(rf"(?<![a-z]){word}", text), word


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_tls_off_never_sends_a_password_under_an_unchecked_key(name):
    engine = mysql_ha.ENGINES[name]
    env = config_map(whole_chart(engine), "mysql-env")["data"]
    if engine.fast_auth_cache:
        # caching_sha2_password: the server's probes fill its cache, replicas and the set's
        # clients authenticate from it and never fetch the RSA key or accept an unchecked
        # certificate.
        assert env["MYSQL_HA_AUTH_CACHE"] == "1"
        assert "GET_SOURCE_PUBLIC_KEY=0" in env["MYSQL_HA_SQL_CHANGE_SOURCE"]
        assert env["MYSQL_HA_CLIENT_NETWORK_OPTIONS"] == "ssl-mode=DISABLED\n"
    else:
        # mysql_native_password: a challenge-response, no key involved.
        assert "MYSQL_HA_AUTH_CACHE" not in env
        assert "PUBLIC_KEY" not in env["MYSQL_HA_SQL_CHANGE_SOURCE"]


# --- what TLS adds --------------------------------------------------------------------------


def test_servers_present_the_certificate_and_require_secure_transport(engine_name):
    manifests = tls_chart(engine_name)
    for cnf in ("primary.cnf", "replica.cnf"):
        text = config_map(manifests, "mysql")["data"][cnf]
        assert f"ssl_ca={TLS_DIR}/ca.crt\n" in text
        assert f"ssl_cert={TLS_DIR}/tls.crt\n" in text
        assert f"ssl_key={TLS_DIR}/tls.key\n" in text
        assert "require_secure_transport=ON\n" in text


def test_require_secure_transport_can_be_turned_off(engine_name):
    manifests = tls_chart(engine_name, require_secure_transport=False)
    text = config_map(manifests, "mysql")["data"]["primary.cnf"]
    assert "require_secure_transport=OFF\n" in text and "ssl_cert=" in text


def test_every_container_that_talks_tls_mounts_the_secret(engine_name):
    manifests = tls_chart(engine_name)
    (volume,) = [v for v in pod_spec(manifests)["volumes"] if v["name"] == "tls"]
    assert volume["secret"] == {
        "secretName": "mysql-tls",
        "defaultMode": 0o440,
        "items": [{"key": k, "path": k} for k in ("tls.crt", "tls.key", "ca.crt")],
    }
    mounted = {c["name"] for c in all_containers(manifests)
               if {"name": "tls", "mountPath": TLS_DIR, "readOnly": True} in c["volumeMounts"]}
    # init-mysql initializes an empty data directory with the server's own configuration,
    # which names the certificate's files (and it writes option files that name them too).
    assert mounted == {"clone-mysql", "init-mysql", "mysql", "replication"}


def test_scripts_receive_the_engine_tls_data(engine_name):
    engine = mysql_ha.ENGINES[engine_name]
    env = config_map(tls_chart(engine_name), "mysql-env")["data"]
    assert env["MYSQL_HA_TLS_DIR"] == TLS_DIR
    assert env["MYSQL_HA_SQL_SOURCE_TLS"] == (engine.sql_source_tls.replace("@CA@", f"{TLS_DIR}/ca.crt")
                                              .replace("@CERT@", f"{TLS_DIR}/tls.crt")
                                              .replace("@KEY@", f"{TLS_DIR}/tls.key"))
    assert "MYSQL_HA_AUTH_CACHE" not in env  # full authentication over checked TLS
    assert env["MYSQL_HA_SQL_RELOAD_TLS"] == engine.sql_reload_tls
    options = env["MYSQL_HA_CLIENT_NETWORK_OPTIONS"]
    assert "@" not in options
    # The peers are checked by name, and the pod presents its certificate (REQUIRE X509).
    assert f"ssl-cert={TLS_DIR}/tls.crt\n" in options and f"ssl-key={TLS_DIR}/tls.key\n" in options
    assert ("ssl-mode=VERIFY_IDENTITY\n" in options) != ("ssl-verify-server-cert=ON\n" in options)


@pytest.mark.parametrize(
    "engine, expected",
    [
        (mysql_ha.MYSQL_8_4, "SOURCE_SSL=1, SOURCE_SSL_CA='@CA@', SOURCE_SSL_CERT='@CERT@', SOURCE_SSL_KEY='@KEY@', "
         "SOURCE_SSL_VERIFY_SERVER_CERT=1"),
        (mysql_ha.MYSQL_9_7, "SOURCE_SSL=1, SOURCE_SSL_CA='@CA@', SOURCE_SSL_CERT='@CERT@', SOURCE_SSL_KEY='@KEY@', "
         "SOURCE_SSL_VERIFY_SERVER_CERT=1"),
        (mysql_ha.MARIADB_11_4, "MASTER_SSL=1, MASTER_SSL_CA='@CA@', MASTER_SSL_CERT='@CERT@', MASTER_SSL_KEY='@KEY@', "
         "MASTER_SSL_VERIFY_SERVER_CERT=1"),
        (mysql_ha.MYSQL_5_7, "MASTER_SSL=1, MASTER_SSL_CA='@CA@', MASTER_SSL_CERT='@CERT@', MASTER_SSL_KEY='@KEY@', "
         "MASTER_SSL_VERIFY_SERVER_CERT=1"),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_replication_verifies_the_primary(engine, expected):
    assert engine.sql_source_tls == expected


def test_reload_statements():
    assert mysql_ha.MYSQL_8_4.sql_reload_tls == mysql_ha.MYSQL_9_7.sql_reload_tls == "ALTER INSTANCE RELOAD TLS"
    assert mysql_ha.MARIADB_11_4.sql_reload_tls == "FLUSH LOCAL SSL"  # not binary-logged
    assert mysql_ha.MYSQL_5_7.sql_reload_tls == ""  # 5.7 has no reload: restart


def test_certificate_names_every_pod_and_service():
    manifests = tls_chart("mysql-8.4", replicas=3)
    certificate = by_kind(manifests, "Certificate", "mysql-tls")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    assert certificate["metadata"]["namespace"] == "mysql"
    spec = certificate["spec"]
    assert spec["secretName"] == "mysql-tls"
    assert spec["issuerRef"] == {"name": "mysql-ca", "kind": "Issuer", "group": "cert-manager.io"}
    assert {"server auth", "client auth"} <= set(spec["usages"])
    names = spec["dnsNames"]
    for host in ["mysql-0.mysql", "mysql-1.mysql", "mysql-2.mysql", "mysql-2.mysql.mysql.svc.cluster.local",
                 "mysql-read", "mysql-read.mysql.svc.cluster.local", "mysql-primary.mysql",
                 "mysql.mysql.svc.cluster.local"]:
        assert any(covers(pattern, host) for pattern in names), host
    assert not any(covers(pattern, "mysql-3.mysql") for pattern in names)


def test_cluster_issuer_and_own_secret_name():
    tls = mysql_ha.MySQLTLS.from_cert_manager(issuer_name="corp-ca", issuer_kind="ClusterIssuer",
                                              secret_name="db-cert", extra_dns_names=["db.example.com"])
    manifests = tls_chart("mariadb-11.4", tls)
    spec = by_kind(manifests, "Certificate", "db-cert")["spec"]
    assert spec["issuerRef"]["kind"] == "ClusterIssuer" and spec["secretName"] == "db-cert"
    assert "db.example.com" in spec["dnsNames"]
    (volume,) = [v for v in pod_spec(manifests)["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == "db-cert"


def test_existing_secret_makes_no_certificate():
    manifests = tls_chart("mysql-8.4", EXISTING_SECRET)
    assert by_kind(manifests, "Certificate") == []


def test_clone_stream_port_stays_member_only(engine_name):
    policy = by_kind(tls_chart(engine_name), "NetworkPolicy", "mysql")
    ports = [rule["ports"][0]["port"] for rule in policy["spec"]["ingress"]]
    assert ports == ([3306, 3307] if mysql_ha.ENGINES[engine_name].serves_backup_streams else [3306])


def test_metrics_exporter_speaks_tls():
    chart = new_chart()
    add_stack(chart, metrics=True, config={"tls": CERT_MANAGER}, credentials=password_credentials("metrics_password"))
    manifests = synth(chart)
    metrics = container(manifests, "metrics")
    assert "--tls.insecure-skip-verify" in metrics["args"]
    # Its own option file (which names the CA) and the certificate: nothing else.
    assert metrics["volumeMounts"] == [
        {"name": "metrics-auth", "mountPath": "/etc/mysql-ha/auth", "readOnly": True},
        {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
    ]


def test_chart_passes_tls_through():
    chart = mysql_ha.MySQLHAChart(new_chart().node.scope, "other", credentials=existing_secret(), tls=CERT_MANAGER,
                                  require_secure_transport=False)
    assert chart.config.tls is CERT_MANAGER and chart.config.require_secure_transport is False


# --- wildcard matching as OpenSSL does it ---------------------------------------------------


@pytest.mark.parametrize(
    "pattern, name, expected",
    [
        ("mysql-0.mysql", "mysql-0.mysql", True),
        ("*.mysql.db", "mysql-0.mysql.db", True),
        ("*.mysql.db", "a.b.mysql.db", False),  # one label only
        ("*.mysql", "mysql-0.mysql", False),  # OpenSSL needs two dots after the star
        ("*.mysql.db.svc.cluster.local", "mysql-1.mysql.db.svc.cluster.local", True),
        ("mysql-read", "mysql-read.db", False),
    ],
)
def test_covers(pattern, name, expected):
    assert covers(pattern, name) is expected


# --- synth-time errors ----------------------------------------------------------------------


def _config(**props):
    chart = new_chart()
    return mysql_ha.MySQLConfig(chart, "Config", credentials=existing_secret(), **props)


@pytest.mark.parametrize(
    "build, message",
    [
        pytest.param(lambda: mysql_ha.MySQLTLS(), "TLS needs a certificate source: MySQLTLS.from_cert_manager",
                     id="no-source"),
        pytest.param(lambda: _config(tls=True), "tls must be MySQLTLS.from_cert_manager(issuer_name=...) or "
                     "MySQLTLS.from_existing_secret(secret_name, dns_names=[...]) (a certificate source), got True",
                     id="tls-true"),
        pytest.param(lambda: mysql_ha.MySQLTLS.from_existing_secret("my-tls", dns_names=[]),
                     "dns_names must list the names that the certificate in Secret 'my-tls' holds", id="no-names"),
        pytest.param(lambda: mysql_ha.MySQLTLS.from_existing_secret("my-tls", dns_names="mysql-0.mysql"),
                     "dns_names must be a list of DNS names, got 'mysql-0.mysql'", id="names-string"),
        pytest.param(lambda: mysql_ha.MySQLTLS.from_existing_secret("my-tls", dns_names=["Mysql-0"]),
                     "dns_names must hold DNS names (lower-case letters, digits, '-' and '.', a '*.' wildcard only "
                     "in front), got 'Mysql-0'", id="bad-name"),
        pytest.param(lambda: mysql_ha.MySQLTLS.from_existing_secret("my-tls", dns_names=["a.*.b"]),
                     "got 'a.*.b'", id="inner-wildcard"),
        pytest.param(lambda: mysql_ha.MySQLTLS.from_cert_manager(issuer_name="ca", issuer_kind="Vault"),
                     "issuer_kind must be one of Issuer, ClusterIssuer, got 'Vault'", id="issuer-kind"),
        pytest.param(lambda: mysql_ha.MySQLTLS.from_cert_manager(issuer_name="Bad_Name"),
                     "issuer_name must be a DNS-1123 subdomain", id="issuer-name"),
        pytest.param(lambda: mysql_ha.MySQLTLS.from_cert_manager(issuer_name="ca", duration_hours=24,
                                                                 renew_before_hours=24),
                     "renew_before_hours must be an integer between 1 and 23 (renewal must start before the "
                     "certificate's duration of 24 hours ends), got 24", id="renew-before"),
        pytest.param(lambda: _config(require_secure_transport=True),
                     "require_secure_transport=True needs TLS: pass tls=MySQLTLS.from_cert_manager(...) or "
                     "MySQLTLS.from_existing_secret(...), or leave require_secure_transport unset, got tls=None",
                     id="secure-transport-without-tls"),
        pytest.param(lambda: _config(tls=CERT_MANAGER, require_secure_transport="yes"),
                     "require_secure_transport must be True, False or None (follows tls), got 'yes'",
                     id="secure-transport-type"),
        pytest.param(lambda: _config(tls=CERT_MANAGER, engine=mysql_ha.MYSQL_5_7),
                     "tls with engine mysql-5.7: its clone stream travels with ncat, which cannot demand a client "
                     "certificate", id="ncat-engine"),
        pytest.param(lambda: _config(tls=CERT_MANAGER, server_settings={"ssl_cert": "/x.pem"}),
                     "server_settings must not set 'ssl_cert': the tls prop points it at the mounted certificate",
                     id="own-ssl-cert"),
        pytest.param(lambda: _config(server_settings={"require_secure_transport": "ON"}),
                     "server_settings must not set 'require_secure_transport': it is the require_secure_transport "
                     "prop", id="setting-instead-of-prop"),
        pytest.param(lambda: tls_chart("mysql-8.4", mysql_ha.MySQLTLS.from_existing_secret(
                         "my-tls", dns_names=["mysql-0.mysql", "*.mysql.mysql.svc.cluster.local", "mysql",
                                              "mysql-read", "mysql-primary"])),
                     "dns_names of the certificate in Secret 'my-tls' must cover every pod and Service of the set; "
                     "missing: mysql-1.mysql, mysql.mysql.svc.cluster.local, mysql-read.mysql.svc.cluster.local, "
                     "mysql-primary.mysql.svc.cluster.local", id="names-miss-pod-and-services"),
        pytest.param(lambda: tls_chart("mysql-8.4", EXISTING_SECRET, storage_class_name="x", replicas=5),
                     "missing: mysql-4.mysql (got", id="names-miss-scaled-pod"),
    ],
)
def test_invalid_tls_is_refused(build, message):
    with pytest.raises(ValueError) as error:
        build()
    assert message in str(error.value)


def test_a_tls_capable_ncat_engine_is_refused_but_socat_is_not():
    socat_57 = dataclasses.replace(mysql_ha.MYSQL_5_7, name="mysql-5.7-socat", transport="socat")
    assert socat_57.authenticates_clone_streams
    _config(tls=CERT_MANAGER, engine=socat_57)


# --- schemas and policy ---------------------------------------------------------------------

VARIANTS = {
    **{f"{name}-cert-manager": (lambda name=name: tls_chart(name)) for name in TLS_ENGINE_NAMES},
    "existing-secret": lambda: tls_chart("mariadb-11.4", EXISTING_SECRET, replicas=3),
    "no-secure-transport": lambda: tls_chart("mysql-8.4", require_secure_transport=False),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("version", ["1.27", "1.37"])
def test_tls_charts_pass_strict_schema_validation(variant, version):
    # The cert-manager Certificate is a custom resource: Kubernetes' schemas do not describe it,
    # so it is left out here (its fields are asserted above).
    for manifest in without_custom_resources(VARIANTS[variant]()):
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:  # pragma: no cover - message on failure
            pytest.fail(f"{manifest['kind']} {manifest['metadata']['name']} is invalid for {version}: {error}")


def test_tls_charts_pass_the_policy_scan(tmp_path):
    checkov = os.environ.get("CHECKOV", str(REPO / ".checkov" / "bin" / "checkov"))
    if not os.path.exists(checkov):
        pytest.fail(f"checkov not found at {checkov}: python3 -m venv .checkov && .checkov/bin/pip install checkov",
                    pytrace=False)
    for name, build in VARIANTS.items():
        (tmp_path / f"{name}.yaml").write_text(to_yaml(build()))
    result = subprocess.run(
        [checkov, "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, timeout=300,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})"
              for report in reports for c in report["results"]["failed_checks"]]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert sum(report["summary"]["passed"] for report in reports) > 300
