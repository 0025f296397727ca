"""Probes on the embedded cluster: the node agent's simulated probe schedule seen through the real controllers."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from sandbox.handle import GitOpsRepo, SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.reconciler import ops
from sandbox.tools.kubectl import kubectl
from sandbox.waiting import wait_until

FAIL_READINESS = {"probe.gitops-sandbox.io/readiness": "fail"}
FAIL_LIVENESS = {"probe.gitops-sandbox.io/liveness": "fail"}
CRASH = {"probe.gitops-sandbox.io/crash": "true"}


def deployment(name: str, namespace: str, *, annotations: dict[str, str] | None = None,
               **probes: dict[str, int]) -> dict[str, Any]:
    probe_specs = {f"{kind}Probe": {"httpGet": {"path": "/", "port": 80}, **spec} for kind, spec in probes.items()}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.25", **probe_specs}]}}},
    }


def parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def only_pod(kube: KubeClient, name: str, namespace: str) -> dict[str, Any] | None:
    pods = [p for p in kube.list("v1", "Pod", namespace, label_selector=f"app={name}").items
            if not p["metadata"].get("deletionTimestamp")]
    return pods[0] if len(pods) == 1 else None


def running_pod(kube: KubeClient, name: str, namespace: str) -> dict[str, Any] | None:
    pod = only_pod(kube, name, namespace)
    statuses = (pod or {}).get("status", {}).get("containerStatuses", [])
    return pod if statuses and "running" in statuses[0]["state"] else None


def available(kube: KubeClient, name: str, namespace: str) -> dict[str, Any] | None:
    obj = kube.get("apps/v1", "Deployment", name, namespace)
    return obj if condition(obj, "Available").get("status") == "True" else None


@pytest.fixture
def namespace(sandbox: SandboxHandle, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "probes-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].rstrip("-")
    sandbox.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        sandbox.kube.delete("v1", "Namespace", name)


def test_readiness_initial_delay_holds_back_availability(sandbox: SandboxHandle, namespace: str) -> None:
    kube = sandbox.kube
    kube.create(deployment("slow", namespace, readiness={"initialDelaySeconds": 3, "periodSeconds": 1}))
    deployed = wait_until(lambda: available(kube, "slow", namespace), timeout=60,
                          what=f"Deployment {namespace}/slow to be Available")
    pod = only_pod(kube, "slow", namespace)
    assert pod is not None
    (container,) = pod["status"]["containerStatuses"]
    started = parse(container["state"]["running"]["startedAt"])
    became_ready = parse(condition(pod, "Ready")["lastTransitionTime"])
    delay = datetime.timedelta(seconds=3)
    assert container["ready"] and condition(pod, "Ready")["status"] == "True"
    assert became_ready >= started + delay
    assert parse(condition(pod, "ContainersReady")["lastTransitionTime"]) >= started + delay
    assert parse(condition(deployed, "Available")["lastTransitionTime"]) >= started + delay


def test_failing_readiness_in_the_template_keeps_the_deployment_unavailable(sandbox: SandboxHandle,
                                                                           namespace: str) -> None:
    kube = sandbox.kube
    kube.create(deployment("broken", namespace, annotations=FAIL_READINESS, readiness={"periodSeconds": 1}))
    pod = wait_until(lambda: running_pod(kube, "broken", namespace), timeout=60,
                     what=f"the pod of {namespace}/broken to run")
    started = parse(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    # Five probe periods later it has failed every probe, and is still not Ready.
    wait_until(lambda: datetime.datetime.now(datetime.UTC) >= started + datetime.timedelta(seconds=5), timeout=10,
               what="five readiness probe periods to pass")
    pod = running_pod(kube, "broken", namespace)
    assert pod is not None
    assert condition(pod, "Ready")["status"] == "False"
    assert condition(pod, "Ready")["message"] == "containers with unready status: [app]"
    assert not pod["status"]["containerStatuses"][0]["ready"]
    deployed = kube.get("apps/v1", "Deployment", "broken", namespace)
    assert condition(deployed, "Available")["status"] == "False"
    assert deployed["status"].get("unavailableReplicas") == 1 and not deployed["status"].get("readyReplicas")


def test_annotating_a_live_pod_makes_it_unready_then_ready_again(sandbox: SandboxHandle, namespace: str) -> None:
    kube = sandbox.kube
    kube.create(deployment("live", namespace, readiness={"periodSeconds": 1, "failureThreshold": 2}))
    wait_until(lambda: available(kube, "live", namespace), timeout=60, what=f"{namespace}/live to be Available")
    pod = only_pod(kube, "live", namespace)
    assert pod is not None
    name = pod["metadata"]["name"]
    before = time.time()
    kubectl(["annotate", "pod", name, "-n", namespace, "probe.gitops-sandbox.io/readiness=fail"],
            kubeconfig=sandbox.kubeconfig)

    def unavailable() -> dict[str, Any] | None:
        obj = kube.get("apps/v1", "Deployment", "live", namespace)
        return obj if obj["status"].get("unavailableReplicas") == 1 else None

    wait_until(unavailable, timeout=30, what=f"{namespace}/live to report its pod unavailable")
    pod = kube.get("v1", "Pod", name, namespace)
    assert condition(pod, "Ready")["status"] == "False"
    # Two failed probes (failureThreshold) after the annotation, one period apart.
    assert parse(condition(pod, "Ready")["lastTransitionTime"]).timestamp() >= before + 1
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 0, "readiness never restarts a container"

    kubectl(["annotate", "pod", name, "-n", namespace, "probe.gitops-sandbox.io/readiness-"],
            kubeconfig=sandbox.kubeconfig)
    wait_until(lambda: available(kube, "live", namespace) and
               kube.get("apps/v1", "Deployment", "live", namespace)["status"].get("readyReplicas") == 1,
               timeout=30, what=f"{namespace}/live to be ready again")


def test_failing_liveness_restarts_the_container_into_crash_loop_back_off(sandbox: SandboxHandle,
                                                                         namespace: str) -> None:
    kube = sandbox.kube
    kube.create(deployment("crashy", namespace, annotations=FAIL_LIVENESS,
                           liveness={"initialDelaySeconds": 1, "periodSeconds": 1, "failureThreshold": 1}))

    def status_of_app() -> dict[str, Any] | None:
        pod = only_pod(kube, "crashy", namespace)
        statuses = (pod or {}).get("status", {}).get("containerStatuses", [])
        return statuses[0] if statuses else None

    def restarted() -> dict[str, Any] | None:
        status = status_of_app()
        return status if status and status["restartCount"] >= 1 else None

    first = wait_until(restarted, timeout=60, what=f"the container of {namespace}/crashy to be restarted")
    terminated = first["lastState"]["terminated"]
    assert terminated["reason"] == "Error" and terminated["exitCode"] == 137
    assert parse(terminated["finishedAt"]) >= parse(terminated["startedAt"]) + datetime.timedelta(seconds=1)

    def backing_off() -> dict[str, Any] | None:
        status = status_of_app()
        waiting = (status or {}).get("state", {}).get("waiting", {})
        return status if waiting.get("reason") == "CrashLoopBackOff" else None

    looping = wait_until(backing_off, timeout=30, what=f"{namespace}/crashy to be in CrashLoopBackOff")
    assert looping["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=app pod=")
    assert not looping["ready"]
    # The Deployment's status follows the pod's through kube-controller-manager, a moment later (under load, later).
    wait_until(lambda: kube.get("apps/v1", "Deployment", "crashy", namespace)["status"].get("unavailableReplicas")
               == 1, timeout=30, what=f"Deployment {namespace}/crashy to count its replica unavailable")
    pod = only_pod(kube, "crashy", namespace)
    assert pod is not None
    events = kube.list("v1", "Event", namespace, field_selector=f"involvedObject.name={pod['metadata']['name']}")
    seen = {(e["reason"], e["source"].get("component")) for e in events.items}
    assert {("Unhealthy", "kubelet"), ("Killing", "kubelet"), ("BackOff", "kubelet")} <= seen


def test_crash_annotation_loops_the_container_in_crash_loop_back_off_until_removed(sandbox: SandboxHandle,
                                                                                  namespace: str) -> None:
    kube = sandbox.kube
    kube.create(deployment("crashing", namespace, annotations=CRASH, readiness={"periodSeconds": 1}))

    def app_status(restarts: int) -> dict[str, Any] | None:
        pod = only_pod(kube, "crashing", namespace)
        statuses = (pod or {}).get("status", {}).get("containerStatuses", [])
        waiting = statuses[0].get("state", {}).get("waiting", {}) if statuses else {}
        looping = waiting.get("reason") == "CrashLoopBackOff" and statuses[0]["restartCount"] >= restarts
        return statuses[0] if looping else None

    first = wait_until(lambda: app_status(1), timeout=60, what=f"{namespace}/crashing to be in CrashLoopBackOff")
    assert first["lastState"]["terminated"]["exitCode"] == 1 and first["lastState"]["terminated"]["reason"] == "Error"
    assert first["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=app pod=")
    assert not first["ready"]
    # After the 10 s back-off it is started again, crashes again, and waits twice as long.
    second = wait_until(lambda: app_status(2), timeout=30, what=f"{namespace}/crashing to crash a second time")
    assert second["state"]["waiting"]["message"].startswith("back-off 20s ")
    pod = only_pod(kube, "crashing", namespace)
    assert pod is not None and condition(pod, "Ready")["status"] == "False"
    deployed = kube.get("apps/v1", "Deployment", "crashing", namespace)
    assert condition(deployed, "Available")["status"] == "False" and not deployed["status"].get("readyReplicas")
    events = kube.list("v1", "Event", namespace, field_selector=f"involvedObject.name={pod['metadata']['name']}")
    assert ("Warning", "BackOff", "kubelet") in {(e["type"], e["reason"], e["source"].get("component"))
                                                for e in events.items}

    # Removed from the pod template: the new pod runs and the Deployment becomes Available.
    kube.patch("apps/v1", "Deployment", "crashing", namespace,
               {"spec": {"template": {"metadata": {"annotations": {"probe.gitops-sandbox.io/crash": None}}}}})
    wait_until(lambda: available(kube, "crashing", namespace) and
               kube.get("apps/v1", "Deployment", "crashing", namespace)["status"].get("updatedReplicas") == 1 and
               not kube.get("apps/v1", "Deployment", "crashing", namespace)["status"].get("unavailableReplicas"),
               timeout=60, what=f"{namespace}/crashing to be Available once the annotation is gone")


def test_crashing_test_pod_fails(sandbox: SandboxHandle, namespace: str) -> None:
    kube = sandbox.kube
    kube.create({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "check", "namespace": namespace, "annotations": CRASH},
                 "spec": {"restartPolicy": "Never", "containers": [{"name": "check", "image": "busybox:1.36"}]}})

    def failed() -> dict[str, Any] | None:
        pod = kube.get("v1", "Pod", "check", namespace)
        return pod if pod.get("status", {}).get("phase") == "Failed" else None

    pod = wait_until(failed, timeout=60, what=f"pod {namespace}/check to fail")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")


def test_a_commit_that_fails_readiness_fails_the_kustomization_health_check(sandbox: SandboxHandle,
                                                                           gitops_repo: GitOpsRepo) -> None:
    namespace = f"{gitops_repo.name}-ns"
    bad = deployment("web", namespace, annotations=FAIL_READINESS,
                     readiness={"initialDelaySeconds": 1, "periodSeconds": 1})
    namespace_yaml = yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    gitops_repo.wait_for_source(gitops_repo.commit({"ns.yaml": namespace_yaml, "web.yaml": yaml.safe_dump(bad)},
                                                   "web, failing readiness"))
    name = gitops_repo.kustomization(wait=True, timeout="30s")  # the reconciler's shortest health check timeout

    def health_check_failed() -> dict[str, Any] | None:
        ks = gitops_repo.get_kustomization(name)
        return ks if ops.ready_condition(ks).get("reason") == "HealthCheckFailed" else None

    ks = wait_until(health_check_failed, timeout=90, what=f"Kustomization {name} to fail its health check")
    assert f"Deployment/{namespace}/web" in ops.ready_condition(ks)["message"]
    deployed = sandbox.kube.get("apps/v1", "Deployment", "web", namespace)
    assert deployed["status"].get("unavailableReplicas") == 1
