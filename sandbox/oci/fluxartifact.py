"""Flux's OCI artifact format, as ``flux push artifact`` builds it (fluxcd/pkg/oci ``Push``): an OCI image manifest
whose config has media type ``application/vnd.cncf.flux.config.v1+json``, one layer
``application/vnd.cncf.flux.content.v1.tar+gzip`` holding a reproducible tar.gz of a directory, and the manifest
annotations ``org.opencontainers.image.created|source|revision``.

The tar follows fluxcd/pkg/tar: a depth-first walk in lexical order from the directory itself (``.``), regular files
and directories only, uid/gid 0, no user or group names, modification times zero; files filtered by the ignore
patterns (flux's defaults: VCS metadata and binary extensions). The gzip stream is Python's, not Go's: the same
content, not the same compressed bytes (Go's deflate differs) — so digests match only between our own pushes.
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
from typing import Any

import pathspec

from sandbox.oci.distribution import MANIFEST_TYPE, RegistryClient, sha256_digest

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
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


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


def build_layer(source: Path, ignore: tuple[str, ...] | list[str] = DEFAULT_IGNORE) -> bytes:
    """The tar.gz of ``source`` (a directory, or one file packed alone) as fluxcd/pkg/oci builds it."""
    if not source.exists():
        raise FileNotFoundError(f"source path does not exist: {source}")
    spec = pathspec.PathSpec.from_lines("gitignore", list(ignore))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        if source.is_file():
            _add_file(tar, source, source.name)
        else:
            for path in _walk(source):
                relative = path.relative_to(source).as_posix()
                if path != source and spec.match_file(relative + ("/" if path.is_dir() else "")):
                    continue
                if path.is_dir():
                    info = tarfile.TarInfo(relative)
                    info.type = tarfile.DIRTYPE
                    info.mode = path.stat().st_mode & 0o7777
                    info.mtime = 0
                    tar.addfile(info)
                else:
                    _add_file(tar, path, relative)
    return buffer.getvalue()


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> None:
    stat = path.stat()
    info = tarfile.TarInfo(name)
    info.size = stat.st_size
    info.mode = stat.st_mode & 0o7777
    info.mtime = 0
    with path.open("rb") as handle:
        tar.addfile(info, handle)


def config_blob(created: str) -> Blob:
    """The config document: an empty image config stamped with the creation time (as the flux CLI leaves it)."""
    document = {"architecture": "", "created": created, "os": "", "rootfs": {"type": "", "diff_ids": None},
                "config": {}}
    return Blob(CONFIG_MEDIA_TYPE, json.dumps(document, separators=(",", ":")).encode())


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(source: Path, *, source_url: str, revision: str, created: str | None = None,
          annotations: dict[str, str] | None = None, ignore: tuple[str, ...] | list[str] = DEFAULT_IGNORE) -> Artifact:
    """The artifact ``flux push artifact --path SOURCE --source URL --revision REV`` would push."""
    stamp = created or now_rfc3339()
    merged = {CREATED_ANNOTATION: stamp, SOURCE_ANNOTATION: source_url, REVISION_ANNOTATION: revision}
    merged.update(annotations or {})
    return Artifact(config_blob(stamp), (Blob(CONTENT_MEDIA_TYPE, build_layer(source, ignore)),), merged)


def push(client: RegistryClient, repository: str, tag: str, artifact: Artifact) -> str:
    """Upload the blobs, then the manifest as ``tag`` (last, so no tag names a half-pushed artifact); returns the
    manifest digest."""
    for blob in (*artifact.layers, artifact.config):
        client.push_blob(repository, blob.data)
    return client.push_manifest(repository, tag, artifact.manifest())
