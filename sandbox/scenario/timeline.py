"""The timeline of a session: what happened, when, to which object — written as JSON Lines by the player
(``sandbox play --record``) and the recorder (``sandbox record``), read back by ``sandbox replay``.

One line per event: ``{"t": 1.234, "at": "2026-01-01T00:00:01.234Z", "type": "status", "subject":
"Kustomization/flux-system/apps", "data": {...}}``. ``t`` is seconds since the timeline started.

Event types and their ``data``:
- ``session``: ``{"phase": "start"|"end", "title": str, "sandbox": str, "scenario": str?}``
- ``step``: ``{"index": int, "step": str (the step type), "title": str, "status": "started"|"passed"|"failed",
  "duration": float?, "error": str?}`` (subject: ``step/<index>``)
- ``narration``: ``{"text": str}``
- ``commit``: ``{"repo": str, "sha": str, "message": str, "files": [str]}`` (subject: ``repo/<name>``)
- ``push``: ``{"repo": str, "ref": str, "before": str, "after": str}`` (subject: ``repo/<name>``)
- ``push``, as the recorder writes it from the git server's push log, adds ``{"pusher": str, "commits":
  [{"sha": str, "message": str}] (newest first, at most 20), "total_commits": int}``
- ``status``: ``{"ready": "True"|"False"|"Unknown", "reason": str, "message": str, "revision": str,
  "suspended": bool}`` — emitted when any of these change (subject: ``Kind/namespace/name``); the last one of a
  deleted object adds ``"deleted": true``
- ``event``: ``{"type": "Normal"|"Warning", "reason": str, "message": str, "controller": str}``
  (subject: the involved object); the recorder adds ``"count": int`` (an Event seen again counts up)
- ``alert``: a notification delivery, as the dispatcher logged it (subject: the involved object): ``{"provider":
  "ns/name", "type": str (the Provider's type), "alerts": ["ns/name"], "severity": "info"|"error", "reason": str,
  "message": str, "outcome": "sent"|"retrying"|"failed"|"dropped", "attempt": int? (retrying), "error": str?
  (retrying, failed; masked), "why": str? (dropped)}``
- ``prometheus_alert``: a Prometheus alert changed state (subject: ``Kind/ns/name`` from its labels
  ``customresource_kind``/``kind``, ``exported_namespace``/``namespace``, ``name``, else ""): ``{"alertname": str,
  "state": "pending"|"firing"|"resolved", "severity": str, "summary": str, "labels": {str: str},
  "active_at": str?}``
- ``metric``: a sample of an object's metrics, written only on change (subject: ``Kind/ns/name``): readiness
  ``{"name": "gotk_resource_info", "ready": "True"|"False"|"Unknown", "suspended": bool, "value": 1|0}``, or the
  mean duration of its reconciles since the last sample ``{"name": "gotk_reconcile_duration_seconds", "value":
  float (seconds), "reconciles": int}``
- ``image`` / ``chart``: ``{"reference": str, "digest": str?}``
- ``note``: anything else worth showing, ``{"text": str}``
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from sandbox.errors import InputError

EVENT_TYPES = ("session", "step", "narration", "commit", "push", "status", "event", "alert", "prometheus_alert",
               "metric", "image", "chart", "note")


@dataclass(frozen=True)
class TimelineEvent:
    t: float
    at: str
    type: str
    subject: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}Z"


class TimelineWriter:
    """Appends events to a JSON Lines file (or only keeps them in memory when ``path`` is None). Thread-safe."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.started = time.time()
        self._monotonic = time.monotonic()
        self._lock = threading.Lock()
        self.events: list[TimelineEvent] = []
        self._handle: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("w", encoding="utf-8")

    def emit(self, event_type: str, subject: str = "", **data: Any) -> TimelineEvent:
        return self._append(time.monotonic() - self._monotonic, event_type, subject, data)

    def emit_at(self, moment: float, event_type: str, subject: str = "", **data: Any) -> TimelineEvent:
        """Like ``emit``, for something that happened at wall-clock time ``moment`` (seconds since the epoch) and
        was learnt of a little later (a tailed log): its time is set back to ``moment``, though never before the
        timeline started nor after now. Lines may then be slightly out of order: readers sort by ``t``."""
        now = time.monotonic() - self._monotonic
        return self._append(min(max(moment - self.started, 0.0), now), event_type, subject, data)

    def _append(self, elapsed: float, event_type: str, subject: str, data: dict[str, Any]) -> TimelineEvent:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown timeline event type {event_type!r}")
        event = TimelineEvent(round(elapsed, 3), _iso(self.started + elapsed), event_type, subject, data)
        with self._lock:
            self.events.append(event)
            if self._handle is not None:
                self._handle.write(event.to_json() + "\n")
                self._handle.flush()
        return event

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def in_order(events: list[TimelineEvent]) -> list[TimelineEvent]:
    """``events`` by time; entries written at the same time keep their order (a stable sort)."""
    return sorted(events, key=lambda event: event.t)


def read(path: Path) -> list[TimelineEvent]:
    """Every event of a timeline file; a malformed line is an InputError naming the file and line."""
    return list(iter_events(path))


def iter_events(path: Path) -> Iterator[TimelineEvent]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as err:
        raise InputError(f"timeline {path} does not exist") from err
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            event = TimelineEvent(float(raw["t"]), str(raw["at"]), str(raw["type"]), str(raw.get("subject", "")),
                                  dict(raw.get("data") or {}))
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path}:{number}: not a timeline event ({err}); expected a JSON object with t, at, "
                             "type, subject and data") from err
        if event.type not in EVENT_TYPES:
            raise InputError(f"{path}:{number}: unknown event type {event.type!r} (known: {', '.join(EVENT_TYPES)})")
        yield event
