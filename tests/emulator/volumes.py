"""A pod's volumes, as the kubelet's volume manager makes them: emptyDir, configMap and
secret volumes under the pod's folder, one folder per PersistentVolumeClaim of the
StatefulSet's volumeClaimTemplates (kept across pods), the pod's fsGroup applied to every
writable one, and each container's volumeMounts resolved to (mount path, source, readOnly)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import EmulatorError
from .objects import Objects


@dataclass(frozen=True)
class Mount:
    """A folder or file of the host, bind-mounted at ``target`` inside a container."""

    target: str
    source: Path
    read_only: bool


class Volumes:
    def __init__(self, objects: Objects, statefulset_spec: dict, pvc_root: Path) -> None:
        self.objects = objects
        self.template = statefulset_spec["template"]["spec"]
        self.claims = [c["metadata"]["name"] for c in statefulset_spec.get("volumeClaimTemplates", [])]
        self.pvc_root = pvc_root
        self.fs_group = self.template.get("securityContext", {}).get("fsGroup")

    def pvc_dir(self, set_name: str, ordinal: int, claim: str) -> Path:
        """The folder of claim ``<claim>-<set_name>-<ordinal>``: it outlives its pods."""
        return self.pvc_root / f"{claim}-{set_name}-{ordinal}"

    def materialize(self, pod_dir: Path, set_name: str, ordinal: int) -> None:
        """Makes the pod's volumes: its own under ``pod_dir``, its claims' if new."""
        for volume in self.template.get("volumes", []):
            if "emptyDir" in volume:
                target = pod_dir / "emptydir" / volume["name"]
                target.mkdir(parents=True)
                target.chmod(0o777)  # as the kubelet makes an emptyDir
                self.apply_fs_group(target)
            elif "configMap" in volume:
                source = volume["configMap"]
                data = self.objects.config_map_data(source["name"])
                self._write_files(pod_dir / "volumes" / volume["name"], data, source)
            elif "secret" in volume:
                source = volume["secret"]
                data = self.objects.secret_data(source["secretName"])
                self._write_files(pod_dir / "volumes" / volume["name"], data, source)
            else:
                raise EmulatorError(f"volume {volume['name']}: only emptyDir, configMap and secret are emulated")
        for claim in self.claims:
            claim_dir = self.pvc_dir(set_name, ordinal, claim)
            claim_dir.mkdir(parents=True, exist_ok=True)
            self.apply_fs_group(claim_dir)

    def release(self, pod_dir: Path) -> None:
        """Removes the pod's emptyDirs (its claims stay)."""
        shutil.rmtree(pod_dir / "emptydir", ignore_errors=True)

    def apply_fs_group(self, path: Path) -> None:
        """What the kubelet does to a writable volume's folder for a pod with an fsGroup:
        the group owns it, may read, write and enter it, and new files inherit the group."""
        if self.fs_group is not None:
            os.chown(path, 0, self.fs_group)
            os.chmod(path, (path.stat().st_mode & 0o7777) | 0o2770)

    def mounts(self, pod_dir: Path, set_name: str, ordinal: int, container: dict) -> list[Mount]:
        """The container's volumeMounts; a missing subPath is created, as the kubelet does."""
        mounts = []
        for m in container.get("volumeMounts", []):
            source = self._source(pod_dir, set_name, ordinal, m["name"])
            if m.get("subPath"):
                source = source / m["subPath"]
                if not source.exists():
                    source.mkdir(parents=True)
                    self.apply_fs_group(source)
            mounts.append(Mount(m["mountPath"], source, bool(m.get("readOnly"))))
        return mounts

    def _source(self, pod_dir: Path, set_name: str, ordinal: int, name: str) -> Path:
        if name in self.claims:
            return self.pvc_dir(set_name, ordinal, name)
        for volume in self.template.get("volumes", []):
            if volume["name"] == name:
                return pod_dir / ("emptydir" if "emptyDir" in volume else "volumes") / name
        raise EmulatorError(f"volume {name!r} is mounted but not declared")

    def update_config_map(self, pod_dir: Path, name: str, data: dict[str, str]) -> list[str]:
        """Rewrites the pod's volumes of ConfigMap ``name`` with ``data``, as the kubelet's sync
        does in a running pod; returns the volumes' names."""
        updated = []
        for volume in self.template.get("volumes", []):
            if volume.get("configMap", {}).get("name") == name:
                self._write_files(pod_dir / "volumes" / volume["name"], data, volume["configMap"])
                updated.append(volume["name"])
        return updated

    def _write_files(self, target: Path, data: dict[str, str], source: dict) -> None:
        """A configMap or secret volume as the kubelet's atomic writer lays it out: the files in
        a timestamped folder, a ``..data`` symlink to it, and one symlink per key through
        ``..data``. An update writes a new folder and swaps ``..data`` with a rename, so a
        reader sees the old files or the new ones, never a mix."""
        mode = source.get("defaultMode", 0o644)
        items = source.get("items")
        mapping = {i["key"]: (i["path"], i.get("mode", mode)) for i in items} if items else {k: (k, mode) for k in data}
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
            if self.fs_group is not None:
                os.chown(f, 0, self.fs_group)
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

    def refresh_secret(self, pod_dir: Path, secret_name: str) -> None:
        """What the kubelet does when a Secret changes: every volume of the pod that projects
        it gets the new content, each file replaced whole (a reader sees the old or the new
        file, never half of one), with its mode and group."""
        data = self.objects.secret_data(secret_name)
        for volume in self.template.get("volumes", []):
            source = volume.get("secret")
            if source is None or source["secretName"] != secret_name:
                continue
            target = pod_dir / "volumes" / volume["name"]
            if not target.is_dir():
                continue
            mode = source.get("defaultMode", 0o644)
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                staged = target / f"..{item['path']}.new"
                staged.write_text(data[item["key"]])
                os.chmod(staged, item.get("mode", mode))
                if self.fs_group is not None:
                    os.chown(staged, 0, self.fs_group)
                os.replace(staged, target / item["path"])

    def file_of_secret_volume(self, file_name: str) -> str:
        """The content a Secret volume projects as ``file_name`` (an ``items`` path)."""
        for volume in self.template.get("volumes", []):
            if "secret" in volume:
                data = self.objects.secret_data(volume["secret"]["secretName"])
                for item in volume["secret"].get("items", []):
                    if item["path"] == file_name:
                        return data[item["key"]]
        raise EmulatorError(f"no Secret volume provides {file_name}")
