"""The kustomization file Flux generates for a path without one, listing its manifest files after checking
that each holds Kubernetes objects."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import yaml

from sandbox.reconciler.kustomize import manifest
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.source_files import (
    KUSTOMIZATION_FILES,
    KUSTOMIZE_API_VERSION,
    find_kustomization,
    read_text,
    shown_path,
    yaml_problem,
)


def generate_kustomization(directory: Path, root: Path) -> Path:
    """Write ``kustomization.yaml`` listing every manifest under ``directory``, as Flux's generator does.

    Walks in lexical order; a subdirectory holding a kustomization file is listed as one resource and not
    descended into; only ``.yaml``/``.yml`` files are listed, and each must hold Kubernetes objects (Flux
    fails the build otherwise: exclude such files from the source). Hidden files and directories are
    skipped (the source artifact excludes ``.git/``, ``.github/`` and the like anyway).
    """
    resources = [f"./{relative}" for relative in _scan(directory, directory, root)]
    kfile = directory / KUSTOMIZATION_FILES[0]
    document = {"apiVersion": KUSTOMIZE_API_VERSION, "kind": "Kustomization", "resources": resources}
    kfile.write_text(manifest.dump(document))
    return kfile


def _scan(base: Path, current: Path, root: Path) -> Iterator[str]:
    for entry in sorted(os.scandir(current), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        relative = path.relative_to(base).as_posix()
        if entry.is_dir(follow_symlinks=False):
            if find_kustomization(path) is not None:
                yield relative
            else:
                yield from _scan(base, path, root)
            continue
        if path.suffix not in (".yaml", ".yml"):
            continue
        if entry.is_symlink() and not path.is_file():
            continue  # a link to a directory or a dangling link is not a manifest file
        _check_manifest_file(path, root)
        yield relative


def _check_manifest_file(path: Path, root: Path) -> None:
    shown = shown_path(path, root)
    text = read_text(path, shown)
    try:
        documents = list(manifest.load_all(text))
    except yaml.YAMLError as err:
        raise BuildError(f"failed to decode Kubernetes YAML from {shown}: {yaml_problem(err)}") from err
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        problem = manifest.object_problem(document)
        if problem:
            where = f"document {index} of {shown}" if len(documents) > 1 else shown
            raise BuildError(f"failed to decode Kubernetes YAML from {where}: {problem}; every YAML file under "
                             "the path must hold Kubernetes objects (move other files out of the path)")
