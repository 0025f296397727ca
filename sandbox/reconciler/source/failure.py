"""What source controllers share when a reconcile step fails: source-controller's common reasons
(api/v1/condition_types.go), the ``Failure`` a step raises, and the status it leaves — Ready=False with the reason,
the step's condition True, the last good artifact still served — and the at-once "in progress" status
(source-controller's ProgressiveStatus)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sandbox.errors import SandboxError
from sandbox.reconciler.runtime import conditions as cond
from sandbox.reconciler.runtime.controller import Context

log = logging.getLogger(__name__)

Obj = dict[str, Any]

URL_INVALID = "URLInvalid"
STORAGE_OPERATION_FAILED = "StorageOperationFailed"
ARCHIVE_OPERATION_FAILED = "ArchiveOperationFailed"
ARTIFACT_OUTDATED = "ArtifactOutdated"


class Failure(SandboxError):
    """A reconcile step failed: ``condition`` (FetchFailed, BuildFailed, StorageOperationFailed…) True with
    ``reason``; ``stalled`` when retrying cannot help."""

    def __init__(self, condition: str, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message)
        self.condition = condition
        self.reason = reason
        self.stalled = stalled


class StepFailure(Protocol):
    """A ``Failure``, or a controller's own failure type carrying more (a HelmChart's build)."""

    condition: str
    reason: str
    stalled: bool


def mark_failed(status: Obj, conditions: list[Obj], err: StepFailure, generation: int) -> str:
    """Write the failed status into ``status``; returns the message."""
    message = str(err)
    updated = cond.set_condition(conditions, err.condition, "True", err.reason, message, generation)
    status["conditions"] = cond.mark_failed(updated, err.reason, message, generation, stalled=err.stalled)
    if err.stalled:
        status["observedGeneration"] = generation
    return message


def progress(obj: Obj, ctx: Context, conditions: list[Obj], message: str, generation: int,
             status_manager: str) -> list[Obj]:
    """Reconciling=True and Ready=Unknown with ``message``, written at once so that watchers see the work start."""
    updated = cond.set_condition(conditions, cond.RECONCILING, "True", cond.PROGRESSING, message, generation)
    updated = cond.set_condition(updated, cond.READY, "Unknown", cond.PROGRESSING, message, generation)
    try:
        ctx.patch_status(obj, {"conditions": updated}, status_manager)
    except SandboxError as err:
        meta = obj["metadata"]
        log.warning("could not mark %s %s/%s reconciling: %s", obj.get("kind"), meta.get("namespace"),
                    meta.get("name"), err)
    return updated
