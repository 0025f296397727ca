"""The scanned tags of each ImageRepository, kept as image-reflector-controller's filesystem database keeps them: one
``tags.txt`` (a tag a line, in the registry's order) per repository under the reconciler's data directory, written
atomically, read by the ImagePolicy controller, surviving a restart of the reconciler."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


def revision_of(tags: list[str]) -> str:
    """``lastScanResult.revision``: sha256 over the stored lines (each tag and a newline), as upstream's SetTags."""
    return "sha256:" + hashlib.sha256("".join(f"{tag}\n" for tag in tags).encode()).hexdigest()


class TagStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, namespace: str, name: str) -> Path:
        return self.root / "imagerepository" / namespace / name / "tags.txt"

    def set_tags(self, namespace: str, name: str, tags: list[str]) -> str:
        """Store ``tags`` for ImageRepository ``namespace/name``; returns their revision."""
        path = self._file(namespace, name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tags-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.writelines(f"{tag}\n" for tag in tags)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return revision_of(tags)

    def tags(self, namespace: str, name: str) -> list[str]:
        """The stored tags; empty when the repository was never scanned (or its tags were dropped)."""
        try:
            return self._file(namespace, name).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def delete(self, namespace: str, name: str) -> None:
        shutil.rmtree(self._file(namespace, name).parent, ignore_errors=True)
