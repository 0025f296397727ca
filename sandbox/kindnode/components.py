"""The images kubeadm runs and the default storage's, made from the binaries built here (and Debian's static
busybox): what each holds and how it starts, written as docker-save archives (``archive.write``) with the exact
references kubeadm and the storage manifest name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.kindnode import archive, layout, storage
from sandbox.tools import ldd, rootfs

# kube-proxy's iptables mode runs iptables, iptables-save and iptables-restore (v4 and v6): Debian's nft-backed
# multi-call binary under each name, as the node itself uses (Debian's default alternative).
IPTABLES_MULTI = Path("/usr/sbin/xtables-nft-multi")
IPTABLES_NAMES = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore")


@dataclass(frozen=True)
class Spec:
    """One component image: files (path in the image → (content, mode)), its entrypoint, symlinks (path → target)."""

    files: dict[str, tuple[rootfs.Content, int]]
    entrypoint: tuple[str, ...]
    symlinks: dict[str, str] = field(default_factory=dict)


def spec(component: str, binary: Path, *, iptables_libraries: Sequence[Path] = (),
         iptables_root: Path = Path("/")) -> Spec:
    """What the image of ``component`` holds, given its binary (built here)."""
    if component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        # kubeadm's static pods name the command (`kube-apiserver …`), found on PATH as in the upstream images
        return Spec({f"/usr/local/bin/{component}": (binary, 0o755)}, (f"/usr/local/bin/{component}",))
    if component == "kube-proxy":
        multi = iptables_root / IPTABLES_MULTI.relative_to("/")
        files: dict[str, tuple[rootfs.Content, int]] = {"/usr/local/bin/kube-proxy": (binary, 0o755)}
        for lib in iptables_libraries:
            inside = iptables_root / lib.relative_to("/")
            files[str(lib)] = (inside if inside.is_file() else lib, 0o755)
        for module in iptables_modules(iptables_root):
            files["/" + module.relative_to(iptables_root).as_posix()] = (module, 0o644)
        for name in (IPTABLES_MULTI.name, *IPTABLES_NAMES):
            files[f"/usr/sbin/{name}"] = (multi, 0o755)
        return Spec(files, ("/usr/local/bin/kube-proxy",))
    if component == "coredns":
        return Spec({"/coredns": (binary, 0o755)}, ("/coredns",))  # kubeadm's Deployment passes only args
    if component == "pause":
        return Spec({"/pause": (binary, 0o755)}, ("/pause",))
    if component == "local-path-provisioner":
        # the Deployment's command names it (`local-path-provisioner start …`), found on PATH as in kind's image
        path = "/usr/local/bin/local-path-provisioner"
        return Spec({path: (binary, 0o755)}, (path,))
    if component == "local-path-helper":
        # the provisioner gives helper pods their command (`/bin/sh /script/setup`); busybox is sh, mkdir and rm
        return Spec({"/bin/busybox": (binary, 0o755)}, (),
                    {f"/bin/{name}": "busybox" for name in storage.HELPER_LINKS})
    raise SandboxError(f"no image recipe for {component}")


def iptables_modules(root: Path) -> list[Path]:
    """iptables' matches and targets (libxt_statistic.so…), which it loads on demand."""
    return sorted(root.glob("usr/lib/*/xtables/*.so"))


def iptables_files(root: Path) -> tuple[Path, list[Path]]:
    """Debian's xtables-nft-multi from the node's rootfs ``root`` and the libraries it and its modules load
    (resolved by ldd; e.g. libxt_statistic.so needs libm)."""
    binary = root / IPTABLES_MULTI.relative_to("/")
    if not binary.is_file():
        raise SandboxError(f"{binary} not found: the node rootfs lacks Debian's iptables package")
    libraries = {lib for loaded in (binary, *iptables_modules(root)) for lib in ldd.shared_libraries(loaded)}
    return binary, sorted(libraries)


def write_all(refs: Sequence[layout.ImageRef], component_binaries: Mapping[str, Path], out_dir: Path,
              progress: layout.Progress, *, iptables_root: Path) -> list[Path]:
    """One docker-save archive per required image in ``out_dir``."""
    libraries: list[Path] = []
    if any(r.component == "kube-proxy" for r in refs):
        _, libraries = iptables_files(iptables_root)
    written = []
    for ref in refs:
        binary = component_binaries.get(ref.component)
        if binary is None:
            raise SandboxError(f"no binary for {ref.component} (needed for {ref.reference})")
        progress("component image", ref.reference)
        image = spec(ref.component, binary, iptables_libraries=libraries, iptables_root=iptables_root)
        target = out_dir / f"{ref.component}.tar"
        archive.write(target, ref.reference, image.files, entrypoint=image.entrypoint, symlinks=image.symlinks)
        written.append(target)
    return written
