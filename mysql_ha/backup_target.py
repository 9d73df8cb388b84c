"""Where backups and archived binary logs live, and what a restore starts from.

``BackupTarget`` is shared by ``MySQLBackup`` (which writes to it) and
``ReplicatedMySQL(restore_from=RestoreFrom(...))`` (which reads from it). Both reach it with
rclone, configured through environment variables; S3 credentials are files of a mounted
Secret that the scripts export to rclone's process only (``sidecars/target.sh``): never in
an argument list, the pod spec's environment, or ``dist/``.

Layout under the target's location (a folder of the claim, or ``bucket/prefix``)::

    backups/<name>/data/...                 the data directory's files, each zstd-compressed
    backups/<name>/manifest                 written last: a backup without it never finished
    binlogs/<pod>/<series>/mysql-bin.NNNN   binary logs closed on that pod, in one series: an
                                            unbroken run of one data directory's files
    binlogs/<pod>/<series>/series           where the series begins, and what it follows
    binlogs/<pod>/<series>/archived-until   every transaction committed from the series' start
                                            up to this time is in its files
    binlogs/<pod>/<series>/archived-gtids   the GTID set the series' files hold, up to the next

(``sidecars/archive.sh`` describes the series.)

``<name>`` is the UTC start time of the backup, ``20261126T030000Z``: names sort by age.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from cdk8s_plus_27 import k8s

from . import _pod_spec as spec
from . import _validation as check

DEFAULT_RCLONE_IMAGE = "rclone/rclone:1.75"
"""rclone's official image (Alpine, busybox): copies to and from volumes and S3."""
TARGET_MOUNT = "/var/backups/mysql-ha"
"""Where a volume target is mounted in every container that reads or writes it."""
S3_CREDENTIALS_DIR = "/etc/mysql-ha/backup-target"
"""Where an S3 target's Secret is mounted (files ``access-key-id``, ``secret-access-key``)."""
REMOTE = "target"
"""Name of the rclone remote that the ``RCLONE_CONFIG_TARGET_*`` variables define."""
BACKUP_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
ACCESS_MODES = ("ReadWriteMany", "ReadWriteOnce")
"""Access modes of a claim that ``MySQLBackup`` creates. Not ``ReadWriteOncePod``: it admits one
pod, and every pod of the set mounts the claim (binary log archive) besides the backup Job."""
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")
_RFC3339 = re.compile(
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?P<fraction>\.[0-9]+)?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


