"""Running ``kubectl kustomize`` on a prepared directory, the way kustomize-controller builds.

``build_manifests`` builds (in chunks when the kustomization is a long plain list, see ``chunks``) and parses
the output; every error names the file (relative to the source root) or the object, and the problem.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.errors import CommandError
from sandbox.reconciler.kustomize import chunks, manifest, workspace
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.kustomize_errors import explain_kustomize_error
from sandbox.reconciler.kustomize.manifest import Manifest, Obj
from sandbox.reconciler.kustomize.source_files import find_kustomization, yaml_problem
from sandbox.tools import kubectl


def build(directory: Path, root: Path | None = None) -> list[Obj]:
    """``kubectl kustomize directory``: the built objects (see ``build_manifests``)."""
    return [item.obj for item in build_manifests(directory, root)]


def build_manifests(directory: Path, root: Path | None = None) -> list[Manifest]:
    """Run ``kubectl kustomize`` (load restrictions off, as in Flux) and parse its output.

    ``root`` is the source root messages name files relative to (by default the prepared copy ``directory``
    belongs to). Unknown kinds are not an error here; applying reports them.
    """
    root = root or workspace.source_root_of(directory)
    kfile = find_kustomization(directory)
    documents = chunks.plain_documents(kfile) if kfile is not None else None
    if documents is not None and len(documents) >= chunks.MIN_DOCUMENTS:
        built = chunks.build_in_chunks(documents, _kustomize, parse_output)
        if built is not None:
            return built
    try:
        output = _kustomize(directory)
    except CommandError as err:
        raise BuildError(f"kustomize build failed: {explain_kustomize_error(err.stderr_tail, root)}") from err
    return parse_output(output)


def _kustomize(directory: Path) -> str:
    return kubectl.kustomize_build(directory, load_restrictor="LoadRestrictionsNone")


def parse_output(output: str) -> list[Manifest]:
    """The objects of ``kubectl kustomize`` output, each with its YAML text."""
    manifests: list[Manifest] = []
    for text in manifest.split_documents(output):
        try:
            obj = manifest.load(text)
        except yaml.YAMLError as err:
            raise BuildError(f"kustomize printed YAML that cannot be read back: {yaml_problem(err)}") from err
        if obj is None:
            continue
        problem = manifest.object_problem(obj)
        if problem or not isinstance(obj, dict):
            raise BuildError(f"failed to decode Kubernetes apiVersion, kind and name from a built object: "
                             f"{problem}")
        manifests.append(Manifest(text=text, obj=obj))
    return manifests
