"""``sandbox up|down|status|list|kubeconfig|env``."""

from __future__ import annotations

import dataclasses
import shlex
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from sandbox import config, lifecycle, reconciler_service
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.cluster import several
from sandbox.config import MonitoringSettings
from sandbox.errors import InputError, NotRunning
from sandbox.fluxdev import release, statemetrics
from sandbox.reconciler.lockdown import Lockdown
from sandbox.state import StateDir

_STATE_STYLE = {"ready": "green", "starting": "yellow", "waiting": "dim", "restarting": "yellow",
                "failed": "red", "stopped": "dim"}


def _component_line(status: dict[str, Any]) -> str:
    parts = []
    for comp in status.get("components", []):
        style = _STATE_STYLE.get(comp.get("state", ""), "white")
        parts.append(f"[{style}]{comp['name']}[/{style}]")
    return " · ".join(parts)


def _lockdown(all_flags: bool, default_service_account: str, no_cross_namespace_refs: bool,
              no_remote_bases: bool) -> dict[str, Any]:
    """UpOptions' lockdown fields: ``--tenancy-lockdown`` sets all three (an explicit name wins)."""
    chosen = Lockdown.full() if all_flags else Lockdown()
    flags = Lockdown(default_service_account or chosen.default_service_account,
                     no_cross_namespace_refs or chosen.no_cross_namespace_refs,
                     no_remote_bases or chosen.no_remote_bases)  # validates the name
    return {"default_service_account": flags.default_service_account,
            "no_cross_namespace_refs": flags.no_cross_namespace_refs, "no_remote_bases": flags.no_remote_bases}


@click.command()
@NAME_OPTION
@click.option("--cluster", type=click.Choice(["embedded", "kind"]), default="embedded", show_default=True,
              help="embedded: etcd + kube-apiserver + controller-manager + scheduler as local processes and a "
                   "simulated node agent (no Docker needed). kind: a real kind cluster in Docker containers (needs "
                   "Docker, the kind binary and a node image; the registry runs as a container; docs/kind.md).")
@click.option("--kind-node-image", default="", metavar="IMAGE",
              help="With --cluster kind: the node image (default $SANDBOX_KIND_NODE_IMAGE, else "
                   f"sandbox.local/kind-node:{config.DEFAULT_K8S_VERSION} when Docker has it (`sandbox setup "
                   "--kind-node-image`), else kind's default).")
@click.option("--load-image", "load_images", multiple=True, metavar="IMAGE",
              help="With --cluster kind (repeatable): once the cluster exists, load this local Docker image into "
                   "every node (`kind load docker-image`), for pods that run images you built or cannot pull "
                   "(`python -m sandbox.kindnode.standins` builds stand-ins for the scenarios' public images).")
@click.option("--nodes", type=click.IntRange(1, 10), default=1, show_default=True,
              help="Number of nodes: simulated ones (embedded), or a control-plane node and N-1 workers (kind).")
@click.option("--strict-images", is_flag=True,
              help="Pods whose images are not in the sandbox registry fail with ErrImagePull.")
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for readiness.")
@click.option("--git", "git_backend", type=click.Choice(["auto", "local", "gitea", "none"]), default="auto",
              show_default=True,
              help="Git server: local (smart HTTP over git http-backend, no Docker), gitea (a Gitea container; "
                   "image from $SANDBOX_GITEA_IMAGE), auto (gitea when Docker has its image, else local), none.")
@click.option("--registry", type=click.Choice(["local", "container"]), default=None,
              help="OCI registry backend. local: the distribution binary as a process. container: the registry "
                   "image ($SANDBOX_REGISTRY_IMAGE, default registry:2) through Docker. Default: container when "
                   "Docker runs and the image is present, else local.")
@click.option("--registry-auth", is_flag=True,
              help="Private registry: every client must authenticate (htpasswd; a random user and password per "
                   "sandbox, kept 0600 in its state directory). The sandbox's own clients use them; for "
                   "ImageRepositories, create a dockerconfigjson Secret (docs/image-scanning.md).")
