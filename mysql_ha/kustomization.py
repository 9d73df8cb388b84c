"""write_kustomization: makes a synthesized output folder a kustomize base."""

from __future__ import annotations

from pathlib import Path

import cdk8s

FILE_NAME = "Kustomization"


def write_kustomization(app: cdk8s.App) -> Path:
    """Writes ``Kustomization`` into the app's output folder, listing every manifest
    file there (``*.k8s.yaml``, sorted by name), and returns its path. Call it after
    ``app.synth()``: the folder then works with ``kubectl apply -k``, as an Argo CD
    kustomize application and as a Flux ``Kustomization`` path, and serves as a base for
    overlays. The objects keep their own namespaces and sync-wave annotations.

    ``Kustomization`` is one of the three names kustomize looks for, and the one without a
    ``.yaml`` extension: ``kubectl apply -f <folder>`` and ``cdk8s synth --stdout`` read only
    ``*.yaml``/``*.yml``/``*.json`` files as manifests, so they keep working on the folder.
    """
    outdir = Path(app.outdir)
    manifests = sorted(path.name for path in outdir.glob(f"*{app.output_file_extension}"))
    if not manifests:
        raise ValueError(f"write_kustomization: no *{app.output_file_extension} files in {outdir}; call app.synth() first")
    lines = [
        "# The manifests of this folder as a kustomize base: kubectl apply -k <folder>",
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        *(f"  - {name}" for name in manifests),
    ]
    path = outdir / FILE_NAME
    path.write_text("\n".join(lines) + "\n")
    return path
