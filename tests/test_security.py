"""Passwords: only in the Secret, never on a command line, never in code or dist/."""

from __future__ import annotations

import re
import secrets

import pytest
import yaml
from synth_helpers import (
    DIST, ENGINE_NAMES, REPO, SIDECARS, all_containers, by_kind, config_map, container, existing_secret, pod_spec,
    walk_strings, whole_chart,
)
from tls_helpers import CERT_MANAGER

import mysql_ha

# The tracked source that ends up in the package or in dist/.
SOURCE_FILES = sorted(
    [*(REPO / "mysql_ha").glob("*.py"), *SIDECARS.glob("*.sh"), REPO / "main.py"]
)


def random_password() -> str:
    # Letters, digits, '-' and '_', plus characters that need escaping in SQL and option files.
    return secrets.token_urlsafe(18) + "'\"\\&"


PASSWORD_KEYS = {"root_password": "root-password", "admin_password": "admin-password",
                 "status_password": "status-password", "replication_password": "replication-password",
                 "clone_password": "clone-password", "metrics_password": "metrics-password",
                 "backup_password": "backup-password"}
BACKUP_TARGET = mysql_ha.BackupTarget.volume_claim("mysql-backups")
BACKUP_ENGINE_NAMES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].supports_backups]


def full_chart(engine, credentials):
    """Every container the set can have: the exporter and, where offered, the backup Job and
    the binary-log archiver."""
    return whole_chart(engine, credentials, metrics=True,
                       backup_target=BACKUP_TARGET if engine.supports_backups else None)


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def with_passwords(request):
    """(passwords by prop, manifests) of a set built from_passwords, with every optional password."""
    passwords = {prop: random_password() for prop in PASSWORD_KEYS}
    credentials = mysql_ha.MySQLCredentials.from_passwords(**passwords)
    return passwords, full_chart(mysql_ha.ENGINES[request.param], credentials)


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def every_container(request):
    """(engine, manifests) of a set with every container, from an existing Secret."""
    engine = mysql_ha.ENGINES[request.param]
    return engine, full_chart(engine, existing_secret())


