"""The node image's default storage, as kind's node image has it: rancher's local-path-provisioner serving the default
StorageClass ``standard`` (``WaitForFirstConsumer``, volumes under ``/var/local-path-provisioner`` on the node), its
helper pods running a static busybox. The manifest follows kind's ``pkg/build/nodeimage/const_storage.go`` object for
object; only the two image references differ: both images are built here and pre-imported into the node's containerd
(never pulled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

# kind v0.33.0 builds v0.0.34 (images/local-path-provisioner/Makefile); the module proxy here serves v0.0.30 as its
# newest, whose flags, config.json and helper-pod contract are the same.
LOCAL_PATH_MODULE = "github.com/rancher/local-path-provisioner"
LOCAL_PATH_VERSION = "v0.0.30"
NAMESPACE = "local-path-storage"
SERVICE_ACCOUNT = "local-path-provisioner-service-account"
NAME = "local-path-provisioner"
PROVISIONER = "rancher.io/local-path"
STORAGE_CLASS = "standard"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
VOLUME_ROOT = "/var/local-path-provisioner"  # kind's choice (rancher's default is /opt/local-path-provisioner)
PROVISIONER_IMAGE = f"sandbox.local/local-path-provisioner:{LOCAL_PATH_VERSION}"
# The helper pods run `/bin/sh /script/setup|teardown` (mkdir, rm): Debian's busybox-static does all three.
HELPER_IMAGE = "sandbox.local/local-path-helper:busybox-static"
HELPER_LINKS = ("sh", "mkdir", "rm")  # /bin/<name> -> busybox
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static (bootstrap.sh installs it)
CONFIG_MOUNT = "/etc/config/"

SETUP = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"'
TEARDOWN = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"'
_CONTROL_PLANE_TOLERATIONS = [
    {"key": f"node-role.kubernetes.io/{role}", "operator": "Equal", "effect": "NoSchedule"}
    for role in ("control-plane", "master")
]


def _meta(name: str, namespace: str | None = NAMESPACE, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {**meta, **extra}


def _rbac() -> list[dict[str, Any]]:
    role = f"{NAME}-role"
    binding = f"{NAME}-bind"
    subject = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
    read = ["get", "list", "watch"]
    write = [*read, "create", "patch", "update", "delete"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(role),
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": write}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(role, None),
         "rules": [
             {"apiGroups": [""], "resources": ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
              "verbs": read},
             {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": write},
             {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
             {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": read},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(binding),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}, "subjects": subject},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(binding, None),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
         "subjects": subject},
    ]


def _deployment() -> dict[str, Any]:
    labels = {"app": NAME}
    container = {
        "name": NAME,
        "image": PROVISIONER_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": [NAME, "--debug", "start", "--helper-image", HELPER_IMAGE,
                    "--config", f"{CONFIG_MOUNT}config.json"],
        "volumeMounts": [{"name": "config-volume", "mountPath": CONFIG_MOUNT}],
        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "CONFIG_MOUNT_PATH", "value": CONFIG_MOUNT}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(NAME),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": _CONTROL_PLANE_TOLERATIONS,
                "serviceAccountName": SERVICE_ACCOUNT,
                "containers": [container],
                "volumes": [{"name": "config-volume", "configMap": {"name": "local-path-config"}}],
            }},
        },
    }


def helper_pod() -> dict[str, Any]:
    """The template the provisioner fills in for each setup/teardown (command, volumes, node)."""
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "helper-pod"},
        "spec": {
            "priorityClassName": "system-node-critical",
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"},
                            {"operator": "Exists", "effect": "NoExecute"}],
            "containers": [{"name": "helper-pod", "image": HELPER_IMAGE, "imagePullPolicy": "IfNotPresent"}],
        },
    }


def _config_map() -> dict[str, Any]:
    config = {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [VOLUME_ROOT]}]}
    return {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("local-path-config"),
        "data": {
            "config.json": json.dumps(config, indent=2),
            "setup": SETUP,
            "teardown": TEARDOWN,
            "helperPod.yaml": yaml.safe_dump(helper_pod(), sort_keys=False).rstrip("\n"),
        },
    }


def _storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "provisioner": PROVISIONER,
        "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",
    }


def objects() -> list[dict[str, Any]]:
    """Every object of the manifest, in the order kind's has them."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    return [namespace, *_rbac(), _deployment(), _storage_class(), _config_map()]


def manifest() -> str:
    """/kind/manifests/default-storage.yaml, which kind's storage action applies from the control-plane node."""
    header = ("# The default StorageClass of a gitops-sandbox kind node: rancher's local-path-provisioner, as kind's\n"
              "# node image has it, with both images built locally and pre-imported into the node's containerd.\n")
    return header + yaml.safe_dump_all(objects(), sort_keys=False)
