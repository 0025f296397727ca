"""``sandbox install``: the Flux-compatible CRDs, the flux-system namespace and the reconciler's RBAC."""

from __future__ import annotations

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.cluster import kind as kindcluster
from sandbox.errors import InputError
from sandbox.fluxdev import images as flux_images
from sandbox.fluxdev import install as flux_install
from sandbox.fluxdev import release
from sandbox.handle import SandboxHandle
from sandbox.reconciler.apis import install as dev_install


@click.command()
@NAME_OPTION
@click.option("--export", "export_", is_flag=True,
              help="Print the objects as multi-document YAML to stdout instead; touches no cluster.")
@click.option("--flux", "upstream", is_flag=True,
              help="Upstream Flux's own install instead (its controllers as Deployments, as `flux install` makes "
                   "them), from the Flux release built by `sandbox setup --flux`; with --export, print it.")
@click.option("--published-images", "published", is_flag=True,
              help="With --flux on a kind sandbox: let the nodes pull Flux's published ghcr.io/fluxcd images instead "
                   "of building images of the controllers here and loading them.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the CRDs to be Established (with --flux: the Deployments to be Available).")
def install(name: str | None, export_: bool, upstream: bool, published: bool, timeout: float) -> None:
    """Install the reconciler's APIs into a running sandbox: the Flux-compatible CRDs (GitRepository,
    Kustomization, Receiver, HelmRelease, …), the flux-system namespace, and the ServiceAccount
    flux-system/sandbox-reconciler with its RBAC (cluster-admin, as Flux's own reconcilers have).

    Server-side apply (field manager sandbox-install), CRDs first; returns once every CRD is
    Established. Running it again changes nothing.

    \b
    Examples:
      sandbox install                                  # into the sandbox "default"
      sandbox install --export > flux-apis.yaml        # the YAML, for any cluster
      kubectl apply --server-side -f flux-apis.yaml
      sandbox install --flux --export > flux-system.yaml   # upstream Flux's install (`flux install --export`)
      sandbox install --flux --name kind-demo          # into a kind sandbox, images built here and loaded
    """
    if upstream:
        _upstream(name, export_, published, timeout)
        return
    if export_:
        click.echo(dev_install.export(), nl=False)
        return
    resolved = config.resolve_name(name)
    kube = SandboxHandle.attach(resolved).kube
    with output.stderr.status(f"installing the reconciler's APIs into sandbox [bold]{resolved}[/bold]…"):
        result = dev_install.install(kube, timeout=timeout)
    for applied in result.changed:
        output.info(f"  {applied.ref} {applied.action}")
    crds = len(dev_install.crd_objects())
    output.success(f"{crds} CRDs Established, flux-system and RBAC in place in sandbox [bold]{resolved}[/bold] "
                   f"({result.count('created')} created, {result.count('configured')} configured, "
                   f"{result.count('unchanged')} unchanged; {result.seconds * 1000:.0f} ms)")


def _upstream(name: str | None, export_: bool, published: bool, timeout: float) -> None:
    built = release.require()
    have, missing = flux_install.components(built)
    for component, why in missing.items():
        output.warn(f"{component} is left out: {why} (`flux install` has it by default)")
    if export_:
        click.echo(flux_install.export(built).yaml, nl=False)
        return
    resolved = config.resolve_name(name)
    handle = SandboxHandle.attach(resolved)
    cluster = handle.state.read_record().get("cluster")
    if cluster != "kind":
        raise InputError(
            f"sandbox {resolved!r} runs an {cluster} cluster, whose node agent simulates pods and runs no images: "
            "Flux's controllers installed there would look Running and reconcile nothing. Use `sandbox up "
            "--reconciler flux` (the same controllers as processes on this machine), or `sandbox install --flux "
            "--export | kubectl apply --server-side -f -` on a cluster that can pull ghcr.io/fluxcd images")
    if not published:
        with output.stderr.status("building the controllers' images from the cached build and loading them into "
                                  "the kind nodes…"):
            names = flux_images.ensure(built, have)
            kindcluster.load_images(handle.state, names)
        output.info(f"  images built here: {', '.join(names)}")
    made = flux_install.export(built, registry="" if published else flux_images.REGISTRY)
    with output.stderr.status(f"installing upstream Flux {built.release} ({', '.join(made.components)}) into "
                              f"sandbox [bold]{resolved}[/bold]…"):
        flux_install.apply(made, handle.state.kubeconfig, timeout=timeout)
    output.success(f"upstream Flux {built.release} runs in sandbox [bold]{resolved}[/bold]: "
                   f"{', '.join(made.components)} Available")


COMMANDS = [install]
