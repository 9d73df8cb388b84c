"""main.py, as `cdk8s synth` runs it: bad environment fails with the message and writes
nothing; the passwords of the environment become the Secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from synth_helpers import REPO
from validation_helpers import GOOD_ADMIN, GOOD_CLONE, GOOD_PASSWORDS, GOOD_REPLICATION, GOOD_ROOT, GOOD_STATUS

MAIN_PASSWORDS = {f"MYSQL_HA_{name.removesuffix('_password').upper()}_PASSWORD": password
                  for name, password in GOOD_PASSWORDS.items()}


def run_main(tmp_path, **environment):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_HA_")}
    env.update(CDK8S_OUTDIR=str(tmp_path), **environment)
    return subprocess.run(
        [sys.executable, "main.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "environment, message",
    [
        pytest.param(
            {"MYSQL_HA_ENGINE": "postgres-16"},
            "mysql-ha: engine must be one of mariadb-10.11, mariadb-11.4, mysql-5.7, mysql-8.4, mysql-9.7, got 'postgres-16'",
            id="bad-engine",
        ),
        pytest.param(
            {"MYSQL_HA_ROOT_PASSWORD": GOOD_ROOT, "MYSQL_HA_REPLICATION_PASSWORD": GOOD_REPLICATION},
            "set all of MYSQL_HA_ROOT_PASSWORD, MYSQL_HA_ADMIN_PASSWORD, MYSQL_HA_STATUS_PASSWORD, "
            "MYSQL_HA_REPLICATION_PASSWORD, MYSQL_HA_CLONE_PASSWORD, or none; missing: MYSQL_HA_ADMIN_PASSWORD, "
            "MYSQL_HA_STATUS_PASSWORD, MYSQL_HA_CLONE_PASSWORD",
            id="without-admin-status-and-clone-passwords",
        ),
        pytest.param(
            {"MYSQL_HA_ENGINE": "mariadb-11.4", **MAIN_PASSWORDS, "MYSQL_HA_REPLICATION_PASSWORD": "r" * 33},
            "replication_password must be at most 32 characters for engine mariadb-11.4",
            id="replication-password-too-long",
        ),
        pytest.param(
            {"MYSQL_HA_ROOT_PASSWORD": GOOD_ROOT},
            "or none; missing: MYSQL_HA_ADMIN_PASSWORD, MYSQL_HA_STATUS_PASSWORD, MYSQL_HA_REPLICATION_PASSWORD, "
            "MYSQL_HA_CLONE_PASSWORD",
            id="only-one-password",
        ),
        pytest.param(
            {**MAIN_PASSWORDS, "MYSQL_HA_STATUS_PASSWORD": GOOD_ADMIN},
            "must all differ: each account has its own password",
            id="same-status-and-admin-passwords",
        ),
    ],
)
def test_main_fails_with_the_message_and_writes_nothing(tmp_path, environment, message):
    result = run_main(tmp_path, **environment)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    for name, password in GOOD_PASSWORDS.items():
        assert password not in result.stderr + result.stdout, name
    assert list(tmp_path.iterdir()) == []


def test_main_builds_the_secret_from_all_five_passwords(tmp_path):
    result = run_main(tmp_path, **MAIN_PASSWORDS)
    assert result.returncode == 0, result.stderr
    secrets_ = [doc for path in tmp_path.glob("*.k8s.yaml") for doc in yaml.safe_load_all(path.read_text())
                if doc and doc["kind"] == "Secret"]
    assert [secret["stringData"] for secret in secrets_] == [{
        "root-password": GOOD_ROOT, "admin-password": GOOD_ADMIN, "status-password": GOOD_STATUS,
        "replication-password": GOOD_REPLICATION, "clone-password": GOOD_CLONE}]
