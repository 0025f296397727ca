"""kstatus: the health of one object (sigs.k8s.io/cli-utils ``status.Compute``, as Flux's fork runs it).

Generic rules come first: a ``deletionTimestamp`` means Terminating; ``metadata.generation`` differing from
``status.observedGeneration`` means InProgress; a ``Reconciling=True`` condition means InProgress and
``Stalled=True`` means Failed. Then the built-in kinds have their own rules (Deployment, StatefulSet,
DaemonSet, ReplicaSet, Pod, PVC, Service, PodDisruptionBudget, Job, CRD; ConfigMap, Secret and CronJob are
always Current). Any other object is Current — kstatus does not read a ``Ready`` condition: Flux's own
objects report progress through ``Reconciling`` and failure through ``Stalled``, which the generic rules read.

A Kustomization's ``spec.healthCheckExprs`` replace all of that for the kinds they name (fluxcd/pkg
``runtime/cel`` StatusEvaluator): an observed generation behind ``metadata.generation`` is InProgress, then the
``inProgress``, ``failed`` and ``current`` expressions are tried in that order against the object's fields, and
when none is true the object is InProgress. An expression that fails to evaluate makes the status Unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sandbox.reconciler.kustomize import manifest
from sandbox.reconciler.kustomize.manifest import Obj
from sandbox.reconciler.runtime import cel

SCHEDULE_WINDOW = timedelta(seconds=15)  # how long a Pod may be unschedulable before it counts as Failed
_MAX_INT32 = 2**31 - 1


class Status(StrEnum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Health:
    status: Status
    message: str
    error: str = ""  # why the status could not be computed (a CEL expression that failed to evaluate)

    @property
    def current(self) -> bool:
        return self.status is Status.CURRENT


def _in_progress(message: str) -> Health:
    return Health(Status.IN_PROGRESS, message)


def _failed(message: str) -> Health:
    return Health(Status.FAILED, message)


def _current(message: str) -> Health:
    return Health(Status.CURRENT, message)


def _field(obj: Obj, path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _int(obj: Obj, path: str, default: int) -> int:
    value = _field(obj, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def _str(obj: Obj, path: str, default: str) -> str:
    value = _field(obj, path)
    return value if isinstance(value, str) else default


def _conditions(obj: Obj) -> list[dict[str, Any]]:
    conditions = _field(obj, "status.conditions")
    return [c for c in conditions if isinstance(c, dict)] if isinstance(conditions, list) else []


def _condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    return next((c for c in _conditions(obj) if c.get("type") == kind), None)


def status_of(obj: Obj | None, *, now: datetime | None = None,
              custom: Mapping[str, CustomHealthCheck] | None = None) -> Health:
    """kstatus of ``obj`` (None: the object does not exist). ``now`` is for the Pod scheduling window; ``custom``
    holds the Kustomization's CEL health checks by group/kind (``custom_health_checks``)."""
    if obj is None:
        return Health(Status.NOT_FOUND, "Resource not found")
    group_kind = _group_kind(obj)
    # Flux polls Jobs with its own reader, consulted before the CEL ones: a CEL check for Jobs is never used.
    check = (custom or {}).get(group_kind) if group_kind != "batch/Job" else None
    if check is not None:
        return check.status_of(obj)
    try:
        generic = _generic(obj)
        if generic is not None:
            return generic
        rule = _RULES.get(group_kind)
        if rule is not None:
            return rule(obj, now or datetime.now(UTC))
    except _Unknown as err:
        return Health(Status.UNKNOWN, str(err))
    return _current("Resource is current")


class _Unknown(Exception):
    pass


def _group_kind(obj: Obj) -> str:
    group = manifest.api_group(manifest.api_version_of(obj))
    kind = str(obj.get("kind", ""))
    return f"{group}/{kind}" if group else kind


