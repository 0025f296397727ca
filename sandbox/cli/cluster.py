"""``sandbox cluster add|remove|list``: workload clusters of a running sandbox (docs/several-clusters.md)."""

from __future__ import annotations

import click

from sandbox import config, lifecycle
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.cluster import live
from sandbox.errors import NotRunning
from sandbox.state import StateDir


def _running(name: str | None) -> tuple[StateDir, int]:
    state = StateDir(config.resolve_name(name))
    sup = lifecycle.supervisor_process(state) if state.exists() else None
    if sup is None:
        raise NotRunning(f"sandbox {state.name!r} is not up; start it with `sandbox up --name {state.name}`")
    return state, sup.pid


@click.group()
def cluster() -> None:
    """The sandbox's clusters: add or remove a workload cluster while the sandbox runs.

    \b
    Examples:
      sandbox cluster add staging      # its kubeconfig: Secret flux-system/staging-kubeconfig in mgmt
      sandbox cluster list -o json
      sandbox cluster remove staging
    """


@cluster.command(name="add")
@NAME_OPTION
@click.argument("cluster_name", metavar="NAME")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for the cluster to be ready.")
def add(name: str | None, cluster_name: str, timeout: float) -> None:
    """Start workload cluster NAME (its own etcd, control plane and node agent) in the running sandbox, and store
    its kubeconfig as the Secret flux-system/NAME-kubeconfig (key value) in the management cluster, for
    spec.kubeConfig.secretRef. `sandbox down` stops it with the rest."""
    state, pid = _running(name)
    entry = live.add(state, cluster_name, supervisor_pid=pid, timeout=timeout)
    output.success(f"cluster {cluster_name} is up: {entry['server']} (Secret {entry['secret']}; "
                   f"`sandbox env --cluster {cluster_name}`)")


@cluster.command(name="remove")
@NAME_OPTION
@click.argument("cluster_name", metavar="NAME")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for its components to stop.")
def remove(name: str | None, cluster_name: str, timeout: float) -> None:
    """Stop workload cluster NAME, delete its kubeconfig Secret from the management cluster and its state."""
    state, pid = _running(name)
    live.remove(state, cluster_name, supervisor_pid=pid, timeout=timeout)
    output.success(f"cluster {cluster_name} removed (and Secret flux-system/{cluster_name}-kubeconfig)")


@cluster.command(name="list")
@NAME_OPTION
@output.OUTPUT_OPTION
def list_(name: str | None, output_format: str) -> None:
    """List the sandbox's clusters: the management cluster first, then the workload clusters."""
    clusters = lifecycle.status(config.resolve_name(name))["clusters"]
    if output_format != "table":
        output.emit_data(clusters, output_format)
        return
    health_of = {True: "healthy", False: "UNHEALTHY", None: "-"}
    output.table(["CLUSTER", "ROLE", "HEALTH", "SERVER", "KUBECONFIG SECRET"],
                 [[c["name"], "management" if c["management"] else "workload", health_of[c["healthy"]],
                   c["server"], c["secret"] or "-"] for c in clusters])


COMMANDS = [cluster]
