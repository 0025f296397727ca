"""From a source directory to the objects to apply: the build half of a Kustomization reconcile.

The order is Flux's: prepare the kustomization file, run kustomize, substitute ``postBuild`` variables, set
``commonMetadata``, then the owner labels. Any failure raises a ``BuildError`` before anything is applied, so
a broken revision leaves the cluster untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.reconciler.kustomize import build, inventory, substitute
from sandbox.reconciler.kustomize.manifest import Obj
from sandbox.reconciler.kustomize.substitute import STRICT_BY_DEFAULT


@dataclass(frozen=True)
class Rendered:
    """The objects of one revision, ready for ``staging.stages``."""

    objects: list[Obj]
    directory: Path
    substituted: bool


def render(source_root: Path, kustomization: Obj, workdir: Path, *,
           fetched: Mapping[tuple[str, str], Obj | None] | None = None,
           strict: bool = STRICT_BY_DEFAULT) -> Rendered:
    """Build ``kustomization`` (a Kustomization object) from the source at ``source_root``.

    ``fetched`` holds the ConfigMaps and Secrets of ``spec.postBuild.substituteFrom`` as read from the
    cluster (``substitute.references`` lists which); ``workdir`` is an empty scratch directory the caller
    removes afterwards.
    """
    spec: Mapping[str, Any] = kustomization.get("spec") or {}
    metadata = kustomization.get("metadata") or {}
    directory = build.prepare(source_root, str(spec.get("path") or ""), spec, workdir)
    manifests = build.build_manifests(directory, workdir / build.SOURCE_DIR)
    variables = substitute.load_variables(spec, fetched or {}) if spec.get("postBuild") else substitute.Variables()
    substituted = substitute.should_substitute(spec, variables)
    objects = substitute.substitute(manifests, spec, variables, strict=strict)
    objects = build.apply_common_metadata(objects, spec)
    objects = inventory.set_owner_labels(objects, str(metadata.get("name", "")), str(metadata.get("namespace", "")))
    return Rendered(objects=objects, directory=directory, substituted=substituted)
