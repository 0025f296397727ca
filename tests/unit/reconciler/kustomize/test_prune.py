"""Pruning through the Applier against a fake of the client seam: what could not be deleted is reported with its
inventory entry, so it stays in the inventory and is pruned again (it was dropped before: matched against error
text that never held the id)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.errors import APIError
from sandbox.reconciler.kustomize import inventory
from sandbox.reconciler.kustomize.apply import Applier, PruneError

OWNER = ("apps", "flux-system")


class FakeKube:
    def __init__(self, refuse: set[str]) -> None:
        labels = inventory.owner_labels(*OWNER)
        self.objects = {name: {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name, "namespace": "ns", "labels": dict(labels)}}
                        for name in ("a", "b")}
        self.refuse = refuse

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return self.objects.get(name)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, **_: Any) -> bool:
        if name in self.refuse:
            raise APIError(f"DELETE ConfigMap/ns/{name}: admission webhook denied the request", status=403)
        return self.objects.pop(name, None) is not None


ENTRIES = [{"id": "ns_a__ConfigMap", "v": "v1"}, {"id": "ns_b__ConfigMap", "v": "v1"}]


def test_a_failed_delete_keeps_its_entry_and_the_others_are_pruned() -> None:
    kube = FakeKube(refuse={"b"})
    applier = Applier(kube)  # type: ignore[arg-type]
    with pytest.raises(PruneError) as caught:
        applier.prune(ENTRIES, owner=OWNER)
    assert caught.value.failed == [{"id": "ns_b__ConfigMap", "v": "v1"}]
    assert "ConfigMap/ns/b delete failed" in str(caught.value)
    assert "a" not in kube.objects, "the others are pruned all the same"
    kube.refuse.clear()
    assert applier.prune(caught.value.failed, owner=OWNER).changed, "retried, it goes"
    assert kube.objects == {}
