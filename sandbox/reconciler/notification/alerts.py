"""Which Alerts an event goes to, as notification-controller's event handler decides: the Alert not suspended;
its ``inclusionList`` (when set) matching the message and no ``exclusionList`` entry matching it (exclusion
wins); an ``eventSources`` entry of the involved object's kind and namespace (defaulting to the Alert's) whose
``name`` is the object's or ``*`` — with ``matchLabels`` (read only with ``*``) on the object's labels; and an
``eventSeverity`` of ``info`` (everything) or the event's own. Then the metadata an Alert adds."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Labels = Callable[[], dict[str, str]]  # the involved object's labels, read only when a source needs them
ANNOTATION_PREFIX = "event.toolkit.fluxcd.io/"
SUMMARY = "summary"

log = logging.getLogger(__name__)


def _matches_any(patterns: list[str], message: str, alert: Obj) -> bool:
    for pattern in patterns:
        try:
            if re.search(pattern, message):
                return True
        except re.error as err:
            meta = alert.get("metadata", {})
            log.error("Alert %s/%s: failed to compile regex: %s: %s", meta.get("namespace"), meta.get("name"),
                      pattern, err)
    return False


def source_matches(source: Obj, alert_namespace: str, event: Obj, labels: Labels) -> bool:
    """Whether one ``eventSources`` entry selects the event's involved object."""
    involved = event.get("involvedObject") or {}
    if involved.get("kind") != source.get("kind"):
        return False
    if involved.get("namespace") != (source.get("namespace") or alert_namespace):
        return False
    name = source.get("name")
    if name == "*":
        wanted = source.get("matchLabels") or {}
        if not wanted:
            return True
        have = labels()
        return all(have.get(key) == value for key, value in wanted.items())
    return bool(involved.get("name") == name)


def alert_matches(alert: Obj, event: Obj, labels: Labels) -> bool:
    """Whether ``event`` (an eventv1.Event JSON object) is to be sent by ``alert``."""
    spec = alert.get("spec") or {}
    if spec.get("suspend"):
        return False
    message = str(event.get("message", ""))
    inclusion = list(spec.get("inclusionList") or [])
    if inclusion and not _matches_any(inclusion, message, alert):
        return False
    if _matches_any(list(spec.get("exclusionList") or []), message, alert):
        return False
    severity = spec.get("eventSeverity") or "info"
    if severity != "info" and event.get("severity") != severity:
        return False
    namespace = str(alert.get("metadata", {}).get("namespace", ""))
    return any(source_matches(source, namespace, event, labels) for source in spec.get("eventSources") or [])


def metadata_for(alert: Obj, event: Obj, annotations: dict[str, str]) -> dict[str, str]:
    """The event's metadata as the Alert sends it. Precedence, lowest first: the involved object's
    ``event.toolkit.fluxcd.io/<key>`` annotations, the Alert's ``eventMetadata``, its ``summary``, and the
    controller's own metadata (``revision``…): a key already set by a higher one is kept."""
    spec = alert.get("spec") or {}
    merged = {key.removeprefix(ANNOTATION_PREFIX): value for key, value in annotations.items()
              if key.startswith(ANNOTATION_PREFIX) and key != ANNOTATION_PREFIX}
    merged.update({str(k): str(v) for k, v in (spec.get("eventMetadata") or {}).items()})
    if spec.get("summary"):
        merged[SUMMARY] = str(spec["summary"])
    merged.update(event.get("metadata") or {})
    return merged
