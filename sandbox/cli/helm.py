"""Flux-like verbs for Helm kinds, added to the groups of ``sandbox.cli.flux``: ``create source helm``,
``create helmrelease`` (``--export`` prints exactly what ``flux create … --export`` prints), ``reconcile
helmrelease|source helm|source chart`` and ``tree helmrelease``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sandbox.cli import flux, goyaml, helm_manifests, helm_ops, output
from sandbox.cli.common import NAME_OPTION, NAMESPACE_OPTION, kube_for
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops

EXPORT_OPTION = click.option("--export", is_flag=True, help="Print the YAML (as flux create --export) instead of "
                                                            "applying it.")
LABEL_OPTION = click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
                            help="Set a label on the object (repeatable).")


def _action(message: str) -> None:
    output.info(f"► {message}")


def _waiting(message: str) -> None:
    output.info(f"◎ {message}")


def _apply(kube: KubeClient, manifest: dict[str, Any], what: str, created: str, updated: str) -> None:
    meta = manifest["metadata"]
    existing = kube.get_or_none(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
    _action(f"applying {what}")
    kube.apply(manifest, field_manager="sandbox")
    output.success(updated if existing else created)


def reconcile_one(kube: KubeClient, kind: ops.KindRef, name: str, namespace: str, *, timeout: float,
                  force: bool = False, reset: bool = False) -> dict[str, Any]:
    """Annotate, wait and report as ``flux reconcile`` does, one object."""
    obj = ops.get(kube, kind, name, namespace)
    if helm_ops.static_without_status(obj):
        output.success("reconciliation not supported by the object")
        return obj
    _action(f"annotating {kind.kind} {name} in {namespace} namespace")
    token = helm_ops.annotate(kube, kind, name, namespace, force=force, reset=reset)
    output.success(f"{kind.kind} annotated")
    _waiting(f"waiting for {kind.kind} reconciliation")
    with output.stderr.status(f"waiting for {kind.kind} reconciliation…"):
        final = helm_ops.wait_handled(kube, kind, name, namespace, token, timeout=timeout)
    output.success(helm_ops.success_message(final))
    return final


def _reconcile_chart(kube: KubeClient, name: str, namespace: str, *, with_source: bool, timeout: float) -> None:
    if with_source:
        source_kind, source_name, source_namespace = helm_ops.chart_source(ops.get(kube, helm_ops.HELM_CHART, name,
                                                                                   namespace))
        reconcile_one(kube, source_kind, source_name, source_namespace, timeout=timeout)
    reconcile_one(kube, helm_ops.HELM_CHART, name, namespace, timeout=timeout)


def _reconcile_release(object_name: str, name: str | None, namespace: str, timeout: float, with_source: bool,
                       force: bool, reset: bool) -> None:
    kube = kube_for(name)
    release = ops.get(kube, helm_ops.HELM_RELEASE, object_name, namespace)
    if with_source and not release.get("spec", {}).get("suspend"):
        source_kind, source_name, source_namespace = helm_ops.release_source(release)
        if source_kind == helm_ops.HELM_CHART:  # flux reconciles the chart's own source as well
            _reconcile_chart(kube, source_name, source_namespace, with_source=True, timeout=timeout)
        else:
            reconcile_one(kube, source_kind, source_name, source_namespace, timeout=timeout)
    reconcile_one(kube, helm_ops.HELM_RELEASE, object_name, namespace, timeout=timeout, force=force, reset=reset)


_RECONCILE_HELP = """Reconcile the HelmRelease NAME now and wait for the result.

--force makes a one-off install or upgrade even when nothing changed; --reset clears the failure counters: together
they are the way out of "upgrade retries exhausted" (the reconciler gets forceAt/resetAt with the same token as
requestedAt, as `flux reconcile hr --force --reset` sets them).

\b
Examples:
  sandbox reconcile helmrelease podinfo
  sandbox reconcile hr podinfo --with-source
  sandbox reconcile hr podinfo -n apps --force --reset
