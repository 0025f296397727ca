"""What a kubelet would report for a pod, as a pure function of the pod, its node and the image verdicts.

The node agent applies the result; keeping the decision here makes every transition unit-testable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.cluster.images import PullVerdict

Obj = dict[str, Any]


@dataclass(frozen=True)
class Action:
    """``patch_status``: set this status; ``delete``: remove the pod (its containers have stopped);
    ``retry_after``: look again later (image pull back-off)."""

    kind: str  # "none" | "patch_status" | "delete"
    status: Obj | None = None
    retry_after: float | None = None


NONE = Action("none")


def _condition(kind: str, status: bool, now: str, reason: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if status else "False", "lastProbeTime": None,
                 "lastTransitionTime": now}
    if reason:
        cond["reason"] = reason
    return cond


def _merge_conditions(existing: list[Obj], wanted: list[Obj]) -> list[Obj]:
    """Keep conditions we don't manage (PodScheduled); keep lastTransitionTime when status did not change."""
    by_type = {c["type"]: c for c in existing}
    result = [c for c in existing if c["type"] not in {w["type"] for w in wanted}]
    for cond in wanted:
        old = by_type.get(cond["type"])
        if old and old.get("status") == cond["status"] and old.get("reason", "") == cond.get("reason", ""):
            result.append(old)
        else:
            result.append(cond)
    return result


def _container_id(pod: Obj, name: str) -> str:
    uid = pod["metadata"].get("uid", "")
    return "sandbox://" + hashlib.sha256(f"{uid}/{name}".encode()).hexdigest()[:32]


def _image_id(image: str) -> str:
    return "sandbox-image://sha256:" + hashlib.sha256(image.encode()).hexdigest()


def runs_to_completion(pod: Obj) -> bool:
    """Job pods, and any pod whose containers are not restarted on exit, finish successfully."""
    owners = pod["metadata"].get("ownerReferences", [])
    if any(o.get("kind") == "Job" for o in owners):
        return True
    return bool(pod["spec"].get("restartPolicy", "Always") != "Always")


def decide(pod: Obj, *, host_ip: str, pod_ip: str, check_image: Callable[[str], PullVerdict], now: str,
           backoff: float = 2.0) -> Action:
    """The next step for ``pod`` on this node."""
    meta, spec = pod["metadata"], pod["spec"]
    status = pod.get("status", {})
    if meta.get("deletionTimestamp"):
        return Action("delete")
    phase = status.get("phase", "Pending")
    if phase in ("Succeeded", "Failed"):
        return NONE

    init_containers = spec.get("initContainers", [])
    containers = spec.get("containers", [])
    failures = {}
    for container in init_containers + containers:
        verdict = check_image(container["image"])
        if not verdict.pullable:
            failures[container["name"]] = verdict.message

    base: Obj = {"hostIP": host_ip, "startTime": status.get("startTime") or now}
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
                _condition("Initialized", not init_containers, now, "" if not init_containers
                           else "ContainersNotInitialized"),
                _condition("Ready", False, now, "ContainersNotReady"),
                _condition("ContainersReady", False, now, "ContainersNotReady"),
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
                                         "finishedAt": now, "containerID": _container_id(pod, container["name"])}},
                "lastState": {}}

    completes = runs_to_completion(pod)

    def main_status(container: Obj) -> Obj:
        cid = _container_id(pod, container["name"])
        entry: Obj = {"name": container["name"], "image": container["image"],
                      "imageID": _image_id(container["image"]), "containerID": cid, "restartCount": 0,
                      "lastState": {}}
        if completes:
            entry.update(ready=False, started=False, state={"terminated": {
                "exitCode": 0, "reason": "Completed", "startedAt": base["startTime"], "finishedAt": now,
                "containerID": cid}})
        else:
            entry.update(ready=True, started=True, state={"running": {"startedAt": base["startTime"]}})
        return entry

    if completes:
        wanted = [_condition("Initialized", True, now), _condition("Ready", False, now, "PodCompleted"),
                  _condition("ContainersReady", False, now, "PodCompleted")]
        phase_out = "Succeeded"
    else:
        wanted = [_condition("Initialized", True, now), _condition("Ready", True, now),
                  _condition("ContainersReady", True, now)]
        phase_out = "Running"
    new_status = {
        **base,
        "phase": phase_out,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "qosClass": status.get("qosClass", "BestEffort"),
        "conditions": _merge_conditions(conditions_in, wanted),
        "containerStatuses": [main_status(c) for c in containers],
    }
    if init_containers:
        new_status["initContainerStatuses"] = [init_status(c) for c in init_containers]
    if phase == phase_out and status.get("podIP") == pod_ip and _same_states(status, new_status):
        return NONE
    return Action("patch_status", new_status)


def _same_states(old: Obj, new: Obj) -> bool:
    def states(s: Obj) -> list[tuple[str, bool, str]]:
        return [(c["name"], bool(c.get("ready")), next(iter(c.get("state", {}) or {"?": 0})))
                for c in s.get("containerStatuses", [])]
    return states(old) == states(new)


def _waiting_reasons(status: Obj) -> list[tuple[str, str]]:
    return [(c["name"], c.get("state", {}).get("waiting", {}).get("reason", ""))
            for c in status.get("initContainerStatuses", []) + status.get("containerStatuses", [])]
