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
from sandbox.monitoring import service, webauth
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


def test_kube_state_metrics_is_its_own_job(state: StateDir) -> None:
    service.root(state).joinpath("targets").mkdir(parents=True)
    state.write_specs([
        ComponentSpec("kube-state-metrics", ["x"], endpoints={"state_metrics": "http://127.0.0.1:9100/metrics",
                                                              "telemetry": "http://127.0.0.1:9101/metrics"})])
    state.write_record({})
    service.write_targets(state)
    targets = service.root(state) / "targets"
    assert json.loads((targets / "gotk.json").read_text()) == []
    assert json.loads((targets / "kube-state-metrics.json").read_text()) == [
        {"targets": ["127.0.0.1:9100"], "labels": {"component": "kube-state-metrics"}}]


def test_container_backend_runs_keepers_on_the_host_network_with_the_files_mounted(
        state: StateDir, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.cluster import pki
    from sandbox.monitoring import container

    creds = pki.generate(state.secrets, state.name)
    monkeypatch.setattr(container, "availability", lambda: (True, ""))
    monkeypatch.setenv(container.IMAGE_ENV[container.PROMETHEUS], "local/prometheus:debian")
    monkeypatch.delenv(container.IMAGE_ENV[container.ALERTMANAGER], raising=False)
    plan = service.MonitoringService().plan(state, UpOptions(
        name=state.name, monitoring=MonitoringSettings(backend="container")))
    assert plan.record["monitoring"]["backend"] == "container"
    by_name = {c.name: c for c in plan.components}
    argv = by_name[service.PROMETHEUS].argv
    assert argv[1:3] == ["-m", "sandbox.monitoring.container"]
    assert argv[argv.index("--image") + 1] == "local/prometheus:debian"
    mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "--mount"]
    password = webauth.password_file(state)
    assert mounts == [f"{service.root(state)}:rw", f"{creds.ca_cert}:ro", f"{creds.token_file}:ro",
                      f"{password}:ro"]
    flags = argv[argv.index("--") + 1:]
    assert any(f.startswith("--web.listen-address=127.0.0.1:") for f in flags)
    web = f"--web.config.file={service.root(state) / 'web.yml'}"
    assert web in flags and web in by_name[service.ALERTMANAGER].argv  # both behind basic auth
    probe = by_name[service.PROMETHEUS].probe
    assert probe is not None and (probe.username, probe.password_file) == ("sandbox", str(password))
    am = by_name[service.ALERTMANAGER].argv
    assert am[am.index("--image") + 1] == container.DEFAULT_IMAGES[container.ALERTMANAGER]


def test_container_backend_unavailable_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.monitoring import container

    monkeypatch.setattr(container, "availability", lambda: (False, "Docker is not available: no engine socket"))
    with pytest.raises(InputError, match=r"--monitoring-backend container is not available: Docker is not "
                                         r"available.*--monitoring-backend local"):
        service.choose_backend("container")
    assert service.choose_backend("auto") == "local"
    assert service.choose_backend("local") == "local"


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(InputError, match="monitoring backend 'podman'"):
        MonitoringSettings(backend="podman").check()
