"""``sandbox reconciler run``: the reconciler in the foreground, for debugging it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from sandbox import config, lifecycle, mirrors
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.ports import free_ports
from sandbox.reconciler import process
from sandbox.state import StateDir


@click.group()
def reconciler() -> None:
    """The Flux-compatible reconciler (normally supervised by `sandbox up`)."""


@reconciler.command(name="run")
@NAME_OPTION
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where artifacts and git mirrors go (default: a temporary directory, removed afterwards).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.option("--no-install", is_flag=True, help="Do not apply the CRDs and RBAC at start.")
def run(name: str | None, data_dir: Path | None, log_level: str, no_install: bool) -> None:
    """Run the reconciler in the foreground against a sandbox's cluster, logging JSON to stderr; Ctrl+C stops it.

    Start the sandbox without its own reconciler first, or both will reconcile the same objects:

    \b
      sandbox up --no-reconciler
      sandbox reconciler run --log-level debug
    """
    status = lifecycle.status(config.resolve_name(name), probe=False)
    if any(c["name"] == "reconciler" and c.get("pid") for c in status["components"]):
        output.warn("this sandbox already runs a reconciler: both will reconcile the same objects "
                    "(start it with `sandbox up --no-reconciler` to avoid that)")
    health, metrics, receiver, artifacts = free_ports(4)
    output.info(f"metrics http://127.0.0.1:{metrics}/metrics · receiver http://127.0.0.1:{receiver} · "
                f"artifacts http://127.0.0.1:{artifacts} · health http://127.0.0.1:{health}/readyz")
    with tempfile.TemporaryDirectory(prefix="sandbox-reconciler-") as scratch:
        argv = ["--kubeconfig", str(status["kubeconfig"]), "--data-dir", str(data_dir or Path(scratch)),
                "--health-port", str(health), "--metrics-port", str(metrics), "--receiver-port", str(receiver),
                "--artifact-port", str(artifacts), "--log-level", log_level,
                "--mirror-map", str(mirrors.map_path(StateDir(status["name"]))),
                # its own ServiceAccount, as under `sandbox up` (the admin's kubeconfig only installs the APIs)
                "--identity-kubeconfig", str(Path(scratch) / "reconciler.kubeconfig")]
        code = process.main(argv + (["--no-install"] if no_install else []))
    raise SystemExit(code)


COMMANDS = [reconciler]
