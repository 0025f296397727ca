"""Prometheus metrics of the reconciler, with Flux's names and labels."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import MetricsHandler

from sandbox.httpserve import LoopbackServer

# Flux: ExponentialBucketsRange(0.01, 1800, 10)
_FACTOR = (1800 / 0.01) ** (1 / 9)
DURATION_BUCKETS = tuple(round(0.01 * _FACTOR**i, 6) for i in range(10))

RESOURCE_INFO_LABELS = ("customresource_group", "customresource_kind", "customresource_version",
                        "exported_namespace", "name", "ready", "suspended", "revision", "source_name", "url")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconcile_duration = Histogram(
            "gotk_reconcile_duration_seconds", "The duration in seconds of a GitOps Toolkit resource reconciliation.",
            ["kind", "name", "namespace"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total", "Total number of reconciliations per controller",
            ["controller", "result"], registry=self.registry)
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller",
            ["controller"], registry=self.registry)
        self.queue_depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=self.registry)
        self.queue_adds = Counter("workqueue_adds_total", "Total number of adds handled by workqueue", ["name"],
                                  registry=self.registry)
        self.queue_retries = Counter("workqueue_retries_total", "Total number of retries handled by workqueue",
                                     ["name"], registry=self.registry)
        self.resource_info = Gauge(
            "gotk_resource_info", "The current state of a Flux resource (kube-state-metrics compatible).",
            list(RESOURCE_INFO_LABELS), registry=self.registry)
        self._info_labels: dict[tuple[str, str, str], tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def set_resource_info(self, obj: dict[str, Any], extra: dict[str, str]) -> None:
        """Publish ``gotk_resource_info`` for ``obj`` (one series per object, replaced on change)."""
        meta = obj.get("metadata", {})
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        ready = "Unknown"
        for condition in obj.get("status", {}).get("conditions", []) or []:
            if condition.get("type") == "Ready":
                ready = condition.get("status", "Unknown")
        values = {
            "customresource_group": group, "customresource_kind": obj.get("kind", ""),
            "customresource_version": version, "exported_namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""), "ready": ready,
            "suspended": "true" if obj.get("spec", {}).get("suspend") else "false",
            "revision": "", "source_name": "", "url": "",
        }
        values.update(extra)
        labels = tuple(values[k] for k in RESOURCE_INFO_LABELS)
        key = (values["customresource_kind"], values["exported_namespace"], values["name"])
        with self._lock:
            old = self._info_labels.get(key)
            if old is not None and old != labels:
                self.resource_info.remove(*old)
            self.resource_info.labels(*labels).set(1)
            self._info_labels[key] = labels

    def forget_resource(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            old = self._info_labels.pop((kind, namespace, name), None)
            if old is not None:
                self.resource_info.remove(*old)

    def serve(self, port: int) -> LoopbackServer:
        """Serve ``/metrics`` (Prometheus text format; any path answers, as prometheus_client's server does)."""
        return LoopbackServer(MetricsHandler.factory(self.registry), name="metrics-server", port=port).start()
