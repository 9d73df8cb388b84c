"""MySQLBackup: scheduled physical backups of a ReplicatedMySQL, and its binary logs archived
for point-in-time restore."""

from __future__ import annotations

from datetime import datetime, timezone

from cdk8s_plus_27 import k8s
from constructs import Construct
from croniter import croniter

from . import _backup_pods as backup_pods
from . import _pod_spec as spec
from . import _validation as check
from ._k8s import LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME, annotate_sync_waves
from .backup_target import BackupTarget
from ._set_pods import (
    BACKUP_PASSWORD_FILE,
    STATUS_PASSWORD_FILE,
    RUN_DIR,
    SCRIPTS_DIR,
    SECRET_DIR,
    TMP_DIR,
    TOPOLOGY_DIR,
)
from .replicated_mysql import ReplicatedMySQL
from .tls import TLS_DIR

SOURCES = ("replica", "primary")
STAGING_DIR = "/var/lib/mysql-ha-backup"
DAY = 86400


class MySQLBackup(Construct):
    """A CronJob that takes a physical backup of ``cluster`` and keeps the newest ones on
    ``target``, and (unless ``binlog_archive_interval_seconds=None``) every pod's binary logs
    copied to the same target, so that ``RestoreFrom(target, point_in_time=...)`` can bring a
    new cluster to any second between the oldest backup and the last archived binary log.

    Each run (a pod of init container ``backup``, the server's image, then ``upload``,
    rclone):

    1. picks the source: the first replica that replicates with both threads within
       ``max_replication_lag_seconds`` (``source="replica"``, the default; the declared
       primary only when no replica is ready), or the declared primary (``source="primary"``);
    2. copies it as a new replica would (MySQL: CLONE INSTANCE into a throwaway server's
       directory; MariaDB: the hot backup stream of port 3307, then prepared), so the copy
       starts as it is; records the GTID set it holds;
    3. packs it (tar, zstd where the image has it, else gzip), with a ``manifest``: engine,
       server version, source, GTID set, start and end time, size, SHA-256;
    4. uploads the archive, then the manifest (a backup without one never finished: it is
       never listed nor restored, and a later run deletes it), then deletes backups beyond
       ``keep`` and older than ``max_age_days`` (never the newest) and the archived binary
       logs that only those needed.

    Beside it: a NetworkPolicy that admits no traffic into the backup pods, and rules on the
    set's NetworkPolicy that let them reach the server (and clone) ports. Run one now with
    ``kubectl create job --from=cronjob/{set}-backup {set}-backup-now``.

    :param cluster: the set to back up.
    :param target: ``BackupTarget.volume_claim(...)`` or ``BackupTarget.s3(...)``. A claim
        target with ``size`` is created here.
    :param schedule: cron expression. Defaults to ``0 3 * * *`` (daily, 03:00).
    :param time_zone: IANA zone of ``schedule``. Defaults to ``Etc/UTC``.
    :param keep: backups to keep. Defaults to 7.
    :param max_age_days: also delete backups older than this (the newest stays). Defaults to none.
    :param source: ``replica`` (a ready replica, else the primary) or ``primary``. Defaults to ``replica``.
    :param replica_wait_seconds: with ``source="replica"``, how long a run waits for a replica
        within ``max_replication_lag_seconds`` that has applied what the primary had when the
        run began (a replica catching up, restarting or cloning). Past it the run copies the
        primary, logs a WARNING naming each replica and why it was not used, and records that
        in the manifest (``source_fallback``, shown by ``archive-status.sh``). At most
        half of ``deadline_seconds``. Defaults to 600 (or half the deadline, if shorter).
    :param binlog_archive_interval_seconds: how far the restore point may trail the last
        commit, about: this often the declared primary records how much of its binary log
        holds every commit so far, and its archiver uploads that much of the file being
        written (every 2 s at most), besides every file closed. ``None`` archives nothing
        (restores to a backup only). Defaults to 5.
    :param binlog_rotate_seconds: the declared primary closes its binary log this often when
        it took writes (and by size, ``max_binlog_size``): the archive holds about 86,400 /
        this many files a day, and each upload of the file being written is at most this
        long's worth of binary log. Defaults to 300.
    :param deadline_seconds: a run taking longer is stopped (and its upload left unfinished).
        Defaults to 21600 (6 h).
    :param staging_size_limit: size limit of the pod's scratch space (holds the copy and its
        compressed files during a run): past it the kubelet evicts the pod, and the run fails
        (the node's disk never fills). Defaults to twice the set's ``storage_request``.
    :param drill_schedule: cron expression of a ``RestoreDrill`` (``<name>-drill``): the newest
        backup restored with the archive, checked and reported, into a throwaway pod.
        Defaults to none (no drill).
    :param binlog_bytes_per_day: how much binary log the set writes in a day, a quantity
        (``"2Gi"``): synthesis refuses a data volume that the binary logs kept until they
        expire would fill past half. Defaults to none (not checked).
    :param cpu_request: of the backup pod's containers. Defaults to ``250m``.
    :param memory_request: defaults to ``256Mi``.
    :param memory_limit: defaults to ``1Gi``.
    :param suspend: create the CronJob suspended. Defaults to off.
    :param name: of the CronJob and its NetworkPolicy. Defaults to ``{set}-backup``; a second
        MySQLBackup of the same set (another target, without binary logs) needs its own.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cluster: ReplicatedMySQL,
        target: BackupTarget,
        schedule: str = "0 3 * * *",
        time_zone: str = "Etc/UTC",
        keep: int = 7,
        max_age_days: int | None = None,
        source: str = "replica",
        replica_wait_seconds: int | None = None,
        binlog_archive_interval_seconds: int | None = 5,
        binlog_rotate_seconds: int = 300,
        deadline_seconds: int = 6 * 3600,
        staging_size_limit: str | None = None,
        binlog_bytes_per_day: str | None = None,
        drill_schedule: str | None = None,
        cpu_request: str = "250m",
        memory_request: str = "256Mi",
        memory_limit: str = "1Gi",
        suspend: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(cluster, ReplicatedMySQL):
            raise ValueError(f"cluster must be a ReplicatedMySQL construct, got {cluster!r}")
        if not isinstance(target, BackupTarget):
            raise ValueError("target must be BackupTarget.volume_claim(...) or BackupTarget.s3(...), "
                             f"got {target!r}")
        engine = cluster.engine
        if not engine.supports_backups:
            raise ValueError(f"MySQLBackup is not offered for engine {engine.name}: a backup of a replica and the "
                             "replay of binary logs are positioned by GTID; choose MySQL 8.4/9.7 or MariaDB")
        credentials = cluster.config.credentials
        if engine.backup_grants and credentials.creates_secret and credentials.backup_password is None:
            raise ValueError(f"MySQLBackup of engine {engine.name} copies the server as its own account: pass "
                             "backup_password to MySQLCredentials.from_passwords(...), got none")
        cron_schedule("schedule", schedule)
        if drill_schedule is not None:
            cron_schedule("drill_schedule", drill_schedule)
        if not isinstance(time_zone, str) or not time_zone or " " in time_zone:
            raise ValueError(f"time_zone must be an IANA time zone name such as 'Etc/UTC', got {time_zone!r}")
        check.int_range("keep", keep, 1, 10000)
        if max_age_days is not None:
            check.int_range("max_age_days", max_age_days, 1, 36500)
        check.one_of("source", source, SOURCES)
        check.int_range("deadline_seconds", deadline_seconds, 60, 7 * DAY)
        if replica_wait_seconds is None:
            replica_wait_seconds = min(600, deadline_seconds // 2)
        check.int_range("replica_wait_seconds", replica_wait_seconds, 0, deadline_seconds // 2,
                        "at most half of deadline_seconds: the copy needs the rest")
        if staging_size_limit is not None:
            check.quantity("staging_size_limit", staging_size_limit)
        else:
            staging_size_limit = _quantity_string(2 * check.quantity("storage_request", cluster.storage_request))
        if binlog_bytes_per_day is not None:
            _check_binlog_volume(cluster, check.quantity("binlog_bytes_per_day", binlog_bytes_per_day),
                                 binlog_bytes_per_day)
        if not isinstance(suspend, bool):
            raise ValueError(f"suspend must be True or False, got {suspend!r}")
        self.interval_seconds = max_interval_seconds(schedule)
        if binlog_archive_interval_seconds is not None:
            check.int_range("binlog_archive_interval_seconds", binlog_archive_interval_seconds, 1, 3600)
            check.int_range("binlog_rotate_seconds", binlog_rotate_seconds, 60, 86400)
            if binlog_rotate_seconds < binlog_archive_interval_seconds:
                raise ValueError(f"binlog_rotate_seconds ({binlog_rotate_seconds}) must be at least "
                                 f"binlog_archive_interval_seconds ({binlog_archive_interval_seconds})")
            _check_binlog_expiry(cluster, self.interval_seconds, schedule)
        self.cluster = cluster
        self.target = target
        self.schedule = schedule
        name = f"{cluster.name}-backup" if name is None else check.dns_label("name", name)
        if len(name) > 52:
            raise ValueError(f"name must be at most 52 characters (Kubernetes' limit for a CronJob, which names "
                             f"its Jobs after it), got {name!r}")
        self.name = name
        self.pod_labels = {LABEL_NAME: "mysql-backup", LABEL_INSTANCE: cluster.name, LABEL_COMPONENT: "backup",
                           "mysql-ha/backup": name}

        self.claim: k8s.KubePersistentVolumeClaim | None = None
        if target.creates_claim:
            self.claim = k8s.KubePersistentVolumeClaim(
                self, "Claim",
                metadata=k8s.ObjectMeta(name=target.claim_name, labels=self.pod_labels),
                spec=k8s.PersistentVolumeClaimSpec(
                    access_modes=[target.access_mode],
                    storage_class_name=target.storage_class_name,
                    resources=k8s.ResourceRequirements(requests={"storage": k8s.Quantity.from_string(target.size)}),
                ),
            )

        resources = spec.resources("", cpu_request, memory_request, None, memory_limit)
        credentials = cluster.config.credentials
        common = [
            k8s.EnvVar(name="MYSQL_HA_STAGING_DIR", value=STAGING_DIR),
            k8s.EnvVar(name="MYSQL_HA_KEEP", value=str(keep)),
            k8s.EnvVar(name="MYSQL_HA_MAX_AGE_SECONDS", value="" if max_age_days is None else str(max_age_days * DAY)),
            k8s.EnvVar(name="MYSQL_HA_DEADLINE_SECONDS", value=str(deadline_seconds)),
            k8s.EnvVar(name="HOME", value=TMP_DIR),
        ]
        scripts = k8s.VolumeMount(name="scripts", mount_path=SCRIPTS_DIR, read_only=True)
        tmp = k8s.VolumeMount(name="tmp", mount_path=TMP_DIR)
        staging = k8s.VolumeMount(name="staging", mount_path=STAGING_DIR)
        certs = [k8s.VolumeMount(name="tls", mount_path=TLS_DIR, read_only=True)] if cluster.tls is not None else []
        backup = k8s.Container(
            name="backup",
            image=cluster.tools_image,
            image_pull_policy=cluster.image_pull_policy,
            command=["bash", f"{SCRIPTS_DIR}/backup.sh"],
            env=[
                *cluster.pod_env,
                *common,
                k8s.EnvVar(name="MYSQL_HA_SET", value=cluster.name),
                k8s.EnvVar(name="MYSQL_HA_REPLICAS", value=str(cluster.replicas)),
                k8s.EnvVar(name="MYSQL_HA_BACKUP_SOURCE", value=source),
                k8s.EnvVar(name="MYSQL_HA_BACKUP_REPLICA_WAIT_SECONDS", value=str(replica_wait_seconds)),
                k8s.EnvVar(name="MYSQL_HA_ENGINE", value=engine.name),
                k8s.EnvVar(name="MYSQL_HA_BACKUP_TARGET", value=target.describe()),
            ],
            env_from=cluster.pod_env_from,
            volume_mounts=[
                staging, scripts, tmp,
                k8s.VolumeMount(name="credentials", mount_path=SECRET_DIR, read_only=True),
                k8s.VolumeMount(name="run", mount_path=RUN_DIR),
                k8s.VolumeMount(name="topology", mount_path=TOPOLOGY_DIR, read_only=True),
                *certs,
            ],
            resources=resources,
            security_context=cluster.container_security,
        )
        upload = k8s.Container(
            name="upload",
            image=target.image,
            image_pull_policy=cluster.image_pull_policy,
            command=["sh", f"{SCRIPTS_DIR}/backup-upload.sh"],
            env=[*target.env(), *common, k8s.EnvVar(name="MYSQL_HA_SCRIPTS_DIR", value=SCRIPTS_DIR)],
            volume_mounts=[staging, scripts, tmp, *target.mounts()],
            resources=resources,
            security_context=cluster.container_security,
        )
        # The status account chooses the source; the backup account (engines whose Job logs in
        # to copy a server) copies it. No other password reaches the Job.
        secret_items = [k8s.KeyToPath(key=credentials.status_password_key, path=STATUS_PASSWORD_FILE)]
        if engine.backup_grants:
            secret_items.append(k8s.KeyToPath(key=credentials.backup_password_key, path=BACKUP_PASSWORD_FILE))
        volumes = [
            k8s.Volume(name="staging", empty_dir=k8s.EmptyDirVolumeSource(
                size_limit=None if staging_size_limit is None else k8s.Quantity.from_string(staging_size_limit))),
            k8s.Volume(name="tmp", empty_dir=k8s.EmptyDirVolumeSource()),
            k8s.Volume(name="run", empty_dir=k8s.EmptyDirVolumeSource(medium="Memory")),
            k8s.Volume(name="scripts", config_map=k8s.ConfigMapVolumeSource(
                name=cluster.config.scripts_config_map.name, default_mode=0o555)),
            k8s.Volume(name="topology", config_map=k8s.ConfigMapVolumeSource(name=f"{cluster.name}-topology")),
            k8s.Volume(name="credentials", secret=k8s.SecretVolumeSource(
                secret_name=credentials.secret_name, default_mode=0o440, items=secret_items)),
            *target.volumes(),
        ]
        volumes += backup_pods.tls_volumes(cluster)
        # Nothing connects to a backup pod; it reaches the set's ports and the target.
        self.cron_job, self.network_policy = backup_pods.scheduled_job(
            self, cluster, name=name, labels=self.pod_labels, schedule=schedule, time_zone=time_zone,
            suspend=suspend, backoff_limit=2, deadline_seconds=deadline_seconds, init_containers=[backup],
            containers=[upload], volumes=volumes)
        cluster.admit(self.pod_labels)
        self.binlog_archive_interval_seconds = binlog_archive_interval_seconds
        self.binlog_rotate_seconds = binlog_rotate_seconds
        self.staging_size_limit = staging_size_limit
        if binlog_archive_interval_seconds is not None:
            cluster.archive_binlogs(target, binlog_archive_interval_seconds, binlog_rotate_seconds,
                                    keep_seconds=_binlog_expiry(cluster)[0])
        self.drill = None
        if drill_schedule is not None:
            from .restore_drill import RestoreDrill

            self.drill = RestoreDrill(self, "Drill", backup=self, schedule=drill_schedule, time_zone=time_zone)
        annotate_sync_waves(self)



def cron_schedule(prop: str, schedule: object) -> None:
    """A cron expression of five fields, as a CronJob takes it."""
    if not isinstance(schedule, str) or not croniter.is_valid(schedule) or len(schedule.split()) != 5:
        raise ValueError(f"{prop} must be a cron expression of five fields (minute hour day-of-month month "
                         f"day-of-week), e.g. '0 3 * * *', got {schedule!r}")


def max_interval_seconds(schedule: str, *, days: int = 400) -> int:
    """The longest time between two runs of ``schedule`` over ``days`` (at least a year, so
    that monthly and yearly schedules show their real gap)."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    runs = croniter(schedule, start)
    previous = runs.get_next(float)
    longest = 0.0
    end = start.timestamp() + days * DAY
    count = 0
    while previous < end and count < 200000:
        following = runs.get_next(float)
        longest = max(longest, following - previous)
        previous = following
        count += 1
    return int(longest)


