"""Kubernetes Events in all namespaces as ``event`` entries: only those that appear, or whose count grows, after
recording started — the Events already stored when it starts are history, not part of the session."""

from __future__ import annotations

import threading
from typing import Any

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient
from sandbox.kube.informer import Informer
from sandbox.scenario.timeline import TimelineWriter
from sandbox.waiting import wait_until

Obj = dict[str, Any]


def involved_subject(event: Obj) -> str:
    """``Kind/namespace/name`` (or ``Kind/name``) of the object an Event is about."""
    involved = event.get("involvedObject") or event.get("regarding") or {}
    kind = involved.get("kind") or "?"
    name = involved.get("name") or "?"
    namespace = involved.get("namespace")
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def count_of(event: Obj) -> int:
    series = event.get("series") or {}
    return int(event.get("count") or series.get("count") or 1)


def event_data(event: Obj) -> dict[str, Any]:
    """The ``event`` entry's data: type, reason, message, the controller that reported it, and the count."""
    source = event.get("source") or {}
    controller = event.get("reportingComponent") or source.get("component") or event.get("reportingController") or ""
    return {"type": str(event.get("type") or "Normal"), "reason": str(event.get("reason") or ""),
            "message": str(event.get("message") or event.get("note") or ""), "controller": str(controller),
            "count": count_of(event)}


class EventCounts:
    """Which Event notifications are news: an Event not seen before, or one whose count grew. Events seen while
    ``baseline`` is true (the first list, before recording) are remembered but are not news."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}  # Event uid -> count last seen
        self._lock = threading.Lock()

    def observe(self, change: str, event: Obj, *, baseline: bool = False) -> bool:
        meta = event.get("metadata") or {}
        uid = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
        with self._lock:
            if change == "DELETED":
                self._counts.pop(uid, None)
                return False
            count = count_of(event)
            previous = self._counts.get(uid)
            self._counts[uid] = count
        return not baseline and (previous is None or count > previous)


class KubeEventSource:
    """One informer on core v1 Events across namespaces; remembers each Event's count to see repeats."""

    name = "kube-events"

    def __init__(self, kube: KubeClient, *, sync_timeout: float = 30) -> None:
        self.kube = kube
        self.sync_timeout = sync_timeout
        self._writer: TimelineWriter | None = None
        self._news = EventCounts()
        self._informer: Informer | None = None

    def start(self, writer: TimelineWriter) -> None:
        self._writer = writer
        self._informer = Informer(self.kube, "v1", "Event", self._on_event)
        self._informer.start()
        try:
            wait_until(self._informer.synced.is_set, timeout=self.sync_timeout, what="the list of Events",
                       hint="is the sandbox up? (`sandbox status`)")
        except SandboxError:
            self.stop()
            raise

    def stop(self) -> None:
        if self._informer is not None:
            self._informer.stop()

    def _on_event(self, change: str, event: Obj) -> None:
        informer, writer = self._informer, self._writer
        if informer is None or writer is None:
            return
        # The first list (before the informer reports synced) is the baseline: Events from before recording.
        if self._news.observe(change, event, baseline=not informer.synced.is_set()):
            writer.emit("event", involved_subject(event), **event_data(event))
