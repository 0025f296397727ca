"""The HelmRelease controller with post-renderers and drift detection, on the embedded cluster: what `sandbox build
helmrelease` prints is the manifest the controller installed; a change of the post-renderers upgrades the release;
drift made by hand is corrected (mode enabled) or only reported (mode warn), as helm-controller does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from sandbox import helmrepo
from sandbox.handle import SandboxHandle
from sandbox.reconciler import ops
from sandbox.reconciler.helm import drift
from sandbox.reconciler.runtime.controller import REQUESTED_AT
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

Obj = dict[str, Any]
HR_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: web
          image: nginx:1.25
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  message: {{ .Values.message | quote }}
"""
POST_RENDERERS = [{"kustomize": {
    "images": [{"name": "nginx", "newTag": "1.27.0"}],
    "patches": [{"target": {"kind": "Deployment"},
                 "patch": "- op: add\n  path: /metadata/annotations/patched\n  value: 'one'\n"}]}}]


class App:
    def __init__(self, sandbox: SandboxHandle, tmp_path: Path) -> None:
        self.sandbox, self.kube, self.tmp = sandbox, sandbox.kube, tmp_path
        self.chart = f"pr{uuid.uuid4().hex[:6]}"
        self.namespace = f"{self.chart}-ns"
        self.chart_dir = tmp_path / self.chart
        (self.chart_dir / "templates").mkdir(parents=True)
        (self.chart_dir / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": self.chart,
                                                                   "version": "1.0.0"}))
        (self.chart_dir / "values.yaml").write_text("replicaCount: 1\nmessage: hello\n")
        (self.chart_dir / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
        (self.chart_dir / "templates" / "configmap.yaml").write_text(CONFIGMAP)
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
                        field_manager="test")
        pushed = helmrepo.push_chart(sandbox.name, self.chart_dir)
        self.kube.apply({"apiVersion": SOURCE_API, "kind": "OCIRepository",
                         "metadata": {"name": self.chart, "namespace": self.namespace},
                         "spec": {"url": f"{pushed['oci']['repository']}/{self.chart}", "insecure": True,
                                  "interval": "10m", "ref": {"semver": "*"},
                                  "layerSelector": {"mediaType": HELM_LAYER, "operation": "copy"}}},
                        field_manager="test")

    def release(self, **spec: Any) -> Obj:
        body = {"apiVersion": HR_API, "kind": "HelmRelease", "metadata": {"name": "web", "namespace": self.namespace},
                "spec": {"interval": "10m", "timeout": "30s",
                         "chartRef": {"kind": "OCIRepository", "name": self.chart}, **spec}}
        self.kube.apply(body, field_manager="test")
        return body

    def get(self) -> Obj:
        return self.kube.get(HR_API, "HelmRelease", "web", self.namespace)

    def wait(self, predicate: Callable[[Obj], bool], what: str, timeout: float = 60) -> Obj:
        def check() -> Obj | None:
            obj = self.get()
            return obj if predicate(obj) else None

        return wait_until(check, timeout=timeout, what=f"HelmRelease web {what}", interval=0.2,
                          describe=lambda: json.dumps((self.get().get("status") or {}).get("conditions")))

    def wait_ready(self, version: int) -> Obj:
        def ready(obj: Obj) -> bool:
            condition = ops.ready_condition(obj)
            latest = ((obj.get("status") or {}).get("history") or [{}])[0]
            return condition.get("status") == "True" and condition.get("observedGeneration") == \
                obj["metadata"]["generation"] and latest.get("version") == version
        return self.wait(ready, f"to be Ready with release v{version}")

    def reconcile(self) -> None:
        self.kube.patch(HR_API, "HelmRelease", "web", self.namespace,
                        {"metadata": {"annotations": {REQUESTED_AT: uuid.uuid4().hex}}})

    def events(self, reason: str) -> list[Obj]:
        return [e for e in ops.events(self.kube, self.namespace, for_object="HelmRelease/web")
                if e.get("reason") == reason]

    def deployment(self) -> Obj:
        return self.kube.get("apps/v1", "Deployment", "web", self.namespace)

    def close(self) -> None:
        self.kube.delete(HR_API, "HelmRelease", "web", self.namespace)
        wait_until(lambda: self.kube.get_or_none(HR_API, "HelmRelease", "web", self.namespace) is None,
                   timeout=60, what="HelmRelease web to be deleted")
        self.kube.delete(SOURCE_API, "OCIRepository", self.chart, self.namespace)
        self.kube.delete(SOURCE_API, "HelmRepository", "charts", self.namespace)
        self.kube.delete("v1", "Namespace", self.namespace)


