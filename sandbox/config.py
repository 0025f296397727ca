"""Settings: from flags, then environment variables ``SANDBOX_*``, then defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import InputError

DEFAULT_NAME = "default"
# The Kubernetes version a sandbox runs unless told otherwise: the newest that builds from Go modules here and passes
# the whole suite. `sandbox setup` obtains it; v1.20.2 (Debian's source package) is the offline last resort.
DEFAULT_K8S_VERSION = "v1.37.2"
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def resolve_name(name: str | None) -> str:
    """The sandbox name: the flag, else ``$SANDBOX_NAME``, else ``default``; validated."""
    chosen = name or os.environ.get("SANDBOX_NAME") or DEFAULT_NAME
    if not _NAME_RE.match(chosen):
        raise InputError(
            f"invalid sandbox name {chosen!r}: use 1-40 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return chosen


def state_root() -> Path:
    """Where sandboxes keep their state: ``$SANDBOX_STATE_HOME``, else ``$XDG_STATE_HOME/gitops-sandbox``."""
    explicit = os.environ.get("SANDBOX_STATE_HOME")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "gitops-sandbox"


def cache_root() -> Path:
    """Where expensive downloads and builds are kept: ``$SANDBOX_CACHE_DIR``, else ``~/.cache/gitops-sandbox``."""
    explicit = os.environ.get("SANDBOX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "gitops-sandbox"


def check_k8s_version(version: str) -> str:
    if not re.match(r"^v\d+\.\d+\.\d+$", version):
        raise InputError(f"invalid Kubernetes version {version!r}: expected the form v1.37.2")
    return version


def k8s_version_override() -> str | None:
    """``$SANDBOX_K8S_VERSION`` when set (validated); the binaries module decides the version otherwise."""
    version = os.environ.get("SANDBOX_K8S_VERSION")
    return check_k8s_version(version) if version else None


def bin_dir_override() -> Path | None:
    explicit = os.environ.get("SANDBOX_BIN_DIR")
    return Path(explicit) if explicit else None


MONITORING_BACKENDS = ("local", "container", "auto")
_PROM_DURATION = re.compile(r"^(\d+(ms|s|m|h|d))+$")


@dataclass(frozen=True)
class MonitoringSettings:
    """What ``sandbox up --monitoring`` was asked for (sandbox.monitoring.config turns it into files)."""

    scrape_interval: str = "2s"  # also the rule evaluation interval
    failure_for: str = "10m"  # ReconciliationFailure fires after the object was Ready=False this long
    suspended_for: str = "10m"  # ResourceSuspended
    slow_for: str = "10m"  # SlowReconciliation
    slow_seconds: float = 60.0  # p99 reconcile duration above which SlowReconciliation fires
    webhook: str = ""  # Alertmanager's webhook receiver URL ("" = alerts stay in Alertmanager)
    group_wait: str = "1s"
    backend: str = "local"  # local (the Debian programs as processes) | container (their images) | auto

    def check(self) -> MonitoringSettings:
        if self.backend not in MONITORING_BACKENDS:
            raise InputError(f"monitoring backend {self.backend!r}: use one of {', '.join(MONITORING_BACKENDS)}")
        for field_name in ("scrape_interval", "failure_for", "suspended_for", "slow_for", "group_wait"):
            value = getattr(self, field_name)
            if not _PROM_DURATION.match(value):
                raise InputError(f"monitoring setting {field_name}={value!r} is not a Prometheus duration "
                                 "(e.g. 2s, 30s, 10m, 1h)")
        if self.webhook and not self.webhook.startswith(("http://", "https://")):
            raise InputError(f"--alert-webhook {self.webhook!r} is not an http(s) URL")
        return self

    @staticmethod
    def load(path: Path) -> MonitoringSettings:
        """Settings from a YAML file of the same keys (``failure_for: 30s`` …)."""
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"monitoring settings {path}: {err}") from err
        known = set(MonitoringSettings.__dataclass_fields__)
        if not isinstance(data, dict) or set(data) - known:
            unknown = sorted(set(data) - known) if isinstance(data, dict) else "not a mapping"
            raise InputError(f"monitoring settings {path}: unknown keys {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {k: (float(v) if k == "slow_seconds" else str(v)) for k, v in data.items()}
        return MonitoringSettings(**values).check()


@dataclass(frozen=True)
class UpOptions:
    """What ``sandbox up`` was asked for."""

    name: str
    cluster: str = "embedded"
    nodes: int = 1
    strict_images: bool = False
    timeout: float = 60.0
    reconciler: str = "sandbox"  # sandbox (ours) | flux (upstream Flux's controllers, dev install) | none
    fleet_repo: str = "fleet"  # the repository the reconciler follows from the start ("" for none)
    git: str = "auto"  # auto | local | gitea | none (auto: gitea when Docker has its image, else local)
    registry: str = "auto"  # auto | local | container (auto: the container when Docker and its image are there)
    registry_auth: bool = False  # the registry asks every client for the sandbox's user and password (htpasswd)
    k8s_version: str | None = None  # None: $SANDBOX_K8S_VERSION, else the default or newest cached version
    offline: bool = False  # fetches of unmirrored non-loopback URLs fail at once (see docs/mirrors.md)
    monitoring: MonitoringSettings | None = None  # Prometheus + Alertmanager (`--monitoring`); None: none
    clusters: tuple[str, ...] = ()  # `--clusters mgmt,staging`: the management cluster's name, then workload ones
    # The process that owns the sandbox (a test session): when it exits without stopping it (killed, crashed), the
    # supervisor stops every component and removes the state. None: the sandbox lives until `sandbox down`.
    owner_pid: int | None = None
    # Flux's multi-tenancy lockdown flags for the reconciler (`--tenancy-lockdown` sets all three):
    default_service_account: str = ""  # impersonated when a Kustomization/HelmRelease names none
    no_cross_namespace_refs: bool = False  # a sourceRef/chartRef in another namespace is refused (AccessDenied)
    no_remote_bases: bool = False  # a kustomization with a remote base fails its build
    # Flux's --requeue-dependency (kustomize-, helm- and source-controller): how often an object waiting on a
    # dependency looks again, as a Go duration ("": the controllers' default, 30s).
    requeue_dependency: str = ""
    kind_node_image: str = ""  # --cluster kind: the node image ("": sandbox.cluster.kind chooses)
    kind_load_images: tuple[str, ...] = ()  # --cluster kind: local Docker images loaded into every node (--load-image)
