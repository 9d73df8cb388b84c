"""The emulator's container images: root filesystems built from Debian packages (see build.py)."""

from __future__ import annotations

__all__ = ["IMAGES", "ImageStandIn", "cache_dir", "ensure_image"]


def __getattr__(name: str):
    # Imported on first use, so that ``python -m emulator.images.build`` runs build.py once.
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
