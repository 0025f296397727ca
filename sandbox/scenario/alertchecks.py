"""The ``alerts`` check: what the run's webhook sink received under a path, each request read into the alerts it
carries — Flux's event JSON (``generic``, ``generic-hmac``), its Slack/Discord and MS Teams messages, its
``alertmanager`` provider's list, and Alertmanager's own webhook — and matched against the check's fields. Details
name what was seen (severity, reason, object, a snippet of the message), never a header or a token."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sandbox.errors import SandboxError
from sandbox.scenario.context import RunContext
from sandbox.scenario.model import ObjectRef
from sandbox.sink import Received

Check = dict[str, Any]
ANY_PATH = "*"
SHOWN = 6  # alerts listed in a detail (the latest)
SNIPPET = 60  # characters of a message shown
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class Alert:
    """One alert as a request carried it; empty strings where its shape does not say."""

    path: str
    shape: str  # flux, slack, msteams, alertmanager (Flux's provider), alertmanager-webhook, unknown
    kind: str = ""
    namespace: str = ""
    name: str = ""
    severity: str = ""
    reasons: tuple[str, ...] = ()  # Flux: the reason; Alertmanager: alertname (and Flux's `reason` label)
    messages: tuple[str, ...] = ()  # Flux: the message; Alertmanager: the annotations
    metadata: Mapping[str, str] = field(default_factory=dict)  # Flux: metadata / Slack fields / facts; AM: labels
    status: str = ""  # Alertmanager: firing | resolved
    signature: str = "unsigned"  # valid | invalid | unsigned

    @property
    def subject(self) -> str:
        if not (self.kind or self.name):
            return "-"
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    def line(self) -> str:
        """``error BuildFailed Kustomization/ns/apps "kustomize build failed: …"``."""
        words = [self.severity or "-", *([self.status] if self.status else []), self.reasons[0] if self.reasons
                 else "-", self.subject]
        if self.shape == "unknown":
            words = ["an unrecognised payload"]
        text = " ".join(words)
        message = next((m for m in self.messages if m), "")
        if message:
            flat = " ".join(message.split())
            text += f' "{flat[:SNIPPET]}…"' if len(flat) > SNIPPET else f' "{flat}"'
        if self.signature != "unsigned":
            text += f" (signature {self.signature})"
        return text


# --- reading payloads (pure) ----------------------------------------------------------------------------------

def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _strings(mapping: Any) -> dict[str, str]:
    return {str(k): _text(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def _flux(path: str, body: Mapping[str, Any], signature: str) -> Alert:
    involved = body.get("involvedObject") or {}
    return Alert(path, "flux", _text(involved.get("kind")), _text(involved.get("namespace")),
                 _text(involved.get("name")), _text(body.get("severity")), (_text(body.get("reason")),),
                 (_text(body.get("message")),), _strings(body.get("metadata")), "", signature)


def _object_name(text: str) -> tuple[str, str, str]:
    """Flux's ``<kind lower-cased>/<name>.<namespace>`` (Slack, Discord, MS Teams): a namespace has no dots."""
    kind, _, rest = text.partition("/")
    name, dot, namespace = rest.rpartition(".")
    return (kind, namespace, name) if dot else (kind, "", rest)


def _slack(path: str, body: Mapping[str, Any], signature: str) -> Alert:
    attachment = body["attachments"][0]
    kind, namespace, name = _object_name(_text(attachment.get("author_name")))
    fields = {_text(f.get("title")): _text(f.get("value")) for f in attachment.get("fields") or []
              if isinstance(f, dict)}
    severity = {"danger": "error", "good": "info"}.get(_text(attachment.get("color")), "")
    return Alert(path, "slack", kind, namespace, name, severity, (), (_text(attachment.get("text")),), fields, "",
                 signature)


def _adaptive_card(path: str, body: Mapping[str, Any], signature: str) -> Alert:
    content = body["attachments"][0].get("content") or {}
    items = [item for block in content.get("body") or [] if isinstance(block, dict)
             for item in block.get("items") or [] if isinstance(item, dict)]
    texts = [item for item in items if item.get("type") == "TextBlock"]
    facts = [fact for item in items if item.get("type") == "FactSet" for fact in item.get("facts") or []]
    kind, namespace, name = _object_name(_text(texts[0].get("text"))) if texts else ("", "", "")
    message = texts[1] if len(texts) > 1 else {}
    severity = "error" if message.get("color") == "attention" else "info"
    return Alert(path, "msteams", kind, namespace, name, severity, (), (_text(message.get("text")),),
                 {_text(f.get("title")): _text(f.get("value")) for f in facts if isinstance(f, dict)}, "", signature)


