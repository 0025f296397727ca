"""Each provider's request as upstream's internal/notifier sends it: URL, headers, exact JSON body."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from sandbox.errors import InputError
from sandbox.reconciler.notification.providers import IMPLEMENTED, build, sends
from sandbox.reconciler.notification.providers.alertmanager import title
from sandbox.reconciler.notification.providers.base import Settings
from sandbox.reconciler.notification.providers.generic import verify

EVENT: dict[str, Any] = {
    "involvedObject": {"kind": "Kustomization", "namespace": "apps", "name": "podinfo",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "error", "timestamp": "2026-01-01T00:00:00Z", "message": "health check failed",
    "reason": "HealthCheckFailed", "metadata": {"revision": "main@sha1:abc", "summary": "prod"},
    "reportingController": "kustomize-controller",
}
GENERIC_BODY = (b'{"involvedObject":{"kind":"Kustomization","namespace":"apps","name":"podinfo",'
                b'"apiVersion":"kustomize.toolkit.fluxcd.io/v1"},"severity":"error","timestamp":"2026-01-01T00:00:00Z",'
                b'"message":"health check failed","reason":"HealthCheckFailed",'
                b'"metadata":{"revision":"main@sha1:abc","summary":"prod"},"reportingController":"kustomize-controller"}')


def test_the_implemented_types() -> None:
    assert set(IMPLEMENTED) == {"generic", "generic-hmac", "slack", "discord", "msteams", "alertmanager", "github",
                                "gitlab", "gitea", "giteapullrequestcomment", "githubpullrequestcomment",
                                "gitlabmergerequestcomment"}


def test_generic_posts_the_event_with_gotk_component_and_the_secrets_headers() -> None:
    request = build(Settings("generic", "http://127.0.0.1:9/hook", headers={"X-Team": "web"}), EVENT)
    assert request.url == "http://127.0.0.1:9/hook"
    assert request.body == GENERIC_BODY
    assert request.headers == {"Content-Type": "application/json", "Gotk-Component": "kustomize-controller",
                               "X-Team": "web"}


def test_generic_hmac_signs_the_body_with_the_token() -> None:
    request = build(Settings("generic-hmac", "http://127.0.0.1:9/hook", token="s3cret"), EVENT)
    expected = "sha256=" + hmac.new(b"s3cret", GENERIC_BODY, hashlib.sha256).hexdigest()
    assert request.body == GENERIC_BODY
    assert request.headers["X-Signature"] == expected
    assert verify(request.body, expected, "s3cret") and not verify(request.body, expected, "other")
    assert "s3cret" not in repr(request)


def test_generic_hmac_without_a_token_is_refused() -> None:
    with pytest.raises(InputError, match="HMAC key is empty"):
        build(Settings("generic-hmac", "http://127.0.0.1:9/hook"), EVENT)


SLACK = {
    "channel": "alerts", "username": "kustomize-controller", "icon_url": "", "icon_emoji": "",
    "attachments": [{"color": "danger", "author_name": "kustomization/podinfo.apps", "text": "health check failed",
                     "mrkdwn_in": ["text"],
                     "fields": [{"title": "revision", "value": "main@sha1:abc", "short": False},
                                {"title": "summary", "value": "prod", "short": False}]}],
}


def test_slack_payload_and_bearer_token() -> None:
    request = build(Settings("slack", "https://hooks.example/services/x", channel="alerts", token="t0k"), EVENT)
    assert json.loads(request.body) == SLACK
    assert list(json.loads(request.body)) == list(SLACK), "field order as SlackPayload declares it"
    assert request.headers["Authorization"] == "Bearer t0k"


def test_slack_info_is_good_and_username_wins() -> None:
    request = build(Settings("slack", "https://hooks.example/x", username="flux"), {**EVENT, "severity": "info"})
    body = json.loads(request.body)
    assert body["attachments"][0]["color"] == "good" and body["username"] == "flux"
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(("address", "url"), [("https://discord.example/api/webhooks/1/t",
                                               "https://discord.example/api/webhooks/1/t/slack"),
                                              ("https://discord.example/api/webhooks/1/t/slack",
                                               "https://discord.example/api/webhooks/1/t/slack")])
def test_discord_uses_its_slack_compatible_endpoint(address: str, url: str) -> None:
    request = build(Settings("discord", address), EVENT)
    assert request.url == url
    assert json.loads(request.body)["attachments"] == SLACK["attachments"]


def test_alertmanager_alert() -> None:
    request = build(Settings("alertmanager", "http://127.0.0.1:9093/api/v2/alerts", username="u", password="p"),
                    EVENT)
    assert json.loads(request.body) == [{
        "status": "firing",
        "labels": {"alertname": "FluxKustomizationHealthcheckfailed", "kind": "Kustomization", "name": "podinfo",
                   "namespace": "apps", "reason": "HealthCheckFailed", "reportingcontroller": "kustomize-controller",
                   "revision": "main@sha1:abc", "severity": "error"},
        "annotations": {"message": "health check failed", "summary": "prod"},
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
    }]
    assert request.headers["Authorization"] == "Basic dTpw"
    assert EVENT["metadata"] == {"revision": "main@sha1:abc", "summary": "prod"}, "the event is not modified"


def test_go_title_casing() -> None:
    assert title("ReconciliationFailed") == "Reconciliationfailed"
    assert title("upgrade-failed") == "Upgrade-Failed"


def test_a_bad_address_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="http:// or https://"):
        build(Settings("generic", "127.0.0.1:9/hook"), EVENT)


@pytest.mark.parametrize("provider_type", sorted(IMPLEMENTED))
def test_the_commit_status_update_event_is_only_for_git_providers(provider_type: str) -> None:
    update = {**EVENT, "metadata": {"revision": "main@sha1:abc", "commit_status": "update"}}
    annotated = {"event.toolkit.fluxcd.io/change_request": "1"}  # what change-request providers need besides
    assert sends(provider_type, update, annotated) is (provider_type in ("github", "gitlab", "gitea"))
    assert sends(provider_type, EVENT, annotated)


def test_msteams_adaptive_card() -> None:
    request = build(Settings("msteams", "https://example.logic.azure.com/workflows/x"), EVENT)
    assert request is not None and request.body == (
        b'{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":'
        b'{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",'
        b'"body":[{"type":"Container","items":[{"type":"TextBlock","text":"kustomization/podinfo.apps",'
        b'"size":"large","weight":"bolder","wrap":true},{"type":"TextBlock","text":"health check failed",'
        b'"color":"attention","wrap":true},{"type":"FactSet","facts":[{"title":"summary","value":"prod"},'
        b'{"title":"revision","value":"main@sha1:abc"}]}]}],"msteams":{"width":"Full"}}}]}')


def test_msteams_legacy_connector_gets_a_message_card() -> None:
    request = build(Settings("msteams", "https://contoso.webhook.office.com/webhookb2/x"),
                    {**EVENT, "severity": "info"})
    assert request is not None and json.loads(request.body) == {
        "@type": "MessageCard", "@context": "http://schema.org/extensions", "themeColor": "0076D7",
        "summary": "kustomization/podinfo.apps",
        "sections": [{"activityTitle": "health check failed", "activitySubtitle": "kustomization/podinfo.apps",
                      "facts": [{"name": "revision", "value": "main@sha1:abc"}, {"name": "summary", "value": "prod"}]}]}
