"""The alerts check reads what a real Alertmanager sends: a Flux `alertmanager` Provider's alert (as the reconciler
builds it) posted to Alertmanager's /api/v2/alerts comes back through its webhook receiver to a sink, and the
check finds it by object, alertname and Flux reason, severity, status and message."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.monitoring import service, webauth
from sandbox.reconciler.notification import providers
from sandbox.reconciler.notification.providers.base import Settings
from sandbox.scenario.alertchecks import Criteria, alerts_in, judge
from sandbox.scenario.model import ObjectRef
from sandbox.sink import Sink
from sandbox.state import StateDir

pytestmark = pytest.mark.skipif(bool(service.missing()),
                                reason=f"Alertmanager needs the Debian packages {', '.join(service.missing())} "
                                       "(apt-get install prometheus prometheus-alertmanager, as bootstrap.sh does)")

EVENT = {"involvedObject": {"kind": "Kustomization", "namespace": "team-flux", "name": "apps",
                            "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
         "severity": "error", "timestamp": "2026-01-01T00:00:00Z", "message": "kustomize build failed: bad.yaml",
         "reason": "BuildFailed", "metadata": {"revision": "main@sha1:abc", "summary": "apps is broken"},
         "reportingController": "kustomize-controller"}


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with Sink() as started:
        yield started


@pytest.fixture(scope="module")
def alertmanager(sink: Sink) -> Iterator[tuple[str, tuple[str, str]]]:
    name = f"am-payloads-{os.getpid()}"
    settings = MonitoringSettings(webhook=f"{sink.url}/alertmanager", group_wait="1s")
    lifecycle.up(UpOptions(name=name, git="local", monitoring=settings, timeout=120))
    try:
        credentials = webauth.credentials(StateDir(name))
        assert credentials is not None
        yield service.endpoints_of(StateDir(name))[service.ALERTMANAGER], credentials
    finally:
        lifecycle.down(name)


def test_a_flux_alertmanager_alert_comes_back_through_alertmanagers_webhook(
        alertmanager: tuple[str, tuple[str, str]], sink: Sink) -> None:
    url, (user, password) = alertmanager  # the sandbox's Alertmanager asks for basic auth: the Provider's secretRef
    request = providers.build(Settings("alertmanager", f"{url}/api/v2/alerts", username=user, password=password),
                              EVENT)
    assert request is not None
    with urllib.request.urlopen(urllib.request.Request(request.url, data=request.body, headers=request.headers,
                                                       method="POST"), timeout=10) as response:
        assert response.status == 200
    got = sink.wait_for(lambda r: r.path == "/alertmanager", timeout=30, what="Alertmanager's webhook")
    assert isinstance(got.body, dict) and got.body.get("version") == "4"
    (alert,) = alerts_in(got.path, got.body, got.signature)
    assert alert.shape == "alertmanager-webhook" and alert.status == "firing"
    assert alert.subject == "Kustomization/team-flux/apps" and alert.severity == "error"
    assert alert.reasons == ("FluxKustomizationBuildfailed", "BuildFailed")
    assert "kustomize build failed: bad.yaml" in alert.messages and alert.metadata["summary"] == "apps is broken"

    apps = ObjectRef("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "team-flux")
    ok, detail = judge(sink.received(), Criteria.of({"alerts": "alertmanager", "reason": "BuildFailed",
                                                     "status": "firing", "severity": "error",
                                                     "message": "bad.yaml", "metadata": {"revision": "main@sha1:abc"}},
                                                    apps))
    assert ok, detail
    assert detail.startswith("1 request(s) at /alertmanager: error firing FluxKustomizationBuildfailed "
                             "Kustomization/team-flux/apps"), detail
