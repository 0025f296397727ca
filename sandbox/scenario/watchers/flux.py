"""Status transitions of every Flux object the cluster serves: one informer per Flux kind, started as the kind's
CRD becomes Established, emitting a ``status`` event only when Ready, its reason or message, the revision or
``suspend`` change (not on every resourceVersion)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient, ref
from sandbox.kube.informer import Informer
from sandbox.reconciler.apis import kinds
from sandbox.scenario.timeline import TimelineWriter
from sandbox.waiting import wait_until

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"
CRD_API_VERSION = "apiextensions.k8s.io/v1"
STATUS_FIELDS = ("ready", "reason", "message", "revision", "suspended")
_PREFERRED_VERSION = {(k.group, k.kind): k.version for k in kinds.ALL}


def revision_of(obj: Obj) -> str:
    """The revision an object stands at, whatever its kind: a source's artifact, what a Kustomization applied,
    the chart a HelmRelease attempted, the image an ImagePolicy chose, the commit an automation pushed."""
    status = obj.get("status") or {}
    artifact = status.get("artifact") or {}
    if artifact.get("revision"):
        return str(artifact["revision"])
    for key in ("lastAppliedRevision", "lastAttemptedRevision", "latestImage", "lastPushCommit"):
        if status.get(key):
            return str(status[key])
    latest = status.get("latestRef") or {}
    if latest.get("name"):
        tag = f":{latest['tag']}" if latest.get("tag") else ""
        digest = f"@{latest['digest']}" if latest.get("digest") else ""
        return f"{latest['name']}{tag}{digest}"
    return ""


def status_of(obj: Obj) -> dict[str, Any]:
    """The part of an object's state a timeline shows: ``ready``, ``reason``, ``message``, ``revision``,
    ``suspended`` (the ``status`` event's data)."""
    ready: Obj = {}
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            ready = condition
            break
    return {"ready": str(ready.get("status") or "Unknown"), "reason": str(ready.get("reason") or ""),
            "message": str(ready.get("message") or ""), "revision": revision_of(obj),
            "suspended": bool((obj.get("spec") or {}).get("suspend"))}


def served_version(crd: Obj) -> str | None:
    """The version to watch a CRD's kind at: the one the project serves when the CRD serves it, else the storage
    version; None while the CRD is not Established."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
        return None
    spec = crd.get("spec") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served")]
    preferred = _PREFERRED_VERSION.get((str(spec.get("group")), str((spec.get("names") or {}).get("kind"))))
    for version in served:
        if version.get("name") == preferred:
            return str(preferred)
    for version in served:
        if version.get("storage"):
            return str(version["name"])
    return str(served[0]["name"]) if served else None


def has_status(crd: Obj, version: str) -> bool:
    """Whether ``version`` of the CRD has a status subresource: kinds without one (Provider and Alert of
    notification.toolkit.fluxcd.io/v1beta3) have no Ready state to show, and get no lane."""
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            return "status" in (entry.get("subresources") or {})
    return False


class StatusChanges:
    """Which notifications about Flux objects change what a timeline shows (``status_of``), per subject."""

    def __init__(self) -> None:
        self._last: dict[str, dict[str, Any]] = {}  # subject -> status last reported

    def observe(self, change: str, obj: Obj) -> dict[str, Any] | None:
        """The ``status`` data to emit for this notification, or None when nothing shown changed. Not
        thread-safe: the caller serialises (and emits under the same lock, to keep each object's order)."""
        subject = ref(obj)
        if change == "DELETED":
            last = self._last.pop(subject, None)
            return {**(last or status_of(obj)), "deleted": True}
        current = status_of(obj)
        if self._last.get(subject) == current:
            return None
        self._last[subject] = current
        return current


class FluxStatusSource:
    """Watches the Flux CRDs, and for each Established one the objects of its kind."""

    name = "flux-status"

    def __init__(self, kube: KubeClient, *, sync_timeout: float = 30) -> None:
        self.kube = kube
        self.sync_timeout = sync_timeout
        self._writer: TimelineWriter | None = None
        self._lock = threading.Lock()
        self._informers: dict[str, Informer] = {}  # CRD name -> informer of its kind
        self._changes = StatusChanges()
        self._crds: Informer | None = None

    @property
    def kinds(self) -> list[str]:
        """``apiVersion Kind`` of every kind being watched."""
        with self._lock:
            return sorted(f"{i.api_version} {i.kind}" for i in self._informers.values())

    def start(self, writer: TimelineWriter) -> None:
        self._writer = writer
        self._crds = Informer(self.kube, CRD_API_VERSION, "CustomResourceDefinition", self._on_crd)
        self._crds.start()
        try:
            wait_until(self._crds.synced.is_set, timeout=self.sync_timeout,
                       what="the list of CustomResourceDefinitions", hint="is the sandbox up? (`sandbox status`)")
            with self._lock:
                pending = list(self._informers.values())
            for informer in pending:
                wait_until(informer.synced.is_set, timeout=self.sync_timeout,
                           what=f"the list of {informer.kind} objects")
        except SandboxError:
            self.stop()
            raise

    def stop(self) -> None:
        if self._crds is not None:
            self._crds.stop()
        with self._lock:
            informers = list(self._informers.values())
            self._informers.clear()
        for informer in informers:
            informer.stop()

    def _on_crd(self, change: str, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        if not str(spec.get("group", "")).endswith(FLUX_GROUP_SUFFIX):
            return
        name = crd["metadata"]["name"]
        version = None if change == "DELETED" else served_version(crd)
        if version is not None and not has_status(crd, version):
            version = None
        with self._lock:
            current = self._informers.get(name)
            api_version = f"{spec['group']}/{version}" if version else None
            if current is not None and current.api_version == api_version:
                return
            if current is not None:
                current.stop()
                del self._informers[name]
            if api_version is None:
                return
            if self._crds is not None and self._crds.stop_event.is_set():
                return
            kind = str((spec.get("names") or {}).get("kind"))
            informer = Informer(self.kube, api_version, kind, self._on_object)
            self._informers[name] = informer
        informer.start()

    def _on_object(self, change: str, obj: Obj) -> None:
        writer = self._writer
        if writer is None:
            return
        with self._lock:
            data = self._changes.observe(change, obj)
            if data is not None:
                # Emitting under the lock keeps each object's transitions in the order they happened.
                writer.emit("status", ref(obj), **data)
