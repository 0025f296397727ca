"""The pure parts of the kind node image: tags, the images kubeadm needs, the files and links of the node rootfs,
the docker-save archives of the component images, containerd's base spec, the Debian mirror."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from sandbox import binaries
from sandbox.errors import InputError, SandboxError
from sandbox.kindnode import archive, components, debian, hostcheck, layout, node, nodefs

KUBEADM_LIST = """registry.k8s.io/kube-apiserver:v1.37.2
registry.k8s.io/kube-controller-manager:v1.37.2
registry.k8s.io/kube-scheduler:v1.37.2
registry.k8s.io/kube-proxy:v1.37.2
registry.k8s.io/coredns/coredns:v1.14.6
registry.k8s.io/pause:3.10.2
registry.k8s.io/etcd:3.7.0-0
"""
CONTAINERD_CONFIG = """version = 2
[plugins."io.containerd.grpc.v1.cri"]
  # use fixed sandbox image
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = false
"""


def test_node_image_tag_is_the_contract_with_the_kind_backend() -> None:
    assert layout.node_image("v1.37.2") == "sandbox.local/kind-node:v1.37.2"


def test_required_images_use_containerds_pause_instead_of_kubeadms() -> None:
    refs = layout.required_images(KUBEADM_LIST, layout.sandbox_image(CONTAINERD_CONFIG))
    assert [r.reference for r in refs] == [
        "registry.k8s.io/kube-apiserver:v1.37.2", "registry.k8s.io/kube-controller-manager:v1.37.2",
        "registry.k8s.io/kube-scheduler:v1.37.2", "registry.k8s.io/kube-proxy:v1.37.2",
        "registry.k8s.io/coredns/coredns:v1.14.6", "registry.k8s.io/etcd:3.7.0-0", "registry.k8s.io/pause:3.10"]
    coredns = next(r for r in refs if r.component == "coredns")
    assert coredns.tag == "v1.14.6"


def test_an_image_the_recipe_cannot_build_is_named() -> None:
    with pytest.raises(SandboxError, match=r"registry\.k8s\.io/kube-newthing:v2"):
        layout.component_of("registry.k8s.io/kube-newthing:v2")
    with pytest.raises(SandboxError, match="no tag"):
        layout.component_of("registry.k8s.io/etcd")


def test_containerd_config_without_sandbox_image_is_an_error() -> None:
    with pytest.raises(SandboxError, match="sandbox_image"):
        layout.sandbox_image("version = 2\n")


def test_cni_conflist_is_a_bridge_with_the_first_pod_range() -> None:
    conflist = json.loads(layout.cni_conflist())
    bridge = conflist["plugins"][0]
    assert bridge["type"] == "bridge"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert {p["type"] for p in conflist["plugins"]} <= set(layout.CNI_PLUGINS)


def test_default_cni_manifest_is_templated_by_kind_and_then_a_configmap() -> None:
    manifest = layout.DEFAULT_CNI_MANIFEST
    assert "would you kindly template this file" in manifest  # kind fills in {{ .PodSubnet }} only then
    rendered = yaml.safe_load(manifest.replace("{{ .PodSubnet }}", "10.244.0.0/16"))
    assert rendered["kind"] == "ConfigMap"
    assert rendered["data"]["clusterPodSubnet"] == "10.244.0.0/16"


def test_node_files_follow_kinds_layout_and_let_kubelet_run_on_cgroup_v1() -> None:
    files = layout.node_files("v1.37.2")
    assert files["/kind/version"] == "v1.37.2"
    assert {"/kind/manifests/default-cni.yaml", "/kind/manifests/default-storage.yaml",
            layout.CNI_CONFLIST} <= set(files)
    dropin = yaml.safe_load(files[f"{layout.KUBELET_DROPIN_DIR}/50-sandbox-cgroupv1.conf"])
    assert dropin == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                      "failCgroupV1": False}
    assert f"--config-dir={layout.KUBELET_DROPIN_DIR}" in files["/etc/default/kubelet"]


def test_cri_base_spec_adds_kinds_hook_and_drops_rlimits_without_touching_the_input() -> None:
    spec = {"process": {"rlimits": [{"type": "RLIMIT_NOFILE"}], "args": ["sh"]},
            "hooks": {"createContainer": [{"path": "/other"}]}}
    made = layout.cri_base_spec(spec)
    assert made["hooks"]["createContainer"] == [{"path": "/other"}, {"path": "/kind/bin/mount-product-files.sh"}]
    assert "rlimits" not in made["process"]
    assert spec["process"]["rlimits"]  # type: ignore[index]


def test_fingerprint_changes_with_any_input() -> None:
    assert layout.fingerprint({"a": "1"}) == layout.fingerprint({"a": "1"})
    assert layout.fingerprint({"a": "1"}) != layout.fingerprint({"a": "2"})


@pytest.mark.parametrize(("path", "gone"), [
    ("usr/lib/systemd/system/multi-user.target.wants/getty.target", True),
    ("lib/systemd/system/sockets.target.wants/systemd-udevd-control.socket", True),
    ("etc/systemd/system/multi-user.target.wants/containerd.service", True),
    ("usr/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service", True),
    ("usr/lib/systemd/system/sysinit.target.wants/systemd-journald.service", False),
    ("usr/lib/systemd/system/containerd.service", False),
])
def test_units_kinds_base_image_removes(path: str, gone: bool) -> None:
    assert nodefs.removed(path) is gone


def test_links_enable_kinds_units_and_put_debians_cni_plugins_where_containerd_looks() -> None:
    links = nodefs.links()
    wants = "/etc/systemd/system/multi-user.target.wants"
    assert links[f"{wants}/kubelet.service"] == "/etc/systemd/system/kubelet.service"
    assert links["/etc/systemd/system/systemd-binfmt.service"] == "/dev/null"
    assert links["/opt/cni/bin/bridge"] == "/usr/lib/cni/bridge"
    assert links["/usr/local/bin/containerd"] == "/usr/bin/containerd"


def test_kind_base_files_get_the_modes_of_kinds_dockerfile(tmp_path: Path) -> None:
    for relative in ("usr/local/bin/entrypoint", "kind/bin/mount-product-files.sh", "etc/crictl.yaml",
                     "LICENSES/README.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(relative)
    files = nodefs.kind_base_files(tmp_path)
    assert {path: mode for path, (_, mode) in files.items()} == {
        "/usr/local/bin/entrypoint": 0o755, "/kind/bin/mount-product-files.sh": 0o755, "/etc/crictl.yaml": 0o644}


def test_node_rootfs_tarball_drops_removed_units_and_adds_files_and_links(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "usr/lib/systemd/system/multi-user.target.wants").mkdir(parents=True)
    (root / "usr/lib/systemd/system/multi-user.target.wants/getty.target").write_text("x")
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/kubelet").write_text("old")
    (root / "proc").mkdir()
    (root / "proc/junk").write_text("x")
    tarball = tmp_path / "node.tar"
    nodefs.write(tarball, root, {"/etc/default/kubelet": (b"new", 0o644), "/kind/version": (b"v1.37.2", 0o644)},
                 {"/opt/cni/bin/bridge": "/usr/lib/cni/bridge"})
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        assert "usr/lib/systemd/system/multi-user.target.wants/getty.target" not in names
        assert "proc" in names and "proc/junk" not in names
        assert names.count("etc/default/kubelet") == 1
        kubelet = archive.extractfile("etc/default/kubelet")
        assert kubelet is not None and kubelet.read() == b"new"
        assert archive.getmember("opt/cni/bin/bridge").linkname == "/usr/lib/cni/bridge"
        assert archive.getmember("etc/kubernetes/manifests").isdir()
        assert archive.getmember("kind").isdir()


def test_component_archive_is_a_docker_save_archive_with_kubeadms_reference(tmp_path: Path) -> None:
    binary = tmp_path / "coredns"
    binary.write_bytes(b"\x7fELF fake")
    image = components.spec("coredns", binary)
    target = tmp_path / "coredns.tar"
    image_id = archive.write(target, "registry.k8s.io/coredns/coredns:v1.14.6", image.files,
                             entrypoint=image.entrypoint)
    manifest = archive.read_manifest(target)
    assert manifest[0]["RepoTags"] == ["registry.k8s.io/coredns/coredns:v1.14.6"]
    with tarfile.open(target) as tar:
        config_member = tar.extractfile(manifest[0]["Config"])
        layer_member = tar.extractfile(manifest[0]["Layers"][0])
        assert config_member is not None and layer_member is not None
        config_bytes = config_member.read()
        layer = layer_member.read()
    config = json.loads(config_bytes)
    assert image_id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert config["config"]["Entrypoint"] == ["/coredns"]
    layer_path = tmp_path / "layer.tar"
    layer_path.write_bytes(layer)
    with tarfile.open(layer_path) as tar:
        assert tar.getmember("coredns").mode == 0o755


def test_kube_proxy_image_carries_iptables_and_its_modules(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/xtables-nft-multi").write_bytes(b"multi")
    (root / "usr/lib/x86_64-linux-gnu/xtables").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/xtables/libxt_comment.so").write_bytes(b"so")
    (root / "usr/lib/x86_64-linux-gnu/libxtables.so.12").write_bytes(b"lib")
    image = components.spec("kube-proxy", tmp_path / "kube-proxy", iptables_root=root,
                            iptables_libraries=[Path("/usr/lib/x86_64-linux-gnu/libxtables.so.12")])
    assert image.files["/usr/sbin/iptables-restore"][0] == root / "usr/sbin/xtables-nft-multi"
    lib = "/usr/lib/x86_64-linux-gnu/libxtables.so.12"
    assert image.files[lib][0] == root / lib.lstrip("/")
    assert "/usr/lib/x86_64-linux-gnu/xtables/libxt_comment.so" in image.files
    assert image.entrypoint == ("/usr/local/bin/kube-proxy",)


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_static_pod_images_have_the_command_on_path(component: str, tmp_path: Path) -> None:
    assert f"/usr/local/bin/{component}" in components.spec(component, tmp_path / component).files


def test_debian_mirror_is_the_stanza_serving_the_suite() -> None:
    sources = ("Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
               "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")
    assert debian.mirror_from_sources(sources) == "http://mirror.example/debian"
    with pytest.raises(InputError, match="SANDBOX_DEBIAN_MIRROR"):
        debian.mirror_from_sources("Types: deb\nURIs: http://x/\nSuites: trixie\n")


def test_sandbox_kind_overrides_where_kind_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kind = tmp_path / "my-kind"
    kind.write_text("#!/bin/sh\n")
    kind.chmod(0o755)
    monkeypatch.setenv("SANDBOX_KIND", str(kind))
    found = binaries.find("kind")
    assert found is not None and found.path == kind and found.source == "SANDBOX_KIND"
    monkeypatch.setenv("SANDBOX_KIND", str(tmp_path / "absent"))
    assert binaries.find("kind") is None


def test_a_bounding_set_without_cap_sys_resource_is_recognised() -> None:
    assert hostcheck.lacks_sys_resource("Name:\tx\nCapBnd:\t000001fffeffffff\n")  # bit 24 clear
    assert not hostcheck.lacks_sys_resource("CapBnd:\t000001ffffffffff\n")
    assert hostcheck.privileged_blocker("CapBnd:\t000001ffffffffff\n") is None  # no Docker call needed


def test_runtime_wrapper_strips_only_cap_sys_resource(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("jq") is None:
        pytest.skip("jq is needed by the runtime wrapper")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": {"bounding": caps,
                                                                                  "effective": caps}}}))
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": {"permitted": caps}}))
    fake_runc = tmp_path / "bin" / "runc"
    fake_runc.parent.mkdir()
    fake_runc.write_text("#!/bin/sh\necho \"$@\"\n")
    fake_runc.chmod(0o755)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(hostcheck.RUNTIME_WRAPPER)
    wrapper.chmod(0o755)
    env = {"PATH": f"{fake_runc.parent}:/usr/bin:/bin"}
    out = subprocess.run([str(wrapper), "create", "--bundle", str(bundle), "id1"], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == f"create --bundle {bundle} id1"
    kept = ["CAP_CHOWN", "CAP_SYS_ADMIN"]
    assert json.loads((bundle / "config.json").read_text())["process"]["capabilities"] == {"bounding": kept,
                                                                                          "effective": kept}
    subprocess.run([str(wrapper), "exec", "--process", str(process), "id1"], env=env, check=True,
                   capture_output=True)
    assert json.loads(process.read_text())["capabilities"] == {"permitted": kept}


def test_node_image_keeps_kinds_entrypoint_and_drops_the_build_containers_label() -> None:
    changes = node.commit_changes("abc")
    assert 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' in changes
    assert f"LABEL {node.LABEL_FINGERPRINT}=abc" in changes
    assert 'LABEL io.gitops-sandbox.component=""' in changes
    assert node.COMMIT_CONFIG == {"StopSignal": "SIGRTMIN+3"}


def test_a_go_target_is_current_only_with_its_binaries_and_the_same_recipe(tmp_path: Path) -> None:
    from sandbox import gobuild
    from sandbox.kindnode import recipes

    recipe = gobuild.Recipe("example.com/m", "v1.0.0", (gobuild.Program("tool", "example.com/m"),))
    target = recipes.Target("tool", recipe, tmp_path)
    assert not target.is_current()
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    target.stamp.write_text(json.dumps(target.wanted()))
    assert target.is_current()
    newer = recipes.Target("tool", gobuild.Recipe("example.com/m", "v1.0.1", recipe.programs), tmp_path)
    assert not newer.is_current()


def test_node_image_without_docker_fails_before_building_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.kindnode import build
    from sandbox.tools import docker

    monkeypatch.setattr(docker, "usable", lambda: (False, "no engine socket"))
    monkeypatch.setattr(build, "kind_files_dir", lambda progress: pytest.fail("built before checking Docker"))
    with pytest.raises(InputError, match="assembled with Docker: no engine socket"):
        build.ensure("v1.37.2", lambda phase, detail: None)


def test_dockerd_args_make_the_wrapper_the_default_runtime_only_where_needed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_CACHE_DIR", str(tmp_path))
    lacking, full = "CapBnd:\t00000000a80425fb\n", "CapBnd:\t000001ffffffffff\n"
    args = hostcheck.dockerd_args(lacking, "")
    assert args == [f"--add-runtime={hostcheck.RUNTIME_NAME}={hostcheck.wrapper_path()}",
                    f"--default-runtime={hostcheck.RUNTIME_NAME}"]
    assert hostcheck.wrapper_path().stat().st_mode & 0o111  # written, executable
    assert hostcheck.dockerd_args(full, "") == []
    assert hostcheck.dockerd_args(lacking, hostcheck.daemon_json()) == []  # dockerd refuses a runtime defined twice
