"""The configuration files of the monitoring stack, as pure functions: ``prometheus.yml``, the Flux recording and
alerting rules, and ``alertmanager.yml``.

The rules follow fluxcd/flux2-monitoring-example (``ReconciliationFailure`` on ``gotk_resource_info{ready="False"}``),
plus suspended resources and slow reconciles on ``gotk_reconcile_duration_seconds``; their ``for:`` durations come
from :class:`sandbox.config.MonitoringSettings` (Flux's example uses 10m; tests use seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sandbox.config import MonitoringSettings

RECEIVER = "webhook"
RULES_DIR = "rules.d"  # next to the rule file: more rule files, loaded on a reload (a scenario run's rules)
STATE_METRICS_JOB = "kube-state-metrics"  # the job name kube-prometheus-stack scrapes it under
Settings = MonitoringSettings


def rules(settings: Settings) -> dict[str, Any]:
    """The recording and alerting rules (one rule file), as a Flux user writes them."""
    return {"groups": [
        {"name": "gotk-recording", "interval": settings.scrape_interval, "rules": [
            {"record": "gotk:resource_ready:bool",
             "expr": 'max by (customresource_kind, exported_namespace, name) (gotk_resource_info{ready="True"})'},
            {"record": "gotk:reconcile_duration_seconds:p99",
             "expr": "histogram_quantile(0.99, sum by (kind, namespace, name, le) "
                     "(rate(gotk_reconcile_duration_seconds_bucket[1m])))"},
        ]},
        {"name": "GitOpsToolkit", "interval": settings.scrape_interval, "rules": [
            {"alert": "ReconciliationFailure",
             "expr": 'max by (exported_namespace, name, customresource_kind) (gotk_resource_info{ready="False"}) > 0',
             "for": settings.failure_for, "labels": {"severity": "page"},
             "annotations": {"summary": "{{ $labels.customresource_kind }} {{ $labels.exported_namespace }}/"
                                        "{{ $labels.name }} reconciliation has been failing for more than "
                                        f"{settings.failure_for}."}},
            {"alert": "ResourceSuspended",
             "expr": 'max by (exported_namespace, name, customresource_kind) '
                     '(gotk_resource_info{suspended="true"}) > 0',
             "for": settings.suspended_for, "labels": {"severity": "warning"},
             "annotations": {"summary": "{{ $labels.customresource_kind }} {{ $labels.exported_namespace }}/"
                                        f"{{{{ $labels.name }}}} has been suspended for more than "
                                        f"{settings.suspended_for}."}},
            {"alert": "SlowReconciliation",
             "expr": f"gotk:reconcile_duration_seconds:p99 > {settings.slow_seconds:g}",
             "for": settings.slow_for, "labels": {"severity": "warning"},
             "annotations": {"summary": "{{ $labels.kind }} {{ $labels.namespace }}/{{ $labels.name }} takes more "
                                        f"than {settings.slow_seconds:g}s to reconcile (p99)."}},
        ]},
    ]}


def prometheus(settings: Settings, *, rules_file: Path, targets_dir: Path, alertmanager: str, ca_file: Path,
               token_file: Path, alertmanager_auth: tuple[str, Path] | None = None) -> dict[str, Any]:
    """``prometheus.yml``: scrape targets come from file_sd files in ``targets_dir`` (written once the sandbox is
    ready, when every endpoint is known): ``gotk.json`` (the reconciler's or Flux controllers' plain-HTTP
    ``/metrics``), ``apiserver.json`` (HTTPS with the sandbox's CA and bearer token files) and
    ``kube-state-metrics.json`` (with ``--reconciler flux``: kube-state-metrics, which makes ``gotk_resource_info``
    for Flux's controllers). ``alertmanager_auth``: (user, password file) Prometheus presents to Alertmanager."""
    manager: dict[str, Any] = {"static_configs": [{"targets": [alertmanager]}]}
    if alertmanager_auth:
        manager["basic_auth"] = {"username": alertmanager_auth[0], "password_file": str(alertmanager_auth[1])}
    return {
        "global": {"scrape_interval": settings.scrape_interval, "evaluation_interval": settings.scrape_interval,
                   "scrape_timeout": settings.scrape_interval},
        "rule_files": [str(rules_file), str(rules_file.parent / RULES_DIR / "*.yml")],
        "alerting": {"alertmanagers": [manager]},
        "scrape_configs": [
            {"job_name": "gotk", "file_sd_configs": [{"files": [str(targets_dir / "gotk.json")],
                                                       "refresh_interval": "1s"}]},
            {"job_name": "apiserver", "scheme": "https", "tls_config": {"ca_file": str(ca_file)},
             "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
             "file_sd_configs": [{"files": [str(targets_dir / "apiserver.json")], "refresh_interval": "1s"}]},
            # As kube-prometheus-stack scrapes it: the labels kube-state-metrics writes win over the target's.
            {"job_name": STATE_METRICS_JOB, "honor_labels": True,
             "file_sd_configs": [{"files": [str(targets_dir / f"{STATE_METRICS_JOB}.json")],
                                  "refresh_interval": "1s"}]},
        ],
    }


def alertmanager(settings: Settings) -> dict[str, Any]:
    """``alertmanager.yml``: every alert to one webhook receiver (none configured: a receiver without targets)."""
    receiver: dict[str, Any] = {"name": RECEIVER}
    if settings.webhook:
        receiver["webhook_configs"] = [{"url": settings.webhook, "send_resolved": True}]
    return {"route": {"receiver": RECEIVER, "group_by": ["alertname", "exported_namespace", "name"],
                      "group_wait": settings.group_wait, "group_interval": "5s", "repeat_interval": "1h"},
            "receivers": [receiver]}


def targets(endpoints: dict[str, str]) -> list[dict[str, Any]]:
    """A file_sd document from ``{component: URL}`` (``http://127.0.0.1:PORT/metrics``), labelled ``component``."""
    return [{"targets": [url.split("://", 1)[-1].split("/", 1)[0]], "labels": {"component": component}}
            for component, url in sorted(endpoints.items())]


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)
