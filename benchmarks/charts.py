"""The charts the benchmark runs: each engine's chart with fresh passwords, and the variants
beside it (TLS on, backups to a claim, binary logs archived, restored from a backup).

jsii, which every synthesis goes through, is not thread-safe: an engine's run may synthesize
a chart in its own thread (a restore names a backup or a time known only then), so every
synthesis here holds ``SYNTH_LOCK``."""

from __future__ import annotations

import secrets
import subprocess
import threading
from pathlib import Path

import cdk8s
from emulator.images import ensure_image

from mysql_ha import BackupTarget, Engine, MySQLBackup, MySQLCredentials, MySQLHAChart, MySQLTLS, RestoreFrom

from .engines import BenchEngine

SYNTH_LOCK = threading.Lock()
BACKUP_CLAIM = "mysql-backups"
CLAIM_TARGET = BackupTarget.volume_claim(BACKUP_CLAIM)
"""Where the benchmark's backups go: a claim, so that no network or S3 server is timed."""
BACKUP_CRONJOB = "mysql-backup"

TLS_SECRET = "mysql-tls"
TLS_NAMES = ["mysql-0.mysql", "mysql-1.mysql", "mysql-2.mysql", "*.mysql.mysql.svc.cluster.local",
             *(f"{s}{suffix}" for s in ("mysql", "mysql-read", "mysql-primary")
               for suffix in ("", ".mysql.svc.cluster.local"))]


def tls_secret(folder: Path) -> dict[str, str]:
    """A CA and a certificate for every name of the set, made with openssl: the Secret's keys."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=bench CA")
    (folder / "ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
                                f"subjectAltName={','.join('DNS:' + n for n in TLS_NAMES)}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=mysql")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tls.crt", "-days", "2", "-extfile", "ext")
    return {name: (folder / name).read_text() for name in ("tls.crt", "tls.key", "ca.crt")}


def manifests(engine: Engine, replicas: int, tls: dict[str, str] | None = None, *, backups: bool = False,
              archive_seconds: int | None = None, restore_from: RestoreFrom | None = None) -> list[dict]:
    """The engine's chart with fresh random passwords and a provisioner-backed StorageClass;
    with ``tls`` (the Secret's keys), TLS on and that Secret among the manifests; with
    ``backups``, the CronJob ``mysql-backup`` to the claim ``mysql-backups`` (and, with
    ``archive_seconds``, binary logs archived there at that interval); with ``restore_from``,
    the set starts from a backup."""
    passwords = {f"{account}_password": f"{account.title()}-{secrets.token_urlsafe(12)}"
                 for account in ("root", "admin", "status", "replication", "clone", "backup")}
    with SYNTH_LOCK:
        chart = MySQLHAChart(cdk8s.Testing.app(), "bench", engine=engine,
                             credentials=MySQLCredentials.from_passwords(**passwords),
                             replicas=replicas, storage_class_name="standard", restore_from=restore_from,
                             tls=MySQLTLS.from_existing_secret(TLS_SECRET, dns_names=TLS_NAMES) if tls else None)
        if backups:
            MySQLBackup(chart, "Backup", cluster=chart.mysql, target=CLAIM_TARGET, name=BACKUP_CRONJOB,
                        binlog_archive_interval_seconds=archive_seconds)
        objects = chart.to_json()
    if tls:
        objects.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                        "metadata": {"name": TLS_SECRET, "namespace": "mysql"}, "stringData": tls})
    return objects


def _pod_specs(objects: list[dict]) -> list[dict]:
    found = []
    for m in objects:
        if m["kind"] == "StatefulSet":
            found.append(m["spec"]["template"]["spec"])
        elif m["kind"] == "CronJob":
            found.append(m["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return found


def prepare_images(bench_engines: tuple[BenchEngine, ...]) -> dict[str, str]:
    """Builds (or finds) every image of every chart an engine's run starts (the set, its backup
    Job, a restored set), before anything is timed. Returns image -> the package and version
    that stands in for it (the server's, else the image's first pinned package)."""
    found = {}
    for b in bench_engines:
        charts = manifests(b.engine, 3, backups=True, archive_seconds=30) + manifests(
            b.engine, 1, restore_from=RestoreFrom(CLAIM_TARGET))
        for spec in _pod_specs(charts):
            for container in spec.get("initContainers", []) + spec["containers"]:
                image = ensure_image(container["image"])
                package = next((p for p in image.versions if p.endswith("-server")), next(iter(image.versions), None))
                found[image.image] = f"{package} {image.versions[package]}" if package else image.suite
    return found
