"""What the backup scenarios (``backup_scenarios.py``) run on: the source cluster (2 pods) with
three CronJobs, ``mysql-backup`` to S3 (keeps 2, binary logs archived continuously, the
primary's closed every minute), its restore drill ``mysql-backup-drill`` and
``mysql-backup-pvc`` to the claim ``mysql-backups`` (no binary logs); an S3 server
(``rclone serve s3``, the rclone image's own binary) in the emulated network; what the targets
hold, read from the claims' folders; a writer that stamps its rows; and fresh clusters for the
restores, which share only the storage with the source.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import time
from pathlib import Path

import cdk8s
import pytest
from cdk8s_plus_27 import k8s

from emulator import Cluster
from emulator.background import BackgroundLoop
from emulator.images import ensure_image
from mysql_ha import BackupTarget, MySQLBackup, MySQLCredentials, MySQLHAChart, RestoreFrom
from scenario_tools import PREFIX, SPEED

pytestmark = pytest.mark.e2e

S3_ID = "mysql-ha-e2e"
BUCKET = "backups"
S3_PREFIX = "mysql"
S3_LABELS = {"app": "s3"}
KEEP = 2
ARCHIVE_SECONDS = 5  # the library's default: continuous archiving, a mark every 5 s
ROTATE_SECONDS = 60  # the primary's file closes every minute: restores replay closed files and a beginning
S3_TARGET = BackupTarget.s3(endpoint="http://s3:9000", bucket=BUCKET, prefix=S3_PREFIX, secret_name="s3-keys")
CLAIM_TARGET = BackupTarget.volume_claim("mysql-backups")


def _credentials(engine, **passwords) -> MySQLCredentials:
    special = "'\"\\$#-"
    values = {"root_password": "R" + special + secrets.token_urlsafe(20),
              "replication_password": ("P" + special + secrets.token_urlsafe(32))[:engine.max_replication_password_length],
              **passwords}
    for name in ("admin_password", "status_password", "clone_password", "backup_password"):
        values.setdefault(name, name[0].upper() + special + secrets.token_urlsafe(20))
    return MySQLCredentials.from_passwords(**values)


def _manifests(engine, credentials, s3_secret: str, *, replicas: int, backups: bool = False,
               restore_from: RestoreFrom | None = None) -> list[dict]:
    chart = MySQLHAChart(cdk8s.Testing.app(), "e2e", engine=engine, credentials=credentials, replicas=replicas,
                         storage_class_name="standard", restore_from=restore_from)
    if backups:
        MySQLBackup(chart, "Backup", cluster=chart.mysql, target=S3_TARGET, keep=KEEP,
                    binlog_archive_interval_seconds=ARCHIVE_SECONDS, binlog_rotate_seconds=ROTATE_SECONDS,
                    drill_schedule="0 6 * * 0")
        MySQLBackup(chart, "BackupPVC", cluster=chart.mysql, target=CLAIM_TARGET, keep=KEEP,
                    binlog_archive_interval_seconds=None, name="mysql-backup-pvc", replica_wait_seconds=5)
    k8s.KubeSecret(chart, "S3Keys", metadata=k8s.ObjectMeta(name="s3-keys"),
                   string_data={"access-key-id": S3_ID, "secret-access-key": s3_secret})
    # The S3 server pod (``_start_s3``) behind a Service of its own: the target's endpoint.
    k8s.KubeService(chart, "S3", metadata=k8s.ObjectMeta(name="s3"),
                    spec=k8s.ServiceSpec(selector=S3_LABELS, ports=[k8s.ServicePort(port=9000)]))
    return chart.to_json()


def _prefix(engine_name: str, n: int) -> str:
    return f"{PREFIX}b{engine_name[:2]}{n}{os.getpid() % 4096:03x}"


def _start_s3(cluster: Cluster, s3_secret: str) -> None:
    """``rclone serve s3`` over the claim ``s3-data``: one bucket, its objects files there."""
    (cluster.claim_dir("s3-data") / BUCKET).mkdir(parents=True, exist_ok=True)
    os.chown(cluster.claim_dir("s3-data") / BUCKET, 999, 999)
    os.chown(cluster.claim_dir("s3-data"), 999, 999)
    server = cluster.run_pod("s3", {
        "securityContext": {"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999},
        "containers": [{
            "name": "s3", "image": S3_TARGET.image,
            "command": ["rclone", "serve", "s3", "--addr", ":9000", "--auth-key", f"{S3_ID},{s3_secret}",
                        "--config", "/dev/null", "/data"],
            "env": [{"name": "HOME", "value": "/tmp"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "readinessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 1},
        }],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "s3-data"}}],
    }, labels=S3_LABELS)
    server.wait_ready(timeout=60)


class Storage:
    """What the targets hold, read from the claims' folders."""

    def __init__(self, claims: Path) -> None:
        self.s3 = claims / "s3-data" / BUCKET / S3_PREFIX
        self.claim = claims / "mysql-backups"

    @staticmethod
    def complete(root: Path) -> list[str]:
        folder = root / "backups"
        return sorted(p.name for p in folder.iterdir() if (p / "manifest").exists()) if folder.exists() else []

    @staticmethod
    def all(root: Path) -> list[str]:
        folder = root / "backups"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    @staticmethod
    def manifest(root: Path, name: str) -> dict[str, str]:
        lines = (root / "backups" / name / "manifest").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def archived_until(self) -> int:
        values = [int(p.read_text().strip() or 0) for p in (self.s3 / "binlogs").rglob("archived-until")]
        return max(values, default=0)

    def series(self, pod: str) -> list[Path]:
        """The archive's series of ``pod``, oldest first."""
        folder = self.s3 / "binlogs" / pod
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.exists() else []

    def archived_files(self, pod: str) -> dict[str, str]:
        """Every binary log archived for ``pod``: its path under the pod's folder, and SHA-256."""
        folder = self.s3 / "binlogs" / pod
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in folder.rglob("mysql-bin.*") if ".partial" not in p.name}

    @staticmethod
    def meta(series: Path) -> dict[str, str]:
        lines = (series / "series").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)


