"""Hand-written timelines for the replay and HTML tests: a push → apply → break → fix session as the player and
the recorder write it, with every event type, and strings that would break unescaped HTML."""

from __future__ import annotations

from typing import Any

from sandbox.scenario.timeline import TimelineEvent

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quoted" \'single\''
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40
ZERO = "0" * 40
GIT = "GitRepository/flux-system/demo"
KS = "Kustomization/flux-system/demo"


def _event(t: float, kind: str, subject: str = "", **data: Any) -> TimelineEvent:
    seconds = int(t)
    at = f"2026-01-01T00:00:{seconds:02d}.{round((t - seconds) * 1000):03d}Z"
    return TimelineEvent(t, at, kind, subject, data)


def status(t: float, subject: str, ready: str, reason: str = "", message: str = "", revision: str = "",
           suspended: bool = False, **extra: Any) -> TimelineEvent:
    return _event(t, "status", subject, ready=ready, reason=reason, message=message, revision=revision,
                  suspended=suspended, **extra)


def session() -> list[TimelineEvent]:
    return [
        _event(0.0, "session", phase="start", title="broken revision", sandbox="default", scenario="broken"),
        _event(0.1, "narration", text="We push a good commit, then a broken one, then fix it."),
        status(0.2, GIT, "True", "Succeeded", "stored artifact for revision 'main@sha1:" + SHA1 + "'",
               "main@sha1:" + SHA1),
        _event(0.5, "step", "step/1", index=1, step="commit", title="add the app", status="started"),
        _event(0.6, "commit", "repo/demo", repo="demo", sha=SHA2, message="add the app", files=["app.yaml"]),
        _event(0.7, "push", "repo/demo", repo="demo", ref="refs/heads/main", before=SHA1, after=SHA2,
               commits=[{"sha": SHA2, "message": "add the app"}], total_commits=1),
        status(0.9, GIT, "True", "Succeeded", "stored artifact for revision 'main@sha1:" + SHA2 + "'",
               "main@sha1:" + SHA2),
        status(1.0, KS, "Unknown", "Progressing", "Fetching manifests for revision main@sha1:" + SHA2),
        _event(1.3, "event", KS, type="Normal", reason="ReconciliationSucceeded",
               message="Reconciliation finished in 210ms", controller="kustomize-controller", count=1),
        _event(1.3, "event", "ConfigMap/demo/app", type="Normal", reason="Created", message="created", count=1),
        status(1.3, KS, "True", "ReconciliationSucceeded", "Applied revision: main@sha1:" + SHA2,
               "main@sha1:" + SHA2),
        _event(1.5, "step", "step/1", index=1, step="commit", title="add the app", status="passed", duration=1.0),
        _event(2.0, "step", "step/2", index=2, step="commit", title="break it", status="started"),
        _event(2.1, "push", "repo/demo", repo="demo", ref="refs/heads/main", before=SHA2, after=SHA3,
               commits=[{"sha": SHA3, "message": HOSTILE}], total_commits=1),
        status(2.4, KS, "False", "BuildFailed", "kustomize build failed: " + HOSTILE, "main@sha1:" + SHA2),
        _event(2.4, "event", KS, type="Warning", reason="BuildFailed", message=HOSTILE,
               controller="kustomize-controller", count=2),
        _event(2.5, "alert", "Alert/flux-system/on-call", provider="slack", severity="error", message=HOSTILE),
        _event(2.6, "step", "step/2", index=2, step="commit", title="break it", status="failed",
               error="expected Ready=True"),
        _event(3.0, "note", text="suspending while we fix it"),
        status(3.1, KS, "False", "BuildFailed", "kustomize build failed", "main@sha1:" + SHA2, suspended=True),
        _event(3.3, "image", "image/registry/app", reference="127.0.0.1:5000/app:1.2.0", digest="sha256:abc"),
        status(4.0, KS, "True", "ReconciliationSucceeded", "Applied revision: main@sha1:" + SHA1,
               "main@sha1:" + SHA1),
        status(4.5, "Receiver/flux-system/" + HOSTILE, "True", "Succeeded", "Receiver initialized"),
        status(5.0, "Receiver/flux-system/" + HOSTILE, "True", "Succeeded", "Receiver initialized", deleted=True),
        _event(5.2, "session", phase="end", title="broken revision", sandbox="default"),
    ]


def monitored_session() -> list[TimelineEvent]:
    """A failing Kustomization with Alerts and monitoring: deliveries sent, retried and failed, a Prometheus alert
    pending → firing → resolved, readiness and reconcile-duration samples."""
    prom = {"alertname": "ReconciliationFailure", "severity": "page",
            "labels": {"alertname": "ReconciliationFailure", "name": "demo"}}
    delivery = {"type": "generic", "alerts": ["flux-system/on-call"], "reason": "BuildFailed", "message": HOSTILE}
    return [
        _event(0.0, "session", phase="start", title="alerts and metrics", sandbox="default"),
        status(0.1, KS, "True", "ReconciliationSucceeded", "Applied revision", "main@sha1:" + SHA1),
        _event(0.2, "metric", KS, name="gotk_resource_info", ready="True", suspended=False, value=1),
        _event(1.0, "metric", KS, name="gotk_reconcile_duration_seconds", value=0.12, reconciles=1),
        status(2.0, KS, "False", "BuildFailed", "kustomize build failed", "main@sha1:" + SHA1),
        _event(2.1, "alert", KS, provider="flux-system/hook", severity="error", outcome="sent", **delivery),
        _event(2.2, "alert", KS, provider="flux-system/dead", severity="error", outcome="retrying", attempt=1,
               error="request failed: [Errno 111] Connection refused", **delivery),
        _event(2.4, "metric", KS, name="gotk_reconcile_duration_seconds", value=0.48, reconciles=2),
        _event(2.5, "metric", KS, name="gotk_resource_info", ready="False", suspended=False, value=0),
        _event(2.6, "prometheus_alert", KS, state="pending", summary="failing", **prom),
        _event(4.0, "alert", KS, provider="flux-system/dead", severity="error", outcome="failed",
               error="request failed: [Errno 111] Connection refused (after 4 attempts)", **delivery),
        _event(5.6, "prometheus_alert", KS, state="firing", summary="failing", **prom),
        _event(6.0, "alert", KS, provider="flux-system/hook", severity="info", outcome="sent",
               **{**delivery, "reason": "ReconciliationSucceeded", "message": "fixed"}),
        status(6.0, KS, "True", "ReconciliationSucceeded", "Applied revision", "main@sha1:" + SHA2),
        _event(6.2, "metric", KS, name="gotk_reconcile_duration_seconds", value=0.2, reconciles=1),
        _event(7.0, "prometheus_alert", KS, state="resolved", summary="failing", **prom),
        _event(7.1, "prometheus_alert", "", state="firing", alertname="Watchdog", severity="none", summary="",
               labels={"alertname": "Watchdog"}),
        _event(7.2, "alert", "Kustomization/flux-system/other", provider="", type="", alerts=[], severity="info",
               reason="Progressing", message="m", outcome="dropped", why="the notification queue is full"),
        _event(8.0, "session", phase="end", title="alerts and metrics", sandbox="default"),
    ]
