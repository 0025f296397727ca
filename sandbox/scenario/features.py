"""The features a scenario may need, whether this version of the sandbox has them, and whether a running sandbox
offers them. A feature issue flips ``available`` when its step types work; until then, a scenario using them is
rejected when it is loaded, never passed silently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.monitoring import service as monitoring
from sandbox.reconciler import support

Status = dict[str, Any]  # what SandboxHandle.status holds (lifecycle.status)
IMAGE_KINDS = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")
NOTIFICATION_KINDS = ("Provider", "Alert")


def _service(name: str) -> Callable[[Status], str | None]:
    def present(status: Status) -> str | None:
        if name in (status.get("services") or {}):
            return None
        return f"sandbox {status.get('name')!r} runs no {name} service; start one with `sandbox up`"
    return present


def _gitea(status: Status) -> str | None:
    backend = ((status.get("services") or {}).get("git") or {}).get("backend")
    if backend == "gitea":
        return None
    return (f"sandbox {status.get('name')!r} uses the {backend or 'no'} git server; this scenario needs Gitea "
            "(`sandbox up --git gitea`, with Docker and the Gitea image)")


def _reconciler(status: Status) -> str | None:
    """The sandbox's own reconciler reconciles the Helm kinds (upstream Flux's dev install does too)."""
    if "reconciler" in (status.get("services") or {}) or "flux" in (status.get("services") or {}):
        return None
    return (f"sandbox {status.get('name')!r} runs no reconciler; start one with `sandbox up` (the default "
            "--reconciler sandbox)")


def _our_controllers(kinds: tuple[str, ...]) -> Callable[[Status], str | None]:
    """A reconciler runs, and it has controllers of its own for ``kinds`` (support.TABLE) — alone and beside
    upstream Flux too, whose image and notification controllers cannot be built here (the sandbox's reconciler
    beside it then serves those kinds, and upstream's controllers send it their events)."""
    def present(status: Status) -> str | None:
        missing = _reconciler(status)
        if missing:
            return missing
        lacking = [row.kind.kind for row in support.TABLE if row.kind.kind in kinds and not row.ours]
        if lacking:
            return f"this version of the sandbox's reconciler has no controller for {', '.join(lacking)}"
        return None
    return present


def _on_kind(status: Status) -> bool:
    return "kind" in (status.get("services") or {})


def _monitoring(status: Status) -> str | None:
    """Prometheus and Alertmanager run beside the sandbox (``sandbox up --monitoring``)."""
    if monitoring.RECORD_KEY in (status.get("services") or {}):
        return None
    if _on_kind(status):
        return (f"sandbox {status.get('name')!r} runs a kind cluster, and `--monitoring` needs the embedded cluster "
                "(docs/choosing-a-cluster.md): play it on a sandbox started with `sandbox up --monitoring`")
    lacking = monitoring.missing()
    packages = (f" (it needs the Debian packages {', '.join(lacking)}: `apt-get install {' '.join(lacking)}`)"
                if lacking else "")
    return (f"sandbox {status.get('name')!r} runs no Prometheus; start one with `sandbox up --monitoring`"
            + packages)


def _tenancy_lockdown(status: Status) -> str | None:
    """The reconciler runs with Flux's lockdown flags (a controller setting: per sandbox, not per object)."""
    missing = _reconciler(status)
    if missing:
        return missing
    lockdown = ((status.get("services") or {}).get("reconciler") or {}).get("lockdown") or {}
    if lockdown.get("no_cross_namespace_refs"):
        return None
    return (f"sandbox {status.get('name')!r} runs its reconciler without Flux's lockdown flags; start one with "
            "`sandbox up --tenancy-lockdown` (under pytest: --sandbox-tenancy-lockdown)")


def _always(status: Status) -> str | None:
    return None


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    available: bool  # implemented in this version of gitops-sandbox
    # None when the running sandbox offers it, else why not and what to do
    missing_in: Callable[[Status], str | None] = _always


FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("registry", "the sandbox's OCI registry (push images, pod images from it)", True, _service("registry")),
    Feature("charts", "the sandbox's Helm chart repository (HTTP and OCI)", True, _service("charts")),
    Feature("gitea", "Gitea as the git server (pull requests)", True, _gitea),
    Feature("helm", "HelmRepository, HelmChart and HelmRelease reconciliation", True, _reconciler),
    Feature("image-automation", "ImageRepository, ImagePolicy and ImageUpdateAutomation", True,
            _our_controllers(IMAGE_KINDS)),
    Feature("sops", "SOPS decryption in Kustomizations", True),
    Feature("notifications", "Provider and Alert: alerts sent on reconciler events", True,
            _our_controllers(NOTIFICATION_KINDS)),
    Feature("monitoring", "Prometheus and Alertmanager beside the sandbox (prometheus checks, the run's alert rules)",
            True, _monitoring),
    Feature("tenancy-lockdown", "the reconciler runs with Flux's multi-tenancy lockdown flags (`sandbox up "
            "--tenancy-lockdown`)", True, _tenancy_lockdown),
)}

