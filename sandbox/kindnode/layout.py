"""What the node image holds, as data: its tag, the images kubeadm needs and which component each one is, the default
storage's images, and the files kind's node-image builder writes (/kind/version, /kind/manifests/…) plus the
sandbox's own additions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.errors import SandboxError
from sandbox.kindnode import storage

Progress = Callable[[str, str], None]  # (phase, detail)

NODE_REPOSITORY = "sandbox.local/kind-node"
BASE_REPOSITORY = "sandbox.local/kind-base"
KIND_VERSION = "v0.33.0"
KIND_MODULE = "sigs.k8s.io/kind"
# Bump when what the image holds changes in a way its inputs do not show, so that a cached image is rebuilt.
# 2: kube-proxy's image carries the libraries of iptables' modules (libm for the statistic match).
# 3: the build container's component label blanked in the node image.
# 4: the default StorageClass (local-path-provisioner and its helper image pre-imported).
RECIPE = 4
# The pod range the node's bridge CNI hands out: the first /24 of kind's default podSubnet (10.244.0.0/16), the one
# the controller-manager allocates to the first node.
POD_RANGE = "10.244.0.0/24"
CNI_CONFLIST = "/etc/cni/net.d/10-sandbox-bridge.conflist"
KUBELET_DROPIN_DIR = "/etc/kubernetes/kubelet.conf.d"
NODE_BINARIES = ("kubeadm", "kubelet", "kubectl")  # into /usr/bin, as kind's builder puts them
# Debian packages of the node's root filesystem: kind's base-image list, with containerd, runc and the CNI plugins
# from Debian instead of kind's own builds.
DEBIAN_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "containerd", "runc", "containernetworking-plugins",
    "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod", "libseccomp2",
    "pigz", "e2fsprogs", "bash", "ca-certificates", "curl", "jq", "procps", "socat", "ebtables",
)
DEBIAN_SUITE = "bookworm"
# Debian's CNI plugins live in /usr/lib/cni; containerd (and kind) look in /opt/cni/bin.
DEBIAN_CNI_DIR = "/usr/lib/cni"
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap", "ptp")
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd", "coredns",
              "pause")


def node_image(k8s_version: str) -> str:
    """The node image's reference: the contract with the kind backend."""
    return f"{NODE_REPOSITORY}:{k8s_version}"


@dataclass(frozen=True)
class ImageRef:
    reference: str  # e.g. registry.k8s.io/coredns/coredns:v1.14.6
    component: str  # one of COMPONENTS, or a storage image's (storage_images)
    tag: str


