"""``sandbox chart push|list``: Helm charts in the sandbox's chart repository and registry."""

from __future__ import annotations

from pathlib import Path

import click

from sandbox import config, helmrepo
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION


@click.group()
def chart() -> None:
    """Helm charts, served over HTTP (a chart repository with index.yaml) and as OCI artifacts in the registry.

    \b
    Examples:
      sandbox chart push ./charts/podinfo   # package it; add it to both
      sandbox chart list                    # what the HTTP repository serves
    """


@chart.command()
@NAME_OPTION
@click.argument("directory", type=click.Path(path_type=Path))
@output.OUTPUT_OPTION
def push(name: str | None, directory: Path, output_format: str) -> None:
    """Package the chart in DIRECTORY (it holds Chart.yaml) and add it to the HTTP repository and the registry.

    Pushing the same name and version again replaces it. Use the chart from Flux with a HelmRepository of the
    repository URL (or `type: oci` with the oci:// URL) that `sandbox chart list` shows.

    \b
    Example:
      sandbox chart push ./podinfo && sandbox chart list
    """
    result = helmrepo.push_chart(config.resolve_name(name), directory)
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    output.success(f"pushed chart [bold]{result['name']}[/bold] {result['version']}")
    output.table(["WHERE", "REFERENCE", "DIGEST"], [
        ["http", result["http"]["url"], result["digest"]],
        ["oci", result["oci"]["reference"], result["oci"]["digest"]],
    ])


@chart.command(name="list")
@NAME_OPTION
@output.OUTPUT_OPTION
def list_(name: str | None, output_format: str) -> None:
    """List the chart versions the sandbox's HTTP chart repository serves, with their OCI references."""
    rows = helmrepo.list_charts(config.resolve_name(name))
    if output_format != "table":
        output.emit_data(rows, output_format)
        return
    output.table(["NAME", "VERSION", "APP VERSION", "REPOSITORY", "OCI"],
                 [[r["name"], r["version"], r["appVersion"], r["repository"], r["oci"]] for r in rows])


COMMANDS = [chart]
