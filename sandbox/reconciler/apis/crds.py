"""The CustomResourceDefinitions of every served kind, generated from the definitions in this package."""

from __future__ import annotations

from typing import Any

from sandbox.reconciler.apis import artifacts, helm, image, kustomize, notification, source
from sandbox.reconciler.apis.definition import Definition
from sandbox.reconciler.apis.kinds import Kind

DEFINITIONS: tuple[Definition, ...] = (
    *source.DEFINITIONS, *kustomize.DEFINITIONS, *helm.DEFINITIONS, *image.DEFINITIONS, *notification.DEFINITIONS,
    *artifacts.DEFINITIONS,
)


def definition(kind: Kind) -> Definition:
    for each in DEFINITIONS:
        if each.kind == kind:
            return each
    raise KeyError(str(kind))


def crds() -> list[dict[str, Any]]:
    """Every CRD, freshly built (callers may mutate them)."""
    return [each.crd() for each in DEFINITIONS]
