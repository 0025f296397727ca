"""Settings of a HelmRelease that ``support.TABLE`` cannot express as "a field set": values the Helm SDK cannot
honour although the field itself is fine with another value."""

from __future__ import annotations

from typing import Any


def unsupported_settings(obj: dict[str, Any]) -> list[str]:
    """The dotted fields of ``obj`` whose value is not implemented (empty when none)."""
    spec = obj.get("spec") or {}
    found = []
    if (spec.get("install") or {}).get("serverSideApply") is False:
        found.append("spec.install.serverSideApply")  # Helm v4 applies server-side: client-side apply is not here
    release_namespace = spec.get("targetNamespace") or (obj.get("metadata") or {}).get("namespace")
    if spec.get("storageNamespace") and spec["storageNamespace"] != release_namespace:
        found.append("spec.storageNamespace")  # the Helm SDK stores a release in its own namespace
    return found
