"""Pods that cannot start: the workloads (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, Pods) a
Kustomization applied, and those of their pods whose containers wait in ``ErrImagePull``, ``ImagePullBackOff`` or
``CrashLoopBackOff``, with the kubelet's message. Flux's health checks only say a Deployment is InProgress; this
names the cause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.errors import SandboxError
from sandbox.kube.client import KubeClient
from sandbox.reconciler.kustomize import inventory

Obj = dict[str, Any]

NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")
STUCK_REASONS = (*PULL_REASONS, "CrashLoopBackOff")
# group/Kind of the inventory entries whose pods are looked at, with their apiVersion.
WORKLOADS = {("apps", "Deployment"): "apps/v1", ("apps", "StatefulSet"): "apps/v1",
             ("apps", "DaemonSet"): "apps/v1", ("apps", "ReplicaSet"): "apps/v1", ("batch", "Job"): "batch/v1",
             ("", "Pod"): "v1"}


@dataclass(frozen=True)
class WaitingContainer:
    """One container of one pod that waits: for its image, or to be restarted after crashing."""

    workload: str  # Kind/ns/name
    pod: str
    container: str
    image: str
    reason: str  # ErrImagePull | ImagePullBackOff | CrashLoopBackOff
    message: str

    def line(self) -> str:
        return (f"{self.workload}: pod {self.pod} container {self.container} waiting in {self.reason}: "
                f"{self.message or self.image}")


def waiting_containers(pod: Obj) -> list[tuple[str, str, str, str]]:
    """(container, image, reason, message) of each container (init containers too) of ``pod`` waiting to pull its
    image or to be restarted after crashing."""
    status = pod.get("status") or {}
    found = []
    for entry in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (entry.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            found.append((str(entry.get("name", "")), str(entry.get("image", "")), str(waiting["reason"]),
                          " ".join(str(waiting.get("message", "")).split())))
    return found


def selects(workload: Obj, pod: Obj) -> bool:
    """Whether ``pod`` belongs to ``workload``: its own name for a Pod, else the selector's matchLabels (and, when
    there are only matchExpressions, any pod of the namespace: never hide a failure)."""
    if workload.get("kind") == "Pod":
        return bool(pod["metadata"]["name"] == workload["metadata"]["name"])
    selector = (workload.get("spec") or {}).get("selector") or {}
    match = selector.get("matchLabels") or {}
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(key) == value for key, value in match.items())


def _current(kustomization: Obj) -> bool:
    """Ready for its latest generation, with the revision it attempted applied."""
    status = kustomization.get("status") or {}
    ready: Obj = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return bool(ready.get("status") == "True" and status.get("lastAppliedRevision")
                and status.get("lastAppliedRevision") == status.get("lastAttemptedRevision"))


def _labelled(kube: KubeClient, kustomization: Obj) -> list[tuple[str, str, str, str]]:
    """(apiVersion, kind, namespace, name) of the Deployments, StatefulSets and DaemonSets carrying the
    Kustomization's ``kustomize.toolkit.fluxcd.io/name|namespace`` labels."""
    meta = kustomization["metadata"]
    selector = f"{NAME_LABEL}={meta['name']},{NAMESPACE_LABEL}={meta.get('namespace', '')}"
    found = []
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        try:
            items = kube.list("apps/v1", kind, None, label_selector=selector).items
        except SandboxError:
            continue
        found += [("apps/v1", kind, str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"]))
                  for o in items]
    return found


def of_kustomization(kube: KubeClient, kustomization: Obj) -> list[WaitingContainer]:
    """The containers waiting (to pull their image, or crash-looping) in the pods of the workloads
    ``kustomization``'s inventory holds. Objects that cannot be read are skipped (this only adds detail to what Flux
    reports)."""
    workloads: list[tuple[str, str, str, str]] = []  # (apiVersion, kind, namespace, name)
    for entry in ((kustomization.get("status") or {}).get("inventory") or {}).get("entries") or []:
        meta = inventory.parse_id(str(entry.get("id", "")))
        api_version = WORKLOADS.get((meta.group, meta.kind))
        if api_version and meta.namespace:
            workloads.append((api_version, meta.kind, meta.namespace, meta.name))
    if not _current(kustomization):
        # Applying (or health-checking) a revision: the inventory is written at the end, so what this revision
        # applied is found by the labels the controller sets on every object.
        workloads += [w for w in _labelled(kube, kustomization) if w not in workloads]
    if not workloads:
        return []
    pods_by_namespace: dict[str, list[Obj]] = {}
    found: list[WaitingContainer] = []
    for api_version, kind, namespace, name in workloads:
        try:
            live = kube.get_or_none(api_version, kind, name, namespace)
            if live is None:
                continue
            if namespace not in pods_by_namespace:
                pods_by_namespace[namespace] = kube.list("v1", "Pod", namespace).items
        except SandboxError:
            continue
        for pod in pods_by_namespace[namespace]:
            if not selects(live, pod):
                continue
            for container, image, reason, message in waiting_containers(pod):
                found.append(WaitingContainer(f"{kind}/{namespace}/{name}", str(pod["metadata"]["name"]), container,
                                              image, reason, message))
    return found
