"""``sandbox install``: the Flux-compatible CRDs, the flux-system namespace and the reconciler's RBAC."""

from __future__ import annotations

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.handle import SandboxHandle
from sandbox.reconciler.apis import install as dev_install


@click.command()
@NAME_OPTION
@click.option("--export", "export_", is_flag=True,
              help="Print the objects as multi-document YAML to stdout instead; touches no cluster.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the CRDs to be Established.")
def install(name: str | None, export_: bool, timeout: float) -> None:
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
    """
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


COMMANDS = [install]
