"""What one engine's emulated run measured."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class BringUp:
    seconds: float  # Cluster.start() to both replicas replicating a row written on the primary
    ready_seconds: float  # Cluster.start() to 3 ready pods
    pods: list[dict[str, float]]  # per pod: mark -> seconds since start()


@dataclass
class CloneRun:
    data_mib: float  # table data on the donor (the bench.data_* tablespaces)
    donor_datadir_mib: float  # every file in the donor's data directory: what the floors copy
    replica_datadir_mib: float  # mysql-1's data directory once its server runs
    clone_s: float  # clone-mysql init container: start to successful exit
    floors_s: dict[str, float]  # relay -> seconds of tar | relay of the donor's data directory, pod to pod
    copy_phase: str  # the name, in phases, of the phase that moves the data
    phases: dict[str, float] = field(default_factory=dict)  # where the clone's time went

    @property
    def floor_relay(self) -> str:
        """The faster floor's relay: the one the clone is held against."""
        return min(self.floors_s, key=self.floors_s.__getitem__)

    @property
    def floor_s(self) -> float:
        return self.floors_s[self.floor_relay]

    @property
    def clone_mib_s(self) -> float:
        return self.donor_datadir_mib / self.clone_s

    @property
    def floor_mib_s(self) -> float:
        return self.donor_datadir_mib / self.floor_s

    @property
    def ratio(self) -> float:
        """What a user pays: the whole clone container against the faster floor."""
        return self.floor_s / self.clone_s

    @property
    def copy_s(self) -> float | None:
        return self.phases.get(self.copy_phase)

    @property
    def overhead_s(self) -> float | None:
        return None if self.copy_s is None else self.clone_s - self.copy_s

    @property
    def copy_ratio(self) -> float | None:
        """The data-copy phase alone against the faster floor."""
        return None if not self.copy_s else self.floor_s / self.copy_s


@dataclass
class CatchUp:
    rows: int
    applied_rows: int  # rows applied between the first and the last observation
    seconds: float  # between those two observations
    restart_to_caught_up_s: float  # from the replica's re-creation to holding every row
    transactions: int
    binlog_format: str  # on the primary
    replica_settings: dict[str, str] = field(default_factory=dict)

    @property
    def rows_s(self) -> float:
        return self.applied_rows / self.seconds


@dataclass
class BackupRun:
    name: str  # the backup's name on the target
    source: str  # the pod it copied (the manifest's source)
    data_mib: float  # table data on the primary
    datadir_mib: float  # the primary's data directory: what the floors copy, and the rate's numerator
    source_datadir_mib: float  # the data directory of the pod the backup copied
    archive_mib: float  # data.tar.zst on the target
    seconds: float  # the Job: created to complete
    phases: dict[str, float] = field(default_factory=dict)  # where the Job's time went, in order
    copy_data_s: float | None = None  # within the copy, the part that moves the data

    @property
    def mib_s(self) -> float:
        return self.datadir_mib / self.seconds


@dataclass
class RestoreRun:
    backup: str
    seconds: float  # Cluster.start() of a fresh 1-pod set to its pod ready
    phases: dict[str, float] = field(default_factory=dict)
    restored_mib: float = 0.0  # the restored pod's data directory


@dataclass
class LargeRun:
    """A backup of a large data directory under a steady writer, then its restore, checked."""
    datadir_mib: float  # the primary's data directory when the backup began
    backup: BackupRun
    restore: RestoreRun
    floor_s: float  # the data directory at the engine's copy floor (its headline clone's faster relay)
    writer_rows: int  # rows the writer had acknowledged when the backup Job was created: all restored
    tables_checked: int  # tables whose CHECKSUM TABLE on the restored server matched the backup's record


@dataclass
class PointInTime:
    archive_interval_s: int  # binlog_archive_interval_seconds of the chart
    write_times: list[float]  # seconds from the first write, each committed write
    rpo_s: list[float]  # per write: from its commit to archived-until on the target passing it
    rows: int  # loaded after the backup, replayed by the restore
    transactions: int
    replay_s: float  # the restore's binary log replay
    replay_measured_by: str  # "processes" (sampled) or "log" (the container's whole-second timestamps)
    binlogs: int  # binary logs the restore replayed
    restore: RestoreRun  # the whole restore to the point in time

    @property
    def rpo_max_s(self) -> float:
        return max(self.rpo_s)

    @property
    def rpo_median_s(self) -> float:
        return statistics.median(self.rpo_s)

    @property
    def replay_rows_s(self) -> float:
        return self.rows / self.replay_s


@dataclass
class EngineResult:
    key: str  # BenchEngine.key
    engine: str  # the product's engine name, e.g. mysql-8.4
    image: str  # the server image the chart names
    server_version: str  # of the server the emulator ran for that image
    clone_method: str
    bring_up: BringUp
    clones: list[CloneRun]
    catch_up: CatchUp
    transport_mib_s: dict[str, float] = field(default_factory=dict)
    backup_alone: tuple[float, float] | None = None  # (MiB streamed, seconds) into a pipe, no relay
    clones_tls: list[CloneRun] = field(default_factory=list)  # the clone at the largest size, TLS on
    backup: BackupRun | None = None  # one backup Job at the largest size, to a claim
    restore: RestoreRun | None = None  # a fresh 1-pod set from that backup
    point_in_time: PointInTime | None = None  # binary logs archived, then replayed by a restore
    large: LargeRun | None = None  # a large data directory backed up under writes, restored and checked

    @property
    def backup_ratio(self) -> float | None:
        """The backup's rate against the faster floor of the headline clone (both MiB/s of the
        primary's data directory)."""
        return None if self.backup is None else self.backup.mib_s / self.headline.floor_mib_s

    @property
    def headline_tls(self) -> CloneRun | None:
        """Of the clones with TLS on, the one with the median ratio (against the same floors)."""
        runs = sorted(self.clones_tls, key=lambda c: c.ratio)
        return runs[len(runs) // 2] if runs else None

    @property
    def headline_runs(self) -> list[CloneRun]:
        """The clone/floor pairs at the largest size."""
        largest = max(c.data_mib for c in self.clones)
        return [c for c in self.clones if c.data_mib == largest]

    @property
    def headline(self) -> CloneRun:
        """Of the pairs at the largest size, the one with the median ratio: its clone and
        floors were measured back to back."""
        runs = sorted(self.headline_runs, key=lambda c: c.ratio)
        return runs[len(runs) // 2]
