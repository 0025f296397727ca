"""``sandbox registry hook …``: the sandbox registry's push notifications, sent to Receivers."""

from __future__ import annotations

import click

from sandbox import config, registry_hooks
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.kube.client import KubeClient
from sandbox.state import StateDir


def _state(name: str | None) -> StateDir:
    return StateDir(config.resolve_name(name))


@click.group()
def registry() -> None:
    """The sandbox registry's notifications.

    \b
    Examples:
      sandbox registry hook add --receiver flux-system/images   # pushes scan the Receiver's ImageRepositories
      sandbox registry hook list
    """


@registry.group()
def hook() -> None:
    """Registry notifications to Receivers: an image push triggers the ImageRepository scan at once."""


@hook.command(name="add")
@NAME_OPTION
@click.option("--receiver", "receiver_ref", required=True, metavar="NS/NAME",
              help="The Receiver to call (type generic, harbor, dockerhub, quay, acr, or gitlab without events).")
def hook_add(name: str | None, receiver_ref: str) -> None:
    """Send every image pushed to the sandbox registry to a Receiver's webhook.

    Reads the Receiver's status.webhookPath and token Secret, and configures the registry with the headers its
    type needs (harbor: Authorization). Only manifest pushes are sent. The registry restarts (well under a
    second) to take its new configuration.

    \b
    Example:
      sandbox registry hook add --receiver flux-system/images
    """
    state = _state(name)
    namespace, receiver_name = registry_hooks.parse_receiver(receiver_ref)
    kube = KubeClient.from_kubeconfig(state.kubeconfig)
    added = registry_hooks.connect(state, kube, namespace, receiver_name)
    output.success(f"registry pushes now call Receiver {namespace}/{receiver_name} (type {added.receiver_type})")


@hook.command(name="list")
@NAME_OPTION
@output.OUTPUT_OPTION
def hook_list(name: str | None, output_format: str) -> None:
    """List the registry hooks that call Receivers (their tokens are never shown)."""
    state = _state(name)
    kube = KubeClient.from_kubeconfig(state.kubeconfig) if state.kubeconfig.exists() else None
    found = registry_hooks.hooks(state, kube)
    if output_format != "table":
        output.emit_data([h.to_dict() for h in found], output_format)
        return
    output.table(["RECEIVER", "TYPE", "URL"], [[f"{h.namespace}/{h.name}", h.receiver_type, h.url] for h in found])


@hook.command(name="remove")
@NAME_OPTION
@click.option("--receiver", "receiver_ref", required=True, metavar="NS/NAME", help="The Receiver to stop calling.")
def hook_remove(name: str | None, receiver_ref: str) -> None:
    """Stop sending registry pushes to a Receiver.

    \b
    Example:
      sandbox registry hook remove --receiver flux-system/images
    """
    namespace, receiver_name = registry_hooks.parse_receiver(receiver_ref)
    registry_hooks.disconnect(_state(name), namespace, receiver_name)
    output.success(f"registry pushes no longer call Receiver {namespace}/{receiver_name}")


COMMANDS = [registry]