def _generic(obj: Obj) -> Health | None:
    if manifest.metadata(obj).get("deletionTimestamp"):
        return Health(Status.TERMINATING, "Resource scheduled for deletion")
    generation = _field(obj, "metadata.generation")
    observed = _field(obj, "status.observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and generation != observed:
        return _in_progress(f"{obj.get('kind')} generation is {generation}, but latest observed generation is "
                            f"{observed}")
    for condition in _conditions(obj):
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return _in_progress(str(condition.get("message", "")))
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return _failed(str(condition.get("message", "")))
    return None


def _always_ready(obj: Obj, now: datetime) -> Health:
    return _current("Resource is always ready")


def _deployment(obj: Obj, now: datetime) -> Health:
    # Without progressDeadlineSeconds the controller never sets Progressing: count it as progressing.
    progressing = _int(obj, "spec.progressDeadlineSeconds", _MAX_INT32) == _MAX_INT32
    available = False
    for condition in _conditions(obj):
        if condition.get("type") == "Progressing":
            if condition.get("reason") == "ProgressDeadlineExceeded":
                return _failed("Progress deadline exceeded")
            if condition.get("status") == "True" and condition.get("reason") == "NewReplicaSetAvailable":
                progressing = True
        elif condition.get("type") == "Available" and condition.get("status") == "True":
            available = True
    spec = _int(obj, "spec.replicas", 1)
    replicas = _int(obj, "status.replicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    ready = _int(obj, "status.readyReplicas", 0)
    available_replicas = _int(obj, "status.availableReplicas", 0)
    if spec > replicas:
        return _in_progress(f"Replicas: {replicas}/{spec}")
    if spec > updated:
        return _in_progress(f"Updated: {updated}/{spec}")
    if replicas > spec:
        return _in_progress(f"Pending termination: {replicas - spec}")
    if updated > available_replicas:
        return _in_progress(f"Available: {available_replicas}/{updated}")
    if spec > ready:
        return _in_progress(f"Ready: {ready}/{spec}")
    if not progressing:
        return _in_progress("ReplicaSet not Available")
    if not available:
        return _in_progress("Deployment not Available")
    return _current(f"Deployment is available. Replicas: {replicas}")


def _statefulset(obj: Obj, now: datetime) -> Health:
    if _str(obj, "spec.updateStrategy.type", "") == "OnDelete":
        return _current("StatefulSet is using the ondelete update strategy")
    spec = _int(obj, "spec.replicas", 1)
    ready = _int(obj, "status.readyReplicas", 0)
    current = _int(obj, "status.currentReplicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    replicas = _int(obj, "status.replicas", 0)
    partition = _int(obj, "spec.updateStrategy.rollingUpdate.partition", -1)
    if spec > replicas:
        return _in_progress(f"Replicas: {replicas}/{spec}")
    if spec > ready:
        return _in_progress(f"Ready: {ready}/{spec}")
    if replicas > spec:
        return _in_progress(f"Pending termination: {replicas - spec}")
    if partition != -1:
        if updated < spec - partition:
            return _in_progress(f"updated: {updated}/{spec - partition}")
        return _current(f"Partition rollout complete. updated: {updated}")
    if spec > current:
        return _in_progress(f"current: {current}/{spec}")
    if _str(obj, "status.currentRevision", "") != _str(obj, "status.updateRevision", ""):
        return _in_progress("Waiting for updated revision to match current")
    return _current(f"All replicas scheduled as expected. Replicas: {replicas}")


def _replicaset(obj: Obj, now: datetime) -> Health:
    failure = _condition(obj, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return _in_progress("Replica Failure condition. Check Pods")
    spec = _int(obj, "spec.replicas", 1)
    replicas = _int(obj, "status.replicas", 0)
    ready = _int(obj, "status.readyReplicas", 0)
    available = _int(obj, "status.availableReplicas", 0)
    labelled = _int(obj, "status.fullyLabeledReplicas", 0)
    if spec > labelled:
        return _in_progress(f"Labelled: {labelled}/{spec}")
    if spec > available:
        return _in_progress(f"Available: {available}/{spec}")
    if spec > ready:
        return _in_progress(f"Ready: {ready}/{spec}")
    if replicas > spec:
        return _in_progress(f"Pending termination: {replicas - spec}")
    return _current(f"ReplicaSet is available. Replicas: {replicas}")


def _daemonset(obj: Obj, now: datetime) -> Health:
    # The DaemonSet controller always sets these once it acted, so their absence means it has not yet.
    kind = obj.get("kind")
    if not isinstance(_field(obj, "metadata.generation"), int):
        return _in_progress(f"{kind} metadata.generation not found")
    if not isinstance(_field(obj, "status.observedGeneration"), int):
        return _in_progress(f"{kind} status.observedGeneration not found")
    desired = _int(obj, "status.desiredNumberScheduled", -1)
    current = _int(obj, "status.currentNumberScheduled", 0)
    updated = _int(obj, "status.updatedNumberScheduled", 0)
    available = _int(obj, "status.numberAvailable", 0)
    ready = _int(obj, "status.numberReady", 0)
    if desired == -1:
        return _in_progress("Missing .status.desiredNumberScheduled")
    if desired > current:
        return _in_progress(f"Current: {current}/{desired}")
    if desired > updated:
        return _in_progress(f"Updated: {updated}/{desired}")
    if desired > available:
        return _in_progress(f"Available: {available}/{desired}")
    if desired > ready:
        return _in_progress(f"Ready: {ready}/{desired}")
    return _current(f"All replicas scheduled as expected. Replicas: {desired}")


def _pvc(obj: Obj, now: datetime) -> Health:
    phase = _str(obj, "status.phase", "unknown")
    if phase != "Bound":
        return _in_progress(f"PVC is not Bound. phase: {phase}")
    return _current("PVC is Bound")


def _pod(obj: Obj, now: datetime) -> Health:
    phase = _str(obj, "status.phase", "")
    if phase == "Succeeded":
        return _current("Pod has completed successfully")
    if phase == "Failed":
        return _current("Pod has completed, but not successfully")
    if phase == "Running":
        ready = _condition(obj, "Ready")
        if ready is not None and ready.get("status") == "True":
            return _current("Pod is Ready")
        crashing = [str(status.get("name")) for status in _field(obj, "status.containerStatuses") or []
                    if isinstance(status, dict)
                    and _field(status, "state.waiting.reason") == "CrashLoopBackOff"]
        if crashing:
            return _failed(f"Containers in CrashLoop state: {','.join(crashing)}")
        return _in_progress("Pod is running but is not Ready")
    if phase == "Pending":
        scheduled = _condition(obj, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False" and \
                scheduled.get("reason") == "Unschedulable":
            created = _timestamp(manifest.metadata(obj).get("creationTimestamp"))
            if created is not None and now - SCHEDULE_WINDOW < created:
                return _in_progress("Pod has not been scheduled")
            return _failed("Pod could not be scheduled")
        return _in_progress("Pod is in the Pending phase")
    if phase == "":
        return _in_progress("Pod phase not available")
    raise _Unknown(f"unknown phase {phase}")


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _pdb(obj: Obj, now: datetime) -> Health:
    return _current("AllowedDisruptions has been computed.")


def _job(obj: Obj, now: datetime) -> Health:
    parallelism = _int(obj, "spec.parallelism", 1)
    completions = _int(obj, "spec.completions", parallelism)
    succeeded = _int(obj, "status.succeeded", 0)
    active = _int(obj, "status.active", 0)
    failed = _int(obj, "status.failed", 0)
    for condition in _conditions(obj):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return _current(f"Job Completed. succeeded: {succeeded}/{completions}")
        if condition.get("type") == "Failed":
            return _failed(f"Job Failed. failed: {failed}/{completions}")
        if condition.get("type") == "Suspended":
            return _current("Job is suspended")
    if not _str(obj, "status.startTime", ""):
        return _in_progress("Job not started")
    return _current(f"Job in progress. success:{succeeded}, active: {active}, failed: {failed}")


def _service(obj: Obj, now: datetime) -> Health:
    # kstatus only waits for a LoadBalancer Service's cluster IP, not for an external ingress point: a
    # LoadBalancer left pending (as on kind) still counts as Current, in Flux too.
    if _str(obj, "spec.type", "ClusterIP") == "LoadBalancer" and not _str(obj, "spec.clusterIP", ""):
        return _in_progress("ClusterIP not set. Service type: LoadBalancer")
    return _current("Service is ready")


def _crd(obj: Obj, now: datetime) -> Health:
    for condition in _conditions(obj):
        if condition.get("type") == "NamesAccepted" and condition.get("status") == "False":
            return _failed(str(condition.get("message", "")))
        if condition.get("type") == "Established":
            if condition.get("status") == "False" and condition.get("reason") != "Installing":
                return _failed(str(condition.get("message", "")))
            if condition.get("status") == "True":
                return _current("CRD is established")
    return _in_progress("Install in progress")


_RULES: Mapping[str, Callable[[Obj, datetime], Health]] = {
    "Service": _service,
    "Pod": _pod,
    "Secret": _always_ready,
    "ConfigMap": _always_ready,
    "PersistentVolumeClaim": _pvc,
    "apps/StatefulSet": _statefulset,
    "apps/DaemonSet": _daemonset,
    "extensions/DaemonSet": _daemonset,
    "apps/Deployment": _deployment,
    "extensions/Deployment": _deployment,
    "apps/ReplicaSet": _replicaset,
    "extensions/ReplicaSet": _replicaset,
    "policy/PodDisruptionBudget": _pdb,
    "batch/CronJob": _always_ready,
    "batch/Job": _job,
    "apiextensions.k8s.io/CustomResourceDefinition": _crd,
}


# --- CEL health checks (spec.healthCheckExprs) -----------------------------------------------------------

@dataclass(frozen=True)
class CustomHealthCheck:
    """The CEL expressions of one ``healthCheckExprs`` entry."""

    current: cel.Expression
    in_progress: cel.Expression | None = None
    failed: cel.Expression | None = None

    def status_of(self, obj: Obj) -> Health:
        observed = _field(obj, "status.observedGeneration")
        generation = _field(obj, "metadata.generation")
        if isinstance(observed, int) and isinstance(generation, int) and observed != generation:
            return _in_progress(f"{obj.get('kind')} generation is {generation}, but latest observed generation is "
                                f"{observed}")
        for name, expression, status in (("inProgress", self.in_progress, Status.IN_PROGRESS),
                                         ("failed", self.failed, Status.FAILED),
                                         ("current", self.current, Status.CURRENT)):
            if expression is None:
                continue
            try:
                if expression.evaluate_bool(obj):
                    return Health(status, f"healthCheckExprs: {name} is true")
            except cel.CELEvaluationError as err:
                return Health(Status.UNKNOWN, str(err), error=str(err))
        return _in_progress("healthCheckExprs: no expression is true")


def group_kind_name(api_version: str, kind: str) -> str:
    """A group/kind as Kubernetes prints it (``Widget.example.com``; a core kind alone)."""
    group = manifest.api_group(api_version)
    return f"{kind}.{group}" if group else kind


def _parse_expression(entry: dict[str, Any], index: int, name: str, label: str) -> cel.Expression | None:
    if not entry.get(name):
        return None
    try:
        return cel.parse(str(entry[name]))
    except cel.CELParseError as err:
        raise cel.CELParseError(f"failed to create custom status evaluator for healthchecks[{index}]: "
                                f"failed to parse the expression {label}: {err}", err.expression) from err


def custom_health_checks(entries: list[Any] | None) -> dict[str, CustomHealthCheck]:
    """The ``spec.healthCheckExprs`` of a Kustomization, parsed, by group/kind. Raises CELParseError worded as
    Flux's ``NewStatusReader`` (a missing or invalid expression, or a group/kind listed twice)."""
    checks: dict[str, CustomHealthCheck] = {}
    for index, entry in enumerate(entries or []):
        entry = entry if isinstance(entry, dict) else {}
        api_version, kind = str(entry.get("apiVersion") or ""), str(entry.get("kind") or "")
        group = manifest.api_group(api_version)
        key = f"{group}/{kind}" if group else kind
        if key in checks:
            raise cel.CELParseError(f"duplicate custom health check for GroupKind "
                                    f"{group_kind_name(api_version, kind)} at healthchecks[{index}]", "")
        # Flux parses Current, then Failed, then InProgress: the first invalid one is reported.
        current = _parse_expression(entry, index, "current", "Current")
        if current is None:
            raise cel.CELParseError(f"failed to create custom status evaluator for healthchecks[{index}]: "
                                    "expression Current not specified", "")
        failed = _parse_expression(entry, index, "failed", "Failed")
        checks[key] = CustomHealthCheck(current, _parse_expression(entry, index, "inProgress", "InProgress"), failed)
    return checks


# --- waiting for a set of objects ------------------------------------------------------------------------

def wait_error(statuses: Mapping[str, Health | None], *, timed_out: bool) -> str | None:
    """The health-check failure message Flux prints for a set of objects (``subject -> health``, None when
    the status could not be read), or None when there is nothing to report.

    After a timeout every object that is not Current is listed (``timeout waiting for: [...]``); before it,
    only Failed ones (``failed early due to stalled resources: [...]``, Flux's fail-fast).
    """
    problems: list[str] = []
    for subject in sorted(statuses):
        health = statuses[subject]
        if health is None:
            if timed_out:  # an object that could not be read is retried until the timeout, not failed at once
                problems.append(f"can't determine status for {subject}")
        elif health.status is Status.FAILED or (timed_out and health.status is not Status.CURRENT):
            problems.append(f"{subject} status: '{health.status}'" + (f": {health.error}" if health.error else ""))
    if not problems:
        return None
    prefix = "timeout waiting for" if timed_out else "failed early due to stalled resources"
    return f"{prefix}: [{', '.join(problems)}]"


def all_current(statuses: Mapping[str, Health | None]) -> bool:
    """True when every object is Current: the health check passed."""
    return all(health is not None and health.current for health in statuses.values())