def pod_containers(manifests):
    """(pod, container) of every pod template: the set's and the backup Job's."""
    for manifest in manifests:
        spec = manifest.get("spec", {})
        if manifest["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = spec.get("template", {}).get("spec")
        if pod is not None:
            for each in pod.get("initContainers", []) + pod["containers"]:
                yield manifest["metadata"]["name"], each


def mount_names(each):
    return {mount["name"] for mount in each.get("volumeMounts", [])}


def command_lines(manifests):
    """(container, where, argument) for every command, args and exec probe argument."""
    for container in all_containers(manifests):
        for field in ("command", "args"):
            for argument in container.get(field, []):
                yield container["name"], field, argument
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            for argument in container.get(probe, {}).get("exec", {}).get("command", []):
                yield container["name"], probe, argument


def test_passwords_appear_only_in_the_secret_string_data(with_passwords):
    passwords, manifests = with_passwords
    found = []
    for manifest in manifests:
        for path, text in walk_strings(manifest):
            for prop, password in passwords.items():
                if password in text:
                    found.append((manifest["kind"], manifest["metadata"]["name"], path, prop))
    assert sorted(found) == sorted(("Secret", "mysql-credentials", f"/stringData/{PASSWORD_KEYS[prop]}", prop)
                                   for prop in passwords)


def test_containers_read_passwords_from_files_only(with_passwords):
    passwords, manifests = with_passwords
    for pod, container in pod_containers(manifests):
        for entry in container.get("env", []):
            assert "valueFrom" not in entry or "secretKeyRef" not in entry["valueFrom"], (pod, container["name"], entry)
            assert all(password not in entry.get("value", "") for password in passwords.values())
            # Not even a path to one: no password reaches a process's environment.
            assert "PASSWORD" not in entry["name"], (pod, container["name"], entry)
        assert all("secretRef" not in source for source in container.get("envFrom", [])), (pod, container["name"])
    for _, _, argument in command_lines(manifests):
        assert all(password not in argument for password in passwords.values())


# --- who reads which password -------------------------------------------------------------------


def test_only_init_mysql_mounts_the_secret(every_container):
    """init-mysql reads the Secret and hands each container the option files it uses; no other
    container of the set's pod can read a password it does not use."""
    _, manifests = every_container
    mounting = [each["name"] for each in all_containers(manifests) if "credentials" in mount_names(each)]
    assert mounting == ["init-mysql"]
    (volume,) = [v for v in pod_spec(manifests)["volumes"] if v["name"] == "credentials"]
    assert volume["secret"]["optional"] is True


def test_the_server_gets_no_password_through_its_environment(every_container):
    engine, manifests = every_container
    server = container(manifests, "mysql")
    assert server["command"] == [engine.server]
    # With its binary logs archived, the server's own expiry is off (the pods purge what is archived).
    archived = [engine.binlog_keep_option] if engine.supports_backups else []
    assert server["args"] == ["--init-file=/etc/mysql-ha/auth/bootstrap.sql", *archived]
    assert [e["name"] for e in server.get("env", []) if "PASSWORD" in e["name"]] == []
    assert mount_names(server) & {"credentials", "sidecar-auth", "metrics-auth"} == set()
    assert "server-auth" in mount_names(server)


def test_the_replication_sidecar_reads_its_own_option_files_only(every_container):
    _, manifests = every_container
    mounts = mount_names(container(manifests, "replication"))
    assert "sidecar-auth" in mounts
    assert mounts & {"credentials", "server-auth", "metrics-auth", "clone-credentials"} == set()


def test_the_exporter_reads_its_own_option_file_only(every_container):
    _, manifests = every_container
    exporter = container(manifests, "metrics")
    assert exporter["args"][0] == "--config.my-cnf=/etc/mysql-ha/auth/exporter.cnf"
    assert exporter["volumeMounts"] == [
        {"name": "metrics-auth", "mountPath": "/etc/mysql-ha/auth", "readOnly": True}]


def test_the_exporter_with_tls_adds_the_certificate_alone():
    manifests = whole_chart(mysql_ha.MYSQL_8_4, existing_secret(), metrics=True, tls=CERT_MANAGER)
    assert mount_names(container(manifests, "metrics")) == {"metrics-auth", "tls"}


@pytest.mark.parametrize("engine_name", BACKUP_ENGINE_NAMES)
def test_the_binlog_archiver_reads_no_password(engine_name):
    manifests = full_chart(mysql_ha.ENGINES[engine_name], existing_secret())
    mounts = mount_names(container(manifests, "binlog-archive"))
    assert "credentials" not in mounts
    assert not [name for name in mounts if name.endswith("-auth")], mounts


@pytest.mark.parametrize("engine_name", BACKUP_ENGINE_NAMES)
def test_the_backup_job_reads_the_status_and_backup_passwords_alone(engine_name):
    manifests = full_chart(mysql_ha.ENGINES[engine_name], existing_secret())
    pod = by_kind(manifests, "CronJob", "mysql-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v and v["name"] == "credentials"]
    # MySQL's Job copies a server as the backup account (CLONE INSTANCE); MariaDB's reads the
    # pod's backup stream and logs in only to choose the source.
    expected = ["status-password", *(["backup-password"] if engine_name in ("mysql-8.4", "mysql-9.7") else [])]
    assert volume["secret"]["items"] == [{"key": key, "path": key} for key in expected]
    assert volume["secret"]["defaultMode"] & 0o007 == 0
    mounting = [each["name"] for each in pod.get("initContainers", []) + pod["containers"]
                if "credentials" in mount_names(each)]
    assert mounting == ["backup"]


def test_the_restore_reads_no_password():
    """The restored server runs without grant tables; the set's server sets its accounts from
    its init file when it first starts."""
    restore = mysql_ha.RestoreFrom(BACKUP_TARGET)
    for name in ("mysql-8.4", "mariadb-11.4"):
        manifests = whole_chart(mysql_ha.ENGINES[name], restore_from=restore)
        for each in ("restore-fetch", "restore-mysql"):
            mounts = mount_names(container(manifests, each))
            assert "credentials" not in mounts and "clone-credentials" not in mounts, (name, each)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_no_password_option_on_any_command_line(engine_name):
    manifests = whole_chart(mysql_ha.ENGINES[engine_name])
    for container, where, argument in command_lines(manifests):
        assert not (argument.startswith("-p") and not argument.startswith("--")), (container, where, argument)
        assert not argument.startswith("--password"), (container, where, argument)
        assert "MYSQL_PWD" not in argument, (container, where, argument)
    for container in all_containers(manifests):
        assert "MYSQL_PWD" not in {e["name"] for e in container.get("env", [])}, container["name"]


def test_scripts_pass_no_password_on_a_command_line():
    for script in sorted(SIDECARS.glob("*.sh")):
        for number, line in enumerate(script.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            assert "MYSQL_PWD" not in line, f"{script.name}:{number}: {line}"
            assert not re.search(r"(^|\s)--password(=|\s)", line), f"{script.name}:{number}: {line}"
            assert not re.search(r"(^|\s)-p[\"'$]", line), f"{script.name}:{number}: {line}"


def test_secret_volumes_are_not_world_readable():
    manifests = whole_chart()
    volumes = [v for v in by_kind(manifests, "StatefulSet")[0]["spec"]["template"]["spec"]["volumes"] if "secret" in v]
    assert [v["name"] for v in volumes] == ["credentials", "clone-credentials"]
    for volume in volumes:
        assert volume["secret"]["defaultMode"] & 0o007 == 0, volume["name"]


def test_replication_user_is_not_root(engine):
    env = config_map(whole_chart(engine), "mysql-env")["data"]
    assert env["MYSQL_HA_REPLICATION_USER"] == "repl"
    assert env["MYSQL_HA_REPLICATION_USER"].lower() != "root"


def test_the_set_s_own_accounts_are_named_for_the_scripts(engine):
    """The sidecar, the probes and the backup Job log in as their own accounts, never as root."""
    env = config_map(whole_chart(engine), "mysql-env")["data"]
    assert (env["MYSQL_HA_ADMIN_USER"], env["MYSQL_HA_STATUS_USER"]) == ("mysqlha_admin", "mysqlha_status")
    assert env["MYSQL_HA_BACKUP_USER"] == ("mysqlha_backup" if engine.backup_grants else "")
    assert env["MYSQL_HA_CLONE_USER"] == "clone"
    users = [env[name] for name in ("MYSQL_HA_ADMIN_USER", "MYSQL_HA_STATUS_USER", "MYSQL_HA_REPLICATION_USER",
                                    "MYSQL_HA_CLONE_USER", "MYSQL_HA_BACKUP_USER") if env[name]]
    assert len(set(users)) == len(users) and "root" not in users


def test_dist_holds_no_secret():
    files = sorted(DIST.glob("*.yaml"))
    assert files, "dist/ has manifests"
    for path in files:
        text = path.read_text()
        assert not re.search(r"^kind:\s*Secret\s*$", text, re.MULTILINE), path.name
        for document in yaml.safe_load_all(text):
            assert document["kind"] != "Secret"
            # (The scripts' messages may name a Secret's stringData; no object carries one.)
            assert "stringData" not in document, path.name
            assert "data" not in document or document["kind"] == "ConfigMap"


# `password = "..."`, `PASSWORD: '...'`, `IDENTIFIED BY '...'` and friends with a literal
# value: placeholders (@PASSWORD@), expansions ($x, ${x}), format fields (%s, {x}) are fine.
_PASSWORD_LITERAL = re.compile(
    r"""(?ix)
    (?: (?:password|passwd|pwd) \s* (?:=|:) \s* | identified \s+ by \s+ )
    (?P<quote>["'])(?P<value>[^"'\n]*)(?P=quote)
    """
)
_NOT_A_LITERAL = re.compile(r"^$|^@\w+@$|\$|%[sd]|\{")


def suspicious_password_literals(text: str) -> list[str]:
    return [
        match.group(0)
        for match in _PASSWORD_LITERAL.finditer(text)
        if not _NOT_A_LITERAL.search(match.group("value"))
    ]


@pytest.mark.parametrize(
    "text, suspicious",
    [
        ('root_password = "hunter2hunter2"', True),
        ("MASTER_PASSWORD='s3cret!!'", True),
        ("IDENTIFIED BY 'changeme123'", True),
        ("adminPassword: 'secret'", True),
        ("SOURCE_PASSWORD='@PASSWORD@'", False),
        ("IDENTIFIED BY '${password}'", False),
        ('password="%s"', False),
        ('MYSQL_PWD="$pw"', False),
        ('raise ValueError(f"{prop} must be ...")', False),
    ],
)
def test_password_literal_detector(text, suspicious):
    assert bool(suspicious_password_literals(text)) is suspicious


@pytest.mark.parametrize("path", SOURCE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_password_literal_in_source(path):
    assert suspicious_password_literals(path.read_text()) == []