# Step types (and expectation kinds, as "expect <kind>") that need a feature.
STEP_FEATURES: dict[str, str] = {
    "push_image": "registry",
    "push_chart": "charts",
    "push_artifact": "registry",
    "expect alerts": "notifications",
    "expect prometheus": "monitoring",
}
# Template variables that need a feature.
VARIABLE_FEATURES: dict[str, str] = {"registry": "registry", "chart_repo": "charts", "oci_charts": "charts",
                                     "sink": "notifications"}


# `cluster/NAME`: a workload cluster NAME in the sandbox (`sandbox up --clusters mgmt,NAME`), its kubeconfig the
# Secret flux-system/NAME-kubeconfig of the management cluster; implied by a check with `cluster: NAME`.
CLUSTER_PREFIX = "cluster/"


def cluster_feature(name: str) -> str:
    return f"{CLUSTER_PREFIX}{name}"


def clusters_needed(names: list[str] | tuple[str, ...]) -> list[str]:
    """The workload clusters a scenario's needs name."""
    return [n[len(CLUSTER_PREFIX):] for n in names if n.startswith(CLUSTER_PREFIX)]


def _cluster(name: str) -> Callable[[Status], str | None]:
    def present(status: Status) -> str | None:
        clusters = {c.get("name"): c for c in status.get("clusters") or []}
        if name in clusters and not clusters[name].get("management"):
            return None
        if _on_kind(status):
            return (f"sandbox {status.get('name')!r} runs a kind cluster, which is one cluster: workload cluster "
                    f"{name!r} needs the embedded cluster, `sandbox up --clusters mgmt,{name}` "
                    "(docs/choosing-a-cluster.md)")
        return (f"sandbox {status.get('name')!r} has no workload cluster {name!r}; start one with `sandbox up "
                f"--clusters mgmt,{name}` (docs/several-clusters.md)")
    return present


def _feature(name: str) -> Feature | None:
    if name.startswith(CLUSTER_PREFIX) and name[len(CLUSTER_PREFIX):]:
        cluster = name[len(CLUSTER_PREFIX):]
        return Feature(name, f"the workload cluster {cluster}", True, _cluster(cluster))
    return FEATURES.get(name)


def not_available(name: str) -> str | None:
    """Why feature ``name`` cannot be used with this version (None when it can)."""
    feature = _feature(name)
    if feature is None:
        return f"unknown feature {name!r} (known: {', '.join(FEATURES)})"
    if not feature.available:
        return f"feature {name!r} ({feature.description}) is not available yet in this version of gitops-sandbox"
    return None


def missing(names: list[str], status: Status) -> list[str]:
    """For each needed feature the running sandbox lacks: why, and what to do."""
    reasons = []
    for name in names:
        feature = _feature(name)
        if feature is None:
            continue
        reason = feature.missing_in(status)
        if reason:
            reasons.append(f"needs {name}: {reason}")
    return reasons