def _message_card(path: str, body: Mapping[str, Any], signature: str) -> Alert:
    section = (body.get("sections") or [{}])[0]
    kind, namespace, name = _object_name(_text(section.get("activitySubtitle") or body.get("summary")))
    severity = "error" if _text(body.get("themeColor")).upper() == "FF0000" else "info"
    facts = {_text(f.get("name")): _text(f.get("value")) for f in section.get("facts") or [] if isinstance(f, dict)}
    return Alert(path, "msteams", kind, namespace, name, severity, (), (_text(section.get("activityTitle")),),
                 facts, "", signature)


def _alertmanager(path: str, alert: Mapping[str, Any], shape: str, signature: str) -> Alert:
    """One Alertmanager alert: Flux's monitoring rules label the object ``customresource_kind``, ``name`` and
    ``exported_namespace``; Flux's alertmanager provider ``kind``, ``name`` and ``namespace``."""
    labels = _strings(alert.get("labels"))
    annotations = _strings(alert.get("annotations"))
    reasons = tuple(r for r in (labels.get("alertname", ""), labels.get("reason", "")) if r)
    metadata = dict(labels)
    if "summary" in annotations:
        metadata.setdefault("summary", annotations["summary"])
    return Alert(path, shape, labels.get("customresource_kind") or labels.get("kind", ""),
                 labels.get("exported_namespace") or labels.get("namespace", ""), labels.get("name", ""),
                 labels.get("severity", ""), reasons,
                 tuple(annotations[k] for k in ("message", "summary", "description") if annotations.get(k)),
                 metadata, _text(alert.get("status")), signature)


def alerts_in(path: str, body: Any, signature: str | None = None) -> list[Alert]:
    """The alerts one request carries (an Alertmanager payload may carry several; anything unrecognised is one
    alert of shape ``unknown`` that only a check without criteria counts)."""
    path = urlsplit(path).path or "/"
    signed = signature or "unsigned"
    if isinstance(body, list) and body and all(isinstance(a, dict) and "labels" in a for a in body):
        return [_alertmanager(path, a, "alertmanager", signed) for a in body]
    if isinstance(body, dict):
        if isinstance(body.get("involvedObject"), dict):
            return [_flux(path, body, signed)]
        webhook_alerts = body.get("alerts")
        if isinstance(webhook_alerts, list) and all(isinstance(a, dict) and "labels" in a for a in webhook_alerts):
            return [_alertmanager(path, a, "alertmanager-webhook", signed) for a in webhook_alerts]
        attachments = body.get("attachments")
        if isinstance(attachments, list) and attachments and isinstance(attachments[0], dict):
            if attachments[0].get("contentType") == ADAPTIVE_CARD:
                return [_adaptive_card(path, body, signed)]
            if "author_name" in attachments[0]:
                return [_slack(path, body, signed)]
        if body.get("@type") == "MessageCard":
            return [_message_card(path, body, signed)]
    return [Alert(path, "unknown", signature=signed)]


def under(path: str, target: str) -> bool:
    """Whether a request path is the target's (``webhook`` → ``/webhook`` and below; ``*`` → any)."""
    if target == ANY_PATH:
        return True
    wanted = "/" + target.strip("/")
    return path == wanted or path.startswith(wanted + "/")


# --- matching (pure) ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Criteria:
    target: str
    subject: ObjectRef | None = None
    severity: str | None = None
    reason: str | None = None
    message: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    status: str | None = None
    signature: str | None = None  # valid | unsigned; None: either (never invalid)
    count: int | None = None  # exactly
    at_least: int = 1

    @classmethod
    def of(cls, check: Check, subject: ObjectRef | None) -> Criteria:
        """From a rendered check."""
        return cls(str(check["alerts"]), subject, check.get("severity"), check.get("reason"), check.get("message"),
                   {str(k): _text(v) for k, v in (check.get("metadata") or {}).items()}, check.get("status"),
                   check.get("signature"), check.get("count"), int(check.get("at_least", 1)))

    def words(self) -> str:
        """``severity=error reason=BuildFailed object=Kustomization/ns/apps``, or ``anything``."""
        parts = [f"{name}={value}" for name, value in (("severity", self.severity), ("status", self.status),
                                                        ("reason", self.reason), ("object", self.subject),
                                                        ("signature", self.signature)) if value is not None]
        if self.message is not None:
            parts.append(f"message containing {self.message!r}")
        parts += [f"metadata {key}={value}" for key, value in self.metadata.items()]
        return " ".join(parts) or "anything"


