"""Prometheus, when the sandbox runs it (``sandbox up --monitoring``), polled every few seconds: ``prometheus_alert``
entries when an alert becomes pending, firing or resolved, and ``metric`` entries when an object's readiness
(``gotk_resource_info``) changes or it reconciled since the last poll (its mean ``gotk_reconcile_duration_seconds``
over those reconciles). Only changes are written, to keep timelines small."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.errors import SandboxError
from sandbox.scenario.timeline import TimelineWriter

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DURATION_SUM = "sum by (kind, namespace, name) (gotk_reconcile_duration_seconds_sum)"
DURATION_COUNT = "sum by (kind, namespace, name) (gotk_reconcile_duration_seconds_count)"
RESOURCE_INFO = "gotk_resource_info"
DURATION_METRIC = "gotk_reconcile_duration_seconds"


class PrometheusAPI(Protocol):
    """What the source asks Prometheus (``sandbox.monitoring.client.Prometheus``)."""

    def query(self, promql: str) -> list[dict[str, Any]]: ...

    def alerts(self) -> list[dict[str, Any]]: ...


def subject_of(labels: dict[str, str]) -> str:
    """``Kind/namespace/name`` from Flux's metric labels (``kind``/``namespace`` of the reconcile metrics,
    ``customresource_kind``/``exported_namespace`` of kube-state-metrics); "" when they do not name an object."""
    kind = labels.get("customresource_kind") or labels.get("kind") or ""
    namespace = labels.get("exported_namespace") or labels.get("namespace") or ""
    name = labels.get("name") or ""
    if not kind or not name:
        return ""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def _value(sample: Obj) -> float | None:
    try:
        value = float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if value != value else value  # NaN


class AlertStates:
    """Which Prometheus alerts changed state since the last look: new or changed → their state (pending, firing),
    gone → resolved."""

    def __init__(self) -> None:
        self._states: dict[tuple[tuple[str, str], ...], tuple[str, Obj]] = {}

    def observe(self, alerts: list[Obj]) -> list[tuple[str, Obj]]:
        """``[(subject, data)]`` of the ``prometheus_alert`` entries ``alerts`` (Prometheus's /api/v1/alerts) make."""
        changes: list[tuple[str, Obj]] = []
        seen: dict[tuple[tuple[str, str], ...], tuple[str, Obj]] = {}
        for alert in alerts:
            labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
            key = tuple(sorted(labels.items()))
            state = str(alert.get("state") or "")
            seen[key] = (state, alert)
            previous = self._states.get(key)
            if previous is None or previous[0] != state:
                changes.append(self._entry(labels, state, alert))
        for key, (_, alert) in self._states.items():
            if key not in seen:
                changes.append(self._entry(dict(key), "resolved", alert))
        self._states = seen
        return changes

    @staticmethod
    def _entry(labels: dict[str, str], state: str, alert: Obj) -> tuple[str, Obj]:
        annotations = alert.get("annotations") or {}
        data: Obj = {"alertname": labels.get("alertname", ""), "state": state,
                     "severity": labels.get("severity", ""),
                     "summary": str(annotations.get("summary") or annotations.get("description") or ""),
                     "labels": labels}
        if alert.get("activeAt") and state != "resolved":
            data["active_at"] = str(alert["activeAt"])
        return subject_of(labels), data


@dataclass
class MetricChanges:
    """Per object: readiness last written, and the reconcile counters last seen (to take the increase)."""

    readiness: dict[str, tuple[str, bool]] = field(default_factory=dict)
    counters: dict[str, tuple[float, float]] = field(default_factory=dict)  # subject -> (sum, count)

    def observe_info(self, series: list[Obj]) -> list[tuple[str, Obj]]:
        """``metric`` entries for the objects whose ``ready`` or ``suspended`` label changed (or that appeared)."""
        changes = []
        current: dict[str, tuple[str, bool]] = {}
        for sample in series:
            labels = sample.get("metric") or {}
            subject = subject_of(labels)
            if not subject:
                continue
            state = (str(labels.get("ready") or "Unknown"), str(labels.get("suspended", "")).lower() == "true")
            current[subject] = state
            if self.readiness.get(subject) != state:
                changes.append((subject, {"name": RESOURCE_INFO, "ready": state[0], "suspended": state[1],
                                          "value": 1 if state[0] == "True" else 0}))
        self.readiness = current
        return changes

    def observe_durations(self, sums: list[Obj], counts: list[Obj], *, baseline: bool = False) -> list[tuple[str, Obj]]:
        """``metric`` entries of the mean reconcile duration of each object that reconciled since the last call
        (none on the ``baseline`` call; a counter that went down — the reconciler restarted — counts from 0)."""
        totals = {subject_of(s.get("metric") or {}): _value(s) for s in sums}
        changes = []
        current: dict[str, tuple[float, float]] = {}
        for sample in counts:
            subject = subject_of(sample.get("metric") or {})
            count, total = _value(sample), totals.get(subject)
            if not subject or count is None or total is None:
                continue
            current[subject] = (total, count)
            before_total, before_count = self.counters.get(subject, (0.0, 0.0))
            if count < before_count:
                before_total, before_count = 0.0, 0.0
            reconciles = count - before_count
            if baseline or reconciles <= 0:
                continue
            changes.append((subject, {"name": DURATION_METRIC, "value": round((total - before_total) / reconciles, 4),
                                      "reconciles": round(reconciles)}))
        self.counters = current
        return changes


class PrometheusSource:
    """Polls ``prometheus`` every ``interval`` seconds from a daemon thread until stopped."""

    name = "prometheus"

    def __init__(self, prometheus: PrometheusAPI, *, interval: float = 2.0) -> None:
        self.prometheus = prometheus
        self.interval = interval
        self._alerts = AlertStates()
        self._metrics = MetricChanges()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: TimelineWriter | None = None
        self._lock = threading.Lock()
        self._baseline = True
        self._unreachable = False

    def start(self, writer: TimelineWriter) -> None:
        self._writer = writer
        self.poll()  # the state at the start: alerts and readiness as they are, the counters to count from
        self._thread = threading.Thread(target=self._run, name="recorder-prometheus", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> int:
        """Ask Prometheus and write what changed; how many entries. Prometheus not answering is logged (once per
        outage) and tried again at the next poll."""
        writer = self._writer
        if writer is None:
            return 0
        with self._lock:
            try:
                alerts = self.prometheus.alerts()
                info = self.prometheus.query(RESOURCE_INFO)
                sums, counts = self.prometheus.query(DURATION_SUM), self.prometheus.query(DURATION_COUNT)
            except SandboxError as err:
                if not self._unreachable:
                    log.warning("recording metrics: %s (trying again every %gs)", err, self.interval)
                self._unreachable = True
                return 0
            self._unreachable = False
            entries = [("prometheus_alert", subject, data) for subject, data in self._alerts.observe(alerts)]
            entries += [("metric", subject, data) for subject, data in self._metrics.observe_info(info)]
            entries += [("metric", subject, data)
                        for subject, data in self._metrics.observe_durations(sums, counts, baseline=self._baseline)]
            self._baseline = False
            for event_type, subject, data in entries:
                writer.emit(event_type, subject, **data)
            return len(entries)
