"""How the emulator carries a changed ConfigMap or Secret into running pods, pinned on small
hand-written pods in the ``rclone/rclone:1.75`` stand-in (busybox sh): as a kubelet does. Each
pod's volumes change at the pod's own sync, a moment uniformly spread over the sync window
after the change (``Cluster.speed`` scales it; the scenarios' speed makes it 30 s); the files
change all at once, through the ``..data`` link the kubelet's atomic writer swaps; a
``subPath`` mount and the environment keep what the container started with."""

from __future__ import annotations

import os
import time

import pytest

from emulator import Cluster
from scenario_tools import PREFIX, SPEED

pytestmark = pytest.mark.e2e

IMAGE = "rclone/rclone:1.75"
SIZE = 65536  # each file: one version digit repeated, so a torn file shows in its length
PODS = 6
SECURITY = {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
# Reads both files through one resolution of ..data (as a reader that wants a consistent set
# does), every 20 ms; logs each pair it sees for the first time, and TORN for a short file.
READER = r"""
seen=''
while :; do
  if cd /conf/..data 2>/dev/null; then
    a1=$(head -c 1 a 2>/dev/null) && a=$(cat a 2>/dev/null) && b1=$(head -c 1 b 2>/dev/null) && b=$(cat b 2>/dev/null) && {
      pair="$a1$b1"
      [ ${#a} -eq @SIZE@ ] && [ ${#b} -eq @SIZE@ ] || echo "TORN ${#a} ${#b}"
      [ "$pair" = "$seen" ] || { echo "pair $pair"; seen=$pair; }
    }
    cd /
  fi
  sleep 0.02
done
""".replace("@SIZE@", str(SIZE))


def version(n: int) -> dict[str, str]:
    return {"a": str(n) * SIZE, "b": str(n) * SIZE}


def manifests() -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": version(1)},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"}, "stringData": {"k": "s1"}},
    ]


POD = {
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 1,
    "securityContext": {"fsGroup": 999},
    "volumes": [{"name": "conf", "configMap": {"name": "conf"}},
                {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o440}}],
    "containers": [{
        "name": "main", "image": IMAGE, "command": ["sh", "-c", READER], "securityContext": SECURITY,
        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "a"}}}],
        "envFrom": [{"configMapRef": {"name": "conf"}, "prefix": "E_"}],
        "volumeMounts": [{"name": "conf", "mountPath": "/conf", "readOnly": True},
                         {"name": "conf", "mountPath": "/sub-a", "subPath": "a", "readOnly": True},
                         {"name": "sec", "mountPath": "/sec", "readOnly": True}],
    }],
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the emulator needs root (network, mount and PID namespaces, overlay mounts)", pytrace=False)
    with Cluster(manifests(), tmp_path_factory.mktemp("configmaps"), prefix=f"{PREFIX}cm{os.getpid() % 4096:03x}",
                 speed=SPEED) as c:
        c.start()
        handles = [c.run_pod(f"p{i}", POD) for i in range(PODS)]
        for handle in handles:
            handle.wait_ready(timeout=60)
        c.handles = handles
        yield c


def in_container(handle, command: str) -> str:
    result = handle.exec("main", ["sh", "-c", command])
    assert result.returncode == 0, result.stderr
    return result.stdout


def first_digit(handle, path: str) -> str:
    return in_container(handle, f"head -c 1 {path}")


def moments(cluster, digit: str, timeout: float) -> dict[str, float]:
    """Seconds from now until each pod's /conf/a starts with ``digit`` (read from the host,
    where the volume's files are; polled every 50 ms)."""
    started = time.monotonic()
    seen: dict[str, float] = {}
    while len(seen) < len(cluster.handles) and time.monotonic() - started < timeout:
        for handle in cluster.handles:
            if handle.name not in seen:
                path = handle.pod.dir / "volumes" / "conf" / "a"
                try:
                    with open(path) as f:
                        if f.read(1) == digit:
                            seen[handle.name] = time.monotonic() - started
                except OSError:
                    pass
        time.sleep(0.05)
    return seen


def test_the_volume_is_laid_out_as_the_atomic_writer_does(cluster):
    handle = cluster.handles[0]
    listing = in_container(handle, "ls -la /conf/")
    assert "..data -> ..20" in listing, listing
    assert "a -> ..data/a" in listing and "b -> ..data/b" in listing, listing
    assert "sec" not in in_container(handle, "ls /conf")
    assert in_container(handle, "cat /sec/k") == "s1"
    assert "k -> ..data/k" in in_container(handle, "ls -la /sec/")


