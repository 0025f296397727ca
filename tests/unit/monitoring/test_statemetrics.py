"""kube-state-metrics' custom-resource-state configuration: gotk_resource_info for every kind the sandbox serves,
with flux2-monitoring-example's labels and paths."""

from __future__ import annotations

from sandbox.monitoring import statemetrics
from sandbox.reconciler import support
from sandbox.reconciler.apis import kinds


def _resources() -> dict[str, dict]:  # type: ignore[type-arg]
    document = statemetrics.custom_resource_state()
    assert document["kind"] == "CustomResourceStateMetrics"
    return {r["groupVersionKind"]["kind"]: r for r in document["spec"]["resources"]}


def test_every_kind_of_the_table_at_its_served_version() -> None:
    resources = _resources()
    assert set(resources) == {entry.kind.kind for entry in support.TABLE}
    assert resources["HelmRelease"]["groupVersionKind"] == {"group": "helm.toolkit.fluxcd.io", "version": "v2",
                                                            "kind": "HelmRelease"}
    for resource in resources.values():
        assert resource["metricNamePrefix"] == "gotk"
        (metric,) = resource["metrics"]
        assert metric["name"] == "resource_info"
        assert metric["each"] == {"type": "Info", "info": {"labelsFromPath": {"name": ["metadata", "name"]}}}


def test_kustomization_labels_are_the_example_s() -> None:
    labels = _resources()["Kustomization"]["metrics"][0]["labelsFromPath"]
    assert labels == {"exported_namespace": ["metadata", "namespace"],
                      "ready": ["status", "conditions", "[type=Ready]", "status"],
                      "suspended": ["spec", "suspend"],
                      "revision": ["status", "lastAppliedRevision"],
                      "source_name": ["spec", "sourceRef", "name"]}


def test_alert_and_provider_have_no_ready_label_and_sources_their_url() -> None:
    resources = _resources()
    for kind in ("Alert", "Provider"):
        assert set(resources[kind]["metrics"][0]["labelsFromPath"]) == {"exported_namespace", "suspended"}
    git = resources["GitRepository"]["metrics"][0]["labelsFromPath"]
    assert git["revision"] == ["status", "artifact", "revision"] and git["url"] == ["spec", "url"]


def test_a_chosen_subset() -> None:
    document = statemetrics.custom_resource_state((kinds.KUSTOMIZATION,))
    assert [r["groupVersionKind"]["kind"] for r in document["spec"]["resources"]] == ["Kustomization"]
