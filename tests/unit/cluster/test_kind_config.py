"""The kind backend's pure parts: the cluster config (validated against kind's v1alpha4 types), containerd's
registry host files, KEP-1755's ConfigMap, the node image choice, and which containers `sandbox down` removes."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sandbox.cluster import kind
from sandbox.errors import InputError
from sandbox.tools import docker

SCHEMA = json.loads((Path(__file__).parent / "kind_v1alpha4.schema.json").read_text())
TYPES_GO = (Path.home() / ".cache/gitops-sandbox/go/mod/sigs.k8s.io"
            / f"kind@{kind.KIND_VERSION}/pkg/apis/config/v1alpha4/types.go")
WIRING = kind.RegistryWiring(port=41234, alias="sandbox-demo-registry")


def validate(document: dict[str, Any]) -> None:
    # Round-trip through YAML: what kind reads is the file, not the dict.
    jsonschema.validate(yaml.safe_load(yaml.safe_dump(document)), SCHEMA)


def test_the_generated_config_is_a_valid_v1alpha4_cluster(tmp_path: Path) -> None:
    document = kind.cluster_config("sandbox-demo", "sandbox.local/kind-node:v1.37.2", nodes=3,
                                   certs_dir=tmp_path / "certs.d")
    validate(document)
    assert [n["role"] for n in document["nodes"]] == ["control-plane", "worker", "worker"]
    assert {n["image"] for n in document["nodes"]} == {"sandbox.local/kind-node:v1.37.2"}
    for node in document["nodes"]:
        assert node["extraMounts"] == [{"hostPath": str(tmp_path / "certs.d"),
                                        "containerPath": "/etc/containerd/certs.d", "readOnly": True}]
        assert "extraPortMappings" not in node  # only when needed


def test_the_containerd_patch_points_the_registry_config_at_certs_d(tmp_path: Path) -> None:
    document = kind.cluster_config("sandbox-demo", "img", certs_dir=tmp_path)
    (patch,) = document["containerdConfigPatches"]
    parsed = tomllib.loads(patch)
    assert parsed["plugins"]["io.containerd.grpc.v1.cri"]["registry"] == {"config_path": "/etc/containerd/certs.d"}


def test_without_a_registry_there_is_no_containerd_patch_nor_mount() -> None:
    document = kind.cluster_config("sandbox-demo", "img")
    validate(document)
    assert "containerdConfigPatches" not in document
    assert "extraMounts" not in document["nodes"][0]


def test_port_mappings_go_on_the_control_plane_node_on_loopback() -> None:
    document = kind.cluster_config("sandbox-demo", "img", nodes=2, port_mappings=[(8080, 80)])
    validate(document)
    assert document["nodes"][0]["extraPortMappings"] == [
        {"containerPort": 80, "hostPort": 8080, "listenAddress": "127.0.0.1", "protocol": "TCP"}]
    assert "extraPortMappings" not in document["nodes"][1]


@pytest.mark.parametrize("broken", [
    {"nodes": [{"role": "master", "image": "img"}]},
    {"nodes": [{"role": "worker", "image": "img", "extraMount": []}]},
    {"name": "Sandbox_Demo"},
    {"apiVersion": "kind.x-k8s.io/v1alpha3"},
])
def test_the_schema_rejects_what_kind_rejects(broken: dict[str, Any]) -> None:
    document = {**kind.cluster_config("sandbox-demo", "img"), **broken}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_a_cluster_needs_a_node() -> None:
    with pytest.raises(InputError, match="at least one node"):
        kind.cluster_config("sandbox-demo", "img", nodes=0)


def test_cluster_names_are_valid_kind_names() -> None:
    for sandbox in ("default", "ci", "a" * 40):
        name = kind.cluster_name(sandbox)
        assert re.fullmatch(r"[a-z0-9.-]+", name)
        assert len(f"{name}-control-plane") <= 63  # it is the node's host name


def _go_struct_fields(source: str) -> dict[str, set[str]]:
    """Struct name -> its fields' yaml names, from types.go (inline TypeMeta folded in)."""
    structs: dict[str, set[str]] = {}
    for match in re.finditer(r"^type (\w+) struct \{(.*?)^\}", source, re.S | re.M):
        fields = set(re.findall(r'yaml:"(\w+)[,"]', match.group(2)))
        if "TypeMeta" in match.group(2):
            fields |= {"kind", "apiVersion"}
        structs[match.group(1)] = fields
    return structs


def test_the_checked_in_schema_matches_kinds_types_go() -> None:
    if not TYPES_GO.is_file():
        pytest.skip(f"kind's Go module is not in the cache ({TYPES_GO}): `go mod download "
                    f"sigs.k8s.io/kind@{kind.KIND_VERSION}`")
    structs = _go_struct_fields(TYPES_GO.read_text())
    for name, definition in SCHEMA["$defs"].items():
        assert set(definition["properties"]) == structs[name], name


