"""Drift detection of a Helm release, as helm-controller does it (internal/action/diff.go, internal/diff,
internal/reconcile/correct_cluster_drift.go): the objects of the release manifest are server-side dry-run applied
(field manager ``helm-controller``) and compared with the live objects, with ``driftDetection.ignore`` paths and
objects marked ``helm.toolkit.fluxcd.io/driftDetection: disabled`` left out. ``mode: warn`` reports the drift
(Warning event ``DriftDetected``, ``Drifted=True``); ``mode: enabled`` also corrects it: objects that are gone are
created again, changed ones patched back with the JSON patch of the difference (events ``DriftCorrected`` /
``DriftCorrectionFailed``).

The controller calls ``reconcile_drift`` after a release is found in sync (no install/upgrade needed).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import yaml

from sandbox.errors import APIError, InputError, NotFound
from sandbox.kube.client import KubeClient
from sandbox.reconciler.kustomize.apply import default_port_protocols
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime import jsondiff
from sandbox.reconciler.runtime.events import NORMAL, WARNING

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FIELD_MANAGER = "helm-controller"
DISABLED_KEY = "helm.toolkit.fluxcd.io/driftDetection"
DISABLED_VALUE = "disabled"
ENABLED, WARN, DISABLED = "enabled", "warn", "disabled"

DRIFTED = "Drifted"
DRIFT_DETECTED = "DriftDetected"
NO_DRIFT_DETECTED = "NoDriftDetected"
NO_DRIFT_MESSAGE = "No drift detected against the cluster state"
DRIFT_CORRECTED = "DriftCorrected"
DRIFT_CORRECTION_FAILED = "DriftCorrectionFailed"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
RELEASE_NAME_ANNOTATION = "meta.helm.sh/release-name"
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"


class DiffType(StrEnum):
    CREATE = "create"  # the object is gone from the cluster
    UPDATE = "update"  # the object differs
    EXCLUDE = "exclude"  # left out by an ignore rule or the driftDetection annotation
    NONE = "none"


@dataclass(frozen=True)
class ObjectDrift:
    type: DiffType
    desired: Obj
    patch: tuple[jsondiff.Operation, ...] = ()

    @property
    def name(self) -> str:
        """``Kind/namespace/name`` as helm-controller's ResourceName."""
        meta = self.desired.get("metadata") or {}
        namespace = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{self.desired.get('kind')}/{namespace}{meta.get('name')}"

    def shown_patch(self) -> list[dict[str, Any]]:
        """The patch as it may be shown (a Secret's values masked)."""
        patch = list(self.patch)
        if self.desired.get("kind") == "Secret" and "/" not in str(self.desired.get("apiVersion")):
            patch = jsondiff.mask_secret_patch(patch)
        return [op.to_patch() for op in patch]


