"""Dispatch: an event recorded reaches the Provider of each Alert selecting it (a real loopback sink), with the
Secret's token, headers and address; duplicates are rate-limited; a Provider that is down is retried then
dropped with a log line, and recording never waits for it; suspended and unsupported Providers send nothing."""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.kube.client import KubeClient
from sandbox.reconciler.apis import kinds
from sandbox.reconciler.notification.alerting import StaticReconciler
from sandbox.reconciler.notification.dispatch import Dispatcher
from sandbox.reconciler.runtime.events import WARNING, Event
from sandbox.reconciler.verdict import refusal
from sandbox.sink import Sink

INVOLVED = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "podinfo",
            "namespace": "apps", "uid": "u-1"}


class FakeKube:
    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        if kind == "Secret" and name in self.secrets:
            return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in self.secrets[name].items()}}
        raise NotFound(f"{kind} {name} not found")

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return {"metadata": {"name": name, "labels": {"app": "podinfo"},
                             "annotations": {"event.toolkit.fluxcd.io/env": "test"}}}


def provider(name: str, type_: str, address: str = "", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": kinds.PROVIDER.api_version, "kind": "Provider",
            "metadata": {"name": name, "namespace": "apps", "uid": f"p-{name}", "generation": 1},
            "spec": {"type": type_, **({"address": address} if address else {}), **spec}}


def alert(provider_name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": kinds.ALERT.api_version, "kind": "Alert", "metadata": {"name": "a", "namespace": "apps"},
            "spec": {"providerRef": {"name": provider_name}, "eventSources": [{"kind": "Kustomization",
                                                                               "name": "*"}], **spec}}


