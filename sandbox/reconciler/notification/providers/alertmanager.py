"""``alertmanager``: one firing alert posted to ``<address>`` (Alertmanager's ``/api/v2/alerts``) — labels the
event's metadata plus ``alertname=Flux<Kind><Reason title-cased>``, ``severity``, ``reason``, ``kind``, ``name``,
``namespace``, ``reportingcontroller``; annotations ``message`` and ``summary`` (taken out of the labels);
``startsAt`` the event's time (upstream's notifier/alertmanager.go; ``endsAt`` is Go's zero time, as upstream's
``omitempty`` on a struct writes it)."""

from __future__ import annotations

import re

from sandbox.reconciler.notification.event import go_json, go_map
from sandbox.reconciler.notification.providers.base import JSON, Obj, Request, Settings, basic, bearer, require_url

ZERO_TIME = "0001-01-01T00:00:00Z"


def title(text: str) -> str:
    """golang.org/x/text/cases.Title: each word's first letter upper-cased, the rest lower-cased."""
    return re.sub(r"[A-Za-z]+", lambda m: m.group(0)[0].upper() + m.group(0)[1:].lower(), text)


def payload(event: Obj) -> list[Obj]:
    involved = event.get("involvedObject") or {}
    labels = dict(event.get("metadata") or {})
    annotations = {"message": str(event.get("message", ""))}
    if "summary" in labels:
        annotations["summary"] = labels.pop("summary")
    kind = str(involved.get("kind", ""))
    labels.update({
        "alertname": f"Flux{kind}{title(str(event.get('reason', '')))}",
        "severity": str(event.get("severity", "")),
        "reason": str(event.get("reason", "")),
        "kind": kind,
        "name": str(involved.get("name", "")),
        "namespace": str(involved.get("namespace", "")),
        "reportingcontroller": str(event.get("reportingController", "")),
    })
    return [{"status": "firing", "labels": go_map(labels), "annotations": go_map(annotations),
             "startsAt": str(event.get("timestamp", "")), "endsAt": ZERO_TIME}]


def alertmanager(settings: Settings, event: Obj) -> Request:
    headers = {"Content-Type": JSON, **bearer(settings.token)}
    headers.update(basic(settings.username, settings.password))
    return Request(require_url(settings.address, "Alertmanager"), go_json(payload(event)), headers)
