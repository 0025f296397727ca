"""The controller for kinds nothing here reconciles: every object gets ``Ready=False`` and ``Stalled=True`` with
reason ``NotSupported`` naming the kind, and one Warning event per generation — so a repository that relies on
them can never look green (see ``support``)."""

from __future__ import annotations

from sandbox.kube.client import Obj
from sandbox.reconciler.apis.crds import definition
from sandbox.reconciler.apis.kinds import Kind
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context, Result
from sandbox.reconciler.runtime.events import WARNING
from sandbox.reconciler.support import (
    NOT_SUPPORTED,
    unsupported_fields_message,
    unsupported_fields_set,
    unsupported_kind_message,
)


class NotSupportedReconciler:
    controller_name = "gitops-sandbox"
    status_manager = "gitops-sandbox-reconciler"
    uses_finalizer = False  # it manages nothing: deleting the object must not wait for it

    def __init__(self, kind: Kind, note: str = "") -> None:
        self.served = kind
        self.api_version = kind.api_version
        self.kind = kind.kind
        self.note = note
        # Flux's static kinds (Provider, Alert) have no status subresource: there the Warning event is all there is
        # to say (once per generation), and the verdict refuses the object by its kind (see verdict.judge).
        self.has_status = definition(kind).status is not None
        self._told: set[tuple[str, int]] = set()

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        message = unsupported_kind_message(self.served, self.note)
        if self.has_status:
            return stall(obj, ctx, message, self.controller_name)
        told = (str(obj["metadata"].get("uid", "")), int(obj["metadata"].get("generation", 1)))
        if told not in self._told:
            self._told.add(told)
            ctx.events.record(obj, WARNING, NOT_SUPPORTED, message, controller=self.controller_name)
        return Result(None, None)

    def finalize(self, obj: Obj, ctx: Context) -> None:
        """Nothing to undo."""

    def resource_info(self, obj: Obj) -> dict[str, str]:
        return {}


def stall(obj: Obj, ctx: Context, message: str, controller: str) -> Result:
    """Ready=False and Stalled=True (NotSupported, ``message``), not retried; the Warning event once per
    generation and message."""
    generation = int(obj["metadata"].get("generation", 1))
    status: Obj = dict(obj.get("status") or {})
    ready = cond.find(status.get("conditions"), cond.READY) or {}
    told = (ready.get("reason") == NOT_SUPPORTED and ready.get("message") == message
            and ready.get("observedGeneration") == generation)
    status["conditions"] = cond.mark_failed(status.get("conditions"), NOT_SUPPORTED, message, generation,
                                            stalled=True)
    status["observedGeneration"] = generation
    if not told:
        ctx.events.record(obj, WARNING, NOT_SUPPORTED, message, controller=controller)
    return Result(status, None)


def refuse_unsupported_fields(obj: Obj, ctx: Context, controller: str) -> Result | None:
    """For a kind we reconcile: stall (NotSupported) when the object sets a field we do not implement, before
    anything is done with it; None when it sets none."""
    fields = unsupported_fields_set(obj)
    if not fields:
        return None
    return stall(obj, ctx, unsupported_fields_message(obj, fields), controller)
