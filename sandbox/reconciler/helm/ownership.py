"""Two Helm switches helm-controller turns on that the SDK lacks, emulated by retrying a refused action once:
take-ownership (unless ``disableTakeOwnership``: objects of the release that exist already without Helm's ownership
metadata are adopted) and forced server-side apply conflicts (fields another field manager owns are taken over by
applying the rendered objects with Helm's field manager, forced)."""

from __future__ import annotations

import os
import sys
from typing import Any

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient

Obj = dict[str, Any]
REFUSED = "cannot be imported into the current release"
CONFLICT = "conflict occurred while applying object"
MANAGED_BY = "app.kubernetes.io/managed-by"
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
HOOK = "helm.sh/hook"


def refused(message: str) -> bool:
    """Whether Helm refused the action because an object exists outside the release."""
    return REFUSED in message


def adopt(kube: KubeClient, objects: list[Obj], release: str, namespace: str) -> list[str]:
    """Write Helm's ownership metadata for ``release`` (in ``namespace``) onto those of ``objects`` (the rendered
    manifests, hooks left out) that exist without it; returns ``Kind/ns/name`` of each adopted object."""
    adopted = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if HOOK in (meta.get("annotations") or {}):
            continue
        api_version, kind, name = str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(meta.get("name", ""))
        try:
            namespaced = kube.resource(api_version, kind).namespaced
        except SandboxError:
            continue
        object_namespace = str(meta.get("namespace") or namespace) if namespaced else None
        live = kube.get_or_none(api_version, kind, name, object_namespace)
        if live is None:
            continue
        live_meta = live.get("metadata") or {}
        labels, annotations = live_meta.get("labels") or {}, live_meta.get("annotations") or {}
        if labels.get(MANAGED_BY) == "Helm" and annotations.get(RELEASE_NAME) == release and \
                annotations.get(RELEASE_NAMESPACE) == namespace:
            continue
        kube.patch(api_version, kind, name, object_namespace,
                   {"metadata": {"labels": {MANAGED_BY: "Helm"},
                                 "annotations": {RELEASE_NAME: release, RELEASE_NAMESPACE: namespace}}})
        adopted.append(f"{kind}/{object_namespace}/{name}" if object_namespace else f"{kind}/{name}")
    return adopted


def conflicted(message: str) -> bool:
    """Whether Helm's server-side apply failed on fields another field manager owns."""
    return CONFLICT in message


def helm_field_manager() -> str:
    """The field manager Helm's SDK applies with: the name of the running program (Helm takes it from its
    ``os.Args[0]``, which in this process is the interpreter's)."""
    return os.path.basename(sys.orig_argv[0] if sys.orig_argv else sys.executable) or "helm"


def force_conflicts(kube: KubeClient, objects: list[Obj], namespace: str) -> list[str]:
    """Apply ``objects`` (hooks left out) with Helm's field manager, forced: the fields other managers hold become
    Helm's, as helm-controller's ForceConflicts makes them; returns ``Kind/ns/name`` of each object applied."""
    applied = []
    manager = helm_field_manager()
    for obj in objects:
        meta = obj.get("metadata") or {}
        if HOOK in (meta.get("annotations") or {}):
            continue
        api_version, kind, name = str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(meta.get("name", ""))
        try:
            namespaced = kube.resource(api_version, kind).namespaced
        except SandboxError:
            continue
        target = {**obj, "metadata": {**meta, **({"namespace": str(meta.get("namespace") or namespace)}
                                                  if namespaced else {})}}
        if kube.get_or_none(api_version, kind, name, target["metadata"].get("namespace")) is None:
            continue  # nothing to take over: Helm creates it
        kube.apply(target, field_manager=manager, force=True)
        applied.append(f"{kind}/{target['metadata'].get('namespace')}/{name}" if namespaced else f"{kind}/{name}")
    return applied