@click.option("--k8s-version", default=None, metavar="vX.Y.Z",
              help="Kubernetes version to run, from those `sandbox setup --version` put in the cache (default "
                   f"$SANDBOX_K8S_VERSION, else {config.DEFAULT_K8S_VERSION}, else the newest cached).")
@click.option("--reconciler", type=click.Choice(["sandbox", "flux", "none"]), default="sandbox", show_default=True,
              help="sandbox: the project's own Flux-compatible reconciler. flux: upstream Flux's controllers "
                   f"({release.FLUX_RELEASE}: source-, kustomize-, helm-controller, built from their Go modules on "
                   "first use — needs Go >= 1.26 and the module proxy, or `sandbox setup --flux` done before) as host "
                   "processes, with the sandbox's Receivers. none: no reconciler, e.g. to run `sandbox reconciler "
                   "run` in the foreground. Either reconciler follows the fleet repository.")
@click.option("--no-reconciler", "no_reconciler", is_flag=True, hidden=True, help="Same as --reconciler none.")
@click.option("--repo", "fleet_repo", default="fleet", show_default=True, metavar="NAME",
              help="The repository the reconciler follows from the start (Kustomization flux-system/NAME); "
                   "'' for none.")
@click.option("--offline", is_flag=True,
              help="Hermetic: any fetch of a git URL or OCI repository that is neither on this machine nor "
                   "mirrored (`sandbox mirror --help`) fails at once, naming the `sandbox mirror` command that "
                   "would serve it.")
@click.option("--monitoring", is_flag=True,
              help="Also run Prometheus and Alertmanager (Debian packages prometheus, prometheus-alertmanager) "
                   "scraping the reconciler and the kube-apiserver every 2s, with Flux's alert rules "
                   "(docs/monitoring.md; `sandbox metrics --help`).")
@click.option("--alert-webhook", default="", metavar="URL",
              help="With --monitoring: Alertmanager sends every alert to this webhook URL.")
