"""kube-state-metrics' custom-resource-state configuration that makes ``gotk_resource_info`` for upstream Flux's
controllers (``--reconciler flux --monitoring``), as a pure function of the kinds the sandbox serves.

Each kind of ``sandbox.reconciler.support.TABLE`` gets one Info metric ``gotk_resource_info`` with the labels of
fluxcd/flux2-monitoring-example (``monitoring/controllers/kube-prometheus-stack/kube-state-metrics-config.yaml``):
``name``, ``exported_namespace``, ``ready`` (the Ready condition's status; not for Alert and Provider),
``suspended`` (``spec.suspend``) and the per-kind labels of ``LABELS_FROM_PATH`` — the same table the sandbox's
reconciler exports the metric with, so both reconcilers give the same series. kube-state-metrics adds
``customresource_group``, ``customresource_kind`` and ``customresource_version`` itself.
"""

from __future__ import annotations

from typing import Any

from sandbox.monitoring.config import STATE_METRICS_JOB
from sandbox.reconciler import support
from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.runtime.metrics import LABELS_FROM_PATH

JOB = STATE_METRICS_JOB
ENDPOINT = "state_metrics"  # the endpoint of a component that serves these metrics (Prometheus job JOB)
PREFIX = "gotk"
METRIC = "resource_info"
HELP = "The current state of a GitOps Toolkit resource."
_NO_READY = ("Alert", "Provider")  # the example gives these two no ready label


def labels_from_path(kind: Kind) -> dict[str, list[str]]:
    """The object-level labels of ``kind``'s ``gotk_resource_info``: label -> path, as the example writes them."""
    labels: dict[str, list[str]] = {"exported_namespace": ["metadata", "namespace"]}
    if kind.kind not in _NO_READY:
        labels["ready"] = ["status", "conditions", "[type=Ready]", "status"]
    labels["suspended"] = ["spec", "suspend"]
    labels.update({label: list(path) for label, path in LABELS_FROM_PATH.get(kind.kind, {}).items()})
    return labels


def resource(kind: Kind) -> dict[str, Any]:
    return {
        "groupVersionKind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
        "metricNamePrefix": PREFIX,
        "metrics": [{"name": METRIC, "help": HELP,
                     "each": {"type": "Info", "info": {"labelsFromPath": {"name": ["metadata", "name"]}}},
                     "labelsFromPath": labels_from_path(kind)}],
    }


def custom_resource_state(kinds: tuple[Kind, ...] | None = None) -> dict[str, Any]:
    """The ``--custom-resource-state-config-file`` document for ``kinds`` (default: every kind of the table)."""
    chosen = kinds if kinds is not None else tuple(entry.kind for entry in support.TABLE)
    return {"kind": "CustomResourceStateMetrics", "spec": {"resources": [resource(kind) for kind in chosen]}}
