"""The event as notification-controller receives it (fluxcd/pkg apis/event/v1beta1 ``Event``): built from what a
controller here recorded, with its metadata cleaned as upstream's event server does, and serialised as Go's
``encoding/json`` would (struct fields in declaration order, compact, ``<>&`` escaped)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from sandbox.reconciler.runtime.events import Event
from sandbox.reconciler.runtime.timeutil import rfc3339

Obj = dict[str, Any]
REVISION = "revision"
# corev1.ObjectReference's JSON fields, in declaration order (all omitempty).
_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def cleanup_metadata(involved: Obj, metadata: dict[str, str]) -> dict[str, str]:
    """Upstream's ``cleanupMetadata``: keep the keys prefixed with the involved object's API group (the prefix
    removed), except ``<group>/checksum`` and ``<group>/digest``."""
    group = group_of(str(involved.get("apiVersion") or ""))
    excluded = {f"{group}/checksum".lower(), f"{group}/digest".lower()}
    return {key.removeprefix(f"{group}/"): value for key, value in metadata.items()
            if key.startswith(group) and key.lower() not in excluded}


def flux_event(event: Event) -> Obj:
    """The eventv1.Event JSON object of ``event`` (metadata cleaned, before any Alert adds to it)."""
    involved = {name: event.involved[name] for name in _REFERENCE_FIELDS if event.involved.get(name)}
    body: Obj = {
        "involvedObject": involved,
        "severity": event.severity,
        "timestamp": rfc3339(datetime.datetime.fromtimestamp(event.timestamp, datetime.UTC)),
        "message": event.message,
        "reason": event.reason,
    }
    metadata = cleanup_metadata(event.involved, event.metadata)
    if metadata:
        body["metadata"] = go_map(metadata)
    body["reportingController"] = event.controller
    return body


def with_metadata(body: Obj, metadata: dict[str, str]) -> Obj:
    """``body`` with its metadata replaced (dropped when empty, as ``omitempty``), keeping the field order."""
    result: Obj = {}
    for key, value in body.items():
        if key == "reportingController" and metadata:
            result["metadata"] = go_map(metadata)
        if key != "metadata":
            result[key] = value
    return result


def go_json(value: Any) -> bytes:
    """Compact JSON with Go's HTML-safe escapes of ``<``, ``>``, ``&``, U+2028 and U+2029."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()


def go_map(mapping: dict[str, str]) -> dict[str, str]:
    """A Go ``map[string]string`` as ``encoding/json`` writes it: keys sorted."""
    return {key: mapping[key] for key in sorted(mapping)}
