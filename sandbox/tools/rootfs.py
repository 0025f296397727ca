"""The root filesystem tarball of a stand-in image (``docker import``): files at their paths, every parent
directory, /tmp sticky and world-writable, chosen directories with other modes. Shared by the registry's and the
monitoring stack's stand-ins, which are built from Debian binaries because no image can be pulled here."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

Content = Path | bytes  # a file to copy (symlinks followed, as the loader's are) or the bytes themselves


def split_image(image: str) -> tuple[str, str]:
    """``repo:tag`` → (repo, tag); a reference without a tag is ``latest``."""
    repository, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return repository, tag


def _add_file(archive: tarfile.TarFile, data: bytes, target: str, mode: int) -> None:
    info = tarfile.TarInfo(target.lstrip("/"))
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _add_dir(archive: tarfile.TarFile, target: str, mode: int, owner: tuple[int, int] = (0, 0)) -> None:
    info = tarfile.TarInfo(target.lstrip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid, info.gid = owner
    archive.addfile(info)


def _add_symlink(archive: tarfile.TarFile, target: str, points_to: str) -> None:
    info = tarfile.TarInfo(target.lstrip("/"))
    info.type = tarfile.SYMTYPE
    info.linkname = points_to
    info.mode = 0o777
    archive.addfile(info)


def write(tarball: Path, files: dict[str, tuple[Content, int]], *, directories: dict[str, int] | None = None,
          owners: dict[str, tuple[int, int]] | None = None, symlinks: dict[str, str] | None = None) -> None:
    """Write ``files`` (target → (content, mode)) with every parent directory (0755; /tmp 01777; ``directories``
    gives other modes and adds directories that hold no file; ``owners`` gives directories a uid and gid other
    than root's; ``symlinks`` adds links, target → what it points to)."""
    modes = {"/tmp": 0o1777, **(directories or {})}
    targets = [*files, *(symlinks or {}), *(f"{directory}/.keep" for directory in modes)]
    parents = sorted({str(parent) for target in targets for parent in Path(target).parents if str(parent) != "/"})
    with tarfile.open(tarball, "w") as archive:
        for directory in parents:
            _add_dir(archive, directory, modes.get(directory, 0o755), (owners or {}).get(directory, (0, 0)))
        for target, (content, mode) in files.items():
            _add_file(archive, content if isinstance(content, bytes) else content.read_bytes(), target, mode)
        for target, points_to in (symlinks or {}).items():
            _add_symlink(archive, target, points_to)
