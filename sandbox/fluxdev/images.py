"""Container images of the Flux controllers built here (``sandbox setup --flux``), for Flux's own in-cluster install
on a kind cluster that cannot pull ``ghcr.io/fluxcd``: the same static binary each upstream image carries (built
from the same module version, not the published bits), at ``/usr/local/bin/<controller>`` as its entrypoint, CA
certificates, and user 65534 (Flux's Deployments run as non-root). Named under :data:`REGISTRY`, which ``flux
install --registry`` writes into the Deployments, so nothing is passed off as the published image."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sandbox.fluxdev import release
from sandbox.tools import docker, rootfs

REGISTRY = "sandbox.local/fluxcd"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"


def image_name(controller: str, version: str) -> str:
    return f"{REGISTRY}/{controller}:{version}"


def files(controller: str, binary: Path) -> dict[str, tuple[rootfs.Content, int]]:
    """The image's files: the controller, the CA bundle where this machine has one, passwd and group."""
    made: dict[str, tuple[rootfs.Content, int]] = {
        f"/usr/local/bin/{controller}": (binary, 0o755),
        "/etc/passwd": (PASSWD, 0o644),
        "/etc/group": (b"root:x:0:\nnogroup:x:65534:\n", 0o644),
    }
    if CA_BUNDLE.exists():
        made[str(CA_BUNDLE)] = (CA_BUNDLE, 0o644)
    return made


def ensure(installed: release.Installed, controllers: tuple[str, ...], *, rebuild: bool = False) -> list[str]:
    """The image of each of ``controllers`` (built ones only), made when missing; returns their names."""
    names = []
    for controller in controllers:
        name = image_name(controller, installed.built[controller])
        if rebuild or not docker.image_exists(name):
            with tempfile.TemporaryDirectory(prefix="flux-image-") as tmp:
                tarball = Path(tmp) / "rootfs.tar"
                rootfs.write(tarball, files(controller, installed.binary(controller)))
                repository, tag = rootfs.split_image(name)
                docker.import_rootfs(tarball, repository, tag, [
                    f'ENTRYPOINT ["/usr/local/bin/{controller}"]', "USER 65534:65534", "WORKDIR /"])
        names.append(name)
    return names