class StampedWriter(BackgroundLoop):
    """One autocommit INSERT per row on the primary, remembering when each started and when
    the server acknowledged it (wall clock). A failed INSERT is tried again with the same id
    (``first_try`` keeps when the first began): one whose outcome the client never saw (a
    timeout while the primary waits for a replica's acknowledgement) may have committed, and
    its next try then fails as a duplicate: the writer moves on."""

    def __init__(self, cluster: Cluster, table: str, start: int = 1) -> None:
        super().__init__()
        self.cluster, self.table, self.next_id = cluster, table, start
        self.rows: list[tuple[int, float, float]] = []  # id, started, acknowledged
        self.first_try: dict[int, float] = {}

    def step(self) -> float:
        started = time.time()
        self.first_try.setdefault(self.next_id, started)
        try:
            self.cluster.sql(0, f"INSERT INTO {self.table} (id, payload) VALUES ({self.next_id}, "
                                f"SHA2('{self.next_id}', 256))", timeout=10)
        except Exception as error:  # noqa: BLE001 - counted as not acknowledged
            if "Duplicate entry" in str(error):
                self.next_id += 1
            return 0.2
        self.rows.append((self.next_id, started, time.time()))
        self.next_id += 1
        return 0.05


class Env:
    """The source cluster and the makings of restore clusters."""

    def __init__(self, engine, workdir: Path, source: Cluster, s3_secret: str, credentials) -> None:
        self.engine, self.workdir, self.source, self.s3_secret = engine, workdir, source, s3_secret
        self.credentials = credentials
        self.storage = Storage(source.claims_dir)
        self.restores = 0

    def backup(self, cronjob: str = "mysql-backup", timeout: float = 240) -> tuple[str, float]:
        name, seconds, _ = self.backup_job(cronjob, timeout)
        return name, seconds

    def backup_job(self, cronjob: str = "mysql-backup", timeout: float = 240):
        """Runs one Job of the CronJob to the end; the name of the backup it made, and its seconds."""
        root = self.storage.s3 if cronjob == "mysql-backup" else self.storage.claim
        before = set(Storage.complete(root))
        started = time.monotonic()
        job = self.source.run_job(cronjob)
        ok = job.wait(timeout=timeout)
        assert ok, f"backup job failed:\n{job.logs('backup')}\n{job.logs('upload')}"
        (name,) = set(Storage.complete(root)) - before or {Storage.complete(root)[-1]}
        return name, time.monotonic() - started, job

    @contextlib.contextmanager
    def restored(self, restore_from: RestoreFrom, replicas: int = 1, **passwords):
        """A fresh cluster (own network, own data) that starts from ``restore_from``."""
        self.restores += 1
        credentials = _credentials(self.engine, **passwords)
        manifests = _manifests(self.engine, credentials, self.s3_secret, replicas=replicas,
                               restore_from=restore_from)
        workdir = self.workdir / f"restore-{self.restores}"
        with Cluster(manifests, workdir, prefix=_prefix(self.engine.name, self.restores),
                     claims_dir=self.source.claims_dir, speed=SPEED) as cluster:
            cluster.engine = self.engine
            cluster.start()
            _start_s3(cluster, self.s3_secret)
            yield cluster


@pytest.fixture(scope="module")
def backups(request, engine, tmp_path_factory):
    """The source cluster, its S3 server and its two backup CronJobs."""
    for image in ("rclone/rclone:1.75", engine.server_image, engine.tools_image):
        ensure_image(image)
    s3_secret = secrets.token_urlsafe(24)
    credentials = _credentials(engine)
    workdir = tmp_path_factory.mktemp(f"backups-{engine.name}")
    manifests = _manifests(engine, credentials, s3_secret, replicas=2, backups=True)
    with Cluster(manifests, workdir / "source", prefix=_prefix(engine.name, 0),
                 claims_dir=workdir / "claims", speed=SPEED) as source:
        source.engine = engine
        source.start()
        _start_s3(source, s3_secret)
        source.wait_ready(2, timeout=240)
        source.sql(0, "CREATE DATABASE bk; CREATE TABLE bk.t1 (id INT PRIMARY KEY, payload VARCHAR(100))")
        try:
            yield Env(engine, workdir, source, s3_secret, credentials)
        finally:
            if os.environ.get("MYSQL_HA_E2E_KEEP_LOGS"):
                keep = Path(os.environ["MYSQL_HA_E2E_KEEP_LOGS"]) / f"backups-{engine.name}"
                shutil.copytree(workdir, keep, dirs_exist_ok=True, symlinks=True,
                                ignore=shutil.ignore_patterns("pv", "claims", "containers", "*.sock"))


@pytest.fixture
def backup_report(engine, request):
    def add(scenario: str, text: str) -> None:
        request.node.user_properties.append(("e2e-report", f"e2e {engine.name} backup {scenario}: {text}"))

    return add


def ids(cluster: Cluster, table: str, ordinal: int = 0) -> set[int]:
    return {int(row[0]) for row in cluster.sql(ordinal, f"SELECT id FROM {table}")}


def checksum(cluster: Cluster, table: str, ordinal: int = 0) -> str:
    return cluster.sql(ordinal, f"CHECKSUM TABLE {table}")[0][1]