def failure(message: str = "build failed") -> Event:
    return Event(INVOLVED, WARNING, "BuildFailed", message, "kustomize-controller",
                 {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"})


@pytest.fixture
def stop() -> Any:
    event = threading.Event()
    yield event
    event.set()


def dispatcher(providers: list[dict[str, Any]], alerts: list[dict[str, Any]], stop: threading.Event,
               secrets: dict[str, dict[str, str]] | None = None) -> Dispatcher:
    by_name = {p["metadata"]["name"]: p for p in providers}
    kube: KubeClient = FakeKube(secrets or {})  # type: ignore[assignment]
    result = Dispatcher(kube, lambda: alerts, lambda ns, name: by_name.get(name), stop=stop)
    result.start()
    return result


def test_an_event_reaches_the_sink_signed_with_the_secrets_token_and_address(stop: threading.Event) -> None:
    with Sink(token="s3cret") as sink:
        secrets = {"hook": {"address": f"{sink.url}/from-secret", "token": "s3cret", "headers": "X-Team: web\n"}}
        d = dispatcher([provider("hook", "generic-hmac", "http://127.0.0.1:9/unused", secretRef={"name": "hook"})],
                       [alert("hook", summary="prod", eventMetadata={"cluster": "dev"})], stop, secrets)
        d.listen(failure())
        got = sink.wait_for(lambda r: True, timeout=10)
    assert got.path == "/from-secret" and got.signature == "valid"
    assert got.headers["Gotk-Component"] == "kustomize-controller" and got.headers["X-Team"] == "web"
    assert got.body["severity"] == "error" and got.body["reason"] == "BuildFailed"
    assert got.body["metadata"] == {"cluster": "dev", "env": "test", "revision": "main@sha1:abc", "summary": "prod"}


def test_identical_events_are_sent_once(stop: threading.Event) -> None:
    with Sink() as sink:
        d = dispatcher([provider("hook", "generic", sink.url)], [alert("hook")], stop)
        for _ in range(3):
            d.listen(failure())
        d.listen(failure("another failure"))
        sink.wait_for(lambda r: r.body["message"] == "another failure", timeout=10)
        assert [r.body["message"] for r in sink.received()].count("build failed") == 1


def test_suspended_unsupported_or_missing_providers_send_nothing(stop: threading.Event) -> None:
    with Sink() as sink:
        providers = [provider("off", "generic", sink.url, suspend=True),
                     provider("teams", "googlechat", sink.url),
                     provider("proxied", "generic", sink.url, proxySecretRef={"name": "p"}),
                     provider("on", "generic", f"{sink.url}/on")]
        alerts = [alert("off"), alert("teams"), alert("proxied"), alert("missing"), alert("on")]
        d = dispatcher(providers, alerts, stop)
        d.listen(failure())
        sink.wait_for(lambda r: r.path == "/on", timeout=10)
        deliveries = d.deliveries(failure("fresh"))
        assert [x.provider for x in deliveries] == ["apps/on"]


def test_a_dead_provider_is_retried_then_dropped_and_never_blocks(stop: threading.Event,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sandbox.reconciler.notification")
    d = dispatcher([provider("dead", "generic-hmac", "http://127.0.0.1:9/hook", timeout="2s",
                             secretRef={"name": "dead"})], [alert("dead")], stop,
                   {"dead": {"token": "t0p-s3cret", "headers": "X-Api-Key: k3y-s3cret\n"}})
    started = time.monotonic()
    d.listen(failure())
    assert time.monotonic() - started < 0.5, "listen only queues"

    def dropped() -> bool:
        return any("dropped" in r.getMessage() and "apps/dead" in r.getMessage() for r in caplog.records)

    from sandbox.waiting import wait_until
    wait_until(dropped, timeout=15, what="the dead Provider's event to be dropped")
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "s3cret" in r.getMessage()], "no secret in a log line"


def test_dead_providers_never_delay_a_live_one(stop: threading.Event) -> None:
    """Each delivery has a sender of its own: five Providers that are down, retrying, hold up nothing."""
    with Sink() as sink:
        dead = [provider(f"dead{i}", "generic", f"http://127.0.0.1:9/dead{i}", timeout="30s") for i in range(5)]
        d = dispatcher([*dead, provider("live", "generic", f"{sink.url}/live")],
                       [*(alert(p["metadata"]["name"]) for p in dead), alert("live")], stop)
        d.listen(failure())
        d.listen(failure("a second failure"))
        got = sink.wait_for(lambda r: r.body["message"] == "a second failure", timeout=10,
                            what="the live Provider's second event, while five dead ones retry for 30s")
    assert got.path == "/live"


def test_a_full_queue_drops_without_blocking(stop: threading.Event, caplog: pytest.LogCaptureFixture) -> None:
    kube: KubeClient = FakeKube({})  # type: ignore[assignment]
    d = Dispatcher(kube, lambda: [], lambda ns, n: None, stop=stop, queue_size=1)  # not started: nothing drains
    d.listen(failure())
    d.listen(failure())
    assert any("queue full" in r.getMessage() for r in caplog.records)


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def record(self, obj: Any, event_type: str, reason: str, message: str, **_: Any) -> None:
        self.events.append((event_type, reason, message))


def test_a_provider_of_a_type_not_implemented_is_warned_once_per_generation_and_refused() -> None:
    from sandbox.reconciler.runtime.controller import Context
    from sandbox.reconciler.runtime.metrics import Metrics

    events = Recorded()
    ctx = Context(kube=None, events=events, metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    reconciler = StaticReconciler(kinds.PROVIDER)
    teams = provider("teams", "googlechat", "https://x.example/hook")
    assert reconciler.reconcile(teams, ctx).status is None
    reconciler.reconcile(teams, ctx)
    assert [e[:2] for e in events.events] == [("Warning", "NotSupported")]
    assert "spec.type is set but not supported" in events.events[0][2]
    assert "spec.type is set but not supported" in refusal(teams)
    fine = provider("hook", "generic", "https://x.example/hook")
    reconciler.reconcile(fine, ctx)
    assert len(events.events) == 1 and refusal(fine) == "" and refusal(alert("hook")) == ""


def test_upstream_controllers_events_posted_to_the_event_server_are_dispatched(stop: threading.Event) -> None:
    """As notification-controller's event server: 202 at once, the metadata cleaned of its group prefix."""
    import json
    import urllib.request

    from sandbox.reconciler.notification.eventserver import event_server

    with Sink() as sink:
        d = dispatcher([provider("hook", "generic", f"{sink.url}/up")], [alert("hook")], stop)
        with event_server(d, 0) as server:
            body = {"involvedObject": {"kind": "Kustomization", "namespace": "apps", "name": "podinfo",
                                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
                    "severity": "error", "timestamp": "2026-01-01T00:00:00Z", "message": "upstream failure",
                    "reason": "BuildFailed", "reportingController": "kustomize-controller",
                    "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                                 "kustomize.toolkit.fluxcd.io/checksum": "x"}}
            request = urllib.request.Request(server.url + "/", data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 202
            bad = urllib.request.Request(server.url + "/", data=b"not json", method="POST")
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(bad, timeout=5)
            assert caught.value.code == 400
        got = sink.wait_for(lambda r: r.path == "/up", timeout=10)
    assert got.body["message"] == "upstream failure"
    assert got.body["metadata"] == {"env": "test", "revision": "main@sha1:abc"}
    assert list(got.body) == ["involvedObject", "severity", "timestamp", "message", "reason", "metadata",
                              "reportingController"]


APP_KEYS = {"githubAppID": "1", "githubAppInstallationID": "2",
            "githubAppPrivateKey": "-----BEGIN RSA PRIVATE KEY-----"}


@pytest.mark.parametrize("type_", ["github", "githubpullrequestcomment"])
def test_a_github_provider_with_app_credentials_only_is_not_supported_and_sends_nothing(
        stop: threading.Event, type_: str) -> None:
    """Upstream authenticates as the GitHub App when the Secret has no token; here that is refused out loud: a
    Warning NotSupported naming the keys (never their values), a verdict refusal, and no delivery."""
    from sandbox.reconciler.runtime.controller import Context
    from sandbox.reconciler.runtime.metrics import Metrics

    secrets = {"app": APP_KEYS, "both": {**APP_KEYS, "token": "t0ken"}}
    kube: KubeClient = FakeKube(secrets)  # type: ignore[assignment]
    events = Recorded()
    ctx = Context(kube=kube, events=events, metrics=Metrics(), stop=threading.Event())
    app = provider("app", type_, "https://github.com/org/repo", secretRef={"name": "app"})
    result = StaticReconciler(kinds.PROVIDER).reconcile(app, ctx)
    assert [e[:2] for e in events.events] == [("Warning", "NotSupported")]
    said = events.events[0][2]
    assert "githubAppID, githubAppInstallationID, githubAppPrivateKey" in said and "no token" in said
    assert "BEGIN RSA" not in said
    assert result.requeue_after is not None  # the Secret is looked at again
    assert refusal(app, kube) == said
    with_token = provider("both", type_, "https://github.com/org/repo", secretRef={"name": "both"})
    assert refusal(with_token, kube) == ""  # a token wins, as upstream

    with Sink() as sink:
        d = dispatcher([app, provider("on", "generic", f"{sink.url}/on")], [alert("app"), alert("on")], stop,
                       secrets)
        assert [x.provider for x in d.deliveries(failure())] == ["apps/on"]
