"""``generic`` and ``generic-hmac``: the event JSON as is, with the ``Gotk-Component`` header (the reporting
controller) and the Secret's headers; ``generic-hmac`` adds ``X-Signature: sha256=<hex HMAC-SHA256 of the body
keyed with the Secret's token>`` (upstream's notifier/forwarder.go)."""

from __future__ import annotations

import hashlib
import hmac

from sandbox.errors import InputError
from sandbox.reconciler.notification.event import go_json
from sandbox.reconciler.notification.providers.base import JSON, Obj, Request, Settings, require_url

COMPONENT_HEADER = "Gotk-Component"
SIGNATURE_HEADER = "X-Signature"


def signature(body: bytes, key: str) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str, key: str) -> bool:
    return hmac.compare_digest(signature(body, key), header or "")


def _post(settings: Settings, event: Obj, key: str | None) -> Request:
    body = go_json(event)
    headers = {"Content-Type": JSON, COMPONENT_HEADER: str(event.get("reportingController", ""))}
    headers.update(settings.headers)
    if key is not None:
        headers[SIGNATURE_HEADER] = signature(body, key)
    return Request(require_url(settings.address, "hook"), body, headers)


def generic(settings: Settings, event: Obj) -> Request:
    return _post(settings, event, None)


def generic_hmac(settings: Settings, event: Obj) -> Request:
    if not settings.token:
        raise InputError("HMAC key is empty: set `token` in the Provider's secretRef Secret")
    return _post(settings, event, settings.token)
