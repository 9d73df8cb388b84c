"""A pod emulator: runs the pods of synthesized manifests (a StatefulSet's, Jobs made from
CronJobs, pods a test starts by itself) from root filesystems that stand in for their images
(``images``), as processes in network, mount, UTS and PID namespaces. ``cluster.py`` is the entry
point and says which module does what."""

from .cluster import Cluster
from .errors import EmulatorError, SQLError
from .jobs import Job
from .standalone import StandalonePod

__all__ = ["Cluster", "EmulatorError", "Job", "SQLError", "StandalonePod"]
