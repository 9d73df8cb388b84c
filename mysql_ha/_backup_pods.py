"""The containers that backups and restores add to ReplicatedMySQL's pods: the restore
init containers of the declared primary and the binary log archiver beside every server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk8s_plus_27 import k8s
from constructs import Construct

from . import _pod_spec as spec
from .backup_target import BackupTarget, RestoreFrom
from .tls import CA_KEY, CERT_KEY, KEY_KEY

if TYPE_CHECKING:
    from .replicated_mysql import ReplicatedMySQL

POD_NAME = k8s.EnvVar(name="MYSQL_HA_POD_NAME", value_from=k8s.EnvVarSource(
    field_ref=k8s.ObjectFieldSelector(field_path="metadata.name")))
ARCHIVE_POLL_SECONDS = 2
"""How often the archiver looks for binary logs the primary closed, and for its mark of the
file being written."""


def restore_containers(cluster: ReplicatedMySQL, restore: RestoreFrom, *, data_root: str, config_map_dir: str,
                       scripts: k8s.VolumeMount, tmp: k8s.VolumeMount, topology: k8s.VolumeMount,
                       certs: list[k8s.VolumeMount], extra_env: tuple[k8s.EnvVar, ...] = ()) -> list[k8s.Container]:
    """``restore-fetch`` (rclone) chooses the backup and copies it, with the binary logs it
    needs, next to the data directory; ``restore-mysql`` (the server's image) checks, unpacks
    and replays them, and renames the result into place. Both do nothing on a pod that is
    not the declared primary or already has data."""
    data = k8s.VolumeMount(name="data", mount_path=data_root)
    env = [
        *cluster.pod_env,
        *restore.env(),
        k8s.EnvVar(name="MYSQL_HA_DATA_ROOT", value=data_root),
        POD_NAME,
        k8s.EnvVar(name="HOME", value=tmp.mount_path),
        *extra_env,
    ]
    fetch = k8s.Container(
        name="restore-fetch",
        image=restore.target.image,
        image_pull_policy=cluster.image_pull_policy,
        command=["sh", f"{scripts.mount_path}/restore-fetch.sh"],
        env=env,
        volume_mounts=[data, scripts, tmp, topology, *restore.target.mounts(read_only=True)],
        resources=cluster.sidecar_resources,
        security_context=cluster.container_security,
    )
    replay = k8s.Container(
        name="restore-mysql",
        image=cluster.server_image,
        image_pull_policy=cluster.image_pull_policy,
        command=["bash", f"{scripts.mount_path}/restore.sh"],
        env=[*env, k8s.EnvVar(name="MYSQL_HA_CONFIG_DIR", value=config_map_dir)],
        env_from=cluster.pod_env_from,
        # No password: the restored server runs without grant tables, and the set's own
        # accounts are set by its server's init file at its first start.
        volume_mounts=[data, scripts, tmp, topology, *certs,
                       k8s.VolumeMount(name="config-map", mount_path=config_map_dir, read_only=True)],
        # It runs the server to replay the binary logs: the server's memory, not a sidecar's
        # (MySQL 9.7 holds about 500 MiB at rest; a sidecar's 512Mi limit OOM-kills the replay).
        resources=cluster.server_resources,
        security_context=cluster.container_security,
    )
    return [fetch, replay]


def binlog_archiver(cluster: ReplicatedMySQL, target: BackupTarget, interval_seconds: int, *, datadir: str,
                    data_subpath: str, run_dir: str, scripts_dir: str, tmp_dir: str, keep_seconds: int,
                    purge_file: str) -> k8s.Container:
    """Sidecar ``binlog-archive``: copies the binary logs this pod has closed into its series,
    ``binlogs/<pod>/<series>/`` of the target, then the time up to which they hold every
    transaction; names in ``purge_file`` the first file the server must keep (every one
    before it archived and older than ``keep_seconds``; 0: none goes). ``archive-status.sh``
    runs in it, for operators."""
    heartbeat = f"{tmp_dir}/binlog-archive.heartbeat"
    return k8s.Container(
        name="binlog-archive",
        image=target.image,
        image_pull_policy=cluster.image_pull_policy,
        command=["sh", f"{scripts_dir}/binlog-archive.sh"],
        env=[
            *target.env(),
            k8s.EnvVar(name="MYSQL_HA_DATADIR", value=datadir),
            k8s.EnvVar(name="MYSQL_HA_SCRIPTS_DIR", value=scripts_dir),
            POD_NAME,
            k8s.EnvVar(name="MYSQL_HA_RUN_DIR", value=run_dir),
            k8s.EnvVar(name="MYSQL_HA_ARCHIVE_POLL_SECONDS", value=str(min(ARCHIVE_POLL_SECONDS, interval_seconds))),
            k8s.EnvVar(name="MYSQL_HA_ARCHIVE_HEARTBEAT", value=heartbeat),
            k8s.EnvVar(name="MYSQL_HA_BINLOG_KEEP_SECONDS", value=str(keep_seconds)),
            k8s.EnvVar(name="MYSQL_HA_BINLOG_PURGE_FILE", value=purge_file),
            k8s.EnvVar(name="MYSQL_HA_ARCHIVE_METRICS_DIR", value=f"{tmp_dir}/{ARCHIVE_METRICS_DIR}"),
            k8s.EnvVar(name="HOME", value=tmp_dir),
        ],
        volume_mounts=[
            k8s.VolumeMount(name="data", mount_path=datadir, sub_path=data_subpath, read_only=True),
            k8s.VolumeMount(name="run", mount_path=run_dir, read_only=True),
            k8s.VolumeMount(name="scripts", mount_path=scripts_dir, read_only=True),
            k8s.VolumeMount(name="tmp", mount_path=tmp_dir),
            *target.mounts(),
        ],
        resources=cluster.sidecar_resources,
        security_context=cluster.container_security,
        # The loop beats after every round, copied or not; a target that hangs stops it.
        liveness_probe=k8s.Probe(
            exec=k8s.ExecAction(command=["sh", "-c", f'test -n "$(find {heartbeat} -mmin -10)"']),
            initial_delay_seconds=60, period_seconds=60, failure_threshold=3),
        # Ready once its loop runs (the pod's readiness is the server's and the sidecar's too).
        readiness_probe=k8s.Probe(exec=k8s.ExecAction(command=["test", "-e", heartbeat]), period_seconds=10),
    )


ARCHIVE_METRICS_PORT = 9105
ARCHIVE_METRICS_DIR = "binlog-archive-metrics"


def archive_metrics(cluster: ReplicatedMySQL, target: BackupTarget, *, tmp_dir: str) -> k8s.Container:
    """Sidecar ``archive-metrics`` (with ``metrics=True``): serves the archiver's metrics file
    (``mysql_ha_binlog_archive_gap``, ...) over HTTP on ``ARCHIVE_METRICS_PORT``, path
    ``/metrics.txt``, read-only, with rclone (the archiver's image)."""
    return k8s.Container(
        name="archive-metrics",
        image=target.image,
        image_pull_policy=cluster.image_pull_policy,
        # The archiver replaces the file every round: no cached listing (a stale size fails the
        # read), no checksum (computed before the replacement).
        command=["rclone", "serve", "http", "/metrics", "--addr", f":{ARCHIVE_METRICS_PORT}", "--read-only",
                 "--dir-cache-time", "0s", "--no-checksum"],
        env=[k8s.EnvVar(name="RCLONE_CONFIG", value="/dev/null"), k8s.EnvVar(name="HOME", value="/metrics")],
        ports=[k8s.ContainerPort(name="archive-metrics", container_port=ARCHIVE_METRICS_PORT)],
        volume_mounts=[k8s.VolumeMount(name="tmp", mount_path="/metrics", sub_path=ARCHIVE_METRICS_DIR,
                                       read_only=True)],
        resources=cluster.sidecar_resources,
        security_context=cluster.container_security,
        liveness_probe=k8s.Probe(tcp_socket=k8s.TcpSocketAction(
            port=k8s.IntOrString.from_string("archive-metrics")), period_seconds=20),
        readiness_probe=k8s.Probe(tcp_socket=k8s.TcpSocketAction(
            port=k8s.IntOrString.from_string("archive-metrics")), period_seconds=10),
    )


JOB_CHECKOV_SKIPS = (
    ("CKV_K8S_8", "a Job's containers run to completion: a liveness probe would restart a backup midway; "
                  "activeDeadlineSeconds bounds a run that hangs"),
    ("CKV_K8S_9", "a Job's pod serves nothing: readiness does not apply"),
    ("CKV_K8S_14", "images are pinned by tag, see the StatefulSet's annotation"),
    ("CKV_K8S_43", "images are referenced by tag, see the StatefulSet's annotation"),
    ("CKV_K8S_15", "imagePullPolicy follows the StatefulSet's (IfNotPresent by default)"),
    ("CKV_K8S_40", "the engines' images and data files expect uid 999"),
    ("CKV_K8S_11", "no CPU limit, as for the set: a throttled backup only takes longer"),
)
"""Why the policy scan's rules that do not fit a backup or drill Job's pod are skipped."""


def tls_volumes(cluster: ReplicatedMySQL) -> list[k8s.Volume]:
    """The set's certificate, key and CA (volume ``tls``), when TLS is on."""
    if cluster.tls is None:
        return []
    return [k8s.Volume(name="tls", secret=k8s.SecretVolumeSource(
        secret_name=cluster.tls.secret_for(cluster.name), default_mode=0o440,
        items=[k8s.KeyToPath(key=key, path=key) for key in (CERT_KEY, KEY_KEY, CA_KEY)]))]


def scheduled_job(scope: Construct, cluster: ReplicatedMySQL, *, name: str, labels: dict[str, str], schedule: str,
                  time_zone: str, suspend: bool, backoff_limit: int, deadline_seconds: int,
                  init_containers: list[k8s.Container], containers: list[k8s.Container],
                  volumes: list[k8s.Volume]) -> tuple[k8s.KubeCronJob, k8s.KubeNetworkPolicy]:
    """A CronJob ``name`` (one run at a time, the set's pod hardening, no API token) and its
    NetworkPolicy: nothing connects to its pods."""
    cron_job = k8s.KubeCronJob(
        scope, "CronJob",
        metadata=k8s.ObjectMeta(name=name, labels=labels, annotations={
            f"checkov.io/skip{i}": f"{rule}={why}" for i, (rule, why) in enumerate(JOB_CHECKOV_SKIPS, 1)}),
        spec=k8s.CronJobSpec(
            schedule=schedule,
            time_zone=time_zone,
            concurrency_policy="Forbid",
            starting_deadline_seconds=3600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            suspend=suspend or None,
            job_template=k8s.JobTemplateSpec(
                metadata=k8s.ObjectMeta(labels=labels),
                spec=k8s.JobSpec(
                    backoff_limit=backoff_limit,
                    active_deadline_seconds=deadline_seconds,
                    template=k8s.PodTemplateSpec(
                        metadata=k8s.ObjectMeta(labels=labels),
                        spec=k8s.PodSpec(
                            restart_policy="Never",
                            service_account_name=cluster.service_account.name,
                            automount_service_account_token=False,
                            init_containers=init_containers,
                            containers=containers,
                            security_context=spec.pod_security(cluster.engine.uid),
                            volumes=volumes,
                        ),
                    ),
                ),
            ),
        ),
    )
    policy = k8s.KubeNetworkPolicy(
        scope, "NetworkPolicy",
        metadata=k8s.ObjectMeta(name=name, labels=labels),
        spec=k8s.NetworkPolicySpec(pod_selector=k8s.LabelSelector(match_labels=labels), policy_types=["Ingress"]),
    )
    return cron_job, policy
