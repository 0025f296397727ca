"""Small object builders shared by the kustomize unit tests."""

from __future__ import annotations

from typing import Any


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, **fields: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    for key in ("labels", "annotations", "uid", "generation", "deletionTimestamp", "creationTimestamp"):
        if key in fields:
            metadata[key] = fields.pop(key)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}