"""


def _reconcile_release_command(command_name: str, hidden: bool = False) -> click.Command:
    @click.command(name=command_name, help=_RECONCILE_HELP, hidden=hidden)
    @click.argument("object_name", metavar="NAME")
    @NAME_OPTION
    @NAMESPACE_OPTION
    @flux.TIMEOUT_OPTION
    @click.option("--with-source", is_flag=True,
                  help="Reconcile the chart's source first (its HelmChart and HelmRepository, or its OCIRepository).")
    @click.option("--force", is_flag=True, help="Force a one-off install or upgrade of the release.")
    @click.option("--reset", is_flag=True, help="Reset the release's failure counters.")
    def command(object_name: str, name: str | None, namespace: str, timeout: float, with_source: bool, force: bool,
                reset: bool) -> None:
        _reconcile_release(object_name, name, namespace, timeout, with_source, force, reset)

    return command


@click.command(name="helm")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@flux.TIMEOUT_OPTION
def reconcile_helm(object_name: str, name: str | None, namespace: str, timeout: float) -> None:
    """Fetch the index of the HelmRepository NAME now and report its revision (one of type oci has nothing to
    fetch).

    \b
    Example:
      sandbox reconcile source helm podinfo
    """
    reconcile_one(kube_for(name), helm_ops.HELM_REPOSITORY, object_name, namespace, timeout=timeout)


@click.command(name="chart")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@flux.TIMEOUT_OPTION
@click.option("--with-source", is_flag=True, help="Reconcile the chart's HelmRepository or GitRepository first.")
def reconcile_chart(object_name: str, name: str | None, namespace: str, timeout: float, with_source: bool) -> None:
    """Fetch or build the HelmChart NAME now and report its revision (the chart version, with +digest for charts
    from git when its reconcileStrategy is Revision).

    \b
    Examples:
      sandbox reconcile source chart flux-system-podinfo
      sandbox reconcile source chart podinfo --with-source
    """
    _reconcile_chart(kube_for(name), object_name, namespace, with_source=with_source, timeout=timeout)


@click.command(name="helm")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("--url", required=True, help="Helm repository address: http(s)://… for an index, oci://… for a "
                                           "registry (type: oci).")
@click.option("--interval", default="1m", show_default=True, help="How often to fetch the index.")
@click.option("--secret-ref", default=None, help="Existing Secret with username/password (or TLS) credentials.")
@click.option("--pass-credentials", is_flag=True, help="Pass the credentials to every domain (with --secret-ref).")
@click.option("--fetch-timeout", default=None, help="spec.timeout for fetching the index, e.g. 30s.")
@LABEL_OPTION
@EXPORT_OPTION
@flux.TIMEOUT_OPTION
def create_helm(object_name: str, name: str | None, namespace: str, url: str, interval: str, secret_ref: str | None,
                pass_credentials: bool, fetch_timeout: str | None, labels: tuple[str, ...], export: bool,
                timeout: float) -> None:
    """Create (or update) the HelmRepository NAME and wait for its index.

    \b
    Examples:
      sandbox chart list    # its REPOSITORY column is the sandbox's chart repository URL
      sandbox create source helm charts --url http://127.0.0.1:PORT --interval 10m
      sandbox create source helm podinfo --url oci://127.0.0.1:5000/charts --export
    """
    manifest = helm_manifests.helm_repository(object_name, namespace, url=url, interval_text=interval,
                                              secret_ref=secret_ref, pass_credentials=pass_credentials,
                                              fetch_timeout=fetch_timeout, labels=labels)
    if export:
        click.echo(goyaml.export(manifest), nl=False)
        return
    kube = kube_for(name)
    output.info("✚ generating HelmRepository source")
    _apply(kube, manifest, "HelmRepository source", "source created", "source updated")
    _waiting("waiting for HelmRepository source reconciliation")
    with output.stderr.status("waiting…"):
        final = helm_ops.wait_ready(kube, helm_ops.HELM_REPOSITORY, object_name, namespace, timeout=timeout)
    output.success("HelmRepository source reconciliation completed")
    if not helm_ops.static_without_status(final):
        output.success(f"fetched revision: {helm_ops.revision_of(final)}")


@click.command(name="helmrelease")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@click.option("--source", default=None, metavar="KIND/NAME[.NAMESPACE]",
              help="Source of the chart: HelmRepository/NAME, GitRepository/NAME or Bucket/NAME (with --chart).")
@click.option("--chart", default=None, help="Chart name (HelmRepository) or path (GitRepository).")
@click.option("--chart-version", default=None, help="Chart version or semver range, e.g. '>=1.0.0 <2.0.0'.")
@click.option("--chart-ref", default=None, metavar="KIND/NAME[.NAMESPACE]",
              help="OCIRepository/NAME or HelmChart/NAME holding the chart (instead of --chart).")
@click.option("--chart-interval", default=None, help="How often the generated HelmChart checks for new versions.")
@click.option("--reconcile-strategy", default="ChartVersion", show_default=True,
              type=click.Choice(["ChartVersion", "Revision"]), help="When the generated HelmChart rebuilds.")
@click.option("--values", "values_files", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Local values.yaml, merged into spec.values (repeatable; later files win).")
@click.option("--values-from", multiple=True, metavar="KIND/NAME",
              help="ConfigMap/NAME or Secret/NAME whose values.yaml key holds values (repeatable).")
@click.option("--target-namespace", default=None, help="Namespace to install into (default: the HelmRelease's).")
@click.option("--storage-namespace", default=None, help="Namespace of Helm's release storage (default: the target).")
@click.option("--create-target-namespace", is_flag=True, help="Create the target namespace if it does not exist.")
@click.option("--release-name", default=None, help="Helm release name (default: [<target-namespace>-]<NAME>).")
@click.option("--service-account", default=None, help="Service account to impersonate.")
@click.option("--crds", default=None, type=click.Choice(["Skip", "Create", "CreateReplace"]),
              help="Upgrade CRDs policy (install creates them).")
@click.option("--interval", default="1m", show_default=True, help="How often to reconcile the release.")
@click.option("--depends-on", multiple=True, metavar="[NAMESPACE/]NAME",
              help="HelmRelease that must be ready first (repeatable).")
@LABEL_OPTION
@EXPORT_OPTION
@flux.TIMEOUT_OPTION
def create_helmrelease(object_name: str, name: str | None, namespace: str, source: str | None, chart: str | None,
                       chart_version: str | None, chart_ref: str | None, chart_interval: str | None,
                       reconcile_strategy: str, values_files: tuple[Path, ...], values_from: tuple[str, ...],
                       target_namespace: str | None, storage_namespace: str | None, create_target_namespace: bool,
                       release_name: str | None, service_account: str | None, crds: str | None, interval: str,
                       depends_on: tuple[str, ...], labels: tuple[str, ...], export: bool, timeout: float) -> None:
    """Create (or update) the HelmRelease NAME and wait until it is Ready.

    \b
    Examples:
      sandbox create helmrelease podinfo --source HelmRepository/podinfo --chart podinfo \\
        --chart-version '>=6.0.0 <7.0.0' --values ./values.yaml --values-from ConfigMap/podinfo-values
      sandbox create hr podinfo --chart-ref OCIRepository/podinfo --target-namespace apps \\
        --create-target-namespace --export > podinfo.yaml
    """
    manifest = helm_manifests.helm_release(
        object_name, namespace, chart=chart, source=source, chart_version=chart_version, chart_ref=chart_ref,
        chart_interval=chart_interval, reconcile_strategy=reconcile_strategy, values_files=values_files,
        values_from=values_from, target_namespace=target_namespace, storage_namespace=storage_namespace,
        create_target_namespace=create_target_namespace, release_name=release_name, interval_text=interval,
        depends_on=depends_on, service_account=service_account, crds=crds, labels=labels)
    if export:
        click.echo(goyaml.export(manifest), nl=False)
        return
    kube = kube_for(name)
    output.info("✚ generating HelmRelease")
    _apply(kube, manifest, "HelmRelease", "HelmRelease created", "HelmRelease updated")
    _waiting("waiting for HelmRelease reconciliation")
    with output.stderr.status("waiting…"):
        final = helm_ops.wait_ready(kube, helm_ops.HELM_RELEASE, object_name, namespace, timeout=timeout)
    output.success(f"HelmRelease {object_name} is ready")
    output.success(helm_ops.success_message(final))


@click.command(name="helmrelease")
@click.argument("object_name", metavar="NAME")
@NAME_OPTION
@NAMESPACE_OPTION
@output.OUTPUT_OPTION
def tree_helmrelease(object_name: str, name: str | None, namespace: str, output_format: str) -> None:
    """Show the objects the HelmRelease NAME manages, from its status.inventory.

    \b
    Example:
      sandbox tree helmrelease podinfo -n apps
    """
    flux.show_tree(helm_ops.inventory_tree(kube_for(name), object_name, namespace), output_format)


def _hidden_alias(command: click.Command, alias: str) -> click.Command:
    return click.Command(alias, params=command.params, callback=command.callback, help=command.help, hidden=True)


def _register() -> None:
    flux.create_source.add_command(create_helm)
    flux.create.add_command(create_helmrelease)
    flux.create.add_command(_hidden_alias(create_helmrelease, "hr"))
    flux.reconcile_source.add_command(reconcile_helm)
    flux.reconcile_source.add_command(reconcile_chart)
    flux.reconcile.add_command(_reconcile_release_command("helmrelease"))
    flux.reconcile.add_command(_reconcile_release_command("hr", hidden=True))
    flux.tree_group.add_command(tree_helmrelease)


_register()

COMMANDS: list[click.Command] = []  # everything here joins the groups of sandbox.cli.flux
