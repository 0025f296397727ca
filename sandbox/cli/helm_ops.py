"""What the CLI verbs do for Helm kinds (HelmRepository, HelmChart, HelmRelease), as flux2's cmd/flux does it: their
revision and status in listings, reconcile requests with ``--force``/``--reset``, the sources a ``--with-source``
reconcile walks, the inventory tree, and the objects whose events ``--for`` also shows."""

from __future__ import annotations

import re
from typing import Any

from sandbox.errors import InputError, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops
from sandbox.reconciler.apis import kinds as served_kinds
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.reconciler.runtime.timeutil import rfc3339_nano
from sandbox.waiting import wait_until

Obj = dict[str, Any]

FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"

HELM_REPOSITORY = ops.KindRef(served_kinds.HELMREPOSITORY.api_version, "HelmRepository", "source helm")
HELM_CHART = ops.KindRef(served_kinds.HELMCHART.api_version, "HelmChart", "source chart")
HELM_RELEASE = ops.KindRef(served_kinds.HELMRELEASE.api_version, "HelmRelease", "helmrelease")
KINDS = [HELM_REPOSITORY, HELM_CHART, HELM_RELEASE]
# What suspend, resume and reconcile act on: the reconciler's kinds and the Helm ones.
RECONCILABLE = [*ops.ALL, *KINDS]
BY_KIND = {k.kind: k for k in RECONCILABLE}
OCI_READY_MESSAGE = "Helm repository is Ready"  # flux get shows this for a HelmRepository of type oci

_HEX = re.compile(r"[0-9a-f]{40,}")


def is_static(obj: Obj) -> bool:
    """A HelmRepository of type oci has no reconciler: nothing to wait for (flux: ``isStatic``)."""
    return obj.get("kind") == "HelmRepository" and obj.get("spec", {}).get("type") == "oci"


def static_without_status(obj: Obj) -> bool:
    """Static and nothing reported on it: flux shows it Ready. One that carries a Ready condition (NotSupported,
    when no controller serves the kind) shows that instead — never a false green."""
    return is_static(obj) and not _condition(obj, "Ready")


def revision_of(obj: Obj) -> str:
    """A HelmRelease's revision is the chart version of its latest release, else the last attempted one."""
    if obj.get("kind") == "HelmRelease":
        status = obj.get("status", {})
        history = status.get("history") or []
        if history:
            return str(history[0].get("chartVersion", ""))
        return str(status.get("lastAttemptedRevision", ""))
    return ops.revision_of(obj)


def summarize(obj: Obj) -> dict[str, Any]:
    """``ops.summarize`` with the Helm kinds' revision and the static OCI HelmRepository's status."""
    summary = ops.summarize(obj)
    summary["revision"] = revision_of(obj)
    if static_without_status(obj):
        summary.update(ready="True", reason="", message=OCI_READY_MESSAGE)
    return summary


def truncate_hex(text: str) -> str:
    """flux's ``utils.TruncateHex``: long hex digests cut to 8 characters (as flux get shows HelmRepositories)."""
    return _HEX.sub(lambda m: m.group(0)[:8], text)


def kind_named(word: str) -> str:
    """A Flux kind spelled in any case (``helmrelease``) -> its proper spelling; unknown words unchanged."""
    for kind in served_kinds.ALL:
        if kind.kind.lower() == word.lower():
            return kind.kind
    return word


def success_message(obj: Obj) -> str:
    """flux's ``successMessage`` of each kind."""
    if obj.get("kind") == "HelmRelease":
        return f"applied revision {revision_of(obj)}"
    if static_without_status(obj):
        return OCI_READY_MESSAGE
    return f"fetched revision {revision_of(obj)}"


def _condition(obj: Obj, kind: str) -> Obj:
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def annotate(kube: KubeClient, kind: ops.KindRef, name: str, namespace: str, *, force: bool = False,
             reset: bool = False) -> str:
    """Set ``requestedAt`` (and for a HelmRelease ``forceAt``/``resetAt``, the same token, as flux reconcile does);
    return the token."""
    obj = ops.get(kube, kind, name, namespace)
    if obj.get("spec", {}).get("suspend"):
        raise InputError(f"{kind.kind}/{namespace}/{name} is suspended: run `sandbox resume {kind.noun} {name}`")
    token = rfc3339_nano()
    annotations = {REQUESTED_AT: token}
    if kind.kind == "HelmRelease":
        if force:
            annotations[FORCE_AT] = token
        if reset:
            annotations[RESET_AT] = token
    kube.patch(kind.api_version, kind.kind, name, namespace, {"metadata": {"annotations": annotations}})
    return token


