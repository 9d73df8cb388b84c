"""The emulator's Jobs from CronJobs, standalone pods and named claims, on small hand-written
manifests in the ``rclone/rclone:1.75`` stand-in: what the backup and restore pods rely on.

One cluster for the module (a one-pod StatefulSet beside the Jobs); a second one, started
with the same claims folder, restores from what the first one's S3 server stored."""

from __future__ import annotations

import os
import re
import secrets
import time

import pytest

from emulator import Cluster, EmulatorError
from emulator.network import FIRST_POD_IP, LAST_POD_IP, Network
from emulator.services import Endpoint, Services
from scenario_tools import PREFIX, SPEED

pytestmark = pytest.mark.e2e

NAMESPACE = "backup"
IMAGE = "rclone/rclone:1.75"
ACCESS_KEY = "backup-writer"
SECRET_KEY = "S3-" + secrets.token_urlsafe(18)
STAMP = "2024-01-02 03:04:05"  # a dump's modification time, kept by the object store
# Every tool a backup script may reach for: busybox's in the real (Alpine) image.
TOOLS = ("sort", "sed", "date", "grep", "cat", "head", "tail", "tr", "wc", "mkdir", "rm", "mv", "sleep", "printf",
         "test", "find", "awk", "sha256sum", "du", "stat")
# The pods run the image as the product does: uid 999, read-only root, HOME in an emptyDir.
SECURITY = {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _prefix(which: str) -> str:
    return f"{PREFIX}jb{os.getpid() % 4096:03x}{which}"


def container(name: str, script: str | None = None, *, args: list[str] | None = None, env: list[dict] = (),
              mounts: list[dict] = ()) -> dict:
    spec = {"name": name, "image": IMAGE, "securityContext": SECURITY,
            "env": [{"name": "HOME", "value": "/tmp"}, *env],
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *mounts]}
    if script is not None:
        spec["command"] = ["sh", "-c", script]
    if args is not None:
        spec["args"] = args
    return spec


def pod_spec(*containers: dict, init: list[dict] = (), restart: str = "Never", claims: dict[str, str] = ()) -> dict:
    """``claims``: volume name -> claimName."""
    volumes = [{"name": "tmp", "emptyDir": {}}]
    volumes += [{"name": v, "persistentVolumeClaim": {"claimName": c}} for v, c in dict(claims).items()]
    return {"restartPolicy": restart, "terminationGracePeriodSeconds": 5, "securityContext": {"fsGroup": 999},
            "volumes": volumes, "initContainers": list(init), "containers": list(containers)}


def cronjob(name: str, spec: dict, **job: object) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"schedule": "17 3 * * *", "jobTemplate": {"spec": {
                **job, "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}}}


def secret_env(name: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "s3-credentials", "key": key}}}


# rclone configured by environment alone: a remote named "s3" at the Service "s3" of the server pod.
S3_REMOTE = [{"name": "RCLONE_CONFIG_S3_TYPE", "value": "s3"}, {"name": "RCLONE_CONFIG_S3_PROVIDER", "value": "Other"},
             {"name": "RCLONE_CONFIG_S3_ENDPOINT", "value": "http://s3:9000"},
             secret_env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", "access-key-id"),
             secret_env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "secret-access-key")]
BACKUP = {"name": "backup", "mountPath": "/backup"}

