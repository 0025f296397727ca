"""``sandbox image push|tags|load``: images in the sandbox registry, and local images into kind's nodes."""

from __future__ import annotations

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.cluster import kind as kindcluster
from sandbox.registry import artifacts
from sandbox.state import StateDir


@click.group()
def image() -> None:
    """Images in the sandbox registry (no Docker needed).

    \b
    Examples:
      sandbox image push team/app:1.0.0     # a synthetic image, tag 1.0.0
      sandbox image tags team/app           # its tags and digests
      sandbox image load my/app:dev         # a locally built image into a kind sandbox's nodes
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


@image.command()
@NAME_OPTION
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
def load(name: str | None, images: tuple[str, ...]) -> None:
    """Copy images from the local Docker engine into every node of a kind sandbox (`kind load docker-image`).

    Pods then run them with imagePullPolicy IfNotPresent (or Never); a :latest tag means Always, so tag them.
    On the embedded cluster there are no real nodes: push to the sandbox registry instead (the error says how).

    \b
    Example:
      docker build -t my/app:dev . && sandbox image load my/app:dev
    """
    nodes = kindcluster.load_images(StateDir(config.resolve_name(name)), list(images))
    output.success(f"loaded {', '.join(images)} into {', '.join(nodes)}")
