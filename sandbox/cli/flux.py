"""Flux-like verbs for learners: get, reconcile, suspend, resume, events, tree, logs, create."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import yaml
from rich.markup import escape
from rich.tree import Tree

from sandbox.cli import helm_ops, image_ops, output
from sandbox.cli.common import ALL_NAMESPACES_OPTION, NAME_OPTION, NAMESPACE_OPTION, kube_for, record_for
from sandbox.errors import InputError
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops, stuckpods


def _rows(objects: list[dict[str, Any]], with_kind: bool, all_namespaces: bool,
          show_source: bool = False) -> list[list[Any]]:
    rows = []
    for obj in objects:
        summary = helm_ops.summarize(obj)
        row = []
        if all_namespaces:
            row.append(summary["namespace"])
        row.append(f"{summary['kind'].lower()}/{summary['name']}" if with_kind else summary["name"])
        if show_source:
            row.append(helm_ops.release_source_label(obj))
        # An object being deleted says so (its finalizer is pruning, or waiting for what it pruned to go).
        ready = "Terminating" if summary["terminating"] else summary["ready"]
        revision, message = summary["revision"], summary["message"]
        if summary["kind"] == "HelmRepository":  # as flux get: the index digest cut to 8 characters
            revision, message = helm_ops.truncate_hex(revision), helm_ops.truncate_hex(message)
        row += [revision, "True" if summary["suspended"] else "False", ready, message]
        rows.append(row)
    return rows


def _show(objects: list[dict[str, Any]], output_format: str, all_namespaces: bool, with_kind: bool,
          show_source: bool = False) -> None:
    if output_format != "table":
        output.emit_data([{**helm_ops.summarize(o), **({"source": helm_ops.release_source_label(o)} if show_source
                                                        else {})} for o in objects], output_format)
        return
    if not objects:
        output.info("no objects found")
        return
    columns = (["NAMESPACE"] if all_namespaces else []) + ["NAME"] + (["SOURCE"] if show_source else []) + [
        "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    output.table(columns, _rows(objects, with_kind, all_namespaces, show_source))


@click.group()
def get() -> None:
    """Show Flux objects with their readiness, revision and message (like `flux get`).

    \b
    Examples:
      sandbox get all -A
      sandbox get kustomizations -o json
      sandbox get sources git -n apps
      sandbox get helmreleases -A
    """


def _get_command(name: str, kinds: list[ops.KindRef], help_text: str, with_kind: bool = False,
                 source_option: bool = False) -> click.Command:
    @click.command(name=name, help=help_text)
    @NAME_OPTION
    @NAMESPACE_OPTION
    @ALL_NAMESPACES_OPTION
    @output.OUTPUT_OPTION
    def command(name: str | None, namespace: str, all_namespaces: bool, output_format: str,
                show_source: bool = False) -> None:
        kube = kube_for(name)
        objects = ops.list_objects(kube, kinds, None if all_namespaces else namespace)
        _show(objects, output_format, all_namespaces, with_kind, show_source)
        if output_format == "table":
            pull_hints(kube, objects)

    if source_option:
        return click.option("--show-source", is_flag=True, help="Show where each release's chart comes from.")(command)
    return command


@click.group(name="sources")
def get_sources() -> None:
    """Show sources (GitRepository, …)."""


get_sources.add_command(_get_command("git", [ops.GIT_REPOSITORY], "Show GitRepositories."))
get_sources.add_command(_get_command("oci", [ops.OCI_REPOSITORY], "Show OCIRepositories."))
get_sources.add_command(_get_command(
    "helm", [helm_ops.HELM_REPOSITORY], "Show HelmRepositories: REVISION is the index digest (cut to 8 characters); "
    "one of type oci is only a URL, Ready as in Flux unless something reported on it."
    "\n\n\b\nExample:\n  sandbox get sources helm -A"))
get_sources.add_command(_get_command(
    "chart", [helm_ops.HELM_CHART], "Show HelmCharts, those HelmReleases generate (<namespace>-<name>) too: REVISION "
    "is the chart version.\n\n\b\nExample:\n  sandbox get sources chart -n flux-system -o yaml"))
get_sources.add_command(_get_command("all", ops.EVERY_SOURCE, "Show every source kind.", with_kind=True))
get.add_command(get_sources)
get.add_command(_get_command("kustomizations", [ops.KUSTOMIZATION], "Show Kustomizations."))
_RELEASES_HELP = ("Show HelmReleases; REVISION is the chart version of the latest release.\n\n\b\nExamples:\n"
                  "  sandbox get helmreleases -A --show-source\n  sandbox get hr -n apps -o yaml")
get.add_command(_get_command("helmreleases", [helm_ops.HELM_RELEASE], _RELEASES_HELP, source_option=True))
for _alias in ("hr", "helmrelease"):  # flux's aliases
    get.add_command(_get_command(_alias, [helm_ops.HELM_RELEASE], _RELEASES_HELP, source_option=True), name=_alias)
    get.commands[_alias].hidden = True
get.add_command(_get_command("receivers", [ops.RECEIVER], "Show Receivers."))
get.add_command(_get_command("all", ops.EVERY_KIND, "Show every Flux object, of every kind.", with_kind=True))


def pull_hints(kube: KubeClient, objects: list[dict[str, Any]]) -> None:
    """Below a listing, on stderr: the pods of what the Kustomizations applied that cannot pull their image or
    crash-loop (Flux only says the Deployment is InProgress, or nothing at all without health checks)."""
    for obj in objects:
        if obj.get("kind") != "Kustomization":
            continue
        for waiting in stuckpods.of_kustomization(kube, obj):
            hint = (f": is the tag pushed? `sandbox image tags {_repository_of(waiting.image)}`"
                    if waiting.reason in stuckpods.PULL_REASONS else "")
            output.warn(escape(f"{waiting.line()} (applied by Kustomization/{obj['metadata']['namespace']}/"
                               f"{obj['metadata']['name']}){hint}"))


def _repository_of(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, tag = name.rpartition(":")
    return head if head and "/" not in tag else name


def _reconcile_and_report(name: str | None, kind: ops.KindRef, object_name: str, namespace: str,
                          timeout: float) -> dict[str, Any]:
    kube = kube_for(name)
    started = time.monotonic()
    with output.stderr.status(f"reconciling {kind.kind}/{namespace}/{object_name}…"):
        obj = ops.request_reconcile(kube, kind, object_name, namespace, timeout=timeout)
    revision = helm_ops.revision_of(obj)
    took = time.monotonic() - started
    output.success(f"{kind.kind}/{namespace}/{object_name} reconciled in {took:.2f}s"
                   + (f": revision {revision}" if revision else ""))
    return obj


@click.group()
def reconcile() -> None:
    """Reconcile now and wait for the result (like `flux reconcile`).

    \b
    Examples:
      sandbox reconcile source git apps
      sandbox reconcile kustomization apps --with-source
      sandbox reconcile helmrelease web --force --reset
    """


TIMEOUT_OPTION = click.option("--timeout", type=float, default=120.0, show_default=True,
                              help="Seconds to wait for the reconcile to finish.")


@reconcile.group(name="source")
def reconcile_source() -> None:
    """Reconcile a source."""


def _reconcile_command(kind: ops.KindRef, command_name: str, help_text: str) -> click.Command:
    @click.command(name=command_name, help=help_text)
    @click.argument("object_name", metavar="NAME")
    @NAME_OPTION
    @NAMESPACE_OPTION
    @TIMEOUT_OPTION
    def command(object_name: str, name: str | None, namespace: str, timeout: float) -> None:
        _reconcile_and_report(name, kind, object_name, namespace, timeout)

    return command


reconcile_source.add_command(_reconcile_command(ops.GIT_REPOSITORY, "git",
                                                "Fetch the GitRepository NAME now and report the new revision."))
reconcile_source.add_command(_reconcile_command(ops.OCI_REPOSITORY, "oci",
                                                "Pull the OCIRepository NAME now and report the new revision."))
reconcile.add_command(_reconcile_command(ops.RECEIVER, "receiver", "Reconcile the Receiver NAME now."))


@reconcile.command(name="kustomization")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@TIMEOUT_OPTION
@click.option("--with-source", is_flag=True, help="Reconcile the source first.")
def reconcile_kustomization(object_name: str, name: str | None, namespace: str, timeout: float,
                            with_source: bool) -> None:
    """Apply the Kustomization NAME now and report the applied revision."""
    if with_source:
        source_kind, source_name, source_namespace = ops.source_of(kube_for(name), object_name, namespace)
        _reconcile_and_report(name, source_kind, source_name, source_namespace, timeout)
    _reconcile_and_report(name, ops.KUSTOMIZATION, object_name, namespace, timeout)


def _kind_argument(words: tuple[str, ...]) -> ops.KindRef:
    joined = " ".join(words)
    joined = {"hr": "helmrelease"}.get(joined, joined)  # flux's alias
    for kind in [*helm_ops.RECONCILABLE, *image_ops.KINDS]:
        if joined in (kind.noun, kind.kind.lower(), kind.kind.lower() + "s"):
            return kind
    raise InputError(f"unknown kind {joined!r}: use one of "
                     + ", ".join(repr(k.noun) for k in [*helm_ops.RECONCILABLE, *image_ops.KINDS]))


def _suspend_command(suspend: bool) -> click.Command:
    verb = "suspend" if suspend else "resume"

    @click.command(name=verb)
    @click.argument("words", nargs=-1, required=True, metavar="KIND... NAME")
    @NAME_OPTION
    @NAMESPACE_OPTION
    @TIMEOUT_OPTION
    def command(words: tuple[str, ...], name: str | None, namespace: str, timeout: float) -> None:
        if len(words) < 2:
            raise InputError(f"usage: sandbox {verb} kustomization NAME, or sandbox {verb} source git NAME")
        kind = _kind_argument(words[:-1])
        object_name = words[-1]
        kube = kube_for(name)
        updated = ops.set_suspended(kube, kind, object_name, namespace, suspend)
        if not suspend and helm_ops.static_without_status(updated):
            output.success(f"{kind.kind}/{namespace}/{object_name} resumed (it has no reconciler to wait for)")
        elif suspend:
            output.success(f"{kind.kind}/{namespace}/{object_name} suspended: the reconciler leaves it alone "
                           f"until `sandbox resume {kind.noun} {object_name}`")
        else:
            _reconcile_and_report(name, kind, object_name, namespace, timeout)

    command.help = (f"{verb.capitalize()} reconciliation of an object: "
                    + ("changes in git are not applied and drift is not corrected until it is resumed."
                       if suspend else "it reconciles at once and catches up with git.")
                    + f"\n\n\b\nExamples:\n  sandbox {verb} kustomization apps\n  sandbox {verb} source git apps"
                    + f"\n  sandbox {verb} helmrelease podinfo\n  sandbox {verb} source helm podinfo"
                    + f"\n  sandbox {verb} image update apps")
    return command


suspend = _suspend_command(True)
resume = _suspend_command(False)


@click.command(name="events")
@NAME_OPTION
@NAMESPACE_OPTION
@ALL_NAMESPACES_OPTION
@click.option("--for", "for_object", metavar="KIND[/NAME]",
              help="Only events about this object (a HelmRelease's with its chart's and source's), or this kind.")
@output.OUTPUT_OPTION
def events_command(name: str | None, namespace: str, all_namespaces: bool, for_object: str | None,
                   output_format: str) -> None:
    """Show Kubernetes events, oldest first (like `flux events`).

    \b
    Example:
      sandbox events --for Kustomization/apps
    """
    kube = kube_for(name)
    scope = None if all_namespaces else namespace
    items = helm_ops.events_for(kube, scope, for_object) if for_object else ops.events(kube, scope)
    if output_format == "table" and for_object and for_object.lower().startswith("kustomization/"):
        ks = kube.get_or_none(ops.KUSTOMIZATION.api_version, "Kustomization", for_object.split("/", 1)[1], namespace)
        pull_hints(kube, [ks] if ks else [])
    data = [{"lastSeen": e.get("lastTimestamp"), "type": e.get("type"), "reason": e.get("reason"),
             "object": f"{e['involvedObject'].get('kind')}/{e['involvedObject'].get('name')}",
             "namespace": e["metadata"].get("namespace"), "count": e.get("count", 1), "message": e.get("message")}
            for e in items]
    if output_format != "table":
        output.emit_data(data, output_format)
        return
    if not data:
        output.info("no events found" + ("" if all_namespaces else f" in {namespace} namespace"))
        return
    # As flux events: a NAMESPACE column across namespaces, or when related objects live in another namespace.
    show_namespace = all_namespaces or any(d["namespace"] != namespace for d in data)
    output.table((["NAMESPACE"] if show_namespace else []) + ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
                 [([d["namespace"]] if show_namespace else [])
                  + [d["lastSeen"], d["type"], d["reason"], d["object"], d["message"]] for d in data])


@click.group(name="tree")
def tree_group() -> None:
    """Show what a Kustomization or a HelmRelease manages, from its inventory (like `flux tree`)."""


@tree_group.command(name="kustomization")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@output.OUTPUT_OPTION
def tree_kustomization(object_name: str, name: str | None, namespace: str, output_format: str) -> None:
    """Show the objects the Kustomization NAME applied, nested Kustomizations expanded."""
    kube = kube_for(name)
    show_tree(helm_ops.expand_releases(kube, ops.tree(kube, object_name, namespace)), output_format)


def show_tree(root: ops.TreeNode, output_format: str) -> None:
    """A tree of objects as `flux tree` draws it, or its data for -o json|yaml."""
    if output_format != "table":
        output.emit_data(root.to_dict(), output_format)
        return

    def add(branch: Tree, node: ops.TreeNode) -> None:
        for child in node.children:
            add(branch.add(escape(child.label)), child)

    view = Tree(escape(root.label))
    add(view, root)
    output.stdout.print(view)


@click.command(name="logs")
@NAME_OPTION
@click.option("--level", type=click.Choice(["debug", "info", "warning", "error"]), help="Only this level.")
@click.option("--kind", help="Only lines mentioning this kind.")
@click.option("--for", "for_name", metavar="NAME", help="Only lines mentioning this object name.")
@click.option("--tail", type=int, default=None, help="Only the last N lines.")
@output.OUTPUT_OPTION
def logs(name: str | None, level: str | None, kind: str | None, for_name: str | None, tail: int | None,
         output_format: str) -> None:
    """Show the reconciler's log (JSON lines), filtered.

    \b
    Example:
      sandbox logs --level error --kind Kustomization --tail 20
    """
    record = record_for(name)
    services = record.get("services") or {}
    reconciler = services.get("reconciler") if isinstance(services, dict) else None
    if not isinstance(reconciler, dict):
        raise InputError("this sandbox runs no reconciler")
    entries = ops.read_logs(Path(str(reconciler["log"])), level=level, kind=kind, name=for_name, tail=tail)
    if output_format != "table":
        output.emit_data(entries, output_format)
        return
    for entry in entries:
        extra = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("ts", "level", "msg", "logger"))
        output.stdout.print(f"{entry.get('ts', '')} {entry.get('level', '').upper():7} {escape(entry.get('msg', ''))}"
                            + (f" {escape(extra)}" if extra else ""))


def _apply_or_export(name: str | None, manifest: dict[str, Any], export: bool, timeout: float) -> None:
    if export:
        click.echo("---\n" + yaml.safe_dump(manifest, sort_keys=False), nl=False)
        return
    kube = kube_for(name)
    kube.apply(manifest, field_manager="sandbox")
    kind = ops.BY_KIND[manifest["kind"]]
    meta = manifest["metadata"]
    output.success(f"{manifest['kind']}/{meta['namespace']}/{meta['name']} applied")
    _reconcile_and_report(name, kind, meta["name"], meta["namespace"], timeout)


@click.group()
def create() -> None:
    """Create sources, Kustomizations and HelmReleases (like `flux create`); --export prints the YAML instead.

    \b
    Examples:
      sandbox create source git apps --url "$(sandbox repo url apps --in-cluster)" --branch main
      sandbox create kustomization apps --source GitRepository/apps --path ./deploy --prune
      sandbox create source helm charts --url http://127.0.0.1:PORT  # REPOSITORY of `sandbox chart list`
      sandbox create helmrelease web --source HelmRepository/charts --chart web --chart-version '1.x'
    """


@create.group(name="source")
def create_source() -> None:
    """Create a source."""


@create_source.command(name="git")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("--url", required=True, help="Repository URL (http or https).")
@click.option("--branch", default=None, help="Branch to track (Flux's default: master).")
@click.option("--tag", default=None, help="Tag to pin.")
@click.option("--tag-semver", "semver", default=None, help="Semver range of tags, e.g. '>=1.0.0 <2.0.0'.")
@click.option("--interval", default="1m", show_default=True, help="How often to check the remote.")
@click.option("--secret-ref", default=None, help="Secret with username/password or bearerToken.")
@click.option("--ignore-paths", "ignore", default=None, help="Extra ignore rules (.gitignore syntax).")
@click.option("--export", is_flag=True, help="Print the YAML instead of applying it.")
@TIMEOUT_OPTION
def create_git(object_name: str, name: str | None, namespace: str, url: str, branch: str | None, tag: str | None,
               semver: str | None, interval: str, secret_ref: str | None, ignore: str | None, export: bool,
               timeout: float) -> None:
    """Create (or update) the GitRepository NAME and wait for its first artifact."""
    manifest = ops.git_source_manifest(object_name, namespace, url, branch=branch, tag=tag, semver=semver,
                                       interval=interval, secret_ref=secret_ref, ignore=ignore)
    _apply_or_export(name, manifest, export, timeout)


@create.command(name="kustomization")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("--source", required=True, metavar="[KIND/]NAME[.NAMESPACE]", help="The source, e.g. GitRepository/apps.")
@click.option("--path", default="./", show_default=True, help="Path inside the source.")
@click.option("--interval", default="10m", show_default=True)
@click.option("--prune/--no-prune", default=True, show_default=True, help="Delete objects removed from git.")
@click.option("--wait", is_flag=True, help="Wait for every applied object to become ready.")
@click.option("--target-namespace", default=None)
@click.option("--depends-on", multiple=True, help="Kustomization that must be ready first (repeatable).")
@click.option("--health-timeout", "health_timeout", default=None, help="spec.timeout, e.g. 2m.")
@click.option("--export", is_flag=True, help="Print the YAML instead of applying it.")
@TIMEOUT_OPTION
def create_kustomization(object_name: str, name: str | None, namespace: str, source: str, path: str,
                         interval: str, prune: bool, wait: bool, target_namespace: str | None,
                         depends_on: tuple[str, ...], health_timeout: str | None, export: bool,
                         timeout: float) -> None:
    """Create (or update) the Kustomization NAME and wait for it to apply."""
    manifest = ops.kustomization_manifest(object_name, namespace, source=source, path=path, interval=interval,
                                          prune=prune, wait=wait, target_namespace=target_namespace,
                                          depends_on=list(depends_on), timeout=health_timeout)
    _apply_or_export(name, manifest, export, timeout)


COMMANDS = [get, reconcile, suspend, resume, events_command, tree_group, logs, create]