def test_a_change_reaches_each_pod_at_its_own_moment_spread_over_the_window(cluster):
    window = cluster.timings.config_window_seconds
    assert window == pytest.approx(90 / SPEED)
    cluster.update_config_map("conf", version(2))
    seen = moments(cluster, "2", timeout=window + 10)
    after = {name: round(s, 1) for name, s in seen.items()}
    print(f"emulator: ConfigMap change reached {PODS} pods after {sorted(after.values())} s (window {window:g} s)")
    assert len(seen) == PODS, f"only {sorted(seen)} saw the change within {window + 10:g} s"
    assert max(seen.values()) <= window + 2, after
    # Spread, not at once: with 6 moments drawn uniformly over 30 s, a range under a tenth of the
    # window or all of them in its first quarter happens about once in 4000 runs.
    assert max(seen.values()) - min(seen.values()) > window / 10, after
    assert max(seen.values()) > window / 4, after
    # Pods that have not synced yet still see the old files, whole.
    for handle in cluster.handles:
        assert first_digit(handle, "/conf/b") == "2"


def test_moments_pinned_per_pod_are_kept_and_each_pod_is_independent(cluster):
    first, second = cluster.handles[0], cluster.handles[1]
    others = {h.name: 300.0 for h in cluster.handles[2:]}
    cluster.update_config_map("conf", version(3), moments={first.name: 1.0, second.name: 6.0, **others})
    time.sleep(3)
    assert first_digit(first, "/conf/a") == "3"
    assert first_digit(second, "/conf/a") == "2", f"{second.name}'s sync is not due yet"
    time.sleep(5)
    assert first_digit(second, "/conf/a") == "3"
    assert all(first_digit(h, "/conf/a") == "2" for h in cluster.handles[2:])
    # A second change before a pod's sync: that sync, at its own moment, carries the latest.
    cluster.update_config_map("conf", version(4), moments={first.name: 0.5, second.name: 0.5})
    time.sleep(2)
    assert first_digit(first, "/conf/a") == "4" and first_digit(second, "/conf/a") == "4"
    assert all(first_digit(h, "/conf/a") == "2" for h in cluster.handles[2:])
    cluster.update_config_map("conf", version(4), moments={h.name: 0.0 for h in cluster.handles[2:]})
    time.sleep(1)
    assert all(first_digit(h, "/conf/a") == "4" for h in cluster.handles)


def test_a_reader_never_sees_a_mix_or_a_torn_file(cluster):
    for handle in cluster.handles:
        log = handle.logs("main")
        pairs = [line.split()[1] for line in log.splitlines() if line.startswith("pair ")]
        assert "TORN" not in log, log[:2000]
        assert pairs and all(p[0] == p[1] for p in pairs), f"{handle.name} saw a mix of versions: {pairs}"
        assert pairs[-1] == "44", pairs


def test_subpath_and_environment_keep_what_the_container_started_with(cluster):
    handle = cluster.handles[0]
    assert first_digit(handle, "/conf/a") == "4"
    assert first_digit(handle, "/sub-a") == "1", "a subPath mount never changes in a running container"
    assert in_container(handle, "wc -c < /sub-a").strip() == str(SIZE)
    environ = in_container(handle, "tr '\\0' '\\n' < /proc/1/environ")
    values = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in environ.splitlines() if "=" in line}
    assert values["A"] == "1" * SIZE and values["E_a"] == "1" * SIZE and values["E_b"] == "1" * SIZE


def test_a_secret_change_reaches_each_pod_at_its_own_moment(cluster):
    cluster.update_secret("sec", {"k": "s2"}, moments={h.name: 0.5 + i for i, h in enumerate(cluster.handles)})
    time.sleep(2)
    values = [in_container(h, "cat /sec/k") for h in cluster.handles]
    assert values[0] == "s2" and values[-1] == "s1", values
    time.sleep(PODS)
    assert [in_container(h, "cat /sec/k") for h in cluster.handles] == ["s2"] * PODS
    listing = in_container(cluster.handles[0], "ls -la /sec/ /sec/..data/")
    assert "k -> ..data/k" in listing and "-r--r-----" in listing, listing
