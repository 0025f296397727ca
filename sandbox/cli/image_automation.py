"""Flux-like verbs for the image automation kinds, added to the groups of ``sandbox.cli.flux``: ``get images
all|repository|policy|update``, ``create image repository|policy|update`` (``--export`` prints exactly what ``flux
create image … --export`` prints) and ``reconcile image repository|update``. ``suspend|resume image …`` go through
``sandbox.cli.flux``'s own commands."""

from __future__ import annotations

from typing import Any

import click

from sandbox.cli import flux, goyaml, helm, helm_ops, image_manifests, image_ops, output
from sandbox.cli.common import ALL_NAMESPACES_OPTION, NAME_OPTION, NAMESPACE_OPTION, kube_for
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops

INTERVAL_OPTION = click.option("--interval", default="1m", show_default=True, help="How often to reconcile.")


# --- get images ------------------------------------------------------------------------------------------------------

@click.group(name="images")
def get_images() -> None:
    """Show image automation objects with their status (like `flux get images`).

    \b
    Examples:
      sandbox get images all -A
      sandbox get images policy -o json
    """


def _show(kube: KubeClient, words: list[str], namespace: str | None, output_format: str) -> None:
    listings = [image_ops.LISTINGS[w] for w in words]
    found = [(listing, ops.list_objects(kube, [listing.kind], namespace)) for listing in listings]
    if output_format != "table":
        output.emit_data([image_ops.summarize(o) for _, objects in found for o in objects], output_format)
        return
    if not any(objects for _, objects in found):
        output.info("no image automation objects found" + ("" if namespace is None else
                                                            f" in {namespace} namespace"))
        return
    every_kind = len(found) > 1  # as flux get images all: one table per kind, NAME as kind/name, a blank line after
    for listing, objects in found:
        if not objects:
            continue
        output.table(image_ops.headers(listing, namespace is None),
                     image_ops.rows(listing, objects, namespace is None, with_kind=every_kind))
        if every_kind:
            output.stdout.print("")


def _get_command(word: str, help_text: str) -> click.Command:
    @click.command(name=word, help=help_text)
    @NAME_OPTION
    @NAMESPACE_OPTION
    @ALL_NAMESPACES_OPTION
    @output.OUTPUT_OPTION
    def command(name: str | None, namespace: str, all_namespaces: bool, output_format: str) -> None:
        words = list(image_ops.LISTINGS) if word == "all" else [word]
        _show(kube_for(name), words, None if all_namespaces else namespace, output_format)

    return command


get_images.add_command(_get_command("all", "Show ImageRepositories, ImagePolicies and ImageUpdateAutomations."))
get_images.add_command(_get_command(
    "repository", "Show ImageRepositories: LAST SCAN is status.lastScanResult.scanTime."
    "\n\n\b\nExample:\n  sandbox get images repository -n flux-system"))
get_images.add_command(_get_command(
    "policy", "Show ImagePolicies: IMAGE and TAG are status.latestRef's name and tag."
    "\n\n\b\nExample:\n  sandbox get images policy -A"))
get_images.add_command(_get_command(
    "update", "Show ImageUpdateAutomations: LAST RUN is status.lastAutomationRunTime."
    "\n\n\b\nExample:\n  sandbox get images update -o yaml"))


# --- create image ----------------------------------------------------------------------------------------------------

@click.group(name="image")
def create_image() -> None:
    """Create image automation objects (like `flux create image`); --export prints the YAML instead.

    \b
    Examples:
      sandbox create image repository app --image 127.0.0.1:5000/app --interval 1m
      sandbox create image policy app --image-ref app --select-semver '>=1.0.0 <2.0.0'
      sandbox create image update apps --git-repo-ref apps --git-repo-path ./deploy --checkout-branch main \\
        --author-name flux --author-email flux@example.com
    """


def _create(name: str | None, manifest: dict[str, Any], export: bool, timeout: float) -> None:
    if export:
        click.echo(goyaml.export(manifest), nl=False)
        return
    kind = image_ops.BY_KIND[manifest["kind"]]
    meta = manifest["metadata"]
    kube = kube_for(name)
    output.info(f"✚ generating {kind.kind}")
    existing = kube.get_or_none(manifest["apiVersion"], kind.kind, meta["name"], meta["namespace"])
    output.info(f"► applying {kind.kind}")
    kube.apply(manifest, field_manager="sandbox")
    output.success(f"{kind.kind} {'updated' if existing else 'created'}")
    output.info(f"◎ waiting for {kind.kind} reconciliation")
    with output.stderr.status("waiting…"):
        final = helm_ops.wait_ready(kube, kind, meta["name"], meta["namespace"], timeout=timeout)
    output.success(f"{kind.kind} reconciliation completed")
    output.success(success_message(final))


