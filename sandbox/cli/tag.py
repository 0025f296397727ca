"""``sandbox tag artifact``: more tags on a Flux OCI artifact in the sandbox registry."""

from __future__ import annotations

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.registry import artifacts


@click.group()
def tag() -> None:
    """Tag artifacts in the sandbox registry (as `flux tag artifact`).

    \b
    Example:
      sandbox tag artifact oci://127.0.0.1:5000/app:v1.0.0 --tag latest
    """


@tag.command()
@NAME_OPTION
@click.argument("url", metavar="oci://HOST/REPOSITORY:TAG")
@click.option("--tag", "tags", multiple=True, required=True, help="The new tag (repeatable).")
@output.OUTPUT_OPTION
def artifact(name: str | None, url: str, tags: tuple[str, ...], output_format: str) -> None:
    """Point each --tag at the artifact URL names (the same manifest, the same digest).

    \b
    Example:
      sandbox tag artifact oci://127.0.0.1:5000/app:v1.0.0 --tag latest --tag stable
    """
    result = artifacts.tag_flux_artifact(config.resolve_name(name), url, list(tags))
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    for tagged in result["tags"]:
        output.success(f"artifact tagged as {tagged}")


COMMANDS = [tag]
