"""The dev install: the CRDs, the ``flux-system`` namespace and the reconciler's ServiceAccount and RBAC.

``install(kube)`` server-side-applies them, CRDs first, and waits until every CRD is Established and served, so
that informers can list the kinds as soon as it returns. Applying the same objects again changes nothing.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import InputError
from sandbox.kube.client import KubeClient, Obj, ref
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.apis.crds import crds
from sandbox.reconciler.apis.definition import LABELS
from sandbox.reconciler.apis.sealedsecrets import crd as sealed_secret_crd
from sandbox.waiting import wait_until

NAMESPACE = "flux-system"
SERVICE_ACCOUNT = "sandbox-reconciler"
FIELD_MANAGER = "sandbox-install"
CRD_API = "apiextensions.k8s.io/v1"
RBAC_API = "rbac.authorization.k8s.io/v1"
PART_OF = "app.kubernetes.io/part-of"

_FLUX_GROUPS = sorted(kinds.GROUPS)


def _meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**LABELS, **(labels or {})}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def namespace() -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": _meta(NAMESPACE, labels={"app.kubernetes.io/instance": NAMESPACE})}


def service_account() -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT, NAMESPACE)}


def _cluster_role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": _meta(name, labels=labels), "rules": rules}


def _binding(name: str, role: str) -> Obj:
    return {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": _meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]}


def rbac() -> list[Obj]:
    """The reconciler's own permissions, cluster-admin for what it applies, and roles users get by aggregation."""
    reconciler = _cluster_role(SERVICE_ACCOUNT, [
        {"apiGroups": _FLUX_GROUPS, "resources": ["*"], "verbs": ["*"]},
        {"apiGroups": [""], "resources": ["namespaces", "secrets", "configmaps", "serviceaccounts"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["*"]},
    ])
    view_verbs = ["get", "list", "watch"]
    view = _cluster_role("sandbox-flux-view", [{"apiGroups": _FLUX_GROUPS, "resources": ["*"], "verbs": view_verbs}],
                         labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true",
                                 "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                                 "rbac.authorization.k8s.io/aggregate-to-view": "true"})
    edit = _cluster_role("sandbox-flux-edit", [{
        "apiGroups": _FLUX_GROUPS, "resources": ["*"],
        "verbs": ["create", "delete", "deletecollection", "patch", "update"]}],
        labels={"rbac.authorization.k8s.io/aggregate-to-admin": "true",
                "rbac.authorization.k8s.io/aggregate-to-edit": "true"})
    return [
        reconciler, view, edit,
        _binding(SERVICE_ACCOUNT, SERVICE_ACCOUNT),
        # A Kustomization may hold any object (CRDs, ClusterRoles, Namespaces): like Flux's `cluster-reconciler`
        # binding, the reconciler gets cluster-admin. Multi-tenancy would impersonate `spec.serviceAccountName`.
        _binding("sandbox-cluster-reconciler", "cluster-admin"),
    ]


def crd_objects(upstream: list[Obj] | None = None) -> list[Obj]:
    """Our CRDs, or where ``upstream`` (Flux's own, for ``sandbox up --reconciler flux``) defines a CRD of the same
    name, that one — labelled as part of the sandbox's install like ours."""
    replaced = {}
    for crd in upstream or []:
        meta = {**crd["metadata"], "labels": {**(crd["metadata"].get("labels") or {}), PART_OF: LABELS[PART_OF]}}
        replaced[meta["name"]] = {**crd, "metadata": meta}
    ours = [*crds(), sealed_secret_crd()]  # Sealed Secrets' CRD is not Flux's: installed beside them
    names = {crd["metadata"]["name"] for crd in ours}
    extra = [crd for name, crd in replaced.items() if name not in names]
    return [replaced.get(crd["metadata"]["name"], crd) for crd in ours] + extra


def read_crd_dir(directory: Path) -> list[Obj]:
    """The CustomResourceDefinitions in the YAML files of ``directory``."""
    found: list[Obj] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as err:
            raise InputError(f"{path}: not valid YAML: {err}") from err
        found += [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"]
    if not found:
        raise InputError(f"{directory} holds no CustomResourceDefinition: rebuild it with `sandbox setup --flux`")
    return found


def rest_objects() -> list[Obj]:
    return [namespace(), service_account(), *rbac()]


def objects() -> list[Obj]:
    """Everything the dev install applies, in apply order: CRDs first."""
    return [*crd_objects(), *rest_objects()]


def export() -> str:
    """The dev install as multi-document YAML, for `kubectl apply --server-side -f -`."""
    header = ("# gitops-sandbox dev install: the Flux-compatible CRDs, the flux-system namespace,\n"
              "# and the reconciler's ServiceAccount and RBAC.\n")
    return header + yaml.safe_dump_all(objects(), sort_keys=False, width=120)


@dataclass(frozen=True)
class Applied:
    ref: str  # Kind/namespace/name
    action: str  # created | configured | unchanged


@dataclass(frozen=True)
class InstallResult:
    applied: tuple[Applied, ...]
    crds_seconds: float  # from the first CRD apply until every CRD is Established and served
    seconds: float

    def count(self, action: str) -> int:
        return sum(1 for each in self.applied if each.action == action)

    @property
    def changed(self) -> list[Applied]:
        return [each for each in self.applied if each.action != "unchanged"]


def _apply(kube: KubeClient, obj: Obj, before: Obj | None) -> Applied:
    after = kube.apply(obj, field_manager=FIELD_MANAGER, force=True)
    if before is None:
        action = "created"
    elif before["metadata"].get("resourceVersion") == after["metadata"].get("resourceVersion"):
        action = "unchanged"
    else:
        action = "configured"
    return Applied(ref(obj), action)


def _check_ours(existing: dict[str, Obj], wanted: list[Obj]) -> None:
    """Refuse, before applying anything, to take over CRDs another installer (Flux itself) owns or is deleting."""
    foreign, terminating = [], []
    for crd in wanted:
        current = existing.get(crd["metadata"]["name"])
        if current is None:
            continue
        meta = current["metadata"]
        if meta.get("deletionTimestamp"):
            terminating.append(meta["name"])
        elif (meta.get("labels") or {}).get(PART_OF) != LABELS[PART_OF]:
            foreign.append(meta["name"])
    if foreign:
        raise InputError(
            f"the cluster already has CRDs not installed by gitops-sandbox: {', '.join(foreign)}. Flux may run "
            "there; the sandbox's reconciler and Flux cannot share a cluster. Use a cluster without Flux (or remove "
            "Flux with `flux uninstall`), then run `sandbox install` again")
    if terminating:
        raise InputError(f"CRDs are being deleted: {', '.join(terminating)}; wait until they are gone "
                         "(`kubectl get crd`), then run `sandbox install` again")


def _established(crd: Obj) -> bool:
    conditions = {c.get("type"): c.get("status") for c in crd.get("status", {}).get("conditions", [])}
    return conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True"


def _describe_crds(crd_list: list[Obj]) -> str:
    parts = []
    for crd in crd_list:
        if _established(crd):
            continue
        conditions = ", ".join(f"{c.get('type')}={c.get('status')}" + (f" ({c['message']})" if c.get("message") else "")
                               for c in crd.get("status", {}).get("conditions", [])) or "no conditions yet"
        parts.append(f"{crd['metadata']['name']}: {conditions}")
    return "; ".join(parts) or "all Established"


def _served(kube: KubeClient) -> bool:
    """Every kind is in discovery and can be listed, so that clients (kubectl, informers) use it right away.

    Current API servers answer a list with "storage is (re)initializing" for a moment after discovery shows a
    new kind, while its watch cache fills; the probe raises then, and waiting goes on."""
    for api_version in sorted({kind.api_version for kind in kinds.ALL}):
        data = kube.request("GET", f"/apis/{api_version}")
        plurals = {resource["name"] for resource in data.get("resources", [])}
        if any(kind.plural not in plurals for kind in kinds.ALL if kind.api_version == api_version):
            return False
    for kind in kinds.ALL:
        kube.request("GET", kube.path(kind.api_version, kind.kind, None), query={"limit": "1"})
    return True


def wait_established(kube: KubeClient, names: list[str], *, timeout: float) -> None:
    """Wait until the named CRDs are Established and their kinds served; the error names those that are not."""
    selector = f"{PART_OF}={LABELS[PART_OF]}"
    last: list[Obj] = []

    def ready() -> bool:
        nonlocal last
        listed = {c["metadata"]["name"]: c for c in kube.list(CRD_API, "CustomResourceDefinition",
                                                              label_selector=selector).items}
        last = [listed.get(name, {"metadata": {"name": name}}) for name in names]
        return all(_established(crd) for crd in last) and _served(kube)

    wait_until(ready, timeout=timeout, what=f"{len(names)} CRDs to be Established and served",
               interval=0.02, max_interval=0.2, describe=lambda: _describe_crds(last),
               hint="a NamesAccepted=False condition means another CRD claims the same names; "
                    "see `kubectl get crd -l app.kubernetes.io/part-of=gitops-sandbox -o yaml`")


def _apply_current(kube: KubeClient, obj: Obj) -> Applied:
    meta = obj["metadata"]
    return _apply(kube, obj, kube.get_or_none(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")))


def install(kube: KubeClient, wait: bool = True, *, timeout: float = 60.0,
            upstream_crds: list[Obj] | None = None) -> InstallResult:
    """Server-side-apply the dev install (field manager ``sandbox-install``): CRDs, wait, then the rest."""
    started = time.perf_counter()
    wanted_crds = crd_objects(upstream_crds)
    existing = {c["metadata"]["name"]: c for c in kube.list(CRD_API, "CustomResourceDefinition").items}
    _check_ours(existing, wanted_crds)
    rest = rest_objects()
    # Each CRD apply costs the apiserver tens of milliseconds (schema conversion, storage setup): do them together,
    # then everything that does not live in flux-system, then what does (it needs the namespace).
    with ThreadPoolExecutor(max_workers=len(wanted_crds), thread_name_prefix="install") as pool:
        applied = list(pool.map(lambda crd: _apply(kube, crd, existing.get(crd["metadata"]["name"])), wanted_crds))
        if wait:
            wait_established(kube, [crd["metadata"]["name"] for crd in wanted_crds], timeout=timeout)
        crds_seconds = time.perf_counter() - started
        for wave in ([o for o in rest if not o["metadata"].get("namespace")],
                     [o for o in rest if o["metadata"].get("namespace")]):
            applied += pool.map(lambda obj: _apply_current(kube, obj), wave)
    return InstallResult(tuple(applied), crds_seconds, time.perf_counter() - started)