def _quantity_string(value) -> str:
    """A byte count as a quantity, in the largest binary unit that divides it."""
    number = int(value)
    for suffix, unit in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if number and number % unit == 0:
            return f"{number // unit}{suffix}"
    return str(number)


def _binlog_expiry(cluster: ReplicatedMySQL) -> tuple[int, str]:
    """How long the servers keep a binary log (seconds; 0 = forever), and what says so."""
    engine = cluster.engine
    settings = cluster.config.binlog_settings
    for key in dict.fromkeys((engine.binlog_expiry_setting, "expire_logs_days")):
        factor = DAY if key == "expire_logs_days" else 1
        value = settings.get(key) if key in settings else settings.get(key.replace("_", "-"))
        if value is not None:
            return int(float(value) * factor), f"{key}={value}"
    return engine.default_binlog_expiry_seconds, f"engine {engine.name}'s default"


def _check_binlog_volume(cluster: ReplicatedMySQL, per_day, declared: str) -> None:
    """The binary logs kept until they expire take at most half of each pod's volume."""
    expiry, where = _binlog_expiry(cluster)
    volume = check.quantity("storage_request", cluster.storage_request)
    if not expiry:
        raise ValueError(f"binlog_bytes_per_day={declared!r}: binary logs never expire ({where}), so they fill "
                         f"storage_request={cluster.storage_request!r}; set an expiry in MySQLConfig(server_settings=...)")
    kept = per_day * expiry / DAY
    if kept > volume / 2:
        days = expiry / DAY
        raise ValueError(
            f"binlog_bytes_per_day={declared!r} kept {days:g} days ({where}) is {_quantity_string(kept)} of binary "
            f"logs, more than half of storage_request={cluster.storage_request!r}: raise storage_request to at "
            f"least {_quantity_string(2 * kept)}, or shorten the expiry (at least the longest gap between backups)")


def _check_binlog_expiry(cluster: ReplicatedMySQL, interval: int, schedule: str) -> None:
    """Point-in-time restore replays archived binary logs from the last backup on: the server
    must keep each log at least as long as the longest time between two backups."""
    engine = cluster.engine
    expiry, where = _binlog_expiry(cluster)
    if expiry and expiry < interval:
        raise ValueError(
            f"binary logs expire after {expiry} s ({where}), sooner than the longest gap of {interval} s between "
            f"two backups of schedule {schedule!r}: a restore to a time in that gap would miss transactions; "
            f"set {engine.binlog_expiry_setting} to at least {interval} in MySQLConfig(server_settings=...), "
            "or back up more often"
        )
