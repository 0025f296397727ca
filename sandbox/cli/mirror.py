"""``sandbox mirror git|oci|helm|list|remove|offline``: serve the remote sources a repository names from the
sandbox, for hermetic runs."""

from __future__ import annotations

from pathlib import Path

import click

from sandbox import config, mirrors
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.state import StateDir


@click.group()
def mirror() -> None:
    """Mirrors: remote git repositories, OCI repositories and Helm repositories served by the sandbox itself,
    so that a repository whose Flux YAML names them runs unchanged on a machine without internet.

    The objects keep their real URLs; the reconciler looks each fetch up in the sandbox's mirror map and fetches
    from the sandbox instead (the status and the NewArtifact event say so). With `sandbox up --offline` (or
    `sandbox mirror offline on`) a fetch of anything unmirrored fails at once.

    \b
    Examples:
      sandbox mirror git https://git.example.com/org/fleet --from ./fleet
      sandbox mirror git https://git.example.com/org/apps --from-git ~/src/apps
      sandbox mirror oci oci://registry.example.com/org/app --from ./deploy --tag latest
      sandbox mirror oci oci://registry.example.com/org --artifact app.tar.gz --tag v1.0.0
      sandbox mirror helm https://charts.example.com/stable --chart ./charts/podinfo
      sandbox mirror list -o yaml
      sandbox mirror remove https://git.example.com/org/fleet
    """


def _printed(result: dict[str, object], output_format: str) -> None:
    if output_format != "table":
        output.emit_data(result, output_format)
        return
    output.success(f"{result['url']} is served by the sandbox mirror {result['target']}")


@mirror.command(name="git")
@NAME_OPTION
@click.argument("url")
@click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Commit the files of this folder (its .git left out) as the whole tree of the mirror's main "
                   "branch; again later, as a new commit.")
@click.option("--from-git", "from_git", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Push every branch and tag of this local git repository to the mirror.")
@output.OUTPUT_OPTION
def git_(name: str | None, url: str, from_dir: Path | None, from_git: Path | None, output_format: str) -> None:
    """Serve the git repository URL from a sandbox repository (created as mirror-<host>-<path>).

    URLs match whatever the scheme (https, http, ssh, git@host:path), user name, default port, trailing
    slash or `.git`, and the host's case. A GitRepository of URL then fetches the mirror with the git
    server's own credentials (its secretRef is for the real remote and is not read).

    \b
    Examples:
      sandbox mirror git https://git.example.com/org/fleet --from ./fleet
      sandbox mirror git ssh://git@git.example.com/org/apps.git --from-git ~/src/apps
    """
    _printed(mirrors.mirror_git(config.resolve_name(name), url, from_dir=from_dir, from_git=from_git),
             output_format)


@mirror.command(name="oci")
@NAME_OPTION
@click.argument("prefix", metavar="oci://HOST/PATH")
@click.option("--from", "from_dir", type=click.Path(exists=True, path_type=Path), default=None,
              help="Push this folder as a Flux artifact to the mirrored path itself (as `sandbox push artifact`).")
@click.option("--tag", default="latest", show_default=True, help="The tag of what is pushed.")
@click.option("--artifact", "artifact_files", multiple=True, type=click.Path(exists=True, dir_okay=False,
                                                                             path_type=Path),
              help="A NAME.tar.gz of manifests (as `flux build artifact` writes), pushed as the Flux artifact "
                   "oci://HOST/PATH/NAME:TAG (repeatable).")
@click.option("--source", default="", help="The origin source annotation (default: the URL).")
@click.option("--revision", default="", help="The origin revision annotation (default: the tag).")
@output.OUTPUT_OPTION
def oci_(name: str | None, prefix: str, from_dir: Path | None, tag: str, artifact_files: tuple[Path, ...],
         source: str, revision: str, output_format: str) -> None:
    """Serve every OCI repository under oci://HOST/PATH from the sandbox registry (under mirrors/HOST/PATH);
    the longest mirrored prefix of an OCIRepository's URL wins. Revisions stay Flux's (TAG@sha256:DIGEST).

    \b
    Examples:
      sandbox mirror oci oci://registry.example.com/org/app --from ./deploy --tag latest
      sandbox mirror oci oci://registry.example.com/org --artifact app.tar.gz --artifact infra.tar.gz
      sandbox mirror oci oci://registry.example.com/org     # map only; push later to what it names
    """
    result = mirrors.mirror_oci(config.resolve_name(name), prefix, from_dir=from_dir, tag=tag,
                                artifact_files=artifact_files, source=source, revision=revision)
    _printed(result, output_format)
    if output_format == "table":
        for pushed in result["pushed"]:
            output.info(f"  pushed {pushed['repository']}:{pushed['tag']} ({pushed['digest']})")


@mirror.command(name="helm")
@NAME_OPTION
@click.argument("url")
@click.option("--chart", "charts", multiple=True, required=True, type=click.Path(exists=True, file_okay=False,
                                                                                 path_type=Path),
              help="A chart folder (with Chart.yaml) to add to the sandbox chart repository (repeatable).")
@output.OUTPUT_OPTION
def helm_(name: str | None, url: str, charts: tuple[Path, ...], output_format: str) -> None:
    """Add charts to the sandbox chart repository and record that it serves the Helm repository URL.

    HelmRepositories of URL (and their HelmCharts) then fetch from the sandbox chart repository;
    helm-compatible clients use the chart repository's URL.

    \b
    Example:
      sandbox mirror helm https://charts.example.com/stable --chart ./charts/podinfo
    """
    result = mirrors.mirror_helm(config.resolve_name(name), url, charts)
    _printed(result, output_format)


@mirror.command(name="list")
@NAME_OPTION
@output.OUTPUT_OPTION
def list_(name: str | None, output_format: str) -> None:
    """List the mirrors (kind, real URL, where the sandbox serves it) and whether the sandbox is offline.

    \b
    Example:
      sandbox mirror list -o json | jq -r '.mirrors[].url'
    """
    data = mirrors.list_mirrors(config.resolve_name(name))
    if output_format != "table":
        output.emit_data(data, output_format)
        return
    output.info(f"offline: {'yes' if data['offline'] else 'no'}")
    output.table(["KIND", "URL", "SERVED FROM", "DETAIL"],
                 [[r["kind"], r["url"], r["target"], r["detail"]] for r in data["mirrors"]])


@mirror.command()
@NAME_OPTION
@click.argument("url")
@click.option("--delete-repository", is_flag=True, help="Also delete a git mirror's sandbox repository.")
def remove(name: str | None, url: str, delete_repository: bool) -> None:
    """Stop mirroring URL (a git URL, an OCI prefix or a Helm repository URL). What was pushed stays.

    \b
    Example:
      sandbox mirror remove oci://registry.example.com/org
    """
    removed = mirrors.remove(config.resolve_name(name), url, delete_repository=delete_repository)
    output.success(f"{url} is no longer mirrored ({', '.join(removed)})")


@mirror.command()
@NAME_OPTION
@click.argument("mode", type=click.Choice(["on", "off"]))
def offline(name: str | None, mode: str) -> None:
    """Turn offline mode on or off for a running sandbox (as `sandbox up --offline` starts it).

    \b
    Example:
      sandbox mirror offline on
    """
    mirrors.set_offline(StateDir(config.resolve_name(name)), mode == "on")
    output.success(f"offline mode is {mode}: the next fetch of the reconciler sees it")


COMMANDS = [mirror]
