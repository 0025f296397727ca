"""Kubernetes Events on reconciled objects, as Flux's controllers record them (reason, Normal/Warning,
reporting controller, revision annotation), with repeated events folded into a count."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import APIError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.runtime.timeutil import rfc3339

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """What a controller reports; also handed to listeners (e.g. notification dispatch)."""

    involved: Obj  # apiVersion, kind, name, namespace, uid, resourceVersion
    type: str
    reason: str
    message: str
    controller: str
    metadata: dict[str, str] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    @property
    def severity(self) -> str:
        return "error" if self.type == WARNING else "info"


Listener = Callable[[Event], None]


def involved_object(obj: Obj) -> Obj:
    meta = obj.get("metadata", {})
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name"),
            "namespace": meta.get("namespace"), "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion")}


class EventRecorder:
    def __init__(self, kube: KubeClient, *, instance: str = "sandbox-reconciler", cache_size: int = 4096) -> None:
        self.kube = kube
        self.instance = instance
        self.listeners: list[Listener] = []
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_size = cache_size

    def record(self, obj: Obj, event_type: str, reason: str, message: str, *, controller: str,
               metadata: dict[str, str] | None = None) -> None:
        event = Event(involved_object(obj), event_type, reason, message, controller, dict(metadata or {}))
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break reconciliation
                log.exception("event listener failed")
        try:
            self._write(event)
        except APIError as err:
            log.warning("could not record event %s on %s/%s: %s", reason, event.involved.get("kind"),
                        event.involved.get("name"), err)

    def _write(self, event: Event) -> None:
        involved = event.involved
        namespace = involved.get("namespace") or "default"
        key = (str(involved.get("uid")), event.type, event.reason, event.message)
        stamp = rfc3339()
        with self._lock:
            previous = self._seen.get(key)
        if previous is not None:
            name, first, count = previous
            try:
                self.kube.patch("v1", "Event", name, namespace, {"count": count + 1, "lastTimestamp": stamp})
                with self._lock:
                    self._seen[key] = (name, first, count + 1)
                    self._seen.move_to_end(key)
                return
            except APIError:
                pass  # expired or deleted: write a new one
        name = f"{involved.get('name')}.{time.time_ns():x}"
        annotations = {k: v for k, v in event.metadata.items()}
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": event.reason, "message": event.message, "type": event.type,
            "source": {"component": event.controller},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "eventTime": None, "reportingComponent": event.controller, "reportingInstance": self.instance,
        }
        self.kube.create(body)
        with self._lock:
            self._seen[key] = (name, stamp, 1)
            while len(self._seen) > self._cache_size:
                self._seen.popitem(last=False)
