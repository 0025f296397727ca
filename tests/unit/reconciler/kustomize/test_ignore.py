"""spec.ignore: what counts as drift and what is applied (fluxcd/pkg/ssa DriftIgnoreRules)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.reconciler.kustomize import apply, ignore
from sandbox.reconciler.runtime.jsondiff import IgnoreRules

Obj = dict[str, Any]
MANAGER = "kustomize-controller"


def deployment(replicas: int, image: str = "web:1", managers: list[Obj] | None = None) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "managedFields": managers or []},
            "spec": {"replicas": replicas,
                     "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}


def apply_entry(manager: str, fields: Obj) -> Obj:
    return {"manager": manager, "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
            "fieldsV1": fields}


RULES = IgnoreRules.parse([{"paths": ["/spec/replicas", "/spec/template/spec/containers/0/image"],
                            "target": {"kind": "Deployment"}},
                           {"paths": ["/data/x"], "target": {"kind": "ConfigMap", "name": "other"}}])


def test_rules_select_by_target_and_differences_there_are_no_drift() -> None:
    live, dry_run = deployment(4), deployment(2)
    pointers = ignore.paths(RULES, dry_run)
    assert pointers == ["/spec/replicas", "/spec/template/spec/containers/0/image"]
    assert apply.drifted(live, dry_run)
    assert not apply.drifted_ignoring(live, dry_run, pointers)
    assert apply.drifted_ignoring(deployment(4, "web:2"), dry_run, ["/spec/replicas"])
    assert ignore.paths(RULES, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"}}) == []


def test_a_field_another_applier_owns_is_left_out_of_the_payload() -> None:
    hpa = apply_entry("autoscaler", {"f:spec": {"f:replicas": {}}})
    live = deployment(4, managers=[hpa, apply_entry(MANAGER, {"f:spec": {"f:template": {}}})])
    desired = deployment(2, "web:2")
    payload = ignore.payload(desired, live, deployment(2, "web:2"), ["/spec/replicas"], MANAGER)
    assert "replicas" not in payload["spec"]
    assert payload["spec"]["template"]["spec"]["containers"][0]["image"] == "web:2"
    assert desired["spec"]["replicas"] == 2, "the desired object itself is left as it was"


def test_a_field_only_we_own_takes_the_live_value() -> None:
    edited = {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    live = deployment(4, managers=[edited, apply_entry(MANAGER, {"f:spec": {"f:replicas": {}}})])
    payload = ignore.payload(deployment(2, "web:2"), live, deployment(2, "web:2"), ["/spec/replicas"], MANAGER)
    assert payload["spec"]["replicas"] == 4


def test_array_items_are_found_through_their_merge_keys() -> None:
    key = "k:" + json.dumps({"name": "app"}, separators=(",", ":"))
    other = apply_entry("image-updater", {"f:spec": {"f:template": {"f:spec": {"f:containers": {
        key: {"f:image": {}}}}}}})
    live = deployment(2, "web:9", managers=[other])
    pointer = "/spec/template/spec/containers/0/image"
    assert ignore.owned_by_another_applier(live, pointer, MANAGER)
    assert not ignore.owned_by_another_applier(live, "/spec/replicas", MANAGER)
    payload = ignore.payload(deployment(2, "web:1"), live, deployment(2, "web:1"), [pointer], MANAGER)
    assert "image" not in payload["spec"]["template"]["spec"]["containers"][0]


def test_unchanged_ignored_paths_change_nothing() -> None:
    desired = deployment(2)
    assert ignore.payload(desired, deployment(2), deployment(2), ["/spec/replicas", "/spec/nothing"], MANAGER) \
        is desired