CHECK_SCRIPT = f"""set -eu
echo "sh=$(readlink -f /bin/sh)"
for tool in {' '.join(TOOLS)}; do echo "tool $tool=$(readlink -f "$(which "$tool")")"; done
echo "marker=$(cat /backup/from-init)"
echo "uid=$(id -u) pwd=$(pwd) home=$HOME"
if command -v bash >/dev/null; then echo "bash found"; else echo "no bash"; fi
if touch /written 2>/dev/null; then echo "root writable"; else echo "root read-only"; fi
echo "stamp=$(date -d @1704164645 -u +%Y%m%dT%H%M%SZ)"
cat /etc/hosts
echo "--- resolved"; getent hosts reader-0.reader
"""
RESUMABLE_SCRIPT = """if ls /backup/started-* >/dev/null 2>&1; then echo "resuming after $(ls /backup)"; exit 0; fi
touch "/backup/started-$HOSTNAME"
echo working
exec sleep 600
"""
UPLOAD_SCRIPT = f"""set -eu
mkdir -p /tmp/work
echo "dump of $HOSTNAME" > /tmp/work/dump.sql
touch -d "{STAMP}" /tmp/work/dump.sql
rclone copy /tmp/work s3:backups/full/
echo "--- lsl"; rclone lsl s3:backups
echo "--- lsjson"; rclone lsjson -R s3:backups
echo "--- lsf"; rclone lsf --format tp s3:backups/full
echo "--- resolved"; getent hosts s3
"""
S3_SERVER = pod_spec(
    {**container("s3", 'exec rclone serve s3 --addr :9000 --auth-key "$KEY_ID,$SECRET_KEY" /data',
                 env=[secret_env("KEY_ID", "access-key-id"), secret_env("SECRET_KEY", "secret-access-key")],
                 mounts=[{"name": "objects", "mountPath": "/data"}]),
     "readinessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 1}},
    restart="Always", claims={"objects": "s3-data"})


def manifests() -> list[dict]:
    reader = container("reader", 'echo "$HOSTNAME" > /data/owner; ls /backup > /data/seen; exec sleep 3600',
                       mounts=[{"name": "data", "mountPath": "/data"}, BACKUP])
    statefulset = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "reader", "namespace": NAMESPACE},
                   "spec": {"replicas": 1, "serviceName": "reader", "selector": {"matchLabels": {"app": "reader"}},
                            "template": {"metadata": {"labels": {"app": "reader"}},
                                         "spec": pod_spec(reader, restart="Always", claims={"backup": "backup"})},
                            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-credentials", "namespace": NAMESPACE},
         "stringData": {"access-key-id": ACCESS_KEY, "secret-access-key": SECRET_KEY}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reader", "namespace": NAMESPACE},
         "spec": {"clusterIP": "None", "selector": {"app": "reader"}, "ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s3", "namespace": NAMESPACE},
         "spec": {"selector": {"app": "s3"}, "ports": [{"port": 9000}]}},
        statefulset,
        cronjob("check", pod_spec(container("check", CHECK_SCRIPT, mounts=[BACKUP]),
                                  init=[container("write", 'echo "written by $HOSTNAME" > /backup/from-init',
                                                  mounts=[BACKUP])], claims={"backup": "backup"}), backoffLimit=0),
        cronjob("fails", pod_spec(container("fail", 'echo "attempt on $HOSTNAME"; exit 3')), backoffLimit=1),
        cronjob("retries-in-place", pod_spec(container("fail", "exit 1"), restart="OnFailure"), backoffLimit=2),
        cronjob("sleeps", pod_spec(container("sleep", "echo started; exec sleep 600")), activeDeadlineSeconds=3),
        cronjob("resumable", pod_spec(container("work", RESUMABLE_SCRIPT, mounts=[{**BACKUP, "subPath": "resumable"}]),
                                      claims={"backup": "backup"}), backoffLimit=2),
        cronjob("upload", pod_spec(container("upload", UPLOAD_SCRIPT, env=S3_REMOTE))),
        cronjob("restore", pod_spec(container("restore", "rclone lsl s3:backups; rclone cat s3:backups/full/dump.sql",
                                              env=S3_REMOTE))),
    ]


@pytest.fixture(scope="module")
def claims(tmp_path_factory):
    return tmp_path_factory.mktemp("claims")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, claims):
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network and mount namespaces, overlay mounts)", pytrace=False)
    with Cluster(manifests(), tmp_path_factory.mktemp("jobs"), prefix=_prefix("a"), claims_dir=claims,
                 speed=SPEED) as c:
        c.start()
        c.wait_ready(1, timeout=60)
        yield c


