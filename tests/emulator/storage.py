"""PersistentVolumes and PersistentVolumeClaims, as the API server, the PV controller, a
provisioner and the scheduler's volume binding keep them: each PV a folder of its own.

StorageClasses come from the manifests. A claim of a class whose provisioner is
``kubernetes.io/no-provisioner`` binds only to an ``Available`` PV of that class with enough
capacity and every access mode it asks for (``WaitForFirstConsumer``: when its first pod is
scheduled, to a PV the pod's node can reach; ``Immediate``: at once). Any other class (one with
another provisioner, or none in the manifests, such as kind's ``standard``) is provisioned as
kind's rancher local-path provisioner does: a new PV on the node the pod was scheduled to,
reclaim policy ``Delete`` unless its StorageClass says otherwise. A claim a pod names by
``claimName`` with no PersistentVolumeClaim in the manifests is made when a pod first uses it and
provisioned a PV that any node reaches (``ReadWriteMany``), its folder ``<claims_dir>/<name>``, so
that clusters given the same claims folder share it; a claim in the manifests that a pod names
has its folder there too.

Deleting a claim: while a scheduled pod that has not ended uses it, it stays
(``kubernetes.io/pvc-protection``) and goes once that pod is gone. Then its PV follows its
reclaim policy: ``Retain`` leaves it ``Released`` with its data, never bound again (until
``delete`` removes the object and ``add`` brings it back, ``Available``, data and all);
``Delete`` removes the PV and its folder.

Access modes are checked at scheduling (``conflict``): ``ReadWriteOncePod``, one pod at most;
``ReadWriteOnce``, the pods of one node; ``ReadWriteMany`` and ``ReadOnlyMany``, any. Claim names
are unique across namespaces here, as pod names are."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EmulatorError
from .memory import quantity_bytes

NO_PROVISIONER = "kubernetes.io/no-provisioner"
HOSTNAME_LABEL = "kubernetes.io/hostname"
DEFAULT_CLASS = "standard"  # kind's default StorageClass


@dataclass
class PersistentVolume:
    """``node``: the one node its nodeAffinity allows (None: every node); ``claim``: its
    claimRef's name; ``phase``: Available, Bound or Released; ``path``: its data."""

    name: str
    capacity: int
    access_modes: tuple[str, ...]
    storage_class: str
    reclaim_policy: str
    node: str | None
    path: Path
    phase: str = "Available"
    claim: str | None = None

    @classmethod
    def from_manifest(cls, manifest: dict, folder: Path) -> "PersistentVolume":
        spec = manifest["spec"]
        return cls(name=manifest["metadata"]["name"], capacity=quantity_bytes(spec["capacity"]["storage"]),
                   access_modes=tuple(spec.get("accessModes", [])), storage_class=spec.get("storageClassName", ""),
                   reclaim_policy=spec.get("persistentVolumeReclaimPolicy", "Retain"),
                   node=affinity_node(manifest["metadata"]["name"], spec.get("nodeAffinity")),
                   path=folder / manifest["metadata"]["name"])


@dataclass
class PersistentVolumeClaim:
    """``volume``: the PV it is bound to (None: Pending); ``deleting``: deleted, held by a pod
    that uses it; ``shared``: named by ``claimName`` with its folder in the claims folder."""

    name: str
    namespace: str
    storage_class: str
    request: int
    access_modes: tuple[str, ...]
    shared: bool = False
    volume: str | None = None
    deleting: bool = False

    @property
    def phase(self) -> str:
        return "Bound" if self.volume else "Pending"


def affinity_node(name: str, affinity: dict | None) -> str | None:
    """The node a PV's ``nodeAffinity`` allows: one ``kubernetes.io/hostname In [node]`` term
    (what local PVs and the local-path provisioner write); None without nodeAffinity."""
    if not affinity:
        return None
    nodes = {value for term in affinity.get("required", {}).get("nodeSelectorTerms", [])
             for expression in term.get("matchExpressions", [])
             if expression.get("key") == HOSTNAME_LABEL and expression.get("operator") == "In"
             for value in expression.get("values", [])}
    if len(nodes) != 1:
        raise EmulatorError(f"PersistentVolume {name}: only a nodeAffinity on one {HOSTNAME_LABEL} is emulated, "
                            f"got {affinity}")
    return nodes.pop()


def pv_nodes(manifests: list[dict]) -> list[str]:
    """The nodes the manifests' PersistentVolumes sit on, in order of first mention."""
    nodes = [affinity_node(m["metadata"]["name"], m["spec"].get("nodeAffinity"))
             for m in manifests if m["kind"] == "PersistentVolume"]
    return list(dict.fromkeys(n for n in nodes if n))


