"""HelmRelease rendering against the embedded cluster and Helm's SDK: `sandbox build helmrelease` prints exactly the
manifest a release of the prepared (post-rendered) chart stores; hooks, tests, history and rollback behave on such a
release; `sandbox diff helmrelease` exit codes; drift detection warns, corrects and honours ignore rules."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from sandbox.handle import SandboxHandle
from sandbox.reconciler.helm import drift, render
from sandbox.reconciler.helm import values as helm_values
from sandbox.reconciler.helm.offline import Folder
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli

Obj = dict[str, Any]

HOOK = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hook
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
    "helm.sh/hook-delete-policy": before-hook-creation
data:
  revision: "{{ .Release.Revision }}"
"""
BRACES = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-braces
data:
  template: '{{ "{{ .Values.not.rendered }}" }}'
"""


def _release_yaml(namespace: str, replicas: int, *, drift_mode: str = "", ignore: list[Obj] | None = None) -> str:
    spec: Obj = {
        "interval": "5m",
        "chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        "values": {"replicaCount": replicas},
        "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"}],
        "commonMetadata": {"labels": {"team": "render"}},
        "postRenderers": [{"kustomize": {
            "images": [{"name": "nginx", "newTag": "1.27.0"}],
            "patches": [{"target": {"kind": "Deployment"},
                         "patch": "- op: add\n  path: /metadata/annotations/patched\n  value: 'yes'\n"}]}}],
    }
    if drift_mode:
        spec["driftDetection"] = {"mode": drift_mode, **({"ignore": ignore} if ignore else {})}
    values = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-values", "namespace": namespace},
              "data": {"values.yaml": "service:\n  port: 8080\n"}}
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "web", "namespace": namespace}, "spec": spec}
    return yaml.safe_dump_all([release, values], sort_keys=False)


@dataclass
class Installed:
    sandbox: SandboxHandle
    namespace: str
    chart_dir: Path
    folder: Path
    config: helm.Config

    def write(self, replicas: int, **kwargs: Any) -> Folder:
        (self.folder / "release.yaml").write_text(_release_yaml(self.namespace, replicas, **kwargs))
        return Folder.read(self.folder, "web", self.namespace)

    def release(self, replicas: int, workdir: Path, *, upgrade: bool = False, revision: int = 1,
                **kwargs: Any) -> Obj:
        """Install (or upgrade) release "web" as the controller would: values composed, chart prepared."""
        folder = self.write(replicas, **kwargs)
        composed = helm_values.compose_values(folder.helmrelease["spec"], self.namespace, folder.lookup)
        with helm.Chart.load(self.chart_dir) as chart:
            prepared = render.prepare_chart(chart, composed.values, folder.helmrelease, workdir, config=self.config,
                                            revision=revision, upgrade=upgrade)
        with helm.Chart.load(prepared) as chart:
            act = self.config.upgrade if upgrade else self.config.install
            result: Obj = act(chart, "web", composed.values, namespace=self.namespace, timeout=60)
        return result

    def cli(self, *args: str) -> Any:
        return run_cli(*args, "web", "-n", self.namespace, "--path", str(self.folder), "--chart", str(self.chart_dir),
                       "--name", self.sandbox.name)


@pytest.fixture
def installed(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[Installed]:
    namespace = f"render-{secrets.token_hex(3)}"
    sandbox.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                       field_manager="test")
    helm.Chart.create("web", tmp_path)
    chart_dir = tmp_path / "web"
    (chart_dir / "templates" / "hook.yaml").write_text(HOOK)
    (chart_dir / "templates" / "braces.yaml").write_text(BRACES)
    folder = tmp_path / "repo"
    folder.mkdir()
    config = helm.Config(kubeconfig_path=sandbox.kubeconfig, namespace=namespace, storage_driver="secret")
    try:
        yield Installed(sandbox, namespace, chart_dir, folder, config)
    finally:
        config.close()
        sandbox.kube.delete("v1", "Namespace", namespace)
        shutil.rmtree(tmp_path, ignore_errors=True)


def _objects(manifest: str) -> list[Obj]:
    return drift.manifest_objects(manifest)


def test_build_prints_the_manifest_the_release_stores(installed: Installed, tmp_path: Path) -> None:
    installed.write(2)
    built = installed.cli("build", "helmrelease")
    assert built.exit_code == 0, built.output
    release = installed.release(2, tmp_path / "work1")
    assert _objects(built.stdout) == _objects(str(release["manifest"]))
    kube, namespace = installed.sandbox.kube, installed.namespace
    deployment = kube.get("apps/v1", "Deployment", "web", namespace)
    labels = deployment["metadata"]["labels"]
    assert labels["helm.toolkit.fluxcd.io/name"] == "web" and labels["helm.toolkit.fluxcd.io/namespace"] == namespace
    assert labels["team"] == "render"
    assert deployment["metadata"]["annotations"]["patched"] == "yes"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27.0"
    assert kube.get("v1", "Service", "web", namespace)["spec"]["ports"][0]["port"] == 8080
    # Text that looks like a template survives the escaping of the post-rendered chart.
    assert kube.get("v1", "ConfigMap", "web-braces", namespace)["data"]["template"] == "{{ .Values.not.rendered }}"
    as_json = installed.cli("build", "helmrelease", "-o", "json")
    assert json.loads(as_json.stdout) == _objects(built.stdout)


def test_hooks_tests_history_and_rollback_work_on_a_post_rendered_release(installed: Installed,
                                                                          tmp_path: Path) -> None:
    kube, namespace, config = installed.sandbox.kube, installed.namespace, installed.config
    first = installed.release(1, tmp_path / "work1")
    hook = kube.get("v1", "ConfigMap", "web-hook", namespace)
    assert hook["data"]["revision"] == "1"
    assert hook["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == "web"  # hooks are post-rendered too
    assert "web-hook" not in str(first["manifest"])  # and stay hooks, outside the manifest
    installed.release(3, tmp_path / "work2", upgrade=True, revision=2)
    assert kube.get("v1", "ConfigMap", "web-hook", namespace)["data"]["revision"] == "2"
    assert kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["replicas"] == 3
    config.test("web", timeout=60)
    hooks = {hook["name"]: hook for hook in config.get_all("web").get("hooks") or []}
    assert set(hooks) == {"web-hook", "web-test-connection"}, hooks
    run = hooks["web-test-connection"].get("last_run") or hooks["web-test-connection"].get("lastRun") or {}
    assert run.get("phase") == "Succeeded", hooks["web-test-connection"]
    history = config.history("web")
    assert [(h["revision"], h["chart_name"], h["chart_version"]) for h in history] == [(1, "web", "0.1.0"),
                                                                                       (2, "web", "0.1.0")]
    config.rollback("web", version=1, timeout=60)
    wait_until(lambda: kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["replicas"] == 1, timeout=30,
               what="the rollback to bring back one replica")
    assert _objects(str(config.status("web")["manifest"])) == _objects(str(first["manifest"]))
    assert config.get_values("web") == {"replicaCount": 1, "service": {"port": 8080}}


def test_diff_helmrelease_exit_codes(installed: Installed, tmp_path: Path) -> None:
    installed.release(2, tmp_path / "work1")
    same = installed.cli("diff", "helmrelease")
    assert same.exit_code == 0, same.output
    installed.write(4)
    changed = installed.cli("diff", "helmrelease")
    assert changed.exit_code == 1, changed.output
    assert f"► Deployment/{installed.namespace}/web drifted" in changed.stdout
    assert "-  replicas: 2\n" in changed.stdout and "+  replicas: 4\n" in changed.stdout
    # The diff changed nothing.
    assert installed.sandbox.kube.get("apps/v1", "Deployment", "web", installed.namespace)["spec"]["replicas"] == 2
    missing = run_cli("diff", "helmrelease", "nope", "-n", installed.namespace, "--path", str(installed.folder),
                      "--chart", str(installed.chart_dir), "--name", installed.sandbox.name)
    assert missing.exit_code == 2 and "HelmRelease" in missing.output


def _drift(installed: Installed, manifest: str, mode: str, ignore: list[Obj] | None = None,
           ) -> tuple[drift.DriftOutcome, list[tuple[str, str, str]]]:
    folder = installed.write(2, drift_mode=mode, ignore=ignore)
    events: list[tuple[str, str, str]] = []
    outcome = drift.reconcile_drift(installed.sandbox.kube, folder.helmrelease, [], manifest=manifest,
                                    release_name="web", release_namespace=installed.namespace,
                                    full_release_name=f"{installed.namespace}/web.v1",
                                    record=lambda *event: events.append(event))
    return outcome, events


def test_drift_is_warned_corrected_and_ignored(installed: Installed, tmp_path: Path) -> None:
    kube, namespace = installed.sandbox.kube, installed.namespace
    manifest = str(installed.release(2, tmp_path / "work1")["manifest"])
    outcome, _ = _drift(installed, manifest, "enabled")
    assert not outcome.drifted, outcome.conditions
    # `kubectl edit`-style changes: another manager sets replicas, a ConfigMap is deleted.
    kube.patch("apps/v1", "Deployment", "web", namespace, {"spec": {"replicas": 5}}, field_manager="kubectl-edit")
    kube.delete("v1", "ConfigMap", "web-braces", namespace)

    ignored, _ = _drift(installed, manifest, "enabled", ignore=[
        {"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}},
        {"paths": [""], "target": {"kind": "ConfigMap", "name": "web-braces"}}])
    assert not ignored.drifted
    assert kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["replicas"] == 5

    warned, events = _drift(installed, manifest, "warn")
    assert warned.drifted and [e[1] for e in events] == ["DriftDetected"]
    assert f"Deployment/{namespace}/web changed" in events[0][2] and f"ConfigMap/{namespace}/web-braces removed" \
        in events[0][2]
    assert kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["replicas"] == 5

    _, events = _drift(installed, manifest, "enabled")
    assert [e[1] for e in events] == ["DriftDetected", "DriftCorrected"], events
    assert kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["replicas"] == 2
    assert kube.get_or_none("v1", "ConfigMap", "web-braces", namespace) is not None
    again, _ = _drift(installed, manifest, "enabled")
    assert not again.drifted
