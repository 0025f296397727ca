"""Drift detection of a Helm release against a fake of the Kubernetes client seam: what counts as drift, ignore
rules and the driftDetection annotation, warn vs enabled, and helm-controller's event wording."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from sandbox.errors import NotFound
from sandbox.reconciler.helm import drift
from sandbox.reconciler.runtime import jsondiff

Obj = dict[str, Any]

MANIFEST = """---
# Source: web/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: web
        image: web:1
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
"""


@dataclass
class Info:
    namespaced: bool


@dataclass
class FakeKube:
    """Live objects by (kind, namespace, name); a dry-run apply returns the live object with the applied fields
    over it (what server-side apply with force does to fields other managers do not own)."""

    live: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    patched: list[tuple[str, list[Obj]]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def resource(self, api_version: str, kind: str) -> Info:
        if kind == "Widget":
            raise NotFound("no such kind")
        return Info(kind != "Namespace")

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        found = self.live.get((kind, namespace or "", name))
        return copy.deepcopy(found) if found else None

    def apply(self, obj: Obj, *, field_manager: str, force: bool = True, dry_run: bool = False) -> Obj:
        assert dry_run and force and field_manager == "helm-controller"
        meta = obj["metadata"]
        live = self.get_or_none(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        if live is None:
            return copy.deepcopy(obj)
        return _merge(live, obj)

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: Any, *,
              patch_type: str = "merge", field_manager: str | None = None) -> Obj:
        assert patch_type == "json"
        self.patched.append((f"{kind}/{namespace}/{name}", patch))
        return {}

    def path(self, api_version: str, kind: str, namespace: str | None = None) -> str:
        return f"/{kind}/{namespace}"

    def request(self, method: str, path: str, *, query: Any = None, body: Any = None, what: str = "") -> Obj:
        self.created.append(what)
        return {}


def _merge(base: Any, top: Any) -> Any:
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return copy.deepcopy(top)


def _release(mode: str = "enabled", ignore: list[Obj] | None = None) -> Obj:
    spec: Obj = {"driftDetection": {"mode": mode, **({"ignore": ignore} if ignore else {})}}
    return {"metadata": {"name": "web", "namespace": "flux-system", "generation": 1}, "spec": spec}


def _installed() -> FakeKube:
    kube = FakeKube()
    objects, _ = drift.desired_objects(kube, MANIFEST, "web", "apps")  # type: ignore[arg-type]
    for obj in objects:
        live = copy.deepcopy(obj)
        live["metadata"]["resourceVersion"] = "1"
        live["metadata"]["managedFields"] = [{"manager": "helm"}]
        live["status"] = {"observedGeneration": 1}
        kube.live[(obj["kind"], "apps", obj["metadata"]["name"])] = live
    return kube


def _detect(kube: FakeKube, release: Obj) -> drift.DriftSet:
    return drift.detect(kube, release, MANIFEST, "web", "apps")  # type: ignore[arg-type]


def test_an_untouched_release_has_no_drift() -> None:
    found = _detect(_installed(), _release())
    assert not found.has_changes
    assert [d.type for d in found.diffs] == [drift.DiffType.NONE, drift.DiffType.NONE]


def test_desired_objects_get_helm_metadata_and_the_release_namespace() -> None:
    objects, errors = drift.desired_objects(FakeKube(), MANIFEST + "---\napiVersion: x/v1\nkind: Widget\n"
                                            "metadata:\n  name: w\n", "web", "apps")  # type: ignore[arg-type]
    assert objects[0]["metadata"]["namespace"] == "apps"
    assert objects[0]["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
    assert objects[0]["metadata"]["annotations"] == {"meta.helm.sh/release-name": "web",
                                                     "meta.helm.sh/release-namespace": "apps"}
    assert errors and "Widget is namespace scoped" in errors[0]


def test_a_changed_field_and_a_deleted_object_are_drift_and_are_corrected() -> None:
    kube = _installed()
    kube.live[("Deployment", "apps", "web")]["spec"]["replicas"] = 5
    del kube.live[("ConfigMap", "apps", "settings")]
    events: list[tuple[str, str, str]] = []
    outcome = drift.reconcile_drift(kube, _release(), [], manifest=MANIFEST,  # type: ignore[arg-type]
                                    release_name="web", release_namespace="apps",
                                    full_release_name="apps/web.v1", record=lambda *e: events.append(e))
    assert outcome.drifted
    assert events[0] == ("Warning", "DriftDetected", "Cluster state of release apps/web.v1 has drifted from the "
                         "desired state:\nDeployment/apps/web changed (0 additions, 1 changes, 0 removals)\n"
                         "ConfigMap/apps/settings removed")
    assert events[1] == ("Normal", "DriftCorrected", "Cluster state of release apps/web.v1 has been corrected:\n"
                         "ConfigMap/apps/settings created\nDeployment/apps/web configured")
    assert kube.patched == [("Deployment/apps/web", [{"op": "replace", "path": "/spec/replicas", "value": 2}])]
    assert kube.created == ["ConfigMap/settings"]
    drifted = next(c for c in outcome.conditions if c["type"] == "Drifted")
    assert (drifted["status"], drifted["reason"]) == ("True", "DriftDetected")


def test_warn_reports_without_correcting() -> None:
    kube = _installed()
    kube.live[("ConfigMap", "apps", "settings")]["data"]["color"] = "red"
    events: list[tuple[str, str, str]] = []
    outcome = drift.reconcile_drift(kube, _release("warn"), [], manifest=MANIFEST,  # type: ignore[arg-type]
                                    release_name="web", release_namespace="apps",
                                    full_release_name="apps/web.v1", record=lambda *e: events.append(e))
    assert outcome.drifted and outcome.corrected is None
    assert [e[1] for e in events] == ["DriftDetected"]
    assert not kube.patched


def test_no_drift_is_said_in_the_condition_and_disabled_mode_removes_it() -> None:
    kube = _installed()
    outcome = drift.reconcile_drift(kube, _release(), [], manifest=MANIFEST,  # type: ignore[arg-type]
                                    release_name="web", release_namespace="apps",
                                    full_release_name="apps/web.v1", record=lambda *e: None)
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in outcome.conditions] == [
        ("Drifted", "False", "NoDriftDetected", "No drift detected against the cluster state")]
    cleared = drift.reconcile_drift(kube, _release("disabled"), outcome.conditions,  # type: ignore[arg-type]
                                    manifest=MANIFEST, release_name="web", release_namespace="apps",
                                    full_release_name="apps/web.v1", record=lambda *e: None)
    assert cleared.conditions == []


@pytest.mark.parametrize("rule", [
    pytest.param({"paths": ["/spec/replicas"]}, id="path-for-all"),
    pytest.param({"paths": ["/spec/replicas"], "target": {"kind": "Deployment", "name": "w.b"}}, id="targeted"),
    pytest.param({"paths": [""], "target": {"kind": "Deployment"}}, id="whole-object"),
])
def test_ignore_rules_leave_changes_out(rule: Obj) -> None:
    kube = _installed()
    kube.live[("Deployment", "apps", "web")]["spec"]["replicas"] = 5
    assert not _detect(kube, _release(ignore=[rule])).has_changes


def test_a_rule_for_another_object_does_not_hide_drift() -> None:
    kube = _installed()
    kube.live[("Deployment", "apps", "web")]["spec"]["replicas"] = 5
    found = _detect(kube, _release(ignore=[{"paths": ["/spec/replicas"], "target": {"name": "other"}}]))
    assert found.has_changes


def test_the_annotation_excludes_an_object() -> None:
    kube = _installed()
    live = kube.live[("Deployment", "apps", "web")]
    live["spec"]["replicas"] = 5
    live["metadata"]["annotations"]["helm.toolkit.fluxcd.io/driftDetection"] = "disabled"
    found = _detect(kube, _release())
    assert not found.has_changes
    assert "Deployment/apps/web excluded" in found.summary()


def test_labels_added_by_others_are_not_drift_but_changed_ones_are() -> None:
    kube = _installed()
    kube.live[("ConfigMap", "apps", "settings")]["metadata"]["labels"]["extra"] = "x"
    assert not _detect(kube, _release()).has_changes
    kube.live[("ConfigMap", "apps", "settings")]["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "me"
    assert _detect(kube, _release()).has_changes


def test_a_secret_patch_is_shown_masked() -> None:
    item = drift.ObjectDrift(drift.DiffType.UPDATE, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
                             tuple(jsondiff.compare({"data": {"k": "b2xk"}}, {"data": {"k": "bmV3"}})))
    assert "bmV3" not in str(item.shown_patch())


def test_failed_corrections_are_worded_as_upstream() -> None:
    event = drift.correction_event(drift.Correction(("ConfigMap/apps/a created",),
                                                    ("Deployment/apps/web patch failure: denied",)), "apps/web.v2")
    assert event == ("Warning", "DriftCorrectionFailed",
                     "Failed to partially correct cluster state of release apps/web.v2:\nDeployment/apps/web patch "
                     "failure: denied\n\nSuccessful corrections:\nConfigMap/apps/a created")
