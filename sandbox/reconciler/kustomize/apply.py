"""Server-side apply of a built revision, as fluxcd/pkg/ssa does it: validate everything first, apply in stages,
detect drift by dry-run, and prune what the previous revision applied but this one no longer has."""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import APIError, Forbidden, NotFound, SandboxError, WaitTimeout
from sandbox.kube.client import KubeClient, ref
from sandbox.reconciler.kustomize import cleanup, health, ignore, insync, inventory, staging
from sandbox.reconciler.kustomize.changeset import Action, Change, ChangeSet
from sandbox.reconciler.kustomize.inventory import ApplyPolicy
from sandbox.reconciler.runtime.jsondiff import IgnoreRules
from sandbox.waiting import wait_until

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FIELD_MANAGER = "kustomize-controller"
DEADLINE_EXCEEDED = "context deadline exceeded"  # how Go words a reconcile that ran out of its timeout
PRUNE_LIST_OVER = 20  # stale objects of one kind beyond which prune LISTs them instead of a GET each


class ApplyError(SandboxError):
    """One or more objects could not be applied; the message lists each with the API's reason."""


class PruneError(ApplyError):
    """Stale objects could not be deleted; ``failed`` holds their inventory entries, which stay in the inventory so
    that the next reconcile tries again."""

    def __init__(self, message: str, failed: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.failed = failed


def drifted_ignoring(live: Obj, dry_run: Obj, pointers: list[str]) -> bool:
    """``drifted``, leaving out the values at ``pointers`` (a Kustomization's ``spec.ignore``) on both sides."""
    if not pointers:
        return drifted(live, dry_run)
    return drifted(ignore.without(live, pointers), ignore.without(dry_run, pointers))


def drifted(live: Obj, dry_run: Obj) -> bool:
    """Whether applying would change ``live``, judged from the server-side dry-run result as fluxcd/pkg/ssa's
    hasDrifted judges it: labels, annotations, and everything outside ``metadata`` and ``status`` (a status that
    moved on between the two reads is not drift)."""
    def meta(obj: Obj, key: str) -> Any:
        return (obj.get("metadata") or {}).get(key) or {}

    def body(obj: Obj) -> Obj:
        return {key: value for key, value in obj.items() if key not in ("metadata", "status")}

    return (meta(live, "labels") != meta(dry_run, "labels") or meta(live, "annotations") != meta(dry_run, "annotations")
            or body(live) != body(dry_run))


@dataclass
class Applier:
    kube: KubeClient
    field_manager: str = FIELD_MANAGER
    concurrency: int = 16
    stage_timeout: float = 60.0  # fluxcd/pkg/ssa's default wait; a Kustomization passes its own deadline instead
    # Skip the dry-run of objects known to be in sync (see ``insync``): what makes a drift check of thousands of
    # unchanged objects take seconds instead of one dry-run request each.
    remember_in_sync: bool = True
    memory: insync.Memory = field(default_factory=insync.Memory)
    _fingerprints: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def parallel(self, function: Callable[[Obj], Any], objects: list[Obj]) -> list[Any]:
        if len(objects) <= 1:
            return [function(o) for o in objects]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(objects))) as pool:
            return list(pool.map(function, objects))

    # --- validation ------------------------------------------------------------------------------------
    def validate(self, objects: list[Obj], *, force: bool = False,
                 owner: tuple[str, str] | None = None) -> dict[str, Obj]:
        """Check every object before anything is applied; return the dry-run results by inventory id.

        With the ``owner`` Kustomization (name, namespace), an object known to be in sync since its last apply or
        dry-run (``insync``) is not dry-run again: its live version stands for the result.

        Kinds must be known to the cluster or defined by a CRD in the same set. Objects whose namespace and
        kind already exist are dry-run applied, which catches schema and admission errors. An immutable-field
        error of an object that may be forced (``force``, or the force annotation on it or its live version) is not
        a problem: apply recreates that object, as Flux does.
        """
        for obj in objects:
            default_port_protocols(obj)
        crd_kinds = {(o.get("spec", {}).get("group"), o.get("spec", {}).get("names", {}).get("kind"))
                     for o in objects if o.get("kind") == "CustomResourceDefinition"}
        new_namespaces = {o["metadata"]["name"] for o in self._absent_namespaces(objects)}
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
                                    f"\"{api_version}\" ({self._served_versions_hint(group)})")
                continue
            namespace = obj["metadata"].get("namespace")
            if info.namespaced and not namespace:
                # Flux does not guess (kubectl would use "default"): the dry-run of such an object fails, worded
                # as fluxcd/pkg/ssa words the API server's NotFound, and nothing of the revision is applied.
                problems.append(f"{obj['kind']}/{obj['metadata'].get('name')} namespace not specified: the server "
                                "could not find the requested resource")
                continue
            if info.namespaced and namespace in new_namespaces:
                continue
            dry_runnable.append(obj)

        known: dict[str, Obj] = {}
        if owner is not None and self.remember_in_sync:
            fingerprint = self._fingerprints[owner] = insync.server_fingerprint(self.kube)
            if fingerprint is not None and self.memory.has(owner):
                live = self._existing(dry_runnable, owner)
                for obj in dry_runnable:
                    key = inventory.object_metadata(obj).id
                    if self.memory.in_sync(owner, key, obj, live.get(key), fingerprint):
                        known[key] = live[key]

        def dry_run(obj: Obj) -> tuple[str, Obj | str | None]:
            key = inventory.object_metadata(obj).id
            if key in known:
                return key, known[key]
            try:
                return key, self.kube.apply(obj, field_manager=self.field_manager, force=True, dry_run=True)
            except APIError as err:
                if isinstance(err, Forbidden):  # this identity may not: said as the API server says it
                    return key, _dry_run_failed(obj, err)
                live = self._live(obj)
                decision = inventory.apply_decision(obj, live, force=force)
                if decision.policy is ApplyPolicy.SKIP:
                    # Flux decides to skip before it dry-runs: the failure of an object that will not be applied
                    # does not fail the revision. The live object stands for the result, so apply skips it too.
                    return key, live
                if is_immutable_error(err) and decision.force:
                    return key, None  # recreated when applied
                return key, _dry_run_failed(obj, err)

        results: dict[str, Obj] = {}
        for key, outcome in self.parallel(dry_run, dry_runnable):
            if isinstance(outcome, str):
                problems.append(outcome)
            elif outcome is not None:
                results[key] = outcome
        if problems:
            # Worded as kustomize-controller words an apply failure: the errors, a newline, then what was applied
            # before it (nothing, here: every object is checked before the first write).
            raise ApplyError("\n".join(problems) + "\n")
        return results

    def _absent_namespaces(self, objects: list[Obj]) -> list[Obj]:
        """The Namespace objects among ``objects`` that do not exist in the cluster (yet)."""
        return [o for o in objects if o.get("kind") == "Namespace" and o.get("apiVersion") == "v1"
                and self._namespace_absent(o["metadata"]["name"])]

    def _namespace_absent(self, name: str) -> bool:
        try:
            return self.kube.get_or_none("v1", "Namespace", name) is None
        except Forbidden:
            # An identity that may not read it (an impersonated ServiceAccount) may not create it either: taken
            # as there, so that what goes into it is dry-run too, and the Namespace's own dry-run says why.
            return False

    def _live(self, obj: Obj) -> Obj | None:
        meta = obj["metadata"]
        return self.kube.get_or_none(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))

    def _each_readable(self, objects: list[Obj]) -> list[Obj]:
        """The live versions of ``objects`` that exist and this identity may read."""
        found = []
        for obj in objects:
            try:
                live = self._live(obj)
            except APIError:  # forbidden, or its kind unknown: its dry-run says why
                continue
            if live is not None:
                found.append(live)
        return found

    def _served_versions_hint(self, group: str) -> str:
        """What to do about a kind the cluster does not serve: the versions of its group it does serve (an API
        version removed from Kubernetes or Flux), or that its CRD is missing."""
        try:
            cluster = str(self.kube.request("GET", "/version").get("gitVersion", ""))
            data = self.kube.request("GET", f"/apis/{group}") if group else self.kube.request("GET", "/api")
        except APIError:
            return "is its CRD installed?"
        served = [str(v.get("groupVersion")) for v in data.get("versions", [])] if group else \
            [str(v) for v in data.get("versions", [])]
        if not served:
            return "is its CRD installed?"
        return f"the cluster (Kubernetes {cluster}) serves {', '.join(served)}: use that apiVersion"

    # --- apply -----------------------------------------------------------------------------------------
    def _existing(self, objects: list[Obj], owner: tuple[str, str]) -> dict[str, Obj]:
        """Objects of these kinds that carry our owner labels, by inventory id (one LIST per kind)."""
        selector = ",".join(f"{k}={v}" for k, v in inventory.owner_labels(*owner).items())
        found: dict[str, Obj] = {}
        for api_version, kind in sorted({(o["apiVersion"], o["kind"]) for o in objects}):
            try:
                items = self.kube.list(api_version, kind, None, label_selector=selector).items
            except NotFound:
                continue
            except Forbidden:
                # An identity that may not list across namespaces (an impersonated ServiceAccount): each object.
                items = self._each_readable([o for o in objects if (o["apiVersion"], o["kind"]) == (api_version, kind)])
                items = [i for i in items if all((i["metadata"].get("labels") or {}).get(k) == v
                                                 for k, v in inventory.owner_labels(*owner).items())]
            for item in items:
                found[inventory.object_metadata(item).id] = item
        return found

    def _remaining(self, deadline: float | None) -> float:
        """Seconds left before ``deadline`` (a ``time.monotonic`` value), or the default stage wait without one."""
        return self.stage_timeout if deadline is None else max(deadline - time.monotonic(), 0.0)

    def apply_all(self, objects: list[Obj], *, owner: tuple[str, str], force: bool = False,
                  dry_run_results: dict[str, Obj] | None = None, deadline: float | None = None,
                  ignore_rules: IgnoreRules | None = None) -> ChangeSet:
        """Apply ``objects`` in Flux's stages; unchanged objects are not written.

        ``deadline`` (``time.monotonic``) bounds the whole apply, the waits between stages included: a stage that
        is not ready in time, or not started in time, fails the apply (``timeout waiting for: [...]``, as
        fluxcd/pkg/ssa words it).

        Objects in a Namespace the same revision creates cannot be dry-run before it exists; if one of them then
        fails, the Namespaces this call created are deleted again (with what was created in them), so that nothing
        of a failing revision stays behind unrecorded — under Flux it would, outside any inventory, never pruned.

        ``ignore_rules`` (``spec.ignore``): differences at the paths they name are no drift, and an object applied
        for another reason keeps the cluster's values there (see ``ignore``).
        """
        dry_runs = dict(dry_run_results or {})
        existing = self._existing(objects, owner)
        # Namespaces this Kustomization already owns exist: only the others need looking up.
        new_namespaces = self._absent_namespaces([o for o in objects
                                                  if inventory.object_metadata(o).id not in existing])
        changes: list[Change] = []
        errors: list[str] = []

        fingerprint = self._fingerprints.pop(owner, None)

        def apply_one(obj: Obj) -> Change | str:
            key = inventory.object_metadata(obj).id
            self.memory.forget(owner, [key])  # until it is seen in sync again below
            before = existing.get(key)
            preview = dry_runs.get(key)
            # An object there but not labelled as ours (made by hand, or by another tool) is found through its
            # dry-run result, which carries its live metadata: the skip rules and the managed-fields cleanup read
            # it as Flux's read the live object, whoever created it.
            seen = before if before is not None else (preview if _exists(preview) else None)
            decision = inventory.apply_decision(obj, seen, force=force)
            if decision.policy is ApplyPolicy.SKIP:
                return Change.of(obj, Action.SKIPPED)
            try:
                cleaned = self._clean_up_metadata(obj, seen)
            except APIError as err:
                return f"{ref(obj)} metadata.managedFields cleanup failed: {_reason(err)}"
            pointers = ignore.paths(ignore_rules, preview) if ignore_rules and preview is not None else []
            if not cleaned and before is not None and preview is not None and not drifted_ignoring(before, preview,
                                                                                                pointers):
                self.memory.remember(owner, key, obj, before, fingerprint)
                return Change.of(obj, Action.UNCHANGED)
            payload = obj
            if pointers and before is not None and preview is not None:
                payload = ignore.payload(obj, before, preview, pointers, self.field_manager)
            try:
                applied = self._apply_forcing_if_needed(payload, decision.force, deadline)
            except APIError as err:
                return f"{ref(obj)} apply failed: {_reason(err)}"
            except WaitTimeout as err:
                return f"{ref(obj)} apply failed: {err}"
            self.memory.remember(owner, key, obj, applied, fingerprint)
            return Change.of(obj, Action.CONFIGURED if seen is not None else Action.CREATED)

        for stage in staging.stages(objects):
            if deadline is not None and time.monotonic() >= deadline:
                errors.append(f"timeout before applying {ref(stage[0])} and what follows: {DEADLINE_EXCEEDED}")
                break
            for outcome in self.parallel(apply_one, stage):
                if isinstance(outcome, str):
                    errors.append(outcome)
                else:
                    changes.append(outcome)
            if errors:
                break
            timed_out = self._wait_for_stage(stage, self._remaining(deadline))
            if timed_out:
                errors.append(timed_out)
                break
        result = ChangeSet(tuple(changes))
        if errors:
            rolled_back = self._roll_back(new_namespaces)
            raise ApplyError("\n".join(errors) + "\n" + "".join(f"{change}\n" for change in result.changes
                                                              if change.changed)
                             + "".join(f"{ref(ns)} deleted again: created by this failing revision\n"
                                       for ns in rolled_back))
        return result

    def _roll_back(self, namespaces: list[Obj]) -> list[Obj]:
        """Delete the Namespaces a failing apply created (their content goes with them); not awaited."""
        deleted = []
        for namespace in namespaces:
            try:
                if self.kube.delete("v1", "Namespace", namespace["metadata"]["name"]):
                    deleted.append(namespace)
            except APIError as err:
                log.warning("could not delete %s after the failed apply: %s", ref(namespace), err)
        return deleted

    def _clean_up_metadata(self, obj: Obj, live: Obj | None) -> bool:
        """Hand fields kubectl & co. own to our apply entry first (see ``cleanup``); True when it patched."""
        if live is None:
            return False
        operations = cleanup.patch(obj, live, self.field_manager)
        if not operations:
            return False
        meta = live["metadata"]
        self.kube.patch(live["apiVersion"], live["kind"], meta["name"], meta.get("namespace"), operations,
                        patch_type="json", field_manager=self.field_manager)
        return True

    def _apply_forcing_if_needed(self, obj: Obj, force: bool, deadline: float | None = None) -> Obj:
        """Apply ``obj`` (recreating it on an immutable-field error when ``force``); return the applied object."""
        try:
            return self.kube.apply(obj, field_manager=self.field_manager, force=True)
        except APIError as err:
            if not (force and is_immutable_error(err)):
                raise
            meta = obj["metadata"]
            log.info("recreating %s: immutable field changed and force is enabled", ref(obj))
            self.kube.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                             propagation="Foreground")
            wait_until(lambda: self.kube.get_or_none(obj["apiVersion"], obj["kind"], meta["name"],
                                                     meta.get("namespace")) is None,
                       timeout=self._remaining(deadline), what=f"{ref(obj)} to be deleted before it is recreated")
            return self.kube.apply(obj, field_manager=self.field_manager, force=True)

    def _wait_for_stage(self, stage: list[Obj], timeout: float) -> str | None:
        """Wait up to ``timeout`` for the CRDs of ``stage`` to be Established, as their custom resources need;
        None when they are, else Flux's message naming those that are not (``timeout waiting for: [...]``)."""
        crds = [o for o in stage if o.get("kind") == "CustomResourceDefinition"]
        statuses: dict[str, health.Health | None] = {}

        def established() -> bool:
            for crd in crds:
                try:
                    live = self.kube.get_or_none(crd["apiVersion"], "CustomResourceDefinition",
                                                 crd["metadata"]["name"])
                except APIError:
                    statuses[ref(crd)] = None
                    continue
                conditions = (live or {}).get("status", {}).get("conditions", [])
                ready = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
                statuses[ref(crd)] = health.Health(health.Status.CURRENT, "") if ready else health.status_of(live)
            return all(item is not None and item.current for item in statuses.values())

        if not crds:
            return None
        try:
            wait_until(established, timeout=timeout, what="CRDs to be established",
                       describe=lambda: ", ".join(c["metadata"]["name"] for c in crds))
        except WaitTimeout:
            return health.wait_error(statuses, timed_out=True) or f"timeout waiting for: [{DEADLINE_EXCEEDED}]"
        return None

    # --- prune -----------------------------------------------------------------------------------------
    def _listing(self, api_version: str, kind: str, namespace: str | None) -> dict[str, Obj] | None:
        """The objects of a kind (in ``namespace``) by name: {} when the kind is gone, None when the LIST fails
        (each object is then read on its own)."""
        try:
            return {item["metadata"]["name"]: item for item in self.kube.list(api_version, kind, namespace).items}
        except NotFound:
            return {}
        except APIError as err:
            log.info("could not list %s %s: %s", api_version, kind, err)
            return None

    def prune(self, stale: list[dict[str, str]], *, owner: tuple[str, str]) -> ChangeSet:
        """Delete stale inventory entries (``{id, v}``) whose objects still carry the owner labels of
        Kustomization ``owner`` (name, namespace), in reverse apply order: the objects of one kind concurrently,
        one kind after the other (so Namespaces and CRDs still go last)."""
        changes: list[Change] = []
        errors: list[str] = []
        failed: list[dict[str, str]] = []

        listed: dict[tuple[str, str, str | None], dict[str, Obj] | None] = {}

        def live_of(target: Obj) -> Obj | None:
            meta = target["metadata"]
            listing = listed.get((target["apiVersion"], target["kind"], meta.get("namespace")))
            if listing is not None:
                return listing.get(meta["name"])
            try:
                return self.kube.get_or_none(target["apiVersion"], target["kind"], meta["name"], meta.get("namespace"))
            except NotFound:
                return None  # the kind itself is gone (its CRD was pruned)

        def prune_one(entry: dict[str, str]) -> tuple[Change | None, str]:
            target = inventory.reference(entry)
            meta = target["metadata"]
            live = live_of(target)
            decision = inventory.prune_decision(live, *owner)
            if live is None:
                return None, ""
            if not decision.delete:
                log.info("not pruning %s: %s", ref(live), decision.reason)
                return Change.of(live, Action.SKIPPED), ""
            try:
                self.kube.delete(target["apiVersion"], target["kind"], meta["name"], meta.get("namespace"))
            except APIError as err:
                return None, f"{ref(live)} delete failed: {_reason(err)}"
            return Change.of(live, Action.DELETED), ""

        def group_kind(entry: dict[str, str]) -> tuple[str, str]:
            meta = inventory.parse_id(str(entry["id"]))
            return meta.group, meta.kind

        ordered = inventory.prune_order(stale)
        self.memory.forget(owner, [str(entry["id"]) for entry in ordered])
        for _, group in itertools.groupby(ordered, key=group_kind):
            entries = list(group)
            if len(entries) > PRUNE_LIST_OVER:
                # Many objects of one kind: one LIST per namespace reads them all, instead of a GET each.
                for target in (inventory.reference(entry) for entry in entries):
                    where = (target["apiVersion"], target["kind"], target["metadata"].get("namespace"))
                    if where not in listed:
                        listed[where] = self._listing(*where)
            for entry, (change, error) in zip(entries, self.parallel(prune_one, entries), strict=True):
                if change is not None:
                    changes.append(change)
                if error:
                    errors.append(error)
                    failed.append(entry)
        if errors:
            raise PruneError("\n".join(errors), failed)
        return ChangeSet(tuple(changes))


    def wait_for_termination(self, deleted: list[Change], *, timeout: float,
                             stop: threading.Event | None = None) -> None:
        """Wait until every deleted object is gone (finalizers run, garbage collected), polling as fluxcd/pkg/ssa's
        WaitForSetTermination does; raises WaitTimeout naming those still there."""
        remaining = list(deleted)

        def gone() -> bool:
            remaining[:] = [c for c in remaining if self._exists(c)]
            return not remaining

        wait_until(gone, timeout=timeout, what="the pruned objects to be terminated", interval=0.5, max_interval=2.0,
                   describe=lambda: "still there: " + ", ".join(c.subject for c in remaining), stop=stop)

    def _exists(self, change: Change) -> bool:
        try:
            return self.kube.get_or_none(change.api_version, change.kind, change.name, change.namespace or None) \
                is not None
        except NotFound:
            return False  # the kind itself is gone