@click.option("--monitoring-settings", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --monitoring: a YAML file of settings (failure_for, suspended_for, slow_for, "
                   "slow_seconds, scrape_interval, webhook; docs/monitoring.md).")
@click.option("--monitoring-backend", type=click.Choice(["local", "container", "auto"]), default=None,
              help="With --monitoring: local (default): the Debian programs as processes. container: their images "
                   "($SANDBOX_PROMETHEUS_IMAGE, $SANDBOX_ALERTMANAGER_IMAGE; default prom/prometheus:v2.42.0, "
                   "prom/alertmanager:v0.25.0) through Docker, on the host network. auto: container when Docker "
                   "and both images are there.")
@click.option("--clusters", "clusters", default="", metavar="MGMT,NAME,...",
              help="Several clusters in one sandbox: the first name is the management cluster (where the "
                   "reconciler runs), each further one a workload cluster with its own control plane and node "
                   "agent, whose kubeconfig is the Secret flux-system/NAME-kubeconfig (key value) in the management "
                   "cluster, for spec.kubeConfig (docs/several-clusters.md). `sandbox env --cluster NAME`.")
@click.option("--tenancy-lockdown", is_flag=True,
              help="Flux's multi-tenancy lockdown: --default-service-account default, --no-cross-namespace-refs "
                   "and --no-remote-bases together (docs/multi-tenancy.md).")
@click.option("--default-service-account", default="", metavar="NAME",
              help="The reconciler impersonates this ServiceAccount (of the object's namespace) for Kustomizations "
                   "and HelmReleases naming none, as Flux's controllers' flag.")
@click.option("--no-cross-namespace-refs", is_flag=True,
              help="The reconciler refuses source references to another namespace (AccessDenied), as Flux's flag.")
@click.option("--no-remote-bases", is_flag=True,
              help="The reconciler refuses kustomizations that load remote bases, as kustomize-controller's flag.")
@click.option("--requeue-dependency", default="", metavar="DURATION",
              help="How often a Kustomization, HelmRelease or GitRepository waiting on a dependency looks again, "
                   "as Flux's controllers' flag (default 30s). Lower it to make test runs with dependsOn faster, "
                   "e.g. 5s, as Flux's docs suggest patching it.")
def up(name: str | None, cluster: str, kind_node_image: str, load_images: tuple[str, ...], nodes: int,
       strict_images: bool, timeout: float,
       registry: str | None, registry_auth: bool, git_backend: str, k8s_version: str | None, reconciler: str,
       no_reconciler: bool, fleet_repo: str, offline: bool, monitoring: bool, alert_webhook: str,
       monitoring_settings: Path | None, monitoring_backend: str | None, clusters: str, tenancy_lockdown: bool,
       default_service_account: str, no_cross_namespace_refs: bool, no_remote_bases: bool,
       requeue_dependency: str) -> None:
    """Start a sandbox and return once every component is ready.

    The components keep running in the background under a supervisor that restarts any that crash
    (see `sandbox status`). Logs go to the sandbox's state directory.

    \b
    Examples:
      sandbox up                         # the sandbox named "default"
      sandbox up --name ci --nodes 3     # a second one, side by side
      sandbox up --k8s-version v1.20.2   # an older Kubernetes from the cache
      sandbox up --reconciler flux       # upstream Flux's controllers instead of ours
      sandbox up --offline               # no fetch leaves the machine (see `sandbox mirror`)
      sandbox up --monitoring            # with Prometheus and Alertmanager (see `sandbox metrics`)
      sandbox up --clusters mgmt,staging,production   # a management and two workload clusters
      sandbox up --tenancy-lockdown      # Flux's multi-tenancy lockdown flags for the reconciler
      sandbox up --requeue-dependency 5s # dependsOn waits re-checked every 5 s, not 30 s
      sandbox up --cluster kind          # a real kind cluster (docs/kind.md)
      sandbox up --cluster kind --load-image my/app:dev   # with a local image on its nodes
      eval "$(sandbox env --name ci)"    # then use kubectl against it
    """
    if no_reconciler:
        reconciler = "none"
    if reconciler == "flux" and not release.ready():
        with output.stderr.status(f"building upstream Flux {release.FLUX_RELEASE} from Go modules…") as spinner:
            release.ensure(lambda phase, detail: spinner.update(f"[bold]{escape(phase)}[/bold] {escape(detail[-90:])}"))
    if reconciler == "flux" and monitoring and statemetrics.installed() is None:  # for gotk_resource_info
        with output.stderr.status(f"building kube-state-metrics {statemetrics.VERSION} from its Go module (once, "
                                  "~2 min)…") as spinner:
            failed = statemetrics.ensure(lambda phase, detail: spinner.update(
                f"[bold]{escape(phase)}[/bold] {escape(detail[-90:])}"))
        if failed:
            output.warn(failed)
    if kind_node_image and cluster != "kind":
        raise InputError("--kind-node-image needs --cluster kind")
    options = config.UpOptions(name=config.resolve_name(name), cluster=cluster, nodes=nodes,
                               kind_node_image=kind_node_image, kind_load_images=tuple(load_images),
                               strict_images=strict_images, timeout=timeout, git=git_backend,
                               registry=registry or "auto", registry_auth=registry_auth, reconciler=reconciler,
                               fleet_repo=fleet_repo,
                               requeue_dependency=reconciler_service.check_requeue_dependency(requeue_dependency)
                               if requeue_dependency else "",
                               offline=offline, clusters=tuple(several.parse_names(clusters)) if clusters else (),
                               monitoring=_monitoring(monitoring, alert_webhook, monitoring_settings,
                                                      monitoring_backend),
                               k8s_version=config.check_k8s_version(k8s_version) if k8s_version else None,
                               **_lockdown(tenancy_lockdown, default_service_account, no_cross_namespace_refs,
                                           no_remote_bases))
    started = time.monotonic()
    with output.stderr.status(f"starting sandbox [bold]{options.name}[/bold]…") as spinner:
        def progress(status: dict[str, Any]) -> None:
            spinner.update(f"starting sandbox [bold]{options.name}[/bold]: {_component_line(status)}")

        result = lifecycle.up(options, progress=progress)
    elapsed = time.monotonic() - started
    output.success(f"sandbox [bold]{options.name}[/bold] is up in {elapsed:.1f}s ({len(result['components'])} "
                   "components ready)")
    output.info(f"  kubeconfig: {result['kubeconfig']} (Kubernetes {result['kubernetes_version']})")
    for each in result["clusters"] if options.clusters else []:
        if not each["management"]:
            output.info(f"  cluster {each['name']}: {each['server']} (Secret {each['secret']}; "
                        f"`sandbox env --cluster {each['name']}`)")
    if "git" in result["services"]:
        git = result["services"]["git"]
        output.info(f"  git server: {git['url']} ({git['backend']}; `sandbox repo --help`)")
    kind = result["services"].get("kind")
    if kind:
        output.info(f"  kind cluster: {kind['cluster']} (node image {kind['node_image']}; "
                    "`sandbox image load IMAGE` for local images)")
        if kind.get("loaded_images"):
            output.info(f"  loaded into every node: {', '.join(kind['loaded_images'])}")
        if "registry" in kind:
            output.info(f"  registry: push to {kind['registry']['host']}; pods pull it as is (in-cluster name "
                        f"{kind['registry']['in_cluster']})")
    if options.offline:
        output.info("  offline: remote sources are fetched only through mirrors (`sandbox mirror --help`)")
    if "monitoring" in result["services"]:
        output.info(f"  prometheus: {result['services']['monitoring']['prometheus']} (`sandbox metrics --help`)")
        absent = result["services"].get("flux", {}).get("kube_state_metrics", {}).get("absent")
        if absent:
            output.warn(absent)
    output.info(f"  next: eval \"$(sandbox env --name {options.name})\" && kubectl get nodes")


def _monitoring(enabled: bool, webhook: str, settings_file: Path | None,
                backend: str | None) -> MonitoringSettings | None:
    if not enabled:
        if webhook or settings_file:
            raise InputError("--alert-webhook and --monitoring-settings need --monitoring")
        if backend:
            raise InputError("--monitoring-backend needs --monitoring")
        return None
    settings = MonitoringSettings.load(settings_file) if settings_file else MonitoringSettings()
    return dataclasses.replace(settings, webhook=webhook or settings.webhook,
                               backend=backend or settings.backend).check()


@click.command()
@NAME_OPTION
@click.option("--all", "all_", is_flag=True, help="Stop every sandbox on this machine.")
def down(name: str | None, all_: bool) -> None:
    """Stop a sandbox: every process it started, its ports and its state directory; for a kind sandbox also its
    kind cluster and the containers it labelled (nothing else: the shared `kind` network stays).

    Exits 0 also when the sandbox was not running (there is nothing left either way).
    """
    names = lifecycle.all_sandboxes() if all_ else [config.resolve_name(name)]
    for each in names:
        started = time.monotonic()
        with output.stderr.status(f"stopping sandbox [bold]{each}[/bold]…"):
            stopped = lifecycle.down(each)
        if stopped:
            output.success(f"sandbox [bold]{each}[/bold] is down ({time.monotonic() - started:.1f}s)")
        else:
            output.info(f"sandbox [bold]{each}[/bold] was not running; nothing to do")


@click.command()
@NAME_OPTION
@output.OUTPUT_OPTION
def status(name: str | None, output_format: str) -> None:
    """Show a sandbox's state directory and each component: pid, state, health, restarts, endpoints.

    `-o json` is a stable interface for scripts. Exit code 0 when up and every component is healthy,
    1 when something is unhealthy or the sandbox is not up.
    """
    data = lifecycle.status(config.resolve_name(name))
    if output_format != "table":
        output.emit_data(data, output_format)
    else:
        output.info(f"sandbox [bold]{data['name']}[/bold] · phase {data['phase']} · {data['cluster']} cluster · "
                    f"state {data['state_dir']}")
        rows = []
        for comp in data["components"]:
            health = {True: "healthy", False: "UNHEALTHY", None: "-"}[comp["healthy"]]
            endpoints = " ".join(comp["endpoints"].values())
            rows.append([comp["name"], comp["pid"] or "-", comp["state"], health, comp["restarts"], endpoints])
        output.table(["COMPONENT", "PID", "STATE", "HEALTH", "RESTARTS", "ENDPOINTS"], rows)
        if len(data["clusters"]) > 1:
            health_of = {True: "healthy", False: "UNHEALTHY", None: "-"}
            output.table(["CLUSTER", "ROLE", "HEALTH", "SERVER", "KUBECONFIG SECRET"],
                         [[c["name"], "management" if c["management"] else "workload", health_of[c["healthy"]],
                           c["server"], c["secret"] or "-"] for c in data["clusters"]])
        identity = (data["services"].get("reconciler") or {}).get("identity") or {}
        if identity.get("user"):
            output.info(f"the reconciler authenticates as {identity['user']} ({identity.get('kubeconfig', '')})")
        for controller, each in sorted(((data["services"].get("flux") or {}).get("identities") or {}).items()):
            output.info(f"upstream {controller} authenticates as {each['user']} ({each['kubeconfig']})")
        locked = reconciler_service.lockdown_in_record(data["services"])
        if locked.any:
            output.info(f"multi-tenancy lockdown: {' '.join(locked.argv())}")
    if data["phase"] != "ready" or any(c["healthy"] is False for c in data["components"]):
        raise SystemExit(1)



@click.command(name="list")
@output.OUTPUT_OPTION
def list_(output_format: str) -> None:
    """List the sandboxes on this machine and their phase."""
    rows = []
    for each in lifecycle.all_sandboxes():
        try:
            data = lifecycle.status(each, probe=False)
            rows.append({"name": each, "phase": data["phase"], "cluster": data["cluster"],
                         "server": data["server"], "state_dir": data["state_dir"]})
        except NotRunning:
            continue
    if output_format != "table":
        output.emit_data(rows, output_format)
        return
    output.table(["NAME", "PHASE", "CLUSTER", "SERVER"], [[r["name"], r["phase"], r["cluster"], r["server"]]
                                                          for r in rows])



_CLUSTER_OPTION = click.option("--cluster", "cluster", default=None, metavar="NAME",
                               help="One of the sandbox's clusters (`sandbox up --clusters`); default: the "
                                    "management cluster.")


def _kubeconfig_path(name: str, cluster: str | None) -> str:
    lifecycle.status(name, probe=False)  # NotRunning when it is not up
    return several.kubeconfig_of(StateDir(name).read_record(), cluster)


@click.command()
@NAME_OPTION
@_CLUSTER_OPTION
def kubeconfig(name: str | None, cluster: str | None) -> None:
    """Print the path of the sandbox's kubeconfig (`kubectl --kubeconfig "$(sandbox kubeconfig)" get nodes`)."""
    click.echo(_kubeconfig_path(config.resolve_name(name), cluster))


@click.command()
@NAME_OPTION
@_CLUSTER_OPTION
def env(name: str | None, cluster: str | None) -> None:
    """Print shell exports for the sandbox: use `eval "$(sandbox env)"` (`--cluster staging`: KUBECONFIG of
    that cluster)."""
    resolved = config.resolve_name(name)
    data = lifecycle.status(resolved, probe=False)
    click.echo(f"export KUBECONFIG={shlex.quote(_kubeconfig_path(resolved, cluster))}")
    click.echo(f"export SANDBOX_NAME={resolved}")
    flux = data["services"].get("flux")
    if flux:  # upstream Flux runs: its CLI comes first on PATH
        click.echo(f"export PATH={shlex.quote(flux['bin_dir'])}:\"$PATH\"")


COMMANDS = [up, down, status, list_, kubeconfig, env]
