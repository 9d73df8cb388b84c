"""What stands in for each container image: the host's MariaDB install.

``mariadb:11.4`` (server, clone and sidecar image of the MariaDB engine) stands in as:
the host's MariaDB 10.11 binaries (mariadbd, mariadb, mariadb-admin, mariadb-backup,
mbstream) plus socat and bash; ``/etc/mysql`` from ``images/mariadb/etc-mysql``; the
entrypoint ``images/mariadb/entrypoint/docker-entrypoint.sh`` with the command
``mariadbd``, as in the image; a private ``/run/mysqld`` and ``/tmp`` per container.

Only images listed here can be emulated; the MySQL engines' images have no stand-in
(no MySQL server can be installed on these machines), so their SQL is checked by the
unit tests only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent / "images"


@dataclass(frozen=True)
class ImageStandIn:
    image: str
    entrypoint: list[str]
    cmd: list[str]
    extra_mounts: Callable[[object, object], list[tuple[str, Path]]]

    def mounts(self, pod, container) -> list[tuple[str, Path]]:
        return self.extra_mounts(pod, container)


def _mariadb_mounts(pod, container) -> list[tuple[str, Path]]:
    private = pod.dir / "image" / container.name
    for sub in ("run-mysqld", "tmp"):
        (private / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("run-mysqld", "tmp"):
        (private / sub).chmod(0o1777)
    return [
        # The entrypoint is reached through a mount of its own: the checkout may sit below a
        # folder the container cannot see (/tmp, hidden by the pod's /tmp) or enter (/root).
        (IMAGE_DIR, HERE / "mariadb" / "entrypoint"),
        ("/etc/mysql", HERE / "mariadb" / "etc-mysql"),
        ("/run/mysqld", private / "run-mysqld"),
        ("/tmp", private / "tmp"),
    ]


IMAGE_DIR = "/usr/local/lib/mysql-ha-emulated-image"

MARIADB = ImageStandIn(
    image="mariadb:11.4",
    entrypoint=["bash", f"{IMAGE_DIR}/docker-entrypoint.sh"],
    cmd=["mariadbd"],
    extra_mounts=_mariadb_mounts,
)

STAND_INS = {MARIADB.image: MARIADB}


def stand_in_for(image: str, cluster=None) -> ImageStandIn:
    try:
        return STAND_INS[image]
    except KeyError:
        raise RuntimeError(f"no stand-in for image {image!r}; emulated images: {sorted(STAND_INS)}") from None
