"""MySQLBackup, BackupTarget and RestoreFrom: the CronJob, the archiver beside every server,
the restore init containers, their policy, and every bad input refused at synth time."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import kubernetes_validate
import cdk8s
import pytest
import test_scripts
from synth_helpers import ENGINE_NAMES, add_stack, all_containers, by_kind, container, env_of, new_chart, synth, walk_strings, whole_chart

import mysql_ha
from mysql_ha import BackupTarget, MySQLBackup, RestoreFrom
from mysql_ha.mysql_backup import max_interval_seconds

BACKUP_ENGINES = [name for name in ENGINE_NAMES if mysql_ha.ENGINES[name].supports_backups]
S3 = BackupTarget.s3(endpoint="http://s3.storage:9000", bucket="mysql-backups", prefix="prod/eu", secret_name="s3-keys")
CLAIM = BackupTarget.volume_claim("mysql-backups", size="50Gi", storage_class_name="nfs")


def backup_chart(engine_name: str = "mysql-8.4", target: BackupTarget = S3, **props) -> list[dict]:
    return whole_chart(mysql_ha.ENGINES[engine_name], replicas=3, backup_target=target, **props)


def cron_pod(manifests: list[dict]) -> dict:
    return by_kind(manifests, "CronJob", "mysql-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def job_container(manifests: list[dict], name: str) -> dict:
    pod = cron_pod(manifests)
    (found,) = [c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == name]
    return found


def test_backup_engines_are_the_gtid_engines():
    assert BACKUP_ENGINES == ["mysql-8.4", "mysql-9.7", "mariadb-11.4", "mariadb-10.11"]


@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_cron_job_runs_one_backup_at_a_time_within_a_deadline(engine_name):
    manifests = backup_chart(engine_name)
    cron = by_kind(manifests, "CronJob", "mysql-backup")
    assert cron["spec"]["schedule"] == "0 3 * * *"
    assert cron["spec"]["timeZone"] == "Etc/UTC"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 21600
    assert job["backoffLimit"] == 2
    pod = cron_pod(manifests)
    assert pod["restartPolicy"] == "Never"
    assert [c["name"] for c in pod["initContainers"]] == ["backup"]
    assert [c["name"] for c in pod["containers"]] == ["upload"]
    engine = mysql_ha.ENGINES[engine_name]
    assert job_container(manifests, "backup")["image"] == engine.tools_image
    assert job_container(manifests, "upload")["image"] == "rclone/rclone:1.75"
    assert job_container(manifests, "backup")["command"] == ["bash", "/opt/mysql-ha/backup.sh"]
    assert job_container(manifests, "upload")["command"] == ["sh", "/opt/mysql-ha/backup-upload.sh"]


def test_backup_pod_is_hardened_like_the_set():
    manifests = backup_chart()
    pod, set_pod = cron_pod(manifests), by_kind(manifests, "StatefulSet", "mysql")["spec"]["template"]["spec"]
    assert pod["securityContext"] == set_pod["securityContext"]
    assert pod["serviceAccountName"] == set_pod["serviceAccountName"]
    assert pod["automountServiceAccountToken"] is False
    for each in pod["initContainers"] + pod["containers"]:
        assert each["securityContext"] == set_pod["containers"][0]["securityContext"]
        assert each["resources"]["limits"]["memory"] == "1Gi"


def test_s3_keys_are_secret_files_never_variables_nor_arguments():
    manifests = backup_chart()
    for each in [job_container(manifests, "upload"), container(manifests, "binlog-archive")]:
        env = {e["name"]: e for e in each["env"]}
        assert env["RCLONE_CONFIG_TARGET_TYPE"]["value"] == "s3"
        assert env["RCLONE_CONFIG_TARGET_ENDPOINT"]["value"] == "http://s3.storage:9000"
        assert env["MYSQL_HA_BACKUP_LOCATION"]["value"] == "target:mysql-backups/prod/eu"
        assert not any("KEY" in name for name in env), sorted(env)
        assert {"name": "backup-target", "mountPath": "/etc/mysql-ha/backup-target", "readOnly": True} in \
            each["volumeMounts"]
    (volume,) = [v for v in cron_pod(manifests)["volumes"] if v["name"] == "backup-target"]
    assert volume["secret"]["secretName"] == "s3-keys"
    assert [item["path"] for item in volume["secret"]["items"]] == ["access-key-id", "secret-access-key"]


@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_set_policy_admits_the_backup_pods_and_theirs_admits_nothing(engine_name):
    manifests = backup_chart(engine_name)
    labels = by_kind(manifests, "CronJob", "mysql-backup")["spec"]["jobTemplate"]["spec"][
        "template"]["metadata"]["labels"]
    # Not a member of the set: the Services never route to a backup pod.
    selector = by_kind(manifests, "Service", "mysql-read")["spec"]["selector"]
    assert not selector.items() <= labels.items()
    rules = by_kind(manifests, "NetworkPolicy", "mysql")["spec"]["ingress"]
    admitted = sorted(port["port"] for rule in rules for port in rule["ports"]
                      if {"podSelector": {"matchLabels": labels}} in rule["from"])
    assert admitted == ([3306, 3307] if mysql_ha.ENGINES[engine_name].serves_backup_streams else [3306])
    own = by_kind(manifests, "NetworkPolicy", "mysql-backup")["spec"]
    assert own["podSelector"]["matchLabels"] == labels
    assert own["policyTypes"] == ["Ingress"] and "ingress" not in own


@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_every_pod_archives_its_closed_binary_logs(engine_name):
    manifests = backup_chart(engine_name)
    archiver = container(manifests, "binlog-archive")
    assert archiver["image"] == "rclone/rclone:1.75"
    assert {"name": "data", "mountPath": "/var/lib/mysql", "subPath": "mysql", "readOnly": True} in \
        archiver["volumeMounts"]
    assert {"name": "run", "mountPath": "/run/mysql-ha", "readOnly": True} in archiver["volumeMounts"]
    assert env_of(archiver)["MYSQL_HA_ARCHIVE_POLL_SECONDS"] == "2"
    assert "livenessProbe" in archiver and "readinessProbe" in archiver
    # Continuous archiving: a mark every 5 s, the file closed every 5 minutes.
    sidecar = env_of(container(manifests, "replication"))
    assert (sidecar["MYSQL_HA_BINLOG_MARK_SECONDS"], sidecar["MYSQL_HA_BINLOG_FLUSH_SECONDS"]) == ("5", "300")


def test_a_run_waits_for_a_replica_ten_minutes_or_half_its_deadline():
    assert env_of(job_container(backup_chart(), "backup"))["MYSQL_HA_BACKUP_REPLICA_WAIT_SECONDS"] == "600"
    chart = new_chart()
    mysql = add_stack(chart, replicas=2)
    MySQLBackup(chart, "Backup", cluster=mysql, target=S3, deadline_seconds=900)
    assert env_of(job_container(synth(chart), "backup"))["MYSQL_HA_BACKUP_REPLICA_WAIT_SECONDS"] == "450"


@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_archived_binary_logs_are_expired_by_the_pods_and_never_by_the_server(engine_name):
    """The server's own expiry would delete a file the archive never got: it is off (an
    option on the command line, after every option file), and the archiver keeps the
    expiry the configuration names for the files it has copied."""
    engine = mysql_ha.ENGINES[engine_name]
    manifests = backup_chart(engine_name)
    server = container(manifests, "mysql")
    assert server["args"][-1] == engine.binlog_keep_option
    archiver = env_of(container(manifests, "binlog-archive"))
    assert archiver["MYSQL_HA_BINLOG_KEEP_SECONDS"] == str(engine.default_binlog_expiry_seconds)
    assert archiver["MYSQL_HA_BINLOG_PURGE_FILE"] == env_of(container(manifests, "replication"))[
        "MYSQL_HA_BINLOG_PURGE_FILE"]
    chart = new_chart()
    mysql = add_stack(chart, engine=engine, replicas=2, config={"server_settings": {"expire_logs_days": "2"}})
    MySQLBackup(chart, "Backup", cluster=mysql, target=S3)
    assert env_of(container(synth(chart), "binlog-archive"))["MYSQL_HA_BINLOG_KEEP_SECONDS"] == str(2 * 86400)


def test_with_metrics_the_archivers_metrics_are_served_on_their_own_port_to_the_scrapers_only():
    assert "archive-metrics" not in [c["name"] for c in all_containers(backup_chart())]
    manifests = backup_chart(metrics=True, metrics_namespace="monitoring")
    served = container(manifests, "archive-metrics")
    assert served["image"] == "rclone/rclone:1.75" and served["command"][:4] == ["rclone", "serve", "http", "/metrics"]
    assert "--read-only" in served["command"]
    (mount,) = served["volumeMounts"]
    assert mount == {"mountPath": "/metrics", "name": "tmp", "readOnly": True, "subPath": "binlog-archive-metrics"}
    assert env_of(container(manifests, "binlog-archive"))["MYSQL_HA_ARCHIVE_METRICS_DIR"] == \
        "/tmp/binlog-archive-metrics"
    ports = {p["name"]: p["port"] for p in by_kind(manifests, "Service", "mysql")["spec"]["ports"]}
    assert ports["archive-metrics"] == 9105
    rules = [r for r in by_kind(manifests, "NetworkPolicy", "mysql")["spec"]["ingress"]
             if {"port": 9105, "protocol": "TCP"} in r["ports"]]
    assert rules == [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                      "ports": [{"port": 9105, "protocol": "TCP"}]}]


def test_mysql_57_counts_its_binary_log_expiry_in_days():
    manifests = whole_chart(mysql_ha.MYSQL_5_7)
    cnf = "\n".join(str(v) for m in manifests if m["kind"] == "ConfigMap" for v in m.get("data", {}).values())
    assert "expire_logs_days=0" in cnf and "binlog_expire_logs_seconds" not in cnf
    assert mysql_ha.MYSQL_5_7.binlog_keep_option == "--expire-logs-days=0"


def test_without_binlog_archiving_the_pods_are_unchanged():
    chart = mysql_ha.MySQLHAChart(new_chart().node.scope, "m", credentials=mysql_ha.MySQLCredentials
                                  .from_existing_secret("s"), replicas=3)
    before = synth(chart)
    chart2 = mysql_ha.MySQLHAChart(new_chart().node.scope, "m", credentials=mysql_ha.MySQLCredentials
                                   .from_existing_secret("s"), replicas=3)
    MySQLBackup(chart2, "Backup", cluster=chart2.mysql, target=S3, binlog_archive_interval_seconds=None)
    after = synth(chart2)
    assert by_kind(after, "StatefulSet", "mysql") == by_kind(before, "StatefulSet", "mysql")


def test_a_claim_target_is_created_and_mounted_everywhere():
    manifests = backup_chart(target=CLAIM)
    claim = by_kind(manifests, "PersistentVolumeClaim", "mysql-backups")["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"]
    assert claim["storageClassName"] == "nfs"
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    for pod in (cron_pod(manifests), by_kind(manifests, "StatefulSet", "mysql")["spec"]["template"]["spec"]):
        assert {"name": "backup-target", "persistentVolumeClaim": {"claimName": "mysql-backups"}} in pod["volumes"]
    assert env_of(job_container(manifests, "upload"))["MYSQL_HA_BACKUP_LOCATION"] == "/var/backups/mysql-ha"
    existing = backup_chart(target=BackupTarget.volume_claim("shared", prefix="mysql"))
    assert by_kind(existing, "PersistentVolumeClaim") == []
    assert env_of(job_container(existing, "upload"))["MYSQL_HA_BACKUP_LOCATION"] == "/var/backups/mysql-ha/mysql"


@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_restore_runs_before_the_clone_on_every_pod(engine_name):
    restore = RestoreFrom(S3, point_in_time="2026-11-26T11:15:30+01:00")
    manifests = whole_chart(mysql_ha.ENGINES[engine_name], replicas=3, restore_from=restore)
    pod = by_kind(manifests, "StatefulSet", "mysql")["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["restore-fetch", "restore-mysql", "clone-mysql", "init-mysql"]
    fetch, replay = pod["initContainers"][:2]
    assert fetch["image"] == "rclone/rclone:1.75"
    assert replay["image"] == mysql_ha.ENGINES[engine_name].server_image
    env = env_of(replay)
    # 10:15:30 UTC, the whole second included.
    assert env["MYSQL_HA_RESTORE_STOP_EPOCH"] == str(int(datetime(2026, 11, 26, 10, 15, 31, tzinfo=timezone.utc)
                                                         .timestamp()))
    assert env["MYSQL_HA_RESTORE_STOP_DATETIME"] == "2026-11-26 10:15:31"
    assert env["TZ"] == "UTC"
    assert env["MYSQL_HA_RESTORE_BACKUP"] == "latest"
    assert {"name": "data", "mountPath": "/data"} in replay["volumeMounts"]
    # The replay runs the server: the server's memory (a sidecar's 512Mi OOM-killed MySQL's replay).
    server = next(c for c in pod["containers"] if c["name"] == "mysql")
    assert replay["resources"] == server["resources"] and replay["resources"] != fetch["resources"]


@pytest.mark.parametrize("container_name", ["backup", "upload"])
@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_every_variable_a_job_script_reads_is_set(engine_name, container_name):
    manifests = backup_chart(engine_name)
    each = job_container(manifests, container_name)
    # TLS on, or (MySQL) TLS off: each only where it applies.
    provided = set(env_of(each)) | {"MYSQL_HA_TLS_DIR", "MYSQL_HA_AUTH_CACHE"}
    for source in each.get("envFrom", []):
        provided |= set(by_kind(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
    scripts = {"backup": ["backup.sh", "common.sh", "copy.sh"], "upload": ["backup-upload.sh", "target.sh"]}
    missing = test_scripts.variables_used(*scripts[container_name], optional=True) - provided - {
        "MYSQL_HA_DATA_ROOT", "MYSQL_HA_CONF_DIR", "MYSQL_HA_CONFIG_DIR", "MYSQL_HA_BINLOG_FLUSH_SECONDS",
        "MYSQL_HA_BINLOG_MARK_SECONDS", "MYSQL_HA_S3_CREDENTIALS_DIR"}
    assert not missing, f"{container_name} runs without {sorted(missing)}"


@pytest.mark.parametrize("container_name", ["restore-fetch", "restore-mysql", "binlog-archive"])
def test_every_variable_a_set_script_reads_is_set(container_name):
    manifests = whole_chart(mysql_ha.MARIADB_11_4, replicas=3, backup_target=CLAIM,
                            restore_from=RestoreFrom(CLAIM, point_in_time="2026-11-26T10:00:00Z"))
    each = container(manifests, container_name)
    provided = set(env_of(each))
    for source in each.get("envFrom", []):
        provided |= set(by_kind(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
    scripts = {"restore-fetch": ["restore-fetch.sh", "target.sh", "archive.sh"], "restore-mysql": ["restore.sh", "common.sh"],
               "binlog-archive": ["binlog-archive.sh", "archive-status.sh", "target.sh", "archive.sh"]}
    provided |= {e["name"] for e in each["env"]}  # valueFrom too
    missing = test_scripts.variables_used(*scripts[container_name]) - provided - {
        "MYSQL_HA_S3_CREDENTIALS_DIR"}  # S3 targets only, checked with -n first
    assert not missing, f"{container_name} runs without {sorted(missing)}"


@pytest.mark.parametrize("version", ["1.27", "1.37"])
@pytest.mark.parametrize("target", [S3, CLAIM], ids=["s3", "claim"])
@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_backup_and_restore_charts_pass_strict_schema_validation(engine_name, target, version):
    manifests = backup_chart(engine_name, target, restore_from=RestoreFrom(target, backup="20261126T030000Z"))
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.parametrize(("schedule", "seconds"), [
    ("0 3 * * *", 86400), ("0 */6 * * *", 21600), ("30 2 * * 0", 7 * 86400), ("0 0 1 * *", 31 * 86400),
    ("0 1,13 * * *", 43200), ("0 9 * * 1-5", 3 * 86400),
])
def test_longest_gap_between_two_runs(schedule, seconds):
    assert max_interval_seconds(schedule) == seconds


def _backup(chart_props=None, **props):
    chart = mysql_ha.MySQLHAChart(new_chart().node.scope, "m", replicas=3, **(chart_props or {}),
                                  credentials=mysql_ha.MySQLCredentials.from_existing_secret("s"))
    return MySQLBackup(chart, "Backup", cluster=chart.mysql, **{"target": S3, **props})


@pytest.mark.parametrize(("props", "message"), [
    ({"schedule": "every day"}, "schedule must be a cron expression of five fields (minute hour day-of-month "
                                "month day-of-week), e.g. '0 3 * * *', got 'every day'"),
    ({"schedule": "0 3 * * * *"}, "schedule must be a cron expression of five fields"),
    ({"keep": 0}, "keep must be an integer between 1 and 10000, got 0"),
    ({"max_age_days": 0}, "max_age_days must be an integer between 1 and 36500, got 0"),
    ({"source": "any"}, "source must be one of replica, primary, got 'any'"),
    ({"binlog_archive_interval_seconds": 0}, "binlog_archive_interval_seconds must be an integer between 1 and 3600"),
    ({"binlog_rotate_seconds": 30}, "binlog_rotate_seconds must be an integer between 60 and 86400"),
    ({"binlog_archive_interval_seconds": 120, "binlog_rotate_seconds": 60},
     "binlog_rotate_seconds (60) must be at least binlog_archive_interval_seconds (120)"),
    ({"deadline_seconds": 10}, "deadline_seconds must be an integer between 60 and 604800"),
    ({"deadline_seconds": 600, "replica_wait_seconds": 400},
     "replica_wait_seconds must be an integer between 0 and 300 (at most half of deadline_seconds: the copy "
     "needs the rest), got 400"),
    ({"target": "s3://bucket"}, "target must be BackupTarget.volume_claim(...) or BackupTarget.s3(...), "
                                "got 's3://bucket'"),
    ({"staging_size_limit": "lots"}, "staging_size_limit must be a Kubernetes quantity"),
])
def test_bad_backup_props_are_refused(props, message):
    with pytest.raises(ValueError) as error:
        _backup(**props)
    assert message in str(error.value)


def test_binlog_expiry_shorter_than_the_backup_interval_is_refused():
    chart = mysql_ha.MySQLHAChart(new_chart().node.scope, "m", replicas=3,
                                  credentials=mysql_ha.MySQLCredentials.from_existing_secret("s"))
    # The chart's config has no custom settings: MySQL keeps binary logs 30 days by default.
    MySQLBackup(chart, "Weekly", cluster=chart.mysql, target=S3, schedule="0 3 * * 0")
    app_chart = new_chart()
    credentials = mysql_ha.MySQLCredentials.from_existing_secret("s")
    config = mysql_ha.MySQLConfig(app_chart, "Config", credentials=credentials,
                                  server_settings={"binlog_expire_logs_seconds": 86400})
    cluster = mysql_ha.ReplicatedMySQL(app_chart, "MySQL", config=config, services=mysql_ha.ReadWriteServices(
        app_chart, "Services"), storage=mysql_ha.LocalStorage(app_chart, "Storage", storage_class_name="x", dynamic=True))
    with pytest.raises(ValueError) as error:
        MySQLBackup(app_chart, "Backup", cluster=cluster, target=S3, schedule="0 3 * * 0")
    assert str(error.value).startswith(
        "binary logs expire after 86400 s (binlog_expire_logs_seconds=86400), sooner than the longest gap of "
        "604800 s between two backups of schedule '0 3 * * 0'")
    # Daily backups fit in a day of binary logs.
    MySQLBackup(app_chart, "Daily", cluster=cluster, target=S3, schedule="0 3 * * *",
                binlog_archive_interval_seconds=None)


def test_mariadb_binary_logs_expire_after_the_images_ten_days():
    """The official mariadb image expires binary logs after 10 days (50-server.cnf); the
    library writes that out and checks the schedule against it: monthly backups would leave
    a gap no archive covers unless the expiry is raised."""
    chart = mysql_ha.MySQLHAChart(new_chart().node.scope, "m", engine=mysql_ha.MARIADB_11_4, replicas=3,
                                  credentials=mysql_ha.MySQLCredentials.from_existing_secret("s"))
    MySQLBackup(chart, "Weekly", cluster=chart.mysql, target=S3, schedule="0 3 * * 0")
    with pytest.raises(ValueError) as error:
        MySQLBackup(chart, "Monthly", cluster=chart.mysql, target=S3, schedule="0 3 1 * *")
    assert str(error.value).startswith(
        "binary logs expire after 864000 s (binlog_expire_logs_seconds=864000), sooner than the longest gap of")


def test_mysql_5_7_has_no_backups_nor_restores():
    with pytest.raises(ValueError, match=r"^MySQLBackup is not offered for engine mysql-5.7: "):
        whole_chart(mysql_ha.MYSQL_5_7, backup_target=S3)
    with pytest.raises(ValueError, match=r"^restore_from is not offered for engine mysql-5.7: "):
        whole_chart(mysql_ha.MYSQL_5_7, restore_from=RestoreFrom(S3))


@pytest.mark.parametrize(("build", "message"), [
    (lambda: BackupTarget.s3(endpoint="s3.amazonaws.com", bucket="b-1", secret_name="s"),
     "endpoint must be an http:// or https:// URL"),
    (lambda: BackupTarget.s3(endpoint="https://s3", bucket="B", secret_name="s"), "bucket must be an S3 bucket name"),
    (lambda: BackupTarget.s3(endpoint="https://s3", bucket="bkt", secret_name="S!"), "secret_name must be a DNS-1123"),
    (lambda: BackupTarget.s3(endpoint="https://s3", bucket="bkt", secret_name="s", prefix="../x"),
     "prefix must be a relative path"),
    (lambda: BackupTarget.volume_claim("Backups"), "claim_name must be a DNS-1123 subdomain"),
    (lambda: BackupTarget.volume_claim("b", size="big"), "size must be a Kubernetes quantity"),
    (lambda: BackupTarget.volume_claim("b", storage_class_name="nfs"),
     "storage_class_name applies to a claim MySQLBackup creates: pass size as well"),
    (lambda: BackupTarget.volume_claim("b", access_mode="ReadOnlyMany"), "access_mode must be one of"),
    (lambda: BackupTarget.volume_claim("b", size="5Gi", access_mode="ReadWriteOncePod"),
     "access_mode ReadWriteOncePod admits one pod, and every pod of the set mounts the claim"),
    (lambda: RestoreFrom(S3, backup="yesterday"), "backup must be 'latest' or a backup's name"),
    (lambda: RestoreFrom(S3, point_in_time="2026-11-26 10:00"), "point_in_time must be an RFC 3339 date-time"),
    (lambda: RestoreFrom(S3, point_in_time="2026-11-26T10:00:00"), "point_in_time must be an RFC 3339 date-time"),
    (lambda: RestoreFrom(S3, point_in_time="2026-02-30T10:00:00Z"), "point_in_time must be an RFC 3339 date-time"),
    (lambda: RestoreFrom("s3://b"), "target must be a BackupTarget"),
])
def test_bad_targets_and_restores_are_refused(build, message):
    with pytest.raises(ValueError) as error:
        build()
    assert message in str(error.value)


def test_restoring_from_one_claim_while_archiving_to_another_is_refused():
    with pytest.raises(ValueError, match=r"restores from claim old and would archive its binary logs to claim new"):
        whole_chart(backup_target=BackupTarget.volume_claim("new"),
                    restore_from=RestoreFrom(BackupTarget.volume_claim("old")))
    # The same claim is mounted once.
    manifests = whole_chart(backup_target=CLAIM, restore_from=RestoreFrom(CLAIM))
    volumes = by_kind(manifests, "StatefulSet", "mysql")["spec"]["template"]["spec"]["volumes"]
    assert [v["name"] for v in volumes].count("backup-target") == 1


def test_backup_runbook_names_the_cron_job():
    readme = (test_scripts.SIDECARS.parent / "README.md").read_text()
    assert "kubectl -n mysql create job --from=cronjob/mysql-backup mysql-backup-now" in readme
    assert re.search(r"^## Backups and restore", readme, re.MULTILINE)


def test_the_staging_volume_has_a_limit_and_the_binary_logs_kept_must_fit_the_data_volume():
    # By default twice the data volume (the copy and its compressed files): the kubelet evicts
    # a run that outgrows it instead of filling the node's disk.
    (staging,) = [v for v in cron_pod(backup_chart())["volumes"] if v["name"] == "staging"]
    assert staging["emptyDir"] == {"sizeLimit": "6Gi"}
    backup = _backup(staging_size_limit="20Gi")
    manifests = cdk8s.Chart.of(backup).to_json()
    (staging,) = [v for v in cron_pod(manifests)["volumes"] if v["name"] == "staging"]
    assert staging["emptyDir"] == {"sizeLimit": "20Gi"}
    # MySQL keeps binary logs 30 days: 100Mi a day is 3000Mi, more than half of 3Gi.
    with pytest.raises(ValueError) as error:
        _backup(binlog_bytes_per_day="100Mi")
    assert str(error.value) == (
        "binlog_bytes_per_day='100Mi' kept 30 days (binlog_expire_logs_seconds=2592000) is 3000Mi of binary logs, more "
        "than half of storage_request='3Gi': raise storage_request to at least 6000Mi, or shorten the expiry "
        "(at least the longest gap between backups)")
    _backup(binlog_bytes_per_day="50Mi")  # 1500Mi: fits


# --- restore drills -----------------------------------------------------------------------


def _drill_manifests(engine_name: str = "mysql-8.4", **props) -> list[dict]:
    chart = mysql_ha.MySQLHAChart(new_chart().node.scope, "m", engine=mysql_ha.ENGINES[engine_name], replicas=3,
                                  credentials=mysql_ha.MySQLCredentials.from_existing_secret("s"))
    backup = MySQLBackup(chart, "Backup", cluster=chart.mysql, target=S3, drill_schedule="0 6 * * 0", **props)
    assert isinstance(backup.drill, mysql_ha.RestoreDrill)
    return cdk8s.Chart.of(backup).to_json()


def _drill_pod(manifests: list[dict]) -> dict:
    return by_kind(manifests, "CronJob", "mysql-backup-drill")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("engine_name", BACKUP_ENGINES)
def test_a_restore_drill_restores_the_newest_backup_as_far_as_the_archive_reaches_into_a_pod_of_its_own(engine_name):
    manifests = _drill_manifests(engine_name)
    cron = by_kind(manifests, "CronJob", "mysql-backup-drill")
    assert cron["spec"]["schedule"] == "0 6 * * 0" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    # A failed drill is the finding: no retry, a failed Job to alert on.
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = _drill_pod(manifests)
    assert [c["name"] for c in pod["initContainers"]] == ["restore-fetch", "restore-mysql"]
    assert [c["name"] for c in pod["containers"]] == ["report"]
    for each in pod["initContainers"]:
        env = env_of(each)
        assert (env["MYSQL_HA_RESTORE_BACKUP"], env["MYSQL_HA_RESTORE_POINT_IN_TIME"], env["MYSQL_HA_RESTORE_STOP_EPOCH"]) \
            == ("latest", "latest", "")
        assert (env["MYSQL_HA_RESTORE_DRILL"], env["MYSQL_HA_RESTORE_VERIFY"]) == ("1", "1")
    # Its own volume, gone with the pod, limited like the backup's scratch space; no Secret of the set.
    (data,) = [v for v in pod["volumes"] if v["name"] == "data"]
    assert data["emptyDir"] == {"sizeLimit": "6Gi"}
    assert not any("secret" in v for v in pod["volumes"] if v["name"] != "backup-target")
    assert pod["automountServiceAccountToken"] is False
    report = pod["containers"][0]
    assert report["image"] == "rclone/rclone:1.75" and report["command"][-1].endswith("/drill-report.sh")
    assert {"name": "data", "mountPath": "/data", "readOnly": True} in report["volumeMounts"]
    policy = by_kind(manifests, "NetworkPolicy", "mysql-backup-drill")["spec"]
    assert policy["policyTypes"] == ["Ingress"] and "ingress" not in policy
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.37", strict=True)


def test_a_restore_drill_sets_every_variable_its_scripts_read():
    manifests = _drill_manifests()
    pod = _drill_pod(manifests)
    scripts = {"restore-fetch": ["restore-fetch.sh", "target.sh", "archive.sh"],
               "restore-mysql": ["restore.sh", "common.sh"], "report": ["drill-report.sh", "target.sh"]}
    for each in pod["initContainers"] + pod["containers"]:
        provided = {e["name"] for e in each["env"]}
        for source in each.get("envFrom", []):
            provided |= set(by_kind(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
        missing = test_scripts.variables_used(*scripts[each["name"]]) - provided - {
            "MYSQL_HA_S3_CREDENTIALS_DIR"}  # S3 targets only, checked with -n first
        assert not missing, f"{each['name']} runs without {sorted(missing)}"


def test_restore_from_latest_and_a_bad_drill_schedule():
    env = {e.name: e.value for e in RestoreFrom(S3, point_in_time="latest").env()}
    assert (env["MYSQL_HA_RESTORE_POINT_IN_TIME"], env["MYSQL_HA_RESTORE_STOP_EPOCH"]) == ("latest", "")
    with pytest.raises(ValueError) as error:
        _backup(drill_schedule="weekly")
    assert str(error.value).startswith("drill_schedule must be a cron expression of five fields")