def wait_handled(kube: KubeClient, kind: ops.KindRef, name: str, namespace: str, token: str, *,
                 timeout: float = 120) -> Obj:
    """Wait until the reconciler has handled ``token`` (lastHandledReconcileAt) and is no longer Reconciling; return
    the object. Raises SandboxError with the Ready message when the reconcile ended with Ready=False."""

    def handled() -> Obj | None:
        current = kube.get(kind.api_version, kind.kind, name, namespace)
        if current.get("status", {}).get("lastHandledReconcileAt") != token:
            return None
        if ops.ready_condition(current).get("status") == "Unknown":
            return None
        if _condition(current, "Reconciling").get("status") == "True":
            return None
        return current

    def describe() -> str:
        ready = ops.ready_condition(kube.get(kind.api_version, kind.kind, name, namespace))
        return f"Ready={ready.get('status')} {ready.get('message', '')}".strip()

    final = wait_until(handled, timeout=timeout, what=f"{kind.kind}/{namespace}/{name} to be reconciled",
                       interval=0.05, max_interval=0.25, describe=describe,
                       hint="is the reconciler running? (`sandbox status`, `sandbox logs`)")
    ready = ops.ready_condition(final)
    if ready.get("status") != "True":
        raise SandboxError(f"{kind.kind} reconciliation failed: {ready.get('message', '')}")
    return final


def request_reconcile(kube: KubeClient, kind: ops.KindRef, name: str, namespace: str, *, force: bool = False,
                      reset: bool = False, timeout: float = 120) -> Obj:
    """``annotate`` then ``wait_handled``."""
    token = annotate(kube, kind, name, namespace, force=force, reset=reset)
    return wait_handled(kube, kind, name, namespace, token, timeout=timeout)


def wait_ready(kube: KubeClient, kind: ops.KindRef, name: str, namespace: str, *, timeout: float = 120) -> Obj:
    """Wait until the object is Ready for its latest generation (flux create's wait); Stalled=True ends it early."""

    def ready() -> Obj | None:
        current = kube.get(kind.api_version, kind.kind, name, namespace)
        if static_without_status(current):
            return current
        generation = current.get("metadata", {}).get("generation")
        status = current.get("status", {})
        condition = ops.ready_condition(current)
        observed = condition.get("observedGeneration") or status.get("observedGeneration")
        if observed != generation:
            return None
        if condition.get("status") == "True" or _condition(current, "Stalled").get("status") == "True":
            return current
        return None

    def describe() -> str:
        condition = ops.ready_condition(kube.get(kind.api_version, kind.kind, name, namespace))
        return f"Ready={condition.get('status')} {condition.get('message', '')}".strip()

    final = wait_until(ready, timeout=timeout, what=f"{kind.kind}/{namespace}/{name} to be ready", interval=0.05,
                       max_interval=0.25, describe=describe,
                       hint="is the reconciler running? (`sandbox status`, `sandbox logs`)")
    condition = ops.ready_condition(final)
    if not static_without_status(final) and condition.get("status") != "True":
        raise SandboxError(f"{kind.kind}/{namespace}/{name} is stalled: {condition.get('message', '')}")
    return final


def chart_source(chart: Obj) -> tuple[ops.KindRef, str, str]:
    """The source a HelmChart reads from (in the chart's namespace)."""
    ref = chart.get("spec", {}).get("sourceRef") or {}
    kind = {"HelmRepository": HELM_REPOSITORY, "GitRepository": ops.GIT_REPOSITORY}.get(ref.get("kind", ""))
    meta = chart["metadata"]
    if kind is None:
        raise InputError(f"HelmChart/{meta['namespace']}/{meta['name']}: cannot reconcile source of kind "
                         f"{ref.get('kind')!r} (the sandbox reconciles HelmRepository and GitRepository)")
    return kind, str(ref.get("name", "")), str(meta["namespace"])


