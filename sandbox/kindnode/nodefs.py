"""The node's root filesystem as one tarball: the Debian rootfs with kind's base-image edits (the systemd units it
removes, enables and masks), kind's base files from its module, the Kubernetes binaries and ``layout.node_files``."""

from __future__ import annotations

import fnmatch
import io
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path

from sandbox.kindnode import layout

# What kind's base Dockerfile deletes from the distribution's systemd setup (paths without the leading /, with
# /usr/lib and /lib alike since Debian merged /usr).
REMOVED = (
    "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
    "lib/systemd/system/multi-user.target.wants/*",
    "etc/systemd/system/*.wants/*",
    "lib/systemd/system/local-fs.target.wants/*",
    "lib/systemd/system/sockets.target.wants/*udev*",
    "lib/systemd/system/sockets.target.wants/*initctl*",
    "lib/systemd/system/basic.target.wants/*",
)
SKIPPED_TREES = ("dev/", "proc/", "sys/", "run/", "tmp/", "var/cache/apt/", "var/lib/apt/lists/")
ENABLED = ("kubelet.service", "containerd.service", "undo-mount-hacks.service")
MASKED = ("systemd-binfmt.service",)
# kind's base image has its own containerd build in /usr/local/bin, which its containerd.service starts.
LOCAL_BIN_LINKS = {"containerd": "/usr/bin/containerd", "ctr": "/usr/bin/ctr",
                   "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2"}


def removed(relative: str) -> bool:
    """kind's base image deletes this path (relative to /)."""
    normal = relative[len("usr/"):] if relative.startswith("usr/lib/") else relative
    return any(fnmatch.fnmatchcase(normal, pattern) for pattern in REMOVED)


def skipped(relative: str) -> bool:
    """Contents of pseudo filesystems and apt caches do not go into the image (the directories themselves do)."""
    return any(relative.startswith(tree) for tree in SKIPPED_TREES)


def kind_base_files(files_dir: Path) -> dict[str, tuple[bytes, int]]:
    """kind's images/base/files with the modes its Dockerfile gives them (0755 for /usr/local/bin and /kind/bin,
    0644 otherwise); LICENSES are left out."""
    found: dict[str, tuple[bytes, int]] = {}
    for path in sorted(files_dir.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(files_dir).as_posix()
        if relative.startswith("LICENSES/"):
            continue
        mode = 0o755 if relative.startswith(("usr/local/bin/", "kind/bin/")) else 0o644
        found["/" + relative] = (path.read_bytes(), mode)
    return found


def links() -> dict[str, str]:
    """Symlink path → target: enabled and masked units, containerd under /usr/local/bin, Debian's CNI plugins in
    /opt/cni/bin."""
    made = {f"/etc/systemd/system/multi-user.target.wants/{unit}": f"/etc/systemd/system/{unit}" for unit in ENABLED}
    made.update({f"/etc/systemd/system/{unit}": "/dev/null" for unit in MASKED})
    made.update({f"/usr/local/bin/{name}": target for name, target in LOCAL_BIN_LINKS.items()})
    made.update({f"/opt/cni/bin/{plugin}": f"{layout.DEBIAN_CNI_DIR}/{plugin}" for plugin in layout.CNI_PLUGINS})
    return made


def added_files(rootfs: Path, kind_files: Path, node_binaries: Mapping[str, Path],
                k8s_version: str) -> dict[str, tuple[bytes | Path, int]]:
    """Every file the image holds beyond the Debian rootfs (later sources win over earlier ones)."""
    base = kind_base_files(kind_files)
    containerd_toml, mode = base["/etc/containerd/config.toml"]
    base["/etc/containerd/config.toml"] = (layout.containerd_config(containerd_toml.decode()).encode(), mode)
    files: dict[str, tuple[bytes | Path, int]] = dict(base)
    journald = rootfs / "etc" / "systemd" / "journald.conf"
    journald_text = journald.read_bytes() if journald.is_file() else b"[Journal]\n"
    files["/etc/systemd/journald.conf"] = (journald_text + b"\nReadKMsg=no\n", 0o644)
    for name in layout.NODE_BINARIES:
        files[f"/usr/bin/{name}"] = (node_binaries[name], 0o755)
    for path, text in layout.node_files(k8s_version).items():
        files[path] = (text.encode(), 0o644)
    return files


def _parents(paths: list[str]) -> list[str]:
    return sorted({str(parent) for path in paths for parent in Path(path).parents if str(parent) != "/"})


def write(tarball: Path, rootfs: Path, files: Mapping[str, tuple[bytes | Path, int]],
          symlinks: Mapping[str, str], directories: tuple[str, ...] = ("/etc/kubernetes/manifests",)) -> None:
    """The node rootfs tarball: ``rootfs`` minus what kind removes, plus ``files``, ``symlinks`` and
    ``directories``."""
    replaced = {p.lstrip("/") for p in [*files, *symlinks]}
    now = int(time.time())
    with tarfile.open(tarball, "w") as archive:
        for path in sorted(rootfs.rglob("*")):
            relative = path.relative_to(rootfs).as_posix()
            if relative in replaced or removed(relative) or skipped(relative) or relative.startswith(".sandbox-"):
                continue
            archive.add(path, arcname=relative, recursive=False)
        existing = {m.name for m in archive.getmembers()}
        for directory in [*_parents([*files, *symlinks]), *directories]:
            name = directory.lstrip("/")
            if name in existing:
                continue
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = now
            archive.addfile(info)
            existing.add(name)
        for target, (content, mode) in sorted(files.items()):
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(target.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, now
            archive.addfile(info, io.BytesIO(data))
        for link, destination in sorted(symlinks.items()):
            info = tarfile.TarInfo(link.lstrip("/"))
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, destination, 0o777, now
            archive.addfile(info)