def test_hosts_toml_sends_every_name_of_the_registry_to_its_in_network_name() -> None:
    files = WIRING.hosts_files()
    assert set(files) == {"127.0.0.1:41234", "localhost:41234", "sandbox-demo-registry:5000"}
    for text in files.values():
        parsed = tomllib.loads(text)
        assert parsed["server"] == "http://sandbox-demo-registry:5000"
        assert parsed["host"]["http://sandbox-demo-registry:5000"]["capabilities"] == ["pull", "resolve"]


def test_write_hosts_makes_one_directory_per_registry_host(tmp_path: Path) -> None:
    kind.write_hosts(tmp_path, WIRING)
    assert sorted(p.parent.name for p in tmp_path.glob("*/hosts.toml")) == sorted(WIRING.hosts_files())


def test_the_local_registry_hosting_configmap_follows_kep_1755() -> None:
    configmap = WIRING.hosting_configmap()
    assert configmap["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public"}
    hosting = yaml.safe_load(configmap["data"]["localRegistryHosting.v1"])
    # Where tools push from the host, and what the cluster reaches: they differ on kind.
    assert hosting["host"] == "127.0.0.1:41234"
    assert hosting["hostFromContainerRuntime"] == hosting["hostFromClusterNetwork"] == "sandbox-demo-registry:5000"
    assert hosting["help"].startswith("https://")


def test_node_image_choice_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kind.NODE_IMAGE_ENV, raising=False)
    local = "sandbox.local/kind-node:v1.37.2"
    assert kind.choose_node_image("mine:1", "v1.37.2", lambda _: True) == ("mine:1", "--kind-node-image")
    assert kind.choose_node_image("", "v1.37.2", lambda image: image == local) == (local, "built locally")
    assert kind.choose_node_image("", "v1.37.2", lambda _: False)[0] == kind.DEFAULT_NODE_IMAGE
    monkeypatch.setenv(kind.NODE_IMAGE_ENV, "env:2")
    assert kind.choose_node_image("", "v1.37.2", lambda _: True) == ("env:2", f"${kind.NODE_IMAGE_ENV}")
    assert kind.choose_node_image("flag:3", "v1.37.2", lambda _: True)[0] == "flag:3"


def test_locate_prefers_sandbox_kind_and_refuses_a_non_executable(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "kind"
    binary.write_text("#!/bin/sh\n")
    monkeypatch.setenv(kind.KIND_ENV, str(binary))
    with pytest.raises(InputError, match="not an executable"):
        kind.locate()
    binary.chmod(0o755)
    assert kind.locate() == binary


def test_locate_says_how_to_get_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kind.KIND_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(InputError, match="sandbox setup --kind"):
        kind.locate(bin_dir=tmp_path / "empty")


def test_cleanup_takes_only_what_the_sandbox_created(tmp_path: Path) -> None:
    state_dir = tmp_path / "demo"
    created = {"cluster": "sandbox-demo", "created": True}
    ours = {docker.LABEL_STATE_DIR: str(state_dir), docker.LABEL_COMPONENT: "registry"}
    node = {kind.CLUSTER_LABEL: "sandbox-demo"}
    assert kind.owned_by(ours, state_dir, created)
    assert kind.owned_by(node, state_dir, created)
    assert not kind.owned_by({kind.CLUSTER_LABEL: "someone-elses"}, state_dir, created)
    assert not kind.owned_by({docker.LABEL_STATE_DIR: str(tmp_path / "other")}, state_dir, created)
    # A cluster of that name the sandbox did not create (its record says so, or there is none) is not its own.
    assert not kind.owned_by(node, state_dir, {"cluster": "sandbox-demo", "created": False})
    assert not kind.owned_by(node, state_dir, {})


def test_image_load_on_an_embedded_sandbox_says_to_push_to_the_registry(tmp_path: Path) -> None:
    from sandbox.errors import NotSupported
    from sandbox.state import StateDir

    state = StateDir("demo", tmp_path)
    state.create()
    state.write_record({"cluster": "embedded", "registry": {"host": "127.0.0.1:41234"}})
    with pytest.raises(NotSupported, match=r"docker push 127\.0\.0\.1:41234/IMAGE"):
        kind.load_images(state, ["my/app:dev"])


def test_on_a_cgroup_v1_host_the_kubelet_is_told_to_start_anyway() -> None:
    document = kind.cluster_config("sandbox-demo", "img", cgroup_v1=True)
    validate(document)
    (patch,) = document["kubeadmConfigPatches"]
    assert yaml.safe_load(patch) == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                                     "failCgroupV1": False}
    assert "kubeadmConfigPatches" not in kind.cluster_config("sandbox-demo", "img")


@pytest.mark.parametrize(("message", "says"), [
    ('ERROR: failed to create cluster: failed to pull image "kindest/node:v1.37.0"', "--kind-node-image"),
    ("docker: Error response from daemon: ... unable to apply caps: operation not permitted", "privileged"),
    ("kubelet: too many open files", "inotify"),
    ("something else", ""),
])
def test_a_failed_create_says_what_to_do(message: str, says: str) -> None:
    hint = kind.create_failure_hint(message)
    assert (says in hint) if says else hint == ""
