"""The ``alerts`` check: each payload shape read into alerts (the payloads built by the reconciler's own providers,
and Alertmanager's webhook as Prometheus rules fire it), matched field by field, counted, and described."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.reconciler.notification import providers
from sandbox.reconciler.notification.providers.base import Settings
from sandbox.scenario.alertchecks import Alert, Criteria, alerts_in, describe, judge, matches, under
from sandbox.scenario.model import ObjectRef
from sandbox.sink import Received

EVENT: dict[str, Any] = {
    "involvedObject": {"kind": "Kustomization", "namespace": "demo-flux", "name": "apps",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "error", "timestamp": "2026-01-01T00:00:00Z",
    "message": "failed to decode Kubernetes YAML from apps/bad.yaml",
    "reason": "BuildFailed",
    "metadata": {"env": "sandbox", "revision": "main@sha1:abc", "summary": "apps failed"},
    "reportingController": "kustomize-controller",
}
APPS = ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "demo-flux")


def sent(provider_type: str, address: str = "http://sink/hook") -> Any:
    """The body the reconciler's provider of that type sends for EVENT."""
    request = providers.build(Settings(provider_type, address, token="k"), EVENT)
    assert request is not None
    return json.loads(request.body)


AM_WEBHOOK = {  # Alertmanager's webhook (version 4), two alerts of a Flux monitoring rule
    "version": "4", "status": "firing", "receiver": "sink", "groupKey": "{}:{}",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "ReconciliationFailure", "severity": "page",
                                        "customresource_kind": "Kustomization", "name": "apps",
                                        "exported_namespace": "demo-flux", "namespace": "flux-system"},
         "annotations": {"summary": "Kustomization demo-flux/apps reconciliation has been failing for more than 1m"},
         "startsAt": "2026-01-01T00:00:00Z"},
        {"status": "resolved", "labels": {"alertname": "ReconciliationFailure", "severity": "page",
                                          "customresource_kind": "Kustomization", "name": "infra",
                                          "exported_namespace": "demo-flux"},
         "annotations": {"description": "infra recovered"}},
    ],
}

# (id, body, shape, subject, severity, reasons, message, metadata key → value)
SHAPES = [
    ("generic", sent("generic"), "flux", "Kustomization/demo-flux/apps", "error", ("BuildFailed",), "bad.yaml",
     {"env": "sandbox", "summary": "apps failed"}),
    ("generic-hmac", sent("generic-hmac"), "flux", "Kustomization/demo-flux/apps", "error", ("BuildFailed",),
     "bad.yaml", {"revision": "main@sha1:abc"}),
    ("slack", sent("slack"), "slack", "kustomization/demo-flux/apps", "error", (), "bad.yaml", {"env": "sandbox"}),
    ("discord", sent("discord"), "slack", "kustomization/demo-flux/apps", "error", (), "bad.yaml",
     {"summary": "apps failed"}),
    ("msteams-adaptive-card", sent("msteams"), "msteams", "kustomization/demo-flux/apps", "error", (), "bad.yaml",
     {"summary": "apps failed", "env": "sandbox"}),
    ("msteams-legacy-connector", sent("msteams", "https://x.webhook.office.com/h"), "msteams",
     "kustomization/demo-flux/apps", "error", (), "bad.yaml", {"revision": "main@sha1:abc"}),
    ("flux-alertmanager-provider", sent("alertmanager"), "alertmanager", "Kustomization/demo-flux/apps", "error",
     ("FluxKustomizationBuildfailed", "BuildFailed"), "bad.yaml", {"env": "sandbox", "summary": "apps failed"}),
    ("alertmanager-webhook", AM_WEBHOOK, "alertmanager-webhook", "Kustomization/demo-flux/apps", "page",
     ("ReconciliationFailure",), "failing for more than 1m", {"customresource_kind": "Kustomization"}),
]


@pytest.mark.parametrize(("body", "shape", "subject", "severity", "reasons", "message", "metadata"),
                         [case[1:] for case in SHAPES], ids=[case[0] for case in SHAPES])
