"""Notification deliveries in recordings: a Kustomization that fails to build, an Alert sending its events to a
generic Provider (a loopback sink) and to a Provider that is down — the recorder writes an ``alert`` entry `sent`
on the Kustomization, and `retrying` then `failed` ones for the dead Provider; the HTML timeline draws them on the
Kustomization's lane. The scenario player (``play --record``) records them too."""

from __future__ import annotations

import io
import secrets
import socket
import textwrap
from pathlib import Path
from typing import Any

from rich.console import Console

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.reconciler.apis import kinds
from sandbox.scenario import timeline, timeline_html
from sandbox.scenario.loader import load
from sandbox.scenario.player import play
from sandbox.scenario.recorder import Recorder
from sandbox.scenario.timeline import TimelineEvent, TimelineWriter
from sandbox.sink import Sink
from sandbox.waiting import wait_until

BROKEN = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- missing.yaml\n"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provider(name: str, namespace: str, address: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": kinds.PROVIDER.api_version, "kind": "Provider",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"type": "generic", "address": address,
                                                                         **spec}}


def alert(name: str, namespace: str, provider_name: str, source: str) -> dict[str, Any]:
    return {"apiVersion": kinds.ALERT.api_version, "kind": "Alert", "metadata": {"name": name, "namespace": namespace},
            "spec": {"providerRef": {"name": provider_name}, "eventSeverity": "error",
                     "eventSources": [{"kind": "Kustomization", "name": source}]}}


def deliveries(events: list[TimelineEvent], subject: str, provider_name: str) -> list[TimelineEvent]:
    return [e for e in events if e.type == "alert" and e.subject == subject and e.data["provider"] == provider_name]


def test_sent_and_failed_deliveries_are_recorded_on_the_failing_object(
        sandbox: SandboxHandle, gitops_repo: GitOpsRepo, alerts: Sink, tmp_path: Path) -> None:
    kube, ns = sandbox.kube, gitops_repo.namespace
    suffix = secrets.token_hex(3)
    ks_name = f"recorded-{suffix}"
    subject = f"Kustomization/{ns}/{ks_name}"
    gitops_repo.commit({"rec/kustomization.yaml": BROKEN}, "broken")
    gitops_repo.wait_for_source(gitops_repo.head)
    objects = [
        provider(f"sink-{suffix}", ns, f"{alerts.url}/rec"),
        provider(f"dead-{suffix}", ns, f"http://127.0.0.1:{closed_port()}/hook", timeout="2s"),
        alert(f"sink-{suffix}", ns, f"sink-{suffix}", ks_name),
        alert(f"dead-{suffix}", ns, f"dead-{suffix}", ks_name),
    ]
    path = tmp_path / "alerts.jsonl"
    try:
        with TimelineWriter(path) as writer, Recorder(sandbox, writer) as recorder:
            assert "alerts" in [source.name for source in recorder.sources]
            for obj in objects:
                kube.apply(obj, field_manager="sandbox")
            gitops_repo.kustomization(ks_name, path="./rec")

            def recorded() -> bool:
                seen = list(writer.events)
                return bool([e for e in deliveries(seen, subject, f"{ns}/sink-{suffix}") if e.data["outcome"] == "sent"]
                            and [e for e in deliveries(seen, subject, f"{ns}/dead-{suffix}")
                                 if e.data["outcome"] == "failed"])

            wait_until(recorded, timeout=60, what="a sent and a failed delivery in the recording",
                       describe=lambda: str([(e.subject, e.data) for e in writer.events if e.type == "alert"]))
        received = alerts.wait_for(lambda r: r.path == "/rec", timeout=10)
    finally:
        for obj in reversed(objects):
            kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], ns)

    events = timeline.in_order(timeline.read(path))
    sent = next(e for e in deliveries(events, subject, f"{ns}/sink-{suffix}") if e.data["outcome"] == "sent")
    assert sent.data["type"] == "generic" and sent.data["alerts"] == [f"{ns}/sink-{suffix}"]
    assert sent.data["severity"] == "error" and sent.data["reason"] == "BuildFailed"
    assert sent.data["message"] == received.body["message"] and "missing.yaml" in sent.data["message"]
    dead = deliveries(events, subject, f"{ns}/dead-{suffix}")
    retries = [e for e in dead if e.data["outcome"] == "retrying"]
    failed = next(e for e in dead if e.data["outcome"] == "failed")
    assert retries and retries[0].data["attempt"] == 1 and "request failed" in retries[0].data["error"]
    assert retries[0].t <= failed.t and "attempts" in failed.data["error"]
    first_failure = next(e for e in events if e.type == "status" and e.subject == subject
                         and e.data["ready"] == "False")
    assert first_failure.t <= sent.t + 0.5, "the delivery follows the failure it reports"

    page = timeline_html.render(events)
    lane = page.split(f'data-subject="{subject}"', 1)[1].split("\n</g>", 1)[0]
    assert 'class="marker alert alert-sent severity-error"' in lane
    assert 'class="marker alert alert-failed severity-error"' in lane


SCENARIO = """\
title: Alerts in a recording
summary: A Provider and an Alert on the run's Kustomization; a change is applied and notified.
repo:
  interval: 1h
  kustomizations:
    - name: app
      path: ./
steps:
  - title: Provider and Alert
    apply:
      manifest: |
        apiVersion: {provider_api}
        kind: Provider
        metadata:
          name: recorded
          namespace: ${{flux_namespace}}
        spec:
          type: generic
          address: {address}
        ---
        apiVersion: {alert_api}
        kind: Alert
        metadata:
          name: recorded
          namespace: ${{flux_namespace}}
        spec:
          providerRef:
            name: recorded
          eventSources:
            - kind: Kustomization
              name: app
  - commit:
      id: change
      message: Add a ConfigMap
      files:
        cm.yaml: |
          apiVersion: v1
          kind: ConfigMap
          metadata:
            name: notified
            namespace: ${{namespace}}
          data:
            a: b
  - wait:
      ready: Kustomization/app
      revision: change
  - reconcile:
      object: Kustomization/app
"""


def test_the_scenario_player_records_alerts(sandbox: SandboxHandle, alerts: Sink, tmp_path: Path) -> None:
    folder = tmp_path / "alerts-in-recording"
    folder.mkdir()
    (folder / "scenario.yaml").write_text(textwrap.dedent(SCENARIO).format(
        provider_api=kinds.PROVIDER.api_version, alert_api=kinds.ALERT.api_version, address=f"{alerts.url}/play"))
    record = tmp_path / "played.jsonl"
    result = play(load(folder), sandbox, console=Console(file=io.StringIO()), record=record)
    assert result.passed
    received = alerts.wait_for(lambda r: r.path == "/play" and "ConfigMap" in r.body.get("message", ""),
                               timeout=10, what="the change's info event at the sink")
    involved = received.body["involvedObject"]
    subject = f"Kustomization/{involved['namespace']}/{involved['name']}"
    sent = [e for e in timeline.read(record) if e.type == "alert" and e.subject == subject
            and e.data["outcome"] == "sent" and e.data["message"] == received.body["message"]]
    assert sent and sent[0].data["severity"] == "info" and sent[0].data["provider"].endswith("/recorded")
