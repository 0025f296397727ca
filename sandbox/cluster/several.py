"""Further embedded clusters in one sandbox (``sandbox up --clusters mgmt,staging,production``).

The first name is the management cluster: the sandbox's own cluster, where the reconciler runs. Every further
name is a workload cluster planned by the same :class:`EmbeddedCluster` as the first (its own etcd, PKI, ports,
controller-manager, scheduler and node agent), in ``<state>/clusters/<name>``, its components prefixed
``<name>-``. Each workload cluster's kubeconfig is stored in the management cluster as the Secret
``flux-system/<name>-kubeconfig`` (key ``value``), as users create them for ``spec.kubeConfig.secretRef``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.cluster.base import ClusterPlan
from sandbox.errors import InputError
from sandbox.kube.client import KubeClient
from sandbox.state import ComponentSpec, StateDir

SECRET_NAMESPACE = "flux-system"
SECRET_KEY = "value"
_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")

# Memory: a workload cluster runs only what a Deployment needs to get running pods. Go's collector runs more often
# (GOGC, and a soft limit on the API server) and the controller-manager starts only the controllers that path needs
# (measured in docs/several-clusters.md; --watch-cache=false saved nothing).
_GO_ENV = {"GOGC": "50"}
_GO_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
_MEMORY_LIMIT = {"kube-apiserver": "160MiB"}
# (controller names with the -controller suffix: Kubernetes >= 1.30; older versions run them all)
_WORKLOAD_CONTROLLERS = ",".join(f"{name}-controller" for name in (
    "deployment", "replicaset", "statefulset", "daemonset", "job", "cronjob", "endpoints", "endpointslice",
    "serviceaccount", "serviceaccount-token", "namespace", "garbage-collector", "root-ca-certificate-publisher",
    "node-lifecycle",
    "pod-garbage-collector", "ttl-after-finished",
    # the built-in admin, edit and view ClusterRoles are aggregated: without it they grant nothing, and a tenant's
    # RoleBinding to admin (multi-tenancy, serviceAccountName with spec.kubeConfig) would be refused everything
    "clusterrole-aggregation"))


def _extra_args(component: str, version: str | None) -> list[str]:
    try:
        minor = int((version or "").split(".")[1])
    except (IndexError, ValueError):
        minor = 0
    if component == "kube-controller-manager" and minor >= 30:
        return [f"--controllers={_WORKLOAD_CONTROLLERS}"]
    return []


def check_name(name: str, where: str) -> None:
    """Refuse a cluster name that cannot prefix component names and Secret names (``where`` names the input)."""
    if not _NAME_RE.match(name):
        raise InputError(f"{where}: invalid cluster name {name!r}: use 1-20 lowercase letters, digits and "
                         "'-', starting with a letter")


def parse_names(value: str) -> list[str]:
    """``mgmt,staging,production`` → the names, the first being the management cluster; validated."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise InputError("--clusters: name at least the management cluster, e.g. --clusters mgmt,staging")
    for name in names:
        check_name(name, "--clusters")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"--clusters: {', '.join(duplicates)} named more than once")
    return names


def cluster_state(state: StateDir, name: str) -> StateDir:
    """Where workload cluster ``name`` keeps its kubeconfig, credentials and data."""
    return StateDir(name, root=state.path / "clusters")


def secret_name(cluster: str) -> str:
    return f"{cluster}-kubeconfig"


def _prefixed(plan: ClusterPlan, prefix: str, version: str | None) -> list[ComponentSpec]:
    own = {spec.name for spec in plan.components}

    def rename(names: list[str]) -> list[str]:
        return [f"{prefix}{n}" if n in own else n for n in names]

    return [dataclasses.replace(
        spec, name=f"{prefix}{spec.name}", after=rename(spec.after), after_started=rename(spec.after_started),
        argv=[*spec.argv, *_extra_args(spec.name, version)],
        env={**spec.env, **(_GO_ENV if spec.name in _GO_COMPONENTS else {}),
             **({"GOMEMLIMIT": _MEMORY_LIMIT[spec.name]} if spec.name in _MEMORY_LIMIT else {})})
        for spec in plan.components]


def plan_workloads(state: StateDir, names: list[str], plan_cluster: Callable[[StateDir, str], ClusterPlan], *,
                   version: str | None) -> tuple[list[ComponentSpec], dict[str, Any]]:
    """Plan every workload cluster with ``plan_cluster(state, name)`` (the same planning as the first cluster);
    returns their components and the sandbox record's ``clusters`` entries."""
    components: list[ComponentSpec] = []
    record: dict[str, Any] = {}
    for name in names:
        sub = cluster_state(state, name)
        sub.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        sub.create()
        plan = plan_cluster(sub, name)
        components += _prefixed(plan, f"{name}-", version)
        record[name] = record_entry(name, plan)
    return components, record


def record_entry(name: str, plan: ClusterPlan) -> dict[str, Any]:
    """The sandbox record's entry for workload cluster ``name``."""
    return {"kubeconfig": str(plan.kubeconfig), "server": plan.server, "management": False,
            "components": [f"{name}-{spec.name}" for spec in plan.components],
            "secret": f"{SECRET_NAMESPACE}/{secret_name(name)}"}


def agent_settings(specs: list[ComponentSpec]) -> tuple[int, list[str]]:
    """The management cluster's node agent's node count and further arguments (registries, image checks, the
    services' arguments), which a cluster added later gets too, as one started with the sandbox does."""
    agent = next((spec for spec in specs if spec.name == "node-agent"), None)
    if agent is None:
        return 1, []
    argv = agent.argv
    nodes = int(argv[argv.index("--nodes") + 1]) if "--nodes" in argv else 1
    extras = argv[argv.index("--node-name") + 2:] if "--node-name" in argv else []
    return nodes, extras


def store_kubeconfigs(mgmt: KubeClient, clusters: dict[str, Any]) -> None:
    """Create (or update) each workload cluster's kubeconfig Secret in the management cluster."""
    if mgmt.get_or_none("v1", "Namespace", SECRET_NAMESPACE) is None:
        mgmt.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SECRET_NAMESPACE}},
                   field_manager="gitops-sandbox")
    for name, entry in clusters.items():
        if entry.get("management"):
            continue
        mgmt.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": secret_name(name), "namespace": SECRET_NAMESPACE,
                                 "labels": {"sandbox.gitops/cluster": name}},
                    "stringData": {SECRET_KEY: Path(entry["kubeconfig"]).read_text()}},
                   field_manager="gitops-sandbox")


def kubeconfig_of(record: dict[str, Any], cluster: str | None) -> str:
    """The kubeconfig path of ``cluster`` (None: the management cluster) from a sandbox record."""
    clusters: dict[str, Any] = record.get("clusters") or {}
    if cluster is None:
        return str(record.get("kubeconfig"))
    if cluster not in clusters:
        known = ", ".join(clusters) or "none besides the management cluster; start it with `sandbox up --clusters`"
        raise InputError(f"sandbox {record.get('name')!r} has no cluster {cluster!r}; its clusters: {known}")
    return str(clusters[cluster]["kubeconfig"])
