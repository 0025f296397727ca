"""The alerts check end to end: the built-in notifications scenario through the runner (and what it cannot assert
itself: the dead Provider retried, then dropped, in the reconciler's log), a request signed with the wrong key
refused and never counted, and a failing alerts check that lists what arrived without a token in sight."""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path

import pytest

from sandbox.handle import SandboxHandle
from sandbox.scenario import catalog
from sandbox.scenario.context import RunContext
from sandbox.scenario.failures import ScenarioFailed
from sandbox.scenario.loader import load
from sandbox.scenario.observer import Observer
from sandbox.scenario.runner import run
from sandbox.waiting import wait_until


class Capture(Observer):
    """Keeps the run's context: its sink and its secrets, for looking at after the run."""

    ctx: RunContext | None = None

    def scenario_started(self, ctx: RunContext) -> None:
        self.ctx = ctx


def test_the_notifications_scenario_passes_and_the_dead_provider_is_retried_then_dropped(
        sandbox: SandboxHandle) -> None:
    capture = Capture()
    run_id = secrets.token_hex(3)
    result = run(load(catalog.find("notifications")), sandbox, observer=capture, run_id=run_id)
    assert result.passed
    details = "\n".join(step.detail for step in result.steps)
    assert "request(s) at /webhook: " in details and "(signature valid)" in details
    assert capture.ctx is not None and capture.ctx.sink is not None
    received = capture.ctx.sink.received()
    assert {r.path for r in received} >= {"/webhook", "/signed", "/slack", "/quiet"}
    assert not [r for r in received if r.path == "/quiet" and r.body.get("severity") == "error"]

    dead = f"Provider notifications-{run_id}-flux/dead"
    log = sandbox.state.logs / "reconciler.log"
    wait_until(lambda: f"to {dead}, dropped" in log.read_text(errors="replace"), timeout=30,
               what="the dead Provider's deliveries to be dropped after their 5s timeout")
    text = log.read_text(errors="replace")
    assert f"sending to {dead} failed" in text and "retrying in" in text
    for value in capture.ctx.secrets:
        assert value not in text and value not in details


WRONG_KEY = """\
title: A Provider signing with the wrong key
summary: The sink refuses it (401), and no alerts check counts it.
needs: [notifications]
repo:
  kustomizations:
    - name: notifications
      path: ./notifications
    - name: apps
      path: ./apps
steps:
  - wait:
      ready: Kustomization/notifications
      timeout: 30s
  - commit:
      id: broken
      message: break apps
      files:
        apps/bad.yaml: "kind: [unclosed\\n"
  - title: The right key is verified
    expect:
      alerts: right
      object: Kustomization/apps
      severity: error
      signature: valid
      within: 30s
  - title: The wrong one never counts
    expect:
      - alerts: wrong
        count: 0
      - alerts: "*"
        signature: unsigned
        count: 0
  - title: A check that cannot pass, to see its detail
    expect:
      alerts: right
      reason: ReconciliationFailed
"""

NOTIFICATIONS = """\
apiVersion: v1
kind: Secret
metadata: {name: other-key, namespace: ${flux_namespace}}
stringData: {token: not-the-sinks-key}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: right, namespace: ${flux_namespace}}
spec: {type: generic-hmac, address: "${sink}/right", secretRef: {name: sink-token}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: wrong, namespace: ${flux_namespace}}
spec: {type: generic-hmac, address: "${sink}/wrong", secretRef: {name: other-key}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: right, namespace: ${flux_namespace}}
spec:
  providerRef: {name: right}
  eventSeverity: error
  eventSources: [{kind: Kustomization, name: apps}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: wrong, namespace: ${flux_namespace}}
spec:
  providerRef: {name: wrong}
  eventSeverity: error
  eventSources: [{kind: Kustomization, name: apps}]
"""


def test_a_wrong_signature_is_refused_and_a_failing_check_says_what_arrived(sandbox: SandboxHandle,
                                                                            tmp_path: Path) -> None:
    folder = tmp_path / "wrong-key"
    (folder / "repo" / "notifications").mkdir(parents=True)
    (folder / "repo" / "apps").mkdir()
    (folder / "scenario.yaml").write_text(textwrap.dedent(WRONG_KEY))
    (folder / "repo" / "notifications" / "objects.yaml").write_text(NOTIFICATIONS)
    (folder / "repo" / "apps" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: ${namespace}}\ndata: {a: b}\n")
    capture = Capture()
    with pytest.raises(ScenarioFailed) as caught:
        run(load(folder), sandbox, observer=capture)
    failure = caught.value
    message = str(failure)
    assert failure.step.index == 5, message  # the first four passed: right verified, wrong never counted
    assert "request(s) at /right: error BuildFailed Kustomization/" in message
    assert "none matching reason=ReconciliationFailed, expected at least 1" in message
    assert "webhook sink (latest requests):" in message and "/wrong: " in message and "(signature invalid)" in message
    assert capture.ctx is not None and capture.ctx.sink is not None
    assert [r.signature for r in capture.ctx.sink.received() if r.path == "/wrong"][:1] == ["invalid"]
    for value in capture.ctx.secrets:
        assert value not in message
    assert "sha256=" not in message, "no signature header in the output"
