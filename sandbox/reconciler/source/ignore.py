"""Which files of a source go into its artifact: Flux's default exclusions, ``.sourceignore`` files and
``spec.ignore``, all in .gitignore syntax."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pathspec

DEFAULT_EXCLUSIONS = [
    ".git/", ".gitignore", ".gitmodules", ".gitattributes",
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml", "cloudbuild.yaml",
    "codeship-services.yml", "codeship-steps.yml", "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
]
SOURCEIGNORE = ".sourceignore"


def matcher(root: Path, spec_ignore: str | None) -> pathspec.PathSpec[Any]:
    """Patterns for ``root``: spec.ignore replaces the defaults (as in Flux); .sourceignore files add to them."""
    lines = spec_ignore.splitlines() if spec_ignore is not None else list(DEFAULT_EXCLUSIONS)
    for ignore_file in sorted(root.rglob(SOURCEIGNORE)):
        prefix = ignore_file.parent.relative_to(root).as_posix()
        for raw in ignore_file.read_text(errors="replace").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if prefix != ".":
                negate = line.startswith("!")
                body = line[1:] if negate else line
                body = f"{prefix}/{body.lstrip('/')}"
                line = ("!" if negate else "") + body
            lines.append(line)
    return pathspec.PathSpec.from_lines("gitignore", lines)


def included_files(root: Path, spec_ignore: str | None) -> list[Path]:
    """Files under ``root`` (relative paths, sorted) that belong in the artifact."""
    spec = matcher(root, spec_ignore)
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(root).as_posix()
        if spec.match_file(relative):
            continue
        files.append(Path(relative))
    return files
