"""Controller.process against a fake of the project's own client seam."""

from __future__ import annotations

import copy
import threading
from typing import Any

from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import FINALIZER, REQUESTED_AT, Context, Controller, Result
from sandbox.reconciler.runtime.metrics import Metrics

Obj = dict[str, Any]


class FakeKube:
    """Just enough of KubeClient: one object, merge patches of metadata and status."""

    def __init__(self, obj: Obj) -> None:
        self.obj = obj
        self.status_patches: list[Obj] = []

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        return copy.deepcopy(self.obj)

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: Obj, **_: Any) -> Obj:
        meta = patch.get("metadata", {})
        if "finalizers" in meta:
            self.obj["metadata"]["finalizers"] = meta["finalizers"]
        return copy.deepcopy(self.obj)

    def patch_status(self, obj: Obj, status: Obj, *, field_manager: str | None = None) -> Obj:
        self.status_patches.append(copy.deepcopy(status))
        merged = self.obj.setdefault("status", {})
        for key, value in status.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return copy.deepcopy(self.obj)


class FakeEvents:
    def record(self, *args: Any, **kwargs: Any) -> None:
        pass


class Reconciler:
    api_version = "example.com/v1"
    kind = "Thing"
    controller_name = "thing-controller"
    status_manager = "gotk-thing-controller"

    def __init__(self, intermediate: bool) -> None:
        self.intermediate = intermediate
        self.calls = 0

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        self.calls += 1
        status = dict(obj.get("status") or {})
        if self.intermediate:
            ctx.patch_status(obj, {"conditions": cond.mark_reconciling(status.get("conditions"), "Progressing",
                                                                       "working", 1)}, self.status_manager)
        status["conditions"] = cond.mark_ready(status.get("conditions"), "Succeeded", "done", 1)
        return Result(status, 60.0)

    def finalize(self, obj: Obj, ctx: Context) -> None:
        pass

    def resource_info(self, obj: Obj) -> dict[str, str]:
        return {}


def make(intermediate: bool, **meta: Any) -> tuple[Controller, FakeKube, Reconciler]:
    obj = {"apiVersion": "example.com/v1", "kind": "Thing",
           "metadata": {"name": "t", "namespace": "ns", "uid": "u1", "generation": 1, "resourceVersion": "1",
                        **meta}, "spec": {"interval": "1m"}}
    kube = FakeKube(obj)
    reconciler = Reconciler(intermediate)
    ctx = Context(kube=kube, events=FakeEvents(), metrics=Metrics(), stop=threading.Event())  # type: ignore[arg-type]
    controller = Controller(reconciler, ctx)
    controller.informer.cache["ns/t"] = obj
    return controller, kube, reconciler


def test_final_status_is_written_even_when_it_equals_the_status_before_the_reconcile() -> None:
    controller, kube, _ = make(intermediate=True)
    controller.process("ns/t")
    controller.process("ns/t")  # nothing changed: the final status equals the one before this reconcile
    ready = cond.find(kube.obj["status"]["conditions"], "Ready")
    assert ready is not None and ready["status"] == "True", "an intermediate Reconciling status must not stick"
    assert cond.find(kube.obj["status"]["conditions"], "Reconciling") is None


def test_unchanged_status_is_not_patched() -> None:
    controller, kube, _ = make(intermediate=False)
    controller.process("ns/t")
    patches = len(kube.status_patches)
    controller.process("ns/t")
    assert len(kube.status_patches) == patches


def test_finalizer_added_and_requested_at_echoed() -> None:
    controller, kube, _ = make(intermediate=False, annotations={REQUESTED_AT: "2026-01-01T00:00:00.1Z"})
    controller.process("ns/t")
    assert FINALIZER in kube.obj["metadata"]["finalizers"]
    assert kube.obj["status"]["lastHandledReconcileAt"] == "2026-01-01T00:00:00.1Z"


def test_suspended_objects_are_not_reconciled() -> None:
    controller, kube, reconciler = make(intermediate=False)
    kube.obj["spec"]["suspend"] = True
    controller.process("ns/t")
    assert reconciler.calls == 0 and "status" not in kube.obj


class FailingReconciler(Reconciler):
    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        status = dict(obj.get("status") or {})
        status["conditions"] = cond.mark_failed(status.get("conditions"), "BuildFailed", "bad.yaml: invalid", 1)
        return Result(status, 60.0)


def test_a_failed_reconcile_is_logged_once_with_reason_and_message(caplog: Any) -> None:
    controller, _, _ = make(intermediate=False)
    controller.reconciler = FailingReconciler(intermediate=False)
    with caplog.at_level("WARNING", logger="sandbox.reconciler.runtime.controller"):
        controller.process("ns/t")
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert record.getMessage() == "Thing ns/t: bad.yaml: invalid"
    assert (record.reason, record.object, record.namespace) == ("BuildFailed", "t", "ns")  # type: ignore[attr-defined]


class CrashingReconciler(Reconciler):
    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        ctx.patch_status(obj, {"conditions": cond.mark_reconciling(None, "Progressing", "Running 'install'", 1)},
                         self.status_manager)
        raise TypeError("'NoneType' object is not iterable: password=hunter2")


def test_a_crashing_reconciler_leaves_its_object_ready_false_not_in_progress() -> None:
    """Regression: a bug in a reconciler left "Running 'install' action" (Ready=Unknown) for as long as it retried."""
    controller, kube, _ = make(intermediate=False)
    controller.reconciler = CrashingReconciler(intermediate=False)
    controller.queue.add("ns/t")
    key = controller.queue.get()
    try:
        controller._sync(key)
    except TypeError as err:
        controller._failed(key, err)
    finally:
        controller.queue.done(key)
    ready = cond.find(kube.obj["status"]["conditions"], "Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == "ReconciliationFailed"
    assert "TypeError" in ready["message"] and "sandbox logs" in ready["message"]
    assert "hunter2" not in str(kube.obj["status"]), "the error's text could quote a secret value"
    controller.queue.shutdown()
