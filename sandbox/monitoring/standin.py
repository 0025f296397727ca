"""Build local stand-ins for the ``prom/prometheus`` and ``prom/alertmanager`` images from the Debian binaries (the
same software at the versions the local backend runs), for machines that cannot pull public images:
``python -m sandbox.monitoring.standin [--image local/prometheus:debian] [--alertmanager-image …]``.

Each image is a minimal rootfs — the binary as ``/bin/prometheus`` (``/bin/alertmanager``), its libc and dynamic
loader, its web assets, a default configuration and a data directory — imported with ``docker import``. It keeps
the upstream image's interface (entrypoint the binary, ``--config.file=/etc/prometheus/prometheus.yml
--storage.tsdb.path=/prometheus`` as the default command), so the container backend runs it exactly as it runs
the real image. Building is skipped when the image already exists.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox import binaries
from sandbox.errors import InputError, SandboxError
from sandbox.monitoring.container import ALERTMANAGER, PROMETHEUS, STANDIN_IMAGES
from sandbox.tools import docker, ldd, rootfs
from sandbox.tools.version import version_of


@dataclass(frozen=True)
class Layout:
    """Where the upstream image keeps things, and what of the Debian package goes where."""

    program: str
    binary: str  # the Debian binary's name
    package: str
    config_path: str
    data_path: str
    default_config: str
    data_flag: str
    assets: str  # a Debian directory of web assets, copied to the same path ("" for none)


LAYOUTS = {
    PROMETHEUS: Layout(PROMETHEUS, "prometheus", "prometheus", "/etc/prometheus/prometheus.yml", "/prometheus",
                       "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: prometheus\n"
                       "    static_configs:\n      - targets: ['localhost:9090']\n",
                       "--storage.tsdb.path", "/usr/share/prometheus/web"),
    ALERTMANAGER: Layout(ALERTMANAGER, "prometheus-alertmanager", "prometheus-alertmanager",
                         "/etc/alertmanager/alertmanager.yml", "/alertmanager",
                         "route:\n  receiver: default\nreceivers:\n  - name: default\n",
                         "--storage.path", "/usr/share/prometheus/alertmanager"),
}


def write_rootfs(layout: Layout, binary: Path, libraries: list[Path], tarball: Path) -> None:
    """The minimal rootfs of ``layout``: the binary, what it links, its web assets, a default config, the data
    directory (writable by whatever user runs the container) and /tmp."""
    files: dict[str, tuple[rootfs.Content, int]] = {f"/bin/{layout.program}": (binary, 0o755),
                                                    **{str(lib): (lib, 0o755) for lib in libraries}}
    assets = Path(layout.assets) if layout.assets else None
    if assets is not None and assets.is_dir():
        files.update({str(path): (path, 0o644) for path in sorted(assets.rglob("*")) if path.is_file()})
    files[layout.config_path] = (layout.default_config.encode(), 0o644)
    rootfs.write(tarball, files, directories={layout.data_path: 0o777})


def build(program: str, image: str, *, rebuild: bool = False) -> bool:
    """Build ``image`` for ``program`` unless it exists (or ``rebuild``); True when it was built now."""
    if not rebuild and docker.image_exists(image):
        return False
    layout = LAYOUTS[program]
    found = binaries.find(layout.binary)
    if found is None:
        raise InputError(f"{layout.binary} not found: `apt-get install {layout.package}` (the stand-in image "
                         "is built from that binary)")
    libraries = ldd.shared_libraries(found.path)
    version = version_of(found.path) or "unknown"
    repository, tag = rootfs.split_image(image)
    with tempfile.TemporaryDirectory(prefix=f"{program}-standin-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        write_rootfs(layout, found.path, libraries, tarball)
        changes = [
            f'ENTRYPOINT ["/bin/{program}"]',
            f'CMD ["--config.file={layout.config_path}", "{layout.data_flag}={layout.data_path}"]',
            f"WORKDIR {layout.data_path}",
            f"VOLUME {layout.data_path}",
            f"LABEL io.gitops-sandbox.standin={program} io.gitops-sandbox.{program}-version={version}",
        ]
        docker.import_rootfs(tarball, repository, tag, changes)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.monitoring.standin", description=__doc__)
    parser.add_argument("--image", default=STANDIN_IMAGES[PROMETHEUS],
                        help=f"the Prometheus image to build (default {STANDIN_IMAGES[PROMETHEUS]})")
    parser.add_argument("--alertmanager-image", default=STANDIN_IMAGES[ALERTMANAGER],
                        help=f"the Alertmanager image to build (default {STANDIN_IMAGES[ALERTMANAGER]})")
    parser.add_argument("--rebuild", action="store_true", help="build even when an image exists")
    args = parser.parse_args(argv)
    for program, image in ((PROMETHEUS, args.image), (ALERTMANAGER, args.alertmanager_image)):
        try:
            started = time.monotonic()
            built = build(program, image, rebuild=args.rebuild)
        except SandboxError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        if built:
            print(f"built {image} in {time.monotonic() - started:.1f}s", file=sys.stderr)
        else:
            print(f"{image} exists; nothing to do (--rebuild to build it again)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
