"""What the recorder's sources decide, without a cluster: status of any Flux kind, which changes count, which
Events are news, the push log tail; and the recorder's source wiring with sources of our own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.scenario import recorder as recorder_module
from sandbox.scenario.recorder import Recorder, Source
from sandbox.scenario.timeline import TimelineWriter
from sandbox.scenario.watchers.events import EventCounts, event_data, involved_subject
from sandbox.scenario.watchers.flux import (
    FluxStatusSource,
    StatusChanges,
    has_status,
    revision_of,
    served_version,
    status_of,
)
from sandbox.scenario.watchers.pushes import LogTail, PushLogSource, push_data

Obj = dict[str, Any]


def flux_object(kind: str = "Kustomization", *, ready: str | None = "True", reason: str = "Succeeded",
                message: str = "ok", suspend: bool = False, version: str = "1", **status: Any) -> Obj:
    conditions = [{"type": "Reconciling", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": reason, "message": message})
    return {"apiVersion": "x/v1", "kind": kind,
            "metadata": {"name": "apps", "namespace": "flux-system", "resourceVersion": version},
            "spec": {"suspend": suspend}, "status": {"conditions": conditions, **status}}


@pytest.mark.parametrize(("status", "revision"), [
    ({"artifact": {"revision": "main@sha1:abc"}, "lastAppliedRevision": "ignored"}, "main@sha1:abc"),
    ({"lastAppliedRevision": "main@sha1:def", "lastAttemptedRevision": "main@sha1:bad"}, "main@sha1:def"),
    ({"lastAttemptedRevision": "6.1.0"}, "6.1.0"),
    ({"latestRef": {"name": "reg/app", "tag": "1.2.0", "digest": "sha256:1"}}, "reg/app:1.2.0@sha256:1"),
    ({"lastPushCommit": "abc123"}, "abc123"),
    ({}, ""),
], ids=["source", "kustomization", "helmrelease", "imagepolicy", "automation", "none"])
def test_revision_of_every_kind(status: Obj, revision: str) -> None:
    assert revision_of({"status": status}) == revision


def test_status_of() -> None:
    obj = flux_object(ready="False", reason="BuildFailed", message="bad.yaml", suspend=True,
                      lastAppliedRevision="main@sha1:1")
    assert status_of(obj) == {"ready": "False", "reason": "BuildFailed", "message": "bad.yaml",
                              "revision": "main@sha1:1", "suspended": True}
    assert status_of({"metadata": {"name": "new"}})["ready"] == "Unknown"


def test_only_visible_changes_count() -> None:
    changes = StatusChanges()
    assert changes.observe("ADDED", flux_object(version="1"))["ready"] == "True"  # type: ignore[index]
    assert changes.observe("MODIFIED", flux_object(version="2")) is None  # a new resourceVersion alone
    assert changes.observe("MODIFIED", flux_object(version="3", ready="False"))["ready"] == "False"  # type: ignore[index]
    assert changes.observe("MODIFIED", flux_object(version="4", ready="False", suspend=True))["suspended"]  # type: ignore[index]
    assert changes.observe("MODIFIED", flux_object(version="5", ready="False", suspend=True,
                                                   lastAppliedRevision="r2"))["revision"] == "r2"  # type: ignore[index]
    gone = changes.observe("DELETED", flux_object(version="6"))
    assert gone is not None and gone["deleted"] is True and gone["revision"] == "r2"  # its last known state
    assert changes.observe("ADDED", flux_object(version="7")) is not None  # recreated: a new lane segment


def crd(kind: str, group: str, versions: list[tuple[str, bool, bool]], established: bool = True) -> Obj:
    return {"spec": {"group": group, "names": {"kind": kind},
                     "versions": [{"name": n, "served": s, "storage": st} for n, s, st in versions]},
            "status": {"conditions": [{"type": "Established", "status": "True" if established else "False"}]}}


def test_served_version() -> None:
    source = "source.toolkit.fluxcd.io"
    # the project's own version when the CRD serves it, even when another is stored
    assert served_version(crd("GitRepository", source, [("v1beta2", True, True), ("v1", True, False)])) == "v1"
    assert served_version(crd("Alert", "notification.toolkit.fluxcd.io",
                              [("v1beta2", True, False), ("v1beta3", True, True)])) == "v1beta3"
    # a kind the project does not know: its storage version
    assert served_version(crd("Bucket", source, [("v1beta2", True, True), ("v1", False, False)])) == "v1beta2"
    assert served_version(crd("GitRepository", source, [("v1", True, True)], established=False)) is None


def test_kinds_without_a_status_subresource_get_no_lane() -> None:
    alert = crd("Alert", "notification.toolkit.fluxcd.io", [("v1beta3", True, True)])
    assert not has_status(alert, "v1beta3")
    alert["spec"]["versions"][0]["subresources"] = {"status": {}}
    assert has_status(alert, "v1beta3")
    del alert["spec"]["versions"][0]["subresources"]
    alert["metadata"] = {"name": "alerts.notification.toolkit.fluxcd.io"}
    source = FluxStatusSource(kube=None)  # type: ignore[arg-type]  # no informer may be started
    source._on_crd("ADDED", alert)
    assert source.kinds == []


def kube_event(uid: str, count: int = 1, **extra: Any) -> Obj:
    return {"metadata": {"uid": uid, "name": f"e-{uid}", "namespace": "flux-system"}, "count": count,
            "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
            "type": "Warning", "reason": "BuildFailed", "message": "bad", "source": {"component": "kc"}, **extra}


def test_events_are_news_when_new_or_counted_up() -> None:
    news = EventCounts()
    assert not news.observe("ADDED", kube_event("old", 3), baseline=True)  # before recording started
    assert not news.observe("MODIFIED", kube_event("old", 3))  # relisted, unchanged
    assert news.observe("MODIFIED", kube_event("old", 4))  # it happened again
    assert news.observe("ADDED", kube_event("new"))
    assert not news.observe("MODIFIED", kube_event("new"))  # a change of something else
    assert not news.observe("DELETED", kube_event("new"))
    assert news.observe("ADDED", kube_event("new"))  # deleted and made again


def test_event_fields() -> None:
    assert involved_subject(kube_event("a")) == "Kustomization/flux-system/apps"
    assert involved_subject({"involvedObject": {"kind": "Node", "name": "n1"}}) == "Node/n1"
    assert event_data(kube_event("a", 2)) == {"type": "Warning", "reason": "BuildFailed", "message": "bad",
                                              "controller": "kc", "count": 2}
    assert event_data({"series": {"count": 7}, "reportingComponent": "kubelet"})["count"] == 7


def test_log_tail_reads_only_complete_new_lines(tmp_path: Path) -> None:
    log = tmp_path / "pushes.jsonl"
    log.write_text('{"old": 1}\n')
    tail = LogTail(log)
    assert tail.read_lines() == []
    with log.open("a") as handle:
        handle.write('{"a": 1}\n{"b"')
    assert tail.read_lines() == ['{"a": 1}']
    with log.open("a") as handle:
        handle.write(': 2}\n')
    assert tail.read_lines() == ['{"b": 2}']
    log.write_text('{"c": 3}\n')  # replaced by a shorter file
    assert tail.read_lines() == ['{"c": 3}']
    assert LogTail(tmp_path / "absent.jsonl").read_lines() == []


def test_pushes_come_from_the_log_dated_when_they_happened(tmp_path: Path) -> None:
    log = tmp_path / "pushes.jsonl"
    writer = TimelineWriter(None)
    writer.started -= 10  # as if recording began ten seconds ago
    writer._monotonic -= 10
    source = PushLogSource(log)
    source._writer = writer  # polled by hand here; start() would poll from a thread
    entry = {"at": writer.started + 3.25, "repo": "sandbox/demo", "ref": "refs/heads/main", "before": "0" * 40,
             "after": "a" * 40, "pusher": "sandbox", "total_commits": 1,
             "commits": [{"sha": "a" * 40, "message": "first"}]}
    log.write_text(json.dumps(entry) + "\nnot json\n")
    assert source.poll() == 1
    (push,) = writer.events
    assert push.type == "push" and push.subject == "repo/demo" and push.t == 3.25
    assert push.data == push_data(entry)[1] and push.data["commits"][0]["message"] == "first"
    with log.open("a") as handle:  # logged "before" the recording began, or in the future: clamped
        handle.write(json.dumps({**entry, "at": writer.started - 60}) + "\n")
        handle.write(json.dumps({**entry, "at": writer.started + 3600}) + "\n")
    assert source.poll() == 2
    assert writer.events[1].t == 0 and 10 <= writer.events[2].t < 20


class FakeSource:
    def __init__(self, name: str, calls: list[str], fail: bool = False) -> None:
        self.name, self.calls, self.fail = name, calls, fail

    def start(self, writer: TimelineWriter) -> None:
        self.calls.append(f"start {self.name}")
        if self.fail:
            raise RuntimeError("cannot watch")
        writer.emit("note", text=f"{self.name} started")

    def stop(self) -> None:
        self.calls.append(f"stop {self.name}")


@pytest.fixture
def offline_handle(tmp_path: Path) -> SandboxHandle:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    return SandboxHandle("offline", owned=False, _status={"kubeconfig": str(kubeconfig)})


def test_recorder_starts_registered_sources_and_undoes_a_failed_start(
        monkeypatch: pytest.MonkeyPatch, offline_handle: SandboxHandle) -> None:
    calls: list[str] = []

    def factory(name: str, fail: bool = False) -> recorder_module.SourceFactory:
        def make(handle: SandboxHandle, kube: KubeClient) -> Source | None:
            return FakeSource(name, calls, fail) if name != "absent" else None
        return make

    monkeypatch.setattr(recorder_module, "_FACTORIES", [factory("a"), factory("absent")])
    recorder_module.register_source(factory("b"))
    writer = TimelineWriter(None)
    with Recorder(offline_handle, writer) as rec:
        assert [s.name for s in rec.sources] == ["a", "b"]
        assert rec.counts() == {"note": 2}
    assert calls == ["start a", "start b", "stop b", "stop a"]

    calls.clear()
    recorder_module.register_source(factory("broken", fail=True))
    with pytest.raises(RuntimeError, match="cannot watch"):
        Recorder(offline_handle, writer).start()
    assert calls == ["start a", "start b", "start broken", "stop b", "stop a"]


def test_log_tail_follows_a_rotated_log(tmp_path: Path) -> None:
    log = tmp_path / "alerts.jsonl"
    log.write_text('{"a": 1}\n')
    tail = LogTail(log)
    log.rename(tmp_path / "alerts.jsonl.1")
    log.write_text('{"b": 2}\n{"c": 3}\n')  # a new file, longer than the old one: seen by its inode
    assert tail.read_lines() == ['{"b": 2}', '{"c": 3}']


def test_alerts_come_from_the_alert_log(tmp_path: Path) -> None:
    from sandbox.reconciler.notification.alertlog import AlertLog, Outcome
    from sandbox.scenario.watchers.alerts import AlertLogSource

    path = tmp_path / "alerts.jsonl"
    writer = TimelineWriter(None)
    source = AlertLogSource(path)
    source._writer = writer
    log = AlertLog(path)
    log.write(Outcome("sent", "Kustomization/apps/web", "error", "BuildFailed", "bad", "apps/hook", "generic",
                      ("apps/on-call",), at=writer.started))
    log.write(Outcome("retrying", "Kustomization/apps/web", "error", "BuildFailed", "bad", "apps/dead", "slack",
                      ("apps/chat",), attempt=2, detail="request failed: refused", at=writer.started))
    log.write(Outcome("dropped", "Kustomization/apps/web", "info", "Progressing", "x", detail="queue full"))
    path.open("a").write('{"no outcome": 1}\n')
    assert source.poll() == 3
    sent, retrying, dropped = writer.events
    assert (sent.type, sent.subject) == ("alert", "Kustomization/apps/web")
    assert sent.data == {"provider": "apps/hook", "type": "generic", "alerts": ["apps/on-call"], "severity": "error",
                         "reason": "BuildFailed", "message": "bad", "outcome": "sent"}
    assert retrying.data["attempt"] == 2 and retrying.data["error"] == "request failed: refused"
    assert dropped.data["why"] == "queue full" and dropped.data["provider"] == ""


def prom_alert(state: str, name: str = "web", **labels: str) -> Obj:
    return {"labels": {"alertname": "ReconciliationFailure", "name": name, "exported_namespace": "apps",
                       "customresource_kind": "Kustomization", "severity": "page", **labels},
            "annotations": {"summary": "failing"}, "state": state, "activeAt": "2026-01-01T00:00:00Z"}


def test_prometheus_alert_states_are_written_on_change() -> None:
    from sandbox.scenario.watchers.metrics import AlertStates, subject_of

    states = AlertStates()
    (pending,) = states.observe([prom_alert("pending")])
    assert pending[0] == "Kustomization/apps/web"
    assert pending[1]["state"] == "pending" and pending[1]["alertname"] == "ReconciliationFailure"
    assert pending[1]["severity"] == "page" and pending[1]["summary"] == "failing"
    assert states.observe([prom_alert("pending")]) == []
    assert [d["state"] for _, d in states.observe([prom_alert("firing"), prom_alert("pending", "api")])] == \
        ["firing", "pending"]
    (resolved,) = states.observe([prom_alert("pending", "api")])
    assert resolved[0] == "Kustomization/apps/web" and resolved[1]["state"] == "resolved"
    assert subject_of({"kind": "HelmRelease", "namespace": "a", "name": "b"}) == "HelmRelease/a/b"
    assert subject_of({"alertname": "Watchdog"}) == ""


def sample(value: float, **labels: str) -> Obj:
    return {"metric": {"kind": "Kustomization", "namespace": "apps", "name": "web", **labels},
            "value": [0, str(value)]}


def info(ready: str, suspended: str | None = None) -> Obj:
    labels = {"customresource_kind": "Kustomization", "exported_namespace": "apps", "name": "web", "ready": ready}
    if suspended is not None:
        labels["suspended"] = suspended
    return {"metric": labels, "value": [0, "1"]}


def test_metric_samples_only_on_change() -> None:
    from sandbox.scenario.watchers.metrics import MetricChanges

    changes = MetricChanges()
    assert changes.observe_info([info("True")])[0][1] == {"name": "gotk_resource_info", "ready": "True",
                                                          "suspended": False, "value": 1}
    assert changes.observe_info([info("True")]) == []
    assert changes.observe_info([info("False", "true")])[0][1]["suspended"] is True
    assert changes.observe_durations([sample(3.0)], [sample(10)], baseline=True) == []
    assert changes.observe_durations([sample(3.0)], [sample(10)]) == []  # no reconcile since
    ((subject, data),) = changes.observe_durations([sample(4.5)], [sample(13)])
    assert subject == "Kustomization/apps/web"
    assert data == {"name": "gotk_reconcile_duration_seconds", "value": 0.5, "reconciles": 3}
    # the reconciler restarted: its counters start again from zero
    assert changes.observe_durations([sample(0.2)], [sample(1)])[0][1]["value"] == 0.2


class FakePrometheus:
    def __init__(self) -> None:
        self.alerting: list[Obj] = []
        self.ready = "True"
        self.count = 1.0
        self.down = False

    def alerts(self) -> list[Obj]:
        if self.down:
            from sandbox.monitoring.client import PrometheusError
            raise PrometheusError("http://127.0.0.1:9 is not reachable")
        return self.alerting

    def query(self, promql: str) -> list[Obj]:
        if promql == "gotk_resource_info":
            return [info(self.ready)]
        return [sample(self.count if "count" in promql else self.count * 0.25)]


def test_the_prometheus_source_writes_changes_and_survives_an_outage() -> None:
    from sandbox.scenario.watchers.metrics import PrometheusSource

    prometheus = FakePrometheus()
    writer = TimelineWriter(None)
    source = PrometheusSource(prometheus, interval=60)
    source.start(writer)  # the state at the start: readiness, no duration yet
    try:
        assert [(e.type, e.data.get("ready")) for e in writer.events] == [("metric", "True")]
        prometheus.ready, prometheus.count = "False", 3.0
        prometheus.alerting = [prom_alert("firing")]
        assert source.poll() == 3
        types = [(e.type, e.data.get("state") or e.data.get("ready") or e.data.get("value")) for e in writer.events]
        assert types[1:] == [("prometheus_alert", "firing"), ("metric", "False"), ("metric", 0.25)]
        prometheus.down = True
        assert source.poll() == 0
        prometheus.down, prometheus.alerting = False, []
        assert [e.data["state"] for e in writer.events[4:]] == [] and source.poll() == 1
        assert writer.events[-1].data["state"] == "resolved"
    finally:
        source.stop()


def test_without_monitoring_or_an_alert_log_those_sources_are_left_out(
        offline_handle: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from sandbox.scenario.watchers.alerts import AlertLogSource
    from sandbox.scenario.watchers.metrics import PrometheusSource

    monkeypatch.setenv("SANDBOX_STATE_HOME", str(tmp_path / "state"))
    caplog.set_level(logging.INFO, logger="sandbox.scenario.recorder")
    kube: KubeClient = object()  # type: ignore[assignment]
    assert recorder_module._alerts(offline_handle, kube) is None
    assert recorder_module._prometheus(offline_handle, kube) is None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "not recording alerts" in messages and "not recording Prometheus alerts and metrics" in messages

    state = offline_handle.state
    state.path.mkdir(parents=True)
    state.write_record({"reconciler": {"alert_log": str(tmp_path / "alerts.jsonl")},
                        "monitoring": {"prometheus": "http://127.0.0.1:9", "alertmanager": "http://127.0.0.1:9"}})
    assert isinstance(recorder_module._alerts(offline_handle, kube), AlertLogSource)
    assert isinstance(recorder_module._prometheus(offline_handle, kube), PrometheusSource)
