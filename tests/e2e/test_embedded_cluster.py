"""The embedded cluster end to end: real etcd, kube-apiserver, controller-manager, scheduler and node agent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any
from urllib.parse import urlparse

import psutil
import pytest

from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.state import StateDir
from sandbox.tools.kubectl import kubectl
from sandbox.waiting import wait_until
from tests.e2e.helpers import listening_ports, processes_mentioning, run_cli, state_path


def deployment(name: str, namespace: str, replicas: int, image: str = "nginx:1.25") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    }


def available(kube: KubeClient, name: str, namespace: str) -> bool:
    obj = kube.get("apps/v1", "Deployment", name, namespace)
    conditions = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
    return conditions.get("Available") == "True" and obj["status"].get("readyReplicas") == obj["spec"]["replicas"]


def ports_of(status: dict[str, Any]) -> set[int]:
    ports = set()
    for comp in status["components"]:
        for url in comp["endpoints"].values():
            port = urlparse(url).port
            if port:
                ports.add(port)
    return ports


def test_up_deploy_delete_namespace_down_leaves_nothing() -> None:
    result = run_cli("up", "--name", "e2e-main")
    assert result.exit_code == 0, result.output
    status_result = run_cli("status", "--name", "e2e-main", "-o", "json")
    assert status_result.exit_code == 0, status_result.output
    status = json.loads(status_result.stdout)
    assert status["phase"] == "ready"
    assert {c["name"] for c in status["components"]} >= {"etcd", "kube-apiserver", "kube-controller-manager",
                                                         "kube-scheduler", "node-agent"}
    assert all(c["healthy"] for c in status["components"])
    kubeconfig = StateDir("e2e-main").kubeconfig
    assert kubeconfig.stat().st_mode & 0o777 == 0o600

    nodes = json.loads(kubectl(["get", "nodes", "-o", "json"], kubeconfig=kubeconfig).stdout)["items"]
    assert len(nodes) == 1
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert ready["Ready"] == "True"

    kube = KubeClient.from_kubeconfig(kubeconfig)
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
    kube.create(deployment("web", "demo", 2))
    wait_until(lambda: available(kube, "web", "demo"), timeout=60, what="Deployment demo/web to be Available")
    pods = kube.list("v1", "Pod", "demo", label_selector="app=web").items
    assert len(pods) == 2
    assert all(p["status"]["phase"] == "Running" for p in pods)
    assert len({p["status"]["podIP"] for p in pods}) == 2
    assert all(c["ready"] for p in pods for c in p["status"]["containerStatuses"])

    kube.delete("v1", "Namespace", "demo")
    wait_until(lambda: kube.get_or_none("v1", "Namespace", "demo") is None, timeout=60,
               what="namespace demo to be deleted")

    pids = [c["pid"] for c in status["components"]] + [status["supervisor"]["pid"]]
    ports = ports_of(status)
    assert ports <= listening_ports()
    result = run_cli("down", "--name", "e2e-main")
    assert result.exit_code == 0, result.output
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert not ports & listening_ports()
    assert not state_path("e2e-main").exists()
    assert not processes_mentioning(str(state_path("e2e-main")))


def test_killed_component_is_restarted_and_cluster_keeps_serving(sandbox: SandboxHandle) -> None:
    before = {c["name"]: c for c in sandbox.refresh()["components"]}
    victim = before["kube-apiserver"]
    psutil.Process(victim["pid"]).send_signal(signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        comp = next(c for c in sandbox.refresh()["components"] if c["name"] == "kube-apiserver")
        return comp if comp["restarts"] > victim["restarts"] and comp["state"] == "ready" else None

    comp = wait_until(restarted, timeout=60, what="kube-apiserver to be restarted")
    assert comp["pid"] != victim["pid"]
    # Still serving, node agent included: a new workload becomes Available.
    name = "after-restart"
    sandbox.kube.create(deployment(name, "default", 1))
    wait_until(lambda: available(sandbox.kube, name, "default"), timeout=60, what="deployment after restart")
    status = run_cli("status", "--name", sandbox.name)
    assert "kube-apiserver" in status.stdout and status.exit_code == 0, status.output
    sandbox.kube.delete("apps/v1", "Deployment", name, "default")


def test_up_on_a_running_name_refuses_and_leaves_it_alone(sandbox: SandboxHandle) -> None:
    pids = {c["name"]: c["pid"] for c in sandbox.refresh()["components"]}
    result = run_cli("up", "--name", sandbox.name)
    assert result.exit_code == 1
    assert "already up" in result.output
    assert {c["name"]: c["pid"] for c in sandbox.refresh()["components"]} == pids


def test_two_sandboxes_run_side_by_side(sandbox: SandboxHandle) -> None:
    result = run_cli("up", "--name", "e2e-second", "--nodes", "2")
    try:
        assert result.exit_code == 0, result.output
        second = SandboxHandle.attach("e2e-second")
        assert not ports_of(second.status) & ports_of(sandbox.refresh())
        nodes = second.kube.list("v1", "Node").items
        assert len(nodes) == 2
        assert sandbox.kube.healthy() and second.kube.healthy()
        env = run_cli("env", "--name", "e2e-second").stdout
        assert f"export KUBECONFIG={second.kubeconfig}" in env and "export SANDBOX_NAME=e2e-second" in env
    finally:
        run_cli("down", "--name", "e2e-second")
    assert sandbox.kube.healthy()


def test_ctrl_c_during_up_leaves_nothing_behind() -> None:
    name = "e2e-interrupted"
    state = StateDir(name)
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.cli", "up", "--name", name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def apiserver_starting() -> bool:
            current = state.read_status() or {}
            return any(c["name"] == "kube-apiserver" and c["state"] == "starting"
                       for c in current.get("components", []))

        wait_until(apiserver_starting, timeout=30, what="kube-apiserver to be starting")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert not state.path.exists()
    wait_until(lambda: not processes_mentioning(str(state.path)), timeout=10, what="no process of the sandbox left")


def test_killed_supervisor_takes_its_components_with_it() -> None:
    name = "e2e-orphan"
    assert run_cli("up", "--name", name).exit_code == 0
    state = StateDir(name)
    status = state.read_status()
    assert status is not None
    pids = [c["pid"] for c in status["components"]]
    psutil.Process(status["supervisor_pid"]).kill()

    def all_gone() -> bool:
        return not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)

    def survivors() -> str:  # which component outlived its supervisor, to tell a flake from a regression
        alive = []
        for component in status["components"]:
            try:
                process = psutil.Process(component["pid"])
                if process.status() != psutil.STATUS_ZOMBIE:
                    log_file = state.logs / f"{component.get('name')}.log"
                    tail = log_file.read_text(errors="replace").splitlines()[-8:] if log_file.exists() else []
                    alive.append(f"{component.get('name')} (pid {component['pid']}, {process.status()}; its log "
                                 f"ends: " + " | ".join(tail) + ")")
            except psutil.NoSuchProcess:
                continue
        return "still running: " + (", ".join(alive) or "none")

    wait_until(all_gone, timeout=30, what="components to exit after their supervisor died", describe=survivors)
    assert run_cli("status", "--name", name).exit_code == 1
    assert run_cli("down", "--name", name).exit_code == 0
    assert not state.path.exists()


OWNER = """
import os, sys
from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
SandboxHandle.start(UpOptions(name=sys.argv[1], git="none", registry="local", reconciler="none", timeout=120))
print("up", flush=True)
sys.stdin.read()  # until the test kills this process: it never stops its sandbox
"""


def test_a_sandbox_whose_owner_is_killed_stops_and_removes_itself(tmp_path: Any) -> None:
    """A test session killed outright (SIGKILL, an OOM, a CI timeout) must not leave its sandbox running."""
    name = "e2e-owner-killed"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "up"
        state = StateDir(name)
        assert state.read_record()["owner"]["pid"] == owner.pid
        path = str(state.path)
        assert processes_mentioning(path)
    finally:
        owner.kill()
        owner.wait()
    wait_until(lambda: not processes_mentioning(path) and not state.path.exists(), timeout=60,
               what="the orphaned sandbox to stop and remove its state",
               describe=lambda: f"still running: {[p.info['cmdline'][:3] for p in processes_mentioning(path)]}, "
                                f"state dir exists: {state.path.exists()}")


@pytest.mark.parametrize("kind", ["job", "statefulset"])
def test_workloads_that_real_repos_wait_on(sandbox: SandboxHandle, kind: str) -> None:
    kube = sandbox.kube
    if kind == "job":
        kube.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "default"},
                     "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                    "containers": [{"name": "c", "image": "busybox"}]}}}})

        def succeeded() -> bool:
            job = kube.get("batch/v1", "Job", "once", "default")
            return any(c["type"] == "Complete" and c["status"] == "True"
                       for c in job.get("status", {}).get("conditions", []))

        wait_until(succeeded, timeout=60, what="Job default/once to complete")
        kube.delete("batch/v1", "Job", "once", "default")
    else:
        kube.create({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
            "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})

        def ready() -> bool:
            sts = kube.get("apps/v1", "StatefulSet", "db", "default")
            return bool(sts.get("status", {}).get("readyReplicas") == 2)

        wait_until(ready, timeout=90, what="StatefulSet default/db to have 2 ready replicas")
        claims = kube.list("v1", "PersistentVolumeClaim", "default").items
        assert {c["metadata"]["name"] for c in claims} == {"data-db-0", "data-db-1"}
        assert all(c["status"]["phase"] == "Bound" for c in claims)
        assert all(c["spec"]["storageClassName"] == "standard" for c in claims)
        kube.delete("apps/v1", "StatefulSet", "db", "default")
