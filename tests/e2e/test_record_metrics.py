"""Prometheus in recordings: with ``sandbox up --monitoring`` the recorder polls Prometheus — a broken
Kustomization gives ``metric`` entries (readiness False, reconcile durations) and Flux's ReconciliationFailure rule
a ``prometheus_alert`` entry on it, pending then firing, resolved once the object is gone; the HTML timeline draws
the firing band on its lane. One sandbox of its own (monitoring on)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.handle import SandboxHandle
from sandbox.monitoring import service
from sandbox.scenario import timeline, timeline_html
from sandbox.scenario.recorder import Recorder
from sandbox.scenario.timeline import TimelineEvent, TimelineWriter
from sandbox.waiting import wait_until

pytestmark = pytest.mark.skipif(bool(service.missing()),
                                reason=f"monitoring needs the Debian packages {', '.join(service.missing())} "
                                       "(apt-get install prometheus prometheus-alertmanager, as bootstrap.sh does)")

BROKEN = "recorded-broken"
SUBJECT = f"Kustomization/flux-system/{BROKEN}"


@pytest.fixture(scope="module")
def monitored() -> Iterator[SandboxHandle]:
    name = f"recmetrics-{os.getpid()}"
    lifecycle.up(UpOptions(name=name, git="local", monitoring=MonitoringSettings(failure_for="3s"), timeout=120))
    try:
        yield SandboxHandle.attach(name)
    finally:
        lifecycle.down(name)


def of(events: list[TimelineEvent], kind: str, **data: object) -> list[TimelineEvent]:
    return [e for e in events if e.type == kind and e.subject == SUBJECT
            and all(e.data.get(k) == v for k, v in data.items())]


def test_prometheus_alerts_and_metric_samples_are_recorded(monitored: SandboxHandle, tmp_path: Path) -> None:
    kube = monitored.kube
    path = tmp_path / "metrics.jsonl"
    with TimelineWriter(path) as writer, Recorder(monitored, writer) as recorder:
        assert "prometheus" in [source.name for source in recorder.sources]
        kube.apply({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": BROKEN, "namespace": "flux-system"},
                    "spec": {"interval": "1m", "path": "./", "prune": True,
                             "sourceRef": {"kind": "GitRepository", "name": "does-not-exist"}}},
                   field_manager="test")

        def seen() -> str:
            return str([(e.type, e.subject, e.data.get("state") or e.data.get("ready") or e.data.get("value"))
                        for e in list(writer.events) if e.type in ("metric", "prometheus_alert")])

        wait_until(lambda: of(list(writer.events), "prometheus_alert", state="firing"), timeout=120,
                   what=f"ReconciliationFailure firing on {SUBJECT} in the recording", describe=seen)
        wait_until(lambda: of(list(writer.events), "metric", name="gotk_reconcile_duration_seconds"), timeout=60,
                   what=f"a reconcile duration sample of {SUBJECT}", describe=seen)
        kube.delete("kustomize.toolkit.fluxcd.io/v1", "Kustomization", BROKEN, "flux-system")
        wait_until(lambda: of(list(writer.events), "prometheus_alert", state="resolved"), timeout=90,
                   what=f"ReconciliationFailure resolved on {SUBJECT} in the recording", describe=seen)

    events = timeline.in_order(timeline.read(path))
    readiness = of(events, "metric", name="gotk_resource_info")
    assert readiness and readiness[0].data["ready"] == "False" and readiness[0].data["value"] == 0
    assert len({(e.data["ready"], e.data["suspended"]) for e in readiness}) == len(readiness), "only changes"
    alerts = of(events, "prometheus_alert")
    states = [e.data["state"] for e in alerts if e.data["alertname"] == "ReconciliationFailure"]
    assert states[-2:] == ["firing", "resolved"] and states[0] in ("pending", "firing")
    firing = next(e for e in alerts if e.data["state"] == "firing")
    assert firing.data["severity"] == "page" and f"flux-system/{BROKEN}" in firing.data["summary"]
    assert firing.data["labels"]["customresource_kind"] == "Kustomization"
    duration = of(events, "metric", name="gotk_reconcile_duration_seconds")[0]
    assert duration.data["value"] >= 0 and duration.data["reconciles"] >= 1

    page = timeline_html.render(events)
    lane = page.split(f'data-subject="{SUBJECT}"', 1)[1].split("\n</g>", 1)[0]
    assert 'class="prom-alert prom-firing"' in lane and 'class="marker metric-ready"' in lane
