"""Monitoring in scenarios, on a sandbox of its own started with `--monitoring`: a run's copies of Flux's alert rules
load into Prometheus and fire for the run's broken Kustomization, Alertmanager delivers them to the run's sink, all of
it is gone after the run; and the built-in scenario `monitoring` plays green with `sandbox play` and under pytest."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import lifecycle
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.handle import SandboxHandle
from sandbox.monitoring import runrules, service
from sandbox.monitoring.client import Prometheus
from sandbox.scenario import catalog, runmonitoring, runner, runsink
from sandbox.scenario.context import RunContext
from sandbox.scenario.failures import ScenarioFailed
from sandbox.scenario.loader import load
from sandbox.scenario.observer import Observer
from sandbox.sink import Received
from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.skipif(bool(service.missing()),
                                reason=f"monitoring needs the Debian packages {', '.join(service.missing())} "
                                       "(apt-get install prometheus prometheus-alertmanager, as bootstrap.sh does)")

BROKEN_RUN = """\
title: A broken Kustomization
summary: Its namespace does not exist.
monitoring:
  failure_for: 2s
steps:
  - narrate: driven by the test
repo:
  kustomizations:
    - name: apps
"""
BROKEN_FILE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
  namespace: nowhere-${run}
"""


@pytest.fixture(scope="module")
def monitored() -> Iterator[SandboxHandle]:
    name = f"monscen-{os.getpid()}"
    lifecycle.up(UpOptions(name=name, git="local", monitoring=MonitoringSettings(), timeout=120))
    try:
        yield SandboxHandle.attach(name)
    finally:
        lifecycle.down(name)


@pytest.fixture(scope="module")
def prom(monitored: SandboxHandle) -> Prometheus:
    return service.client_of(monitored.state)


def _alertmanager_alerts(received: list[Received], status: str) -> list[dict[str, Any]]:
    return [alert for request in received if request.path == runmonitoring.SINK_PATH
            and isinstance(request.body, dict) for alert in request.body.get("alerts", [])
            if alert.get("status") == status]


def describe_delivery(monitored: SandboxHandle, prom: Prometheus) -> str:
    """What Alertmanager holds and what Prometheus and Alertmanager logged about sending, for a delivery that did
    not arrive."""
    try:
        held = [(a["labels"].get("alertname"), a.get("status", {}).get("state")) for a in prom.alertmanager_alerts()]
    except Exception as err:  # a description must not fail itself
        held = [("unreadable", str(err))]
    lines = []
    for program in (service.PROMETHEUS, service.ALERTMANAGER):
        log_file = monitored.state.logs / f"{program}.log"
        if log_file.exists():
            lines += [f"{program}: {line}" for line in log_file.read_text(errors="replace").splitlines()
                      if "level=error" in line or "level=warn" in line][-5:]
    return f"Alertmanager holds {held}; " + " | ".join(lines)


