"""RestoreDrill: a scheduled restore of the newest backup, with the archived binary logs as far
as they reach, into a throwaway pod, checked and reported: a backup nobody restored is a hope,
not a backup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _backup_pods as backup_pods
from . import _validation as check
from ._k8s import LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME, annotate_sync_waves
from ._set_pods import CONFIG_MAP_DIR, DATA_ROOT, SCRIPTS_DIR, TMP_DIR, TOPOLOGY_DIR
from .backup_target import RestoreFrom
from .tls import TLS_DIR

if TYPE_CHECKING:
    from .mysql_backup import MySQLBackup


class RestoreDrill(Construct):
    """A CronJob ``<backup>-drill`` whose pod restores, as a new set's primary would, the newest
    backup of ``backup``'s target and replays the archived binary logs as far as the series
    continuing it reaches (``RestoreFrom(point_in_time="latest")``), on a volume of its own
    that goes with the pod. It checks what a restore needs to be trusted:

    - every file against the backup's SHA-256 sums (as every restore does);
    - every table of the backup read whole, its ``CHECKSUM TABLE`` equal to the one the
      backup recorded from the copy (a server of another version: read, not compared);
    - the server starts on the result, replays the binary logs and stops cleanly.

    Its ``report`` container then prints, and uploads to ``drills/<UTC start>/report`` of the
    target, what it restored: the backup, the point in time reached, the GTID set, the tables
    checked, and how long the fetch and the restore took (the newest 30 reports are kept).
    A drill that fails leaves a failed Job (no retry): alert on it
    (``kube_job_status_failed``), as on a failed backup.

    :param backup: the ``MySQLBackup`` whose target the drill restores from.
    :param schedule: cron expression. Defaults to ``0 6 * * 0`` (Sundays, 06:00).
    :param time_zone: IANA zone of ``schedule``. Defaults to ``Etc/UTC``.
    :param deadline_seconds: a drill taking longer fails. Defaults to 21600 (6 h).
    :param suspend: create the CronJob suspended. Defaults to off.
    """

    def __init__(self, scope: Construct, id: str, *, backup: MySQLBackup, schedule: str = "0 6 * * 0",
                 time_zone: str = "Etc/UTC", deadline_seconds: int = 21600, suspend: bool = False) -> None:
        super().__init__(scope, id)
        from .mysql_backup import DAY, MySQLBackup, cron_schedule

        if not isinstance(backup, MySQLBackup):
            raise ValueError(f"backup must be a MySQLBackup, got {backup!r}")
        cron_schedule("schedule", schedule)
        check.int_range("deadline_seconds", deadline_seconds, 60, 7 * DAY)
        if not isinstance(suspend, bool):
            raise ValueError(f"suspend must be True or False, got {suspend!r}")
        cluster, target = backup.cluster, backup.target
        self.name = f"{backup.name}-drill"
        self.pod_labels = {LABEL_NAME: "mysql-backup", LABEL_INSTANCE: cluster.name, LABEL_COMPONENT: "restore-drill",
                           "mysql-ha/backup": backup.name}
        scripts = k8s.VolumeMount(name="scripts", mount_path=SCRIPTS_DIR, read_only=True)
        tmp = k8s.VolumeMount(name="tmp", mount_path=TMP_DIR)
        topology = k8s.VolumeMount(name="topology", mount_path=TOPOLOGY_DIR, read_only=True)
        certs = [k8s.VolumeMount(name="tls", mount_path=TLS_DIR, read_only=True)] if cluster.tls is not None else []
        fetch, restore = backup_pods.restore_containers(
            cluster, RestoreFrom(target, point_in_time="latest"), data_root=DATA_ROOT, config_map_dir=CONFIG_MAP_DIR,
            scripts=scripts, tmp=tmp, topology=topology, certs=certs,
            extra_env=(k8s.EnvVar(name="MYSQL_HA_RESTORE_DRILL", value="1"),
                       k8s.EnvVar(name="MYSQL_HA_RESTORE_VERIFY", value="1")))
        report = k8s.Container(
            name="report",
            image=target.image,
            image_pull_policy=cluster.image_pull_policy,
            command=["sh", f"{SCRIPTS_DIR}/drill-report.sh"],
            env=[*target.env(), k8s.EnvVar(name="MYSQL_HA_DATA_ROOT", value=DATA_ROOT),
                 k8s.EnvVar(name="MYSQL_HA_SCRIPTS_DIR", value=SCRIPTS_DIR), k8s.EnvVar(name="HOME", value=TMP_DIR)],
            volume_mounts=[k8s.VolumeMount(name="data", mount_path=DATA_ROOT, read_only=True), scripts, tmp,
                           *target.mounts()],
            resources=cluster.sidecar_resources,
            security_context=cluster.container_security,
        )
        volumes = [
            # The restored data directory and what it is made from, gone with the pod.
            k8s.Volume(name="data", empty_dir=k8s.EmptyDirVolumeSource(size_limit=k8s.Quantity.from_string(
                backup.staging_size_limit))),
            k8s.Volume(name="tmp", empty_dir=k8s.EmptyDirVolumeSource()),
            k8s.Volume(name="scripts", config_map=k8s.ConfigMapVolumeSource(
                name=cluster.config.scripts_config_map.name, default_mode=0o555)),
            k8s.Volume(name="topology", config_map=k8s.ConfigMapVolumeSource(name=f"{cluster.name}-topology")),
            k8s.Volume(name="config-map", config_map=k8s.ConfigMapVolumeSource(name=cluster.config.config_map.name)),
            *target.volumes(),
        ]
        volumes += backup_pods.tls_volumes(cluster)
        # A failed drill is the finding: it is not retried. Nothing connects to a drill's pod;
        # its server listens on no network port.
        self.cron_job, self.network_policy = backup_pods.scheduled_job(
            self, cluster, name=self.name, labels=self.pod_labels, schedule=schedule, time_zone=time_zone,
            suspend=suspend, backoff_limit=0, deadline_seconds=deadline_seconds,
            init_containers=[fetch, restore], containers=[report], volumes=volumes)
        annotate_sync_waves(self)
