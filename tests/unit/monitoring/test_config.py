"""The monitoring stack's generated configuration: Prometheus, the Flux rules, Alertmanager, settings."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.config import MonitoringSettings
from sandbox.errors import InputError
from sandbox.monitoring import config, webauth


def alerting_rules(settings: MonitoringSettings) -> dict[str, dict[str, object]]:
    return {r["alert"]: r for g in config.rules(settings)["groups"] for r in g["rules"] if "alert" in r}


def test_rules_follow_flux_and_take_the_configured_durations() -> None:
    rules = alerting_rules(MonitoringSettings(failure_for="5s", suspended_for="1m", slow_for="2m", slow_seconds=30))
    failure = rules["ReconciliationFailure"]
    assert failure["expr"] == ('max by (exported_namespace, name, customresource_kind) '
                               '(gotk_resource_info{ready="False"}) > 0')
    assert failure["for"] == "5s"
    assert failure["labels"] == {"severity": "page"}
    assert 'gotk_resource_info{suspended="true"}' in str(rules["ResourceSuspended"]["expr"])
    assert rules["ResourceSuspended"]["for"] == "1m"
    assert rules["SlowReconciliation"]["expr"] == "gotk:reconcile_duration_seconds:p99 > 30"
    assert rules["SlowReconciliation"]["for"] == "2m"


def test_default_durations_are_flux_examples_ten_minutes() -> None:
    assert {r["for"] for r in alerting_rules(MonitoringSettings()).values()} == {"10m"}


def test_prometheus_config_scrapes_via_file_sd_and_sends_to_alertmanager(tmp_path: Path) -> None:
    data = config.prometheus(MonitoringSettings(), rules_file=tmp_path / "rules.yml", targets_dir=tmp_path,
                             alertmanager="127.0.0.1:9", ca_file=tmp_path / "ca.crt", token_file=tmp_path / "t")
    assert data["global"]["scrape_interval"] == "2s"
    assert data["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9"]
    jobs = {job["job_name"]: job for job in data["scrape_configs"]}
    assert jobs["apiserver"]["scheme"] == "https"
    assert jobs["apiserver"]["authorization"]["credentials_file"] == str(tmp_path / "t")
    assert jobs["apiserver"]["tls_config"]["ca_file"] == str(tmp_path / "ca.crt")
    assert jobs["gotk"]["file_sd_configs"][0]["files"] == [str(tmp_path / "gotk.json")]


def test_alertmanager_routes_everything_to_the_webhook() -> None:
    data = config.alertmanager(MonitoringSettings(webhook="http://127.0.0.1:1/hook"))
    assert data["route"]["receiver"] == config.RECEIVER
    assert data["receivers"] == [{"name": config.RECEIVER, "webhook_configs": [
        {"url": "http://127.0.0.1:1/hook", "send_resolved": True}]}]
    assert "webhook_configs" not in config.alertmanager(MonitoringSettings())["receivers"][0]


def test_targets_are_host_port_labelled_by_component() -> None:
    assert config.targets({"reconciler": "http://127.0.0.1:8080/metrics"}) == [
        {"targets": ["127.0.0.1:8080"], "labels": {"component": "reconciler"}}]


@pytest.mark.parametrize(("field", "value", "match"), [
    ("failure_for", "ten minutes", "failure_for='ten minutes' is not a Prometheus duration"),
    ("webhook", "ftp://x", "not an http"),
])
def test_bad_settings_are_named(field: str, value: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        MonitoringSettings(**{field: value}).check()  # type: ignore[arg-type]


def test_settings_file(tmp_path: Path) -> None:
    good = tmp_path / "monitoring.yaml"
    good.write_text("failure_for: 30s\nslow_seconds: 5\n")
    assert MonitoringSettings.load(good) == MonitoringSettings(failure_for="30s", slow_seconds=5.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("failure: 30s\n")
    with pytest.raises(InputError, match=r"bad.yaml: unknown keys \['failure'\]"):
        MonitoringSettings.load(bad)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian package prometheus)")
def test_promtool_accepts_the_generated_files(tmp_path: Path) -> None:
    settings = MonitoringSettings(failure_for="3s", webhook="http://127.0.0.1:1/hook")
    rules = tmp_path / "rules.yml"
    rules.write_text(config.dump(config.rules(settings)))
    prom = tmp_path / "prometheus.yml"
    prom.write_text(config.dump(config.prometheus(settings, rules_file=rules, targets_dir=tmp_path,
                                                  alertmanager="127.0.0.1:9", ca_file=rules, token_file=rules,
                                                  alertmanager_auth=("sandbox", rules))))
    web = tmp_path / "web.yml"
    web.write_text(webauth.web_config("a-password"))
    for args in (["check", "rules", str(rules)], ["check", "config", "--syntax-only", str(prom)],
                 ["check", "web-config", str(web)]):
        result = subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
