"""helm-controller's decisions, pure: the state of a release (DetermineReleaseState), the next action for it
(AtomicRelease.actionForState), the active remediation and retry strategies, the failure counters, the Ready
summary, and the force/reset annotation requests. Everything works on the HelmRelease object and a mutable
``status`` dict, as the Go code works on the object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbox.reconciler.helm import history, postrender
from sandbox.reconciler.helm.history import Release
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.reconciler.runtime.timeutil import parse_duration

Obj = dict[str, Any]

RELEASED = "Released"
REMEDIATED = "Remediated"
TEST_SUCCESS = "TestSuccess"
INSTALL_SUCCEEDED = "InstallSucceeded"
INSTALL_FAILED = "InstallFailed"
UPGRADE_SUCCEEDED = "UpgradeSucceeded"
UPGRADE_FAILED = "UpgradeFailed"
TEST_SUCCEEDED = "TestSucceeded"
TEST_FAILED = "TestFailed"
ROLLBACK_SUCCEEDED = "RollbackSucceeded"
ROLLBACK_FAILED = "RollbackFailed"
UNINSTALL_SUCCEEDED = "UninstallSucceeded"
UNINSTALL_FAILED = "UninstallFailed"
RETRIES_EXCEEDED = "RetriesExceeded"
MISSING_ROLLBACK_TARGET = "MissingRollbackTarget"
OWNED_CONDITIONS = (RELEASED, REMEDIATED, TEST_SUCCESS, cond.RECONCILING, cond.READY, cond.STALLED)

INSTALL = "install"
UPGRADE = "upgrade"
ROLLBACK = "rollback"
UNINSTALL = "uninstall"
UNINSTALL_REMEDIATION = "uninstall-remediation"

FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"
DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRY_INTERVAL = 300.0
RETRY_ON_FAILURE = "RetryOnFailure"

FMT_INSTALL_SUCCESS = "Helm install succeeded for release {} with chart {}"
FMT_UPGRADE_SUCCESS = "Helm upgrade succeeded for release {} with chart {}"
FMT_TEST_PENDING = "Helm release {} with chart {} is awaiting tests"


class ReleaseStatus(StrEnum):
    UNKNOWN = "Unknown"
    ABSENT = "Absent"
    UNMANAGED = "Unmanaged"
    OUT_OF_SYNC = "OutOfSync"
    LOCKED = "Locked"
    UNTESTED = "Untested"
    IN_SYNC = "InSync"
    FAILED = "Failed"


class Next(StrEnum):
    """The action reconcilers of helm-controller, by name (their type decides the loop's stops)."""

    INSTALL = "install"
    UPGRADE = "upgrade"
    TEST = "test"
    ROLLBACK = "rollback"
    UNINSTALL_REMEDIATION = "uninstall"
    UNLOCK = "unlock"

    @property
    def kind(self) -> str:
        """ReconcilerType: release, remediate, test or unlock."""
        return {Next.INSTALL: "release", Next.UPGRADE: "release", Next.TEST: "test", Next.ROLLBACK: "remediate",
                Next.UNINSTALL_REMEDIATION: "remediate", Next.UNLOCK: "unlock"}[self]


@dataclass(frozen=True)
class ReleaseState:
    status: ReleaseStatus
    reason: str = ""


class StateError(Exception):
    """The state of the release cannot be determined (Ready=False StateError)."""


class ExceededMaxRetries(Exception):
    """No retry left ("exceeded maximum retries: ..."): Stalled, until the spec or the values change, or a
    force or reset request."""

    def __init__(self, what: str) -> None:
        super().__init__(f"exceeded maximum retries: {what}")


class MissingRollbackTarget(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"missing target release for rollback: {what}")


# --- spec views -------------------------------------------------------------------------------------------
def spec_of(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def release_name(obj: Obj) -> str:
    spec = spec_of(obj)
    if spec.get("releaseName"):
        return str(spec["releaseName"])
    name = str(obj["metadata"]["name"])
    return f"{spec['targetNamespace']}-{name}" if spec.get("targetNamespace") else name


def short_release_name(obj: Obj) -> str:
    """As release.ShortenName: names over 53 characters become 40 characters, a dash and 12 hex of their hash."""
    import hashlib

    name = release_name(obj)
    if len(name) <= 53:
        return name
    return f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def release_namespace(obj: Obj) -> str:
    return str(spec_of(obj).get("targetNamespace") or obj["metadata"]["namespace"])


def storage_namespace(obj: Obj) -> str:
    """Where Helm stores the release: the Helm SDK keeps a release's Secrets in the release's own namespace
    (helm-controller's default would be the HelmRelease's namespace; a ``spec.storageNamespace`` other than the
    release namespace is NotSupported, see ``helm.support``)."""
    return release_namespace(obj)


def timeout_of(obj: Obj, section: str = "") -> float:
    """``spec.<section>.timeout``, else ``spec.timeout``, else 5 minutes."""
    spec = spec_of(obj)
    own = (spec.get(section) or {}).get("timeout") if section else None
    value = own or spec.get("timeout")
    return parse_duration(str(value), field=f"spec.{section + '.' if own else ''}timeout") if value \
        else DEFAULT_TIMEOUT


def test_spec(obj: Obj) -> Obj:
    return spec_of(obj).get("test") or {}


@dataclass(frozen=True)
class Remediation:
    """``spec.install.remediation`` or ``spec.upgrade.remediation`` with helm-controller's defaults."""

    action: str  # install | upgrade
    spec: Obj

    @property
    def retries(self) -> int:
        return int(self.spec.get("retries") or 0)

    def failure_count(self, status: Obj) -> int:
        return int(status.get("installFailures" if self.action == INSTALL else "upgradeFailures") or 0)

    def increment(self, status: Obj) -> None:
        key = "installFailures" if self.action == INSTALL else "upgradeFailures"
        status[key] = int(status.get(key) or 0) + 1

    def retries_exhausted(self, status: Obj) -> bool:
        return self.retries >= 0 and self.failure_count(status) > self.retries

    def must_ignore_test_failures(self, default: bool) -> bool:
        value = self.spec.get("ignoreTestFailures")
        return default if value is None else bool(value)

    def must_remediate_last_failure(self) -> bool:
        value = self.spec.get("remediateLastFailure")
        if value is None:
            return self.action == UPGRADE and self.retries > 0
        return bool(value)

    @property
    def strategy(self) -> str:
        if self.action == INSTALL:
            return UNINSTALL
        return str(self.spec.get("strategy") or ROLLBACK)

    @property
    def uninstall_after_upgrade(self) -> bool:
        return self.action == UPGRADE and self.strategy == UNINSTALL


def remediation_of(obj: Obj, action: str) -> Remediation:
    return Remediation(action, (spec_of(obj).get(action) or {}).get("remediation") or {})


def active_remediation(obj: Obj, status: Obj) -> Remediation | None:
    action = status.get("lastAttemptedReleaseAction")
    return remediation_of(obj, str(action)) if action in (INSTALL, UPGRADE) else None


def retry_of(obj: Obj, action: str) -> float | None:
    """The retry interval when ``spec.<action>.strategy`` is RetryOnFailure, else None."""
    strategy = (spec_of(obj).get(action) or {}).get("strategy") or {}
    if strategy.get("name") != RETRY_ON_FAILURE:
        return None
    interval = strategy.get("retryInterval")
    return parse_duration(str(interval), field=f"spec.{action}.strategy.retryInterval") if interval \
        else DEFAULT_RETRY_INTERVAL


def active_retry(obj: Obj, status: Obj) -> float | None:
    action = status.get("lastAttemptedReleaseAction")
    return retry_of(obj, str(action)) if action in (INSTALL, UPGRADE) else None


def clear_failures(status: Obj) -> None:
    """ClearFailures (the counters are omitted when zero, as their JSON tags say)."""
    for key in ("failures", "installFailures", "upgradeFailures"):
        status.pop(key, None)


def mark_stalled(status: Obj, reason: str, message: str, generation: int) -> None:
    """conditions.MarkStalled: Stalled=True, Reconciling removed."""
    status["conditions"] = cond.set_condition(cond.remove(status.get("conditions"), cond.RECONCILING), cond.STALLED,
                                              "True", reason, message, generation)


def mark_reconciling(status: Obj, reason: str, message: str, generation: int) -> None:
    """conditions.MarkReconciling: Reconciling=True, Stalled removed."""
    status["conditions"] = cond.set_condition(cond.remove(status.get("conditions"), cond.STALLED), cond.RECONCILING,
                                              "True", reason, message, generation)


# --- annotation requests ------------------------------------------------------------------------------------
def handle_request(obj: Obj, status: Obj, annotation: str, last_key: str) -> bool:
    """meta.HandleAnnotationRequest: the request annotation's value is recorded as handled; the request counts
    when it equals ``reconcile.fluxcd.io/requestedAt`` and neither was handled before."""
    annotations = obj["metadata"].get("annotations") or {}
    request = annotations.get(annotation)
    reconcile = annotations.get(REQUESTED_AT)
    if request is None:
        return False
    last_handled = status.get(last_key, "")
    status[last_key] = request
    return (reconcile is not None and request == reconcile and status.get("lastHandledReconcileAt") != reconcile
            and last_handled != request)


def must_reset_failures(obj: Obj, status: Obj, chart_version: str, values_digest: str, reset: bool) -> str:
    """action.MustResetFailures: why the failure counters start again ("" when they do not)."""
    if status.get("lastAttemptedGeneration") != obj["metadata"].get("generation"):
        return "generation changed"
    if status.get("lastAttemptedRevision") != chart_version:
        return "chart version changed"
    if status.get("lastAttemptedConfigDigest") and status.get("lastAttemptedConfigDigest") != values_digest:
        return "values changed"
    return "reset requested through annotation" if reset else ""


# --- state ------------------------------------------------------------------------------------------------------
def determine_state(obj: Obj, status: Obj, last: Release | None, chart_name: str, chart_version: str,
                    values_digest: str) -> ReleaseState:
    """DetermineReleaseState over the last release in storage (None: none) and the desired chart and values.

    Drift is not a state here: an in-sync release is checked for drift afterwards (``AtomicRelease`` →
    helm/drift.py), as helm-controller does it once the release is otherwise in sync."""
    if last is None:
        return ReleaseState(ReleaseStatus.ABSENT, "no release in storage for object")
    if last.pending:
        return ReleaseState(ReleaseStatus.LOCKED, f"release with status '{last.status}'")
    snapshots = status.get("history") or []
    if not snapshots:
        if last.status == history.UNINSTALLED:
            return ReleaseState(ReleaseStatus.ABSENT, "found uninstalled release in storage")
        return ReleaseState(ReleaseStatus.UNMANAGED, "found existing release in storage")
    cur = history.latest(snapshots)
    assert cur is not None
    if cur.get("apiVersion") == history.SNAPSHOT_API_VERSION and (
            not history.targets(cur, last.name, last.namespace, last.version) or cur.get("digest") != last.digest):
        return ReleaseState(ReleaseStatus.UNMANAGED, "release not observed to be made for object")
    if last.status == history.FAILED:
        return ReleaseState(ReleaseStatus.FAILED)
    if last.status == history.UNINSTALLED:
        return ReleaseState(ReleaseStatus.ABSENT, "found uninstalled release in storage")
    if last.status != history.DEPLOYED:
        raise StateError(f"unable to determine state for release with status '{last.status}'")
    if last.chart_name != chart_name or last.chart_version != chart_version:
        return ReleaseState(ReleaseStatus.OUT_OF_SYNC, "release chart changed")
    if cur.get("configDigest") != values_digest:
        return ReleaseState(ReleaseStatus.OUT_OF_SYNC, "release config values changed")
    if status.get("observedGeneration") != obj["metadata"].get("generation"):  # postrender digests (helm-render)
        spec = spec_of(obj)
        if postrender.post_renderers_digest(spec) != status.get("observedPostRenderersDigest", ""):
            return ReleaseState(ReleaseStatus.OUT_OF_SYNC, "postrenderers digest has changed")
        if postrender.common_metadata_digest(spec) != status.get("observedCommonMetadataDigest", ""):
            return ReleaseState(ReleaseStatus.OUT_OF_SYNC, "common metadata digest has changed")
    test = test_spec(obj)
    if test.get("enable"):
        if not history.has_been_tested(cur):
            return ReleaseState(ReleaseStatus.UNTESTED)
        remediation = active_remediation(obj, status)
        if remediation is not None and not remediation.must_ignore_test_failures(bool(test.get("ignoreFailures"))) \
                and history.has_test_in_phase(cur, history.TEST_FAILED):
            return ReleaseState(ReleaseStatus.FAILED, "release has test in failed phase")
    return ReleaseState(ReleaseStatus.IN_SYNC)


def _mark(status: Obj, kind: str, state: str, reason: str, message: str, generation: int) -> None:
    status["conditions"] = cond.set_condition(status.get("conditions"), kind, state, reason, message, generation)


def _replace_condition(status: Obj, target: str, replacement: str, reason: str, message: str,
                       generation: int) -> None:
    """replaceCondition: ``target`` becomes ``replacement`` (True), keeping its lastTransitionTime."""
    existing = cond.find(status.get("conditions"), target)
    if existing is None:
        return
    conditions = cond.remove(cond.remove(status.get("conditions"), replacement), target)
    status["conditions"] = cond.set_condition(conditions, replacement, "True", reason, message, generation,
                                              now=existing.get("lastTransitionTime"))


def action_for_state(obj: Obj, status: Obj, state: ReleaseState, *, force: bool,
                     verify_previous: Callable[[Obj | None], str]) -> Next | None:
    """AtomicRelease.actionForState: the next action (None: nothing to do), or ExceededMaxRetries /
    MissingRollbackTarget. ``verify_previous(snapshot)`` says whether the rollback target is still in storage
    unchanged: "ok", "missing" (no target) or "changed" (disappeared or modified)."""
    generation = int(obj["metadata"].get("generation", 1))
    test = test_spec(obj)
    conditions = status.get("conditions")
    if state.status == ReleaseStatus.IN_SYNC:
        remediation = active_remediation(obj, status)
        if active_retry(obj, status) is not None:
            status["history"] = history.truncate_ignoring_previous(status.get("history"))
        else:
            ignore = bool(test.get("ignoreFailures"))
            if remediation is not None:
                ignore = remediation.must_ignore_test_failures(ignore)
            status["history"] = history.truncate(status.get("history"), ignore)
        if force:
            return Next.UPGRADE
        cur = history.latest(status.get("history"))
        if cond.is_true(conditions, REMEDIATED):
            _replace_condition(status, REMEDIATED, RELEASED, UPGRADE_SUCCEEDED, FMT_UPGRADE_SUCCESS.format(
                history.full_release_name(cur), history.versioned_chart_name(cur)), generation)
        conditions = status.get("conditions")
        if not cond.is_true(conditions, cond.READY) or not cond.is_true(conditions, RELEASED):
            reason = (cond.find(conditions, RELEASED) or {}).get("reason")
            success = {INSTALL_FAILED: (INSTALL_SUCCEEDED, FMT_INSTALL_SUCCESS),
                       UPGRADE_FAILED: (UPGRADE_SUCCEEDED, FMT_UPGRADE_SUCCESS)}.get(str(reason))
            if success is not None:
                _mark(status, RELEASED, "True", success[0], success[1].format(
                    history.full_release_name(cur), history.versioned_chart_name(cur)), generation)
                summarize(obj, status)
        return None
    if state.status == ReleaseStatus.LOCKED:
        return Next.UNLOCK
    if state.status == ReleaseStatus.ABSENT:
        if remediation_of(obj, INSTALL).retries_exhausted(status) and not force:
            raise ExceededMaxRetries("cannot install release")
        return Next.INSTALL
    if state.status == ReleaseStatus.UNMANAGED:
        status["history"] = []
        return Next.UPGRADE
    if state.status == ReleaseStatus.OUT_OF_SYNC:
        if remediation_of(obj, UPGRADE).retries_exhausted(status) and not force:
            raise ExceededMaxRetries("cannot upgrade release")
        return Next.UPGRADE
    if state.status == ReleaseStatus.UNTESTED:
        if cond.is_true(conditions, REMEDIATED):
            cur = history.latest(status.get("history"))
            _replace_condition(status, REMEDIATED, RELEASED, UPGRADE_SUCCEEDED, FMT_UPGRADE_SUCCESS.format(
                history.full_release_name(cur), history.versioned_chart_name(cur)), generation)
        return Next.TEST
    if state.status == ReleaseStatus.FAILED:
        if active_retry(obj, status) is not None:
            status["history"] = history.truncate_ignoring_previous(status.get("history"))
            return Next.UPGRADE
        remediation = active_remediation(obj, status)
        if remediation is None or remediation.failure_count(status) <= 0 or force:
            return Next.UPGRADE
        if remediation.retries_exhausted(status) and not remediation.must_remediate_last_failure():
            raise ExceededMaxRetries("cannot remediate failed release")
        ignore = remediation.must_ignore_test_failures(bool(test.get("ignoreFailures")))
        status["history"] = history.truncate(status.get("history"), ignore)
        if remediation.strategy == ROLLBACK:
            verdict = verify_previous(history.previous(status.get("history"), ignore))
            if verdict == "missing":
                raise MissingRollbackTarget("cannot remediate failed release")
            if verdict == "changed":
                return Next.UPGRADE
            return Next.ROLLBACK
        if remediation.strategy == UNINSTALL:
            return Next.UNINSTALL_REMEDIATION
        raise StateError(f"unknown remediation strategy: {remediation.strategy}")
    raise StateError(f"unknown release status: {state.status}")


def summarize(obj: Obj, status: Obj) -> None:
    """summarize: Ready follows the first of Remediated, TestSuccess (when tests count) and Released, newest
    generation first; a True Remediated makes Ready False (the release is what it was before the failure)."""
    generation = int(obj["metadata"].get("generation", 1))
    test = test_spec(obj)
    order = [REMEDIATED, RELEASED]
    if test.get("enable") and not test.get("ignoreFailures"):
        order = [REMEDIATED, TEST_SUCCESS, RELEASED]
    conditions = list(status.get("conditions") or [])
    if not test.get("enable"):
        conditions = cond.remove(conditions, TEST_SUCCESS)
    if not conditions:
        status["conditions"] = conditions
        return
    # sort.SliceStable with helm-controller's comparison: listed types first, by (newer generation, list order)
    candidates = [c for c in conditions if c.get("type") in order]
    if not candidates:
        status["conditions"] = conditions
        return
    first = candidates[0]
    for other in candidates[1:]:
        if int(other.get("observedGeneration", 0)) >= int(first.get("observedGeneration", 0)) and \
                order.index(other["type"]) < order.index(first["type"]):
            first = other
    state = "False" if first["type"] == REMEDIATED else str(first.get("status"))
    if state == "True":
        conditions = cond.remove(conditions, cond.STALLED)
    status["conditions"] = cond.set_condition(conditions, cond.READY, state, str(first.get("reason")),
                                              str(first.get("message", "")), generation)
    postrender.record_observed_digests(spec_of(obj), status)


def failure_count(obj: Obj, status: Obj) -> int:
    remediation = active_remediation(obj, status)
    return remediation.failure_count(status) if remediation else 0
