"""The monitoring service: its plan (loopback, state dir), its scrape targets, and a clear error naming the Debian
package when a binary is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sandbox import binaries
from sandbox.config import MonitoringSettings, UpOptions
from sandbox.errors import InputError
from sandbox.monitoring import service
from sandbox.state import ComponentSpec, StateDir


def test_missing_alertmanager_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = binaries.find
    monkeypatch.setattr(binaries, "find", lambda name, **kw: None if name == "prometheus-alertmanager"
                        else real(name, **kw))
    assert "prometheus-alertmanager" in service.missing()
    with pytest.raises(InputError, match=r"Debian package prometheus-alertmanager.*apt-get install "
                                         r"prometheus-alertmanager"):
        service.require(service.ALERTMANAGER)


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    made = StateDir("monitoring", root=tmp_path)
    made.create()
    return made


@pytest.mark.skipif(bool(service.missing()), reason="needs the Debian packages prometheus, prometheus-alertmanager")
def test_plan_runs_both_on_loopback_with_data_under_the_state_dir(state: StateDir) -> None:
    options = UpOptions(name=state.name, monitoring=MonitoringSettings(webhook="http://127.0.0.1:1/hook"))
    assert service.MonitoringService().enabled(options)
    assert not service.MonitoringService().enabled(UpOptions(name="x"))
    plan = service.MonitoringService().plan(state, options)
    by_name = {c.name: c for c in plan.components}
    assert set(by_name) == {service.PROMETHEUS, service.ALERTMANAGER}
    for component in plan.components:
        listen = next(a for a in component.argv if a.startswith("--web.listen-address="))
        assert listen.startswith("--web.listen-address=127.0.0.1:")
        assert component.probe is not None and component.probe.url.endswith("/-/ready")
    assert "--cluster.listen-address=" in by_name[service.ALERTMANAGER].argv  # no gossip port on 0.0.0.0
    root = service.root(state)
    assert str(root) in " ".join(by_name[service.PROMETHEUS].argv)
    assert yaml.safe_load((root / "alertmanager.yml").read_text())["receivers"][0]["webhook_configs"][0]["url"] \
        == "http://127.0.0.1:1/hook"
    assert plan.record["monitoring"]["prometheus"] == by_name[service.PROMETHEUS].endpoints["url"]
    assert len(plan.before_start) == 1  # writes the scrape targets once every spec is known


def test_targets_are_every_metrics_endpoint_and_the_apiserver(state: StateDir) -> None:
    service.root(state).joinpath("targets").mkdir(parents=True)
    state.write_specs([
        ComponentSpec("reconciler", ["x"], endpoints={"metrics": "http://127.0.0.1:8080/metrics", "health": "x"}),
        ComponentSpec("etcd", ["x"], endpoints={"client": "http://127.0.0.1:2379"})])
    state.write_record({"server": "https://127.0.0.1:6443"})
    service.write_targets(state)
    targets = service.root(state) / "targets"
    assert json.loads((targets / "gotk.json").read_text()) == [
        {"targets": ["127.0.0.1:8080"], "labels": {"component": "reconciler"}}]
    assert json.loads((targets / "apiserver.json").read_text())[0]["targets"] == ["127.0.0.1:6443"]


@pytest.mark.skipif(bool(service.missing()), reason="needs the Debian packages prometheus, prometheus-alertmanager")
def test_the_record_does_not_show_the_webhook_url(state: StateDir) -> None:
    secret_url = "http://127.0.0.1:1/hooks/T000/B000/s3cr3t"
    plan = service.MonitoringService().plan(state, UpOptions(name=state.name,
                                                             monitoring=MonitoringSettings(webhook=secret_url)))
    assert "s3cr3t" not in json.dumps(plan.record) and plan.record["monitoring"]["webhook"] is True
    assert (service.root(state) / "alertmanager.yml").stat().st_mode & 0o077 == 0  # only the owner reads it
