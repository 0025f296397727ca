"""The events after a reconcile, as image-reflector-controller's two reconcilers share them (its notify.go); the
Reconciling status written at once is ``source.failure.progress``, as for the source kinds."""

from __future__ import annotations

from typing import Any

from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.events import NORMAL, WARNING

Obj = dict[str, Any]


def notify(obj: Obj, ctx: Context, old_ready: Obj, status: Obj, trace: str, controller: str) -> None:
    """Upstream's notify: a Normal event when Ready's message changes or Ready comes back, a Warning while not
    Ready, else the trace message (kept as a Normal event, as the other controllers here keep traces)."""
    ready = cond.find(status.get("conditions"), cond.READY) or {}
    was_ready, is_ready = old_ready.get("status") == "True", ready.get("status") == "True"
    if is_ready and (not was_ready or old_ready.get("message") != ready.get("message")):
        ctx.events.record(obj, NORMAL, str(ready.get("reason")), str(ready.get("message")), controller=controller)
    elif not is_ready:
        ctx.events.record(obj, WARNING, str(ready.get("reason")), str(ready.get("message")), controller=controller)
    elif trace:
        ctx.events.record(obj, NORMAL, cond.SUCCEEDED, trace, controller=controller)
