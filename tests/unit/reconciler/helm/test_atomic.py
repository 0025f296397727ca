"""The atomic release loop over a fake Helm storage: when it stops, what it records, and how it says to continue
(helm-controller's AtomicRelease: install, upgrade failure → rollback → requeue → retries exhausted, RetryOnFailure,
a failure before anything is stored)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from sandbox.reconciler.helm import values as helm_values
from sandbox.reconciler.helm.actions import ActionError, ReleaseNotFound
from sandbox.reconciler.helm.atomic import AtomicRelease, Hooks, Outcome, Request
from sandbox.reconciler.helm.chart import LoadedChart
from sandbox.reconciler.helm.history import Release
from sandbox.reconciler.runtime import conditions as cond

Obj = dict[str, Any]


class FakeHelm:
    """Helm's storage for one namespace, with actions that fail on request: ``fail`` names the actions whose
    wait fails (a failed release is stored), ``refuse`` those that fail before storing anything."""

    def __init__(self) -> None:
        self.releases: dict[str, list[Release]] = {}
        self.fail: set[str] = set()
        self.refuse: set[str] = set()
        self.calls: list[str] = []

    @contextmanager
    def locked(self, storage_namespace: str, name: str) -> Iterator[None]:
        yield

    def versions(self, storage_namespace: str, name: str) -> list[Obj]:
        return [{"revision": r.version} for r in self.releases.get(name, [])]

    def get(self, storage_namespace: str, name: str, version: int) -> Release | None:
        return next((r for r in self.releases.get(name, []) if r.version == version), None)

    def last(self, storage_namespace: str, name: str) -> Release | None:
        stored = self.releases.get(name, [])
        return stored[-1] if stored else None

    def _store(self, action: str, name: str, namespace: str, chart: Any, values: Obj) -> None:
        self.calls.append(action)
        if action in self.refuse:
            raise ActionError("values don't meet the specifications of the schema(s)")
        stored = self.releases.setdefault(name, [])
        failed = action in self.fail
        if not failed:
            stored[:] = [replace(r, status="superseded") if r.status == "deployed" else r for r in stored]
        stored.append(Release(name, namespace, len(stored) + 1, "failed" if failed else "deployed", chart.name,
                              chart.version, config=dict(values), manifest=f"v{len(stored) + 1}",
                              first_deployed="2026-01-01T00:00:00Z", last_deployed="2026-01-01T00:00:00Z"))
        if failed:
            raise ActionError("resource Deployment/apps/web not ready. status: InProgress\ncontext deadline exceeded")

    @contextmanager
    def release_chart(self, storage_namespace: str, chart: Any, values: Obj, helmrelease: Obj,
                      **_: Any) -> Iterator[Any]:
        yield chart  # post-rendering is helm/render's (tests/unit/reconciler/helm/test_postrender.py)

    def install(self, storage_namespace: str, chart: Any, name: str, values: Obj, **_: Any) -> None:
        self._store("install", name, storage_namespace, chart, values)

    def upgrade(self, storage_namespace: str, chart: Any, name: str, values: Obj, **_: Any) -> None:
        self._store("upgrade", name, storage_namespace, chart, values)

    def rollback(self, storage_namespace: str, name: str, version: int, **_: Any) -> None:
        self.calls.append(f"rollback:{version}")
        target = self.get(storage_namespace, name, version)
        assert target is not None
        stored = self.releases[name]
        stored[:] = [replace(r, status="superseded") if r.status in ("deployed", "failed") else r for r in stored]
        stored.append(replace(target, version=len(stored) + 1, status="deployed"))

    def uninstall(self, storage_namespace: str, name: str, **_: Any) -> Obj:
        self.calls.append("uninstall")
        if not self.releases.pop(name, None):
            raise ReleaseNotFound("release: not found")
        return {}


CHART = LoadedChart(SimpleNamespace(name="web", version="1.0.0"), "web", "1.0.0", "", "", False)  # type: ignore[arg-type]


def hr(generation: int = 1, **spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "apps", "generation": generation},
            "spec": {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "web"}, **spec}}


class Run:
    def __init__(self, helm: FakeHelm) -> None:
        self.helm = helm
        self.events: list[tuple[str, str, str]] = []
        self.patches = 0
        self.atomic = AtomicRelease(helm, Hooks(lambda t, r, m, _meta: self.events.append((t, r, m)),  # type: ignore[arg-type]
                                                self._patch, lambda _release: None))

    def _patch(self, _status: Obj) -> None:
        self.patches += 1

    def reconcile(self, obj: Obj, status: Obj, values: Obj) -> Outcome:
        composed = helm_values.Values(values, helm_values.digest_values(values))
        status["lastAttemptedReleaseAction"] = status.get("lastAttemptedReleaseAction", "")
        return self.atomic.reconcile(Request(obj, status, CHART, composed)).outcome


def conditions(status: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in status.get("conditions") or []}


def test_install_then_nothing_to_do() -> None:
    helm = FakeHelm()
    run = Run(helm)
    status: Obj = {}
    assert run.reconcile(hr(), status, {"a": 1}) == Outcome.DONE
    found = conditions(status)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("True", "InstallSucceeded")
    assert found["Ready"]["message"] == "Helm install succeeded for release apps/web.v1 with chart web@1.0.0"
    assert "Reconciling" not in found
    assert [(s["version"], s["status"], s["action"]) for s in status["history"]] == [(1, "deployed", "install")]
    assert run.events == [("Normal", "InstallSucceeded", found["Ready"]["message"])]
    assert run.reconcile(hr(), status, {"a": 1}) == Outcome.DONE and helm.calls == ["install"]


def test_failed_upgrades_are_rolled_back_until_retries_run_out() -> None:
    helm = FakeHelm()
    run = Run(helm)
    status: Obj = {}
    obj = hr(2, upgrade={"remediation": {"retries": 1}})
    assert run.reconcile(obj, status, {"a": 1}) == Outcome.DONE
    helm.fail.add("upgrade")
    assert run.reconcile(obj, status, {"a": 2}) == Outcome.MUST_REQUEUE
    found = conditions(status)
    assert (found["Remediated"]["status"], found["Remediated"]["reason"]) == ("True", "RollbackSucceeded")
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", "RollbackSucceeded")
    assert found["Reconciling"]["reason"] == "ProgressingWithRetry"
    assert status["upgradeFailures"] == 1 and helm.calls == ["install", "upgrade", "rollback:1"]
    assert run.reconcile(obj, status, {"a": 2}) == Outcome.EXCEEDED
    found = conditions(status)
    assert (found["Stalled"]["reason"], found["Stalled"]["message"]) == \
        ("RetriesExceeded", "Failed to upgrade after 2 attempt(s)")
    assert "Reconciling" not in found
    assert helm.calls == ["install", "upgrade", "rollback:1", "upgrade", "rollback:3"]
    assert status["history"][0]["action"] == "rollback" and status["history"][0]["status"] == "deployed"
    # Nothing more until something changes.
    assert run.reconcile(obj, status, {"a": 2}) == Outcome.EXCEEDED and len(helm.calls) == 5


def test_retry_on_failure_requeues_at_the_retry_interval_without_remediation() -> None:
    helm = FakeHelm()
    run = Run(helm)
    status: Obj = {}
    obj = hr(upgrade={"strategy": {"name": "RetryOnFailure", "retryInterval": "5s"}})
    run.reconcile(obj, status, {"a": 1})
    helm.fail.add("upgrade")
    result = run.atomic.reconcile(Request(obj, status, CHART, helm_values.Values({"a": 2},
                                                                                helm_values.digest_values({"a": 2}))))
    assert (result.outcome, result.retry_interval) == (Outcome.RETRY_AFTER_INTERVAL, 5.0)
    found = conditions(status)
    assert (found["Reconciling"]["reason"], found["Reconciling"]["message"]) == \
        ("ProgressingWithRetry", "retrying after 5s")
    assert "Remediated" not in found and helm.calls == ["install", "upgrade"]
    helm.fail.clear()
    assert run.reconcile(obj, status, {"a": 2}) == Outcome.DONE
    assert conditions(status)["Ready"]["reason"] == "UpgradeSucceeded"
    assert not {"failures", "upgradeFailures"} & set(status)


def test_a_failure_before_anything_is_stored_is_an_error_without_counting() -> None:
    helm = FakeHelm()
    run = Run(helm)
    status: Obj = {}
    run.reconcile(hr(), status, {"a": 1})
    helm.refuse.add("upgrade")
    assert run.reconcile(hr(), status, {"a": 2}) == Outcome.ERROR
    found = conditions(status)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", "UpgradeFailed")
    assert found["Ready"]["message"] == ("Helm upgrade failed for release apps/web with chart web@1.0.0: values don't "
                                         "meet the specifications of the schema(s)")
    assert status["failures"] == 1 and "upgradeFailures" not in status
    assert [s["status"] for s in status["history"]] == ["deployed"]  # the release keeps serving


def test_secret_values_are_scrubbed_from_helm_messages() -> None:
    helm = FakeHelm()
    run = Run(helm)
    status: Obj = {}
    run.reconcile(hr(), status, {"a": 1})
    helm.refuse.add("upgrade")
    values = helm_values.Values({"a": 2}, helm_values.digest_values({"a": 2}), frozenset({"schema(s)"}))
    run.atomic.reconcile(Request(hr(), status, CHART, values))
    assert cond.find(status["conditions"], cond.READY)["message"].endswith("specifications of the ***")  # type: ignore[index]
    assert all("schema(s)" not in message for _, _, message in run.events)
