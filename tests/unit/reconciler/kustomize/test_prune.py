"""Pruning through the Applier against a fake of the client seam: what could not be deleted is reported with its
inventory entry, so it stays in the inventory and is pruned again (it was dropped before: matched against error
text that never held the id)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.errors import APIError
from sandbox.kube.client import ObjectList
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


class ListingKube(FakeKube):
    """Many stale objects of one kind: read with one LIST, never a GET each."""

    def __init__(self, refuse: set[str]) -> None:
        super().__init__(refuse)
        labels = inventory.owner_labels(*OWNER)
        for index in range(30):
            name = f"cm-{index:02d}"
            self.objects[name] = {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": name, "namespace": "ns", "labels": dict(labels)}}
        self.objects["cm-05"]["metadata"]["labels"] = {}  # not ours (any more)
        self.lists = 0

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        raise AssertionError("a GET per object")

    def list(self, api_version: str, kind: str, namespace: str | None = None, **_: Any) -> Any:
        self.lists += 1
        return ObjectList([dict(o) for o in self.objects.values()], "1")


def test_many_stale_objects_of_a_kind_are_listed_once_with_the_same_outcome() -> None:
    kube = ListingKube(refuse={"cm-07"})
    entries = [{"id": f"ns_cm-{index:02d}__ConfigMap", "v": "v1"} for index in range(30)]
    entries.append({"id": "ns_gone__ConfigMap", "v": "v1"})
    with pytest.raises(PruneError) as caught:
        Applier(kube).prune(entries, owner=OWNER)  # type: ignore[arg-type]
    assert kube.lists == 1
    assert caught.value.failed == [{"id": "ns_cm-07__ConfigMap", "v": "v1"}]
    assert set(kube.objects) == {"a", "b", "cm-05", "cm-07"}
