"""What the flux-like CLI verbs do, as library functions: list objects with their status, request a reconcile
and wait for it, suspend/resume, events, the inventory tree, and manifests for new sources and Kustomizations."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import InputError, NotFound, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis import kinds as served_kinds
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.reconciler.runtime.timeutil import parse_duration, rfc3339_nano
from sandbox.waiting import wait_until

Obj = dict[str, Any]


@dataclass(frozen=True)
class KindRef:
    api_version: str
    kind: str
    noun: str  # CLI words: "source git", "kustomization"


GIT_REPOSITORY = KindRef("source.toolkit.fluxcd.io/v1", "GitRepository", "source git")
KUSTOMIZATION = KindRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "kustomization")
RECEIVER = KindRef("notification.toolkit.fluxcd.io/v1", "Receiver", "receiver")
OCI_REPOSITORY = KindRef("source.toolkit.fluxcd.io/v1", "OCIRepository", "source oci")
SOURCES = [GIT_REPOSITORY, OCI_REPOSITORY]
ALL = [*SOURCES, KUSTOMIZATION, RECEIVER]  # the kinds the CLI's reconcile/suspend/create commands act on
BY_KIND = {k.kind: k for k in ALL}
# Every Flux kind served, for listings: kinds without a controller here show up too, with their NotSupported status.
EVERY_KIND = [BY_KIND.get(k.kind) or KindRef(k.api_version, k.kind, k.singular) for k in served_kinds.ALL]
EVERY_SOURCE = [k for k in EVERY_KIND if k.api_version.startswith(served_kinds.SOURCE_GROUP)]


def ready_condition(obj: Obj) -> Obj:
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return {"status": "Unknown", "message": "waiting to be reconciled", "reason": ""}


def revision_of(obj: Obj) -> str:
    status = obj.get("status", {})
    if obj.get("kind") == "Kustomization":
        return str(status.get("lastAppliedRevision", ""))
    artifact = status.get("artifact") or {}
    return str(artifact.get("revision", ""))


def _age(obj: Obj) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return ""
    then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def summarize(obj: Obj) -> dict[str, Any]:
    ready = ready_condition(obj)
    meta = obj["metadata"]
    return {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
            "ready": ready.get("status"), "reason": ready.get("reason", ""), "message": ready.get("message", ""),
            "revision": revision_of(obj), "suspended": bool(obj.get("spec", {}).get("suspend")), "age": _age(obj),
            "terminating": bool(meta.get("deletionTimestamp"))}


def list_objects(kube: KubeClient, kinds: list[KindRef], namespace: str | None) -> list[Obj]:
    """Objects of ``kinds`` in ``namespace`` (None: all namespaces)."""
    found = []
    for kind in kinds:
        try:
            found.extend(kube.list(kind.api_version, kind.kind, namespace).items)
        except NotFound as err:
            raise SandboxError(f"{kind.kind} is not installed in this cluster: run `sandbox install`") from err
    return found


def get(kube: KubeClient, kind: KindRef, name: str, namespace: str) -> Obj:
    try:
        return kube.get(kind.api_version, kind.kind, name, namespace)
    except NotFound as err:
        raise InputError(f"{kind.kind}/{namespace}/{name} not found; list them with `sandbox get all -A`") from err


def source_of(kube: KubeClient, name: str, namespace: str) -> tuple[KindRef, str, str]:
    """The source (kind, name, namespace) a Kustomization reads from."""
    ks = get(kube, KUSTOMIZATION, name, namespace)
    source_ref = ks.get("spec", {}).get("sourceRef") or {}
    kind = BY_KIND.get(source_ref.get("kind", ""))
    if kind is None:
        raise InputError(f"Kustomization/{namespace}/{name}: source kind {source_ref.get('kind')!r} is not "
                         "supported by the sandbox reconciler")
    return kind, str(source_ref.get("name", "")), str(source_ref.get("namespace") or namespace)


def request_reconcile(kube: KubeClient, kind: KindRef, name: str, namespace: str, *, timeout: float = 120,
                      also_annotate: tuple[str, ...] = ()) -> Obj:
    """Annotate with requestedAt (and each of ``also_annotate``, e.g. a HelmRelease's forceAt, with the same token)
    and wait until the reconciler has handled it; return the object.

    Raises SandboxError with the Ready message when the reconcile ends with Ready=False.
    """
    obj = get(kube, kind, name, namespace)
    if obj.get("spec", {}).get("suspend"):
        raise InputError(f"{kind.kind}/{namespace}/{name} is suspended: run `sandbox resume {kind.noun} {name}`")
    stamp = rfc3339_nano()
    annotations = {key: stamp for key in (REQUESTED_AT, *also_annotate)}
    kube.patch(kind.api_version, kind.kind, name, namespace, {"metadata": {"annotations": annotations}})

    def handled() -> Obj | None:
        current = kube.get(kind.api_version, kind.kind, name, namespace)
        status = current.get("status", {})
        if status.get("lastHandledReconcileAt") != stamp:
            return None
        if ready_condition(current).get("status") == "Unknown":
            return None
        return current

    def describe() -> str:
        current = kube.get(kind.api_version, kind.kind, name, namespace)
        ready = ready_condition(current)
        return f"Ready={ready.get('status')} {ready.get('message', '')}".strip()

    final = wait_until(handled, timeout=timeout, what=f"{kind.kind}/{namespace}/{name} to be reconciled",
                       interval=0.05, max_interval=0.25, describe=describe,
                       hint="is the reconciler running? (`sandbox status`, `sandbox logs`)")
    ready = ready_condition(final)
    if ready.get("status") != "True":
        raise SandboxError(f"{kind.kind}/{namespace}/{name} reconciliation failed: {ready.get('message', '')}")
    return final


def set_suspended(kube: KubeClient, kind: KindRef, name: str, namespace: str, suspended: bool) -> Obj:
    get(kube, kind, name, namespace)
    patch: Obj = {"spec": {"suspend": suspended}}
    return kube.patch(kind.api_version, kind.kind, name, namespace, patch)


def events(kube: KubeClient, namespace: str | None, *, for_object: str | None = None) -> list[Obj]:
    """Core Events, oldest first; ``for_object`` is ``Kind/name``."""
    field_selector = ""
    if for_object:
        kind, sep, name = for_object.partition("/")
        if not sep or not name:
            raise InputError(f"--for {for_object!r}: expected Kind/name, e.g. Kustomization/apps")
        field_selector = f"involvedObject.kind={kind},involvedObject.name={name}"
    items = kube.list("v1", "Event", namespace, field_selector=field_selector).items
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


@dataclass(frozen=True)
class TreeNode:
    label: str
    children: tuple[TreeNode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.label, "children": [c.to_dict() for c in self.children]}


def parse_inventory_id(entry: str) -> tuple[str, str, str, str]:
    """``<ns>_<name>_<group>_<Kind>`` -> (namespace, name, group, kind)."""
    parts = entry.split("_")
    if len(parts) < 4:
        raise InputError(f"malformed inventory entry {entry!r}")
    namespace, kind, group = parts[0], parts[-1], parts[-2]
    name = "_".join(parts[1:-2])
    return namespace, name, group, kind


def tree(kube: KubeClient, name: str, namespace: str, depth: int = 0) -> TreeNode:
    """The Kustomization and what its inventory holds, nested Kustomizations expanded."""
    ks = get(kube, KUSTOMIZATION, name, namespace)
    children = []
    for entry in (ks.get("status", {}).get("inventory") or {}).get("entries", []):
        obj_ns, obj_name, group, kind = parse_inventory_id(entry["id"])
        label = f"{kind}/{obj_ns}/{obj_name}" if obj_ns else f"{kind}/{obj_name}"
        if kind == "Kustomization" and group == "kustomize.toolkit.fluxcd.io" and depth < 10:
            children.append(tree(kube, obj_name, obj_ns, depth + 1))
        else:
            children.append(TreeNode(label))
    return TreeNode(f"Kustomization/{namespace}/{name}", tuple(children))


def git_source_manifest(name: str, namespace: str, url: str, *, branch: str | None, tag: str | None,
                        semver: str | None, interval: str, secret_ref: str | None, ignore: str | None) -> Obj:
    parse_duration(interval, field="--interval")
    ref: Obj = {}
    if semver:
        ref["semver"] = semver
    elif tag:
        ref["tag"] = tag
    else:
        ref["branch"] = branch or "master"
    spec: Obj = {"interval": interval, "url": url, "ref": ref}
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    if ignore:
        spec["ignore"] = ignore
    return {"apiVersion": GIT_REPOSITORY.api_version, "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def kustomization_manifest(name: str, namespace: str, *, source: str, path: str, interval: str, prune: bool,
                           wait: bool, target_namespace: str | None, depends_on: list[str],
                           timeout: str | None) -> Obj:
    parse_duration(interval, field="--interval")
    kind, sep, source_name = source.partition("/")
    if not sep:
        kind, source_name = "GitRepository", source
    source_ns = None
    if "." in source_name:
        source_name, source_ns = source_name.split(".", 1)
    source_ref: Obj = {"kind": kind, "name": source_name}
    if source_ns:
        source_ref["namespace"] = source_ns
    spec: Obj = {"interval": interval, "path": path, "prune": prune, "sourceRef": source_ref}
    if wait:
        spec["wait"] = True
    if timeout:
        parse_duration(timeout, field="--timeout")
        spec["timeout"] = timeout
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    return {"apiVersion": KUSTOMIZATION.api_version, "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def read_logs(log_file: Path, *, level: str | None = None, kind: str | None = None, name: str | None = None,
              tail: int | None = None) -> list[Obj]:
    """Parsed JSON log lines of the reconciler, filtered."""
    if not log_file.exists():
        raise InputError(f"no reconciler log at {log_file}: is the reconciler running? (`sandbox status`)")
    entries = []
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"level": "info", "msg": line}
        if level and entry.get("level") != level:
            continue
        text = json.dumps(entry)
        if kind and kind.lower() not in text.lower():
            continue
        if name and name not in text:
            continue
        entries.append(entry)
    return entries[-tail:] if tail else entries
