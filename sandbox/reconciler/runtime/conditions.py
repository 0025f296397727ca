"""Pure helpers for ``status.conditions`` (metav1.Condition) with Flux's types and reasons.

``lastTransitionTime`` moves only when the status really changes, as in fluxcd/pkg/runtime/conditions.
"""

from __future__ import annotations

from typing import Any

from sandbox.reconciler.runtime.timeutil import rfc3339

Condition = dict[str, Any]

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
HEALTHY = "Healthy"
ARTIFACT_IN_STORAGE = "ArtifactInStorage"
FETCH_FAILED = "FetchFailed"

# Reasons (fluxcd/pkg apis/meta and the controllers' own)
SUCCEEDED = "Succeeded"
FAILED = "Failed"
PROGRESSING = "Progressing"
PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
SUSPENDED = "Suspended"
DEPENDENCY_NOT_READY = "DependencyNotReady"
ARTIFACT_FAILED = "ArtifactFailed"
BUILD_FAILED = "BuildFailed"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
HEALTH_CHECK_CANCELED = "HealthCheckCanceled"
PRUNE_FAILED = "PruneFailed"
RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"
RECONCILIATION_FAILED = "ReconciliationFailed"
GIT_OPERATION_FAILED = "GitOperationFailed"
AUTHENTICATION_FAILED = "AuthenticationFailed"
NEW_REVISION = "NewRevision"
ARTIFACT_UP_TO_DATE = "ArtifactUpToDate"
INVALID_URL = "InvalidURL"
TOKEN_NOT_FOUND = "TokenNotFound"
INVALID_CEL_EXPRESSION = "InvalidCELExpression"


def find(conditions: list[Condition] | None, kind: str) -> Condition | None:
    for condition in conditions or []:
        if condition.get("type") == kind:
            return condition
    return None


def is_true(conditions: list[Condition] | None, kind: str) -> bool:
    condition = find(conditions, kind)
    return condition is not None and condition.get("status") == "True"


def set_condition(conditions: list[Condition] | None, kind: str, status: str, reason: str, message: str,
                  observed_generation: int | None = None, now: str | None = None) -> list[Condition]:
    """Return a new list with condition ``kind`` set; keeps lastTransitionTime when status is unchanged."""
    result = [dict(c) for c in conditions or []]
    stamp = now or rfc3339()
    new: Condition = {"type": kind, "status": status, "reason": reason, "message": message,
                      "lastTransitionTime": stamp}
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    for index, existing in enumerate(result):
        if existing.get("type") == kind:
            if existing.get("status") == status:
                new["lastTransitionTime"] = existing.get("lastTransitionTime", stamp)
            result[index] = new
            break
    else:
        result.append(new)
    return _ordered(result)


def remove(conditions: list[Condition] | None, kind: str) -> list[Condition]:
    return [dict(c) for c in conditions or [] if c.get("type") != kind]


def _ordered(conditions: list[Condition]) -> list[Condition]:
    """Ready first, then the abnormal-true ones, then the rest alphabetically (Flux's ordering)."""
    priority = {READY: 0, RECONCILING: 1, STALLED: 2}
    return sorted(conditions, key=lambda c: (priority.get(c.get("type", ""), 3), c.get("type", "")))


def mark_reconciling(conditions: list[Condition] | None, reason: str, message: str, generation: int,
                     now: str | None = None) -> list[Condition]:
    """Ready=Unknown and Reconciling=True while work is under way (kstatus: InProgress)."""
    updated = set_condition(conditions, RECONCILING, "True", reason, message, generation, now)
    return set_condition(updated, READY, "Unknown", reason, "Reconciliation in progress", generation, now)


def mark_ready(conditions: list[Condition] | None, reason: str, message: str, generation: int,
               now: str | None = None) -> list[Condition]:
    updated = remove(remove(conditions, RECONCILING), STALLED)
    return set_condition(updated, READY, "True", reason, message, generation, now)


def mark_failed(conditions: list[Condition] | None, reason: str, message: str, generation: int, *,
                stalled: bool = False, now: str | None = None) -> list[Condition]:
    """Ready=False. Stalled=True when retrying cannot help (an invalid spec); otherwise Reconciling=True with
    reason ProgressingWithRetry, as kustomize-controller leaves it while it retries."""
    updated = remove(conditions, STALLED)
    if stalled:
        updated = remove(updated, RECONCILING)
        updated = set_condition(updated, STALLED, "True", reason, message, generation, now)
    else:
        previous = find(updated, RECONCILING)
        retry_message = previous.get("message", message) if previous else message
        updated = set_condition(updated, RECONCILING, "True", PROGRESSING_WITH_RETRY, retry_message, generation, now)
    return set_condition(updated, READY, "False", reason, message, generation, now)
