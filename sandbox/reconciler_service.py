"""The reconciler as a sandbox service: one supervised process next to the cluster (dev-install mode), following
the fleet repository once everything is ready."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sandbox import fleet, mirrors
from sandbox.config import UpOptions
from sandbox.errors import InputError, NotSupported
from sandbox.git import service as git_service
from sandbox.kube.client import KubeClient
from sandbox.ports import free_ports
from sandbox.reconciler import identity
from sandbox.reconciler.apis.install import NAMESPACE, SERVICE_ACCOUNT
from sandbox.reconciler.lockdown import Lockdown
from sandbox.reconciler.notification import alertlog
from sandbox.reconciler.runtime.timeutil import go_duration, parse_duration
from sandbox.services import ServicePlan
from sandbox.state import ComponentSpec, Probe, StateDir

COMPONENT = "reconciler"


def identity_kubeconfig_path(state: StateDir) -> Path:
    """The kubeconfig of the reconciler's own ServiceAccount, written by the reconciler process at start."""
    return state.secrets / "reconciler.kubeconfig"


def data_dir(state: StateDir) -> Path:
    return state.data / "reconciler"


def alert_log(state: StateDir) -> Path:
    """The reconciler's alert log (one JSON line per notification delivery outcome, ``alertlog``); NotSupported
    for a sandbox without one (no reconciler of ours, or started by an older version)."""
    record = state.read_record().get(COMPONENT) or {}
    if not record.get("alert_log"):
        raise NotSupported(f"sandbox {state.name!r} keeps no alert log: notifications are dispatched (and logged) "
                           "by the sandbox's reconciler, `sandbox up --reconciler sandbox` or `flux`")
    return Path(record["alert_log"])


def lockdown_of(options: UpOptions) -> Lockdown:
    """The multi-tenancy lockdown flags ``sandbox up`` was asked for."""
    return Lockdown(options.default_service_account, options.no_cross_namespace_refs, options.no_remote_bases)


def check_requeue_dependency(value: str, *, given_as: str = "--requeue-dependency") -> str:
    """A ``--requeue-dependency`` value as Go prints it (``5s``, ``1m0s``: the form Flux's messages quote);
    InputError for what is not a positive duration."""
    seconds = parse_duration(value, field=given_as)
    if seconds <= 0:
        raise InputError(f"{given_as}: {value!r} must be a positive duration such as 5s (Flux's default is 30s)")
    return go_duration(seconds)


def lockdown_in_record(record: dict[str, Any]) -> Lockdown:
    """The lockdown flags a sandbox's reconciler runs with, from its record (none for an older one)."""
    recorded = (record.get(COMPONENT) or {}).get("lockdown") or {}
    return Lockdown(**{k: v for k, v in recorded.items() if k in Lockdown.__dataclass_fields__})


class ReconcilerService:
    name = COMPONENT

    def enabled(self, options: UpOptions) -> bool:
        return options.reconciler == "sandbox"

    def plan(self, state: StateDir, options: UpOptions, extra_argv: tuple[str, ...] = ()) -> ServicePlan:
        health, metrics, receiver, artifacts = free_ports(4)
        if options.offline:
            # Written before the reconciler starts, so that not even its first fetch goes out.
            mirrors.set_offline(state, True)
        endpoints = {
            "health": f"http://127.0.0.1:{health}/readyz",
            "metrics": f"http://127.0.0.1:{metrics}/metrics",
            "receiver": f"http://127.0.0.1:{receiver}",
            "artifacts": f"http://127.0.0.1:{artifacts}",
        }
        identity_kubeconfig = identity_kubeconfig_path(state)
        component = ComponentSpec(
            name=COMPONENT,
            argv=[sys.executable, "-m", "sandbox.reconciler", "--kubeconfig", str(state.kubeconfig),
                  "--data-dir", str(data_dir(state)), "--health-port", str(health),
                  "--metrics-port", str(metrics), "--receiver-port", str(receiver),
                  "--artifact-port", str(artifacts), "--mirror-map", str(mirrors.map_path(state)),
                  "--identity-kubeconfig", str(identity_kubeconfig), *lockdown_of(options).argv(),
                  *(["--requeue-dependency", options.requeue_dependency] if options.requeue_dependency else []),
                  *extra_argv],
            after=["kube-apiserver"],
            probe=Probe(url=endpoints["health"]),
            endpoints=endpoints,
            startup_timeout=120,
        )
        return ServicePlan(components=[component], record={"reconciler": {
            "metrics": endpoints["metrics"], "receiver": endpoints["receiver"], "artifacts": endpoints["artifacts"],
            "log": str(state.logs / f"{COMPONENT}.log"), "alert_log": str(alertlog.path_in(data_dir(state))),
            # The controllers authenticate as their own ServiceAccount; the admin credentials only install the APIs.
            "identity": {"user": identity.service_account_user(NAMESPACE, SERVICE_ACCOUNT),
                         "kubeconfig": str(identity_kubeconfig)},
            "lockdown": lockdown_of(options).record(), "requeue_dependency": options.requeue_dependency or "30s"}})

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        """With a git server, create the fleet repository and have the reconciler follow it via a webhook."""
        if options.git == "none" or not options.fleet_repo:
            return
        git = git_service.connect(state)
        fleet.ensure_fleet_repository(git, options.fleet_repo)
        kube = KubeClient.from_kubeconfig(state.kubeconfig)
        receiver = state.read_record()["reconciler"]["receiver"]
        tracked = fleet.track_repository(kube, git, options.fleet_repo, receiver_base_url=receiver,
                                          name="fleet" if options.fleet_repo == "fleet" else None)
        record = state.read_record()
        record["reconciler"]["fleet"] = {"repo": tracked.repo, "kustomization": f"{tracked.namespace}/{tracked.name}",
                                         "webhook": tracked.webhook_url}
        state.write_record(record)
