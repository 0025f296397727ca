"""helm-controller's pure decisions: release state, next action, remediation defaults, Ready summary, requests."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.reconciler.helm import history, state
from sandbox.reconciler.helm.history import Release
from sandbox.reconciler.helm.state import Next, ReleaseState, ReleaseStatus
from sandbox.reconciler.helm.values import digest_values
from sandbox.reconciler.runtime import conditions as cond

Obj = dict[str, Any]
VALUES = {"replicaCount": 2}


def hr(**spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "apps", "generation": 3},
            "spec": {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "web"}, **spec}}


def release(version: int = 1, status: str = "deployed", chart_version: str = "1.0.0", **extra: Any) -> Release:
    fields: Obj = {"config": dict(VALUES), "manifest": "kind: ConfigMap", "first_deployed": "2026-01-01T00:00:00Z",
                   "last_deployed": "2026-01-01T00:00:00Z", **extra}
    return Release(name="web", namespace="apps", version=version, status=status, chart_name="web",
                   chart_version=chart_version, **fields)


def status_with(*releases: Release, **fields: Any) -> Obj:
    return {"history": [history.snapshot(r, "upgrade") for r in releases], **fields}


def decide(obj: Obj, status: Obj, last: Release | None, chart_version: str = "1.0.0",
           values: Obj | None = None) -> ReleaseState:
    return state.determine_state(obj, status, last, "web", chart_version, digest_values(VALUES if values is None
                                                                                        else values))


def test_release_states() -> None:
    obj = hr()
    assert decide(obj, {}, None) == ReleaseState(ReleaseStatus.ABSENT, "no release in storage for object")
    assert decide(obj, {}, release(status="pending-upgrade")).status == ReleaseStatus.LOCKED
    assert decide(obj, {}, release()) == ReleaseState(ReleaseStatus.UNMANAGED, "found existing release in storage")
    assert decide(obj, {}, release(status="uninstalled")).status == ReleaseStatus.ABSENT
    current = release()
    assert decide(obj, status_with(current), current).status == ReleaseStatus.IN_SYNC
    # Changed behind the controller's back (another manifest, or a newer version it did not make).
    assert decide(obj, status_with(current), release(manifest="other")).status == ReleaseStatus.UNMANAGED
    assert decide(obj, status_with(current), release(version=2)).status == ReleaseStatus.UNMANAGED
    failed = release(status="failed")
    assert decide(obj, status_with(failed), failed).status == ReleaseStatus.FAILED
    assert decide(obj, status_with(current), current, chart_version="1.1.0") == \
        ReleaseState(ReleaseStatus.OUT_OF_SYNC, "release chart changed")
    assert decide(obj, status_with(current), current, values={"replicaCount": 3}) == \
        ReleaseState(ReleaseStatus.OUT_OF_SYNC, "release config values changed")


def test_tests_make_untested_and_failed_states() -> None:
    obj = hr(test={"enable": True})
    current = release()
    assert decide(obj, status_with(current), current).status == ReleaseStatus.UNTESTED
    failed_test = {"history": [history.snapshot(current, "upgrade", test_hooks={"t": {"phase": "Failed"}})],
                   "lastAttemptedReleaseAction": "upgrade"}
    assert decide(obj, failed_test, current) == ReleaseState(ReleaseStatus.FAILED, "release has test in failed phase")
    ignoring = hr(test={"enable": True, "ignoreFailures": True})
    assert decide(ignoring, failed_test, current).status == ReleaseStatus.IN_SYNC


def never(_snap: Obj | None) -> str:
    raise AssertionError("no rollback target expected")


def test_absent_and_out_of_sync_stop_when_retries_are_exhausted_unless_forced() -> None:
    obj = hr()
    status: Obj = {"installFailures": 1, "lastAttemptedReleaseAction": "install"}
    with pytest.raises(state.ExceededMaxRetries, match="exceeded maximum retries: cannot install release"):
        state.action_for_state(obj, status, ReleaseState(ReleaseStatus.ABSENT), force=False, verify_previous=never)
    assert state.action_for_state(obj, status, ReleaseState(ReleaseStatus.ABSENT), force=True,
                                  verify_previous=never) == Next.INSTALL
    assert state.action_for_state(hr(install={"remediation": {"retries": 1}}), status,
                                  ReleaseState(ReleaseStatus.ABSENT), force=False,
                                  verify_previous=never) == Next.INSTALL
    status = {"upgradeFailures": 1, "lastAttemptedReleaseAction": "upgrade"}
    with pytest.raises(state.ExceededMaxRetries, match="cannot upgrade release"):
        state.action_for_state(obj, status, ReleaseState(ReleaseStatus.OUT_OF_SYNC), force=False,
                               verify_previous=never)
    # Negative retries: forever.
    assert state.action_for_state(hr(upgrade={"remediation": {"retries": -1}}), {**status, "upgradeFailures": 50},
                                  ReleaseState(ReleaseStatus.OUT_OF_SYNC), force=False,
                                  verify_previous=never) == Next.UPGRADE


def failed_status(failures: int) -> Obj:
    good, bad = release(1), release(2, status="failed")
    return {**status_with(good, bad), "upgradeFailures": failures, "lastAttemptedReleaseAction": "upgrade"}


def test_failed_release_is_remediated_by_the_strategy() -> None:
    failed = ReleaseState(ReleaseStatus.FAILED)
    obj = hr(upgrade={"remediation": {"retries": 2}})
    targets: list[Obj | None] = []

    def verify(snap: Obj | None) -> str:
        targets.append(snap)
        return "ok"

    assert state.action_for_state(obj, failed_status(1), failed, force=False, verify_previous=verify) == Next.ROLLBACK
    assert targets and targets[0] is not None and targets[0]["version"] == 1
    # Retries exhausted: the last failure is still remediated (remediateLastFailure defaults to retries > 0).
    assert state.action_for_state(obj, failed_status(3), failed, force=False, verify_previous=verify) == Next.ROLLBACK
    no_retries = hr()
    with pytest.raises(state.ExceededMaxRetries, match="cannot remediate failed release"):
        state.action_for_state(no_retries, failed_status(1), failed, force=False, verify_previous=verify)
    with pytest.raises(state.MissingRollbackTarget):
        state.action_for_state(obj, failed_status(1), failed, force=False, verify_previous=lambda _: "missing")
    assert state.action_for_state(obj, failed_status(1), failed, force=False,
                                  verify_previous=lambda _: "changed") == Next.UPGRADE
    uninstall = hr(upgrade={"remediation": {"retries": 2, "strategy": "uninstall"}})
    assert state.action_for_state(uninstall, failed_status(1), failed, force=False,
                                  verify_previous=never) == Next.UNINSTALL_REMEDIATION
    # No failure counted (the conditions changed since), forced, or RetryOnFailure: upgrade again.
    assert state.action_for_state(obj, failed_status(0), failed, force=False, verify_previous=never) == Next.UPGRADE
    assert state.action_for_state(no_retries, failed_status(1), failed, force=True,
                                  verify_previous=never) == Next.UPGRADE
    retry = hr(upgrade={"strategy": {"name": "RetryOnFailure", "retryInterval": "1m"}})
    assert state.action_for_state(retry, failed_status(5), failed, force=False, verify_previous=never) == Next.UPGRADE
    assert state.active_retry(retry, {"lastAttemptedReleaseAction": "upgrade"}) == 60.0


def test_in_sync_after_a_rollback_turns_remediated_into_released() -> None:
    obj = hr()
    current = release(3)
    status: Obj = {**status_with(current), "conditions": cond.set_condition(
        cond.set_condition(None, "Remediated", "True", "RollbackSucceeded", "rolled back", 2), cond.READY, "False",
        "RollbackSucceeded", "rolled back", 2)}
    assert state.action_for_state(obj, status, ReleaseState(ReleaseStatus.IN_SYNC), force=False,
                                  verify_previous=never) is None
    found = {c["type"]: c for c in status["conditions"]}
    assert "Remediated" not in found
    assert found["Released"]["reason"] == "UpgradeSucceeded"
    assert found["Released"]["message"] == "Helm upgrade succeeded for release apps/web.v3 with chart web@1.0.0"
    assert state.action_for_state(obj, status, ReleaseState(ReleaseStatus.IN_SYNC), force=True,
                                  verify_previous=never) == Next.UPGRADE


def test_remediation_defaults() -> None:
    install = state.remediation_of(hr(), "install")
    upgrade = state.remediation_of(hr(upgrade={"remediation": {"retries": 3}}), "upgrade")
    assert install.strategy == "uninstall" and not install.must_remediate_last_failure()
    assert upgrade.strategy == "rollback" and upgrade.must_remediate_last_failure()
    assert not state.remediation_of(hr(), "upgrade").must_remediate_last_failure()
    assert upgrade.retries_exhausted({"upgradeFailures": 4}) and not upgrade.retries_exhausted({"upgradeFailures": 3})
    assert state.timeout_of(hr(), "install") == 300.0
    assert state.timeout_of(hr(timeout="1m", install={"timeout": "10s"}), "install") == 10.0
    assert state.release_name(hr(targetNamespace="prod")) == "prod-web"
    long = hr(releaseName="x" * 60)
    assert len(state.short_release_name(long)) == 53


def test_summarize_follows_remediated_then_released() -> None:
    obj = hr()
    status: Obj = {"conditions": cond.set_condition(None, "Released", "True", "InstallSucceeded", "ok", 3)}
    status["conditions"] = cond.set_condition(status["conditions"], cond.STALLED, "True", "RetriesExceeded", "x", 3)
    state.summarize(obj, status)
    ready = cond.find(status["conditions"], cond.READY)
    assert ready is not None and (ready["status"], ready["reason"]) == ("True", "InstallSucceeded")
    assert cond.find(status["conditions"], cond.STALLED) is None
    status["conditions"] = cond.set_condition(status["conditions"], "Remediated", "True", "RollbackSucceeded",
                                              "rolled back", 3)
    state.summarize(obj, status)
    ready = cond.find(status["conditions"], cond.READY)
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "RollbackSucceeded")
    tested = hr(test={"enable": True})
    status = {"conditions": cond.set_condition(cond.set_condition(None, "Released", "True", "UpgradeSucceeded", "ok",
                                                                  3), "TestSuccess", "False", "TestFailed", "bad", 3)}
    state.summarize(tested, status)
    ready = cond.find(status["conditions"], cond.READY)
    assert ready is not None and ready["reason"] == "TestFailed"
    state.summarize(hr(), status)  # tests disabled: TestSuccess goes
    assert cond.find(status["conditions"], "TestSuccess") is None


def test_force_and_reset_requests_count_once_and_only_with_requested_at() -> None:
    obj = hr()
    obj["metadata"]["annotations"] = {"reconcile.fluxcd.io/forceAt": "t1", "reconcile.fluxcd.io/requestedAt": "t1"}
    status: Obj = {}
    assert state.handle_request(obj, status, state.FORCE_AT, "lastHandledForceAt")
    assert status["lastHandledForceAt"] == "t1"
    assert not state.handle_request(obj, status, state.FORCE_AT, "lastHandledForceAt")
    obj["metadata"]["annotations"] = {"reconcile.fluxcd.io/forceAt": "t2", "reconcile.fluxcd.io/requestedAt": "t3"}
    assert not state.handle_request(obj, status, state.FORCE_AT, "lastHandledForceAt")
    assert status["lastHandledForceAt"] == "t2"


def test_failure_counters_reset_on_a_new_generation_chart_or_values() -> None:
    obj = hr()
    status = {"lastAttemptedGeneration": 3, "lastAttemptedRevision": "1.0.0", "lastAttemptedConfigDigest": "sha256:a"}
    assert state.must_reset_failures(obj, status, "1.0.0", "sha256:a", False) == ""
    assert state.must_reset_failures(obj, status, "1.0.0", "sha256:a", True) == "reset requested through annotation"
    assert state.must_reset_failures(obj, status, "1.0.1", "sha256:a", False) == "chart version changed"
    assert state.must_reset_failures(obj, status, "1.0.0", "sha256:b", False) == "values changed"
    assert state.must_reset_failures(obj, {**status, "lastAttemptedGeneration": 2}, "1.0.0", "sha256:a", False)
    counters = {"failures": 2, "installFailures": 1, "upgradeFailures": 1, "other": 1}
    state.clear_failures(counters)
    assert counters == {"other": 1}


def test_history_previous_and_truncate() -> None:
    snaps = [history.snapshot(release(v, s), "upgrade") for v, s in
             ((5, "failed"), (4, "failed"), (3, "superseded"), (2, "superseded"), (1, "superseded"))]
    assert (history.previous(snaps, False) or {})["version"] == 3
    assert [s["version"] for s in history.truncate(snaps, False)] == [5, 4, 3]
    tested = [*snaps[:2], history.snapshot(release(3, "superseded"), "upgrade", test_hooks={"t": {"phase": "Failed"}}),
              *snaps[3:]]
    assert (history.previous(tested, False) or {})["version"] == 2
    assert (history.previous(tested, True) or {})["version"] == 3
    assert history.has_been_tested({"testHooks": {}}) and not history.has_been_tested({"testHooks": {"t": {}}})
    assert history.snapshot(release(1, first_deployed="2026-01-01T00:00:00.123456789Z"), "install")[
        "firstDeployed"] == "2026-01-01T00:00:00Z"
