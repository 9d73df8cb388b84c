"""A pod emulator: runs a synthesized StatefulSet's pods from root filesystems that stand in
for their images (``images``), as processes in network, mount and UTS namespaces.
``cluster.py`` is the entry point and says which module does what."""

from .cluster import Cluster
from .errors import EmulatorError, SQLError

__all__ = ["Cluster", "EmulatorError", "SQLError"]
