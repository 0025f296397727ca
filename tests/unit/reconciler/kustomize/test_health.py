from datetime import UTC, datetime
from typing import Any

import pytest

from sandbox.reconciler.kustomize.health import Health, Status, all_current, status_of, wait_error
from tests.unit.reconciler.kustomize.objects import obj

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def deployment(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
               generation: int = 1) -> dict[str, Any]:
    return obj("apps/v1", "Deployment", "web", "default", generation=generation,
               spec={"replicas": 2, **(spec or {})}, status={"observedGeneration": 1, **(status or {})})


ROLLED_OUT = {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
              "conditions": [{"type": "Available", "status": "True"},
                             {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}


def pod(phase: str, conditions: list[dict[str, Any]] | None = None, waiting: str = "",
        created: str = "2026-01-01T11:00:00Z") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if waiting:
        status["containerStatuses"] = [{"name": "app", "state": {"waiting": {"reason": waiting}}}]
    return obj("v1", "Pod", "p", "default", creationTimestamp=created, status=status)


UNSCHEDULABLE = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]

CASES: list[tuple[str, dict[str, Any] | None, Status]] = [
    ("not-found", None, Status.NOT_FOUND),
    ("terminating", obj("v1", "ConfigMap", "c", deletionTimestamp="2026-01-01T00:00:00Z"), Status.TERMINATING),
    ("generation-not-observed", deployment(ROLLED_OUT, ROLLED_OUT, generation=2), Status.IN_PROGRESS),
    ("reconciling-condition", obj("example.com/v1", "Widget", "w", status={
        "conditions": [{"type": "Reconciling", "status": "True", "message": "working"}]}), Status.IN_PROGRESS),
    ("stalled-condition", obj("example.com/v1", "Widget", "w", status={
        "conditions": [{"type": "Stalled", "status": "True", "message": "broken"}]}), Status.FAILED),
    ("flux-object-ready", obj("source.toolkit.fluxcd.io/v1", "GitRepository", "repo", generation=3, status={
        "observedGeneration": 3, "conditions": [{"type": "Ready", "status": "True"}]}), Status.CURRENT),
    ("flux-object-new-generation", obj("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "k", generation=4,
                                       status={"observedGeneration": 3}), Status.IN_PROGRESS),
    ("ready-false-without-kstatus-conditions-is-current", obj("example.com/v1", "Certificate", "c", status={
        "conditions": [{"type": "Ready", "status": "False"}]}), Status.CURRENT),
    ("unknown-kind-without-status", obj("example.com/v1", "Widget", "w"), Status.CURRENT),
    ("configmap", obj("v1", "ConfigMap", "c"), Status.CURRENT),
    ("secret", obj("v1", "Secret", "s"), Status.CURRENT),
    ("cronjob", obj("batch/v1", "CronJob", "cj"), Status.CURRENT),
    ("deployment-rolled-out", deployment(None, ROLLED_OUT), Status.CURRENT),
    ("deployment-no-status", deployment(), Status.IN_PROGRESS),
    ("deployment-not-all-updated", deployment(None, {**ROLLED_OUT, "updatedReplicas": 1}), Status.IN_PROGRESS),
    ("deployment-not-available", deployment(None, {**ROLLED_OUT, "availableReplicas": 1}), Status.IN_PROGRESS),
    ("deployment-not-ready", deployment(None, {**ROLLED_OUT, "readyReplicas": 1}), Status.IN_PROGRESS),
    ("deployment-old-pods-terminating", deployment(None, {**ROLLED_OUT, "replicas": 3}), Status.IN_PROGRESS),
    ("deployment-deadline-exceeded", deployment(None, {**ROLLED_OUT, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}), Status.FAILED),
    ("deployment-available-condition-missing", deployment(None, {**ROLLED_OUT, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}), Status.IN_PROGRESS),
    ("deployment-with-deadline-but-no-progress-condition",
     deployment({"progressDeadlineSeconds": 600}, {**ROLLED_OUT, "conditions": [
         {"type": "Available", "status": "True"}]}), Status.IN_PROGRESS),
    ("deployment-scaled-to-zero", deployment({"replicas": 0}, {"conditions": ROLLED_OUT["conditions"]}),
     Status.CURRENT),
    ("statefulset-ready", obj("apps/v1", "StatefulSet", "db", spec={"replicas": 2}, status={
        "replicas": 2, "readyReplicas": 2, "currentReplicas": 2, "updatedReplicas": 2,
        "currentRevision": "r1", "updateRevision": "r1"}), Status.CURRENT),
    ("statefulset-revision-mismatch", obj("apps/v1", "StatefulSet", "db", spec={"replicas": 2}, status={
        "replicas": 2, "readyReplicas": 2, "currentReplicas": 2, "updatedReplicas": 1,
        "currentRevision": "r1", "updateRevision": "r2"}), Status.IN_PROGRESS),
    ("statefulset-partition-done", obj("apps/v1", "StatefulSet", "db", spec={
        "replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}, status={
        "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
        "currentRevision": "r1", "updateRevision": "r2"}), Status.CURRENT),
    ("statefulset-partition-pending", obj("apps/v1", "StatefulSet", "db", spec={
        "replicas": 3, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}, status={
        "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1}), Status.IN_PROGRESS),
    ("statefulset-ondelete", obj("apps/v1", "StatefulSet", "db", spec={"updateStrategy": {"type": "OnDelete"}}),
     Status.CURRENT),
    ("statefulset-not-ready", obj("apps/v1", "StatefulSet", "db", spec={"replicas": 2}, status={
        "replicas": 2, "readyReplicas": 1}), Status.IN_PROGRESS),
    ("daemonset-ready", obj("apps/v1", "DaemonSet", "ds", generation=1, status={
        "observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
        "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 2}), Status.CURRENT),
    ("daemonset-not-observed-yet", obj("apps/v1", "DaemonSet", "ds", generation=1), Status.IN_PROGRESS),
    ("daemonset-not-available", obj("apps/v1", "DaemonSet", "ds", generation=1, status={
        "observedGeneration": 1, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
        "updatedNumberScheduled": 2, "numberAvailable": 1, "numberReady": 2}), Status.IN_PROGRESS),
    ("replicaset-ready", obj("apps/v1", "ReplicaSet", "rs", spec={"replicas": 1}, status={
        "replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "fullyLabeledReplicas": 1}), Status.CURRENT),
    ("replicaset-replica-failure", obj("apps/v1", "ReplicaSet", "rs", status={
        "conditions": [{"type": "ReplicaFailure", "status": "True"}]}), Status.IN_PROGRESS),
    ("pod-running-ready", pod("Running", [{"type": "Ready", "status": "True"}]), Status.CURRENT),
    ("pod-running-not-ready", pod("Running", [{"type": "Ready", "status": "False"}]), Status.IN_PROGRESS),
    ("pod-crash-loop", pod("Running", waiting="CrashLoopBackOff"), Status.FAILED),
    ("pod-image-pull-backoff-is-not-failed", pod("Pending", waiting="ImagePullBackOff"), Status.IN_PROGRESS),
    ("pod-err-image-pull-running", pod("Running", waiting="ErrImagePull"), Status.IN_PROGRESS),
    ("pod-succeeded", pod("Succeeded"), Status.CURRENT),
    ("pod-failed-phase-is-current", pod("Failed"), Status.CURRENT),
    ("pod-pending", pod("Pending"), Status.IN_PROGRESS),
    ("pod-unschedulable-long", pod("Pending", UNSCHEDULABLE), Status.FAILED),
    ("pod-unschedulable-recent", pod("Pending", UNSCHEDULABLE, created="2026-01-01T11:59:55Z"),
     Status.IN_PROGRESS),
    ("pod-no-phase", pod(""), Status.IN_PROGRESS),
    ("pod-unknown-phase", pod("Weird"), Status.UNKNOWN),
    ("pvc-bound", obj("v1", "PersistentVolumeClaim", "data", status={"phase": "Bound"}), Status.CURRENT),
    ("pvc-pending", obj("v1", "PersistentVolumeClaim", "data", status={"phase": "Pending"}), Status.IN_PROGRESS),
    ("service-cluster-ip", obj("v1", "Service", "s", spec={"clusterIP": "10.96.0.10"}), Status.CURRENT),
    ("service-lb-without-cluster-ip", obj("v1", "Service", "s", spec={"type": "LoadBalancer"}),
     Status.IN_PROGRESS),
    ("service-lb-pending-ingress-is-current", obj("v1", "Service", "s", spec={
        "type": "LoadBalancer", "clusterIP": "10.96.0.10"}, status={"loadBalancer": {}}), Status.CURRENT),
    ("pdb", obj("policy/v1", "PodDisruptionBudget", "pdb"), Status.CURRENT),
    ("job-complete", obj("batch/v1", "Job", "j", status={"conditions": [{"type": "Complete", "status": "True"}]}),
     Status.CURRENT),
    ("job-failed", obj("batch/v1", "Job", "j", status={"conditions": [{"type": "Failed", "status": "True"}]}),
     Status.FAILED),
    ("job-not-started", obj("batch/v1", "Job", "j"), Status.IN_PROGRESS),
    ("job-running", obj("batch/v1", "Job", "j", status={"startTime": "2026-01-01T00:00:00Z", "active": 1}),
     Status.CURRENT),
    ("job-suspended", obj("batch/v1", "Job", "j", status={"conditions": [{"type": "Suspended", "status": "True"}]}),
     Status.CURRENT),
    ("crd-established", obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "w", status={
        "conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}),
     Status.CURRENT),
    ("crd-installing", obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "w"), Status.IN_PROGRESS),
    ("crd-names-conflict", obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "w", status={
        "conditions": [{"type": "NamesAccepted", "status": "False", "message": "taken"}]}), Status.FAILED),
    ("namespace", obj("v1", "Namespace", "apps", status={"phase": "Active"}), Status.CURRENT),
]


@pytest.mark.parametrize(("subject", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_status_of(subject: dict[str, Any] | None, expected: Status) -> None:
    assert status_of(subject, now=NOW).status is expected


def test_messages_explain_the_status() -> None:
    health = status_of(deployment(None, {**ROLLED_OUT, "readyReplicas": 1}), now=NOW)
    assert health.message == "Ready: 1/2"
    assert status_of(pod("Running", waiting="CrashLoopBackOff"), now=NOW).message == \
        "Containers in CrashLoop state: app"


def test_wait_error_fail_fast_lists_only_failed_objects() -> None:
    statuses = {"Deployment/default/web": Health(Status.FAILED, "Progress deadline exceeded"),
                "Deployment/default/api": Health(Status.IN_PROGRESS, "Ready: 0/1"),
                "ConfigMap/default/c": Health(Status.CURRENT, "")}
    assert wait_error(statuses, timed_out=False) == \
        "failed early due to stalled resources: [Deployment/default/web status: 'Failed']"
    assert not all_current(statuses)


def test_wait_error_after_timeout_lists_everything_not_current() -> None:
    statuses = {"Deployment/default/web": Health(Status.IN_PROGRESS, "Ready: 0/1"), "Service/default/web": None,
                "ConfigMap/default/c": Health(Status.CURRENT, "")}
    assert wait_error(statuses, timed_out=True) == ("timeout waiting for: [Deployment/default/web status: "
                                                    "'InProgress', can't determine status for Service/default/web]")


def test_all_current_means_no_error() -> None:
    statuses = {"ConfigMap/default/c": Health(Status.CURRENT, "")}
    assert all_current(statuses) and wait_error(statuses, timed_out=False) is None