def success_message(obj: dict[str, Any]) -> str:
    """What a finished reconcile reports, per kind (as flux create/reconcile image … do)."""
    status = obj.get("status", {}) or {}
    if obj.get("kind") == "ImageRepository":
        return f"scan fetched {(status.get('lastScanResult') or {}).get('tagCount', 0)} tags"
    if obj.get("kind") == "ImagePolicy":
        return f"selected ref {image_ops.latest_image(obj)}"
    return str(ops.ready_condition(obj).get("message", ""))


@create_image.command(name="repository")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("--image", default=None, help="The image repository to scan, e.g. 127.0.0.1:5000/app (no tag).")
@INTERVAL_OPTION
@click.option("--scan-timeout", default=None, help="spec.timeout of a scan (default: the interval).")
@click.option("--secret-ref", default=None, help="A docker-registry Secret with the registry's credentials.")
@click.option("--cert-ref", "cert_ref", default=None, help="A Secret with TLS certificates (spec.certSecretRef).")
@click.option("--cert-secret-ref", "cert_ref", default=None, hidden=True)
@click.option("--exclusion-list", multiple=True, metavar="REGEX",
              help="Tags to leave out (repeatable; sandbox flag, flux has none; Flux's default is ^.*\\.sig$).")
@click.option("--insecure", is_flag=True, help="Scan over plain http (sandbox flag, flux has none).")
@helm.LABEL_OPTION
@helm.EXPORT_OPTION
@flux.TIMEOUT_OPTION
def create_repository(object_name: str, name: str | None, namespace: str, image: str | None, interval: str,
                      scan_timeout: str | None, secret_ref: str | None, cert_ref: str | None,
                      exclusion_list: tuple[str, ...], insecure: bool, labels: tuple[str, ...], export: bool,
                      timeout: float) -> None:
    """Create (or update) the ImageRepository NAME and wait for its first scan.

    \b
    Examples:
      sandbox create image repository app --image 127.0.0.1:5000/app --interval 1m
      sandbox create image repository app --image 127.0.0.1:5000/app --secret-ref registry-creds --export
    """
    manifest = image_manifests.image_repository(
        object_name, namespace, image=image, interval_text=interval, scan_timeout=scan_timeout,
        secret_ref=secret_ref, cert_ref=cert_ref, exclusion_list=exclusion_list, insecure=insecure, labels=labels)
    _create(name, manifest, export, timeout)


@create_image.command(name="policy")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("--image-ref", default=None, help="The ImageRepository (same namespace) whose tags to choose from.")
@click.option("--select-semver", default=None, help="A semver range, e.g. '>=1.0.0 <2.0.0' or '1.x'.")
@click.option("--select-numeric", default=None, help="Numerical order: asc picks the highest, desc the lowest.")
@click.option("--select-alpha", default=None, help="Alphabetical order: asc picks the last, desc the first.")
@click.option("--filter-regex", default=None, help="Only tags matching this regular expression.")
@click.option("--filter-extract", default=None, help="What to sort on, from --filter-regex's groups, e.g. '$ts'.")
@click.option("--reflect-digest", default=None, help="Never, IfNotPresent or Always: put the digest in latestRef.")
@click.option("--interval", default=None, help="How often to check the digest (only with --reflect-digest=Always).")
@helm.LABEL_OPTION
@helm.EXPORT_OPTION
@flux.TIMEOUT_OPTION
def create_policy(object_name: str, name: str | None, namespace: str, image_ref: str | None,
                  select_semver: str | None, select_numeric: str | None, select_alpha: str | None,
                  filter_regex: str | None, filter_extract: str | None, reflect_digest: str | None,
                  interval: str | None, labels: tuple[str, ...], export: bool, timeout: float) -> None:
    """Create (or update) the ImagePolicy NAME and wait until it has chosen an image.

    \b
    Examples:
      sandbox create image policy app --image-ref app --select-semver '>=1.0.0 <2.0.0'
      sandbox create image policy app --image-ref app --select-numeric asc \\
        --filter-regex '^main-[a-f0-9]+-(?P<ts>[0-9]+)' --filter-extract '$ts' --export
    """
    manifest = image_manifests.image_policy(
        object_name, namespace, image_ref=image_ref, semver=select_semver, numeric=select_numeric,
        alpha=select_alpha, filter_regex=filter_regex, filter_extract=filter_extract, reflect_digest=reflect_digest,
        interval_text=interval, labels=labels)
    _create(name, manifest, export, timeout)