def test_a_job_runs_its_init_container_then_its_container_in_the_rclone_stand_in(cluster):
    assert IMAGE in cluster.image_names

    job = cluster.run_job("check")

    assert job.wait(60), job.logs("check")
    assert job.name == "check-manual-1"
    assert job.pod.node in cluster.nodes  # scheduled as any pod
    (pod,) = job.pods
    assert re.fullmatch(r"check-manual-1-[a-z]{5}", pod)
    log = job.logs("check")
    assert "sh=/usr/bin/busybox" in log
    for tool in TOOLS:
        assert f"tool {tool}=/usr/bin/busybox" in log
    assert f"marker=written by {pod}" in log  # the init container's file, in the named claim
    assert "uid=999 pwd=/data home=/tmp" in log  # the image's WORKDIR, the pod's HOME
    assert "no bash" in log and "root read-only" in log
    assert "stamp=20240102T030405Z" in log  # busybox date -d @EPOCH
    hosts, resolved = log.split("stamp=")[1].split("--- resolved")
    assert f"\t{pod}\n" in hosts and "reader" not in hosts  # its own name only, as the kubelet writes it
    assert f"{cluster.pod(0).ip}" in resolved and f"reader-0.reader.{NAMESPACE}.svc.cluster.local" in resolved
    written = cluster.claim_dir("backup") / "from-init"
    assert written.read_text() == f"written by {pod}\n"
    assert written.stat().st_gid == 999  # the claim's fsGroup


def test_the_statefulset_mounts_a_named_claim_beside_its_claim_template(cluster):
    cluster.wait_for(lambda: (cluster.pvc_dir(0) / "seen").exists(), timeout=30, what="reader-0 to list /backup")
    assert (cluster.pvc_dir(0) / "owner").read_text() == "reader-0\n"
    assert (cluster.pvc_dir(0) / "seen").parent != cluster.claim_dir("backup")
    assert cluster.claim_dir("backup").parent == cluster.claims_dir


def test_a_failing_job_gets_a_new_pod_until_its_backoff_limit(cluster):
    job = cluster.run_job("fails")

    assert job.wait(60) is False
    assert len(job.pods) == 2 and job.failed_pods == 2
    assert job.reason == "BackoffLimitExceeded"
    for pod in job.pods:
        assert f"attempt on {pod}" in job.logs("fail", pod=pod)


def test_with_restart_policy_on_failure_container_restarts_count_against_the_limit(cluster):
    job = cluster.run_job("retries-in-place", job_name="in-place")

    assert job.wait(60) is False
    assert job.pods == [job.pod.name] and job.pods[0].startswith("in-place-")
    assert job.pod.container("fail").restarts == 3
    assert job.reason == "BackoffLimitExceeded"


def test_active_deadline_seconds_stops_a_running_job(cluster):
    started = time.monotonic()
    job = cluster.run_job("sleeps")
    job.wait_running("sleep", timeout=30)

    assert job.wait(60) is False
    assert job.reason == "DeadlineExceeded"
    assert 3 <= time.monotonic() - started < 3 + 5 + 5
    assert len(job.pods) == 1 and job.pod.phase == "Terminated"
    assert not job.pod.container("sleep").running


def test_a_killed_pod_is_replaced_and_the_new_pod_finishes_the_work(cluster):
    job = cluster.run_job("resumable")
    first = job.wait_running("work", timeout=30)
    marker = cluster.claim_dir("backup") / "resumable" / f"started-{first}"
    cluster.wait_for(marker.exists, timeout=30, what="the first pod to start its work")
    pid = job.pod.container("work").proc.pid

    job.kill()

    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert job.wait(60)
    assert len(job.pods) == 2 and job.failed_pods == 1
    assert f"resuming after started-{first}" in job.logs("work")
    assert "working" in job.logs("work", pod=first)


def test_deleting_a_job_stops_its_pod_for_good(cluster):
    job = cluster.run_job("sleeps", job_name="deleted")
    job.wait_running("sleep", timeout=30)

    job.delete()

    assert job.state == "Deleted" and not job.pod.container("sleep").running
    time.sleep(1.5)
    assert len(job.pods) == 1
    with pytest.raises(EmulatorError, match="deleted"):
        job.wait(5)


def test_a_job_copies_to_an_s3_server_pod_with_rclone_configured_by_environment(cluster):
    server = cluster.run_pod("s3", S3_SERVER, labels={"app": "s3"})
    server.wait_ready(30)

    job = cluster.run_job("upload")

    assert job.wait(60), job.logs("upload") + server.logs("s3")
    log = job.logs("upload")
    # rclone copy keeps the modification time; lsl, lsjson and lsf --format tp show it
    assert f"{STAMP}.000000000 full/dump.sql" in log.split("--- lsl")[1]
    assert '"Path":"full/dump.sql"' in log and '"ModTime":"2024-01-02T03:04:05.000000000Z"' in log
    assert f"{STAMP};dump.sql" in log.split("--- lsf")[1]
    assert f"{cluster.cluster_ip('s3')}" in log.split("--- resolved")[1]  # the Service's address
    stored = cluster.claim_dir("s3-data") / "backups" / "full" / "dump.sql"
    assert stored.read_text() == f"dump of {job.pods[0]}\n"
    assert SECRET_KEY not in log


