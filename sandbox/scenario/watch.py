"""Watch what the reconciler does in one namespace while a scenario plays: each change of a Flux object's
readiness, reason, message, revision or suspension, and each Event (new, or repeated), reported as it happens."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sandbox.kube.client import KubeClient, ref
from sandbox.kube.informer import Informer
from sandbox.reconciler import ops

log = logging.getLogger(__name__)

Obj = dict[str, Any]
StatusHandler = Callable[[str, dict[str, Any]], None]  # (Kind/namespace/name, {ready, reason, message, …})
EventHandler = Callable[[str, dict[str, Any]], None]  # (involved Kind/namespace/name, {type, reason, message, …})
WATCHED = (ops.GIT_REPOSITORY, ops.KUSTOMIZATION, ops.RECEIVER)


def status_of(obj: Obj) -> dict[str, Any]:
    """What the timeline's ``status`` event carries (sandbox.scenario.timeline)."""
    summary = ops.summarize(obj)
    return {"ready": summary["ready"], "reason": summary["reason"], "message": summary["message"],
            "revision": summary["revision"], "suspended": summary["suspended"]}


def event_of(event: Obj) -> tuple[str, dict[str, Any]]:
    involved = event.get("involvedObject") or {}
    subject = (f"{involved.get('kind')}/{involved.get('namespace')}/{involved.get('name')}"
               if involved.get("namespace") else f"{involved.get('kind')}/{involved.get('name')}")
    return subject, {"type": event.get("type", ""), "reason": event.get("reason", ""),
                     "message": event.get("message", ""),
                     "controller": (event.get("source") or {}).get("component") or event.get("reportingComponent", ""),
                     "count": int(event.get("count") or 1)}


class ReconcilerWatch:
    def __init__(self, kube: KubeClient, namespace: str, *, on_status: StatusHandler, on_event: EventHandler) -> None:
        self.kube = kube
        self.namespace = namespace
        self.on_status = on_status
        self.on_event = on_event
        self._last_status: dict[str, dict[str, Any]] = {}
        self._event_counts: dict[str, int] = {}
        self._informers: list[Informer] = []

    def _status_changed(self, change: str, obj: Obj) -> None:
        if change == "DELETED":
            return
        subject = ref(obj)
        current = status_of(obj)
        if self._last_status.get(subject) == current:
            return
        self._last_status[subject] = current
        self.on_status(subject, current)

    def _event_seen(self, change: str, event: Obj) -> None:
        if change == "DELETED":
            return
        uid = str((event.get("metadata") or {}).get("uid"))
        count = int(event.get("count") or 1)
        if self._event_counts.get(uid, 0) >= count:
            return
        self._event_counts[uid] = count
        subject, data = event_of(event)
        self.on_event(subject, data)

    def start(self) -> None:
        for kind in WATCHED:
            informer = Informer(self.kube, kind.api_version, kind.kind, self._status_changed, namespace=self.namespace)
            informer.start()
            self._informers.append(informer)
        events = Informer(self.kube, "v1", "Event", self._event_seen, namespace=self.namespace)
        events.start()
        self._informers.append(events)
        for informer in self._informers:
            if not informer.synced.wait(10):
                log.warning("watching %s in %s: not synced after 10s", informer.kind, self.namespace)

    def stop(self) -> None:
        for informer in self._informers:
            informer.stop()
        self._informers.clear()