@dataclass
class Storage:
    """The StorageClasses, PVs and claims of one cluster. ``pv_dir`` holds the PVs' folders,
    ``claims_dir`` those of the claims pods name by ``claimName``."""

    pv_dir: Path
    claims_dir: Path
    classes: dict[str, dict] = field(default_factory=dict)
    pvs: dict[str, PersistentVolume] = field(default_factory=dict)
    pvcs: dict[str, PersistentVolumeClaim] = field(default_factory=dict)
    claim_manifests: dict[str, dict] = field(default_factory=dict)
    log: object = print

    def add(self, manifests: list[dict]) -> list[str]:
        """The StorageClass, PersistentVolume and PersistentVolumeClaim objects of ``manifests``
        (``kubectl apply``): a PV not known yet comes Available; one that exists is left as it is.
        Returns what was added."""
        added = []
        for m in manifests:
            name = m["metadata"]["name"]
            if m["kind"] == "StorageClass":
                self.classes[name] = m
            elif m["kind"] == "PersistentVolume" and name not in self.pvs:
                self.pvs[name] = PersistentVolume.from_manifest(m, self.pv_dir)
                added.append(f"PersistentVolume/{name}")
            elif m["kind"] == "PersistentVolumeClaim":
                self.claim_manifests[name] = m
        return added

    # ------------------------------------------------------------------ claims

    def is_static(self, storage_class: str) -> bool:
        return self.classes.get(storage_class, {}).get("provisioner") == NO_PROVISIONER

    def binding_mode(self, storage_class: str) -> str:
        return self.classes.get(storage_class, {}).get("volumeBindingMode", "Immediate")

    def create_claim(self, name: str, namespace: str, spec: dict, *, shared: bool = False) -> PersistentVolumeClaim:
        """A claim from a claim template's or a PersistentVolumeClaim's spec."""
        claim = PersistentVolumeClaim(
            name=name, namespace=namespace, storage_class=spec.get("storageClassName") or DEFAULT_CLASS,
            request=quantity_bytes(spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")),
            access_modes=tuple(spec.get("accessModes") or ["ReadWriteOnce"]), shared=shared)
        self.pvcs[name] = claim
        self.log(f"create pvc {name} ({claim.storage_class}, {', '.join(claim.access_modes)})")
        if self.is_static(claim.storage_class) and self.binding_mode(claim.storage_class) == "Immediate":
            pv = next(iter(self.candidates(claim, None)), None)
            if pv is not None:
                self.bind(claim, pv)
        return claim

    def named_claim(self, name: str, namespace: str) -> PersistentVolumeClaim:
        """The claim a pod names by ``claimName``: the manifests' object, or one made for it."""
        if not name or "/" in name or name in (".", ".."):
            raise EmulatorError(f"invalid claim name {name!r}")
        claim = self.pvcs.get(name)
        if claim is None:
            manifest = self.claim_manifests.get(name)
            spec = manifest["spec"] if manifest else {"accessModes": ["ReadWriteMany"]}
            claim = self.create_claim(name, namespace, spec, shared=True)
        return claim

    def path(self, claim_name: str) -> Path:
        """The folder of claim ``claim_name``'s data: its PV's."""
        claim = self.pvcs.get(claim_name)
        if claim is None or claim.volume is None:
            raise EmulatorError(f"claim {claim_name} is not bound to a PersistentVolume"
                                + ("" if claim else " (no such claim)"))
        return self.pvs[claim.volume].path

    # ------------------------------------------------------------------ binding, at scheduling

    def candidates(self, claim: PersistentVolumeClaim, node: str | None) -> list[PersistentVolume]:
        """Available PVs of the claim's class that ``node`` reaches, with enough capacity and
        every access mode it asks for; the smallest first, as the PV controller picks."""
        fit = [pv for pv in self.pvs.values()
               if pv.phase == "Available" and pv.storage_class == claim.storage_class and pv.capacity >= claim.request
               and set(claim.access_modes) <= set(pv.access_modes) and (node is None or pv.node in (None, node))]
        return sorted(fit, key=lambda pv: (pv.capacity, pv.name))

    def unfit(self, claims: list[PersistentVolumeClaim], node: str) -> str | None:
        """Why a pod with these claims cannot go to ``node`` as far as volumes go (None: it can)."""
        taken: set[str] = set()
        for claim in claims:
            if claim.deleting:
                return f"persistentvolumeclaim {claim.name} is being deleted"
            if claim.volume is not None:
                pv = self.pvs[claim.volume]
                if pv.node not in (None, node):
                    return f"volume node affinity conflict (claim {claim.name} is bound to {pv.name} on {pv.node})"
            elif self.is_static(claim.storage_class):
                if self.binding_mode(claim.storage_class) == "Immediate":
                    return f"persistentvolumeclaim {claim.name} is not bound"
                pv = next((pv for pv in self.candidates(claim, node) if pv.name not in taken), None)
                if pv is None:
                    return f"no Available PersistentVolume of class {claim.storage_class} for claim {claim.name}"
                taken.add(pv.name)
        return None

    def bind_for(self, claims: list[PersistentVolumeClaim], node: str) -> None:
        """Binds the pod's unbound claims on ``node`` (``unfit`` said it can go there): a static
        class's claim to an Available PV there, any other class's to a new PV provisioned there."""
        for claim in claims:
            if claim.volume is not None:
                continue
            if self.is_static(claim.storage_class):
                self.bind(claim, self.candidates(claim, node)[0])
            else:
                self.bind(claim, self.provision(claim, node))

    def provision(self, claim: PersistentVolumeClaim, node: str) -> PersistentVolume:
        """A new PV for the claim, as kind's local-path provisioner makes one: on ``node``,
        reclaim policy from the StorageClass (Delete by default). A claim named by
        ``claimName`` with no object in the manifests gets a PV every node reaches."""
        name = f"pvc-{uuid.uuid4()}"
        shared_everywhere = claim.shared and claim.name not in self.claim_manifests
        policy = self.classes.get(claim.storage_class, {}).get("reclaimPolicy", "Delete")
        pv = PersistentVolume(name=name, capacity=claim.request, access_modes=claim.access_modes,
                              storage_class=claim.storage_class, reclaim_policy="Retain" if claim.shared else policy,
                              node=None if shared_everywhere else node,
                              path=self.claims_dir / claim.name if claim.shared else self.pv_dir / name)
        self.pvs[name] = pv
        self.log(f"provision {name} for pvc {claim.name} on {pv.node or 'every node'}")
        return pv

    def bind(self, claim: PersistentVolumeClaim, pv: PersistentVolume) -> None:
        pv.phase, pv.claim, claim.volume = "Bound", claim.name, pv.name
        pv.path.mkdir(parents=True, exist_ok=True)
        self.log(f"bind pvc {claim.name} to {pv.name}" + (f" on {pv.node}" if pv.node else ""))

    # ------------------------------------------------------------------ deletion

    def delete_claim(self, name: str, in_use: bool) -> None:
        """``kubectl delete pvc``: gone at once, or, while a pod uses it, once it is not."""
        claim = self.pvcs.get(name)
        if claim is None:
            raise EmulatorError(f"no PersistentVolumeClaim {name} (have {sorted(self.pvcs)})")
        claim.deleting = True
        self.log(f"delete pvc {name}" + (" (in use: kept until its pod is gone)" if in_use else ""))
        if not in_use:
            self.remove_claim(claim)

    def remove_claim(self, claim: PersistentVolumeClaim) -> None:
        """The claim's object goes; its PV follows its reclaim policy."""
        self.pvcs.pop(claim.name, None)
        if claim.volume is None:
            return
        pv = self.pvs[claim.volume]
        if pv.reclaim_policy == "Delete":
            self.pvs.pop(pv.name)
            shutil.rmtree(pv.path, ignore_errors=True)
            self.log(f"pvc {claim.name} gone, {pv.name} deleted with its data")
        else:
            pv.phase = "Released"
            self.log(f"pvc {claim.name} gone, {pv.name} Released (its data kept)")

    def delete_volume(self, name: str) -> None:
        """``kubectl delete pv``: the object goes, the folder stays (a static PV's data is the
        administrator's); a Bound PV may not be deleted here."""
        pv = self.pvs.get(name)
        if pv is None:
            raise EmulatorError(f"no PersistentVolume {name} (have {sorted(self.pvs)})")
        if pv.phase == "Bound":
            raise EmulatorError(f"PersistentVolume {name} is bound to {pv.claim}: delete the claim first")
        self.pvs.pop(name)
        self.log(f"delete pv {name}")


def access_conflict(claim: PersistentVolumeClaim, node: str, users: list[tuple[str, str]]) -> str | None:
    """Why a pod cannot use ``claim`` on ``node`` given the other pods that use it now
    (``users``: (pod name, node)); None when it can."""
    if not users:
        return None
    if "ReadWriteOncePod" in claim.access_modes:
        return f"claim {claim.name} is ReadWriteOncePod and {users[0][0]} uses it"
    if set(claim.access_modes) & {"ReadWriteMany", "ReadOnlyMany"}:
        return None
    other = next(((pod, on) for pod, on in users if on != node), None)
    if other is not None:
        return f"claim {claim.name} is ReadWriteOnce and {other[0]} uses it on {other[1]}"
    return None
