"""The Kustomization inventory (``status.inventory``), ownership, and the per-object apply and prune policies.

An entry is ``{"id": "<namespace>_<name>_<group>_<Kind>", "v": "<version>"}`` — the ObjMetadata format of
kstatus: the core group is the empty string (``default_web__ConfigMap``), cluster-scoped objects have an empty
namespace (``_apps__Namespace``), and a ``:`` in a name is written ``__`` (RBAC names such as
``system:reader``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbox.reconciler.kustomize import manifest, staging
from sandbox.reconciler.kustomize.errors import BuildError
from sandbox.reconciler.kustomize.manifest import Obj

GROUP = "kustomize.toolkit.fluxcd.io"
NAME_LABEL = f"{GROUP}/name"
NAMESPACE_LABEL = f"{GROUP}/namespace"
PRUNE_KEY = f"{GROUP}/prune"
RECONCILE_KEY = f"{GROUP}/reconcile"
SSA_KEY = f"{GROUP}/ssa"
FORCE_KEY = f"{GROUP}/force"


@dataclass(frozen=True, order=True)
class ObjMetadata:
    """What identifies an object across versions: namespace, name, API group and kind."""

    namespace: str
    name: str
    group: str
    kind: str

    @property
    def id(self) -> str:
        return f"{self.namespace}_{self.name.replace(':', '__')}_{self.group}_{self.kind}"

    @property
    def subject(self) -> str:
        """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped), as in Flux messages."""
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def object_metadata(obj: Obj) -> ObjMetadata:
    meta = manifest.metadata(obj)
    return ObjMetadata(namespace=str(meta.get("namespace") or ""), name=str(meta.get("name") or ""),
                       group=manifest.api_group(manifest.api_version_of(obj)), kind=str(obj.get("kind", "")))


def parse_id(entry_id: str) -> ObjMetadata:
    """The inverse of ``ObjMetadata.id``; names may contain ``_`` (only the first and the last two fields
    are split off)."""
    namespace, sep, rest = entry_id.partition("_")
    rest, sep2, kind = rest.rpartition("_")
    name, sep3, group = rest.rpartition("_")
    if not (sep and sep2 and sep3) or not name or not kind:
        raise BuildError(f"inventory entry {entry_id!r} is not <namespace>_<name>_<group>_<Kind>")
    return ObjMetadata(namespace=namespace, name=name.replace("__", ":"), group=group, kind=kind)


def entry(obj: Obj) -> dict[str, str]:
    """The inventory entry of an applied object."""
    return {"id": object_metadata(obj).id, "v": manifest.api_version_of(obj).rpartition("/")[2]}


def entries(objects: Iterable[Obj]) -> list[dict[str, str]]:
    """Inventory entries for the applied objects, in the order given (Flux records them in apply order)."""
    return [entry(obj) for obj in objects]


def reference(item: Mapping[str, Any]) -> Obj:
    """A minimal object (apiVersion, kind, metadata.name/namespace) for an inventory entry: enough to GET or
    DELETE it."""
    meta = parse_id(str(item["id"]))
    version = str(item.get("v") or "")
    metadata: dict[str, str] = {"name": meta.name}
    if meta.namespace:
        metadata["namespace"] = meta.namespace
    return {"apiVersion": f"{meta.group}/{version}" if meta.group else version, "kind": meta.kind,
            "metadata": metadata}


def diff(old_entries: Iterable[Mapping[str, Any]], new_objects: Iterable[Obj]) -> list[dict[str, str]]:
    """Entries of the old inventory whose object is not in the new build: the stale objects.

    Objects are compared by namespace, name, group and kind — a new API version of the same object is not
    stale. The result is in apply order (see ``prune_order`` for deletion).
    """
    current = {object_metadata(obj) for obj in new_objects}
    stale = [dict(item) for item in old_entries if parse_id(str(item["id"])) not in current]
    return sorted(stale, key=lambda item: staging.sort_key(reference(item)))


def prune_order(stale: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Deletion order: the reverse of apply order, so webhooks go first and Namespaces and CRDs last."""
    return sorted((dict(item) for item in stale), key=lambda item: staging.sort_key(reference(item)),
                  reverse=True)


# --- ownership -------------------------------------------------------------------------------------------

