"""The scratch copy of the source a Kustomization is built in, and the directory ``spec.path`` names in it.

``prepare`` copies the source into a scratch directory (refusing symlinks that leave it), resolves
``spec.path``, generates a kustomization file when the path has none, writes the Kustomization's build
settings into it and checks that no kustomization file reaches outside the copy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.reconciler.kustomize import build_settings, generate, references
from sandbox.reconciler.kustomize.errors import BuildError, PathNotFound
from sandbox.reconciler.kustomize.source_files import find_kustomization, is_inside

SOURCE_DIR = "source"


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


def source_root_of(directory: Path) -> Path:
    """The prepared copy ``directory`` belongs to (the nearest ``source`` directory above it), else itself."""
    for candidate in (directory, *directory.parents):
        if candidate.name == SOURCE_DIR:
            return candidate
    return directory
