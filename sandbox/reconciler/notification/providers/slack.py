"""``slack`` and ``discord`` (Discord's Slack-compatible endpoint, ``<address>/slack``): one attachment coloured
``good``/``danger`` by severity, authored ``<kind>/<name>.<namespace>``, the message as text and each metadata entry
as a field (upstream's notifier/slack.go and discord.go)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sandbox.reconciler.notification.event import go_json
from sandbox.reconciler.notification.providers.base import JSON, Obj, Request, Settings, bearer, require_url


def payload(settings: Settings, event: Obj) -> Obj:
    involved = event.get("involvedObject") or {}
    metadata = event.get("metadata") or {}
    return {
        "channel": settings.channel,
        "username": settings.username or str(event.get("reportingController", "")),
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [{
            "color": "danger" if event.get("severity") == "error" else "good",
            "author_name": f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}."
                           f"{involved.get('namespace', '')}",
            "text": str(event.get("message", "")),
            "mrkdwn_in": ["text"],
            "fields": [{"title": key, "value": metadata[key], "short": False} for key in sorted(metadata)],
        }],
    }


def slack(settings: Settings, event: Obj) -> Request:
    return Request(require_url(settings.address, "Slack hook"), go_json(payload(settings, event)),
                   {"Content-Type": JSON, **bearer(settings.token)})


def discord_url(address: str) -> str:
    parts = urlsplit(require_url(address, "Discord hook"))
    path = parts.path if parts.path.endswith("/slack") else parts.path.rstrip("/") + "/slack"
    return urlunsplit(parts._replace(path=path))


def discord(settings: Settings, event: Obj) -> Request:
    return Request(discord_url(settings.address), go_json(payload(settings, event)), {"Content-Type": JSON})