def release_source(release: Obj) -> tuple[ops.KindRef, str, str]:
    """The source a HelmRelease reads its chart from: its chartRef, else the HelmChart ``<ns>-<name>`` that
    ``spec.chart`` makes, in the namespace of the chart's source."""
    meta = release["metadata"]
    spec = release.get("spec", {})
    chart_ref = spec.get("chartRef")
    if chart_ref:
        kind = {"HelmChart": HELM_CHART, "OCIRepository": ops.OCI_REPOSITORY}.get(chart_ref.get("kind", ""))
        if kind is None:
            raise InputError(f"HelmRelease/{meta['namespace']}/{meta['name']}: cannot reconcile source of kind "
                             f"{chart_ref.get('kind')!r}")
        return kind, str(chart_ref.get("name", "")), str(chart_ref.get("namespace") or meta["namespace"])
    source_ref = (spec.get("chart") or {}).get("spec", {}).get("sourceRef") or {}
    return HELM_CHART, f"{meta['namespace']}-{meta['name']}", str(source_ref.get("namespace") or meta["namespace"])


def release_source_label(release: Obj) -> str:
    """``Kind/namespace/name`` of where a HelmRelease's chart comes from, as ``flux get hr --show-source``."""
    meta = release["metadata"]
    spec = release.get("spec", {})
    ref = spec.get("chartRef") or (spec.get("chart") or {}).get("spec", {}).get("sourceRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('namespace') or meta.get('namespace')}/{ref.get('name', '')}"


def inventory_tree(kube: KubeClient, name: str, namespace: str) -> ops.TreeNode:
    """The HelmRelease and the objects of its ``status.inventory``."""
    release = ops.get(kube, HELM_RELEASE, name, namespace)
    children = []
    for entry in (release.get("status", {}).get("inventory") or {}).get("entries", []) or []:
        obj_ns, obj_name, _, kind = ops.parse_inventory_id(entry["id"])
        children.append(ops.TreeNode(f"{kind}/{obj_ns}/{obj_name}" if obj_ns else f"{kind}/{obj_name}"))
    return ops.TreeNode(f"HelmRelease/{namespace}/{name}", tuple(children))


def expand_releases(kube: KubeClient, node: ops.TreeNode) -> ops.TreeNode:
    """A Kustomization tree with each HelmRelease in it showing what the release manages (as flux tree does)."""
    kind, _, rest = node.label.partition("/")
    if kind == "HelmRelease" and not node.children and "/" in rest:
        namespace, name = rest.split("/", 1)
        try:
            return inventory_tree(kube, name, namespace)
        except InputError:
            return node
    return ops.TreeNode(node.label, tuple(expand_releases(kube, child) for child in node.children))


def related_objects(kube: KubeClient, kind: str, name: str, namespace: str) -> list[tuple[str, str, str]]:
    """(kind, name, namespace) of the objects whose events ``flux events --for`` shows along with the object's:
    a HelmRelease's chart source and generated HelmChart, a HelmChart's source."""
    if kind == "HelmRelease":
        release = ops.get(kube, HELM_RELEASE, name, namespace)
        spec = release.get("spec", {})
        if spec.get("chartRef"):
            ref = spec["chartRef"]
            return [(str(ref.get("kind")), str(ref.get("name")), str(ref.get("namespace") or namespace))]
        source_ref = (spec.get("chart") or {}).get("spec", {}).get("sourceRef") or {}
        source_ns = str(source_ref.get("namespace") or namespace)
        related = [("HelmChart", f"{namespace}-{name}", source_ns)]
        if source_ref.get("kind") and source_ref.get("name"):
            related.insert(0, (str(source_ref["kind"]), str(source_ref["name"]), source_ns))
        return related
    if kind == "HelmChart":
        chart = ops.get(kube, HELM_CHART, name, namespace)
        ref = chart.get("spec", {}).get("sourceRef") or {}
        return [(str(ref["kind"]), str(ref["name"]), namespace)] if ref.get("kind") and ref.get("name") else []
    return []


def events_for(kube: KubeClient, namespace: str | None, for_object: str) -> list[Obj]:
    """Events about ``Kind/name`` (any case) and, for Helm kinds, the objects it reads from; or about every object of
    ``Kind``; oldest first."""
    kind, sep, name = for_object.partition("/")
    if not kind or (sep and not name):
        raise InputError(f"--for {for_object!r}: expected Kind/name or Kind, e.g. HelmRelease/podinfo")
    kind = kind_named(kind)
    if not sep:
        items = kube.list("v1", "Event", namespace, field_selector=f"involvedObject.kind={kind}").items
        return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    items = ops.events(kube, namespace, for_object=f"{kind}/{name}")
    if kind in ("HelmRelease", "HelmChart") and namespace is not None:
        for ref_kind, ref_name, ref_ns in related_objects(kube, kind, name, namespace):
            items.extend(ops.events(kube, ref_ns, for_object=f"{ref_kind}/{ref_name}"))
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
