"""Garbage collection of a source's superseded artifacts, as source-controller does it at the start of every
reconcile: the storage keeps the retained ones (the last 2, for 60 s), and the object gets a
``GarbageCollectionSucceeded`` event naming how many went."""

from __future__ import annotations

from sandbox.kube.client import Obj
from sandbox.reconciler.runtime.controller import Context
from sandbox.reconciler.runtime.events import NORMAL
from sandbox.reconciler.source.storage import Storage

GARBAGE_COLLECTION_SUCCEEDED = "GarbageCollectionSucceeded"


def collect(storage: Storage, obj: Obj, ctx: Context, controller: str) -> list[str]:
    """Collect the artifacts beside the one in ``obj``'s status; the removed paths (relative)."""
    path = str(((obj.get("status") or {}).get("artifact") or {}).get("path") or "")
    if "/" not in path:
        return []
    removed = storage.garbage_collect(path.rpartition("/")[0], {path})
    if removed:
        ctx.events.record(obj, NORMAL, GARBAGE_COLLECTION_SUCCEEDED, f"garbage collected {len(removed)} artifacts",
                          controller=controller)
    return removed
