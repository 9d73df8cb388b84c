"""A pod's volumes, as the kubelet's volume manager makes them: emptyDir, configMap and
secret volumes under the pod's folder; persistentVolumeClaim volumes, each the folder of the
PersistentVolume its claim is bound to (``storage.py``; a StatefulSet's claims from its
volumeClaimTemplates, which the StatefulSet controller names per pod, and claims named by
``claimName``); the pod's fsGroup applied to every writable one, and each container's
volumeMounts resolved to (mount path, source, readOnly). ConfigMap and secret volumes are laid
out as the kubelet's atomic writer lays them out (``..data``) and rewritten, all files at once,
when the pod's sync finds their object changed (``refresh``; when is the kubelet's, pods.py)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EmulatorError
from .objects import Objects
from .storage import Storage

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


def claim_names(pod: Pod) -> dict[str, str]:
    """The pod's claim volumes: volume name -> claim name (its StatefulSet's, then those named
    by ``claimName``)."""
    names = dict(pod.claims)
    for volume in pod.spec.get("volumes", []):
        if "persistentVolumeClaim" in volume:
            names[volume["name"]] = volume["persistentVolumeClaim"]["claimName"]
    return names


class Volumes:
    """Volumes of any pod; ``storage`` has the claims and their PersistentVolumes."""

    def __init__(self, objects: Objects, storage: Storage) -> None:
        self.objects = objects
        self.storage = storage

    def claim_dir(self, claim_name: str) -> Path:
        """The folder of PersistentVolumeClaim ``claim_name`` (a pod volume's ``claimName``):
        its PV's; before a claim the manifests do not hold is bound, where it will be."""
        claim = self.storage.pvcs.get(claim_name)
        if claim is not None and claim.volume is not None:
            return self.storage.path(claim_name)
        if not claim_name or "/" in claim_name or claim_name in (".", ".."):
            raise EmulatorError(f"invalid claim name {claim_name!r}")
        return self.storage.claims_dir / claim_name

    def materialize(self, pod: Pod) -> None:
        """Makes the pod's volumes: its own under its folder, its claims' if new."""
        group = fs_group(pod.spec)
        for volume in pod.spec.get("volumes", []):
            if "emptyDir" in volume:
                target = pod.dir / "emptydir" / volume["name"]
                target.mkdir(parents=True)
                target.chmod(0o777)  # as the kubelet makes an emptyDir
                self.apply_fs_group(target, group)
            elif "configMap" in volume or "secret" in volume:
                self._project(pod, volume, group)
            elif "persistentVolumeClaim" not in volume:
                raise EmulatorError(f"volume {volume['name']}: only emptyDir, configMap, secret and "
                                    "persistentVolumeClaim are emulated")
        for claim_dir in self.claim_dirs(pod).values():
            claim_dir.mkdir(parents=True, exist_ok=True)
            self.apply_fs_group(claim_dir, group)

    def claim_dirs(self, pod: Pod) -> dict[str, Path]:
        """The pod's claim volumes by volume name: the folders of their bound PVs."""
        return {volume: self.storage.path(claim) for volume, claim in claim_names(pod).items()}

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

    # ------------------------------------------------------------------ ConfigMap and Secret volumes

    def projection(self, volume: dict) -> dict[str, tuple[str, int]] | None:
        """What a configMap or secret volume shows now, from the objects: file path -> (content,
        mode); None for any other volume. A missing key raises (the kubelet would not start the pod)."""
        if "configMap" in volume:
            source = volume["configMap"]
            data = self.objects.config_map_data(source["name"])
        elif "secret" in volume:
            source = volume["secret"]
            data = self.objects.secret_data(source["secretName"])
        else:
            return None
        mode = source.get("defaultMode", 0o644)
        items = source.get("items")
        mapping = {i["key"]: (i["path"], i.get("mode", mode)) for i in items} if items else {k: (k, mode) for k in data}
        if source.get("optional"):
            # An optional volume leaves out the keys its object lacks (the kubelet's
            # "optional: the ConfigMap or Secret, or its keys, need not be defined").
            mapping = {key: value for key, value in mapping.items() if key in data}
        missing = [key for key in mapping if key not in data]
        if missing:
            raise EmulatorError(f"volume {volume['name']}: key {missing[0]!r} not found (have {sorted(data)})")
        return {path: (data[key], file_mode) for key, (path, file_mode) in mapping.items()}

    @staticmethod
    def projects(volume: dict, kind: str, name: str) -> bool:
        """Whether ``volume`` shows the ConfigMap or Secret ``name``."""
        if kind == "ConfigMap":
            return volume.get("configMap", {}).get("name") == name
        return volume.get("secret", {}).get("secretName") == name

    def refresh(self, pod: Pod) -> list[str]:
        """The kubelet's sync of a running pod's configMap and secret volumes: each whose
        object changed since it was written gets the new files, swapped in atomically; returns
        the names of the volumes rewritten. A container's ``subPath`` mount of such a volume
        keeps the file it started with, and its environment never changes."""
        updated = []
        for volume in pod.spec.get("volumes", []):
            files = self.projection(volume)
            target = pod.dir / "volumes" / volume["name"]
            if files is None or pod.projections.get(volume["name"]) == files or not target.is_dir():
                continue
            self._write_files(target, files, fs_group(pod.spec))
            pod.projections[volume["name"]] = files
            updated.append(volume["name"])
        return updated

    def _project(self, pod: Pod, volume: dict, group: int | None) -> None:
        files = self.projection(volume)
        self._write_files(pod.dir / "volumes" / volume["name"], files, group)
        pod.projections[volume["name"]] = files

    @staticmethod
    def _write_files(target: Path, files: dict[str, tuple[str, int]], group: int | None) -> None:
        """A configMap or secret volume as the kubelet's atomic writer lays it out: the files in
        a timestamped folder ``..<date>``, a ``..data`` symlink to it, and one symlink per
        top-level name through ``..data``. An update writes a new folder, points a new link
        ``..data_tmp`` at it and renames that over ``..data`` (one rename: a reader that opens
        ``..data/...`` sees the old files or the new ones, never a mix), then drops the names
        that are gone and removes the old folder."""
        target.mkdir(parents=True, exist_ok=True)
        previous = os.readlink(target / "..data") if (target / "..data").is_symlink() else None
        stamp = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
        stamp.mkdir()
        os.chmod(stamp, 0o755)
        for path, (content, file_mode) in files.items():
            f = stamp / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(content)
            os.chmod(f, file_mode)
            if group is not None:
                os.chown(f, 0, group)
        link = target / "..data_tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(stamp.name)
        os.replace(link, target / "..data")
        visible = {path.split("/")[0] for path in files}
        for top in visible:
            if not (target / top).is_symlink():
                (target / top).symlink_to(f"..data/{top}")
        for entry in target.iterdir():
            if not entry.name.startswith("..") and entry.name not in visible:
                entry.unlink()
        if previous:
            shutil.rmtree(target / previous, ignore_errors=True)

    def file_of_secret_volume(self, pod_spec: dict, file_name: str) -> str:
        """The content a Secret volume of ``pod_spec`` projects as ``file_name`` (an ``items`` path)."""
        for volume in pod_spec.get("volumes", []):
            if "secret" in volume:
                data = self.objects.secret_data(volume["secret"]["secretName"])
                for item in volume["secret"].get("items", []):
                    if item["path"] == file_name:
                        return data[item["key"]]
        raise EmulatorError(f"no Secret volume provides {file_name}")