@pytest.fixture
def app(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[App]:
    made = App(sandbox, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _drifted(obj: Obj) -> Obj:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Drifted"), {})


def test_post_rendered_release_equals_build_and_upgrades_on_a_post_renderer_change(app: App) -> None:
    body = app.release(values={"replicaCount": 2}, postRenderers=POST_RENDERERS,
                       commonMetadata={"labels": {"team": "render"}})
    hr = app.wait_ready(1)
    deployment = app.deployment()
    assert deployment["metadata"]["annotations"]["patched"] == "one"
    assert deployment["metadata"]["labels"]["team"] == "render"
    assert deployment["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27.0"
    assert hr["status"]["observedPostRenderersDigest"].startswith("sha256:")
    assert hr["status"]["observedCommonMetadataDigest"].startswith("sha256:")

    folder = app.tmp / "repo"
    folder.mkdir()
    (folder / "release.yaml").write_text(yaml.safe_dump(body))
    built = run_cli("build", "helmrelease", "web", "-n", app.namespace, "--path", str(folder), "--chart",
                    str(app.chart_dir), "--name", app.sandbox.name)
    assert built.exit_code == 0, built.output
    config = helm.Config(kubeconfig_path=app.sandbox.kubeconfig, namespace=app.namespace, storage_driver="secret")
    try:
        stored = str(config.status("web")["manifest"])
    finally:
        config.close()
    assert drift.manifest_objects(built.stdout) == drift.manifest_objects(stored)
    same = run_cli("diff", "helmrelease", "web", "-n", app.namespace, "--chart", str(app.chart_dir),
                   "--name", app.sandbox.name)
    assert same.exit_code == 0, same.output
    # The chart the OCIRepository publishes, the HelmRelease of the cluster: nothing to change either.
    from_source = run_cli("diff", "helmrelease", "web", "-n", app.namespace, "--name", app.sandbox.name)
    assert from_source.exit_code == 0, from_source.output
    built_from_source = run_cli("build", "helmrelease", "web", "-n", app.namespace, "--path", str(folder),
                                "--name", app.sandbox.name)
    assert drift.manifest_objects(built_from_source.stdout) == drift.manifest_objects(stored)

    changed = [{"kustomize": {**POST_RENDERERS[0]["kustomize"], "patches": [
        {"target": {"kind": "Deployment"}, "patch": "- op: add\n  path: /metadata/annotations/patched\n"
                                                    "  value: 'two'\n"}]}}]
    app.release(values={"replicaCount": 2}, postRenderers=changed, commonMetadata={"labels": {"team": "render"}})
    app.wait_ready(2)
    assert app.deployment()["metadata"]["annotations"]["patched"] == "two"


def test_drift_is_corrected_when_enabled_and_reported_when_warned(app: App) -> None:
    app.release(values={"replicaCount": 2}, driftDetection={
        "mode": "enabled", "ignore": [{"paths": ["/data/message"], "target": {"kind": "ConfigMap"}}]})
    app.wait_ready(1)
    app.kube.patch("apps/v1", "Deployment", "web", app.namespace, {"spec": {"replicas": 4}},
                   field_manager="kubectl-edit")
    app.kube.patch("v1", "ConfigMap", "web-settings", app.namespace, {"data": {"message": "edited"}},
                   field_manager="kubectl-edit")
    app.reconcile()
    wait_until(lambda: app.deployment()["spec"]["replicas"] == 2, timeout=60, what="drift to be corrected")
    detected = wait_until(lambda: app.events("DriftDetected"), timeout=30, what="a DriftDetected event")
    assert f"Deployment/{app.namespace}/web changed" in detected[0]["message"]
    assert "ConfigMap" not in detected[0]["message"]  # ignored
    assert wait_until(lambda: app.events("DriftCorrected"), timeout=30, what="a DriftCorrected event")
    app.wait(lambda obj: _drifted(obj).get("reason") == "NoDriftDetected", "to say no drift is left")
    settings = app.kube.get("v1", "ConfigMap", "web-settings", app.namespace)
    assert settings["data"]["message"] == "edited"  # the ignored path was left alone

    # Without the ignore rule the edited ConfigMap is drift now, and warn only reports it.
    app.release(values={"replicaCount": 2}, driftDetection={"mode": "warn"})
    warned = app.wait(lambda obj: obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
                      and _drifted(obj).get("status") == "True", "to report the ConfigMap's drift")
    assert f"ConfigMap/{app.namespace}/web-settings changed" in _drifted(warned)["message"]
    app.kube.patch("apps/v1", "Deployment", "web", app.namespace, {"spec": {"replicas": 5}},
                   field_manager="kubectl-edit")
    app.reconcile()
    warned = app.wait(lambda obj: "Deployment/" in _drifted(obj).get("message", ""), "to report the new drift")
    assert f"Deployment/{app.namespace}/web changed (0 additions, 1 changes, 0 removals)" in \
        _drifted(warned)["message"]
    assert app.deployment()["spec"]["replicas"] == 5
    assert app.kube.get("v1", "ConfigMap", "web-settings", app.namespace)["data"]["message"] == "edited"
    assert len(app.events("DriftCorrected")) == 1  # from the enabled mode only


def test_preserve_values_renders_with_the_installed_values(app: App) -> None:
    app.release(values={"replicaCount": 2, "message": "kept"})
    app.wait_ready(1)
    app.release(values={"replicaCount": 3}, upgrade={"preserveValues": True})
    # Not wait_ready: with preserveValues the controller upgrades again at each reconcile (the stored, merged
    # values never match the composed ones' digest) — a state-machine matter reported to the controller's owner.
    wait_until(lambda: app.deployment()["spec"]["replicas"] == 3, timeout=60, what="the upgrade to 3 replicas")
    # Rendered (and post-rendered) with the installed release's values under the new ones, as Helm's ReuseValues.
    assert app.kube.get("v1", "ConfigMap", "web-settings", app.namespace)["data"]["message"] == "kept"


def test_build_and_diff_with_the_chart_of_a_helm_repository(app: App) -> None:
    app.kube.apply({"apiVersion": SOURCE_API, "kind": "HelmRepository",
                    "metadata": {"name": "charts", "namespace": app.namespace},
                    "spec": {"url": helmrepo.repository_url(app.sandbox.name), "interval": "10m"}},
                   field_manager="test")
    template = {"spec": {"chart": app.chart, "version": "1.x", "sourceRef": {"kind": "HelmRepository",
                                                                          "name": "charts"}}}
    body = {"apiVersion": HR_API, "kind": "HelmRelease", "metadata": {"name": "web", "namespace": app.namespace},
            "spec": {"interval": "10m", "timeout": "30s", "chart": template, "values": {"replicaCount": 2},
                     "postRenderers": POST_RENDERERS}}
    app.kube.apply(body, field_manager="test")
    app.wait_ready(1)
    folder = app.tmp / "repo"
    folder.mkdir()
    (folder / "release.yaml").write_text(yaml.safe_dump(body))
    # The chart comes from the HelmChart "<namespace>-web" the controller made from the template.
    built = run_cli("build", "helmrelease", "web", "-n", app.namespace, "--path", str(folder),
                    "--name", app.sandbox.name)
    assert built.exit_code == 0, built.output
    config = helm.Config(kubeconfig_path=app.sandbox.kubeconfig, namespace=app.namespace, storage_driver="secret")
    try:
        stored = str(config.status("web")["manifest"])
    finally:
        config.close()
    assert drift.manifest_objects(built.stdout) == drift.manifest_objects(stored)
    same = run_cli("diff", "helmrelease", "web", "-n", app.namespace, "--path", str(folder),
                   "--name", app.sandbox.name)
    assert same.exit_code == 0, same.output
    body["spec"]["values"] = {"replicaCount": 3}
    (folder / "release.yaml").write_text(yaml.safe_dump(body))
    changed = run_cli("diff", "helmrelease", "web", "-n", app.namespace, "--path", str(folder), "-o", "json",
                      "--name", app.sandbox.name)
    assert changed.exit_code == 1, changed.output
    actions = {item["subject"]: item["action"] for item in json.loads(changed.stdout)["objects"]}
    assert actions == {f"Deployment/{app.namespace}/web": "configured",
                       f"ConfigMap/{app.namespace}/web-settings": "unchanged"}
