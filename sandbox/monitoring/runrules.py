"""Alert rules and an Alertmanager route of one scenario run: copies of Flux's alerting rules (the same alert names)
narrowed to the run's namespaces, with the run's own short ``for:`` durations and the label ``scenario_run``, in
``rules.d/<run>.yml``; a route sending alerts of that label to the run's webhook; Prometheus and Alertmanager
reloaded. ``remove`` takes both out again.

The sandbox's own rules keep running beside them with their own durations; an alert of the run's copies differs
from theirs by ``scenario_run``, so the two never merge in Alertmanager and only the run's reach the run's webhook.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.config import MonitoringSettings
from sandbox.errors import InputError, SandboxError
from sandbox.monitoring import config, service
from sandbox.monitoring.client import Prometheus
from sandbox.state import StateDir, write_private
from sandbox.waiting import wait_until

RUN_LABEL = "scenario_run"
RECEIVER_PREFIX = "scenario-run-"
# The metrics Flux's rules read, and the label that holds the namespace of the object a series is about.
NAMESPACE_LABELS = {
    "gotk_resource_info": "exported_namespace",
    "gotk_reconcile_duration_seconds_bucket": "namespace",
    "gotk_reconcile_duration_seconds_count": "namespace",
    "gotk_reconcile_duration_seconds_sum": "namespace",
}
_SELECTOR = re.compile(r"(?<![\w:\"])(" + "|".join(sorted(NAMESPACE_LABELS, key=len, reverse=True))
                       + r")(?![\w:])(\{[^}]*\})?")
_METRIC = re.compile(r"(?<![\w:\"])(gotk[\w:]*)")
RELOAD_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunSettings:
    """The ``monitoring:`` block of a scenario: the durations of the run's copies of the rules, and how fast
    Alertmanager sends the run's alerts on."""

    failure_for: str = "10s"  # ReconciliationFailure
    suspended_for: str = "10s"  # ResourceSuspended
    slow_for: str = "10s"  # SlowReconciliation
    slow_seconds: float = 60.0  # p99 reconcile duration above which SlowReconciliation fires
    evaluation_interval: str = "1s"  # of the run's rule group
    group_wait: str = "1s"  # Alertmanager, the run's route
    group_interval: str = "1s"

    def rule_settings(self) -> MonitoringSettings:
        return MonitoringSettings(scrape_interval=self.evaluation_interval, failure_for=self.failure_for,
                                  suspended_for=self.suspended_for, slow_for=self.slow_for,
                                  slow_seconds=self.slow_seconds)


@dataclass(frozen=True)
class RunScope:
    run_id: str
    namespaces: tuple[str, ...]  # the run's namespaces: its Flux objects' and its workloads'
    webhook: str = ""  # where Alertmanager sends the run's alerts ("" = nowhere: they stay in Alertmanager)


def group_name(run_id: str) -> str:
    return f"GitOpsToolkit-{run_id}"


def receiver_name(run_id: str) -> str:
    return RECEIVER_PREFIX + run_id


# --- the rules (pure) -----------------------------------------------------------------------------------------

def narrow(expr: str, namespaces: tuple[str, ...]) -> str:
    """``expr`` with every selector of a Flux metric limited to ``namespaces``
    (``gotk_resource_info{ready="False"}`` → ``gotk_resource_info{ready="False", exported_namespace=~"a|b"}``);
    SandboxError when it reads a ``gotk`` metric whose namespace label is not known (it would not be narrowed)."""
    pattern = "|".join(namespaces)

    def limited(match: re.Match[str]) -> str:
        metric, selector = match.group(1), (match.group(2) or "{}")[1:-1].strip()
        matcher = f'{NAMESPACE_LABELS[metric]}=~"{pattern}"'
        return f"{metric}{{{selector + ', ' if selector else ''}{matcher}}}"

    unknown = sorted({m for m in _METRIC.findall(expr) if m not in NAMESPACE_LABELS})
    if unknown:
        raise SandboxError(f"the run's copy of the rule {expr!r} reads {', '.join(unknown)}, which cannot be "
                           "limited to the run's namespaces")
    return _SELECTOR.sub(limited, expr)


def inline_records(expr: str, records: dict[str, str]) -> str:
    """``expr`` with each recorded series it reads replaced by the expression that records it."""
    if not records:
        return expr
    pattern = re.compile(r"(?<![\w:])(" + "|".join(map(re.escape, records)) + r")(?![\w:])")
    return pattern.sub(lambda match: f"({records[match.group(1)]})", expr)


def run_rules(scope: RunScope, settings: RunSettings) -> dict[str, Any]:
    """One rule file: Flux's alerting rules (sandbox.monitoring.config.rules) with the run's durations, the
    recording rules they read inlined, every selector narrowed to the run's namespaces, and the label
    ``scenario_run``."""
    groups = config.rules(settings.rule_settings())["groups"]
    records = {rule["record"]: rule["expr"] for group in groups for rule in group["rules"] if "record" in rule}
    alerts = []
    for group in groups:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            alerts.append({**rule, "expr": narrow(inline_records(rule["expr"], records), scope.namespaces),
                           "labels": {**rule.get("labels", {}), RUN_LABEL: scope.run_id}})
    return {"groups": [{"name": group_name(scope.run_id), "interval": settings.evaluation_interval,
                        "rules": alerts}]}