def owner_labels(name: str, namespace: str) -> dict[str, str]:
    return {NAME_LABEL: name, NAMESPACE_LABEL: namespace}


def set_owner_labels(objects: Iterable[Obj], name: str, namespace: str) -> list[Obj]:
    """Label every object with the Kustomization that owns it (``ssa.SetOwnerLabels``)."""
    result = list(objects)
    for obj in result:
        meta = obj.setdefault("metadata", {})
        labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
        meta["labels"] = {**labels, **owner_labels(name, namespace)}
    return result


def is_owned(obj: Obj, name: str, namespace: str) -> bool:
    """True when the live object carries both owner labels of this Kustomization."""
    labels = manifest.string_map(obj, "labels")
    return labels.get(NAME_LABEL) == name and labels.get(NAMESPACE_LABEL) == namespace


def any_in_metadata(obj: Obj, key: str, value: str) -> bool:
    """Flux's ``AnyInMetadata``: the label or the annotation equals ``value``, ignoring case."""
    for field in ("labels", "annotations"):
        found = manifest.string_map(obj, field).get(key, "")
        if found and found.lower() == value.lower():
            return True
    return False


# --- apply and prune policies ----------------------------------------------------------------------------

class ApplyPolicy(StrEnum):
    """How one object is applied (``kustomize.toolkit.fluxcd.io/ssa`` and ``/reconcile``)."""

    OVERRIDE = "Override"  # the default: apply, remove kubectl's managed fields so drift is reverted
    MERGE = "Merge"  # apply, but keep fields other managers set (no managed-fields cleanup)
    SKIP = "Skip"  # not applied: recorded as ``skipped``


@dataclass(frozen=True)
class ApplyDecision:
    policy: ApplyPolicy
    force: bool  # recreate the object when an immutable field changes
    reason: str = ""


def apply_decision(desired: Obj, existing: Obj | None, *, force: bool = False) -> ApplyDecision:
    """What to do with ``desired`` given the live object (None when absent), as Flux decides it.

    Skipped: ``reconcile: disabled`` or ``ssa: Ignore`` on either object, or ``ssa: IfNotPresent`` on the
    desired object when the live one exists. Forced (recreate on immutable-field errors): ``spec.force`` or
    ``force: enabled`` on either object. ``ssa: Merge`` on either object keeps other managers' fields.
    """
    both = [desired] if existing is None else [desired, existing]
    if any(any_in_metadata(obj, RECONCILE_KEY, "disabled") for obj in both):
        return ApplyDecision(ApplyPolicy.SKIP, False, "reconcile: disabled")
    if any(any_in_metadata(obj, SSA_KEY, "Ignore") for obj in both):
        return ApplyDecision(ApplyPolicy.SKIP, False, "ssa: Ignore")
    if existing is not None and manifest.metadata(existing).get("uid") and \
            any_in_metadata(desired, SSA_KEY, "IfNotPresent"):
        return ApplyDecision(ApplyPolicy.SKIP, False, "ssa: IfNotPresent and the object exists")
    forced = force or any(any_in_metadata(obj, FORCE_KEY, "Enabled") for obj in both)
    if any(any_in_metadata(obj, SSA_KEY, "Merge") for obj in both):
        return ApplyDecision(ApplyPolicy.MERGE, forced)
    return ApplyDecision(ApplyPolicy.OVERRIDE, forced)


@dataclass(frozen=True)
class PruneDecision:
    delete: bool
    reason: str = ""


def prune_decision(live: Obj | None, name: str, namespace: str) -> PruneDecision:
    """Whether to delete a stale object, given its live state (None when it is already gone).

    Only objects that still carry this Kustomization's owner labels are deleted — never others; objects with
    ``prune: disabled``, ``reconcile: disabled`` or ``ssa: Ignore`` are kept (recorded as ``skipped``).
    """
    if live is None:
        return PruneDecision(False, "already gone")
    if not is_owned(live, name, namespace):
        return PruneDecision(False, f"not labelled as owned by Kustomization {namespace}/{name}")
    for key, value in ((PRUNE_KEY, "disabled"), (RECONCILE_KEY, "disabled"), (SSA_KEY, "Ignore")):
        if any_in_metadata(live, key, value):
            return PruneDecision(False, f"{key.rpartition('/')[2]}: {value}")
    return PruneDecision(True)
