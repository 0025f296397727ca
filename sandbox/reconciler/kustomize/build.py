"""Preparing and running a Kustomization build the way kustomize-controller does.

``prepare`` copies the source into a scratch directory (refusing symlinks that leave it), resolves
``spec.path``, generates a kustomization file when the path has none, and writes the Kustomization's
build settings into it. ``build_manifests`` runs ``kubectl kustomize`` and parses the output; every error
names the file (relative to the source root) or the object, and the problem.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import CommandError
from sandbox.reconciler.kustomize import build_settings, chunks, generate, manifest, references
from sandbox.reconciler.kustomize.errors import BuildError, PathNotFound
from sandbox.reconciler.kustomize.kustomize_errors import explain_kustomize_error
from sandbox.reconciler.kustomize.manifest import Manifest, Obj
from sandbox.reconciler.kustomize.source_files import find_kustomization, is_inside, yaml_problem
from sandbox.tools import kubectl

SOURCE_DIR = "source"


# --- preparing --------------------------------------------------------------------------------------------

def prepare(source_root: Path, path: str, spec: Mapping[str, Any], workdir: Path) -> Path:
    """Copy ``source_root`` to ``workdir/source`` and return the directory to build.

    ``workdir`` is a scratch directory the caller owns (and removes); ``source/`` must not exist in it yet.
    Raises ``PathNotFound`` when ``path`` is not a directory of the source and ``BuildError`` for symlinks
    or kustomization references that leave the source, and for files the generator cannot read.
    """
    root = workdir / SOURCE_DIR
    copy_source(source_root, root)
    directory = resolve_path(root, path)
    kfile = find_kustomization(directory)
    if kfile is None:
        kfile = generate.generate_kustomization(directory, root)
    build_settings.apply_spec(kfile, spec, root)
    references.check_references(root)
    return directory


def copy_source(source_root: Path, destination: Path) -> None:
    """Copy a source tree, skipping ``.git``. Symlinks are kept (as relative links) when they resolve inside
    the source and refused otherwise, so nothing outside the source can be read through the copy."""
    if not source_root.is_dir():
        raise BuildError(f"the source directory {source_root} does not exist")
    real_root = Path(os.path.realpath(source_root))
    destination.mkdir(parents=True)
    for current, dirnames, filenames in os.walk(real_root):
        dirnames[:] = [name for name in dirnames if name != ".git"]
        here = Path(current)
        relative = here.relative_to(real_root)
        target_dir = destination / relative
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)  # never descend through a link; recreate it below
                _copy_link(here / name, target_dir / name, real_root)
            else:
                (target_dir / name).mkdir()
        for name in filenames:
            entry = here / name
            if entry.is_symlink():
                _copy_link(entry, target_dir / name, real_root)
            else:
                shutil.copyfile(entry, target_dir / name)


def _copy_link(link: Path, destination: Path, real_root: Path) -> None:
    target = Path(os.path.realpath(link))
    relative = link.relative_to(real_root)
    if not is_inside(target, real_root):
        raise BuildError(f"symlink {relative} points to {os.readlink(link)}, outside the source; "
                         "only links that stay inside the repository are allowed")
    os.symlink(os.path.relpath(target, link.parent), destination)


def resolve_path(root: Path, path: str) -> Path:
    """The directory ``spec.path`` names inside the source root (empty, ``.``, ``./`` and ``/`` mean the
    root, as in Flux)."""
    shown = path or "./"
    relative = os.path.normpath(path.lstrip("/") or ".")
    if relative == ".." or relative.startswith("../"):
        raise PathNotFound(f"spec.path {shown!r} points outside the source; give a path inside the repository")
    directory = root / relative
    if not directory.exists():
        raise PathNotFound(f"kustomization path not found: {shown!r} does not exist in the source"
                           f"{_top_level_hint(root)}")
    if not directory.is_dir():
        raise PathNotFound(f"kustomization path {shown!r} is a file, not a directory")
    if not is_inside(Path(os.path.realpath(directory)), Path(os.path.realpath(root))):
        raise PathNotFound(f"spec.path {shown!r} points outside the source through a symlink")
    return directory


def _top_level_hint(root: Path) -> str:
    entries = sorted(p.name + "/" for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not entries:
        return ""
    more = ", …" if len(entries) > 10 else ""
    return f" (its top-level directories: {', '.join(entries[:10])}{more})"


# --- building ---------------------------------------------------------------------------------------------

def build(directory: Path, root: Path | None = None) -> list[Obj]:
    """``kubectl kustomize directory``: the built objects (see ``build_manifests``)."""
    return [item.obj for item in build_manifests(directory, root)]


def build_manifests(directory: Path, root: Path | None = None) -> list[Manifest]:
    """Run ``kubectl kustomize`` (load restrictions off, as in Flux) and parse its output.

    ``root`` is the source root messages name files relative to (by default the prepared copy ``directory``
    belongs to). Unknown kinds are not an error here; applying reports them.
    """
    root = root or _source_root_of(directory)
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


def _source_root_of(directory: Path) -> Path:
    for candidate in (directory, *directory.parents):
        if candidate.name == SOURCE_DIR:
            return candidate
    return directory
