"""Pods that cannot pull their image are named under the Kustomization that applied their workload, and keep the
repository from being green even when Flux calls the Kustomization Ready (no health checks)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sandbox.reconciler import stuckpods, verdict

HEAD = "0123456789abcdef"
IMAGE = "127.0.0.1:5000/app:9.9.9"
PULL_MESSAGE = f"failed to pull image '{IMAGE}': 127.0.0.1:5000/app:9.9.9 not found in the sandbox registry"


def deployment(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "apps"},
            "spec": {"selector": {"matchLabels": labels}}}


def pod(name: str, labels: dict[str, str], reason: str | None, message: str = "") -> dict[str, Any]:
    state = {"waiting": {"reason": reason, "message": message}} if reason else {"running": {}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "apps", "labels": labels},
            "status": {"containerStatuses": [{"name": "app", "image": IMAGE, "state": state}]}}


class FakeKube:
    """get_or_none and list over a fixed set of objects (the seam stuckpods uses)."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return next((o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name
                     and o["metadata"].get("namespace") == namespace), None)

    def list(self, api_version: str, kind: str, namespace: str | None = None, *, label_selector: str = "",
             **_: Any) -> Any:
        wanted = dict(pair.split("=", 1) for pair in label_selector.split(",") if pair)
        return SimpleNamespace(items=[
            o for o in self.objects if o["kind"] == kind
            and (namespace is None or o["metadata"].get("namespace") == namespace)
            and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())])


def kustomization(ready: str = "True", reason: str = "ReconciliationSucceeded", message: str = "") -> dict[str, Any]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
                       "lastAppliedRevision": f"main@sha1:{HEAD}", "lastAttemptedRevision": f"main@sha1:{HEAD}",
                       "inventory": {"entries": [{"id": "apps_web_apps_Deployment", "v": "v1"},
                                                 {"id": "apps_settings__ConfigMap", "v": "v1"}]}}}


def test_waiting_containers_reads_both_pull_reasons_and_init_containers() -> None:
    failing = pod("web-1", {"app": "web"}, "ErrImagePull", PULL_MESSAGE)
    failing["status"]["initContainerStatuses"] = [{"name": "init", "image": IMAGE, "state": {
        "waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{IMAGE}"'}}}]
    assert stuckpods.waiting_containers(failing) == [
        ("init", IMAGE, "ImagePullBackOff", f'Back-off pulling image "{IMAGE}"'),
        ("app", IMAGE, "ErrImagePull", PULL_MESSAGE)]
    assert stuckpods.waiting_containers(pod("web-2", {}, "CrashLoopBackOff", "back-off 10s")) == [
        ("app", IMAGE, "CrashLoopBackOff", "back-off 10s")]
    assert stuckpods.waiting_containers(pod("web-4", {}, "ContainerCreating")) == []
    assert stuckpods.waiting_containers(pod("web-3", {}, None)) == []


def test_only_the_workloads_pods_are_named() -> None:
    kube = FakeKube([deployment("web", {"app": "web"}),
                     pod("web-1", {"app": "web"}, "ErrImagePull", PULL_MESSAGE),
                     pod("other-1", {"app": "other"}, "ImagePullBackOff", "not ours"),
                     pod("web-2", {"app": "web"}, None)])
    found = stuckpods.of_kustomization(kube, kustomization())  # type: ignore[arg-type]
    assert [w.line() for w in found] == [
        f"Deployment/apps/web: pod web-1 container app waiting in ErrImagePull: {PULL_MESSAGE}"]


def test_a_ready_kustomization_whose_pods_cannot_pull_is_not_green() -> None:
    kube = FakeKube([deployment("web", {"app": "web"}), pod("web-1", {"app": "web"}, "ImagePullBackOff",
                                                            f'Back-off pulling image "{IMAGE}"')])
    result = verdict.judge(kube, [kustomization()], HEAD)  # type: ignore[arg-type]
    assert not result.green
    assert not result.final  # pushing the image would fix it: keep waiting, then report
    assert result.pending == (f'Deployment/apps/web: pod web-1 container app waiting in ImagePullBackOff: Back-off '
                              f'pulling image "{IMAGE}" (applied by Kustomization/flux-system/apps)',)


def test_a_failed_health_check_is_reported_with_the_pods_that_cannot_pull() -> None:
    kube = FakeKube([deployment("web", {"app": "web"}), pod("web-1", {"app": "web"}, "ErrImagePull", PULL_MESSAGE)])
    failed = kustomization("False", "HealthCheckFailed", "timeout waiting for: [Deployment/apps/web status: "
                                                         "'InProgress']")
    result = verdict.judge(kube, [failed], HEAD)  # type: ignore[arg-type]
    assert result.final  # a retry of the same revision fails the same way
    assert result.pending[0].startswith("Kustomization/flux-system/apps: Ready=False HealthCheckFailed: timeout")
    assert result.pending[1] == (f"Deployment/apps/web: pod web-1 container app waiting in ErrImagePull: "
                                 f"{PULL_MESSAGE} (applied by Kustomization/flux-system/apps)")


def test_running_pods_leave_the_repository_green() -> None:
    kube = FakeKube([deployment("web", {"app": "web"}), pod("web-1", {"app": "web"}, None)])
    assert verdict.judge(kube, [kustomization()], HEAD).green  # type: ignore[arg-type]


def test_while_a_revision_is_applied_its_workloads_are_found_by_the_controllers_labels() -> None:
    web = deployment("web", {"app": "web"})
    web["metadata"]["labels"] = {"kustomize.toolkit.fluxcd.io/name": "apps",
                                 "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}
    other = deployment("other", {"app": "other"})  # not applied by this Kustomization
    kube = FakeKube([web, other, pod("web-1", {"app": "web"}, "ErrImagePull", PULL_MESSAGE),
                     pod("other-1", {"app": "other"}, "ErrImagePull", "not ours")])
    progressing = kustomization("Unknown", "Progressing", "Reconciliation in progress")
    del progressing["status"]["inventory"]  # written once the revision is applied
    found = stuckpods.of_kustomization(kube, progressing)  # type: ignore[arg-type]
    assert [w.line() for w in found] == [
        f"Deployment/apps/web: pod web-1 container app waiting in ErrImagePull: {PULL_MESSAGE}"]
