"""``sandbox push artifact``: a directory as a Flux OCI artifact in the sandbox registry."""

from __future__ import annotations

from pathlib import Path

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.errors import UsageError
from sandbox.registry import artifacts


@click.group()
def push() -> None:
    """Push to the sandbox registry (as the `flux push` commands do).

    \b
    Example:
      sandbox push artifact oci://127.0.0.1:5000/app:v1 --path ./deploy \\
        --source https://git.example/app --revision main@sha1:0123abc
    """


def parse_annotations(values: tuple[str, ...]) -> dict[str, str]:
    annotations = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key or "=" in text:
            raise UsageError(f"invalid annotation {value}, must be in the format key=value")
        annotations[key] = text
    return annotations


@push.command()
@NAME_OPTION
@click.argument("url", metavar="oci://HOST/REPOSITORY[:TAG]")
@click.option("-f", "--path", "path", required=True, type=click.Path(path_type=Path),
              help="Directory (or one file) holding the Kubernetes manifests.")
@click.option("--source", required=True, help="The address the content came from, e.g. the git URL.")
@click.option("--revision", required=True, help="The source revision, e.g. main@sha1:<commit>.")
@click.option("-a", "--annotations", "annotations", multiple=True, metavar="KEY=VALUE",
              help="More OCI annotations on the manifest (repeatable).")
@click.option("--ignore-paths", "ignore_paths", default=None, metavar="PATTERNS",
              help="Comma-separated paths to leave out, in .gitignore syntax (default: VCS files and binary "
                   "extensions, as flux).")
@click.option("--reproducible", is_flag=True,
              help="Set the created time to 1970-01-01T00:00:00Z so the same content gives the same digest.")
@click.option("-o", "--output", "output_format", type=click.Choice(["table", "json", "yaml"]), default="table",
              show_default=True, help="json or yaml print flux's url/repository/tag/digest fields.")
def artifact(name: str | None, url: str, path: Path, source: str, revision: str, annotations: tuple[str, ...],
             ignore_paths: str | None, reproducible: bool, output_format: str) -> None:
    """Push PATH as a Flux OCI artifact to URL (TAG defaults to latest), in the format of `flux push artifact`:
    config application/vnd.cncf.flux.config.v1+json, one layer application/vnd.cncf.flux.content.v1.tar+gzip,
    annotations org.opencontainers.image.source/revision/created. Prints the digest.

    An OCIRepository sees the new tag at its next interval; `sandbox reconcile source oci NAME` (or the
    reconcile.fluxcd.io/requestedAt annotation) makes it look at once.

    \b
    Examples:
      sandbox push artifact oci://127.0.0.1:5000/app:v1.0.0 --path ./deploy \\
        --source https://git.example/app --revision v1.0.0@sha1:0123abc
      sandbox push artifact oci://localhost:5000/app:latest -f ./deploy --source . --revision dev -o json
    """
    result = artifacts.push_flux_artifact(
        config.resolve_name(name), url, path, source=source, revision=revision,
        annotations=parse_annotations(annotations),
        ignore_paths=None if ignore_paths is None else [p for p in ignore_paths.split(",") if p],
        created="1970-01-01T00:00:00Z" if reproducible else None)
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    output.success(f"artifact successfully pushed to {result['url']}")
    click.echo(result["digest"])


COMMANDS = [push]
