"""Flux's apply order (fluxcd/pkg ``ssa``): which objects go in which stage, and their order within one.

Stage 1 holds the cluster definitions — CustomResourceDefinitions (``apiextensions.k8s.io``), Namespaces
(``v1``) and ClusterRoles (``rbac.authorization.k8s.io``); ClusterRoleBindings are *not* in it. Stage 2 holds
every kind whose name ends in ``Class`` (StorageClass, IngressClass, PriorityClass, RuntimeClass,
GatewayClass, ...). Optional custom stage kinds come next, then everything else. The controller applies a
stage and waits for its objects to be ready before the next one. Within a stage objects are sorted by Flux's
kind order, then group and kind, then namespace and name, so the order never depends on the input's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sandbox.reconciler.kustomize import manifest
from sandbox.reconciler.kustomize.manifest import Obj

# fluxcd/pkg ssa.ReconcileOrder: kinds listed first in this order, the last ones at the very end, every
# other kind in between (ordered by group, then kind).
KIND_ORDER_FIRST = (
    "CustomResourceDefinition", "Namespace", "ClusterClass", "RuntimeClass", "PriorityClass", "StorageClass",
    "VolumeSnapshotClass", "IngressClass", "GatewayClass", "ResourceQuota", "ServiceAccount", "Role",
    "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret", "Service", "LimitRange",
    "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
)
KIND_ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

_RANK = {kind: index - len(KIND_ORDER_FIRST) for index, kind in enumerate(KIND_ORDER_FIRST)}
_RANK.update({kind: index + 1 for index, kind in enumerate(KIND_ORDER_LAST)})


def kind_rank(kind: str) -> int:
    """Negative for the kinds Flux applies first, 0 for unlisted kinds, positive for the webhooks."""
    return _RANK.get(kind, 0)


def sort_key(obj: Obj) -> tuple[int, str, str, str, str]:
    meta = manifest.metadata(obj)
    kind = str(obj.get("kind", ""))
    return (kind_rank(kind), manifest.api_group(manifest.api_version_of(obj)), kind,
            str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def sort_objects(objects: Iterable[Obj]) -> list[Obj]:
    """Objects in Flux's apply order (``ssa.SortableUnstructureds``)."""
    return sorted(objects, key=sort_key)


def is_cluster_definition(obj: Obj) -> bool:
    """A CustomResourceDefinition, a Namespace or a ClusterRole: the first stage."""
    kind = str(obj.get("kind", "")).lower()
    api_version = manifest.api_version_of(obj)
    return ((kind == "customresourcedefinition" and api_version.startswith("apiextensions.k8s.io/"))
            or (kind == "namespace" and api_version == "v1")
            or (kind == "clusterrole" and api_version.startswith("rbac.authorization.k8s.io/")))


def is_class_definition(obj: Obj) -> bool:
    """Any kind whose name ends in ``Class``: the second stage."""
    return str(obj.get("kind", "")).endswith("Class")


def stages(objects: Iterable[Obj], custom_stage_kinds: Collection[tuple[str, str]] = ()) -> list[list[Obj]]:
    """The objects split into Flux's apply stages, each sorted; empty stages are left out.

    ``custom_stage_kinds`` is a set of ``(group, kind)`` applied after the ``*Class`` kinds and before the rest
    (kustomize-controller's ``--custom-apply-stage-kinds``). Apply every stage but the last, then wait for its
    objects to become ready, before applying the next.
    """
    buckets: list[list[Obj]] = [[], [], [], []]
    for obj in objects:
        group_kind = (manifest.api_group(manifest.api_version_of(obj)), str(obj.get("kind", "")))
        if is_cluster_definition(obj):
            buckets[0].append(obj)
        elif is_class_definition(obj):
            buckets[1].append(obj)
        elif group_kind in custom_stage_kinds:
            buckets[2].append(obj)
        else:
            buckets[3].append(obj)
    return [sort_objects(bucket) for bucket in buckets if bucket]
