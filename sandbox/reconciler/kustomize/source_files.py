"""Reading the files of a prepared source: kustomization files by kustomize's names, text in the encodings it
reads, YAML errors as line and column, and paths named relative to the source root."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.reconciler.kustomize.errors import BuildError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_API_VERSION = "kustomize.config.k8s.io/v1beta1"


def find_kustomization(directory: Path) -> Path | None:
    """The kustomization file of ``directory``, under any of the names kustomize recognises."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def read_text(path: Path, shown: str) -> str:
    """The text of ``path`` (UTF-8, or UTF-16 with a byte-order mark); ``shown`` names it in the error."""
    data = path.read_bytes()
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BuildError(f"{shown} is not UTF-8 (or UTF-16 with a byte-order mark) text") from err


def yaml_problem(err: yaml.YAMLError) -> str:
    """``line N: problem`` from a PyYAML error, without echoing the offending text."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or "invalid YAML"
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"


def shown_path(path: Path, root: Path) -> str:
    """``path`` as messages name it: relative to the source root, never the scratch directory."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or below it (both already resolved)."""
    return path == root or path.is_relative_to(root)