# --- the route (pure) -----------------------------------------------------------------------------------------

def run_route(scope: RunScope, settings: RunSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The child route (alerts labelled with the run) and its webhook receiver; one notification per alert."""
    name = receiver_name(scope.run_id)
    route = {"receiver": name, "matchers": [f'{RUN_LABEL}="{scope.run_id}"'], "group_by": ["..."],
             "group_wait": settings.group_wait, "group_interval": settings.group_interval, "repeat_interval": "1h"}
    receiver = {"name": name, "webhook_configs": [{"url": scope.webhook, "send_resolved": True}]}
    return route, receiver


def without_route(document: dict[str, Any], run_id: str) -> dict[str, Any]:
    """``alertmanager.yml`` without the run's route and receiver (unchanged when it has none)."""
    return _without_receiver(document, receiver_name(run_id))


def _without_receiver(document: dict[str, Any], name: str) -> dict[str, Any]:
    result = copy.deepcopy(document)
    routes = [r for r in result["route"].get("routes") or [] if r.get("receiver") != name]
    if routes:
        result["route"]["routes"] = routes
    else:
        result["route"].pop("routes", None)
    result["receivers"] = [r for r in result.get("receivers") or [] if r.get("name") != name]
    return result


def with_route(document: dict[str, Any], route: dict[str, Any], receiver: dict[str, Any]) -> dict[str, Any]:
    """``alertmanager.yml`` with ``route`` first among the child routes (other runs' stay) and ``receiver``."""
    result = _without_receiver(document, receiver["name"])
    result["route"]["routes"] = [route, *(result["route"].get("routes") or [])]
    result["receivers"] = [*result["receivers"], receiver]
    return result


# --- installing and removing ----------------------------------------------------------------------------------

def rules_file(state: StateDir, run_id: str) -> Path:
    return service.root(state) / config.RULES_DIR / f"{run_id}.yml"


def _client(state: StateDir) -> Prometheus:
    return service.client_of(state)


@contextmanager
def _locked(state: StateDir) -> Iterator[None]:
    """One run at a time rewrites alertmanager.yml (runs of one sandbox may start and end together)."""
    with open(service.root(state) / "runs.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _edit_alertmanager(state: StateDir, prometheus: Prometheus,
                       change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    path = service.root(state) / "alertmanager.yml"
    with _locked(state):
        document = yaml.safe_load(path.read_text())
        write_private(path, config.dump(change(document)))
        prometheus.reload_alertmanager()


def install(state: StateDir, scope: RunScope, settings: RunSettings, *, timeout: float = RELOAD_TIMEOUT) -> None:
    """Load the run's rules into Prometheus and (with a webhook) its route into Alertmanager; return once
    Prometheus evaluates the group. Undoes itself when any of it fails."""
    prometheus = _client(state)
    if f"/{config.RULES_DIR}/" not in prometheus.loaded_config():
        raise InputError(f"sandbox {state.name!r} runs a Prometheus without a rule directory (started by an older "
                         "gitops-sandbox); restart it: `sandbox down` and `sandbox up --monitoring`")
    try:
        write_private(rules_file(state, scope.run_id), config.dump(run_rules(scope, settings)))
        prometheus.reload()
        name = group_name(scope.run_id)
        wait_until(lambda: any(g["name"] == name for g in prometheus.rule_groups()), timeout=timeout,
                   what=f"Prometheus to load the rule group {name}",
                   describe=lambda: "loaded groups: " + ", ".join(g["name"] for g in prometheus.rule_groups()))
        if scope.webhook:
            route, receiver = run_route(scope, settings)
            _edit_alertmanager(state, prometheus, lambda document: with_route(document, route, receiver))
            wait_until(lambda: receiver["name"] in prometheus.alertmanager_config(), timeout=timeout,
                       what=f"Alertmanager to load the route of receiver {receiver['name']}")
    except BaseException:
        with contextlib.suppress(SandboxError):  # the first error says what went wrong
            remove(state, scope.run_id)
        raise


def remove(state: StateDir, run_id: str) -> None:
    """Take the run's rules and route out (what is not there is skipped) and reload both programs."""
    prometheus = _client(state)
    errors: list[str] = []
    path = rules_file(state, run_id)
    if path.exists():
        path.unlink()
        try:
            prometheus.reload()
        except SandboxError as err:
            errors.append(str(err))
    alertmanager = service.root(state) / "alertmanager.yml"
    if receiver_name(run_id) in alertmanager.read_text():
        try:
            _edit_alertmanager(state, prometheus, lambda document: without_route(document, run_id))
        except SandboxError as err:
            errors.append(str(err))
    if errors:
        raise SandboxError(f"removing the alert rules of run {run_id}: {'; '.join(errors)}")
