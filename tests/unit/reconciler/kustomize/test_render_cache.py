"""The last render of a Kustomization is reused only while everything it was rendered from is the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.reconciler.kustomize.pipeline import RenderCache

KUSTOMIZATION = {"metadata": {"name": "apps", "namespace": "flux-system"}, "spec": {"path": "./apps"}}
OWNER = ("apps", "flux-system")
SETTINGS = {("ConfigMap", "settings"): {"data": {"env": "prod"}}}


def key(**changes: Any) -> str:
    inputs: dict[str, Any] = {"source_root": Path("/unpacked/sha256-1"), "kustomization": KUSTOMIZATION,
                              "fetched": SETTINGS, "strict": True, **changes}
    return RenderCache.key(**inputs)


@pytest.mark.parametrize("changes", [
    {"source_root": Path("/unpacked/sha256-2")},
    {"kustomization": {**KUSTOMIZATION, "spec": {"path": "./apps", "targetNamespace": "x"}}},
    {"kustomization": {"metadata": {"name": "other", "namespace": "flux-system"}, "spec": {"path": "./apps"}}},
    {"fetched": {("ConfigMap", "settings"): {"data": {"env": "dev"}}}},
    {"fetched": {("ConfigMap", "settings"): None}},
    {"strict": False},
], ids=["new-artifact", "new-spec", "other-kustomization", "new-variables", "variables-gone", "strictness"])
def test_any_input_changes_the_key(changes: dict[str, Any]) -> None:
    assert key(**changes) != key()


def test_a_hit_is_a_fresh_copy_and_a_miss_is_none() -> None:
    cache = RenderCache()
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]
    cache.put(OWNER, key(), objects)
    objects[0]["metadata"]["name"] = "changed later"
    first = cache.get(OWNER, key())
    assert first == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]
    assert first is not None
    first[0]["kind"] = "Secret"
    assert cache.get(OWNER, key()) == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]
    assert cache.get(OWNER, key(source_root=Path("/unpacked/sha256-2"))) is None
    cache.forget(OWNER)
    assert cache.get(OWNER, key()) is None
