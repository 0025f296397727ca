"""Validation before apply, against a fake of the client seam: a kind the cluster does not serve is named with the
versions its group does serve (a removed API version), or as a missing CRD; a namespaced object without a
namespace fails as under Flux."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.errors import APIError, NotFound
from sandbox.kube.client import ResourceInfo
from sandbox.reconciler.kustomize.apply import Applier, ApplyError, drifted, is_immutable_error

GROUPS = {"/apis/batch": {"versions": [{"groupVersion": "batch/v1", "version": "v1"}]},
          "/apis/kustomize.toolkit.fluxcd.io": {"versions": [{"groupVersion": "kustomize.toolkit.fluxcd.io/v1"}]}}
SERVED = {("v1", "ConfigMap"): True}


class FakeKube:
    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        if (api_version, kind) not in SERVED:
            raise NotFound(f"no {api_version} {kind}")
        return ResourceInfo(api_version, kind, kind.lower() + "s", SERVED[(api_version, kind)])

    def request(self, method: str, path: str, **_: Any) -> Any:
        if path == "/version":
            return {"gitVersion": "v1.37.2"}
        if path in GROUPS:
            return GROUPS[path]
        raise NotFound(path)

    def get_or_none(self, *args: Any, **kwargs: Any) -> Any:
        return None


def validate(*objects: dict[str, Any]) -> str:
    with pytest.raises(ApplyError) as caught:
        Applier(FakeKube()).validate(list(objects))  # type: ignore[arg-type]
    return str(caught.value)


def obj(api_version: str, kind: str, name: str = "x", namespace: str | None = "ns") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_a_removed_api_version_names_the_versions_the_cluster_serves() -> None:
    message = validate(obj("batch/v1beta1", "CronJob"))
    assert 'no matches for kind "CronJob" in version "batch/v1beta1"' in message
    assert "the cluster (Kubernetes v1.37.2) serves batch/v1: use that apiVersion" in message
    message = validate(obj("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization"))
    assert "serves kustomize.toolkit.fluxcd.io/v1" in message


def test_a_group_nobody_serves_is_a_missing_crd() -> None:
    assert "(is its CRD installed?)" in validate(obj("example.com/v1", "Widget"))


def test_a_namespaced_object_without_a_namespace_fails_with_flux_s_words() -> None:
    message = validate(obj("v1", "ConfigMap", "settings", namespace=None))
    assert message == "ConfigMap/settings namespace not specified: the server could not find the requested resource\n"


def live_and_preview(**changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    live = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}, "resourceVersion": "7",
                         "managedFields": [{"manager": "kustomize-controller"}]},
            "spec": {"replicas": 2}, "status": {"readyReplicas": 1}}
    preview = {**live, "metadata": {**live["metadata"], "resourceVersion": "8"}, **changes}
    return live, preview


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, False),
    ({"status": {"readyReplicas": 2}}, False),  # status moved on between the reads: not drift
    ({"spec": {"replicas": 5}}, True),
    ({"metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web", "tier": "front"}}}, True),
    ({"metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}, "annotations": {"a": "b"}}}, True),
], ids=["same", "status-only", "spec", "label", "annotation"])
def test_drift_is_judged_as_flux_judges_it(changes: dict[str, Any], expected: bool) -> None:
    live, preview = live_and_preview(**changes)
    assert drifted(live, preview) is expected


@pytest.mark.parametrize(("status", "message", "expected"), [
    (422, 'Job.batch "migrate" is invalid: spec.template: Invalid value: ...: field is immutable', True),
    (409, "Operation cannot be fulfilled", True),
    (403, "admission webhook denied the request: spec.size is immutable after creation", True),
    (403, "admission webhook denied the request: not allowed", False),
], ids=["invalid", "conflict", "webhook-immutable", "webhook-other"])
def test_immutable_errors_are_detected_as_flux_detects_them(status: int, message: str, expected: bool) -> None:
    assert is_immutable_error(APIError(message, status=status)) is expected
