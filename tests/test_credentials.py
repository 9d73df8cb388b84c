"""MySQLCredentials: a reference to an existing Secret, or a Secret built from passwords."""

from __future__ import annotations

import copy
import dataclasses
import secrets

import pytest
from synth_helpers import by_kind, new_chart, synth

import mysql_ha


def random_password() -> str:
    return secrets.token_urlsafe(18)


def secret_manifests(credentials):
    chart = new_chart()
    mysql_ha.MySQLConfig(chart, "Config", credentials=credentials)
    return synth(chart)


def test_snapshot(yaml_snapshot):
    root, replication, clone = random_password(), random_password(), random_password()
    manifests = secret_manifests(
        mysql_ha.MySQLCredentials.from_passwords(root_password=root, replication_password=replication,
                                                 clone_password=clone)
    )
    secret = copy.deepcopy(by_kind(manifests, "Secret", "mysql-credentials"))
    assert secret["stringData"] == {"root-password": root, "replication-password": replication,
                                    "clone-password": clone}
    # The snapshot holds the Secret's shape, not the (random) passwords.
    secret["stringData"] = {key: f"<{key}>" for key in secret["stringData"]}
    assert [secret] == yaml_snapshot


def test_from_existing_secret_defaults():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials")
    assert credentials.secret_name == "mysql-credentials"
    assert credentials.root_password_key == "root-password"
    assert credentials.replication_password_key == "replication-password"
    assert credentials.clone_password_key == "clone-password"
    assert credentials.replication_user == "repl"
    assert credentials.clone_user == "clone"
    assert credentials.root_password is None and credentials.replication_password is None
    assert credentials.clone_password is None
    assert credentials.creates_secret is False
    assert by_kind(secret_manifests(credentials), "Secret") == []


def test_from_passwords_defaults():
    credentials = mysql_ha.MySQLCredentials.from_passwords(
        root_password=random_password(), replication_password=random_password()
    )
    assert credentials.secret_name == "mysql-credentials"
    assert credentials.replication_user == "repl"
    assert credentials.clone_user == "clone"
    assert credentials.clone_password is None  # needed by the clone-plugin engines only
    assert credentials.creates_secret is True


def test_replication_user_reaches_the_scripts():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials", replication_user="replicator")
    env = by_kind(secret_manifests(credentials), "ConfigMap", "mysql-env")["data"]
    assert env["MYSQL_HA_REPLICATION_USER"] == "replicator"


def test_custom_keys_land_in_the_secret():
    root, replication, clone = random_password(), random_password(), random_password()
    credentials = mysql_ha.MySQLCredentials(
        secret_name="db-passwords",
        root_password_key="root.pw",
        replication_password_key="repl.pw",
        clone_password_key="clone.pw",
        root_password=root,
        replication_password=replication,
        clone_password=clone,
    )
    secret = by_kind(secret_manifests(credentials), "Secret", "db-passwords")
    assert secret["stringData"] == {"root.pw": root, "repl.pw": replication, "clone.pw": clone}


def test_passwords_stay_out_of_repr_and_str():
    root, replication, clone = random_password(), random_password(), random_password()
    credentials = mysql_ha.MySQLCredentials.from_passwords(root_password=root, replication_password=replication,
                                                           clone_password=clone)
    for text in (repr(credentials), str(credentials)):
        assert root not in text and replication not in text and clone not in text


def test_credentials_are_immutable():
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials")
    with pytest.raises(dataclasses.FrozenInstanceError):
        credentials.replication_user = "root"  # type: ignore[misc]
