"""`sandbox cluster add|remove|list` on a running sandbox: the added cluster runs under the same supervisor, its
kubeconfig Secret in mgmt (and the ConfigMap for configMapRef, used here) serve spec.kubeConfig, remove stops it and
deletes both, `down` stops one added."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator

import pytest

from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.kube.client import KubeClient
from sandbox.kube.kubeconfig import loads
from sandbox.state import StateDir
from tests.e2e.helpers import processes_mentioning, run_cli


@pytest.fixture
def single() -> Iterator[SandboxHandle]:
    """A sandbox of its own (the test stops it, to check `down` stops an added cluster; stopped here otherwise)."""
    handle = SandboxHandle.start(UpOptions(name=f"e2e-addcl-{os.getpid()}", git="local", registry="local",
                                           timeout=120))
    try:
        yield handle
    finally:
        if StateDir(handle.name).exists():
            handle.stop()


def _clusters(name: str) -> dict[str, dict[str, object]]:
    result = run_cli("cluster", "list", "--name", name, "-o", "json")
    assert result.exit_code == 0, result.output
    return {c["name"]: c for c in json.loads(result.output)}


def test_add_apply_through_kubeconfig_remove_and_down(single: SandboxHandle) -> None:
    state = StateDir(single.name)
    added = run_cli("cluster", "add", "qa", "--name", single.name)
    assert added.exit_code == 0, added.output
    clusters = _clusters(single.name)
    assert set(clusters) == {"default", "qa"}
    assert clusters["qa"]["healthy"] is True and clusters["qa"]["management"] is False
    assert clusters["qa"]["secret"] == "flux-system/qa-kubeconfig"
    secret = single.kube.get("v1", "Secret", "qa-kubeconfig", "flux-system")
    qa = KubeClient(loads(base64.b64decode(secret["data"]["value"]).decode(), "Secret qa-kubeconfig"))
    assert qa.get("v1", "Namespace", "default") is not None
    identity = single.kube.get("v1", "ConfigMap", "qa-kubeconfig", "flux-system")["data"]  # for configMapRef
    assert (identity["provider"], identity["address"]) == ("generic", clusters["qa"]["server"])

    repo = single.new_repo("to-qa", files={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shipped, "
                                                      "namespace: default}\ndata: {to: qa}\n"})
    name = repo.kustomization(prune=True, retryInterval="3s",
                              kubeConfig={"configMapRef": {"name": "qa-kubeconfig"}})
    repo.wait_applied(name, sha=repo.head, timeout=90)
    assert qa.get("v1", "ConfigMap", "shipped", "default")["data"] == {"to": "qa"}
    assert single.kube.get_or_none("v1", "ConfigMap", "shipped", "default") is None
    repo.delete()

    again = run_cli("cluster", "add", "qa", "--name", single.name)
    assert again.exit_code != 0 and "already has a cluster 'qa'" in again.output
    refused = run_cli("cluster", "remove", "default", "--name", single.name)
    assert refused.exit_code != 0 and "is the management cluster" in refused.output

    removed = run_cli("cluster", "remove", "qa", "--name", single.name)
    assert removed.exit_code == 0, removed.output
    assert set(_clusters(single.name)) == {"default"}
    assert single.kube.get_or_none("v1", "Secret", "qa-kubeconfig", "flux-system") is None
    assert single.kube.get_or_none("v1", "ConfigMap", "qa-kubeconfig", "flux-system") is None
    assert processes_mentioning(str(state.path / "clusters" / "qa")) == []
    assert not (state.path / "clusters" / "qa").exists()
    assert not any(c["name"].startswith("qa-") for c in (state.read_status() or {}).get("components", []))

    # `down` stops a cluster added to the sandbox with the rest
    added = run_cli("cluster", "add", "uat", "--name", single.name)
    assert added.exit_code == 0, added.output
    assert processes_mentioning(str(state.path / "clusters" / "uat"))
    single.stop()
    assert processes_mentioning(str(state.path)) == []
    assert not state.exists()
