"""The pure parts of the CLI's Helm verbs: revisions and rows as flux get shows them, the sources a --with-source
reconcile walks, kind spellings."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.cli import helm_ops
from sandbox.errors import InputError
from sandbox.reconciler import ops


def release(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "apps"}, "spec": spec, "status": status or {}}


def test_release_revision_is_the_latest_snapshot_chart_version_else_the_last_attempted() -> None:
    history = [{"chartVersion": "1.2.0", "version": 3}, {"chartVersion": "1.1.0", "version": 2}]
    assert helm_ops.revision_of(release({}, {"history": history, "lastAttemptedRevision": "1.3.0"})) == "1.2.0"
    assert helm_ops.revision_of(release({}, {"lastAttemptedRevision": "1.3.0"})) == "1.3.0"
    assert helm_ops.revision_of(release({})) == ""


def test_summary_of_a_release_and_of_an_oci_helm_repository() -> None:
    ready = {"type": "Ready", "status": "False", "reason": "UpgradeFailed", "message": "upgrade retries exhausted"}
    summary = helm_ops.summarize(release({"suspend": True}, {"conditions": [ready], "lastAttemptedRevision": "2.0.0"}))
    assert (summary["revision"], summary["ready"], summary["message"], summary["suspended"]) == \
        ("2.0.0", "False", "upgrade retries exhausted", True)
    oci = {"kind": "HelmRepository", "metadata": {"name": "charts", "namespace": "flux-system"},
           "spec": {"type": "oci", "url": "oci://x/charts"}}
    summary = helm_ops.summarize(oci)
    assert (summary["ready"], summary["message"]) == ("True", "Helm repository is Ready")
    assert helm_ops.is_static(oci)
    # One that carries a Ready condition (NotSupported when no controller serves the kind) shows it: no false green.
    not_supported = {**oci, "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NotSupported",
                                                       "message": "HelmRepository is not supported"}]}}
    summary = helm_ops.summarize(not_supported)
    assert (summary["ready"], summary["message"]) == ("False", "HelmRepository is not supported")
    assert not helm_ops.static_without_status(not_supported)


def test_truncate_hex_cuts_digests_to_eight_characters() -> None:
    digest = "sha256:" + "ab12" * 16
    assert helm_ops.truncate_hex(digest) == "sha256:ab12ab12"
    assert helm_ops.truncate_hex(f"revision {digest}") == "revision sha256:ab12ab12"
    assert helm_ops.truncate_hex("6.5.0") == "6.5.0"


@pytest.mark.parametrize(("spec", "expected"), [
    ({"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}},
     (helm_ops.HELM_CHART, "apps-web", "apps")),
    ({"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts",
                                                           "namespace": "flux-system"}}}},
     (helm_ops.HELM_CHART, "apps-web", "flux-system")),
    ({"chartRef": {"kind": "OCIRepository", "name": "podinfo"}}, (ops.OCI_REPOSITORY, "podinfo", "apps")),
    ({"chartRef": {"kind": "HelmChart", "name": "podinfo", "namespace": "shared"}},
     (helm_ops.HELM_CHART, "podinfo", "shared")),
], ids=["generated-chart", "generated-chart-in-source-namespace", "chart-ref-oci", "chart-ref-helmchart"])
def test_release_source_is_the_chart_ref_or_the_generated_helmchart(spec: dict[str, Any],
                                                                    expected: tuple[Any, str, str]) -> None:
    assert helm_ops.release_source(release(spec)) == expected


def test_release_source_label_as_flux_get_show_source() -> None:
    chart = {"chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}
    assert helm_ops.release_source_label(release(chart)) == "HelmRepository/apps/charts"
    ref = {"chartRef": {"kind": "OCIRepository", "name": "podinfo", "namespace": "shared"}}
    assert helm_ops.release_source_label(release(ref)) == "OCIRepository/shared/podinfo"


def test_chart_source_of_an_unsupported_kind_is_an_input_error() -> None:
    chart = {"kind": "HelmChart", "metadata": {"name": "c", "namespace": "apps"},
             "spec": {"sourceRef": {"kind": "Bucket", "name": "b"}}}
    with pytest.raises(InputError, match="HelmChart/apps/c: cannot reconcile source of kind 'Bucket'"):
        helm_ops.chart_source(chart)
    chart["spec"]["sourceRef"] = {"kind": "HelmRepository", "name": "charts"}
    assert helm_ops.chart_source(chart) == (helm_ops.HELM_REPOSITORY, "charts", "apps")


def test_kind_named_accepts_any_case() -> None:
    assert helm_ops.kind_named("helmrelease") == "HelmRelease"
    assert helm_ops.kind_named("HELMCHART") == "HelmChart"
    assert helm_ops.kind_named("Widget") == "Widget"


def test_success_messages_are_flux_ones() -> None:
    assert helm_ops.success_message(release({}, {"history": [{"chartVersion": "1.0.0"}]})) == \
        "applied revision 1.0.0"
    chart = {"kind": "HelmChart", "metadata": {"name": "c"}, "status": {"artifact": {"revision": "6.5.0"}}}
    assert helm_ops.success_message(chart) == "fetched revision 6.5.0"
