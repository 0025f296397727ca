"""A controller: an informer feeding a rate-limited work queue, workers calling ``reconcile(obj, ctx)``.

The controller owns what every Flux kind shares: the finalizer, deletion, ``spec.suspend``, the
``reconcile.fluxcd.io/requestedAt`` annotation (echoed in ``status.lastHandledReconcileAt``), requeueing after
``spec.interval``, patching status once at the end, and the reconcile metrics.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.errors import NotFound, SandboxError
from sandbox.kube.client import KubeClient
from sandbox.kube.informer import Informer, object_key
from sandbox.kube.workqueue import WorkQueue, run_worker
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.events import EventRecorder
from sandbox.reconciler.runtime.metrics import Metrics
from sandbox.reconciler.runtime.timeutil import parse_duration

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FINALIZER = "finalizers.fluxcd.io"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


@dataclass(frozen=True)
class Result:
    """What a reconcile returns: the status to write and when to look again (None: only on change)."""

    status: Obj | None = None
    requeue_after: float | None = None


class TerminalError(SandboxError):
    """A failure that retrying cannot fix; logged and not requeued."""


@dataclass
class Context:
    kube: KubeClient
    events: EventRecorder
    metrics: Metrics
    stop: threading.Event
    services: dict[str, Any] = field(default_factory=dict)  # shared helpers: artifact storage, other informers
    # uid -> the status last written by an intermediate patch, so that the final patch compares against it
    written: dict[str, Obj] = field(default_factory=dict)

    def patch_status(self, obj: Obj, status: Obj, field_manager: str) -> Obj:
        """Write an intermediate status (e.g. Reconciling) so that progress is visible while work goes on."""
        updated = self.kube.patch_status(obj, status, field_manager=field_manager)
        self.written[obj["metadata"]["uid"]] = updated.get("status") or {}
        return updated


class Reconciler(Protocol):
    api_version: str
    kind: str
    controller_name: str  # e.g. "kustomize-controller": reported in events
    status_manager: str  # field manager of status patches, e.g. "gotk-kustomize-controller"

    def reconcile(self, obj: Obj, ctx: Context) -> Result: ...

    def finalize(self, obj: Obj, ctx: Context) -> None: ...

    def resource_info(self, obj: Obj) -> dict[str, str]: ...


Mapper = Callable[[Obj], list[str]]


def interval_of(obj: Obj, default: float = 600.0) -> float:
    value = obj.get("spec", {}).get("interval")
    if not value:
        return default
    return parse_duration(value, field=f"{obj.get('kind')}/{obj['metadata'].get('name')} spec.interval")


class Controller:
    def __init__(self, reconciler: Reconciler, ctx: Context, *, workers: int = 4) -> None:
        self.reconciler = reconciler
        self.ctx = ctx
        self.workers = workers
        self.name = reconciler.kind.lower()
        self.queue = WorkQueue(base_delay=0.5, max_delay=300.0)
        self.informer = Informer(ctx.kube, reconciler.api_version, reconciler.kind, self._on_event, stop=ctx.stop)
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._seen_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.watched: list[Informer] = []
        self.reconciles_total = 0

    # --- events from the cluster ---------------------------------------------------------------------
    def _fingerprint(self, obj: Obj) -> tuple[Any, ...]:
        meta = obj.get("metadata", {})
        return (meta.get("generation"), meta.get("annotations", {}).get(REQUESTED_AT),
                bool(meta.get("deletionTimestamp")), meta.get("uid"))

    def _on_event(self, kind: str, obj: Obj) -> None:
        key = object_key(obj)
        if kind == "DELETED":
            with self._seen_lock:
                self._seen.pop(key, None)
            meta = obj.get("metadata", {})
            self.ctx.metrics.forget_resource(self.reconciler.kind, meta.get("namespace", ""), meta.get("name", ""))
            return
        fingerprint = self._fingerprint(obj)
        with self._seen_lock:
            changed = self._seen.get(key) != fingerprint
            self._seen[key] = fingerprint
        # Our own status patches change neither generation nor annotations: they must not loop back here.
        if changed:
            self.queue.add(key)

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def watch(self, informer: Informer, mapper: Mapper) -> None:
        """Reconcile the objects ``mapper`` names whenever ``informer`` sees a change."""
        original = informer.handler

        def handler(kind: str, obj: Obj) -> None:
            original(kind, obj)
            for key in mapper(obj):
                self.queue.add(key)

        informer.handler = handler
        if informer is not self.informer:  # the controller starts and stops its own informer itself
            self.watched.append(informer)

    # --- work ------------------------------------------------------------------------------------------
    def start(self) -> None:
        # The informer's thread is a daemon blocked in a watch: it is not joined (closing the watch ends it, or the
        # process's exit does); the workers are, so that a reconcile under way finishes its status patch.
        self.informer.start()
        for index in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"{self.name}-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.informer.stop()
        self.queue.shutdown()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _worker(self) -> None:
        run_worker(self.queue, self._sync, self._failed)

    def _sync(self, key: str) -> None:
        try:
            self.process(key)
            self.queue.forget(key)
        finally:
            self.ctx.metrics.queue_depth.labels(self.name).set(len(self.queue))

    def _failed(self, key: str, err: Exception) -> None:
        self.ctx.metrics.reconcile_errors.labels(self.reconciler.controller_name).inc()
        if isinstance(err, TerminalError):
            log.error("%s %s: %s (not retried)", self.reconciler.kind, key, err)
            self.queue.forget(key)
            return
        delay = self.queue.add_rate_limited(key)
        self.ctx.metrics.queue_retries.labels(self.name).inc()
        if isinstance(err, SandboxError):
            log.warning("%s %s failed: %s; retrying in %.1fs", self.reconciler.kind, key, err, delay)
        else:
            log.error("%s %s failed unexpectedly; retrying in %.1fs", self.reconciler.kind, key, delay,
                      exc_info=err)
            self._report_crash(key, err, delay)

    def _report_crash(self, key: str, err: Exception, delay: float) -> None:
        """A bug in a reconciler must not leave its object saying "in progress" while it retries: Ready=False names
        the error's type (not its text, which could quote a secret value) and where the traceback is."""
        namespace, _, name = key.rpartition("/")
        try:
            obj = self.ctx.kube.get(self.reconciler.api_version, self.reconciler.kind, name, namespace or None)
            status = dict(obj.get("status") or {})
            message = (f"the gitops-sandbox reconciler failed unexpectedly ({type(err).__name__}), a bug: "
                       f"`sandbox logs --level error --kind {self.reconciler.kind}` has the traceback; retrying in "
                       f"{delay:.0f}s")
            status["conditions"] = cond.mark_failed(status.get("conditions"), cond.RECONCILIATION_FAILED, message,
                                                    int(obj["metadata"].get("generation") or 0))
            self.ctx.kube.patch_status(obj, _status_patch(obj.get("status") or {}, status),
                                       field_manager=self.reconciler.status_manager)
        except Exception as failed:  # the retry goes on; saying so is best effort
            log.warning("%s %s: could not report the failure in its status: %s", self.reconciler.kind, key, failed)

    def process(self, key: str) -> None:
        cached = self.informer.get(key)
        if cached is None:
            return
        namespace, _, name = key.rpartition("/")
        # Read fresh: the cache may lag our own previous status patch.
        try:
            obj = self.ctx.kube.get(self.reconciler.api_version, self.reconciler.kind, name, namespace or None)
        except NotFound:
            return
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            if FINALIZER in meta.get("finalizers", []):
                self.reconciler.finalize(obj, self.ctx)
                self._set_finalizers(obj, [f for f in meta.get("finalizers", []) if f != FINALIZER])
            return
        if FINALIZER not in meta.get("finalizers", []) and self._wants_finalizer(obj):
            obj = self._set_finalizers(obj, [*meta.get("finalizers", []), FINALIZER])
        if obj.get("spec", {}).get("suspend"):
            log.info("%s %s: reconciliation is suspended for this object", self.reconciler.kind, key)
            self.ctx.metrics.set_resource_info(obj, self.reconciler.resource_info(obj))
            return

        started = time.perf_counter()
        self.reconciles_total += 1
        try:
            result = self.reconciler.reconcile(obj, self.ctx)
        except BaseException:
            self.ctx.written.pop(meta["uid"], None)
            raise
        finally:
            self.ctx.metrics.reconcile_duration.labels(self.reconciler.kind, meta["name"],
                                                       meta.get("namespace", "")).observe(
                time.perf_counter() - started)
        status = result.status
        # What the cluster holds now: an intermediate patch during reconcile may have changed it.
        current = self.ctx.written.pop(meta["uid"], obj.get("status") or {})
        if status is not None:
            requested = meta.get("annotations", {}).get(REQUESTED_AT)
            if requested:
                status = {**status, "lastHandledReconcileAt": requested}
            if status != current:
                obj = self.ctx.kube.patch_status(obj, _status_patch(current, status),
                                                 field_manager=self.reconciler.status_manager)
        # The condition that says whether the object is fine: Ready for Flux's kinds (``ready_condition`` of the
        # reconciler otherwise, e.g. Sealed Secrets' Synced).
        ready_type = getattr(self.reconciler, "ready_condition", cond.READY)
        ready = _ready_status(obj, ready_type)
        if ready == "False":
            # One structured line per failed reconcile, from the status just written (already free of secret
            # values), so that `sandbox logs` tells what status and events tell.
            condition = _ready_condition(obj, ready_type)
            log.warning("%s %s: %s", self.reconciler.kind, key, condition.get("message", ""),
                        extra={"controller": self.reconciler.controller_name, "kind": self.reconciler.kind,
                               "object": meta["name"], "namespace": meta.get("namespace", ""),
                               "reason": condition.get("reason", ""),
                               "revision": (obj.get("status") or {}).get("lastAttemptedRevision", "")})
        self.ctx.metrics.reconcile_total.labels(self.reconciler.controller_name,
                                                "success" if ready == "True" else "error").inc()
        self.ctx.metrics.set_resource_info(obj, self.reconciler.resource_info(obj))
        if result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)

    def _wants_finalizer(self, obj: Obj) -> bool:
        """``uses_finalizer`` of the reconciler: a bool, or a function of the object (a HelmRepository of type
        oci keeps none, as upstream's static OCI repositories)."""
        wants = getattr(self.reconciler, "uses_finalizer", True)
        return bool(wants(obj)) if callable(wants) else bool(wants)

    def _set_finalizers(self, obj: Obj, finalizers: list[str]) -> Obj:
        meta = obj["metadata"]
        # resourceVersion in the patch makes it conditional: a concurrent change fails it, and the key is retried.
        return self.ctx.kube.patch(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                                   {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}})


def _ready_condition(obj: Obj, condition_type: str = cond.READY) -> Obj:
    return dict(cond.find((obj.get("status") or {}).get("conditions"), condition_type) or {})


def _ready_status(obj: Obj, condition_type: str = cond.READY) -> str:
    return str(_ready_condition(obj, condition_type).get("status", "Unknown"))


def _status_patch(old: Obj, new: Obj) -> Obj:
    """A merge patch turning ``old`` into ``new``: changed keys set, vanished keys nulled."""
    patch: Obj = copy.deepcopy(new)
    for key in old:
        if key not in new:
            patch[key] = None
    return patch
