"""``spec.commonMetadata`` set on the built objects' own metadata, after the build, as Flux does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.reconciler.kustomize.manifest import Obj


def apply_common_metadata(objects: Iterable[Obj], spec: Mapping[str, Any]) -> list[Obj]:
    """Set ``spec.commonMetadata`` labels and annotations on each object's own metadata, overriding keys
    that exist — and nothing else: unlike kustomize's commonLabels, selectors and pod templates are left
    alone (Flux's ``SetCommonMetadata``)."""
    common = spec.get("commonMetadata") or {}
    labels = {str(k): str(v) for k, v in (common.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (common.get("annotations") or {}).items()}
    result = list(objects)
    if not labels and not annotations:
        return result
    for obj in result:
        meta = obj.setdefault("metadata", {})
        for field, values in (("labels", labels), ("annotations", annotations)):
            if values:
                current = meta.get(field) if isinstance(meta.get(field), dict) else {}
                meta[field] = {**current, **values}
    return result