def test_a_second_cluster_with_the_same_claims_restores_while_the_first_runs(cluster, claims, tmp_path):
    assert (claims / "s3-data" / "backups" / "full" / "dump.sql").exists(), "runs after the upload"
    with Cluster(manifests(), tmp_path, prefix=_prefix("b"), claims_dir=claims, speed=SPEED) as second:
        second.start()
        server = second.run_pod("s3", S3_SERVER, labels={"app": "s3"})
        server.wait_ready(30)
        second.wait_ready(1, timeout=60)

        job = second.run_job("restore")

        assert job.wait(60), job.logs("restore")
        log = job.logs("restore")
        assert f"{STAMP}.000000000 full/dump.sql" in log
        assert "dump of upload-manual-1-" in log
        # Each cluster has its own StatefulSet claims, and both see the named ones.
        assert second.pvc_dir(0) != cluster.pvc_dir(0)
        assert (second.pvc_dir(0) / "owner").read_text() == "reader-0\n"
        assert cluster.pod(0).ready and cluster.standalone["s3"].ready
        assert second.network.bridge_ns != cluster.network.bridge_ns

        server.delete()

        assert second.endpoints("s3") == [] and cluster.endpoints("s3") == ["s3"]


def test_pods_get_addresses_round_robin_and_a_freed_one_comes_back_last():
    network = Network("ejabcdefghij")
    first = [network.allocate() for _ in range(3)]
    assert first == ["10.244.77.2", "10.244.77.3", "10.244.77.4"]
    network.release("10.244.77.3")
    assert network.allocate() == "10.244.77.5", "a freed address is not given again soon"
    rest = [network.allocate() for _ in range(LAST_POD_IP - 5)]
    assert rest[-1] == "10.244.77.254" and "10.244.77.3" not in rest
    assert network.allocate() == "10.244.77.3", "round the subnet"
    with pytest.raises(EmulatorError, match="no free address"):
        network.allocate()
    names = {network.veth(f"10.244.77.{octet}") for octet in range(FIRST_POD_IP, LAST_POD_IP + 1)}
    assert len(names) == LAST_POD_IP + 1 - FIRST_POD_IP and max(len(name) for name in names) <= 15
    assert network.mac("10.244.77.12") == "02:42:0a:f4:4d:0c"


def test_the_dns_names_a_pod_under_its_headless_service_and_no_pod_without_one():
    set_pod = Endpoint("db-0", "ns", "10.0.0.10", 0, {"app": "db"}, True, hostname="db-0", subdomain="db")
    unready = Endpoint("db-1", "ns", "10.0.0.11", 1, {"app": "db"}, False, hostname="db-1", subdomain="db")
    job_pod = Endpoint("backup-x-abcde", "ns", "10.0.0.110", 100, {"app": "db"}, True, hostname="backup-x-abcde")
    server = Endpoint("s3", "ns", "10.0.0.111", 101, {"app": "s3"}, True, hostname="s3")
    headless = {"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "selector": {"app": "db"}}}
    s3 = {"metadata": {"name": "s3"}, "spec": {"selector": {"app": "s3"}, "ports": [{"port": 9000}]}}
    services = Services([headless, s3], default_namespace="ns", min_sync=lambda: 1)

    names = services.names([server, job_pod, set_pod, unready])

    assert names == {"db.ns.svc.cluster.local": ("10.0.0.10", "10.0.0.110"),
                     "db-0.db.ns.svc.cluster.local": ("10.0.0.10",),
                     "s3.ns.svc.cluster.local": (services.cluster_ip(s3),)}
    headless["spec"]["publishNotReadyAddresses"] = True
    assert services.names([set_pod, unready])["db-1.db.ns.svc.cluster.local"] == ("10.0.0.11",)
