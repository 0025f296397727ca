"""The sandbox registry seen through the cluster: a pod whose image tag is absent cannot pull it
(ErrImagePull/ImagePullBackOff) until the tag is pushed, then it runs; and the CLI shows and fills the registry
and the chart repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.registry import oci
from sandbox.waiting import wait_until
from tests.e2e.helpers import run_cli


def pod(name: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": image}]}}


def waiting_reason(kube: KubeClient, name: str) -> str:
    statuses = kube.get("v1", "Pod", name, "default").get("status", {}).get("containerStatuses") or [{}]
    return str(statuses[0].get("state", {}).get("waiting", {}).get("reason", ""))


def phase(kube: KubeClient, name: str) -> str:
    return str(kube.get("v1", "Pod", name, "default").get("status", {}).get("phase", ""))


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost"])
def test_pod_cannot_pull_an_absent_tag_and_runs_once_it_is_pushed(sandbox: SandboxHandle, spelling: str) -> None:
    registry = sandbox.status["services"]["registry"]
    port = registry["host"].rpartition(":")[2]
    repository = f"e2e/pull-{spelling.replace('.', '-')}"
    image = f"{spelling}:{port}/{repository}:v1"
    name = f"pull-{spelling.replace('.', '-')}"
    kube = sandbox.kube
    kube.create(pod(name, image))
    try:
        reason = wait_until(lambda: waiting_reason(kube, name) in ("ErrImagePull", "ImagePullBackOff")
                            and waiting_reason(kube, name), timeout=30, what=f"pod {name} to fail pulling {image}",
                            describe=lambda: repr(kube.get("v1", "Pod", name, "default").get("status")))
        assert reason in ("ErrImagePull", "ImagePullBackOff")
        assert phase(kube, name) == "Pending"

        oci.push_synthetic_image(registry["host"], repository, "v1")

        wait_until(lambda: phase(kube, name) == "Running", timeout=30, what=f"pod {name} to run after the push",
                   describe=lambda: repr(kube.get("v1", "Pod", name, "default").get("status")))
        status = kube.get("v1", "Pod", name, "default")["status"]
        assert status["containerStatuses"][0]["ready"] is True
        assert status["containerStatuses"][0]["image"] == image
    finally:
        kube.delete("v1", "Pod", name, "default", grace_period_seconds=0)


def test_status_json_shows_registry_and_chart_repository(sandbox: SandboxHandle) -> None:
    result = run_cli("status", "--name", sandbox.name, "-o", "json")
    assert result.exit_code == 0, result.output
    services = json.loads(result.stdout)["services"]
    host = services["registry"]["host"]
    assert host.startswith("127.0.0.1:") and services["registry"]["url"] == f"http://{host}"
    assert services["charts"]["url"].startswith("http://127.0.0.1:")
    components = {c["name"]: c for c in json.loads(result.stdout)["components"]}
    assert components["registry"]["healthy"] and components["chart-repo"]["healthy"]


def test_image_and_chart_commands(sandbox: SandboxHandle, tmp_path: Path) -> None:
    host = sandbox.status["services"]["registry"]["host"]
    pushed = run_cli("image", "push", "--name", sandbox.name, "cli/app:1.0.0", "-o", "json")
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["reference"] == f"{host}/cli/app:1.0.0"
    listed = run_cli("image", "tags", "--name", sandbox.name, f"{host}/cli/app", "-o", "yaml")
    assert listed.exit_code == 0, listed.output
    tags = yaml.safe_load(listed.stdout)["tags"]
    assert [t["tag"] for t in tags] == ["1.0.0"]
    assert tags[0]["digest"] == json.loads(pushed.stdout)["digest"]

    bad = run_cli("image", "push", "--name", sandbox.name, "Not/Valid:tag")
    assert bad.exit_code == 1 and "invalid image reference 'Not/Valid:tag'" in bad.output

    chart = tmp_path / "hello"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hello\nversion: 0.2.0\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n")
    result = run_cli("chart", "push", "--name", sandbox.name, str(chart))
    assert result.exit_code == 0, result.output
    assert f"oci://{host}/charts/hello:0.2.0" in result.stdout
    charts = json.loads(run_cli("chart", "list", "--name", sandbox.name, "-o", "json").stdout)
    assert {(c["name"], c["version"]) for c in charts} >= {("hello", "0.2.0")}

    missing = run_cli("chart", "push", "--name", sandbox.name, str(tmp_path))
    assert missing.exit_code == 1 and "has no Chart.yaml" in missing.output
