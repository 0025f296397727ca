"""``sandbox list artifacts``: the Flux OCI artifacts of a repository in the sandbox registry."""

from __future__ import annotations

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.registry import artifacts


@click.group(name="list")
def list_group() -> None:
    """List what the sandbox registry holds (as `flux list artifacts`).

    \b
    Example:
      sandbox list artifacts oci://127.0.0.1:5000/app
    """


@list_group.command(name="artifacts")
@NAME_OPTION
@click.argument("url", metavar="oci://HOST/REPOSITORY")
@output.OUTPUT_OPTION
def artifacts_command(name: str | None, url: str, output_format: str) -> None:
    """The tags of the repository URL names, each with its digest and the source and revision it was pushed from.

    \b
    Example:
      sandbox list artifacts oci://127.0.0.1:5000/app -o json
    """
    result = artifacts.list_flux_artifacts(config.resolve_name(name), url)
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    output.table(["ARTIFACT", "DIGEST", "SOURCE", "REVISION"],
                 [[a["url"], a["digest"], a["source"], a["revision"]] for a in result["artifacts"]])


COMMANDS = [list_group]