def component_of(reference: str) -> ImageRef:
    """Which component an image kubeadm lists is, by its repository's last path element."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag or not repository:
        raise SandboxError(f"kubeadm listed {reference!r}, which has no tag; the node image cannot provide it")
    name = repository.rsplit("/", 1)[-1]
    if name not in COMPONENTS:
        raise SandboxError(f"kubeadm needs the image {reference}, which the sandbox does not know how to build "
                           f"(it builds {', '.join(COMPONENTS)}); the Kubernetes version may be too new for this "
                           "recipe")
    return ImageRef(reference, name, tag)


def required_images(kubeadm_list: str, sandbox_image: str) -> list[ImageRef]:
    """The images of ``kubeadm config images list`` output, with containerd's sandbox (pause) image instead of
    kubeadm's, as kind's builder does (the runtime's pause is the one that runs)."""
    refs = [line.strip() for line in kubeadm_list.splitlines() if line.strip()]
    chosen = [component_of(r) for r in refs if component_of(r).component != "pause"]
    return [*chosen, component_of(sandbox_image)]


def storage_images() -> list[ImageRef]:
    """The images of the default storage (``storage.manifest``), pre-imported beside kubeadm's."""
    return [ImageRef(reference, component, reference.rpartition(":")[2])
            for reference, component in ((storage.PROVISIONER_IMAGE, "local-path-provisioner"),
                                         (storage.HELPER_IMAGE, "local-path-helper"))]


def sandbox_image(containerd_config: str) -> str:
    """The ``sandbox_image`` containerd's CRI plugin uses, from its config.toml."""
    for line in containerd_config.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "sandbox_image":
            return value.strip().strip('"')
    raise SandboxError("containerd's config.toml sets no sandbox_image; kind's base files changed")


def cni_conflist(pod_range: str = POD_RANGE) -> str:
    """A bridge network for the node's pods (single node: no routes to other nodes' pods)."""
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "sandbox-bridge",
        "plugins": [
            {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_range}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2) + "\n"


# kind applies /kind/manifests/default-cni.yaml with `kubectl create` unless networking.disableDefaultCNI; the pod
# network here is the bridge conflist baked into the image, so the manifest only records that (kind templates files
# that contain the phrase below, which fills in the pod subnet).
DEFAULT_CNI_MANIFEST = """# would you kindly template this file
# The pod network of a gitops-sandbox kind node is a bridge CNI conflist in the image (""" + CNI_CONFLIST + """),
# not kindnetd: single-node clusters only. This ConfigMap only records that.
apiVersion: v1
kind: ConfigMap
metadata:
  name: sandbox-cni
  namespace: kube-system
data:
  plugin: bridge
  conflist: """ + CNI_CONFLIST + """
  podRange: """ + POD_RANGE + """
  clusterPodSubnet: "{{ .PodSubnet }}"
"""

# cgroup v1 hosts: kubelet >= 1.35 refuses them unless failCgroupV1 is false (KEP-5573); a drop-in keeps that
# independent of the kubeadm config kind generates.
KUBELET_DROPIN = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
"""
# kind's /etc/default/kubelet plus the drop-in directory.
KUBELET_DEFAULTS = (f"KUBELET_EXTRA_ARGS=--runtime-cgroups=/system.slice/containerd.service "
                    f"--config-dir={KUBELET_DROPIN_DIR}\n")


def containerd_config(kind_config: str) -> str:
    """kind's containerd config.toml with ``restrict_oom_score_adj = true``: pods' oom_score_adj is then kept at or
    above containerd's own (containerd.service sets -999, so nothing changes where the node may lower it), and a host
    whose capability bounding set lacks CAP_SYS_RESOURCE (kind's rootless case, and this sandbox's CI machines) can
    still start pods whose kubelet asks for a negative score (static pods, pause sandboxes)."""
    key = "restrict_oom_score_adj = false"
    if key not in kind_config:
        raise SandboxError("kind's containerd config.toml no longer sets restrict_oom_score_adj = false; check the "
                           "recipe against kind's base files")
    return kind_config.replace(key, "restrict_oom_score_adj = true")


def node_files(k8s_version: str) -> dict[str, str]:
    """Path → text of the files the node image holds besides kind's base files and the binaries."""
    return {
        "/kind/version": k8s_version,
        "/kind/manifests/default-cni.yaml": DEFAULT_CNI_MANIFEST,
        "/kind/manifests/default-storage.yaml": storage.manifest(),
        CNI_CONFLIST: cni_conflist(),
        f"{KUBELET_DROPIN_DIR}/50-sandbox-cgroupv1.conf": KUBELET_DROPIN,
        "/etc/default/kubelet": KUBELET_DEFAULTS,
    }


def cri_base_spec(oci_spec: Mapping[str, Any]) -> dict[str, Any]:
    """containerd's base runtime spec as kind's base image makes it from ``ctr oci spec``: kind's createContainer
    hook (mount-product-files.sh) appended, the default rlimits removed."""
    spec = json.loads(json.dumps(oci_spec))
    hooks = spec.setdefault("hooks", {})
    hooks["createContainer"] = [*hooks.get("createContainer", []), {"path": "/kind/bin/mount-product-files.sh"}]
    spec.get("process", {}).pop("rlimits", None)
    return dict(spec)


def fingerprint(inputs: Mapping[str, str]) -> str:
    """A short digest of what went into an image (versions, file digests), to tell whether it is current."""
    text = json.dumps({"recipe": RECIPE, **inputs}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
