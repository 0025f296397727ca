"""Server-side apply of a built revision, as fluxcd/pkg/ssa does it: validate everything first, apply in stages,
detect drift by dry-run, and prune what the previous revision applied but this one no longer has."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sandbox.errors import APIError, NotFound, SandboxError
from sandbox.kube.client import KubeClient, ref
from sandbox.reconciler.kustomize import inventory, staging
from sandbox.reconciler.kustomize.changeset import Change, ChangeSet
from sandbox.waiting import wait_until

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FIELD_MANAGER = "kustomize-controller"
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
_VOLATILE_META = ("managedFields", "resourceVersion", "generation")


class ApplyError(SandboxError):
    """One or more objects could not be applied; the message lists each with the API's reason."""


def owner_labels(name: str, namespace: str) -> dict[str, str]:
    return {NAME_LABEL: name, NAMESPACE_LABEL: namespace}


def _normalized(obj: Obj) -> Obj:
    clean = copy.deepcopy(obj)
    meta = clean.get("metadata", {})
    for key in _VOLATILE_META:
        meta.pop(key, None)
    return clean


def _annotation(obj: Obj, key: str) -> str:
    return str((obj.get("metadata", {}).get("annotations") or {}).get(key, "")).lower()


@dataclass
class Applier:
    kube: KubeClient
    field_manager: str = FIELD_MANAGER
    concurrency: int = 16
    stage_timeout: float = 60.0

    def _parallel(self, function: Callable[[Obj], Any], objects: list[Obj]) -> list[Any]:
        if len(objects) <= 1:
            return [function(o) for o in objects]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(objects))) as pool:
            return list(pool.map(function, objects))

    # --- validation ------------------------------------------------------------------------------------
    def validate(self, objects: list[Obj]) -> dict[str, Obj]:
        """Check every object before anything is applied; return the dry-run results by inventory id.

        Kinds must be known to the cluster or defined by a CRD in the same set. Objects whose namespace and
        kind already exist are dry-run applied, which catches schema and admission errors.
        """
        crd_kinds = {(o.get("spec", {}).get("group"), o.get("spec", {}).get("names", {}).get("kind"))
                     for o in objects if o.get("kind") == "CustomResourceDefinition"}
        new_namespaces = {o["metadata"]["name"] for o in objects if o.get("kind") == "Namespace"}
        problems: list[str] = []
        dry_runnable: list[Obj] = []
        for obj in objects:
            api_version = str(obj.get("apiVersion", ""))
            group = api_version.rpartition("/")[0]
            try:
                info = self.kube.resource(api_version, obj["kind"])
            except NotFound:
                if (group, obj["kind"]) not in crd_kinds:
                    problems.append(f"{ref(obj)}: no matches for kind \"{obj['kind']}\" in version "
                                    f"\"{api_version}\" (is its CRD installed?)")
                continue
            namespace = obj["metadata"].get("namespace")
            if info.namespaced and namespace in new_namespaces:
                continue
            dry_runnable.append(obj)

        def dry_run(obj: Obj) -> tuple[str, Obj | str]:
            try:
                return inventory.entry_id(obj), self.kube.apply(obj, field_manager=self.field_manager, force=True,
                                                                dry_run=True)
            except APIError as err:
                return inventory.entry_id(obj), f"{ref(obj)} dry-run failed: {_reason(err)}"

        results: dict[str, Obj] = {}
        for key, outcome in self._parallel(dry_run, dry_runnable):
            if isinstance(outcome, str):
                problems.append(outcome)
            else:
                results[key] = outcome
        if problems:
            raise ApplyError("\n".join(problems))
        return results

    # --- apply -----------------------------------------------------------------------------------------
    def _existing(self, objects: list[Obj], owner: dict[str, str]) -> dict[str, Obj]:
        """Objects of these kinds that carry our owner labels, by inventory id (one LIST per kind)."""
        selector = ",".join(f"{k}={v}" for k, v in owner.items())
        found: dict[str, Obj] = {}
        for api_version, kind in sorted({(o["apiVersion"], o["kind"]) for o in objects}):
            try:
                items = self.kube.list(api_version, kind, None, label_selector=selector).items
            except NotFound:
                continue
            for item in items:
                found[inventory.entry_id(item)] = item
        return found

    def apply_all(self, objects: list[Obj], *, owner: dict[str, str], force: bool = False,
                  dry_run_results: dict[str, Obj] | None = None) -> ChangeSet:
        """Apply ``objects`` in Flux's stages; unchanged objects are not written."""
        dry_runs = dict(dry_run_results or {})
        existing = self._existing(objects, owner)
        changes: list[Change] = []
        errors: list[str] = []

        def apply_one(obj: Obj) -> Change | str:
            key = inventory.entry_id(obj)
            subject = ref(obj)
            before = existing.get(key)
            if before is not None and _annotation(before, "kustomize.toolkit.fluxcd.io/reconcile") == "disabled":
                return Change(subject, "skipped")
            mode = _annotation(obj, "kustomize.toolkit.fluxcd.io/ssa")
            if mode == "ignore" or (mode == "ifnotpresent" and before is not None):
                return Change(subject, "skipped")
            preview = dry_runs.get(key)
            if before is not None and preview is not None and _normalized(preview) == _normalized(before):
                return Change(subject, "unchanged")
            try:
                self._apply_forcing_if_needed(obj, force or _annotation(obj, "kustomize.toolkit.fluxcd.io/force")
                                              == "enabled")
            except APIError as err:
                return f"{subject} apply failed: {_reason(err)}"
            return Change(subject, "configured" if before is not None else "created")

        for stage in staging.stages(objects):
            for outcome in self._parallel(apply_one, stage):
                if isinstance(outcome, str):
                    errors.append(outcome)
                else:
                    changes.append(outcome)
            if errors:
                break
            self._wait_for_stage(stage)
        result = ChangeSet(changes)
        if errors:
            raise ApplyError("\n".join(errors) + (f"\n(before the failure: {result.summary()})"
                                                  if result.changed() else ""))
        return result

    def _apply_forcing_if_needed(self, obj: Obj, force: bool) -> None:
        try:
            self.kube.apply(obj, field_manager=self.field_manager, force=True)
        except APIError as err:
            if not (force and err.status == 422 and "immutable" in str(err)):
                raise
            meta = obj["metadata"]
            log.info("recreating %s: immutable field changed and force is enabled", ref(obj))
            self.kube.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                             propagation="Foreground")
            wait_until(lambda: self.kube.get_or_none(obj["apiVersion"], obj["kind"], meta["name"],
                                                     meta.get("namespace")) is None,
                       timeout=self.stage_timeout, what=f"{ref(obj)} to be deleted before it is recreated")
            self.kube.apply(obj, field_manager=self.field_manager, force=True)

    def _wait_for_stage(self, stage: list[Obj]) -> None:
        """CRDs must be Established before their custom resources are applied."""
        crds = [o for o in stage if o.get("kind") == "CustomResourceDefinition"]

        def established() -> bool:
            for crd in crds:
                live = self.kube.get_or_none(crd["apiVersion"], "CustomResourceDefinition", crd["metadata"]["name"])
                conditions = (live or {}).get("status", {}).get("conditions", [])
                if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                    return False
            return True

        if crds:
            wait_until(established, timeout=self.stage_timeout, what="CRDs to be established",
                       describe=lambda: ", ".join(c["metadata"]["name"] for c in crds))

    # --- prune -----------------------------------------------------------------------------------------
    def prune(self, stale: list[dict[str, str]], *, owner: dict[str, str]) -> ChangeSet:
        """Delete stale inventory entries (``{id, v}``) whose objects still carry our owner labels, in reverse
        apply order."""
        changes: list[Change] = []
        errors: list[str] = []
        for entry in inventory.prune_order(stale):
            target = inventory.parse_entry(entry)
            try:
                live = self.kube.get_or_none(target.api_version, target.kind, target.name, target.namespace or None)
            except NotFound:
                live = None
            if live is None:
                continue
            labels = live.get("metadata", {}).get("labels") or {}
            subject = ref(live)
            if any(labels.get(k) != v for k, v in owner.items()):
                changes.append(Change(subject, "skipped"))
                continue
            if _annotation(live, "kustomize.toolkit.fluxcd.io/prune") == "disabled" or \
                    _annotation(live, "kustomize.toolkit.fluxcd.io/reconcile") == "disabled" or \
                    _annotation(live, "kustomize.toolkit.fluxcd.io/ssa") == "ignore":
                changes.append(Change(subject, "skipped"))
                continue
            try:
                self.kube.delete(target.api_version, target.kind, target.name, target.namespace or None)
                changes.append(Change(subject, "deleted"))
            except APIError as err:
                errors.append(f"{subject} delete failed: {_reason(err)}")
        if errors:
            raise ApplyError("\n".join(errors))
        return ChangeSet(changes)


def _reason(err: APIError) -> str:
    text = str(err)
    _, sep, rest = text.partition(": ")
    return rest if sep else text

