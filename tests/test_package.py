"""The wheel carries the pod scripts, and an installed copy synthesizes the cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml
from synth_helpers import REPO, SIDECARS

SCRIPTS = sorted(SIDECARS.glob("*.sh"))

# The packaging inputs. The wheel is built from a copy of them so that setuptools' build/
# and *.egg-info folders never land in (or leak stale files from) the working tree.
PACKAGE_INPUTS = ["pyproject.toml", "README.md", "mysql_ha", "sidecars"]


def pip(*args: str, cwd: Path) -> None:
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in PACKAGE_INPUTS:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    assert (source / "mysql_ha" / "sidecars").is_symlink()
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source), cwd=out)
    (built,) = out.glob("mysql_ha-*.whl")
    return built


def test_wheel_contains_the_scripts(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        packaged = sorted(n for n in names if n.startswith("mysql_ha/sidecars/"))
        assert packaged == [f"mysql_ha/sidecars/{path.name}" for path in SCRIPTS]
        for path in SCRIPTS:
            assert archive.read(f"mysql_ha/sidecars/{path.name}") == path.read_bytes(), path.name
    assert "mysql_ha/__init__.py" in names
    assert not any(n.startswith(("tests/", "sidecars/")) for n in names)


SYNTH = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import cdk8s
    import mysql_ha

    assert Path(mysql_ha.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()), mysql_ha.__file__
    app = cdk8s.App(outdir=sys.argv[2])
    mysql_ha.MySQLHAChart(
        app, "mysql-ha", credentials=mysql_ha.MySQLCredentials.from_existing_secret("mysql-credentials")
    )
    app.synth()
    """
)


def test_installed_wheel_synthesizes_the_cluster(wheel, tmp_path):
    target, out, workdir = tmp_path / "site", tmp_path / "out", tmp_path / "work"
    workdir.mkdir()
    pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=workdir)
    assert (target / "mysql_ha" / "sidecars" / "clone.sh").is_file()

    env = {k: v for k, v in os.environ.items() if not k.startswith("MYSQL_HA_")}
    env.update(PYTHONPATH=str(target))
    result = subprocess.run(
        [sys.executable, "-c", SYNTH, str(target), str(out)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr

    (manifest_file,) = out.glob("*.yaml")
    manifests = list(yaml.safe_load_all(manifest_file.read_text()))
    kinds = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    assert ("StatefulSet", "mysql") in kinds
    scripts = next(m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith("mysql-scripts-"))
    assert scripts["data"] == {path.name: path.read_text() for path in SCRIPTS}
