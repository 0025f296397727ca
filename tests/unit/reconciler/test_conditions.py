from sandbox.reconciler.runtime import conditions as cond

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"


def test_transition_time_moves_only_when_status_changes() -> None:
    first = cond.set_condition(None, "Ready", "True", "Succeeded", "ok", 1, now=T0)
    same = cond.set_condition(first, "Ready", "True", "Succeeded", "still ok", 2, now=T1)
    assert same[0]["lastTransitionTime"] == T0 and same[0]["message"] == "still ok"
    assert same[0]["observedGeneration"] == 2
    flipped = cond.set_condition(same, "Ready", "False", "Failed", "broken", 2, now=T1)
    assert flipped[0]["lastTransitionTime"] == T1


def test_reconciling_then_ready_removes_reconciling() -> None:
    progressing = cond.mark_reconciling(None, cond.PROGRESSING, "Fetching manifests", 1, now=T0)
    assert {c["type"]: c["status"] for c in progressing} == {"Ready": "Unknown", "Reconciling": "True"}
    ready = cond.mark_ready(progressing, cond.RECONCILIATION_SUCCEEDED, "Applied revision: main@sha1:abc", 1)
    assert [c["type"] for c in ready] == ["Ready"]
    assert ready[0]["status"] == "True" and ready[0]["reason"] == "ReconciliationSucceeded"


def test_failure_keeps_reconciling_with_retry_unless_stalled() -> None:
    progressing = cond.mark_reconciling(None, cond.PROGRESSING, "Fetching manifests", 1, now=T0)
    failed = cond.mark_failed(progressing, cond.BUILD_FAILED, "kustomize build failed", 1)
    by_type = {c["type"]: c for c in failed}
    assert by_type["Ready"]["status"] == "False" and by_type["Ready"]["reason"] == "BuildFailed"
    assert by_type["Reconciling"]["reason"] == "ProgressingWithRetry"
    assert by_type["Reconciling"]["message"] == "Fetching manifests"
    stalled = cond.mark_failed(progressing, cond.RECONCILIATION_FAILED, "invalid interval", 1, stalled=True)
    assert {c["type"] for c in stalled} == {"Ready", "Stalled"}


def test_ready_comes_first() -> None:
    conditions = cond.set_condition(None, "Healthy", "True", "Succeeded", "", 1)
    conditions = cond.set_condition(conditions, "Ready", "True", "Succeeded", "", 1)
    assert [c["type"] for c in conditions] == ["Ready", "Healthy"]