@create_image.command(name="update")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("--git-repo-ref", default=None, help="The GitRepository to update.")
@click.option("--git-repo-namespace", default=None, help="Its namespace (default: the automation's).")
@click.option("--git-repo-path", default=None, help="Directory whose YAML carries the markers (default: the root).")
@click.option("--checkout-branch", default=None, help="Branch to check out.")
@click.option("--push-branch", default=None, help="Branch to push to (default: the checkout branch).")
@click.option("--author-name", default=None, help="Commit author name.")
@click.option("--author-email", default=None, help="Commit author email.")
@click.option("--commit-template", default=None, help="Go template of the commit message.")
@click.option("--signing-key-secret", default=None, help="Secret holding the commit signing key.")
@click.option("--signing-key-type", default=None, help="gpg or ssh (with --signing-key-secret).")
@INTERVAL_OPTION
@helm.LABEL_OPTION
@helm.EXPORT_OPTION
@flux.TIMEOUT_OPTION
def create_update(object_name: str, name: str | None, namespace: str, git_repo_ref: str | None,
                  git_repo_namespace: str | None, git_repo_path: str | None, checkout_branch: str | None,
                  push_branch: str | None, author_name: str | None, author_email: str | None,
                  commit_template: str | None, signing_key_secret: str | None, signing_key_type: str | None,
                  interval: str, labels: tuple[str, ...], export: bool, timeout: float) -> None:
    """Create (or update) the ImageUpdateAutomation NAME and wait for its first run.

    \b
    Examples:
      sandbox create image update apps --git-repo-ref apps --git-repo-path ./deploy --checkout-branch main \\
        --author-name flux --author-email flux@example.com \\
        --commit-template '{{range .Changed.Changes}}{{println .NewValue}}{{end}}'
      sandbox create image update apps --git-repo-ref apps --checkout-branch main --push-branch image-updates \\
        --author-name flux --author-email flux@example.com --export
    """
    manifest = image_manifests.image_update(
        object_name, namespace, git_repo_ref=git_repo_ref, git_repo_namespace=git_repo_namespace,
        git_repo_path=git_repo_path, checkout_branch=checkout_branch, push_branch=push_branch,
        author_name=author_name, author_email=author_email, commit_template=commit_template,
        signing_key_secret=signing_key_secret, signing_key_type=signing_key_type, interval_text=interval,
        labels=labels)
    _create(name, manifest, export, timeout)


# --- reconcile image -------------------------------------------------------------------------------------------------

@click.group(name="image")
def reconcile_image() -> None:
    """Reconcile an ImageRepository (scan now) or an ImageUpdateAutomation (run now)."""


def _reconcile_command(kind: ops.KindRef, word: str, help_text: str) -> click.Command:
    @click.command(name=word, help=help_text)
    @click.argument("object_name", metavar="NAME")
    @NAME_OPTION
    @NAMESPACE_OPTION
    @flux.TIMEOUT_OPTION
    def command(object_name: str, name: str | None, namespace: str, timeout: float) -> None:
        kube = kube_for(name)
        output.info(f"► annotating {kind.kind} {object_name} in {namespace} namespace")
        token = helm_ops.annotate(kube, kind, object_name, namespace)
        output.success(f"{kind.kind} annotated")
        output.info(f"◎ waiting for {kind.kind} reconciliation")
        with output.stderr.status(f"waiting for {kind.kind} reconciliation…"):
            final = helm_ops.wait_handled(kube, kind, object_name, namespace, token, timeout=timeout)
        output.success(success_message(final))

    return command


reconcile_image.add_command(_reconcile_command(
    image_ops.IMAGE_REPOSITORY, "repository",
    "Scan the ImageRepository NAME now and report how many tags it found.\n\n\b\nExample:\n"
    "  sandbox reconcile image repository app"))
reconcile_image.add_command(_reconcile_command(
    image_ops.IMAGE_UPDATE, "update",
    "Run the ImageUpdateAutomation NAME now (commit and push what the policies changed).\n\n\b\nExample:\n"
    "  sandbox reconcile image update apps"))


def _register() -> None:
    flux.get.add_command(get_images)
    flux.create.add_command(create_image)
    flux.reconcile.add_command(reconcile_image)


_register()

COMMANDS: list[click.Command] = []  # everything here joins the groups of sandbox.cli.flux
