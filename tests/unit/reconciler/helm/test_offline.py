"""Reading a HelmRelease and its valuesFrom ConfigMaps/Secrets from a local folder, --values-from-file, the chart
source of spec.chart/chartRef, and the release name and namespace as helm-controller derives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import InputError
from sandbox.reconciler.helm import values as helm_values
from sandbox.reconciler.helm.offline import Folder, chart_source
from sandbox.reconciler.helm.render import ReleaseTarget

RELEASE = """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web
spec:
  chart:
    spec:
      chart: web
      sourceRef: {kind: HelmRepository, name: charts, namespace: sources}
  values: {replicas: 2}
  valuesFrom:
  - {kind: ConfigMap, name: web-values}
  - {kind: Secret, name: web-secret, valuesKey: password, targetPath: auth.password}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-values}
data:
  values.yaml: "replicas: 1\\ncolor: blue\\n"
"""


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "web.yaml").write_text(RELEASE)
    (tmp_path / "apps" / "notes.yaml").write_text(": not yaml : [")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "web.yaml").write_text(RELEASE)
    return tmp_path


def test_values_come_from_the_folder_and_files(tmp_path: Path) -> None:
    folder = Folder.read(_folder(tmp_path), "web", "apps")
    assert folder.helmrelease["metadata"]["namespace"] == "apps"
    (tmp_path / "password.txt").write_text("hunter22")
    folder.add_values_file("Secret/web-secret", tmp_path / "password.txt")
    composed = helm_values.compose_values(folder.helmrelease["spec"], "apps", folder.lookup)
    assert composed.values == {"replicas": 2, "color": "blue", "auth": {"password": "hunter22"}}
    assert "hunter22" in composed.secrets


def test_a_missing_release_and_a_bad_reference_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="HelmRelease/apps/nope not found"):
        Folder.read(_folder(tmp_path), "nope", "apps")
    folder = Folder.read(tmp_path, "web", "apps")
    with pytest.raises(InputError, match="expected ConfigMap/NAME=FILE"):
        folder.add_values_file("Deployment/x", tmp_path / "nothing")


def test_chart_source() -> None:
    release = {"metadata": {"name": "web", "namespace": "apps"},
               "spec": {"chart": {"spec": {"sourceRef": {"kind": "HelmRepository", "name": "charts",
                                                         "namespace": "sources"}}}}}
    assert chart_source(release) == ("HelmChart", "sources", "apps-web")
    release["spec"] = {"chartRef": {"kind": "OCIRepository", "name": "web-chart"}}
    assert chart_source(release) == ("OCIRepository", "apps", "web-chart")


@pytest.mark.parametrize(("spec", "expected"), [
    ({}, ("web", "apps")),
    ({"targetNamespace": "prod"}, ("prod-web", "prod")),
    ({"releaseName": "custom", "targetNamespace": "prod"}, ("custom", "prod")),
    ({"releaseName": "x" * 60}, ("x" * 40 + "-42f2d9733566", "apps")),  # ShortenName: 40 chars, a digest
])
def test_release_target(spec: dict[str, str], expected: tuple[str, str]) -> None:
    target = ReleaseTarget.of({"metadata": {"name": "web", "namespace": "apps"}, "spec": spec})
    assert (target.name, target.namespace) == expected
