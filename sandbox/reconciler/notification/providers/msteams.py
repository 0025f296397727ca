"""``msteams``: an Adaptive Card (version 1.4) — the object as ``<kind>/<name>.<namespace>`` in large bold, the
message (coloured ``attention`` for errors), and the metadata as facts, ``summary`` first then sorted by key; to
a legacy connector (a ``*.webhook.office.com`` host), the older MessageCard (upstream's notifier/msteams.go)."""

from __future__ import annotations

from urllib.parse import urlsplit

from sandbox.reconciler.notification.event import go_json
from sandbox.reconciler.notification.providers.base import JSON, Obj, Request, Settings, require_url

SUMMARY = "summary"


def object_name(event: Obj) -> str:
    involved = event.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}.{involved.get('namespace', '')}"


def adaptive_card(event: Obj) -> Obj:
    metadata = event.get("metadata") or {}
    facts = [{"title": SUMMARY, "value": metadata[SUMMARY]}] if SUMMARY in metadata else []
    facts += [{"title": key, "value": metadata[key]} for key in sorted(metadata) if key != SUMMARY]
    message: Obj = {"type": "TextBlock", "text": str(event.get("message", ""))}
    if event.get("severity") == "error":
        message["color"] = "attention"
    message["wrap"] = True
    fact_set: Obj = {"type": "FactSet", **({"facts": facts} if facts else {})}
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "Container", "items": [
                {"type": "TextBlock", "text": object_name(event), "size": "large", "weight": "bolder", "wrap": True},
                message, fact_set]}],
            "msteams": {"width": "Full"},
        },
    }]}


def message_card(event: Obj) -> Obj:
    metadata = event.get("metadata") or {}
    name = object_name(event)
    return {"@type": "MessageCard", "@context": "http://schema.org/extensions",
            "themeColor": "FF0000" if event.get("severity") == "error" else "0076D7", "summary": name,
            "sections": [{"activityTitle": str(event.get("message", "")), "activitySubtitle": name,
                          "facts": [{"name": key, "value": metadata[key]} for key in sorted(metadata)]}]}


def msteams(settings: Settings, event: Obj) -> Request:
    url = require_url(settings.address, "MS Teams webhook")
    legacy = (urlsplit(url).hostname or "").endswith(".webhook.office.com")
    return Request(url, go_json(message_card(event) if legacy else adaptive_card(event)), {"Content-Type": JSON})
