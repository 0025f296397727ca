"""Alert matching as notification-controller's event handler decides it (cases after its event_handlers_test.go:
name and `*`, namespace defaulting to the Alert's, matchLabels only with `*`, severity, inclusion/exclusion with
exclusion winning, suspend) and the metadata an Alert adds, with upstream's precedence."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.reconciler.notification.alerts import alert_matches, metadata_for


def event(severity: str = "info", message: str = "applied revision main@sha1:abc", *, kind: str = "Kustomization",
          name: str = "podinfo", namespace: str = "apps") -> dict[str, Any]:
    return {"involvedObject": {"kind": kind, "name": name, "namespace": namespace,
                               "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
            "severity": severity, "message": message, "reason": "ReconciliationSucceeded",
            "metadata": {"revision": "main@sha1:abc"}, "reportingController": "kustomize-controller"}


def alert(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"providerRef": {"name": "sink"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}
    base.update(spec)
    return {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": "a", "namespace": "apps"}, "spec": base}


LABELS = {"app": "podinfo", "team": "web"}

CASES = [
    ("name * matches every object of the kind", alert(), event(), True),
    ("a named source matches that name", alert(eventSources=[{"kind": "Kustomization", "name": "podinfo"}]),
     event(), True),
    ("a named source does not match another name",
     alert(eventSources=[{"kind": "Kustomization", "name": "other"}]), event(), False),
    ("another kind does not match", alert(eventSources=[{"kind": "GitRepository", "name": "*"}]), event(), False),
    ("the source's namespace defaults to the Alert's", alert(), event(namespace="other"), False),
    ("a source in another namespace", alert(eventSources=[{"kind": "Kustomization", "name": "*",
                                                            "namespace": "other"}]), event(namespace="other"), True),
    ("matchLabels with * match the object's labels",
     alert(eventSources=[{"kind": "Kustomization", "name": "*", "matchLabels": {"app": "podinfo"}}]), event(), True),
    ("matchLabels with * not matching",
     alert(eventSources=[{"kind": "Kustomization", "name": "*", "matchLabels": {"app": "other"}}]), event(), False),
    ("matchLabels are not read with a name",
     alert(eventSources=[{"kind": "Kustomization", "name": "podinfo", "matchLabels": {"app": "other"}}]),
     event(), True),
    ("severity info sends errors", alert(eventSeverity="info"), event("error"), True),
    ("severity error drops info", alert(eventSeverity="error"), event("info"), False),
    ("severity error sends errors", alert(eventSeverity="error"), event("error"), True),
    ("inclusion list matching", alert(inclusionList=[r"^applied"]), event(), True),
    ("inclusion list not matching", alert(inclusionList=[r"^health"]), event(), False),
    ("exclusion list matching", alert(exclusionList=[r"sha1:ab"]), event(), False),
    ("exclusion wins over inclusion", alert(inclusionList=[".*"], exclusionList=["main"]), event(), False),
    ("an invalid regex is skipped", alert(exclusionList=["(unclosed"]), event(), True),
    ("a suspended Alert sends nothing", alert(suspend=True), event(), False),
    ("any of several sources", alert(eventSources=[{"kind": "GitRepository", "name": "*"},
                                                   {"kind": "Kustomization", "name": "podinfo"}]), event(), True),
]


@pytest.mark.parametrize(("alert_obj", "event_obj", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_alert_matching(alert_obj: dict[str, Any], event_obj: dict[str, Any], expected: bool) -> None:
    assert alert_matches(alert_obj, event_obj, lambda: LABELS) is expected


def test_labels_are_read_only_when_a_source_needs_them() -> None:
    def labels() -> dict[str, str]:
        raise AssertionError("labels read without matchLabels")

    assert alert_matches(alert(), event(), labels)


def test_metadata_precedence_annotations_then_event_metadata_then_summary_then_the_controllers() -> None:
    annotations = {"event.toolkit.fluxcd.io/env": "from-annotation", "event.toolkit.fluxcd.io/team": "web",
                   "other.io/ignored": "x"}
    spec_alert = alert(eventMetadata={"env": "prod", "revision": "overridden?", "summary": "meta-summary"},
                       summary="the summary")
    assert metadata_for(spec_alert, event(), annotations) == {
        "team": "web", "env": "prod", "summary": "the summary", "revision": "main@sha1:abc"}
