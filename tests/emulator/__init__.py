"""A pod emulator: runs a synthesized StatefulSet's pods as processes in network namespaces."""

from .cluster import Cluster, EmulatorError, SQLError

__all__ = ["Cluster", "EmulatorError", "SQLError"]
