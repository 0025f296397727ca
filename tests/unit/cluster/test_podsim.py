"""The node agent's pod transitions, as a pure function."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.cluster import podsim
from sandbox.cluster.images import PullVerdict

NOW = 1767225600.0  # 2026-01-01T00:00:00Z
NOW_STAMP = "2026-01-01T00:00:00Z"


def pod(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "nginx:1"}], **spec},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
    }
    return base


def pullable(_image: str) -> PullVerdict:
    return PullVerdict(True)


def missing(image: str) -> PullVerdict:
    return PullVerdict(False, f"{image} not found")


def decide(p: dict[str, Any], check: Any = pullable) -> podsim.Action:
    return podsim.decide(p, host_ip="172.18.0.2", pod_ip="10.244.0.5", check_image=check, now=NOW)


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_pending_pod_becomes_running_and_ready() -> None:
    action = decide(pod())
    assert action.kind == "patch_status" and action.status is not None
    status = action.status
    assert status["phase"] == "Running"
    assert status["podIP"] == "10.244.0.5" and status["hostIP"] == "172.18.0.2"
    assert conditions(status) == {"PodScheduled": "True", "Initialized": "True", "Ready": "True",
                                  "ContainersReady": "True"}
    (container,) = status["containerStatuses"]
    assert container["ready"] and "running" in container["state"]


def test_running_pod_needs_nothing_more() -> None:
    p = pod()
    first = decide(p)
    assert first.status is not None
    p["status"] = first.status
    assert decide(p).kind == "none"


def test_job_pod_completes() -> None:
    p = pod(restartPolicy="Never")
    p["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "j"}]
    action = decide(p)
    assert action.status is not None
    assert action.status["phase"] == "Succeeded"
    assert action.status["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert conditions(action.status)["Ready"] == "False"


def test_bare_pod_with_restart_never_completes() -> None:
    action = decide(pod(restartPolicy="Never"))
    assert action.status is not None and action.status["phase"] == "Succeeded"


def test_finished_pod_is_left_alone() -> None:
    p = pod()
    p["status"]["phase"] = "Succeeded"
    assert decide(p).kind == "none"


def test_terminating_pod_is_deleted() -> None:
    p = pod()
    p["metadata"]["deletionTimestamp"] = NOW_STAMP
    assert decide(p).kind == "delete"


def test_missing_image_gives_err_image_pull_then_back_off() -> None:
    p = pod(containers=[{"name": "app", "image": "reg/app:v1"}])
    first = decide(p, missing)
    assert first.kind == "patch_status" and first.status is not None and first.retry_after
    assert first.status["phase"] == "Pending"
    waiting = first.status["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "ErrImagePull" and "reg/app:v1 not found" in waiting["message"]
    assert conditions(first.status)["Ready"] == "False"

    p["status"] = first.status
    second = decide(p, missing)
    assert second.status is not None
    assert second.status["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"

    p["status"] = second.status
    third = decide(p, missing)
    assert third.kind == "none" and third.retry_after, "back-off keeps retrying without rewriting status"


def test_pod_runs_once_the_image_appears() -> None:
    p = pod(containers=[{"name": "app", "image": "reg/app:v1"}])
    failing = decide(p, missing)
    assert failing.status is not None
    p["status"] = failing.status
    fixed = decide(p, pullable)
    assert fixed.status is not None and fixed.status["phase"] == "Running"


def test_init_containers_are_completed_before_running() -> None:
    p = pod(initContainers=[{"name": "init", "image": "busybox"}])
    action = decide(p)
    assert action.status is not None
    (init,) = action.status["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 0
    assert action.status["phase"] == "Running"


def test_host_network_pod_uses_host_ip() -> None:
    action = decide(pod(hostNetwork=True))
    assert action.status is not None and action.status["podIP"] == "172.18.0.2"


def test_transition_time_is_kept_when_status_does_not_change() -> None:
    p = pod()
    first = decide(p)
    assert first.status is not None
    p["status"] = copy.deepcopy(first.status)
    p["status"]["containerStatuses"][0]["ready"] = False  # force a re-patch
    again = podsim.decide(p, host_ip="172.18.0.2", pod_ip="10.244.0.5", check_image=pullable,
                          now=NOW + 3600)
    assert again.status is not None
    ready = next(c for c in again.status["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == NOW_STAMP


def decide_at(p: dict[str, Any], now: float, runs: Any = None) -> podsim.Action:
    return podsim.decide(p, host_ip="172.18.0.2", pod_ip="10.244.0.5", check_image=pullable, now=now, runs=runs)


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_readiness_probe_delays_ready_and_asks_to_look_again() -> None:
    p = pod(containers=[{"name": "app", "image": "nginx:1", "readinessProbe": {"initialDelaySeconds": 3}}])
    first = decide_at(p, NOW + 0.4)
    assert first.kind == "patch_status" and first.status is not None
    assert first.status["phase"] == "Running"
    assert conditions(first.status)["Ready"] == "False"
    assert condition(first.status, "Ready")["message"] == "containers with unready status: [app]"
    (entry,) = first.status["containerStatuses"]
    assert (entry["ready"], entry["started"], entry["state"]["running"]["startedAt"]) == (False, True, NOW_STAMP)
    assert first.retry_after == pytest.approx(2.6)

    p["status"] = first.status
    early = decide_at(p, NOW + 2.9, first.runs)
    assert early.kind == "none" and early.retry_after == pytest.approx(0.1)
    ready = decide_at(p, NOW + 3.2, early.runs)
    assert ready.status is not None and ready.retry_after is None
    assert conditions(ready.status)["Ready"] == "True"
    assert condition(ready.status, "Ready")["lastTransitionTime"] == "2026-01-01T00:00:03Z"
    assert "message" not in condition(ready.status, "Ready")
    assert ready.status["containerStatuses"][0]["ready"] is True


def test_failing_readiness_keeps_the_pod_unready() -> None:
    p = pod(containers=[{"name": "app", "image": "nginx:1", "readinessProbe": {"periodSeconds": 1}}])
    p["metadata"]["annotations"] = {"probe.gitops-sandbox.io/readiness": "fail"}
    first = decide_at(p, NOW)
    assert first.status is not None and first.retry_after is None
    p["status"] = first.status
    later = decide_at(p, NOW + 600, first.runs)
    assert later.kind == "none"
    assert conditions(first.status)["Ready"] == "False"


def test_failing_liveness_restarts_the_container_then_backs_off() -> None:
    p = pod(containers=[{"name": "app", "image": "nginx:1",
                         "livenessProbe": {"periodSeconds": 1, "failureThreshold": 2}}])
    p["metadata"]["annotations"] = {"probe.gitops-sandbox.io/liveness": "fail"}
    first = decide_at(p, NOW)
    assert first.status is not None and first.retry_after == 1
    p["status"] = first.status

    restarted = decide_at(p, NOW + 1, first.runs)
    assert restarted.status is not None
    (entry,) = restarted.status["containerStatuses"]
    assert entry["restartCount"] == 1 and entry["state"]["running"]["startedAt"] == "2026-01-01T00:00:01Z"
    terminated = entry["lastState"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("Error", 137)
    assert (terminated["startedAt"], terminated["finishedAt"]) == (NOW_STAMP, "2026-01-01T00:00:01Z")
    assert terminated["containerID"] == first.status["containerStatuses"][0]["containerID"] != entry["containerID"]
    p["status"] = restarted.status

    backing_off = decide_at(p, NOW + 2, restarted.runs)
    assert backing_off.status is not None and backing_off.retry_after == 10
    (entry,) = backing_off.status["containerStatuses"]
    assert entry["restartCount"] == 1 and not entry["ready"]
    assert entry["state"]["waiting"] == {
        "reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container=app pod=p_ns(u1)"}
    assert entry["lastState"]["terminated"]["finishedAt"] == "2026-01-01T00:00:02Z"
    assert backing_off.status["phase"] == "Running" and conditions(backing_off.status)["Ready"] == "False"
    p["status"] = backing_off.status

    # The agent restarted meanwhile: the run is rebuilt from the status alone and goes on the same way.
    again = decide_at(p, NOW + 12)
    assert again.status is not None
    (entry,) = again.status["containerStatuses"]
    assert entry["restartCount"] == 2 and entry["state"]["running"]["startedAt"] == "2026-01-01T00:00:12Z"


def test_status_is_not_rewritten_while_nothing_changes() -> None:
    p = pod(containers=[{"name": "app", "image": "nginx:1", "readinessProbe": {"periodSeconds": 1}}])
    first = decide_at(p, NOW)
    assert first.status is not None
    p["status"] = first.status
    assert decide_at(p, NOW + 100, first.runs).kind == "none"
    assert decide_at(p, NOW + 100).kind == "none", "rebuilt from the status, a ready container stays ready"


def test_probes_do_not_hold_back_pods_that_run_to_completion() -> None:
    p = pod(restartPolicy="Never", containers=[{"name": "c", "image": "busybox",
                                                "readinessProbe": {"initialDelaySeconds": 30}}])
    action = decide_at(p, NOW)
    assert action.status is not None and action.status["phase"] == "Succeeded" and action.retry_after is None


def test_kubelet_events_for_a_killed_container_and_none_for_a_replayed_past() -> None:
    p = pod(containers=[{"name": "app", "image": "nginx:1",
                         "livenessProbe": {"periodSeconds": 1, "failureThreshold": 1, "initialDelaySeconds": 1}}])
    p["metadata"]["annotations"] = {"probe.gitops-sandbox.io/liveness": "fail"}
    first = decide_at(p, NOW)
    assert first.status is not None and first.events == ()
    p["status"] = first.status
    killed = decide_at(p, NOW + 1, first.runs)
    assert [(e.type, e.reason, e.message, e.field_path) for e in killed.events] == [
        ("Warning", "Unhealthy", "Liveness probe failed: simulated failure (probe.gitops-sandbox.io/liveness: fail)",
         "spec.containers{app}"),
        ("Normal", "Killing", "Container app failed liveness probe, will be restarted", "spec.containers{app}")]
    assert killed.status is not None
    p["status"] = killed.status
    assert decide_at(p, NOW + 2).events == (), "rebuilt from a running container's status: recorded before"


CRASH = {"probe.gitops-sandbox.io/crash": "true"}


def test_crashing_container_waits_in_crash_loop_back_off_and_its_restarts_grow() -> None:
    p = pod()
    p["metadata"]["annotations"] = dict(CRASH)
    first = decide_at(p, NOW)
    assert first.status is not None and first.retry_after == 10
    (entry,) = first.status["containerStatuses"]
    assert entry["restartCount"] == 1 and not entry["ready"] and not entry["started"]
    assert entry["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert (entry["lastState"]["terminated"]["exitCode"], entry["lastState"]["terminated"]["reason"]) == (1, "Error")
    assert first.status["phase"] == "Running" and conditions(first.status)["Ready"] == "False"
    assert [(e.type, e.reason, e.message) for e in first.events] == [
        ("Warning", "BackOff", "Back-off restarting failed container app in pod p_ns(u1)")]
    p["status"] = first.status
    later = decide_at(p, NOW + 10, first.runs)
    assert later.status is not None and later.retry_after == 20
    assert later.status["containerStatuses"][0]["restartCount"] == 2
    # rebuilt from the status alone (the agent restarted), the loop goes on the same way
    p["status"] = later.status
    again = decide_at(p, NOW + 30)
    assert again.status is not None and again.status["containerStatuses"][0]["restartCount"] == 3


@pytest.mark.parametrize(("policy", "phase", "restarts"), [("Never", "Failed", 0), ("OnFailure", "Running", 1)])
def test_crashing_pod_that_runs_to_completion(policy: str, phase: str, restarts: int) -> None:
    p = pod(restartPolicy=policy)
    p["metadata"]["annotations"] = dict(CRASH)
    action = decide_at(p, NOW)
    assert action.status is not None and action.status["phase"] == phase
    (entry,) = action.status["containerStatuses"]
    assert entry["restartCount"] == restarts
    terminated = entry["state"].get("terminated") or entry["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    if phase == "Failed":
        assert conditions(action.status)["Ready"] == "False"
        assert {c["type"]: c.get("reason") for c in action.status["conditions"]}["Ready"] == "PodFailed"


def test_an_image_marked_as_a_bad_release_crash_loops_like_the_crash_annotation() -> None:
    p = pod()
    action = podsim.decide(p, host_ip="10.0.0.1", pod_ip="10.0.0.2", now=NOW,
                           check_image=lambda image: PullVerdict(True, crash=True))
    assert action.status is not None
    (entry,) = action.status["containerStatuses"]
    assert entry["state"]["waiting"]["reason"] == "CrashLoopBackOff" and entry["restartCount"] == 1
    assert conditions(action.status)["Ready"] == "False"