class BackupTarget:
    """A PersistentVolumeClaim or an S3-compatible bucket. Build one with
    ``BackupTarget.volume_claim(...)`` or ``BackupTarget.s3(...)``."""

    def __init__(self, *, kind: str, prefix: str, image: str, claim_name: str = "", size: str | None = None,
                 storage_class_name: str | None = None, access_mode: str = "ReadWriteMany", endpoint: str = "",
                 bucket: str = "", region: str = "", secret_name: str = "", access_key_id_key: str = "",
                 secret_access_key_key: str = "") -> None:
        self.kind = kind
        self.prefix = prefix
        self.image = image
        self.claim_name = claim_name
        self.size = size
        self.storage_class_name = storage_class_name
        self.access_mode = access_mode
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.secret_name = secret_name
        self.access_key_id_key = access_key_id_key
        self.secret_access_key_key = secret_access_key_key

    @classmethod
    def volume_claim(cls, claim_name: str, *, size: str | None = None, storage_class_name: str | None = None,
                     access_mode: str = "ReadWriteMany", prefix: str = "", image: str = DEFAULT_RCLONE_IMAGE,
                     ) -> "BackupTarget":
        """A PersistentVolumeClaim: ``MySQLBackup`` creates it when ``size`` is given, else it
        must exist. Every pod of the set mounts it to archive binary logs and the backup Job
        writes to it, so it must be ``ReadWriteMany`` unless all of them share one node
        (then ``access_mode="ReadWriteOnce"``).

        :param claim_name: the claim's name.
        :param size: create the claim with this size (a quantity, e.g. ``50Gi``). Defaults to
            using an existing claim.
        :param storage_class_name: StorageClass of a created claim. Defaults to the cluster's default.
        :param access_mode: of a created claim: ``ReadWriteMany`` or ``ReadWriteOnce``
            (``ReadWriteOncePod`` is refused: it admits one pod). Defaults to ``ReadWriteMany``.
        :param prefix: a folder inside the claim. Defaults to its root.
        :param image: the rclone image. Defaults to ``rclone/rclone:1.75``.
        """
        check.dns_subdomain("claim_name", claim_name)
        if size is not None:
            check.quantity("size", size)
        if storage_class_name is not None:
            if size is None:
                raise ValueError("storage_class_name applies to a claim MySQLBackup creates: pass size as well, "
                                 f"got storage_class_name={storage_class_name!r} and no size")
            check.dns_subdomain("storage_class_name", storage_class_name)
        if access_mode == "ReadWriteOncePod":
            raise ValueError("access_mode ReadWriteOncePod admits one pod, and every pod of the set mounts the "
                             "claim to archive binary logs, besides the backup Job: use ReadWriteMany, or "
                             "ReadWriteOnce when all of them share one node; got 'ReadWriteOncePod'")
        check.one_of("access_mode", access_mode, ACCESS_MODES)
        return cls(kind="volume", claim_name=claim_name, size=size, storage_class_name=storage_class_name,
                   access_mode=access_mode, prefix=_prefix(prefix), image=spec.image("image", image))

    @classmethod
    def s3(cls, *, endpoint: str, bucket: str, secret_name: str, prefix: str = "", region: str = "us-east-1",
           access_key_id_key: str = "access-key-id", secret_access_key_key: str = "secret-access-key",
           image: str = DEFAULT_RCLONE_IMAGE) -> "BackupTarget":
        """An S3-compatible bucket (AWS S3, MinIO, Ceph RGW, rclone's S3 server, ...).

        :param endpoint: ``https://host[:port]`` (``http://`` only inside a trusted network).
        :param bucket: the bucket; it must exist.
        :param secret_name: a Secret in the namespace with the access key id and secret key.
        :param prefix: a folder inside the bucket. Defaults to the bucket's root.
        :param region: signing region. Defaults to ``us-east-1``.
        :param access_key_id_key: the Secret's key holding the access key id. Defaults to ``access-key-id``.
        :param secret_access_key_key: the Secret's key holding the secret key. Defaults to ``secret-access-key``.
        :param image: the rclone image. Defaults to ``rclone/rclone:1.75``.
        """
        if not isinstance(endpoint, str) or not _ENDPOINT.match(endpoint):
            raise ValueError(f"endpoint must be an http:// or https:// URL with a host and optional port "
                             f"(no path), e.g. 'https://s3.eu-west-1.amazonaws.com', got {endpoint!r}")
        if not isinstance(bucket, str) or not _BUCKET.match(bucket):
            raise ValueError("bucket must be an S3 bucket name (3-63 lower-case letters, digits, '.' and '-'), "
                             f"got {bucket!r}")
        check.dns_subdomain("secret_name", secret_name)
        if not isinstance(region, str) or not re.match(r"^[a-z0-9-]{1,40}$", region):
            raise ValueError(f"region must be a region name such as 'us-east-1', got {region!r}")
        for prop, key in (("access_key_id_key", access_key_id_key), ("secret_access_key_key", secret_access_key_key)):
            if not isinstance(key, str) or not re.match(r"^[-._a-zA-Z0-9]{1,253}$", key):
                raise ValueError(f"{prop} must be a Secret key (letters, digits, '-', '_', '.'), got {key!r}")
        return cls(kind="s3", endpoint=endpoint.rstrip("/"), bucket=bucket, secret_name=secret_name,
                   prefix=_prefix(prefix), region=region, access_key_id_key=access_key_id_key,
                   secret_access_key_key=secret_access_key_key, image=spec.image("image", image))

    @property
    def creates_claim(self) -> bool:
        return self.kind == "volume" and self.size is not None

    @property
    def location(self) -> str:
        """The rclone path of the target's root, as the scripts receive it."""
        if self.kind == "volume":
            return f"{TARGET_MOUNT}/{self.prefix}".rstrip("/")
        return f"{REMOTE}:{self.bucket}/{self.prefix}".rstrip("/")

    def describe(self) -> str:
        if self.kind == "volume":
            return f"claim {self.claim_name}" + (f", folder {self.prefix}" if self.prefix else "")
        return f"s3 {self.endpoint} bucket {self.bucket}" + (f", prefix {self.prefix}" if self.prefix else "")

    def env(self) -> list[k8s.EnvVar]:
        """The variables through which rclone and the scripts reach the target."""
        env = [
            k8s.EnvVar(name="MYSQL_HA_BACKUP_LOCATION", value=self.location),
            k8s.EnvVar(name="MYSQL_HA_BACKUP_TARGET", value=self.describe()),
            # rclone keeps no state: no config file, nothing under HOME.
            k8s.EnvVar(name="RCLONE_CONFIG", value="/dev/null"),
        ]
        if self.kind == "s3":
            prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
            env += [k8s.EnvVar(name=prefix + name, value=value) for name, value in (
                ("TYPE", "s3"), ("PROVIDER", "Other"), ("ENDPOINT", self.endpoint), ("REGION", self.region),
                ("FORCE_PATH_STYLE", "true"), ("NO_CHECK_BUCKET", "true"),
            )]
            env.append(k8s.EnvVar(name="MYSQL_HA_S3_CREDENTIALS_DIR", value=S3_CREDENTIALS_DIR))
        return env

    def volumes(self) -> list[k8s.Volume]:
        if self.kind == "s3":
            return [k8s.Volume(name="backup-target", secret=k8s.SecretVolumeSource(
                secret_name=self.secret_name, default_mode=0o440, items=[
                    k8s.KeyToPath(key=self.access_key_id_key, path="access-key-id"),
                    k8s.KeyToPath(key=self.secret_access_key_key, path="secret-access-key")]))]
        return [k8s.Volume(name="backup-target", persistent_volume_claim=k8s.PersistentVolumeClaimVolumeSource(
            claim_name=self.claim_name))]

    def volume_json(self) -> dict:
        """``volumes()`` in manifest form."""
        if self.kind == "s3":
            return {"name": "backup-target", "secret": {
                "secretName": self.secret_name, "defaultMode": 0o440, "items": [
                    {"key": self.access_key_id_key, "path": "access-key-id"},
                    {"key": self.secret_access_key_key, "path": "secret-access-key"}]}}
        return {"name": "backup-target", "persistentVolumeClaim": {"claimName": self.claim_name}}

    def mounts(self, *, read_only: bool = False) -> list[k8s.VolumeMount]:
        if self.kind == "s3":
            return [k8s.VolumeMount(name="backup-target", mount_path=S3_CREDENTIALS_DIR, read_only=True)]
        return [k8s.VolumeMount(name="backup-target", mount_path=TARGET_MOUNT, read_only=read_only or None)]

    def same_volume(self, other: "BackupTarget") -> bool:
        """Both mount the same volume (claim, or S3 Secret) as ``backup-target``."""
        return (self.kind, self.claim_name, self.secret_name, self.access_key_id_key, self.secret_access_key_key) == (
            other.kind, other.claim_name, other.secret_name, other.access_key_id_key, other.secret_access_key_key)