def test_run_rules_fire_for_the_runs_broken_kustomization_and_reach_its_sink(monitored: SandboxHandle,
                                                                             prom: Prometheus,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "broken-run"
    (folder / "repo").mkdir(parents=True)
    (folder / "scenario.yaml").write_text(BROKEN_RUN)
    (folder / "repo" / "greeting.yaml").write_text(BROKEN_FILE)
    ctx = RunContext(load(folder), monitored, "b0b0b0", Observer())
    run_id = ctx.run_id
    try:
        runner.setup(ctx)
        assert ctx.sink is not None
        group = next(g for g in prom.rule_groups() if g["name"] == runrules.group_name(run_id))
        assert {r["name"] for r in group["rules"]} == {"ReconciliationFailure", "ResourceSuspended",
                                                       "SlowReconciliation"}
        assert ctx.flux_namespace in group["rules"][0]["query"]
        assert runrules.receiver_name(run_id) in prom.alertmanager_config()

        alert = prom.wait_for_alert("ReconciliationFailure", timeout=60)
        assert alert["labels"]["scenario_run"] == run_id and alert["labels"]["name"] == "apps"

        def delivered() -> list[dict[str, Any]] | None:
            assert ctx.sink is not None
            return _alertmanager_alerts(ctx.sink.received(), "firing") or None

        # A scrape that times out on a loaded machine can make the alert resolve and fire again: sent twice, then.
        firing = wait_until(delivered, timeout=120, what="the run's alert at its sink",
                           describe=lambda: describe_delivery(monitored, prom))[0]
        assert firing["labels"]["alertname"] == "ReconciliationFailure"
        assert firing["labels"]["exported_namespace"] == ctx.flux_namespace
        assert firing["labels"]["customresource_kind"] == "Kustomization"
        assert f"{ctx.flux_namespace}/apps reconciliation has been failing" in firing["annotations"]["summary"]
        assert all(r.signature is None for r in ctx.sink.received())  # Alertmanager does not sign

        fixed = ctx.repository.commit({"greeting.yaml": BROKEN_FILE.replace("nowhere-${run}", ctx.namespace)},
                                      "Fix the namespace")
        ctx.repository.wait_applied("apps", fixed)

        def resolved() -> list[dict[str, Any]] | None:
            assert ctx.sink is not None
            return _alertmanager_alerts(ctx.sink.received(), "resolved") or None

        wait_until(resolved, timeout=60, what="the resolved alert at the run's sink")
    finally:
        runmonitoring.stop(ctx)
        runsink.stop(ctx)
        runner.cleanup(ctx)
    assert all(g["name"] != runrules.group_name(run_id) for g in prom.rule_groups())
    assert runrules.receiver_name(run_id) not in prom.alertmanager_config()
    assert not runrules.rules_file(monitored.state, run_id).exists()
    document = yaml.safe_load((service.root(monitored.state) / "alertmanager.yml").read_text())
    assert "routes" not in document["route"]


def test_the_monitoring_scenario_plays_green(monitored: SandboxHandle, prom: Prometheus) -> None:
    started = time.monotonic()
    result = run_cli("play", "monitoring", "--name", monitored.name)
    assert result.exit_code == 0, result.output
    assert "scenario monitoring passed" in result.output
    print(f"sandbox play monitoring: {time.monotonic() - started:.1f}s")
    assert not list((service.root(monitored.state) / "rules.d").iterdir())


def test_the_monitoring_scenario_passes_under_pytest(pytester: pytest.Pytester, monitored: SandboxHandle) -> None:
    result = pytester.runpytest(str(catalog.BUILTIN / "monitoring"), "--sandbox-reuse", monitored.name,
                                "-p", "no:cacheprovider")
    assert result.parseoutcomes().get("passed") == 1, result.stdout.str()


def test_play_starts_a_sandbox_with_monitoring_when_none_is_up() -> None:
    name = f"monplay-{os.getpid()}"
    try:
        result = run_cli("play", "monitoring", "--name", name)
    finally:
        if StateDir(name).exists():
            lifecycle.down(name)
    assert result.exit_code == 0, result.output
    assert "is not up: starting it for this play" in result.output
    assert "scenario monitoring passed" in result.output


def test_a_broken_copy_fails_where_the_alert_does_not_fire_and_still_cleans_up(monitored: SandboxHandle,
                                                                                prom: Prometheus,
                                                                                tmp_path: Path) -> None:
    copy = tmp_path / "monitoring"
    shutil.copytree(catalog.BUILTIN / "monitoring", copy)
    text = (copy / "scenario.yaml").read_text()
    firing_wait = "customresource_kind: Kustomization\n      count: 1\n      timeout: 30s"
    assert "failure_for: 10s" in text and firing_wait in text
    text = text.replace("failure_for: 10s", "failure_for: 10m").replace(firing_wait, firing_wait[:-3] + "5s")
    (copy / "scenario.yaml").write_text(text)
    scenario = load(copy)
    with pytest.raises(ScenarioFailed) as caught:
        runner.run(scenario, monitored, run_id="f00f00")
    message = str(caught.value)
    assert caught.value.step.title == "ReconciliationFailure fires", message
    assert 'ALERTS{alertname="ReconciliationFailure", scenario_run="f00f00", name="apps", alertstate="firing"} ' \
           "returned 0 series; expected 1 series with" in message
    assert all(g["name"] != runrules.group_name("f00f00") for g in prom.rule_groups())
    assert runrules.receiver_name("f00f00") not in prom.alertmanager_config()
