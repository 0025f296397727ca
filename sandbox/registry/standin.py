"""Build a local stand-in for the ``registry:2`` image from the Debian ``docker-registry`` binary (the same
distribution software), for machines that cannot pull public images: ``python -m sandbox.registry.standin``.

The image is a minimal rootfs — the binary as ``/bin/registry``, its libc and dynamic loader, and a config listening
on :5000 — imported with ``docker import``. It keeps the official image's interface (``registry serve CONFIG``,
config at ``/etc/docker/registry/config.yml``, storage in ``/var/lib/registry``, port 5000), so the container
backend runs it exactly as it runs the real image. Building is skipped when the image already exists.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sandbox import binaries
from sandbox.errors import InputError, SandboxError
from sandbox.registry import config as registry_config
from sandbox.tools import docker, ldd, rootfs
from sandbox.tools.version import version_of

DEFAULT_IMAGE = "local/registry:2"
CONFIG_PATH = "/etc/docker/registry/config.yml"
STORAGE_PATH = "/var/lib/registry"


def write_rootfs(binary: Path, libraries: list[Path], tarball: Path) -> None:
    """The minimal rootfs: the registry binary, what it links, a default config and the storage directory
    (writable by whatever user runs it)."""
    default_config = registry_config.render(registry_config.RegistryConfig(addr=":5000", storage=STORAGE_PATH))
    files: dict[str, tuple[rootfs.Content, int]] = {"/bin/registry": (binary, 0o755),
                                                    **{str(lib): (lib, 0o755) for lib in libraries},
                                                    CONFIG_PATH: (default_config.encode(), 0o644)}
    rootfs.write(tarball, files, directories={STORAGE_PATH: 0o777})


def build(image: str = DEFAULT_IMAGE, *, rebuild: bool = False) -> bool:
    """Build ``image`` unless it exists (or ``rebuild``); True when it was built now."""
    if not rebuild and docker.image_exists(image):
        return False
    found = binaries.find("docker-registry")
    if found is None:
        raise InputError("docker-registry not found: `apt-get install docker-registry` (the stand-in image is built "
                         "from that binary)")
    libraries = ldd.shared_libraries(found.path)
    version = version_of(found.path) or "unknown"
    repository, tag = rootfs.split_image(image)
    with tempfile.TemporaryDirectory(prefix="registry-standin-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        write_rootfs(found.path, libraries, tarball)
        changes = [
            'ENTRYPOINT ["/bin/registry", "serve"]',
            f'CMD ["{CONFIG_PATH}"]',
            "EXPOSE 5000",
            f"VOLUME {STORAGE_PATH}",
            f"LABEL io.gitops-sandbox.standin=registry io.gitops-sandbox.distribution-version={version}",
        ]
        docker.import_rootfs(tarball, repository, tag, changes)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.registry.standin", description=__doc__)
    parser.add_argument("--image", default=DEFAULT_IMAGE, help=f"image name to build (default {DEFAULT_IMAGE})")
    parser.add_argument("--rebuild", action="store_true", help="build even when the image exists")
    args = parser.parse_args(argv)
    try:
        started = time.monotonic()
        built = build(args.image, rebuild=args.rebuild)
    except SandboxError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if built:
        print(f"built {args.image} in {time.monotonic() - started:.1f}s", file=sys.stderr)
    else:
        print(f"{args.image} exists; nothing to do (--rebuild to build it again)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
