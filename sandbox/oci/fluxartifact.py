"""Flux's OCI artifact format, as ``flux push artifact`` builds it (fluxcd/pkg/oci ``Push``): an OCI image manifest
whose config has media type ``application/vnd.cncf.flux.config.v1+json``, one layer
``application/vnd.cncf.flux.content.v1.tar+gzip`` holding a reproducible tar.gz of a directory, and the manifest
annotations ``org.opencontainers.image.created|source|revision``.

The tar is fluxcd/pkg/tar's byte for byte: a depth-first walk in lexical order from the directory itself (``.``),
regular files and directories only, uid/gid 0, no user or group names, modification times zero, USTAR headers;
files filtered by the ignore patterns (flux's defaults: VCS metadata and binary extensions). So are the config and
the manifest's shape. The gzip stream is Python's, not Go's (Go's deflate compresses differently): layer and
manifest digests match only between our own pushes of the same content.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pathspec

from sandbox.oci.distribution import MANIFEST_TYPE, Blob, RegistryClient, sha256_digest

CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SOURCE_ANNOTATION = "org.opencontainers.image.source"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
CREATED_ANNOTATION = "org.opencontainers.image.created"
# flux CLI's --ignore-paths default: sourceignore.ExcludeVCS + ExcludeExt.
DEFAULT_IGNORE = (".git/", ".gitignore", ".gitmodules", ".gitattributes",
                  "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip")


@dataclass(frozen=True)
class Artifact:
    """A whole artifact ready to push: config, layers and the manifest's annotations."""

    config: Blob
    layers: tuple[Blob, ...]
    annotations: dict[str, str]

    def manifest(self) -> bytes:
        """The manifest bytes (compact JSON, fields in go-containerregistry's order)."""
        document: dict[str, Any] = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                                    "config": self.config.descriptor(),
                                    "layers": [layer.descriptor() for layer in self.layers]}
        if self.annotations:
            document["annotations"] = dict(sorted(self.annotations.items()))
        return json.dumps(document, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest())


def _walk(root: Path) -> list[Path]:
    """Every directory and regular file under ``root`` (``root`` first), depth-first in lexical order — Go's
    filepath.WalkDir order."""
    found = [root]
    with os.scandir(root) as entries:
        ordered = sorted(entries, key=lambda entry: entry.name.encode())
    for entry in ordered:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            found.extend(_walk(path))
        elif entry.is_file(follow_symlinks=False):
            found.append(path)
    return found


class _GoTarInfo(tarfile.TarInfo):
    """A USTAR header as Go's archive/tar writes it for fluxcd/pkg/tar: directory names without a trailing slash,
    and device numbers written as zeros (Python leaves them empty for files and directories)."""

    def get_info(self) -> Any:
        info: dict[str, Any] = dict(super().get_info())
        if info["type"] == tarfile.DIRTYPE and info["name"] != "/":
            info["name"] = str(info["name"]).rstrip("/")
        return info

    def tobuf(self, format: Literal[0, 1, 2] | None = tarfile.DEFAULT_FORMAT,
              encoding: str | None = tarfile.ENCODING, errors: str = "surrogateescape") -> bytes:
        header = bytearray(super().tobuf(format, encoding, errors))
        if len(header) != tarfile.BLOCKSIZE:
            return bytes(header)
        header[329:345] = b"0000000\x000000000\x00"
        header[148:156] = b" " * 8
        header[148:155] = b"%06o\x00" % sum(header)
        return bytes(header)


def build_tar(source: Path, ignore: tuple[str, ...] | list[str] = DEFAULT_IGNORE) -> bytes:
    """The uncompressed tar of ``source`` (a directory, or one file packed alone), byte for byte what
    fluxcd/pkg/tar writes: USTAR headers, and two zero blocks at the end without padding to a 10 KiB record."""
    if not source.exists():
        raise FileNotFoundError(f"source path does not exist: {source}")
    spec = pathspec.PathSpec.from_lines("gitignore", list(ignore))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT, tarinfo=_GoTarInfo) as tar:
        if source.is_file():
            _add_file(tar, source, source.name)
        else:
            for path in _walk(source):
                relative = path.relative_to(source).as_posix()
                if path != source and spec.match_file(relative + ("/" if path.is_dir() else "")):
                    continue
                if path.is_dir():
                    info = _GoTarInfo(relative)
                    info.type = tarfile.DIRTYPE
                    info.mode = path.stat().st_mode & 0o7777
                    info.mtime = 0
                    tar.addfile(info)
                else:
                    _add_file(tar, path, relative)
        end = tar.offset
    return buffer.getvalue()[:end + 2 * tarfile.BLOCKSIZE]


def build_layer(source: Path, ignore: tuple[str, ...] | list[str] = DEFAULT_IGNORE) -> bytes:
    """The tar.gz layer of ``source``. The tar is flux's byte for byte; the gzip stream is Python's (Go's deflate
    compresses differently), so the layer digest differs from flux's while the content and diff_id do not."""
    return gzip.compress(build_tar(source, ignore), mtime=0)


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> None:
    stat = path.stat()
    info = _GoTarInfo(name)
    info.size = stat.st_size
    info.mode = stat.st_mode & 0o7777
    info.mtime = 0
    with path.open("rb") as handle:
        tar.addfile(info, handle)


def config_blob(created: str, diff_ids: list[str]) -> Blob:
    """The config document as go-containerregistry's mutate leaves flux's empty image: the creation time, one empty
    history entry and the uncompressed digest (diff_id) of each layer — byte for byte, keys in Go's field order."""
    document = {"architecture": "", "created": created,
                "history": [{"created": "0001-01-01T00:00:00Z"} for _ in diff_ids], "os": "",
                "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}}
    return Blob(CONFIG_MEDIA_TYPE, json.dumps(document, separators=(",", ":")).encode())


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(source: Path, *, source_url: str, revision: str, created: str | None = None,
          annotations: dict[str, str] | None = None, ignore: tuple[str, ...] | list[str] = DEFAULT_IGNORE) -> Artifact:
    """The artifact ``flux push artifact --path SOURCE --source URL --revision REV`` would push."""
    stamp = created or now_rfc3339()
    merged = {CREATED_ANNOTATION: stamp, SOURCE_ANNOTATION: source_url, REVISION_ANNOTATION: revision}
    merged.update(annotations or {})
    tar = build_tar(source, ignore)
    layer = Blob(CONTENT_MEDIA_TYPE, gzip.compress(tar, mtime=0))
    return Artifact(config_blob(stamp, [sha256_digest(tar)]), (layer,), merged)


def push(client: RegistryClient, repository: str, tag: str, artifact: Artifact) -> str:
    """Upload the blobs, then the manifest as ``tag`` (last, so no tag names a half-pushed artifact); returns the
    manifest digest."""
    for blob in (*artifact.layers, artifact.config):
        client.push_blob(repository, blob.data)
    return client.push_manifest(repository, tag, artifact.manifest())
