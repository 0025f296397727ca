"""Which paths kustomization files refer to, and the refusal of those that leave the source root.

kustomize runs with ``LoadRestrictionsNone`` as in Flux (files anywhere in the source may be loaded), so this
check is what keeps it from reading files outside the copy, like Flux's secure filesystem does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sandbox.reconciler.kustomize import manifest
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.source_files import (
    KUSTOMIZATION_FILES,
    is_inside,
    read_text,
    shown_path,
    yaml_problem,
)

_REMOTE_PREFIXES = ("git::", "gh:", "ssh://", "https://", "http://", "git@", "github.com:", "github.com/")


def check_references(root: Path) -> None:
    """Refuse kustomization files whose local references leave the source root."""
    real_root = Path(os.path.realpath(root))
    for current, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if name not in KUSTOMIZATION_FILES:
                continue
            kfile = Path(current) / name
            shown = shown_path(kfile, root)
            try:
                document = manifest.load(read_text(kfile, shown))
            except yaml.YAMLError as err:
                raise BuildError(f"{shown}: {yaml_problem(err)}") from err
            if not isinstance(document, dict):
                continue
            for reference in _local_references(document):
                _check_reference(kfile, shown, reference, real_root)


def is_local_relative_path(path: str) -> bool:
    """True for a relative path on disk; false for absolute paths and remote (git/http) references."""
    path = path.removeprefix("file://")
    return not path.startswith("/") and not is_remote(path)


def is_remote(path: str) -> bool:
    """Whether a kustomization reference is fetched (git, http, GitHub shorthands) rather than read from disk."""
    return path.lower().startswith(_REMOTE_PREFIXES) or ("://" in path and not path.startswith("file://"))


def _check_reference(kfile: Path, shown: str, reference: str, real_root: Path) -> None:
    if reference.startswith("/"):
        raise BuildError(f"{shown} references {reference!r}, an absolute path outside the source; "
                         "use a path relative to the kustomization file")
    target = Path(os.path.normpath(kfile.parent / reference))
    if not is_inside(Path(os.path.realpath(target)), real_root):
        raise BuildError(f"{shown} references {reference!r}, which is outside the source; "
                         "kustomizations may only load files from the same repository")


def _local_references(document: dict[str, Any]) -> Iterator[str]:
    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    yield item

    candidates: list[str] = []
    for key in ("resources", "bases", "components", "crds", "configurations", "generators", "transformers",
                "validators", "patchesStrategicMerge"):
        candidates.extend(strings(document.get(key)))
    for key in ("patches", "patchesJson6902", "replacements"):
        for item in document.get(key) or []:
            if isinstance(item, dict):
                candidates.extend(strings(item.get("path")))
    for key in ("configMapGenerator", "secretGenerator"):
        for item in document.get(key) or []:
            if not isinstance(item, dict):
                continue
            candidates.extend(entry.partition("=")[2] or entry for entry in strings(item.get("files")))
            candidates.extend(strings(item.get("envs")))
            candidates.extend(strings(item.get("env")))
    openapi = document.get("openapi")
    if isinstance(openapi, dict):
        candidates.extend(strings(openapi.get("path")))
    for candidate in candidates:
        # Inline patches and generator configs are YAML, not paths; remote bases are fetched, not read.
        if "\n" in candidate or ": " in candidate or is_remote(candidate):
            continue
        yield candidate.removeprefix("file://")
