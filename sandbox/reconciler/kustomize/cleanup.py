"""Metadata cleanup before apply, as kustomize-controller configures fluxcd/pkg/ssa: fields that ``kubectl``
(apply, edit, patch — client- or server-side), ``before-first-apply`` or the controller's own pre-SSA updates own
are handed to the controller's apply entry, so the next apply removes what git does not have (drift correction
reverts ``kubectl edit`` additions too); the last-applied annotation and Flux v1 leftovers go. Objects marked
``kustomize.toolkit.fluxcd.io/ssa: Merge`` keep everything."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sandbox.reconciler.kustomize import inventory

Obj = dict[str, Any]

ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "kustomize.toolkit.fluxcd.io/checksum",
               "fluxcd.io/sync-checksum")
LABELS = ("fluxcd.io/sync-gc-mark",)


@dataclass(frozen=True)
class FieldManager:
    name: str  # a prefix: "kubectl" matches kubectl-edit, kubectl-client-side-apply, ...
    operation: str  # Apply | Update


def disallowed(controller: str) -> tuple[FieldManager, ...]:
    return (FieldManager("kubectl", "Apply"), FieldManager("kubectl", "Update"),
            FieldManager("before-first-apply", "Update"), FieldManager(controller, "Update"))


def _matches(entry: Obj, manager: FieldManager) -> bool:
    return (entry.get("operation") == manager.operation and not entry.get("subresource")
            and str(entry.get("manager", "")).startswith(manager.name))


def merge_fields(left: Obj, right: Obj) -> Obj:
    """The union of two ``fieldsV1`` tries."""
    merged = copy.deepcopy(left)
    for key, value in right.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_fields(merged[key], value)
        else:
            merged.setdefault(key, copy.deepcopy(value))
    return merged


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def patch(desired: Obj, live: Obj, controller: str) -> list[Obj]:
    """The JSON patch that cleans ``live`` up before ``desired`` is applied by ``controller`` ([] when nothing
    needs doing)."""
    meta = live.get("metadata") or {}
    if any(inventory.any_in_metadata(obj, inventory.SSA_KEY, "Merge") for obj in (desired, live)):
        return []
    operations: list[Obj] = []
    for key in ANNOTATIONS:
        if key in (meta.get("annotations") or {}):
            operations.append({"op": "remove", "path": f"/metadata/annotations/{_escape(key)}"})
    for key in LABELS:
        if key in (meta.get("labels") or {}):
            operations.append({"op": "remove", "path": f"/metadata/labels/{_escape(key)}"})
    managers = disallowed(controller)
    entries = meta.get("managedFields") or []
    ours = next((e for e in entries if e.get("manager") == controller and e.get("operation") == "Apply"
                 and not e.get("subresource")), None)
    kept: list[Obj] = []
    edited = False
    for entry in entries:
        if entry is ours:
            continue
        if any(_matches(entry, m) for m in managers):
            edited = True
            if ours is None:  # no apply entry of ours yet: the first match becomes it
                ours = {**entry, "manager": controller, "operation": "Apply"}
            else:
                ours = {**ours, "fieldsV1": merge_fields(ours.get("fieldsV1") or {}, entry.get("fieldsV1") or {})}
            continue
        kept.append(entry)
    if edited and ours is not None:
        operations.append({"op": "replace", "path": "/metadata/managedFields", "value": [*kept, ours]})
    return operations