def test_each_shape_is_read(body: Any, shape: str, subject: str, severity: str, reasons: tuple[str, ...],
                            message: str, metadata: dict[str, str]) -> None:
    alert = alerts_in("/hook?x=1", body, "valid")[0]
    assert (alert.path, alert.shape, alert.subject, alert.severity, alert.reasons) == \
        ("/hook", shape, subject, severity, reasons)
    assert any(message in m for m in alert.messages), alert.messages
    assert {k: alert.metadata.get(k) for k in metadata} == metadata
    assert alert.signature == "valid"


def test_info_events_are_read_as_info() -> None:
    info = {**EVENT, "severity": "info", "reason": "Progressing"}
    for provider_type in ("slack", "msteams"):
        request = providers.build(Settings(provider_type, "http://sink/x"), info)
        assert request is not None
        assert alerts_in("/x", json.loads(request.body))[0].severity == "info", provider_type


def test_an_alertmanager_webhook_without_its_envelope_fields_is_read_too() -> None:
    (alert,) = alerts_in("/am", {"alerts": [AM_WEBHOOK["alerts"][0]]})
    assert alert.shape == "alertmanager-webhook" and alert.reasons == ("ReconciliationFailure",)


def test_every_alertmanager_alert_counts_once_with_its_status() -> None:
    firing, resolved = alerts_in("/am", AM_WEBHOOK)
    assert (firing.status, resolved.status) == ("firing", "resolved")
    assert resolved.subject == "Kustomization/demo-flux/infra" and resolved.messages == ("infra recovered",)
    assert firing.signature == "unsigned"


@pytest.mark.parametrize("body", ["not json at all", {"hello": "world"}, [], [1, 2], None],
                         ids=["text", "unknown-object", "empty-list", "list-of-numbers", "null"])
def test_unrecognised_payloads_are_one_unknown_alert(body: Any) -> None:
    (alert,) = alerts_in("/x", body)
    assert alert.shape == "unknown" and alert.line() == "an unrecognised payload"


FLUX = alerts_in("/webhook", sent("generic"), "valid")[0]
SLACK = alerts_in("/slack", sent("slack"))[0]
AM_FIRING = alerts_in("/am", AM_WEBHOOK)[0]


def criteria(target: str = "*", subject: ObjectRef | None = None, **fields: Any) -> Criteria:
    return Criteria(target, subject, **fields)


# (id, alert, criteria, matches)
MATCHES = [
    ("nothing-asked", FLUX, criteria(), True),
    ("object", FLUX, criteria(subject=APPS), True),
    ("other-name", FLUX, criteria(subject=ObjectRef("v1", "Kustomization", "infra", "demo-flux")), False),
    ("other-namespace", FLUX, criteria(subject=ObjectRef("v1", "Kustomization", "apps", "elsewhere")), False),
    ("slack-kind-lower-cased", SLACK, criteria(subject=APPS), True),
    ("severity", FLUX, criteria(severity="error"), True),
    ("wrong-severity", FLUX, criteria(severity="info"), False),
    ("reason", FLUX, criteria(reason="BuildFailed"), True),
    ("wrong-reason", FLUX, criteria(reason="ReconciliationFailed"), False),
    ("slack-has-no-reason", SLACK, criteria(reason="BuildFailed"), False),
    ("message-substring", FLUX, criteria(message="apps/bad.yaml"), True),
    ("message-absent", FLUX, criteria(message="health check"), False),
    ("metadata-subset", FLUX, criteria(metadata={"env": "sandbox", "revision": "main@sha1:abc"}), True),
    ("metadata-other-value", FLUX, criteria(metadata={"env": "prod"}), False),
    ("metadata-missing-key", FLUX, criteria(metadata={"team": "web"}), False),
    ("signature-valid", FLUX, criteria(signature="valid"), True),
    ("signature-unsigned-wanted", FLUX, criteria(signature="unsigned"), False),
    ("unsigned", SLACK, criteria(signature="unsigned"), True),
    ("invalid-never-matches", Alert("/x", "flux", signature="invalid"), criteria(), False),
    ("am-alertname-is-the-reason", AM_FIRING, criteria(reason="ReconciliationFailure"), True),
    ("am-object-from-customresource-labels", AM_FIRING, criteria(subject=APPS), True),
    ("am-severity-label", AM_FIRING, criteria(severity="page"), True),
    ("am-status", AM_FIRING, criteria(status="firing"), True),
    ("am-status-resolved-wanted", AM_FIRING, criteria(status="resolved"), False),
    ("am-message-from-annotations", AM_FIRING, criteria(message="failing for more than"), True),
    ("flux-event-has-no-status", FLUX, criteria(status="firing"), False),
]