def _same_object(alert: Alert, subject: ObjectRef) -> bool:
    # Slack, Discord and MS Teams lower-case the kind.
    return (alert.kind.lower() == subject.kind.lower() and alert.name == subject.name
            and (subject.namespace is None or alert.namespace == subject.namespace))


def matches(alert: Alert, criteria: Criteria) -> bool:
    if alert.signature == "invalid":  # refused by the sink (401): never delivered
        return False
    if criteria.signature is not None and alert.signature != criteria.signature:
        return False
    if criteria.subject is not None and not _same_object(alert, criteria.subject):
        return False
    if criteria.severity is not None and alert.severity != criteria.severity:
        return False
    if criteria.reason is not None and criteria.reason not in alert.reasons:
        return False
    if criteria.message is not None and not any(criteria.message in m for m in alert.messages):
        return False
    if criteria.status is not None and alert.status != criteria.status:
        return False
    return all(alert.metadata.get(key) == value for key, value in criteria.metadata.items())


def where(target: str) -> str:
    return "any path" if target == ANY_PATH else "/" + target.strip("/")


def judge(requests: Sequence[Received], criteria: Criteria) -> tuple[bool, str]:
    """Whether the requests hold the alerts wanted, and what was seen."""
    at_path = [r for r in requests if under(urlsplit(r.path).path, criteria.target)]
    seen = [alert for r in at_path for alert in alerts_in(r.path, r.body, r.signature)]
    found = [alert for alert in seen if matches(alert, criteria)]
    head = f"{len(at_path)} request(s) at {where(criteria.target)}"
    if len(seen) != len(at_path):
        head += f" ({len(seen)} alerts)"
    shown = seen[-SHOWN:]
    listing = "; ".join(a.line() for a in shown) + (f"; and {len(seen) - len(shown)} earlier" if len(seen) > SHOWN
                                                     else "")
    if listing:
        head += f": {listing}"
    wanted = criteria.words()
    if criteria.count is not None:
        ok = len(found) == criteria.count
        verdict = f"{len(found)} matching {wanted}" + ("" if ok else f", expected exactly {criteria.count}")
    else:
        ok = len(found) >= criteria.at_least
        verdict = (f"{len(found)} matching {wanted}" if found else f"none matching {wanted}") + \
            ("" if ok else f", expected at least {criteria.at_least}")
    return ok, f"{head}; {verdict}"


def describe(check: Check) -> str:
    """``alerts webhook: error BuildFailed on Kustomization/apps``."""
    words = [check[key] for key in ("severity", "status", "reason") if check.get(key)]
    text = f"alerts {check['alerts']}" + (f": {' '.join(map(str, words))}" if words else "")
    if check.get("object"):
        text += f" on {check['object']}"
    if check.get("message"):
        text += f" containing {check['message']!r}"
    if check.get("signature"):
        text += f", signature {check['signature']}"
    if "count" in check:
        text += f" (exactly {check['count']})"
    elif "at_least" in check:
        text += f" (at least {check['at_least']})"
    return text


# --- the run --------------------------------------------------------------------------------------------------

def evaluate(ctx: RunContext, check: Check) -> tuple[bool, str, tuple[ObjectRef, ...]]:
    """Look once at what the run's sink received."""
    if ctx.sink is None:
        raise SandboxError("this run has no webhook sink: a scenario with alerts checks needs notifications")
    rendered = ctx.render(check)
    subject = ctx.ref(rendered["object"]) if rendered.get("object") else None
    ok, detail = judge(ctx.sink.received(), Criteria.of(rendered, subject))
    return ok, detail, (subject,) if subject is not None else ()


def recent_requests(ctx: RunContext, limit: int = 10) -> list[str]:
    """The sink's latest requests, one line each (time, path, the alerts it carried): failure evidence."""
    if ctx.sink is None:
        return []
    lines = []
    for request in ctx.sink.received()[-limit:]:
        stamp = datetime.datetime.fromtimestamp(request.time, datetime.UTC).strftime("%H:%M:%S")
        alerts = alerts_in(request.path, request.body, request.signature)
        lines.append(f"{stamp} {urlsplit(request.path).path}: " + "; ".join(a.line() for a in alerts))
    return lines