class RestoreFrom:
    """What a new cluster starts from: ``ReplicatedMySQL(restore_from=RestoreFrom(target, ...))``.

    The declared primary of a set whose data directory is empty fetches the backup, checks
    its checksum, replays the archived binary logs up to ``point_in_time`` and only then
    starts its server; the other pods clone from it as usual. A pod with data ignores it.

    :param target: where the backups are.
    :param backup: a backup's name (``20261126T030000Z``) or ``latest``: the newest complete
        backup (with ``point_in_time``: the newest that finished before it). Defaults to ``latest``.
    :param point_in_time: RFC 3339 (``2026-11-26T10:15:00Z``, any offset): the restore holds
        every transaction committed up to and including that second, and none after it; or
        ``latest``: as far as the archived binary logs continuing the backup reach (the
        backup alone when none does). Defaults to the backup alone.
    """

    def __init__(self, target: BackupTarget, *, backup: str = "latest", point_in_time: str | None = None) -> None:
        if not isinstance(target, BackupTarget):
            raise ValueError("target must be a BackupTarget (BackupTarget.volume_claim(...) or "
                             f"BackupTarget.s3(...)), got {target!r}")
        if backup != "latest" and (not isinstance(backup, str) or not BACKUP_NAME.match(backup)):
            raise ValueError("backup must be 'latest' or a backup's name, its UTC start time such as "
                             f"'20261126T030000Z', got {backup!r}")
        self.target = target
        self.backup = backup
        self.point_in_time = point_in_time
        self.stop_epoch: int | None = None
        if point_in_time is not None and point_in_time != "latest":
            moment = parse_rfc3339("point_in_time", point_in_time)
            # Binary logs keep whole seconds: the replay stops before the next second.
            self.stop_epoch = int(moment.timestamp()) + 1

    def env(self) -> list[k8s.EnvVar]:
        stop = "" if self.stop_epoch is None else str(self.stop_epoch)
        return [
            *self.target.env(),
            k8s.EnvVar(name="MYSQL_HA_RESTORE_BACKUP", value=self.backup),
            k8s.EnvVar(name="MYSQL_HA_RESTORE_POINT_IN_TIME", value=self.point_in_time or ""),
            k8s.EnvVar(name="MYSQL_HA_RESTORE_STOP_EPOCH", value=stop),
            k8s.EnvVar(name="MYSQL_HA_RESTORE_STOP_DATETIME", value="" if self.stop_epoch is None else
                       datetime.fromtimestamp(self.stop_epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
            # The binary log reader takes its stop time in the local time zone.
            k8s.EnvVar(name="TZ", value="UTC"),
        ]


def parse_rfc3339(prop: str, value: object) -> datetime:
    """An RFC 3339 date-time with a zone (``Z`` or ``+hh:mm``), as an aware datetime."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    moment = None
    if match:
        zone = match["zone"].upper()
        try:
            moment = datetime.fromisoformat(f"{match['date']}T{match['time']}").replace(
                tzinfo=timezone.utc if zone == "Z" else timezone(
                    (1 if zone[0] == "+" else -1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))))
        except ValueError:
            moment = None
    if moment is None:
        raise ValueError(f"{prop} must be an RFC 3339 date-time with a zone, such as '2026-11-26T10:15:00Z' or "
                         f"'2026-11-26T11:15:00+01:00', got {value!r}")
    return moment


def _prefix(value: object) -> str:
    if value == "":
        return ""
    if not isinstance(value, str) or len(value) > 200 or not _PREFIX.match(value.strip("/")):
        raise ValueError("prefix must be a relative path of letters, digits, '.', '_' and '-' segments "
                         f"separated by '/', got {value!r}")
    return value.strip("/")
