"""Every program a pod's commands and scripts call is in the image that runs it.

The images' programs are the allow-lists of the emulator's stand-ins
(``tests/emulator/images/allowlists.py``, evidence in docs/images.md): the official
``mysql:8.4`` has no ``tar``, ``mysqlbinlog`` nor ``socat``, ``rclone/rclone`` has busybox's
applets and no bash. See ``image_programs.py`` for how commands are found.
"""

from __future__ import annotations

import pytest
from image_programs import PROGRAMS, UNLISTED_IMAGES, Scanner, scan
from synth_helpers import ENGINE_NAMES, whole_chart

import mysql_ha
from mysql_ha import BackupTarget, RestoreFrom

S3 = BackupTarget.s3(endpoint="http://s3.storage:9000", bucket="mysql-backups", prefix="prod", secret_name="s3-keys")


def every_container(engine_name: str) -> list[dict]:
    """The chart with every optional pod part the engine offers: backups with binary log
    archiving, a point-in-time restore, TLS, metrics."""
    engine = mysql_ha.ENGINES[engine_name]
    props: dict = {"replicas": 3}
    if engine.supports_backups:
        props["backup_target"] = S3
        props["restore_from"] = RestoreFrom(S3, point_in_time="2026-11-26T10:00:00Z")
    return whole_chart(engine, **props)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_every_program_a_container_calls_is_in_its_image(engine_name):
    scanners = scan(every_container(engine_name))
    images = {s.image for s in scanners}
    assert images <= set(PROGRAMS) | set(UNLISTED_IMAGES), f"images without an allow-list: {images - set(PROGRAMS)}"
    missing = [f"{c.container} ({c.image}) calls {c.program} in {c.origin}" for s in scanners for c in s.missing()]
    assert missing == [], "\n".join(missing)


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_every_command_word_is_resolved(engine_name):
    unresolved = [f"{c.container}: {c.program} in {c.origin}"
                  for s in scan(every_container(engine_name)) for c in s.reachable(s.unresolved)]
    assert unresolved == [], "\n".join(unresolved)


def test_tar_mysqlbinlog_and_socat_are_caught_in_a_mysql_container_not_builtins_nor_functions():
    script = """
set -o errexit
pack() { tar -C "$1" -cf - . | zstd -q; }
pack /var/lib/mysql >"$(mktemp)"
exec 3>/dev/null
if [[ -n ${MYSQL_HA_TLS_DIR:-} ]]; then printf 'x'; fi
mysqlbinlog --stop-datetime="$STOP" mysql-bin.000001 | mysql
x=$(timeout 5 socat -u TCP:host:3307 STDOUT | wc -c)
case $MYSQL_HA_TRANSPORT in
  ncat) ncat --recv-only host 3307 ;;
  *) "$MYSQL_HA_CLIENT" -e 'SELECT 1' ;;
esac
"""
    found = {}
    for image in ("mysql:8.4", "mariadb:11.4"):
        scanner = Scanner(image, "test", {"MYSQL_HA_TRANSPORT": "", "MYSQL_HA_CLIENT": "mysql"})
        scanner.text(script, "bash", "test.sh")
        found[image] = sorted({c.program for c in scanner.missing()})
    # The case takes "*" for this engine: ncat is never called; pack is a function.
    assert found["mysql:8.4"] == ["mysqlbinlog", "socat", "tar"]
    assert found["mariadb:11.4"] == ["mysql", "mysqlbinlog"]


def test_the_allow_lists_hold_what_the_official_images_have_and_lack():
    assert {"bash", "mysqld", "mysql", "mysqladmin", "mysqlsh", "zstd", "gzip", "find", "awk", "sed"} <= PROGRAMS["mysql:8.4"]
    assert not {"tar", "mysqlbinlog", "socat", "ncat", "perl", "ps", "hostname", "xtrabackup"} & PROGRAMS["mysql:8.4"]
    assert {"mariadbd", "mariadb", "mariadb-backup", "mbstream", "mariadb-binlog", "socat", "tar", "zstd"} \
        <= PROGRAMS["mariadb:11.4"]
    assert not {"mysql", "mysqladmin", "mysqld", "mysqldump", "ncat", "curl"} & PROGRAMS["mariadb:11.4"]
    assert {"rclone", "sh", "sed", "date", "sha256sum"} <= PROGRAMS["rclone/rclone:1.75"]
    assert not {"bash", "perl", "mysql"} & PROGRAMS["rclone/rclone:1.75"]
