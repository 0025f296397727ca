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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.cluster.base import ClusterPlan
from sandbox.errors import InputError
from sandbox.kube.client import KubeClient
from sandbox.kube.kubeconfig import loads
from sandbox.state import ComponentSpec, StateDir, write_private

SECRET_NAMESPACE = "flux-system"
MANAGEMENT_ISSUER = "https://kubernetes.default.svc"  # embedded.py's --service-account-issuer
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


def _minor(version: str | None) -> int:
    try:
        return int((version or "").split(".")[1])
    except (IndexError, ValueError):
        return 0


def _extra_args(component: str, version: str | None) -> list[str]:
    if component == "kube-controller-manager" and _minor(version) >= 30:
        return [f"--controllers={_WORKLOAD_CONTROLLERS}"]
    return []


@dataclass(frozen=True)
class Trust:
    """The management cluster's ServiceAccount token issuer, which every workload cluster trusts (a JWT
    authenticator, ``--authentication-config``) for ``spec.kubeConfig.configMapRef`` with ``provider: generic``:
    a token the management cluster issues for its controller's ServiceAccount, with the workload cluster's
    address as audience, authenticates there as ``<prefix>system:serviceaccount:<namespace>:<name>``."""

    server: str  # the management API server, which serves the issuer's discovery document and keys
    ca_pem: str  # its CA
    prefix: str  # the user name prefix in workload clusters: the management cluster's name and ':'

    @staticmethod
    def of(kubeconfig: Path, server: str, management: str) -> Trust:
        ca = loads(kubeconfig.read_text(), str(kubeconfig)).ca_pem or b""
        return Trust(server, ca.decode(), f"{management}:")


def _authentication_config(trust: Trust, audience: str, version: str | None) -> str:
    """kube-apiserver's AuthenticationConfiguration trusting the management cluster's issuer."""
    return yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1" if _minor(version) >= 34 else "apiserver.config.k8s.io/v1beta1",
        "kind": "AuthenticationConfiguration",
        "jwt": [{"issuer": {"url": MANAGEMENT_ISSUER,
                            "discoveryURL": f"{trust.server}/.well-known/openid-configuration",
                            "certificateAuthority": trust.ca_pem, "audiences": [audience]},
                 "claimMappings": {"username": {"claim": "sub", "prefix": trust.prefix}}}]})


def _issuer_args(argv: list[str], name: str, config: Path | None) -> list[str]:
    """A workload API server's own issuer differs from the management one's (which it trusts: the two may not be
    the same), and with ``config`` it reads the authentication configuration trusting the management issuer."""
    out = list(argv)
    if "--service-account-issuer" in out:
        out[out.index("--service-account-issuer") + 1] = f"{MANAGEMENT_ISSUER}/clusters/{name}"
    return [*out, "--authentication-config", str(config)] if config is not None else out


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


def _prefixed(plan: ClusterPlan, prefix: str, version: str | None,
              auth_config: Path | None = None) -> list[ComponentSpec]:
    own = {spec.name for spec in plan.components}

    def rename(names: list[str]) -> list[str]:
        return [f"{prefix}{n}" if n in own else n for n in names]

    def argv(spec: ComponentSpec) -> list[str]:
        base = [*spec.argv, *_extra_args(spec.name, version)]
        return _issuer_args(base, prefix[:-1], auth_config) if spec.name == "kube-apiserver" else base

    return [dataclasses.replace(
        spec, name=f"{prefix}{spec.name}", after=rename(spec.after), after_started=rename(spec.after_started),
        argv=argv(spec),
        env={**spec.env, **(_GO_ENV if spec.name in _GO_COMPONENTS else {}),
             **({"GOMEMLIMIT": _MEMORY_LIMIT[spec.name]} if spec.name in _MEMORY_LIMIT else {})})
        for spec in plan.components]


