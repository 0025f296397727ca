"""The flux CLI's embedded manifests: each controller's kustomize base points at manifests made from that
controller's module (as its release makes them), never at release URLs; an unknown resource is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandbox.errors import SandboxError
from sandbox.fluxdev import release

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: widget-controller}
spec:
  selector: {matchLabels: {app: widget-controller}}
  template:
    metadata: {labels: {app: widget-controller}}
    spec: {containers: [{name: manager, image: fluxcd/widget-controller}]}
"""


def _controller(root: Path) -> Path:
    (root / "config" / "crd" / "bases").mkdir(parents=True)
    (root / "config" / "crd" / "bases" / "widgets.yaml").write_text(CRD)
    (root / "config" / "crd" / "kustomization.yaml").write_text("resources: [bases/widgets.yaml]\n")
    (root / "config" / "manager").mkdir(parents=True)
    (root / "config" / "manager" / "deployment.yaml").write_text(DEPLOYMENT)
    (root / "config" / "manager" / "kustomization.yaml").write_text(
        "resources: [deployment.yaml]\nimages:\n- name: fluxcd/widget-controller\n  newTag: v1.2.3\n")
    return root


def _base(root: Path, resources: list[str]) -> Path:
    base = root / "manifests" / "bases" / "widget-controller"
    base.mkdir(parents=True)
    (base / "account.yaml").write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: widget-controller}\n")
    (base / "kustomization.yaml").write_text(yaml.safe_dump({"resources": resources}))
    return base


def test_release_urls_become_the_controllers_own_manifests(tmp_path: Path) -> None:
    url = "https://github.com/fluxcd/widget-controller/releases/download/v1.2.3"
    base = _base(tmp_path / "flux2", [f"{url}/widget-controller.crds.yaml",
                                      f"{url}/widget-controller.deployment.yaml", "account.yaml"])
    release.controller_bundle(base, _controller(tmp_path / "widget"))
    assert yaml.safe_load((base / "kustomization.yaml").read_text())["resources"] == [
        "widget-controller.crds.yaml", "widget-controller.deployment.yaml", "account.yaml"]
    deployment = yaml.safe_load((base / "widget-controller.deployment.yaml").read_text())
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "fluxcd/widget-controller:v1.2.3"
    assert "widgets.example.com" in (base / "widget-controller.crds.yaml").read_text()


def test_a_resource_neither_in_the_base_nor_made_is_an_error(tmp_path: Path) -> None:
    base = _base(tmp_path / "flux2", ["https://example.com/other.yaml"])
    with pytest.raises(SandboxError, match=r"\['other.yaml'\]"):
        release.controller_bundle(base, _controller(tmp_path / "widget"))
