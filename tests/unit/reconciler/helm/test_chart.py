"""Chart versions as helm-controller releases them (digest metadata for OCI sources), the chart loaded from an
archive with the real Helm SDK, and the HelmChart made from a template."""

from __future__ import annotations

import io
import tarfile

import pytest
import yaml

from sandbox.reconciler.helm import chart as charts

DIGEST = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def test_version_for_oci_sources_carries_the_digest() -> None:
    assert charts.version_for("1.2.3", "OCIRepository", f"1.2.3@{DIGEST}") == ("1.2.3+0123456789ab", DIGEST)
    assert charts.version_for("1.2.3", "OCIRepository", DIGEST) == ("1.2.3+0123456789ab", DIGEST)
    assert charts.version_for("1.2.3+build", "OCIRepository", f"1.2.3_build@{DIGEST}")[0] == "1.2.3+0123456789ab"
    assert charts.version_for("1.2.3", "HelmChart", "1.2.3") == ("1.2.3", "")
    assert charts.version_for("1.2.3", "ExternalArtifact", "v1") == ("1.2.3", "")
    with pytest.raises(charts.ChartError, match=r"artifact revision 2\.0\.0 does not match chart version 1\.2\.3"):
        charts.version_for("1.2.3", "OCIRepository", f"2.0.0@{DIGEST}")
    with pytest.raises(charts.ChartError, match="invalid artifact revision"):
        charts.version_for("1.2.3", "OCIRepository", "latest@sha256:abc")


def archive_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_load_chart_rewrites_the_version_for_oci_sources() -> None:
    archive = archive_of({"demo/Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": "demo", "version": "1.2.3",
                                                             "appVersion": "9"}),
                          "demo/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
    loaded = charts.load_chart(archive, "OCIRepository", f"1.2.3@{DIGEST}")
    assert (loaded.name, loaded.version, loaded.app_version, loaded.oci_digest) == \
        ("demo", "1.2.3+0123456789ab", "9", DIGEST)
    assert loaded.chart.version == "1.2.3+0123456789ab" and not loaded.has_crds
    plain = charts.load_chart(archive)
    assert plain.version == "1.2.3" and plain.oci_digest == ""


def test_an_archive_that_is_not_a_chart_says_so() -> None:
    with pytest.raises(charts.ChartError, match=r"^Could not load chart: ") as err:
        charts.load_chart(archive_of({"Chart.yaml": "name: x\n"}))
    assert err.value.reason == "ArtifactFailed"


def test_helm_chart_from_template() -> None:
    hr = {"metadata": {"name": "web", "namespace": "apps"},
          "spec": {"interval": "5m", "chart": {
              "metadata": {"labels": {"team": "a"}, "annotations": {"note": "n"}},
              "spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "charts",
                                                     "namespace": "flux-system"},
                       "valuesFiles": ["values-prod.yaml"]}}}}
    chart = charts.helm_chart_from_template(hr)
    assert chart["metadata"] == {"name": "apps-web", "namespace": "flux-system", "annotations": {"note": "n"},
                                 "labels": {"team": "a", "helm.toolkit.fluxcd.io/name": "web",
                                            "helm.toolkit.fluxcd.io/namespace": "apps"}}
    assert chart["spec"] == {"chart": "web", "version": "*", "interval": "5m", "reconcileStrategy": "ChartVersion",
                             "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                             "valuesFiles": ["values-prod.yaml"]}
    assert charts.chart_ref_target(hr) == ("HelmChart", "flux-system", "apps-web")


CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"""


def test_crds_are_taken_out_of_the_chart_helm_gets() -> None:
    sub = archive_of({"sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
                      "sub/crds/gadgets.yaml": CRD.replace("widgets", "gadgets").replace("Widget", "Gadget")})
    files = {"demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
             "demo/crds/widgets.yaml": CRD + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray}\n",
             "demo/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}
    archive = archive_of({**files, "demo/charts/sub-0.1.0.tgz": ""})
    archive = _with_member(archive, "demo/charts/sub-0.1.0.tgz", sub)
    loaded = charts.load_chart(archive)
    assert sorted(c["metadata"]["name"] for c in loaded.crds) == ["gadgets.example.com", "widgets.example.com"]
    assert loaded.has_crds and loaded.chart.crds == []  # Helm never installs them itself
    assert [t["name"] for t in loaded.chart.templates] == ["templates/cm.yaml"]


def _with_member(archive: bytes, name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source, \
            tarfile.open(fileobj=out, mode="w:gz") as tar:
        for member in source.getmembers():
            content = data if member.name == name else source.extractfile(member).read()  # type: ignore[union-attr]
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))
    return out.getvalue()


def test_crd_policies_default_to_create() -> None:
    from sandbox.reconciler.helm import crds

    obj = {"spec": {"install": {"crds": "Skip"}}}
    assert crds.policy(obj, "install") == "Skip" and crds.policy(obj, "upgrade") == "Create"
    assert crds.policy({"spec": {}}, "install") == "Create"
