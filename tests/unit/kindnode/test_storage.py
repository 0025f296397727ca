"""The node image's default storage: the manifest kind applies from the node (images local and never pulled, the
default class, its binding mode, kind's own objects), the two images' contents, and what the build needs for them."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox import gobuild
from sandbox.errors import InputError
from sandbox.kindnode import archive, build, components, layout, recipes, storage

KIND_STORAGE_GO = Path("sigs.k8s.io") / f"kind@{layout.KIND_VERSION}" / "pkg/build/nodeimage/const_storage.go"


def _objects() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(storage.manifest()) if doc]


def _one(kind: str) -> dict[str, Any]:
    [found] = [o for o in _objects() if o["kind"] == kind]
    return found


def _images(manifest_objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(image, pull policy) of the provisioner's container, the image it gives helper pods, and the helper pod
    template's container."""
    deployment = next(o for o in manifest_objects if o["kind"] == "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    helper_flag = command[command.index("--helper-image") + 1]
    config = next(o for o in manifest_objects if o["kind"] == "ConfigMap")
    [helper] = yaml.safe_load(config["data"]["helperPod.yaml"])["spec"]["containers"]
    return [(container["image"], container["imagePullPolicy"]), (helper_flag, "IfNotPresent"),
            (helper["image"], helper["imagePullPolicy"])]


def test_the_node_file_kind_applies_is_the_storage_manifest() -> None:
    assert layout.node_files("v1.37.2")["/kind/manifests/default-storage.yaml"] == storage.manifest()


def test_every_image_of_the_manifest_is_one_the_node_image_pre_imports_and_none_is_pulled() -> None:
    pre_imported = {ref.reference for ref in layout.storage_images()}
    images = _images(_objects())
    assert {image for image, _ in images} == pre_imported
    assert all(image.startswith("sandbox.local/") for image in pre_imported)
    assert {policy for _, policy in images} == {"IfNotPresent"}
    assert {ref.component for ref in layout.storage_images()} == {"local-path-provisioner", "local-path-helper"}


def test_standard_is_the_default_class_binding_when_a_pod_uses_the_claim() -> None:
    storage_class = _one("StorageClass")
    assert storage_class["metadata"]["name"] == "standard"
    assert storage_class["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert storage_class["provisioner"] == "rancher.io/local-path"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["reclaimPolicy"] == "Delete"


def test_volumes_live_under_var_and_the_helper_scripts_make_and_remove_them() -> None:
    data = _one("ConfigMap")["data"]
    assert json.loads(data["config.json"]) == {
        "nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["/var/local-path-provisioner"]}]}
    assert 'mkdir -m 0777 -p "$VOL_DIR"' in data["setup"]
    assert 'rm -rf "$VOL_DIR"' in data["teardown"]
    assert all(data[script].startswith("#!/bin/sh\nset -eu\n") for script in ("setup", "teardown"))


def test_the_provisioner_reads_the_mounted_config_and_runs_as_its_bound_service_account() -> None:
    deployment = _one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    command = container["command"]
    [mount] = container["volumeMounts"]
    assert command[command.index("--config") + 1] == mount["mountPath"] + "config.json"
    [volume] = pod["volumes"]
    assert volume["configMap"]["name"] == _one("ConfigMap")["metadata"]["name"] == "local-path-config"
    account = _one("ServiceAccount")["metadata"]
    assert pod["serviceAccountName"] == account["name"]
    for binding in ("RoleBinding", "ClusterRoleBinding"):
        assert _one(binding)["subjects"] == [{"kind": "ServiceAccount", "name": account["name"],
                                              "namespace": account["namespace"]}]
    cluster_rules = {r: rule["verbs"] for rule in _one("ClusterRole")["rules"] for r in rule["resources"]}
    assert "create" in cluster_rules["persistentvolumes"] and "delete" in cluster_rules["persistentvolumes"]
    assert "create" in next(rule["verbs"] for rule in _one("Role")["rules"] if "pods" in rule["resources"])
    tolerated = {t["key"] for t in pod["tolerations"]}
    assert "node-role.kubernetes.io/control-plane" in tolerated


def _kinds_manifest(go_source: str) -> list[dict[str, Any]]:
    """kind's const_storage.go manifest with its two image constants replaced by ours."""
    constants = dict(re.findall(r'^const (storage\w+Image) = "([^"]+)"', go_source, re.MULTILINE))
    ours = {"storageProvisionerImage": storage.PROVISIONER_IMAGE, "storageHelperImage": storage.HELPER_IMAGE}
    assert set(constants) == set(ours), "kind's storage images are no longer the two constants this test knows"
    body = go_source.split("const defaultStorageManifest = `", 1)[1].rsplit("`", 1)[0]
    for name, image in ours.items():
        body = body.replace(f"` + {name} + `", image)
    return [doc for doc in yaml.safe_load_all(body) if doc]


def _normal(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as the API server keeps it: no namespace on a cluster-scoped one, the ConfigMap's documents
    parsed."""
    obj = json.loads(json.dumps(obj))
    if obj["kind"] == "StorageClass":
        obj["metadata"].pop("namespace", None)
    if obj["kind"] == "ConfigMap":
        data = obj["data"]
        data["config.json"] = json.loads(data["config.json"])
        data["helperPod.yaml"] = yaml.safe_load(data["helperPod.yaml"])
    return obj


def test_the_manifest_is_kinds_own_object_for_object_but_for_the_images() -> None:
    source = Path(gobuild.go_env()["GOMODCACHE"]) / KIND_STORAGE_GO
    if not source.is_file():
        pytest.skip(f"{source} is not in the module cache (`sandbox setup --kind` downloads kind's module)")
    theirs = [_normal(o) for o in _kinds_manifest(source.read_text())]
    ours = [_normal(o) for o in _objects()]
    assert [(o["kind"], o["metadata"]["name"]) for o in ours] == [(o["kind"], o["metadata"]["name"]) for o in theirs]
    assert ours == theirs


def test_the_helper_image_is_busybox_as_sh_mkdir_and_rm(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF static busybox")
    image = components.spec("local-path-helper", busybox)
    target = tmp_path / "helper.tar"
    archive.write(target, storage.HELPER_IMAGE, image.files, entrypoint=image.entrypoint, symlinks=image.symlinks)
    manifest = archive.read_manifest(target)
    assert manifest[0]["RepoTags"] == [storage.HELPER_IMAGE]
    with tarfile.open(target) as outer:
        layer = outer.extractfile(manifest[0]["Layers"][0])
        assert layer is not None
        (tmp_path / "layer.tar").write_bytes(layer.read())
    with tarfile.open(tmp_path / "layer.tar") as tar:
        assert tar.getmember("bin/busybox").mode == 0o755
        for name in ("sh", "mkdir", "rm"):
            member = tar.getmember(f"bin/{name}")
            assert member.issym() and member.linkname == "busybox"
        assert tar.getmember("tmp").isdir()


def test_the_provisioner_image_has_it_on_path_as_the_deployment_names_it(tmp_path: Path) -> None:
    image = components.spec("local-path-provisioner", tmp_path / "local-path-provisioner")
    [container] = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert f"/usr/local/bin/{container['command'][0]}" in image.files
    assert "/usr/local/bin" in archive.PATH_ENV.removeprefix("PATH=").split(":")


def test_the_provisioner_is_built_static_from_its_module_with_its_version_stamped() -> None:
    target = recipes.local_path_target()
    assert target.recipe.module == "github.com/rancher/local-path-provisioner"
    assert target.recipe.version == storage.LOCAL_PATH_VERSION
    assert f"-X main.VERSION={storage.LOCAL_PATH_VERSION}" in target.recipe.ldflags
    assert storage.LOCAL_PATH_VERSION in target.out_dir.name
    assert storage.PROVISIONER_IMAGE.endswith(f":{storage.LOCAL_PATH_VERSION}")
    assert gobuild.go_env()["CGO_ENABLED"] == "0"


def test_a_missing_busybox_is_named_with_the_package_to_install(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "BUSYBOX", tmp_path / "busybox")
    with pytest.raises(InputError, match="busybox-static"):
        build.busybox()