def plan_workloads(state: StateDir, names: list[str], plan_cluster: Callable[[StateDir, str], ClusterPlan], *,
                   version: str | None, trust: Trust | None = None) -> tuple[list[ComponentSpec], dict[str, Any]]:
    """Plan every workload cluster with ``plan_cluster(state, name)`` (the same planning as the first cluster),
    trusting the management cluster's issuer (``trust``; Kubernetes >= 1.30); returns their components and the
    sandbox record's ``clusters`` entries."""
    components: list[ComponentSpec] = []
    record: dict[str, Any] = {}
    for name in names:
        sub = cluster_state(state, name)
        sub.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        sub.create()
        plan = plan_cluster(sub, name)
        config = None
        if trust is not None and _minor(version) >= 30:
            config = sub.secrets / "authentication-config.yaml"
            write_private(config, _authentication_config(trust, plan.server, version))
        components += _prefixed(plan, f"{name}-", version, config)
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


def store_kubeconfigs(mgmt: KubeClient, clusters: dict[str, Any], *, trust: Trust | None = None) -> None:
    """Create (or update) each workload cluster's kubeconfig Secret in the management cluster; with ``trust``,
    what ``spec.kubeConfig.configMapRef`` (``provider: generic``) needs too (:func:`_workload_identity`)."""
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
        if trust is not None:
            _workload_identity(mgmt, name, entry, trust)


# The management cluster's controllers, bound in every workload cluster as Flux's are in their own
CONTROLLER_ACCOUNTS = ("sandbox-reconciler", "kustomize-controller", "helm-controller")
_DISCOVERY_BINDING = "gitops-sandbox:service-account-issuer-discovery"
_REMOTE_BINDING = "gitops-sandbox:management-controllers"


def _workload_identity(mgmt: KubeClient, name: str, entry: dict[str, Any], trust: Trust) -> None:
    """As a platform team sets up Flux's generic workload identity: the management issuer's discovery document
    and keys readable without credentials (the workload API servers fetch them), the ConfigMap
    ``flux-system/NAME-kubeconfig`` (``provider: generic``, ``address``, ``ca.crt``) for
    ``spec.kubeConfig.configMapRef``, and, in the workload cluster, the controllers' ServiceAccounts bound to
    cluster-admin under their prefixed names."""
    rbac = "rbac.authorization.k8s.io/v1"
    mgmt.apply({"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": _DISCOVERY_BINDING},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "system:service-account-issuer-discovery"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                              "name": "system:unauthenticated"}]}, field_manager="gitops-sandbox")
    workload_kubeconfig = Path(entry["kubeconfig"])
    ca = (loads(workload_kubeconfig.read_text(), str(workload_kubeconfig)).ca_pem or b"").decode()
    mgmt.apply({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": secret_name(name), "namespace": SECRET_NAMESPACE,
                             "labels": {"sandbox.gitops/cluster": name}},
                "data": {"provider": "generic", "address": entry["server"], "ca.crt": ca}},
               field_manager="gitops-sandbox")
    KubeClient.from_kubeconfig(workload_kubeconfig).apply({
        "apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": _REMOTE_BINDING},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": f"{trust.prefix}system:serviceaccount:{SECRET_NAMESPACE}:{account}"}
                     for account in CONTROLLER_ACCOUNTS]}, field_manager="gitops-sandbox")


def kubeconfig_of(record: dict[str, Any], cluster: str | None) -> str:
    """The kubeconfig path of ``cluster`` (None: the management cluster) from a sandbox record."""
    clusters: dict[str, Any] = record.get("clusters") or {}
    if cluster is None:
        return str(record.get("kubeconfig"))
    if cluster not in clusters:
        known = ", ".join(clusters) or "none besides the management cluster; start it with `sandbox up --clusters`"
        raise InputError(f"sandbox {record.get('name')!r} has no cluster {cluster!r}; its clusters: {known}")
    return str(clusters[cluster]["kubeconfig"])
