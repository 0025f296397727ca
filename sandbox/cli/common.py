"""Options and lookups shared by command modules."""

from __future__ import annotations

from pathlib import Path

import click

from sandbox import config, lifecycle
from sandbox.kube.client import KubeClient

NAME_OPTION = click.option("--name", "name", default=None, metavar="NAME",
                           help="Sandbox name (default: $SANDBOX_NAME, else 'default').")
NAMESPACE_OPTION = click.option("-n", "--namespace", default="flux-system", show_default=True,
                                help="Namespace of the object(s).")
ALL_NAMESPACES_OPTION = click.option("-A", "--all-namespaces", is_flag=True, help="Across all namespaces.")


def kube_for(name: str | None) -> KubeClient:
    """A client for the named sandbox's cluster (raises NotRunning when it is not up)."""
    data = lifecycle.status(config.resolve_name(name), probe=False)
    return KubeClient.from_kubeconfig(Path(data["kubeconfig"]))


def record_for(name: str | None) -> dict[str, object]:
    return lifecycle.status(config.resolve_name(name), probe=False)
