"""The emulator's exceptions."""

from __future__ import annotations


class EmulatorError(RuntimeError):
    """Something a kubelet would report as a pod or container error, or a wait that timed out."""


class SQLError(RuntimeError):
    """A statement that the server (or its client) refused; the message is the client's stderr."""
