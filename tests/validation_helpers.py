"""What the invalid-configuration tests share: valid passwords (each test about one bad value
keeps the others good) and builders of each construct with a few props."""

from __future__ import annotations

import re
import secrets

import pytest
from synth_helpers import add_stack, existing_secret, new_app, new_chart

import mysql_ha

GOOD_ROOT = secrets.token_urlsafe(16)
GOOD_REPLICATION = secrets.token_urlsafe(16)
GOOD_CLONE = secrets.token_urlsafe(16)
GOOD_ADMIN = secrets.token_urlsafe(16)
GOOD_STATUS = secrets.token_urlsafe(16)
GOOD_PASSWORDS = {"root_password": GOOD_ROOT, "admin_password": GOOD_ADMIN, "status_password": GOOD_STATUS,
                  "replication_password": GOOD_REPLICATION, "clone_password": GOOD_CLONE}
ALL_REQUIRED = "root_password, admin_password, status_password, replication_password, clone_password"


def chart_with(**props):
    return mysql_ha.MySQLHAChart(new_app(), "mysql-ha", credentials=existing_secret(), **props)


def storage_with(**props):
    return mysql_ha.LocalStorage(new_chart(), "Storage", **props)


def stack_with(**props):
    return add_stack(new_chart(), **props)


def config_with(**props):
    return mysql_ha.MySQLConfig(new_chart(), "Config", **{"credentials": existing_secret(), **props})


def passwords(**props):
    return mysql_ha.MySQLCredentials.from_passwords(**{**GOOD_PASSWORDS, **props})


def constructed(**props):
    """The public constructor (not from_passwords), with ``props`` alone."""
    return mysql_ha.MySQLCredentials(secret_name="mysql-credentials", **props)


def without(*names):
    return {name: value for name, value in GOOD_PASSWORDS.items() if name not in names}


def backup_of(engine_name, credentials):
    return mysql_ha.MySQLHAChart(new_app(), "mysql-ha", engine=mysql_ha.ENGINES[engine_name], credentials=credentials,
                                 backup_target=mysql_ha.BackupTarget.volume_claim("mysql-backups"))


def too_long_replication_password(engine_name):
    return pytest.param(
        lambda: config_with(engine=mysql_ha.ENGINES[engine_name], credentials=passwords(replication_password="r" * 33)),
        rf"replication_password must be at most 32 characters for engine {re.escape(engine_name)} "
        r"\(its change-source statement refuses longer ones\), got 33",
        id=f"replication-password-33-characters-{engine_name}",
    )


def owned_by_the_engine(engine_name, prop, key):
    return pytest.param(
        lambda: config_with(engine=mysql_ha.ENGINES[engine_name], **{prop: {key: "OFF"}}),
        rf"{prop} must not set '{key}': ",
        id=f"{prop}-{key}-{engine_name}",
    )


def assert_one_clear_error(build, message: str) -> None:
    """``build()`` raises one ValueError matching ``message``, which echoes no password."""
    with pytest.raises(ValueError, match=message) as raised:
        build()
    for name, password in GOOD_PASSWORDS.items():
        assert password not in str(raised.value), name
