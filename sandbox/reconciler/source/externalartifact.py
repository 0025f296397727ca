"""ExternalArtifact as a source kind: its producer (an ArtifactGenerator, or anyone) writes ``status.artifact``, and
this controller only keeps the cache that consumers resolve and watch through ``Sources`` — as in Flux, where
source-controller serves the kind but no controller reconciles it."""

from __future__ import annotations

from typing import Any

from sandbox.reconciler.apis import kinds
from sandbox.reconciler.runtime.controller import Context, Result

Obj = dict[str, Any]


class ExternalArtifactReconciler:
    api_version = kinds.EXTERNALARTIFACT.api_version
    kind = kinds.EXTERNALARTIFACT.kind
    controller_name = "source-controller"
    status_manager = "source-controller"
    uses_finalizer = False  # nothing to clean up: the producer owns the object and its artifact

    def reconcile(self, obj: Obj, ctx: Context) -> Result:
        return Result(None, None)

    def finalize(self, obj: Obj, ctx: Context) -> None:
        """Nothing to undo."""

    def resource_info(self, obj: Obj) -> dict[str, str]:
        artifact = (obj.get("status") or {}).get("artifact") or {}
        return {"revision": str(artifact.get("revision", ""))}
