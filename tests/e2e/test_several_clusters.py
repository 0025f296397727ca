"""Several clusters in one sandbox (`sandbox up --clusters mgmt,staging,production`): each workload cluster runs
Deployments to running pods, its kubeconfig Secret in mgmt reaches it, `status`/`env` list them, `down` stops all."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.kube.kubeconfig import loads
from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.e2e.helpers import processes_mentioning, run_cli

WORKLOADS = ("staging", "production")


@pytest.fixture(scope="module")
def fleet() -> Iterator[SandboxHandle]:
    handle = SandboxHandle.start(UpOptions(name=f"e2e-fleet-{os.getpid()}", git="local", registry="local",
                                           clusters=("mgmt", *WORKLOADS), timeout=120))
    try:
        yield handle
    finally:
        handle.stop()


def remote(fleet: SandboxHandle, cluster: str) -> KubeClient:
    """A client for ``cluster`` built from the Secret in mgmt, as the reconciler builds it."""
    secret = fleet.kube.get("v1", "Secret", f"{cluster}-kubeconfig", "flux-system")
    return KubeClient(loads(base64.b64decode(secret["data"]["value"]).decode(), f"Secret {cluster}-kubeconfig"))


def test_status_lists_every_cluster(fleet: SandboxHandle) -> None:
    result = run_cli("status", "--name", fleet.name, "-o", "json")
    assert result.exit_code == 0, result.output
    clusters = {c["name"]: c for c in json.loads(result.output)["clusters"]}
    assert set(clusters) == {"mgmt", *WORKLOADS}
    assert clusters["mgmt"]["management"] and not clusters["staging"]["management"]
    assert all(c["healthy"] for c in clusters.values())
    assert clusters["staging"]["secret"] == "flux-system/staging-kubeconfig"
    assert clusters["staging"]["server"] != clusters["production"]["server"] != clusters["mgmt"]["server"]


def test_env_names_the_cluster_kubeconfig(fleet: SandboxHandle) -> None:
    result = run_cli("env", "--name", fleet.name, "--cluster", "staging")
    assert result.exit_code == 0, result.output
    path = result.output.split("KUBECONFIG=", 1)[1].split()[0]
    server = yaml.safe_load(Path(path).read_text())["clusters"][0]["cluster"]["server"]
    assert server == {c["name"]: c["server"] for c in fleet.status["clusters"]}["staging"]
    unknown = run_cli("env", "--name", fleet.name, "--cluster", "qa")
    assert unknown.exit_code != 0 and "no cluster 'qa'" in unknown.output


@pytest.mark.parametrize("cluster", WORKLOADS)
def test_workload_cluster_runs_a_deployment(fleet: SandboxHandle, cluster: str) -> None:
    kube = remote(fleet, cluster)
    kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "hello", "namespace": "default"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}},
                         "template": {"metadata": {"labels": {"app": "hello"}},
                                      "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}}}},
               field_manager="e2e")

    def available() -> bool:
        obj = kube.get("apps/v1", "Deployment", "hello", "default")
        return bool(obj.get("status", {}).get("availableReplicas") == 1)

    wait_until(available, timeout=60, what=f"the Deployment in {cluster} to have a running pod")
    assert fleet.kube.get_or_none("apps/v1", "Deployment", "hello", "default") is None


def test_down_stops_every_cluster() -> None:
    name = f"e2e-fleet-down-{os.getpid()}"
    handle = SandboxHandle.start(UpOptions(name=name, git="none", registry="local", reconciler="none",
                                           clusters=("mgmt", "staging"), timeout=120))
    path = str(StateDir(name).path)
    assert any("clusters/staging" in " ".join(p.cmdline()) for p in processes_mentioning(path))
    handle.stop()
    assert processes_mentioning(path) == []
    assert not StateDir(name).exists()
