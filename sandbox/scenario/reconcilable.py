"""The kinds a scenario's ``reconcile``, ``suspend`` and ``resume`` steps act on: the reconciler's own (``ops.ALL``),
the Helm kinds and the image automation kinds, with the annotations ``flux reconcile helmrelease --force/--reset``
sets."""

from __future__ import annotations

from sandbox.reconciler import ops
from sandbox.reconciler.apis import kinds as served_kinds

FORCE_AT = "reconcile.fluxcd.io/forceAt"  # a one-off Helm install/upgrade even when nothing changed
RESET_AT = "reconcile.fluxcd.io/resetAt"  # the failure counters reset: retries start over

HELM: tuple[ops.KindRef, ...] = (
    ops.KindRef(served_kinds.HELMREPOSITORY.api_version, "HelmRepository", "source helm"),
    ops.KindRef(served_kinds.HELMCHART.api_version, "HelmChart", "source chart"),
    ops.KindRef(served_kinds.HELMRELEASE.api_version, "HelmRelease", "helmrelease"),
)
IMAGES: tuple[ops.KindRef, ...] = (
    ops.KindRef(served_kinds.IMAGEREPOSITORY.api_version, "ImageRepository", "image repository"),
    ops.KindRef(served_kinds.IMAGEPOLICY.api_version, "ImagePolicy", "image policy"),
    ops.KindRef(served_kinds.IMAGEUPDATEAUTOMATION.api_version, "ImageUpdateAutomation", "image update"),
)
BY_KIND: dict[str, ops.KindRef] = {kind.kind: kind for kind in (*ops.ALL, *HELM, *IMAGES)}
