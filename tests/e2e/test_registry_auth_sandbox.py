"""A whole sandbox with `sandbox up --registry-auth`: the CLI pushes and lists with the sandbox's credentials, the
node agent checks pod images with them (an absent tag is still ErrImagePull, a pushed one runs), the password is in
no process's command line, and an ImageRepository scans the private registry with the dockerconfigjson Secret."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from sandbox import lifecycle
from sandbox.kube.client import KubeClient
from sandbox.reconciler.runtime import conditions as cond
from sandbox.registry import auth
from sandbox.registry.base import endpoint_of
from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli


@pytest.fixture(scope="module")
def private_sandbox() -> Iterator[str]:
    name = f"e2e-regauth-{os.getpid()}"
    result = run_cli("up", "--name", name, "--registry-auth", "--registry", "local", "--strict-images")
    try:
        assert result.exit_code == 0, result.output
        yield name
    finally:
        lifecycle.down(name)


def pod(name: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def container_state(kube: KubeClient, name: str) -> str:
    status = kube.get("v1", "Pod", name, "default").get("status", {})
    waiting = ((status.get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}
    return str(waiting.get("reason") or status.get("phase") or "")


def test_cli_and_node_agent_use_the_credentials(private_sandbox: str) -> None:
    credentials = auth.credentials_of(private_sandbox)
    assert credentials is not None
    for proc in psutil.process_iter(["cmdline"]):
        assert credentials.password not in " ".join(proc.info["cmdline"] or []), "the password is in no argv"
    registry = endpoint_of(private_sandbox)
    kube = KubeClient.from_kubeconfig(StateDir(private_sandbox).kubeconfig)
    image = f"{registry.host}/team/app:1.0.0"
    kube.create(pod("app", image))
    wait_until(lambda: container_state(kube, "app") in ("ErrImagePull", "ImagePullBackOff"), timeout=30,
               what="the pod to fail pulling an absent tag")

    pushed = run_cli("image", "push", image, "--name", private_sandbox, "-o", "json")
    assert pushed.exit_code == 0, pushed.output
    wait_until(lambda: container_state(kube, "app") == "Running", timeout=30,
               what="the pod to run once the tag is pushed (the node agent authenticates)")
    listed = run_cli("image", "tags", "team/app", "--name", private_sandbox, "-o", "json")
    assert listed.exit_code == 0, listed.output
    assert [t["tag"] for t in json.loads(listed.stdout)["tags"]] == ["1.0.0"]
    assert credentials.password not in pushed.output + listed.output


def test_image_repository_scans_the_private_registry(private_sandbox: str) -> None:
    registry = endpoint_of(private_sandbox)
    kube = KubeClient.from_kubeconfig(StateDir(private_sandbox).kubeconfig)
    run_cli("image", "push", "team/scan:2.0.0", "--name", private_sandbox)
    kube.apply(auth.pull_secret_of(private_sandbox, "flux-system"), field_manager="test")
    kube.apply({"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
                "metadata": {"name": "scan", "namespace": "flux-system"},
                "spec": {"image": f"{registry.host}/team/scan", "interval": "1h",
                         "secretRef": {"name": "registry-credentials"}}}, field_manager="test")

    def ready() -> dict[str, Any] | None:
        obj = kube.get("image.toolkit.fluxcd.io/v1", "ImageRepository", "scan", "flux-system")
        condition = cond.find((obj.get("status") or {}).get("conditions"), cond.READY) or {}
        return obj if condition.get("status") == "True" else None

    scanned = wait_until(ready, timeout=30, what="the ImageRepository to scan the private registry")
    assert scanned["status"]["lastScanResult"]["latestTags"] == ["2.0.0"]
