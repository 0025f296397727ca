"""A single-layer image as a ``docker save`` archive (manifest.json, config, layer), which both ``docker load`` and
containerd's ``ctr images import`` read: the component images go into the node's containerd this way, no registry
and no Docker image in between."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.tools import rootfs

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def image_config(diff_id: str, *, entrypoint: Sequence[str], env: Sequence[str] = (PATH_ENV,),
                 arch: str = "amd64") -> dict[str, Any]:
    """The image config (OCI/Docker v1) of a one-layer image whose layer has ``diff_id``."""
    return {
        "architecture": arch,
        "os": "linux",
        "config": {"Entrypoint": list(entrypoint) or None, "Env": list(env), "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "gitops-sandbox kindnode"}],
    }


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def write(target: Path, reference: str, files: dict[str, tuple[rootfs.Content, int]], *,
          entrypoint: Sequence[str], directories: dict[str, int] | None = None,
          symlinks: dict[str, str] | None = None, arch: str = "amd64") -> str:
    """Write the image ``reference`` holding ``files`` (target path → (content, mode)) and ``symlinks`` (path → what
    it points to) as a docker-save archive at ``target``; returns the image id (the config's digest)."""
    with tempfile.TemporaryDirectory(prefix="kindnode-layer-") as tmp:
        layer = Path(tmp) / "layer.tar"
        rootfs.write(layer, files, directories=directories, symlinks=symlinks)
        layer_bytes = layer.read_bytes()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(image_config(diff_id, entrypoint=entrypoint, arch=arch), sort_keys=True).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    layer_name = f"{diff_id.removeprefix('sha256:')}/layer.tar"
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [reference], "Layers": [layer_name]}]
    with tarfile.open(target, "w") as archive:
        _add(archive, f"{config_hex}.json", config)
        _add(archive, layer_name, layer_bytes)
        _add(archive, "manifest.json", json.dumps(manifest).encode())
    return f"sha256:{config_hex}"


def read_manifest(archive_path: Path) -> list[dict[str, Any]]:
    """The manifest.json of a docker-save archive."""
    with tarfile.open(archive_path) as archive:
        member = archive.extractfile("manifest.json")
        if member is None:
            raise ValueError(f"{archive_path} has no manifest.json")
        data: list[dict[str, Any]] = json.loads(member.read())
    return data
