"""What reconciling a Kustomization with a given source tree would change, without changing anything: the
controller's own render (``pipeline.render``) and validation (``Applier.validate``: the server-side dry-run of every
object), then per object the decision ``apply_all`` would take, and the stale objects ``prune`` would delete —
``flux diff kustomization`` semantics."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sandbox.errors import APIError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.kustomize import apply, decrypt, ignore, inventory, pipeline, substitute
from sandbox.reconciler.kustomize.apply import Applier
from sandbox.reconciler.kustomize.inventory import ApplyPolicy
from sandbox.reconciler.runtime.jsondiff import IgnoreRules
from sandbox.reconciler.runtime.objectdiff import Action, DiffReport, ObjectDiff, sort_by_subject

Obj = dict[str, Any]


def substitutions(kube: KubeClient, kustomization: Obj) -> dict[tuple[str, str], Obj | None]:
    """The ConfigMaps and Secrets ``postBuild.substituteFrom`` names, read from the cluster as the controller
    reads them (None for those that do not exist)."""
    namespace = kustomization["metadata"]["namespace"]
    return {(reference.kind, reference.name): kube.get_or_none("v1", reference.kind, reference.name, namespace)
            for reference in substitute.references(kustomization.get("spec") or {})}


def decryption_keys(kube: KubeClient, kustomization: Obj) -> decrypt.Keys | None:
    """The SOPS keys of ``spec.decryption.secretRef``, read from the cluster as the controller reads them."""
    name = decrypt.secret_name(kustomization.get("spec") or {})
    if name is None:
        return None
    namespace = kustomization["metadata"]["namespace"]
    return decrypt.keys_from_secret(kube.get_or_none("v1", "Secret", name, namespace), name, namespace)


def render(kube: KubeClient, kustomization: Obj, source_root: Path, *,
           strict: bool = substitute.STRICT_BY_DEFAULT) -> list[Obj]:
    """The objects the controller would apply for ``kustomization`` built from ``source_root``."""
    scratch = Path(tempfile.mkdtemp(prefix="sandbox-diff-"))
    try:
        return pipeline.render(source_root, kustomization, scratch, fetched=substitutions(kube, kustomization),
                               strict=strict, keys=decryption_keys(kube, kustomization)).objects
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def preview(kube: KubeClient, kustomization: Obj, objects: list[Obj], *, applier: Applier | None = None) -> DiffReport:
    """Compare ``objects`` (from ``render``) with the cluster. Raises ApplyError when the server-side dry-run
    refuses an object: the controller would then apply nothing of the revision."""
    spec, meta = kustomization.get("spec") or {}, kustomization["metadata"]
    force = bool(spec.get("force"))
    rules = IgnoreRules.parse(spec.get("ignore"), where="spec.ignore")
    applier = applier or Applier(kube, remember_in_sync=False)
    dry_runs = applier.validate(objects, force=force)

    def outcome(obj: Obj) -> ObjectDiff | str:
        key = inventory.object_metadata(obj).id
        result = dry_runs.get(key)
        obj_meta = obj["metadata"]
        try:
            live = kube.get_or_none(obj["apiVersion"], obj["kind"], obj_meta["name"], obj_meta.get("namespace"))
        except APIError as err:
            if key not in dry_runs:  # a kind a CRD of the same revision defines
                live = None
            else:
                return f"{ObjectDiff.of(Action.UNCHANGED, obj).subject}: {err}"
        decision = inventory.apply_decision(obj, live, force=force)
        if decision.policy is ApplyPolicy.SKIP:
            return ObjectDiff.of(Action.SKIPPED, obj, reason=decision.reason)
        if live is None:
            return ObjectDiff.of(Action.CREATED, obj)
        if result is None:  # an immutable field changed and force is on: deleted and created again
            return ObjectDiff.of(Action.CONFIGURED, obj, live, obj, reason="recreated: immutable field changed")
        if apply.drifted_ignoring(live, result, ignore.paths(rules, result)):
            return ObjectDiff.of(Action.CONFIGURED, obj, live, result)
        return ObjectDiff.of(Action.UNCHANGED, obj)

    items: list[ObjectDiff] = []
    errors: list[str] = []
    for found in applier.parallel(outcome, objects):
        if isinstance(found, str):
            errors.append(found)
        else:
            items.append(found)
    if spec.get("prune"):
        old = ((kustomization.get("status") or {}).get("inventory") or {}).get("entries") or []
        items += _pruned(kube, inventory.diff(old, objects), meta["name"], meta["namespace"])
    return DiffReport(sort_by_subject(items), tuple(errors))


def _pruned(kube: KubeClient, stale: list[dict[str, str]], name: str, namespace: str) -> list[ObjectDiff]:
    """What prune would do with each stale inventory entry (nothing for objects already gone)."""
    found = []
    for entry in stale:
        target = inventory.reference(entry)
        target_meta = target["metadata"]
        try:
            live = kube.get_or_none(target["apiVersion"], target["kind"], target_meta["name"],
                                    target_meta.get("namespace"))
        except APIError:
            live = None  # the kind itself is gone
        if live is None:
            continue
        decision = inventory.prune_decision(live, name, namespace)
        found.append(ObjectDiff.of(Action.DELETED if decision.delete else Action.SKIPPED, target,
                                   reason="" if decision.delete else decision.reason))
    return found

