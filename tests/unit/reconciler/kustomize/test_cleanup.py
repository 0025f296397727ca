"""Metadata cleanup before apply: kubectl's and other disallowed managers' fields move to our apply entry."""

from __future__ import annotations

from typing import Any

from sandbox.reconciler.kustomize import cleanup

CONTROLLER = "kustomize-controller"


def entry(manager: str, operation: str, fields: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    result = {"manager": manager, "operation": operation, "apiVersion": "v1", "fieldsType": "FieldsV1",
              "fieldsV1": fields}
    if subresource:
        result["subresource"] = subresource
    return result


def live(*entries: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "managedFields": list(entries),
                         **({"annotations": annotations} if annotations else {})}}


DESIRED = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}
OURS = entry(CONTROLLER, "Apply", {"f:data": {"f:color": {}}})


def test_fields_of_kubectl_edit_and_apply_are_handed_to_our_apply_entry() -> None:
    edited = entry("kubectl-edit", "Update", {"f:data": {"f:extra": {}}})
    server_side = entry("kubectl", "Apply", {"f:data": {"f:color": {}}, "f:metadata": {"f:labels": {"f:x": {}}}})
    other = entry("helm", "Apply", {"f:data": {"f:other": {}}})
    status = entry("kubectl-edit", "Update", {"f:status": {}}, subresource="status")
    (operation,) = cleanup.patch(DESIRED, live(OURS, edited, server_side, other, status), CONTROLLER)
    assert operation["op"] == "replace" and operation["path"] == "/metadata/managedFields"
    *kept, ours = operation["value"]
    assert kept == [other, status], "other managers and subresource entries stay"
    assert ours["manager"] == CONTROLLER and ours["operation"] == "Apply"
    assert ours["fieldsV1"] == {"f:data": {"f:color": {}, "f:extra": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}


def test_without_an_entry_of_ours_the_first_match_becomes_it() -> None:
    client_side = entry("kubectl-client-side-apply", "Update", {"f:data": {"f:a": {}}})
    before = entry("before-first-apply", "Update", {"f:data": {"f:b": {}}})
    (operation,) = cleanup.patch(DESIRED, live(client_side, before), CONTROLLER)
    assert operation["value"] == [{**client_side, "manager": CONTROLLER, "operation": "Apply",
                                   "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}}}]


def test_the_last_applied_annotation_goes_and_nothing_else_is_touched_without_cause() -> None:
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep/me": "yes"}
    assert cleanup.patch(DESIRED, live(OURS, annotations=annotations), CONTROLLER) == [
        {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"}]
    assert cleanup.patch(DESIRED, live(OURS, entry("helm", "Update", {})), CONTROLLER) == []


def test_objects_marked_ssa_merge_keep_every_manager() -> None:
    edited = entry("kubectl-edit", "Update", {"f:data": {"f:extra": {}}})
    merged = {**DESIRED, "metadata": {**DESIRED["metadata"],
                                      "annotations": {"kustomize.toolkit.fluxcd.io/ssa": "merge"}}}
    assert cleanup.patch(merged, live(OURS, edited), CONTROLLER) == []