@dataclass(frozen=True)
class DriftSet:
    diffs: tuple[ObjectDrift, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def has_changes(self) -> bool:
        return any(d.type in (DiffType.CREATE, DiffType.UPDATE) for d in self.diffs)

    def summary(self) -> str:
        """helm-controller's SummarizeDiffSet: one line per removed, changed or excluded object."""
        lines = []
        for drift in self.diffs:
            if drift.type is DiffType.CREATE:
                lines.append(f"{drift.name} removed")
            elif drift.type is DiffType.EXCLUDE:
                lines.append(f"{drift.name} excluded")
            elif drift.type is DiffType.UPDATE:
                added = sum(op.op == jsondiff.ADD for op in drift.patch)
                changed = sum(op.op == jsondiff.REPLACE for op in drift.patch)
                removed = sum(op.op == jsondiff.REMOVE for op in drift.patch)
                lines.append(f"{drift.name} changed ({added} additions, {changed} changes, {removed} removals)")
        return "\n".join(lines)

    def brief(self) -> str:
        """helm-controller's SummarizeDiffSetBrief (the log line)."""
        count = {kind: sum(d.type is kind for d in self.diffs) for kind in DiffType}
        return (f"removed: {count[DiffType.CREATE]}, changed: {count[DiffType.UPDATE]}, "
                f"excluded: {count[DiffType.EXCLUDE]}")


def mode_of(helmrelease: Obj) -> str:
    return str(((helmrelease.get("spec") or {}).get("driftDetection") or {}).get("mode") or DISABLED)


def must_detect(helmrelease: Obj) -> bool:
    return mode_of(helmrelease) in (ENABLED, WARN)


def ignore_rules(helmrelease: Obj) -> jsondiff.IgnoreRules:
    raw = ((helmrelease.get("spec") or {}).get("driftDetection") or {}).get("ignore")
    return jsondiff.IgnoreRules.parse(raw, where="spec.driftDetection.ignore")


def manifest_objects(manifest: str) -> list[Obj]:
    """The objects of a release manifest (Helm's ``---``-separated YAML)."""
    try:
        return [doc for doc in yaml.safe_load_all(manifest) if isinstance(doc, dict) and doc.get("kind")]
    except yaml.YAMLError as err:
        raise InputError(f"failed to read objects from release manifest: {err}") from err


def _any_in_metadata(obj: Obj | None, key: str, value: str) -> bool:
    meta = (obj or {}).get("metadata") or {}
    return (meta.get("labels") or {}).get(key) == value or (meta.get("annotations") or {}).get(key) == value


def desired_objects(kube: KubeClient, manifest: str, release_name: str, release_namespace: str) -> tuple[
        list[Obj], list[str]]:
    """The release's objects as Helm applies them: Helm's ownership metadata set, the release namespace on
    namespaced objects without one; and the problems with objects whose kind the cluster does not know."""
    objects, errors = [], []
    namespaced: dict[tuple[str, str], bool] = {}
    for obj in manifest_objects(manifest):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("labels", {})[MANAGED_BY_LABEL] = "Helm"
        annotations = meta.setdefault("annotations", {})
        annotations[RELEASE_NAME_ANNOTATION] = release_name
        annotations[RELEASE_NAMESPACE_ANNOTATION] = release_namespace
        if not meta.get("namespace"):
            key = (str(obj.get("apiVersion")), str(obj.get("kind")))
            if key not in namespaced:
                try:
                    namespaced[key] = kube.resource(*key).namespaced
                except NotFound as err:
                    errors.append(f"failed to determine if {key[1]} is namespace scoped: {err}")
                    continue
            if namespaced[key]:
                meta["namespace"] = release_namespace
        default_port_protocols(obj)  # as Helm's objects were applied (see kustomize.apply)
        objects.append(obj)
    return objects, errors


def _metadata_patch(live: Obj, dry_run: Obj) -> list[jsondiff.Operation]:
    """Additions and changes of name, labels and annotations (removals are other managers' business)."""
    def part(obj: Obj) -> Obj:
        meta = obj.get("metadata") or {}
        return {"metadata": {k: meta[k] for k in ("name", "annotations", "labels") if k in meta}}

    return [op for op in jsondiff.compare(part(live), part(dry_run), rationalize=True)
            if op.op in (jsondiff.ADD, jsondiff.REPLACE)]


def _body(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def diff_object(kube: KubeClient, desired: Obj, ignore: Sequence[str], *,
                field_manager: str = FIELD_MANAGER) -> ObjectDrift:
    """fluxcd/pkg/ssa/jsondiff.Unstructured: how the live object differs from what applying ``desired`` makes."""
    if _any_in_metadata(desired, DISABLED_KEY, DISABLED_VALUE) or jsondiff.IGNORE_ROOT in ignore:
        return ObjectDrift(DiffType.EXCLUDE, desired)
    meta = desired["metadata"]
    live = kube.get_or_none(desired["apiVersion"], desired["kind"], meta["name"], meta.get("namespace"))
    if _any_in_metadata(live, DISABLED_KEY, DISABLED_VALUE):
        return ObjectDrift(DiffType.EXCLUDE, desired)
    dry_run = kube.apply(desired, field_manager=field_manager, force=True, dry_run=True)
    if live is None or not (dry_run.get("metadata") or {}).get("resourceVersion"):
        return ObjectDrift(DiffType.CREATE, desired)
    filtered = jsondiff.remove_paths(copy.deepcopy(live), ignore)
    dry_run = jsondiff.remove_paths(dry_run, ignore)
    patch = _metadata_patch(filtered, dry_run) + jsondiff.compare(_body(filtered), _body(dry_run), rationalize=True)
    return ObjectDrift(DiffType.UPDATE if patch else DiffType.NONE, desired, tuple(patch))


def detect(kube: KubeClient, helmrelease: Obj, manifest: str, release_name: str, release_namespace: str, *,
           field_manager: str = FIELD_MANAGER) -> DriftSet:
    """The drift of every object of the release manifest (errors gathered, the rest still compared)."""
    rules = ignore_rules(helmrelease)
    objects, errors = desired_objects(kube, manifest, release_name, release_namespace)
    diffs = []
    for obj in objects:
        try:
            diffs.append(diff_object(kube, obj, rules.paths_for(obj), field_manager=field_manager))
        except APIError as err:
            errors.append(f"{ObjectDrift(DiffType.NONE, obj).name} dry-run failed: {err}")
    return DriftSet(tuple(diffs), tuple(errors))


@dataclass(frozen=True)
class Correction:
    corrected: tuple[str, ...] = ()  # "Kind/ns/name created|configured" lines, as ssa.ChangeSet.String()
    errors: tuple[str, ...] = field(default_factory=tuple)


def _sort_key(drift: ObjectDrift) -> tuple[str, str, str, str]:
    group = str(drift.desired.get("apiVersion", "")).rpartition("/")[0]
    meta = drift.desired.get("metadata") or {}
    return group, str(drift.desired.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name"))


def correct(kube: KubeClient, drift: DriftSet, *, field_manager: str = FIELD_MANAGER) -> Correction:
    """helm-controller's ApplyDiff: create what is gone, JSON-patch back what changed (ignored paths untouched)."""
    corrected, errors = [], []
    for item in sorted((d for d in drift.diffs if d.type is DiffType.CREATE), key=_sort_key):
        try:
            _create(kube, item.desired, field_manager)
            corrected.append(f"{item.name} created")
        except APIError as err:
            errors.append(f"{item.name} creation failure: {err}")
    for item in sorted((d for d in drift.diffs if d.type is DiffType.UPDATE), key=_sort_key):
        meta = item.desired["metadata"]
        try:
            kube.patch(item.desired["apiVersion"], item.desired["kind"], meta["name"], meta.get("namespace"),
                       [op.to_patch() for op in item.patch], patch_type="json", field_manager=field_manager)
            corrected.append(f"{item.name} configured")
        except APIError as err:
            message = str(err)
            if item.desired.get("kind") == "Secret":  # the API server may quote the values it refused
                message = message.rpartition(":")[2].strip() if err.status == 422 else message
            errors.append(f"{item.name} patch failure: {message}")
    return Correction(tuple(corrected), tuple(errors))


def _create(kube: KubeClient, obj: Obj, field_manager: str) -> None:
    meta = obj["metadata"]
    kube.request("POST", kube.path(obj["apiVersion"], obj["kind"], meta.get("namespace")),
                 query={"fieldManager": field_manager}, body=obj, what=f"{obj['kind']}/{meta['name']}")


Recorder = Callable[[str, str, str], None]  # (event type, reason, message)


@dataclass(frozen=True)
class DriftOutcome:
    """What drift handling did: the conditions to write, and whether the release was found drifted."""

    conditions: list[dict[str, Any]]
    drifted: bool
    corrected: Correction | None = None


def reconcile_drift(kube: KubeClient, helmrelease: Obj, conditions: list[dict[str, Any]] | None, *, manifest: str,
                    release_name: str, release_namespace: str, full_release_name: str, record: Recorder,
                    field_manager: str = FIELD_MANAGER) -> DriftOutcome:
    """Detect drift of an in-sync release and, by ``spec.driftDetection.mode``, report it (``warn``) or also
    correct it (``enabled``); nothing with the mode unset or ``disabled``.

    ``full_release_name`` is ``<namespace>/<name>.v<version>`` (Flux's FullReleaseName); ``record`` emits an
    event on the HelmRelease. When objects could not be compared and none of the others drifted, raises
    InputError ("unable to determine cluster state: ...") for the controller to report, as upstream.
    """
    generation = int((helmrelease.get("metadata") or {}).get("generation", 1))
    current = list(conditions or [])
    if not must_detect(helmrelease):
        return DriftOutcome(cond.remove(current, DRIFTED), False)
    drift = detect(kube, helmrelease, manifest, release_name, release_namespace, field_manager=field_manager)
    if drift.errors and not drift.has_changes:
        raise InputError("unable to determine cluster state: " + "; ".join(drift.errors))
    if drift.errors:
        log.error("diff of release against cluster state completed with error: %s", "; ".join(drift.errors))
    if not drift.has_changes:
        return DriftOutcome(cond.set_condition(current, DRIFTED, "False", NO_DRIFT_DETECTED, NO_DRIFT_MESSAGE,
                                               generation), False)
    log.info("detected changes in cluster state (%s)", drift.brief())
    for item in drift.diffs:  # paths only: a changed value may come from a Secret through the chart's values
        if item.type is DiffType.UPDATE:
            log.debug("resource modified %s: %s", item.name, [f"{op.op} {op.path}" for op in item.patch])
    message = f"Cluster state of release {full_release_name} has drifted from the desired state:\n{drift.summary()}"
    record(WARNING, DRIFT_DETECTED, message)
    current = cond.set_condition(current, DRIFTED, "True", DRIFT_DETECTED, message, generation)
    if mode_of(helmrelease) != ENABLED:
        return DriftOutcome(current, True)
    correction = correct(kube, drift, field_manager=field_manager)
    record(*correction_event(correction, full_release_name))
    # As the atomic release does after a correction: the state is determined again; in sync now, the condition
    # says so (no second event either way).
    again = detect(kube, helmrelease, manifest, release_name, release_namespace, field_manager=field_manager)
    if not again.errors and not again.has_changes:
        current = cond.set_condition(current, DRIFTED, "False", NO_DRIFT_DETECTED, NO_DRIFT_MESSAGE, generation)
    return DriftOutcome(current, True, correction)


def correction_event(correction: Correction, full_release_name: str) -> tuple[str, str, str]:
    """(type, reason, message) of the event after a correction, worded as helm-controller's."""
    if correction.errors:
        partially = "partially " if correction.corrected else ""
        message = f"Failed to {partially}correct cluster state of release {full_release_name}:\n" + \
            "\n".join(correction.errors)
        if correction.corrected:
            message += "\n\nSuccessful corrections:\n" + "\n".join(correction.corrected)
        return WARNING, DRIFT_CORRECTION_FAILED, message
    return (NORMAL, DRIFT_CORRECTED, f"Cluster state of release {full_release_name} has been corrected:\n"
            + "\n".join(correction.corrected))
