"""What a kubelet would report for a pod, as a pure function of the pod, its node, the image verdicts, the time and
the containers' previous runs (their probe schedule lives in :mod:`sandbox.cluster.probes`).

The node agent applies the result; keeping the decision here makes every transition unit-testable.
"""

from __future__ import annotations

import datetime
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.cluster import probes
from sandbox.cluster.images import PullVerdict
from sandbox.cluster.probes import ContainerRun

Obj = dict[str, Any]


@dataclass(frozen=True)
class PodEvent:
    """An Event the kubelet would record about one of the pod's containers."""

    type: str  # "Normal" | "Warning"
    reason: str
    message: str
    field_path: str
    at: float


@dataclass(frozen=True)
class Action:
    """``patch_status``: set this status; ``delete``: remove the pod (its containers have stopped);
    ``retry_after``: look again later (image pull back-off, the next probe result or restart);
    ``runs``: the running containers' state, to pass to the next ``decide`` once the status is written;
    ``events``: what to record once it is."""

    kind: str  # "none" | "patch_status" | "delete"
    status: Obj | None = None
    retry_after: float | None = None
    runs: Mapping[str, ContainerRun] = field(default_factory=dict)
    events: tuple[PodEvent, ...] = ()


NONE = Action("none")


def format_time(moment: float) -> str:
    """RFC 3339 to the second, as Kubernetes stores times."""
    return datetime.datetime.fromtimestamp(math.floor(moment), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _condition(kind: str, status: bool, now: str, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if status else "False", "lastProbeTime": None,
                 "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _merge_conditions(existing: list[Obj], wanted: list[Obj]) -> list[Obj]:
    """Keep conditions we don't manage (PodScheduled); keep lastTransitionTime when status did not change."""
    by_type = {c["type"]: c for c in existing}
    result = [c for c in existing if c["type"] not in {w["type"] for w in wanted}]
    for cond in wanted:
        old = by_type.get(cond["type"])
        if old and old.get("status") == cond["status"]:
            result.append({**cond, "lastTransitionTime": old.get("lastTransitionTime", cond["lastTransitionTime"])})
        else:
            result.append(cond)
    return result


def _container_id(pod: Obj, name: str, instance: int = 0) -> str:
    """A stable id per container instance (each restart is a new one)."""
    uid = pod["metadata"].get("uid", "")
    suffix = f"/{instance}" if instance else ""
    return "sandbox://" + hashlib.sha256(f"{uid}/{name}{suffix}".encode()).hexdigest()[:32]


def _image_id(image: str) -> str:
    return "sandbox-image://sha256:" + hashlib.sha256(image.encode()).hexdigest()


def runs_to_completion(pod: Obj) -> bool:
    """Job pods, and any pod whose containers are not restarted on exit, finish (successfully unless they crash)."""
    owners = pod["metadata"].get("ownerReferences", [])
    if any(o.get("kind") == "Job" for o in owners):
        return True
    return bool(pod["spec"].get("restartPolicy", "Always") != "Always")


def decide(pod: Obj, *, host_ip: str, pod_ip: str, check_image: Callable[[str], PullVerdict], now: float,
           backoff: float = 2.0, runs: Mapping[str, ContainerRun] | None = None) -> Action:
    """The next step for ``pod`` on this node at ``now`` (seconds since the epoch). ``runs`` is the previous
    action's, once its status was written; without it the containers' runs are rebuilt from the pod's status."""
    meta, spec = pod["metadata"], pod["spec"]
    status = pod.get("status", {})
    if meta.get("deletionTimestamp"):
        return Action("delete")
    phase = status.get("phase", "Pending")
    if phase in ("Succeeded", "Failed"):
        return NONE
    stamp = format_time(now)

    init_containers = spec.get("initContainers", [])
    containers = spec.get("containers", [])
    failures = {}
    crashing_image = False  # a container's image is marked as a bad release: the pod's containers crash
    for container in init_containers + containers:
        verdict = check_image(container["image"])
        if not verdict.pullable:
            failures[container["name"]] = verdict.message
        crashing_image = crashing_image or verdict.crash

    base: Obj = {"hostIP": host_ip, "startTime": status.get("startTime") or stamp}
    if spec.get("hostNetwork"):
        pod_ip = host_ip
    conditions_in = status.get("conditions", [])

    if failures:
        previous = {c["name"]: c for c in status.get("containerStatuses", []) + status.get("initContainerStatuses", [])}

        def waiting(container: Obj) -> Obj:
            name = container["name"]
            before = previous.get(name, {}).get("state", {}).get("waiting", {}).get("reason")
            if name in failures:
                reason = "ImagePullBackOff" if before in ("ErrImagePull", "ImagePullBackOff") else "ErrImagePull"
                message = failures[name] if reason == "ErrImagePull" else (
                    f'Back-off pulling image "{container["image"]}"')
                state = {"waiting": {"reason": reason, "message": message}}
            else:
                state = {"waiting": {"reason": "PodInitializing" if init_containers else "ContainerCreating"}}
            return {"name": name, "image": container["image"], "imageID": "", "ready": False, "started": False,
                    "restartCount": 0, "state": state, "lastState": {}}

        new_status = {
            **base,
            "phase": "Pending",
            "conditions": _merge_conditions(conditions_in, [
                _condition("Initialized", not init_containers, stamp, "" if not init_containers
                           else "ContainersNotInitialized"),
                _condition("Ready", False, stamp, "ContainersNotReady"),
                _condition("ContainersReady", False, stamp, "ContainersNotReady"),
            ]),
            "containerStatuses": [waiting(c) for c in containers],
        }
        if init_containers:
            new_status["initContainerStatuses"] = [waiting(c) for c in init_containers]
        if _waiting_reasons(status) == _waiting_reasons(new_status):
            return Action("none", retry_after=backoff)
        return Action("patch_status", new_status, retry_after=backoff)

    def init_status(container: Obj) -> Obj:
        return {"name": container["name"], "image": container["image"], "imageID": _image_id(container["image"]),
                "containerID": _container_id(pod, container["name"]), "ready": True, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": base["startTime"],
                                         "finishedAt": stamp, "containerID": _container_id(pod, container["name"])}},
                "lastState": {}}

    events: list[PodEvent] = []
    outcomes = probes.Outcomes.from_annotations(meta.get("annotations") or {})
    if crashing_image:
        outcomes = replace(outcomes, crash=True)
    # A crashing container of a pod that restarts on failure loops like any other; with Never, the pod fails.
    if runs_to_completion(pod) and not (outcomes.crash and spec.get("restartPolicy") == "OnFailure"):
        exit_code, ended = (probes.CRASH_EXIT_CODE, "Error") if outcomes.crash else (0, "Completed")

        def completed_status(container: Obj) -> Obj:
            cid = _container_id(pod, container["name"])
            return {"name": container["name"], "image": container["image"], "imageID": _image_id(container["image"]),
                    "containerID": cid, "restartCount": 0, "lastState": {}, "ready": False, "started": False,
                    "state": {"terminated": {"exitCode": exit_code, "reason": ended, "startedAt": base["startTime"],
                                             "finishedAt": stamp, "containerID": cid}}}

        outcome = "PodFailed" if outcomes.crash else "PodCompleted"
        wanted = [_condition("Initialized", True, stamp), _condition("Ready", False, stamp, outcome),
                  _condition("ContainersReady", False, stamp, outcome)]
        phase_out = "Failed" if outcomes.crash else "Succeeded"
        container_statuses = [completed_status(c) for c in containers]
        new_runs: dict[str, ContainerRun] = {}
    else:
        previous_entries = {c["name"]: c for c in status.get("containerStatuses", [])}
        new_runs = {}
        for container in containers:
            name = container["name"]
            remembered = (runs or {}).get(name)
            prior = remembered or run_from_status(previous_entries.get(name), now)
            new_runs[name] = probes.simulate(probes.ContainerProbes.of(container), outcomes, prior, now)
            # A run rebuilt from a running container's status replays its past: its events were recorded then.
            if remembered is not None or not _is_running(previous_entries.get(name)):
                events += [_pod_event(pod, name, event) for event in new_runs[name].events]
        container_statuses = [running_status(pod, c, new_runs[c["name"]]) for c in containers]
        unready = [c["name"] for c in containers if not new_runs[c["name"]].ready]
        message = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
        reason = "ContainersNotReady" if unready else ""
        wanted = [_condition("Initialized", True, stamp),
                  _condition("Ready", not unready, stamp, reason, message),
                  _condition("ContainersReady", not unready, stamp, reason, message)]
        phase_out = "Running"
    new_status = {
        **base,
        "phase": phase_out,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "qosClass": status.get("qosClass", "BestEffort"),
        "conditions": _merge_conditions(conditions_in, wanted),
        "containerStatuses": container_statuses,
    }
    if init_containers:
        new_status["initContainerStatuses"] = [init_status(c) for c in init_containers]
    changes = [run.next_change for run in new_runs.values() if run.next_change is not None]
    # Never sooner than 50 ms: a clock read a hair before a tick must not spin.
    retry_after = max(0.05, min(changes) - now) if changes else None
    ordered = tuple(sorted(events, key=lambda event: event.at))
    if phase == phase_out and status.get("podIP") == pod_ip and _same_states(status, new_status):
        return Action("none", retry_after=retry_after, runs=new_runs, events=ordered)
    return Action("patch_status", new_status, retry_after=retry_after, runs=new_runs, events=ordered)


