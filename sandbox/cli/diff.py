"""``sandbox diff``: what reconciling an object now would change in the running sandbox (exit 1 on a difference)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION, NAMESPACE_OPTION, kube_for, record_for
from sandbox.errors import SandboxError
from sandbox.reconciler import diffs
from sandbox.reconciler.runtime.objectdiff import DiffReport

EXIT_SAME, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2
FORMAT_OPTION = click.option("-o", "--output", "output_format", type=click.Choice(["text", "json", "yaml"]),
                             default="text", show_default=True,
                             help="text for people (a line per change, unified diffs), json or yaml for scripts.")
STYLES = {"created": "green", "configured": "yellow", "deleted": "red", "skipped": "dim", "diff": ""}


def show(report: DiffReport, output_format: str) -> None:
    if output_format != "text":
        output.emit_data(report.to_data(), output_format)
    else:
        for text, action in report.lines():
            style = STYLES.get(action, "")
            if action == "diff":
                style = "green" if text.startswith("+") else "red" if text.startswith("-") else ""
            output.styled_line([(text, style)])
        if not report.changed and not report.errors:
            output.info("no differences")
    for problem in report.errors:
        output.error(escape(problem))


def finish(ctx: click.Context, report: DiffReport) -> None:
    """Exit as ``flux diff`` does: 0 no difference, 1 differences, 2 when something could not be compared."""
    if report.errors:
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_DIFFERENT if report.changed else EXIT_SAME)


def fail(ctx: click.Context, err: SandboxError) -> None:
    output.error(escape(str(err)))
    ctx.exit(EXIT_ERROR)


@click.group()
def diff() -> None:
    """Show what reconciling an object now would change in the running sandbox.

    \b
    Exit status: 0 no differences, 1 differences found, 2 or more the diff failed.
    """


@diff.command(name="kustomization")
@click.argument("kustomization_name", metavar="KUSTOMIZATION")
@click.option("--path", "path", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Diff this local folder (standing for the Kustomization's spec.path) instead of the "
                   "source's current artifact.")
@NAME_OPTION
@NAMESPACE_OPTION
@FORMAT_OPTION
@click.pass_context
def diff_kustomization(ctx: click.Context, kustomization_name: str, path: Path | None, name: str | None,
                       namespace: str, output_format: str) -> None:
    """Build a Kustomization as its controller does (kustomize, substitutions, server-side dry-run) and show
    the objects it would create, configure (with a unified diff) or prune.

    \b
    Exit status: 0 no differences, 1 differences found, 2 or more the diff failed.

    \b
    Examples:
      sandbox diff kustomization apps                 # the source's current revision against the cluster
      sandbox diff kustomization apps --path ./apps   # a local checkout, before you push it
      sandbox diff ks apps -o json
    """
    try:
        report = diffs.diff_kustomization(kube_for(name), kustomization_name, namespace, path=path)
    except SandboxError as err:
        fail(ctx, err)
        return
    show(report, output_format)
    finish(ctx, report)


diff.add_command(diff_kustomization, name="ks")


def parse_values_files(pairs: tuple[str, ...]) -> list[tuple[str, Path]]:
    """``KIND/NAME=FILE`` options as (reference, file)."""
    parsed = []
    for pair in pairs:
        reference, sep, file = pair.partition("=")
        if not sep or not file:
            raise click.BadParameter(f"{pair!r}: expected KIND/NAME=FILE", param_hint="--values-from-file")
        parsed.append((reference, Path(file)))
    return parsed


VALUES_FROM_FILE_OPTION = click.option(
    "--values-from-file", "values_from_file", multiple=True, metavar="KIND/NAME=FILE",
    help="Use FILE as the data of ConfigMap/NAME or Secret/NAME that spec.valuesFrom reads (repeatable).")
CHART_OPTION = click.option("--chart", "chart", type=click.Path(path_type=Path, exists=True), default=None,
                            help="Render this chart folder or .tgz instead of the source's artifact in the sandbox.")


@diff.command(name="helmrelease")
@click.argument("helmrelease_name", metavar="HELMRELEASE")
@click.option("--path", "path", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Take the HelmRelease (and the ConfigMaps and Secrets of its valuesFrom) from this local folder "
                   "instead of the cluster.")
@CHART_OPTION
@VALUES_FROM_FILE_OPTION
@NAME_OPTION
@NAMESPACE_OPTION
@FORMAT_OPTION
@click.pass_context
def diff_helmrelease(ctx: click.Context, helmrelease_name: str, path: Path | None, chart: Path | None,
                     values_from_file: tuple[str, ...], name: str | None, namespace: str, output_format: str) -> None:
    """Render a HelmRelease as its controller would (values, chart, post-renderers) and show what the upgrade
    would create, configure (with a unified diff, server-side dry-run) or delete.

    \b
    Exit status: 0 no differences, 1 differences found, 2 or more the diff failed.

    \b
    Examples:
      sandbox diff helmrelease web -n apps
      sandbox diff hr web -n apps --path ./clusters/dev --values-from-file ConfigMap/web-values=./values.yaml
    """
    try:
        record = record_for(name)
        report = diffs.diff_helmrelease(kube_for(name), Path(str(record["kubeconfig"])), helmrelease_name, namespace,
                                        path=path, chart=chart, values_files=parse_values_files(values_from_file))
    except SandboxError as err:
        fail(ctx, err)
        return
    show(report, output_format)
    finish(ctx, report)


diff.add_command(diff_helmrelease, name="hr")

COMMANDS = [diff]
