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
                        "exported_namespace", "name", "ready", "suspended", "revision", "source_name", "url",
                        "chart_name", "chart_version", "chart_source_name", "endpoint", "bucket_name", "webhook_path",
                        "image")

# The per-kind labels of gotk_resource_info, from the kube-state-metrics custom-resource-state configuration of
# fluxcd/flux2-monitoring-example (monitoring/controllers/kube-prometheus-stack/kube-state-metrics-config.yaml):
# label -> path in the object. Kinds not listed there take the labels their reconciler's resource_info gives.
LABELS_FROM_PATH: dict[str, dict[str, tuple[str, ...]]] = {
    "Kustomization": {"revision": ("status", "lastAppliedRevision"), "source_name": ("spec", "sourceRef", "name")},
    "HelmRelease": {"revision": ("status", "lastAppliedRevision"), "chart_name": ("spec", "chart", "spec", "chart"),
                    "chart_source_name": ("spec", "chart", "spec", "sourceRef", "name")},
    "GitRepository": {"revision": ("status", "artifact", "revision"), "url": ("spec", "url")},
    "Bucket": {"revision": ("status", "artifact", "revision"), "endpoint": ("spec", "endpoint"),
               "bucket_name": ("spec", "bucketName")},
    "HelmRepository": {"revision": ("status", "artifact", "revision"), "url": ("spec", "url")},
    "HelmChart": {"revision": ("status", "artifact", "revision"), "chart_name": ("spec", "chart"),
                  "chart_version": ("spec", "version")},
    "OCIRepository": {"revision": ("status", "artifact", "revision"), "url": ("spec", "url")},
    "Alert": {},
    "Provider": {},
    "Receiver": {"webhook_path": ("status", "webhookPath")},
    "ImageRepository": {"image": ("spec", "image")},
    "ImagePolicy": {"source_name": ("spec", "imageRepositoryRef", "name")},
    "ImageUpdateAutomation": {"source_name": ("spec", "sourceRef", "name")},
}


def _at(obj: Any, path: tuple[str, ...]) -> str:
    """The value at ``path`` as kube-state-metrics writes a label: "" when absent, booleans as true/false."""
    for key in path:
        if not isinstance(obj, dict):
            return ""
        obj = obj.get(key)
    if obj is None or isinstance(obj, dict | list):
        return ""
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return str(obj)


def resource_info_labels(obj: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
    """Every label of ``gotk_resource_info`` for ``obj``, as flux2-monitoring-example's kube-state-metrics
    configuration derives them ("" where it leaves a label out: no Ready condition, no spec.suspend…)."""
    meta = obj.get("metadata", {})
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    kind = str(obj.get("kind", ""))
    ready = ""
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == "Ready":
            ready = str(condition.get("status", ""))
    values = dict.fromkeys(RESOURCE_INFO_LABELS, "")
    values.update({"customresource_group": group, "customresource_kind": kind, "customresource_version": version,
                   "exported_namespace": str(meta.get("namespace", "")), "name": str(meta.get("name", "")),
                   "suspended": _at(obj, ("spec", "suspend"))})
    if kind in LABELS_FROM_PATH:
        if kind not in ("Alert", "Provider"):  # upstream gives these two no ready label
            values["ready"] = ready
        values.update({label: _at(obj, path) for label, path in LABELS_FROM_PATH[kind].items()})
    else:
        values["ready"] = ready
        values.update({k: v for k, v in extra.items() if k in values})
    return values


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
        values = resource_info_labels(obj, extra)
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