def _is_running(entry: Obj | None) -> bool:
    state = (entry or {}).get("state") or {}
    return "running" in state or (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff"


def _pod_event(pod: Obj, container: str, event: probes.ProbeEvent) -> PodEvent:
    """The kubelet's wording for a probe's consequence."""
    meta = pod["metadata"]
    kind = event.probe.capitalize()
    if event.reason == "Unhealthy":
        annotation = probes.ANNOTATION_PREFIX + event.probe
        return PodEvent("Warning", "Unhealthy", f"{kind} probe failed: simulated failure ({annotation}: fail)",
                        f"spec.containers{{{container}}}", event.at)
    if event.reason == "Killing":
        return PodEvent("Normal", "Killing", f"Container {container} failed {event.probe} probe, will be restarted",
                        f"spec.containers{{{container}}}", event.at)
    return PodEvent("Warning", "BackOff", f"Back-off restarting failed container {container} in pod "
                    f"{meta['name']}_{meta.get('namespace', '')}({meta.get('uid', '')})",
                    f"spec.containers{{{container}}}", event.at)


def run_from_status(entry: Obj | None, now: float) -> ContainerRun:
    """A container's run as its status entry shows it (the probes' memory starts afresh); a container that is
    not running yet starts now."""
    entry = entry or {}
    state, last = entry.get("state") or {}, (entry.get("lastState") or {}).get("terminated")
    restart_count = int(entry.get("restartCount") or 0)
    termination = None
    if last and last.get("startedAt") and last.get("finishedAt"):
        termination = probes.Termination(parse_time(last["startedAt"]), parse_time(last["finishedAt"]),
                                         int(last.get("exitCode", probes.KILLED_EXIT_CODE)),
                                         str(last.get("reason", "Error")))
    running = state.get("running") or {}
    if running.get("startedAt"):
        return probes.started_run(parse_time(running["startedAt"]), restart_count, termination)
    if (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff" and termination is not None:
        return probes.waiting_run(restart_count, termination)
    return probes.started_run(float(math.floor(now)), restart_count, termination)


def running_status(pod: Obj, container: Obj, run: ContainerRun) -> Obj:
    """The status entry of a container that runs (or waits to run again) on the node."""
    meta, name = pod["metadata"], container["name"]
    instance = run.restart_count
    entry: Obj = {"name": name, "image": container["image"], "imageID": _image_id(container["image"]),
                  "containerID": _container_id(pod, name, instance), "restartCount": run.restart_count,
                  "ready": run.ready, "started": run.started, "lastState": {}}
    if run.running_since is not None:
        entry["state"] = {"running": {"startedAt": format_time(run.running_since)}}
        instance -= 1  # the last terminated one is the instance before
    else:
        delay = _go_duration(probes.back_off(run.restart_count + 1))
        entry["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off {delay} restarting failed container={name} pod={meta['name']}_{meta.get('namespace', '')}"
            f"({meta.get('uid', '')})")}}
    last = run.last_termination
    if last is not None:
        entry["lastState"] = {"terminated": {
            "exitCode": last.exit_code, "reason": last.reason, "startedAt": format_time(last.started_at),
            "finishedAt": format_time(last.finished_at), "containerID": _container_id(pod, name, max(0, instance))}}
    return entry


def _go_duration(seconds: int) -> str:
    """Seconds as Go prints a time.Duration (``10s``, ``1m20s``, ``5m0s``), as the kubelet's messages do."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def _same_states(old: Obj, new: Obj) -> bool:
    def states(s: Obj) -> list[tuple[Any, ...]]:
        result = []
        for c in s.get("containerStatuses", []):
            state = c.get("state", {}) or {"?": {}}
            kind = next(iter(state))
            detail = state[kind] or {}
            result.append((c["name"], bool(c.get("ready")), bool(c.get("started")), c.get("restartCount", 0), kind,
                           detail.get("startedAt"), detail.get("reason"), detail.get("message"),
                           (c.get("lastState") or {}).get("terminated", {}).get("finishedAt")))
        return result
    return states(old) == states(new)


def _waiting_reasons(status: Obj) -> list[tuple[str, str]]:
    return [(c["name"], c.get("state", {}).get("waiting", {}).get("reason", ""))
            for c in status.get("initContainerStatuses", []) + status.get("containerStatuses", [])]
