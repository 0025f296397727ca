"""gotk_resource_info labels as flux2-monitoring-example's kube-state-metrics configuration derives them."""

from __future__ import annotations

from sandbox.reconciler.runtime.metrics import Metrics, resource_info_labels


def ks(**spec: object) -> dict[str, object]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, **spec},
            "status": {"lastAppliedRevision": "main@sha1:abc",
                       "conditions": [{"type": "Ready", "status": "False", "reason": "BuildFailed"}]}}


def test_kustomization_labels() -> None:
    labels = resource_info_labels(ks(suspend=True), {"url": "ignored: not an upstream label of this kind"})
    assert {k: v for k, v in labels.items() if v} == {
        "customresource_group": "kustomize.toolkit.fluxcd.io", "customresource_kind": "Kustomization",
        "customresource_version": "v1", "exported_namespace": "flux-system", "name": "apps", "ready": "False",
        "suspended": "true", "revision": "main@sha1:abc", "source_name": "fleet"}


def test_absent_fields_leave_labels_empty() -> None:
    obj = ks()
    obj["status"] = {}
    labels = resource_info_labels(obj, {})
    assert labels["ready"] == "" and labels["suspended"] == "" and labels["revision"] == ""
    assert resource_info_labels(ks(suspend=False), {})["suspended"] == "false"


def test_per_kind_labels() -> None:
    chart = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart", "metadata": {"name": "c"},
             "spec": {"chart": "podinfo", "version": "6.x", "sourceRef": {"name": "repo"}}}
    labels = resource_info_labels(chart, {"source_name": "repo"})
    assert (labels["chart_name"], labels["chart_version"], labels["source_name"]) == ("podinfo", "6.x", "")
    receiver = {"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver", "metadata": {"name": "r"},
                "status": {"webhookPath": "/hook/abc"}}
    assert resource_info_labels(receiver, {})["webhook_path"] == "/hook/abc"


def test_kinds_upstream_does_not_list_take_the_reconcilers_labels() -> None:
    obj = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact", "metadata": {"name": "x"}}
    assert resource_info_labels(obj, {"revision": "v1"})["revision"] == "v1"


def test_series_is_replaced_when_labels_change() -> None:
    metrics = Metrics()
    metrics.set_resource_info(ks(), {})
    broken = ks()
    broken["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    metrics.set_resource_info(broken, {})
    samples = [s for m in metrics.registry.collect() if m.name == "gotk_resource_info" for s in m.samples]
    assert [s.labels["ready"] for s in samples] == ["True"]
