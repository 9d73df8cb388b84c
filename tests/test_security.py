"""Passwords: only in the Secret, never on a command line, never in code or dist/."""

from __future__ import annotations

import re
import secrets

import pytest
import yaml
from synth_helpers import (
    DIST, ENGINE_NAMES, REPO, SIDECARS, add_stack, all_containers, by_kind, new_chart, synth, walk_strings, whole_chart,
)

import mysql_ha

# The tracked source that ends up in the package or in dist/.
SOURCE_FILES = sorted(
    [*(REPO / "mysql_ha").glob("*.py"), *SIDECARS.glob("*.sh"), REPO / "main.py"]
)


def random_password() -> str:
    # Letters, digits, '-' and '_', plus characters that need escaping in SQL and option files.
    return secrets.token_urlsafe(18) + "'\"\\&"


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def with_passwords(request):
    root, replication, clone = random_password(), random_password(), random_password()
    credentials = mysql_ha.MySQLCredentials.from_passwords(
        root_password=root, replication_password=replication, clone_password=clone
    )
    return root, replication, clone, whole_chart(mysql_ha.ENGINES[request.param], credentials)


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
    root, replication, clone, manifests = with_passwords
    found = []
    for manifest in manifests:
        for path, text in walk_strings(manifest):
            for label, password in (("root", root), ("replication", replication), ("clone", clone)):
                if password in text:
                    found.append((manifest["kind"], manifest["metadata"]["name"], path, label))
    assert sorted(found) == [
        ("Secret", "mysql-credentials", "/stringData/clone-password", "clone"),
        ("Secret", "mysql-credentials", "/stringData/replication-password", "replication"),
        ("Secret", "mysql-credentials", "/stringData/root-password", "root"),
    ]


def test_metrics_password_appears_only_in_the_secret():
    root, replication, metrics, clone = random_password(), random_password(), random_password(), random_password()
    chart = new_chart()
    add_stack(
        chart,
        credentials=mysql_ha.MySQLCredentials.from_passwords(
            root_password=root, replication_password=replication, metrics_password=metrics, clone_password=clone
        ),
        metrics=True,
    )
    manifests = synth(chart)
    found = [
        (manifest["kind"], path)
        for manifest in manifests
        for path, text in walk_strings(manifest)
        if any(password in text for password in (root, replication, metrics, clone))
    ]
    assert sorted(found) == [
        ("Secret", "/stringData/clone-password"),
        ("Secret", "/stringData/metrics-password"),
        ("Secret", "/stringData/replication-password"),
        ("Secret", "/stringData/root-password"),
    ]
    for container in all_containers(manifests):
        assert all("valueFrom" not in entry for entry in container.get("env", [])), container["name"]


def test_containers_read_passwords_from_files_only(with_passwords):
    root, replication, clone, manifests = with_passwords
    for container in all_containers(manifests):
        for entry in container.get("env", []):
            assert "valueFrom" not in entry, (container["name"], entry)  # no secretKeyRef into env
            assert all(password not in entry.get("value", "") for password in (root, replication, clone))
            assert "PASSWORD" not in entry["name"] or entry["name"].endswith("_FILE"), entry
    for _, _, argument in command_lines(manifests):
        assert all(password not in argument for password in (root, replication, clone))


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


def test_secret_volume_is_not_world_readable():
    manifests = whole_chart()
    volume = next(
        v for v in by_kind(manifests, "StatefulSet")[0]["spec"]["template"]["spec"]["volumes"] if "secret" in v
    )
    assert volume["secret"]["defaultMode"] & 0o007 == 0


def test_replication_user_is_not_root(engine):
    env = by_kind(whole_chart(engine), "ConfigMap", "mysql-env")["data"]
    assert env["MYSQL_HA_REPLICATION_USER"] == "repl"
    assert env["MYSQL_HA_REPLICATION_USER"].lower() != "root"


def test_dist_holds_no_secret():
    files = sorted(DIST.glob("*.yaml"))
    assert files, "dist/ has manifests"
    for path in files:
        text = path.read_text()
        assert not re.search(r"^kind:\s*Secret\s*$", text, re.MULTILINE), path.name
        assert "stringData" not in text, path.name
        for document in yaml.safe_load_all(text):
            assert document["kind"] != "Secret"
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
