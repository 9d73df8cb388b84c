"""A pod's volumes, as the kubelet's volume manager makes them: emptyDir, configMap and
secret volumes under the pod's folder; persistentVolumeClaim volumes, each a folder that
outlives its pods (a StatefulSet's claims from its volumeClaimTemplates, which the
StatefulSet controller names per pod, and claims named by ``claimName`` under the claims
folder); the pod's fsGroup applied to every writable one, and each container's
volumeMounts resolved to (mount path, source, readOnly)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EmulatorError
from .objects import Objects

if TYPE_CHECKING:
    from .pods import Pod


@dataclass(frozen=True)
class Mount:
    """A folder or file of the host, bind-mounted at ``target`` inside a container."""

    target: str
    source: Path
    read_only: bool


def fs_group(pod_spec: dict) -> int | None:
    return pod_spec.get("securityContext", {}).get("fsGroup")


class Volumes:
    """Volumes of any pod; ``claims_dir`` holds the claims named by ``claimName``."""

    def __init__(self, objects: Objects, claims_dir: Path) -> None:
        self.objects = objects
        self.claims_dir = claims_dir

    def claim_dir(self, claim_name: str) -> Path:
        """The folder of PersistentVolumeClaim ``claim_name`` (a pod volume's ``claimName``)."""
        if not claim_name or "/" in claim_name or claim_name in (".", ".."):
            raise EmulatorError(f"invalid claim name {claim_name!r}")
        return self.claims_dir / claim_name

    def materialize(self, pod: Pod) -> None:
        """Makes the pod's volumes: its own under its folder, its claims' if new."""
        group = fs_group(pod.spec)
        for volume in pod.spec.get("volumes", []):
            if "emptyDir" in volume:
                target = pod.dir / "emptydir" / volume["name"]
                target.mkdir(parents=True)
                target.chmod(0o777)  # as the kubelet makes an emptyDir
                self.apply_fs_group(target, group)
            elif "configMap" in volume:
                source = volume["configMap"]
                data = self.objects.config_map_data(source["name"])
                self._write_files(pod.dir / "volumes" / volume["name"], data, source, group)
            elif "secret" in volume:
                source = volume["secret"]
                data = self.objects.secret_data(source["secretName"])
                self._write_files(pod.dir / "volumes" / volume["name"], data, source, group)
            elif "persistentVolumeClaim" not in volume:
                raise EmulatorError(f"volume {volume['name']}: only emptyDir, configMap, secret and "
                                    "persistentVolumeClaim are emulated")
        for claim_dir in self.claim_dirs(pod).values():
            claim_dir.mkdir(parents=True, exist_ok=True)
            self.apply_fs_group(claim_dir, group)

    def claim_dirs(self, pod: Pod) -> dict[str, Path]:
        """The pod's claim volumes by volume name: the StatefulSet's, then those named by claimName."""
        dirs = dict(pod.claims)
        for volume in pod.spec.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                dirs[volume["name"]] = self.claim_dir(volume["persistentVolumeClaim"]["claimName"])
        return dirs

    def release(self, pod_dir: Path) -> None:
        """Removes the pod's emptyDirs (its claims stay)."""
        shutil.rmtree(pod_dir / "emptydir", ignore_errors=True)

    @staticmethod
    def apply_fs_group(path: Path, group: int | None) -> None:
        """What the kubelet does to a writable volume's folder for a pod with an fsGroup:
        the group owns it, may read, write and enter it, and new files inherit the group."""
        if group is not None:
            os.chown(path, 0, group)
            os.chmod(path, (path.stat().st_mode & 0o7777) | 0o2770)

    def mounts(self, pod: Pod, container: dict) -> list[Mount]:
        """The container's volumeMounts; a missing subPath is created, as the kubelet does."""
        mounts = []
        claims = self.claim_dirs(pod)
        for m in container.get("volumeMounts", []):
            source = self._source(pod, claims, m["name"])
            if m.get("subPath"):
                source = source / m["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
                    self.apply_fs_group(source, fs_group(pod.spec))
            mounts.append(Mount(m["mountPath"], source, bool(m.get("readOnly"))))
        return mounts

    @staticmethod
    def _source(pod: Pod, claims: dict[str, Path], name: str) -> Path:
        if name in claims:
            return claims[name]
        for volume in pod.spec.get("volumes", []):
            if volume["name"] == name:
                return pod.dir / ("emptydir" if "emptyDir" in volume else "volumes") / name
        raise EmulatorError(f"volume {name!r} is mounted but not declared")

    def update_config_map(self, pod: Pod, name: str, data: dict[str, str]) -> list[str]:
        """Rewrites the pod's volumes of ConfigMap ``name`` with ``data``, as the kubelet's sync
        does in a running pod; returns the volumes' names."""
        updated = []
        for volume in pod.spec.get("volumes", []):
            if volume.get("configMap", {}).get("name") == name:
                self._write_files(pod.dir / "volumes" / volume["name"], data, volume["configMap"], fs_group(pod.spec))
                updated.append(volume["name"])
        return updated

    @staticmethod
    def _write_files(target: Path, data: dict[str, str], source: dict, group: int | None) -> None:
        """A configMap or secret volume as the kubelet's atomic writer lays it out: the files in
        a timestamped folder, a ``..data`` symlink to it, and one symlink per key through
        ``..data``. An update writes a new folder and swaps ``..data`` with a rename, so a
        reader sees the old files or the new ones, never a mix."""
        mode = source.get("defaultMode", 0o644)
        items = source.get("items")
        mapping = {i["key"]: (i["path"], i.get("mode", mode)) for i in items} if items else {k: (k, mode) for k in data}
        if source.get("optional"):
            # An optional volume leaves out the keys its object lacks (the kubelet's
            # "optional: the ConfigMap or Secret, or its keys, need not be defined").
            mapping = {key: value for key, value in mapping.items() if key in data}
        target.mkdir(parents=True, exist_ok=True)
        previous = os.readlink(target / "..data") if (target / "..data").is_symlink() else None
        stamp = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
        stamp.mkdir()
        os.chmod(stamp, 0o755)
        for key, (path, file_mode) in mapping.items():
            if key not in data:
                raise EmulatorError(f"key {key!r} not found (have {sorted(data)})")
            f = stamp / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(data[key])
            os.chmod(f, file_mode)
            if group is not None:
                os.chown(f, 0, group)
        link = target / "..data_tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(stamp.name)
        os.replace(link, target / "..data")
        visible = {path.split("/")[0] for path, _ in mapping.values()}
        for top in visible:
            if not (target / top).is_symlink():
                (target / top).symlink_to(f"..data/{top}")
        for entry in target.iterdir():
            if not entry.name.startswith("..") and entry.name not in visible:
                entry.unlink()
        if previous:
            shutil.rmtree(target / previous, ignore_errors=True)

    def refresh_secret(self, pod: Pod, secret_name: str) -> None:
        """What the kubelet does when a Secret changes: every volume of the pod that projects
        it gets the new content, each file replaced whole (a reader sees the old or the new
        file, never half of one), with its mode and group."""
        data = self.objects.secret_data(secret_name)
        group = fs_group(pod.spec)
        for volume in pod.spec.get("volumes", []):
            source = volume.get("secret")
            if source is None or source["secretName"] != secret_name:
                continue
            target = pod.dir / "volumes" / volume["name"]
            if not target.is_dir():
                continue
            mode = source.get("defaultMode", 0o644)
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                staged = target / f"..{item['path']}.new"
                staged.write_text(data[item["key"]])
                os.chmod(staged, item.get("mode", mode))
                if group is not None:
                    os.chown(staged, 0, group)
                os.replace(staged, target / item["path"])

    def file_of_secret_volume(self, pod_spec: dict, file_name: str) -> str:
        """The content a Secret volume of ``pod_spec`` projects as ``file_name`` (an ``items`` path)."""
        for volume in pod_spec.get("volumes", []):
            if "secret" in volume:
                data = self.objects.secret_data(volume["secret"]["secretName"])
                for item in volume["secret"].get("items", []):
                    if item["path"] == file_name:
                        return data[item["key"]]
        raise EmulatorError(f"no Secret volume provides {file_name}")