def _exists(result: Obj | None) -> bool:
    """Whether a dry-run result is of an object that exists: a dry-run create has no resourceVersion."""
    return bool(result and (result.get("metadata") or {}).get("resourceVersion"))


_IMMUTABLE = re.compile(r"is\simmutable|immutable\sfield")


def is_immutable_error(err: APIError) -> bool:
    """As fluxcd/pkg/ssa (and kubectl) detect it: a conflict or invalid answer, or a message saying a field is
    immutable (admission webhooks, CEL rules)."""
    return err.status in (409, 422) or bool(_IMMUTABLE.search(str(err)))


def _dry_run_failed(obj: Obj, err: APIError) -> str:
    """As fluxcd/pkg/ssa words a failed dry-run: the object, the API server's reason, its message."""
    reason = f" ({err.reason})" if err.reason else ""
    return f"{ref(obj)} dry-run failed{reason}: {_reason(err)}"


def _reason(err: APIError) -> str:
    text = str(err)
    _, sep, rest = text.partition(": ")
    return rest if sep else text



def _pod_specs(obj: Obj) -> list[Obj]:
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Pod":
        return [spec]
    if kind == "CronJob":
        template = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
        return [template] if isinstance(template, dict) else []
    template = (spec.get("template") or {}).get("spec") if isinstance(spec.get("template"), dict) else None
    return [template] if isinstance(template, dict) else []


def default_port_protocols(obj: Obj) -> Obj:
    """Set ``protocol: TCP`` where it is omitted on Service and container ports.

    The API server defaults it anyway, but server-side apply on Kubernetes 1.20 rejects a port list item that
    omits a key field of the list ("associative list with keys has an element that omits key field protocol"),
    so manifests that work everywhere else would fail here. Filling in the default keeps the meaning.
    """
    if obj.get("kind") == "Service":
        for port in (obj.get("spec") or {}).get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    for pod_spec in _pod_specs(obj):
        for key in ("containers", "initContainers"):
            for container in pod_spec.get(key) or []:
                for port in (container or {}).get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")
    return obj
