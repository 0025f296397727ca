"""``sandbox image push|tags``: images in the sandbox registry."""

from __future__ import annotations

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.registry import artifacts


@click.group()
def image() -> None:
    """Images in the sandbox registry (no Docker needed).

    \b
    Examples:
      sandbox image push team/app:1.0.0     # a synthetic image, tag 1.0.0
      sandbox image tags team/app           # its tags and digests
    """


@image.command()
@NAME_OPTION
@click.argument("reference", metavar="NAME[:TAG]")
@click.option("--crash", is_flag=True, help="A bad release: containers running it crash at once (CrashLoopBackOff).")
@output.OUTPUT_OPTION
def push(name: str | None, reference: str, crash: bool, output_format: str) -> None:
    """Push a small synthetic image (a valid OCI image: config + one layer) as NAME:TAG.

    NAME may carry the registry host (127.0.0.1:PORT/NAME or localhost:PORT/NAME); TAG defaults to latest.
    The same NAME:TAG always gives the same digest. Pods naming the image become pullable at once.

    \b
    Examples:
      sandbox image push podinfo:6.5.0
      sandbox image push podinfo:6.6.0 --crash   # a bad release, for the incident workflow
      sandbox image push "$(sandbox status -o json | jq -r .services.registry.host)/team/app:v2"
    """
    result = artifacts.push_image(config.resolve_name(name), reference, crash=crash)
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    output.success(f"pushed [bold]{result['reference']}[/bold] ({result['size']} bytes, {result['seconds']:.2f}s)")
    output.table(["REFERENCE", "DIGEST"], [[result["reference"], result["digest"]]])


@image.command()
@NAME_OPTION
@click.argument("repository", metavar="NAME")
@output.OUTPUT_OPTION
def tags(name: str | None, repository: str, output_format: str) -> None:
    """List the tags of image NAME in the sandbox registry, with the digest each points at.

    \b
    Example:
      sandbox image tags team/app -o json
    """
    result = artifacts.image_tags(config.resolve_name(name), repository)
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    output.table(["TAG", "DIGEST", "REFERENCE"], [[t["tag"], t["digest"], t["reference"]] for t in result["tags"]])


COMMANDS = [image]
