"""``sandbox setup --kind-node-image``: every phase of the node image, each skipped when its output is cached, and
the image itself rebuilt only when its inputs (binary digests, package list, layout) change."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox import binaries, config, gobuild
from sandbox.errors import InputError
from sandbox.kindnode import components, debian, layout, node, nodefs, recipes, storage
from sandbox.tools import docker


@dataclass(frozen=True)
class Result:
    image: str
    built: bool  # False: the cached image was current


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()[:16]


def kind_files_dir(progress: layout.Progress) -> Path:
    """kind's images/base/files, from its module."""
    upstream = gobuild.fetch(layout.KIND_MODULE, layout.KIND_VERSION, progress)
    files = upstream.module.dir / "images" / "base" / "files"
    if not files.is_dir():
        raise InputError(f"{files} not found: {layout.KIND_MODULE} {layout.KIND_VERSION} no longer ships its base "
                         "image files where this recipe expects them")
    return files


def control_plane(version: str) -> dict[str, Path]:
    if not binaries.cache_is_current(version):
        raise InputError(f"the control plane {version} is not in the cache: run `sandbox setup --version {version}` "
                         "first (the node image's kube-apiserver, -controller-manager, -scheduler and etcd images "
                         "are made from it)")
    directory = binaries.cache_bin_dir(version)
    return {name: directory / name for name in (*binaries.CONTROL_PLANE, "etcd")}


def fingerprint(version: str, inputs: dict[str, Path], files: dict[str, tuple[bytes | Path, int]]) -> str:
    """What the image is made of: the binaries' digests, the Debian package list, and every file added to the
    rootfs (kind's base files as patched, the sandbox's own)."""
    added = hashlib.sha256()
    for path, (content, mode) in sorted(files.items()):
        data = _digest(content).encode() if isinstance(content, Path) else content
        added.update(f"{path}:{mode}:".encode() + data)
    return layout.fingerprint({
        "k8s": version, "kind": layout.KIND_VERSION, "debian": json.dumps(debian.wanted(), sort_keys=True),
        "files": added.hexdigest(), "pause": recipes.PAUSE_GO,
        **{name: _digest(path) for name, path in sorted(inputs.items())},
    })


def busybox() -> Path:
    """The static busybox of the storage helper image."""
    if not storage.BUSYBOX.is_file():
        raise InputError(f"{storage.BUSYBOX} not found: `apt-get install busybox-static` (the node image's storage "
                         "helper pods run it: sh, mkdir, rm)")
    return storage.BUSYBOX


def ensure(version: str, progress: layout.Progress, *, force: bool = False) -> Result:
    """The node image ``layout.node_image(version)``, built unless current."""
    reference = layout.node_image(version)
    usable, why = docker.usable()
    if not usable:
        raise InputError(f"the kind node image is assembled with Docker: {why}")
    kind_files = kind_files_dir(progress)
    cp = control_plane(version)
    node_bins = dict(zip(binaries.NODE, recipes.ensure(recipes.node_binaries_target(version), progress,
                                                        force=force), strict=True))
    pause = recipes.ensure(recipes.pause_target(), progress, force=force)[0]
    storage_bins = {"local-path-provisioner": recipes.ensure(recipes.local_path_target(), progress, force=force)[0],
                    "local-path-helper": busybox()}
    rootfs = debian.ensure(progress)
    files = nodefs.added_files(rootfs, kind_files, node_bins, version)
    fp = fingerprint(version, {**cp, "kube-proxy": node_bins["kube-proxy"], **storage_bins}, files)
    if not force and node.image_fingerprint(reference) == fp:
        progress("node image", f"cached ({reference}, inputs unchanged)")
        return Result(reference, False)

    def write_images(refs: Sequence[layout.ImageRef], out_dir: Path) -> list[Path]:
        component_bins: dict[str, Path] = {**cp, "kube-proxy": node_bins["kube-proxy"], "pause": pause,
                                           **storage_bins}
        for ref in refs:
            if ref.component == "coredns":
                component_bins["coredns"] = recipes.ensure(recipes.coredns_target(ref.tag), progress)[0]
        return components.write_all(refs, component_bins, out_dir, progress, iptables_root=rootfs)

    work = config.cache_root() / "kindnode"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix=".node-") as tmp:
        tarball = Path(tmp) / "node-rootfs.tar"
        progress("node rootfs", "Debian rootfs + kind base files + kubelet/kubeadm/kubectl")
        nodefs.write(tarball, rootfs, files, nodefs.links())
        node.assemble(tarball, version, write_images, fp, progress)
    return Result(reference, True)
