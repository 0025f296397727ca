"""A scenario run's copies of Flux's rules (narrowed to its namespaces) and its Alertmanager route."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.config import MonitoringSettings
from sandbox.errors import SandboxError
from sandbox.monitoring import config, runrules
from sandbox.monitoring.runrules import RunScope, RunSettings

SCOPE = RunScope("abc123", ("demo-abc123-flux", "demo-abc123"), "http://127.0.0.1:1/alertmanager")
IN_RUN = '"demo-abc123-flux|demo-abc123"'


@pytest.mark.parametrize(("expr", "narrowed"), [
    ('gotk_resource_info{ready="False"} > 0', f'gotk_resource_info{{ready="False", exported_namespace=~{IN_RUN}}} > 0'),
    ("max(gotk_resource_info)", f"max(gotk_resource_info{{exported_namespace=~{IN_RUN}}})"),
    ("rate(gotk_reconcile_duration_seconds_bucket[1m])",
     f"rate(gotk_reconcile_duration_seconds_bucket{{namespace=~{IN_RUN}}}[1m])"),
    ("gotk_reconcile_duration_seconds_sum / gotk_reconcile_duration_seconds_count",
     f"gotk_reconcile_duration_seconds_sum{{namespace=~{IN_RUN}}} / "
     f"gotk_reconcile_duration_seconds_count{{namespace=~{IN_RUN}}}"),
    ('up{name="gotk_resource_info"}', 'up{name="gotk_resource_info"}'),  # a label value is not a metric
], ids=["with-labels", "bare", "bucket-in-range", "sum-and-count", "label-value"])
def test_narrow(expr: str, narrowed: str) -> None:
    assert runrules.narrow(expr, SCOPE.namespaces) == narrowed


def test_narrow_refuses_a_flux_metric_it_cannot_limit() -> None:
    with pytest.raises(SandboxError, match="reads gotk:other:p99, which cannot be limited"):
        runrules.narrow("gotk:other:p99 > 1", SCOPE.namespaces)


def test_run_rules_are_flux_alerts_limited_to_the_run() -> None:
    document = runrules.run_rules(SCOPE, RunSettings(failure_for="5s", slow_seconds=2))
    (group,) = document["groups"]
    assert group["name"] == "GitOpsToolkit-abc123" and group["interval"] == "1s"
    rules = {rule["alert"]: rule for rule in group["rules"]}
    flux = {rule["alert"]: rule for g in config.rules(MonitoringSettings())["groups"] for rule in g["rules"]
            if "alert" in rule}
    assert set(rules) == set(flux)  # the same alert names, no recording rules (they would clash with the sandbox's)
    assert rules["ReconciliationFailure"]["for"] == "5s"
    assert rules["ReconciliationFailure"]["labels"] == {"severity": "page", "scenario_run": "abc123"}
    assert rules["ReconciliationFailure"]["annotations"]["summary"].endswith("for more than 5s.")
    slow = rules["SlowReconciliation"]["expr"]
    assert "gotk:reconcile_duration_seconds:p99" not in slow and "histogram_quantile(0.99" in slow and " > 2" in slow
    for rule in rules.values():  # every selector of a Flux metric names the run's namespaces
        for metric, selector in re.findall(r"(gotk_[a-z_]+)(\{[^}]*\})?", rule["expr"]):
            assert IN_RUN in selector, (metric, rule["expr"])


def test_route_sends_the_runs_alerts_to_its_webhook_and_keeps_the_rest() -> None:
    base = config.alertmanager(MonitoringSettings(webhook="http://127.0.0.1:2/global"))
    route, receiver = runrules.run_route(SCOPE, RunSettings(group_wait="2s"))
    assert route == {"receiver": "scenario-run-abc123", "matchers": ['scenario_run="abc123"'], "group_by": ["..."],
                     "group_wait": "2s", "group_interval": "1s", "repeat_interval": "1h"}
    assert receiver["webhook_configs"] == [{"url": SCOPE.webhook, "send_resolved": True}]
    other_route, other_receiver = runrules.run_route(RunScope("ffffff", ("x",), "http://127.0.0.1:3/a"), RunSettings())
    both = runrules.with_route(runrules.with_route(base, other_route, other_receiver), route, receiver)
    assert [r["receiver"] for r in both["route"]["routes"]] == ["scenario-run-abc123", "scenario-run-ffffff"]
    assert [r["name"] for r in both["receivers"]] == ["webhook", "scenario-run-ffffff", "scenario-run-abc123"]
    assert runrules.with_route(both, route, receiver) == both  # installing again replaces, never duplicates
    assert both["route"]["receiver"] == "webhook" and base["route"].get("routes") is None  # base not modified
    one = runrules.without_route(both, "ffffff")
    assert [r["receiver"] for r in one["route"]["routes"]] == ["scenario-run-abc123"]
    assert runrules.without_route(one, "abc123") == base


@pytest.mark.skipif(shutil.which("promtool") is None or shutil.which("amtool") is None,
                    reason="promtool/amtool are not installed (Debian packages prometheus, prometheus-alertmanager)")
def test_promtool_and_amtool_accept_the_run_files(tmp_path: Path) -> None:
    rules = tmp_path / "run.yml"
    rules.write_text(config.dump(runrules.run_rules(SCOPE, RunSettings())))
    alertmanager = tmp_path / "alertmanager.yml"
    alertmanager.write_text(config.dump(runrules.with_route(config.alertmanager(MonitoringSettings()),
                                                            *runrules.run_route(SCOPE, RunSettings()))))
    for argv in (["promtool", "check", "rules", str(rules)], ["amtool", "check-config", str(alertmanager)]):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_loads_the_rule_directory(tmp_path: Path) -> None:
    data = config.prometheus(MonitoringSettings(), rules_file=tmp_path / "rules.yml", targets_dir=tmp_path,
                             alertmanager="127.0.0.1:9", ca_file=tmp_path / "ca", token_file=tmp_path / "t")
    assert data["rule_files"] == [str(tmp_path / "rules.yml"), str(tmp_path / "rules.d" / "*.yml")]
