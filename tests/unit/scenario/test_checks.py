"""What wait and expect conclude from what they see (plain dicts in, Outcome out)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.scenario.checks import Commit, compare_field, compare_git, compare_pods, compare_ready, match_events

SHA = "a" * 40
OLD = "b" * 40


def kustomization(ready: str = "True", reason: str = "ReconciliationSucceeded", applied: str = SHA,
                  attempted: str = SHA, generation: int = 1, observed: int = 1, message: str = "") -> dict[str, Any]:
    return {"kind": "Kustomization", "metadata": {"name": "apps", "generation": generation},
            "status": {"observedGeneration": observed, "lastAppliedRevision": f"main@sha1:{applied}",
                       "lastAttemptedRevision": f"main@sha1:{attempted}",
                       "conditions": [{"type": "Ready", "status": ready, "reason": reason,
                                       "message": message or f"Applied revision: main@sha1:{applied}"}]}}


READY_CASES = [
    ("ready", kustomization(), {}, None, True, "Ready=True"),
    ("ready-at-head", kustomization(), {}, SHA, True, f"lastAppliedRevision=main@sha1:{SHA}"),
    ("ready-at-old-commit", kustomization(applied=OLD), {}, SHA, False, f"lastAppliedRevision at commit {SHA[:12]}"),
    ("not-ready", kustomization("False", "BuildFailed"), {}, None, False, "expected status True"),
    ("stale-generation", kustomization(generation=2), {}, None, False, "observedGeneration 2 (it is 1)"),
    ("suspended-keeps-its-status", {**kustomization(generation=2), "spec": {"suspend": True}}, {}, None, True, ""),
    ("wanted-false", kustomization("False", "BuildFailed", applied=OLD), {"status": "False", "reason": "BuildFailed"},
     SHA, True, f"lastAttemptedRevision=main@sha1:{SHA}"),
    ("wanted-false-as-yaml-bool", kustomization("False", "BuildFailed"), {"status": False}, None, True, ""),
    ("wrong-reason", kustomization("False", "HealthCheckFailed"), {"status": "False", "reason": "BuildFailed"},
     None, False, "expected reason BuildFailed"),
    ("message", kustomization("False", "BuildFailed", message="kustomize build failed: bad.yaml"),
     {"status": "False", "message": "bad.yaml"}, None, True, ""),
    ("other-condition", {"kind": "Deployment", "metadata": {"name": "w"}, "status": {"conditions": [
        {"type": "Available", "status": "True"}]}}, {"condition": "Available"}, None, True, "Available=True"),
    ("no-condition", {"kind": "ConfigMap", "metadata": {"name": "c"}}, {}, None, False, "has no Ready condition yet"),
    ("absent", None, {}, None, False, "does not exist"),
]


@pytest.mark.parametrize(("obj", "check", "sha", "ok", "detail"), [c[1:] for c in READY_CASES],
                         ids=[c[0] for c in READY_CASES])
def test_compare_ready(obj: dict[str, Any] | None, check: dict[str, Any], sha: str | None, ok: bool,
                       detail: str) -> None:
    outcome = compare_ready(obj, "Kustomization/ns/apps", {"ready": "Kustomization/apps", **check}, sha)
    assert outcome.ok is ok, outcome.detail
    assert detail in outcome.detail


CM = {"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app": "web"}}, "data": {"color": "blue", "n": "2"},
      "spec": {"replicas": 3, "items": ["a", "b"]}}
FIELD_CASES = [
    ("exists", CM, {}, True, "exists"),
    ("absent-object", None, {}, False, "does not exist"),
    ("absent-wanted", None, {"exists": False}, True, ""),
    ("equals", CM, {"jsonpath": ".data.color", "equals": "blue"}, True, "is 'blue'"),
    ("equals-wrong", CM, {"jsonpath": ".data.color", "equals": "red"}, False, "is 'blue', expected 'red'"),
    ("equals-number-as-string", CM, {"jsonpath": ".data.n", "equals": 2}, True, ""),
    ("equals-int", CM, {"jsonpath": ".spec.replicas", "equals": 3}, True, "is 3"),
    ("contains-text", CM, {"jsonpath": ".data.color", "contains": "lu"}, True, ""),
    ("contains-list-item", CM, {"jsonpath": ".spec.items", "contains": "b"}, True, ""),
    ("contains-over-wildcard", CM, {"jsonpath": ".data.*", "contains": "blue"}, True, "contains 'blue'"),
    ("contains-missing", CM, {"jsonpath": ".spec.items", "contains": "z"}, False, "expected it to contain 'z'"),
    ("matches", CM, {"jsonpath": ".data.color", "matches": "^bl"}, True, ""),
    ("field-missing", CM, {"jsonpath": ".data.nope", "equals": "x"}, False, "has no .data.nope"),
    ("field-exists-false", CM, {"jsonpath": ".data.nope", "exists": False}, True, ""),
    ("field-exists-true", CM, {"jsonpath": ".metadata.labels.app", "exists": True}, True, ""),
]


@pytest.mark.parametrize(("obj", "check", "ok", "detail"), [c[1:] for c in FIELD_CASES],
                         ids=[c[0] for c in FIELD_CASES])
def test_compare_field(obj: dict[str, Any] | None, check: dict[str, Any], ok: bool, detail: str) -> None:
    outcome = compare_field(obj, "ConfigMap/ns/c", {"object": "ConfigMap/c", **check})
    assert outcome.ok is ok, outcome.detail
    assert detail in outcome.detail


EVENTS = [{"type": "Normal", "reason": "Progressing", "message": "ConfigMap/ns/a created"},
          {"type": "Warning", "reason": "BuildFailed", "message": "kustomize build failed"}]


@pytest.mark.parametrize(("check", "ok"), [
    ({"reason": "Progressing"}, True), ({"type": "Warning", "reason": "BuildFailed"}, True),
    ({"type": "Normal", "reason": "BuildFailed"}, False), ({"message": "a created"}, True),
    ({"message": "b created"}, False),
])
def test_match_events(check: dict[str, Any], ok: bool) -> None:
    outcome = match_events(EVENTS, "Kustomization/ns/apps", check)
    assert outcome.ok is ok
    if not ok:
        assert "its latest events: Normal Progressing: ConfigMap/ns/a created | Warning BuildFailed" in outcome.detail


def pod(name: str, *images: str, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"image": i} for i in images]},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize(("pods", "check", "ok", "detail"), [
    ([pod("a", "nginx:1.25")], {"images": ["nginx:1.25"]}, True, "a nginx:1.25"),
    ([pod("a", "nginx:1.25"), pod("b", "nginx:1.24")], {"images": ["nginx:1.25"]}, False,
     "every pod running exactly nginx:1.25"),
    ([pod("a", "app", "sidecar")], {"images": ["sidecar", "app"]}, True, ""),
    ([], {}, False, "at least one pod"),
    ([pod("a", "x"), pod("b", "x", deleting=True)], {"count": 1}, True, ""),
    ([pod("a", "x"), pod("b", "x")], {"count": 1}, False, "1 pods (found 2)"),
    ([pod("a", "x", ready=False)], {"all_ready": True}, False, "every pod Ready"),
])
def test_compare_pods(pods: list[dict[str, Any]], check: dict[str, Any], ok: bool, detail: str) -> None:
    outcome = compare_pods(pods, "ns app=web", {"pods": "app=web", **check})
    assert outcome.ok is ok, outcome.detail
    assert detail in outcome.detail


HISTORY = [Commit(SHA, "Remove the old settings"), Commit(OLD, "Initial commit")]


@pytest.mark.parametrize(("check", "files", "ok", "detail"), [
    ({"head_message": "Remove"}, {}, True, "2 commit(s)"),
    ({"head_message": "Initial"}, {}, False, "a head commit message containing 'Initial'"),
    ({"messages": ["Initial", "Remove"], "commits": 2}, {}, True, ""),
    ({"commits": 3}, {}, False, "expected 3 commits"),
    ({"files": {"a.yaml": None}}, {"a.yaml": None}, True, ""),
    ({"files": {"a.yaml": None}}, {"a.yaml": "x"}, False, "a.yaml absent"),
    ({"files": {"b.yaml": "color: blue"}}, {"b.yaml": "data:\n  color: blue\n"}, True, ""),
    ({"files": {"b.yaml": "color: red"}}, {"b.yaml": "color: blue"}, False, "b.yaml containing 'color: red'"),
])
def test_compare_git(check: dict[str, Any], files: dict[str, str | None], ok: bool, detail: str) -> None:
    outcome = compare_git(HISTORY, files, "main", {"git": "main", **check})
    assert outcome.ok is ok, outcome.detail
    assert detail in outcome.detail