@pytest.mark.parametrize(("alert", "wanted", "ok"), [case[1:] for case in MATCHES], ids=[c[0] for c in MATCHES])
def test_matching(alert: Alert, wanted: Criteria, ok: bool) -> None:
    assert matches(alert, wanted) is ok


@pytest.mark.parametrize(("path", "target", "ok"), [
    ("/webhook", "webhook", True), ("/webhook", "/webhook", True), ("/webhook/api/v2/alerts", "webhook", True),
    ("/discord/slack", "discord", True), ("/webhooks", "webhook", False), ("/other", "webhook", False),
    ("/anything", "*", True), ("/a/b", "a/b", True),
])
def test_paths_under_a_target(path: str, target: str, ok: bool) -> None:
    assert under(path, target) is ok


def request(path: str, body: Any, signature: str | None = None) -> Received:
    return Received(path, {"Content-Type": "application/json", "X-Signature": "sha256=feedface"}, body, signature)


REQUESTS = [request("/webhook", {**EVENT, "severity": "info", "reason": "Progressing", "message": "created"}),
            request("/webhook", sent("generic")), request("/signed", sent("generic-hmac"), "valid"),
            request("/am", AM_WEBHOOK)]


@pytest.mark.parametrize(("check", "ok", "detail"), [
    ({"alerts": "webhook", "severity": "error"}, True, "2 request(s) at /webhook: info Progressing "
                                                       "Kustomization/demo-flux/apps \"created\"; error BuildFailed"),
    ({"alerts": "webhook", "severity": "error", "reason": "HealthCheckFailed"}, False,
     "none matching severity=error reason=HealthCheckFailed, expected at least 1"),
    ({"alerts": "webhook", "count": 2}, True, "2 matching anything"),
    ({"alerts": "webhook", "count": 0, "severity": "error"}, False, "1 matching severity=error, expected exactly 0"),
    ({"alerts": "webhook", "at_least": 3}, False, "2 matching anything, expected at least 3"),
    ({"alerts": "signed", "signature": "valid"}, True, "(signature valid)"),
    ({"alerts": "am", "status": "resolved"}, True, "1 request(s) at /am (2 alerts)"),
    ({"alerts": "nowhere"}, False, "0 request(s) at /nowhere; none matching anything"),
    ({"alerts": "*", "count": 5}, True, "4 request(s) at any path (5 alerts)"),
], ids=["match", "no-match", "count", "count-zero-broken", "at-least", "signed", "alertmanager", "empty", "any"])
def test_judge(check: dict[str, Any], ok: bool, detail: str) -> None:
    passed, said = judge(REQUESTS, Criteria.of(check, None))
    assert passed is ok, said
    assert detail in said


def test_details_never_show_headers_or_signatures() -> None:
    _, said = judge(REQUESTS, Criteria.of({"alerts": "*"}, None))
    assert "feedface" not in said and "Content-Type" not in said


def test_long_messages_are_cut_and_flattened() -> None:
    alert = Alert("/x", "flux", "Kustomization", "ns", "apps", "info", ("Progressing",), ("line one\nline two " * 10,))
    line = alert.line()
    assert "\n" not in line and line.endswith("…\"") and len(line) < 120


@pytest.mark.parametrize(("check", "text"), [
    ({"alerts": "webhook", "severity": "error", "reason": "ReconciliationFailed", "object": "Kustomization/apps"},
     "alerts webhook: error ReconciliationFailed on Kustomization/apps"),
    ({"alerts": "quiet", "severity": "error", "count": 0}, "alerts quiet: error (exactly 0)"),
    ({"alerts": "signed", "signature": "valid", "message": "bad.yaml"},
     "alerts signed containing 'bad.yaml', signature valid"),
    ({"alerts": "am", "status": "firing", "reason": "ReconciliationFailure", "at_least": 2},
     "alerts am: firing ReconciliationFailure (at least 2)"),
])
def test_describe(check: dict[str, Any], text: str) -> None:
    assert describe(check) == text
