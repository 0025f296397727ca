"""Objects known to be in sync are not dry-run again; any edit, new desired state or admission change brings the
dry-run back, so drift is still found exactly as before."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.kube.client import ObjectList, ResourceInfo
from sandbox.reconciler.kustomize import insync, inventory
from sandbox.reconciler.kustomize.apply import Applier
from sandbox.reconciler.kustomize.changeset import Action

OWNER = ("apps", "flux-system")


class Cluster:
    """ConfigMaps with resourceVersions; server-side apply as a plain replace of ``data`` and labels."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.dry_runs = 0
        self.applies = 0
        self.version = 0
        self.webhooks: list[dict[str, Any]] = []

    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        if kind in ("ConfigMap",) or kind.endswith("WebhookConfiguration"):
            return ResourceInfo(api_version, kind, kind.lower() + "s", kind == "ConfigMap")
        raise NotFound(f"no {kind}", status=404, reason="NoKindMatch")

    def request(self, method: str, path: str, **_: Any) -> Any:
        assert path == "/version"
        return {"gitVersion": "v1.37.2"}

    def list(self, api_version: str, kind: str, namespace: str | None = None, **_: Any) -> ObjectList:
        if kind.endswith("WebhookConfiguration"):
            return ObjectList(self.webhooks if kind.startswith("Mutating") else [], "1")
        self.resource(api_version, kind)
        return ObjectList([copy.deepcopy(o) for o in self.objects.values()], "1")

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return copy.deepcopy(self.objects.get(name))

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False, **_: Any) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        live = self.objects.get(name)
        result = copy.deepcopy(obj)
        result["metadata"]["uid"] = (live or {}).get("metadata", {}).get("uid", f"uid-{name}")
        unchanged = live is not None and live["data"] == obj.get("data") and \
            live["metadata"].get("labels") == obj["metadata"].get("labels")
        result["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"] if unchanged else \
            str(self.version + 1)
        if dry_run:
            self.dry_runs += 1
            if live is None:  # as the API server answers a dry-run create: nothing stored, no resourceVersion
                del result["metadata"]["resourceVersion"]
            return result
        self.applies += 1
        if not unchanged:
            self.version += 1
            self.objects[name] = result
        return copy.deepcopy(self.objects[name])

    def edit(self, name: str, **data: str) -> None:
        self.version += 1
        self.objects[name]["data"] = data
        self.objects[name]["metadata"]["resourceVersion"] = str(self.version)


def configmaps(count: int, value: str = "1") -> list[dict[str, Any]]:
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "default"},
                "data": {"value": value}} for i in range(count)]
    return inventory.set_owner_labels(objects, *OWNER)


def reconcile(applier: Applier, objects: list[dict[str, Any]]) -> dict[str, int]:
    dry_runs = applier.validate(objects, owner=OWNER)
    return applier.apply_all(objects, owner=OWNER, dry_run_results=dry_runs).counts()


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def test_an_unchanged_revision_is_not_dry_run_again(cluster: Cluster) -> None:
    applier = Applier(cluster)  # type: ignore[arg-type]
    assert reconcile(applier, configmaps(5)) == {"created": 5}
    assert reconcile(applier, configmaps(5)) == {"unchanged": 5}  # dry-run, found unchanged: remembered
    before = cluster.dry_runs
    assert reconcile(applier, configmaps(5)) == {"unchanged": 5}
    assert cluster.dry_runs == before


def test_an_edit_in_the_cluster_is_still_found_and_reverted(cluster: Cluster) -> None:
    applier = Applier(cluster)  # type: ignore[arg-type]
    reconcile(applier, configmaps(3))
    reconcile(applier, configmaps(3))
    cluster.edit("cm-1", value="edited")
    changes = applier.apply_all(configmaps(3), owner=OWNER,
                                dry_run_results=applier.validate(configmaps(3), owner=OWNER))
    assert [(c.name, c.action) for c in changes.changes if c.changed] == [("cm-1", Action.CONFIGURED)]
    assert cluster.objects["cm-1"]["data"] == {"value": "1"}


def test_a_new_desired_state_is_dry_run(cluster: Cluster) -> None:
    applier = Applier(cluster)  # type: ignore[arg-type]
    reconcile(applier, configmaps(2))
    before = cluster.dry_runs
    assert reconcile(applier, configmaps(2, value="2")) == {"configured": 2}
    assert cluster.dry_runs == before + 2


def test_an_admission_change_brings_the_dry_run_back(cluster: Cluster) -> None:
    applier = Applier(cluster)  # type: ignore[arg-type]
    reconcile(applier, configmaps(2))
    reconcile(applier, configmaps(2))
    cluster.webhooks.append({"metadata": {"name": "inject", "resourceVersion": "9"}})
    before = cluster.dry_runs
    assert reconcile(applier, configmaps(2)) == {"unchanged": 2}
    assert cluster.dry_runs == before + 2


def test_without_the_owner_nothing_is_taken_as_known(cluster: Cluster) -> None:
    applier = Applier(cluster)  # type: ignore[arg-type]
    reconcile(applier, configmaps(2))
    before = cluster.dry_runs
    applier.validate(configmaps(2))
    assert cluster.dry_runs == before + 2


def test_custom_resources_are_never_remembered() -> None:
    memory = insync.Memory()
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    live = {**widget, "metadata": {"name": "w", "uid": "u", "resourceVersion": "1"}}
    memory.remember(OWNER, "k", widget, live, "fp")
    assert not memory.in_sync(OWNER, "k", widget, live, "fp")
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    live = {**configmap, "metadata": {"name": "c", "uid": "u", "resourceVersion": "1"}}
    memory.remember(OWNER, "c", configmap, live, "fp")
    assert memory.in_sync(OWNER, "c", configmap, live, "fp")
    assert not memory.in_sync(OWNER, "c", configmap, live, "other")
    assert not memory.in_sync(OWNER, "c", configmap, {**live, "metadata": {**live["metadata"], "uid": "v"}}, "fp")
    memory.forget(OWNER)
    assert not memory.in_sync(OWNER, "c", configmap, live, "fp")
