"""``sandbox build``: what the controller would install for an object of a local repository folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sandbox.cli import diff as diff_cli
from sandbox.cli.common import NAME_OPTION, NAMESPACE_OPTION, kube_for, record_for
from sandbox.errors import NotRunning, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler import diffs
from sandbox.reconciler.helm import drift


@click.group()
def build() -> None:
    """Render an object of a local folder as the reconciler would, and print the result."""


@build.command(name="helmrelease")
@click.argument("helmrelease_name", metavar="HELMRELEASE")
@click.option("--path", "path", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The local repository folder holding the HelmRelease (and its valuesFrom ConfigMaps/Secrets).")
@diff_cli.CHART_OPTION
@diff_cli.VALUES_FROM_FILE_OPTION
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("-o", "--output", "output_format", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="The manifest as YAML documents, or a JSON list of objects.")
@click.pass_context
def build_helmrelease(ctx: click.Context, helmrelease_name: str, path: Path, chart: Path | None,
                      values_from_file: tuple[str, ...], name: str | None, namespace: str, output_format: str) -> None:
    """Render a HelmRelease of a local folder exactly as the controller installs it — values composed from
    spec.values and valuesFrom (the folder's ConfigMaps and Secrets, or --values-from-file), the chart
    rendered by Helm's SDK as release <targetNamespace or namespace>, post-renderers applied — and print the
    release manifest. The chart comes from the running sandbox's source artifact, or from --chart (fully
    offline).

    \b
    Examples:
      sandbox build helmrelease web -n apps --path ./clusters/dev
      sandbox build hr web -n apps --path . --chart ./charts/web --values-from-file ConfigMap/web-values=v.yaml
    """
    kube: KubeClient | None = None
    kubeconfig: Path | None = None
    try:
        if chart is None:  # the chart comes from the running sandbox, and the render is the cluster's
            kube = kube_for(name)
            kubeconfig = Path(str(record_for(name)["kubeconfig"]))
        manifest = diffs.build_helmrelease(helmrelease_name, namespace, path, kube=kube, kubeconfig=kubeconfig,
                                           chart=chart, values_files=diff_cli.parse_values_files(values_from_file))
    except NotRunning as err:
        diff_cli.fail(ctx, NotRunning(f"{err} (or give the chart with --chart DIR|TGZ to build offline)"))
        return
    except SandboxError as err:
        diff_cli.fail(ctx, err)
        return
    if output_format == "json":
        sys.stdout.write(json.dumps(drift.manifest_objects(manifest), indent=2) + "\n")
    else:
        sys.stdout.write(manifest)


build.add_command(build_helmrelease, name="hr")

COMMANDS = [build]
