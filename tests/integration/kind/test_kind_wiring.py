"""`sandbox up --cluster kind` with a double of the kind CLI (kinddouble.py): real node containers on the `kind`
network, the real registry container attached to it, the real API server of the session sandbox taking the
KEP-1755 ConfigMap — and `sandbox down` removing exactly what the sandbox created."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import lifecycle
from sandbox.cluster import kind
from sandbox.config import UpOptions
from sandbox.handle import SandboxHandle
from sandbox.registry import artifacts
from sandbox.registry import container as registry_container
from sandbox.state import StateDir
from sandbox.tools import docker
from sandbox.waiting import wait_until
from tests.integration.kind import kinddouble

NAME = "kinddouble"
CLUSTER = kind.cluster_name(NAME)
NODE = f"{CLUSTER}-control-plane"
ALIAS = f"{CLUSTER}-registry"


def _engine() -> Any:
    import docker as sdk

    return sdk.from_env(timeout=30)


def _exec(container: str, *argv: str) -> str:
    client = _engine()
    try:
        code, output = client.containers.get(container).exec_run(["/bin/busybox", *argv])
    finally:
        client.close()
    text = (output or b"").decode(errors="replace")
    assert code == 0, f"{argv} in {container} exited {code}: {text}"
    return text


def _endpoint(container_id: str) -> str:
    """The container's endpoint on the kind network ("" when it is not attached): a new one for each attach."""
    client = _engine()
    try:
        networks = client.containers.get(container_id).attrs["NetworkSettings"]["Networks"]
    finally:
        client.close()
    return str((networks.get("kind") or {}).get("EndpointID") or "")


def _names_on(network: str) -> set[str]:
    client = _engine()
    try:
        net = client.networks.get(network)
        net.reload()
        return {c.name for c in net.containers}
    finally:
        client.close()


@pytest.fixture
def double_env(sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    ok, why = docker.usable()
    if not ok:
        pytest.skip(f"Docker is needed: {why}")
    image = registry_container.image_name()
    if not docker.image_exists(image):
        if not docker.image_exists("local/registry:2"):
            pytest.skip(f"no registry image ({image}, nor the stand-in local/registry:2: "
                        "`python -m sandbox.registry.standin`)")
        monkeypatch.setenv(registry_container.IMAGE_ENV, "local/registry:2")
    if not kinddouble.BUSYBOX.is_file():
        pytest.skip("the kind double's node image is built from /bin/busybox: `apt-get install busybox-static`")
    created_network = not docker.network_exists("kind")
    if created_network:  # as kind would make it; removed afterwards (a real kind leaves it)
        client = _engine()
        client.networks.create("kind", driver="bridge", labels={kinddouble.DOUBLE_LABEL: "kind-double"})
        client.close()
    wrapper = tmp_path / "kind"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {kinddouble.__file__} \"$@\"\n")
    wrapper.chmod(0o755)
    log = tmp_path / "kind-double.log"
    monkeypatch.setenv(kind.KIND_ENV, str(wrapper))
    monkeypatch.setenv(kind.NODE_IMAGE_ENV, kinddouble.build_image())
    monkeypatch.setenv("KIND_DOUBLE_KUBECONFIG", str(sandbox.kubeconfig))
    monkeypatch.setenv("KIND_DOUBLE_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    try:
        yield log
    finally:
        lifecycle.down(NAME)
        sandbox.kube.delete("v1", "ConfigMap", kind.LOCAL_REGISTRY_HOSTING, "kube-public")
        if created_network:
            client = _engine()
            try:
                client.networks.get("kind").remove()
            finally:
                client.close()


def test_kind_sandbox_wiring_and_cleanup(double_env: Path, sandbox: SandboxHandle) -> None:
    # A container of someone else on the kind network: down must leave it alone.
    client = _engine()
    bystander = client.containers.run(kinddouble.IMAGE, detach=True, name="kind-double-bystander",
                                      labels={kind.CLUSTER_LABEL: "someone-else"}, network="kind")
    client.close()
    try:
        result = lifecycle.up(UpOptions(name=NAME, cluster="kind", reconciler="none", git="none", timeout=120))
        assert result["phase"] == "ready"
        entry = result["services"]["kind"]
        registry = result["services"]["registry"]
        assert entry["cluster"] == CLUSTER and entry["node_image"] == kinddouble.IMAGE
        assert entry["registry"] == {"host": registry["host"], "in_cluster": f"{ALIAS}:5000",
                                     "configmap": "kube-public/local-registry-hosting"}
        assert registry["backend"] == "container"
        # The version is what the cluster's API server reports (here the session sandbox's, behind the double).
        assert result["kubernetes_version"] == entry["kubernetes_version"] == \
            sandbox.kube.request("GET", "/version")["gitVersion"]
        # The kubeconfig is the sandbox's own file, never the user's default one.
        assert result["kubeconfig"] == str(StateDir(NAME).kubeconfig)

        # The registry is on the kind network under its alias, and a node reaches it by that name.
        assert NODE in _names_on("kind")
        artifacts.push_image(NAME, "team/app:1.0.0")
        tags = _exec(NODE, "wget", "-qO-", f"http://{ALIAS}:5000/v2/team/app/tags/list")
        assert '"1.0.0"' in tags
        # containerd's host file for the address users push to sends pulls to that name.
        hosts = _exec(NODE, "cat", f"/etc/containerd/certs.d/{registry['host']}/hosts.toml")
        assert f'server = "http://{ALIAS}:5000"' in hosts

        configmap = sandbox.kube.get("v1", "ConfigMap", kind.LOCAL_REGISTRY_HOSTING, "kube-public")
        assert f"host: {registry['host']}" in configmap["data"]["localRegistryHosting.v1"]

        # A registry container off the network (as a replaced one starts) is attached again by the keeper.
        (registry_id,) = docker.labelled_containers({docker.LABEL_STATE_DIR: str(StateDir(NAME).path),
                                                     docker.LABEL_COMPONENT: "registry"})
        before = _endpoint(registry_id)
        client = _engine()
        try:
            client.networks.get("kind").disconnect(registry_id)
        finally:
            client.close()
        # The keeper may attach it again before this looks: a new endpoint on the network is what shows it did.
        wait_until(lambda: _endpoint(registry_id) not in ("", before), timeout=30,
                   what="the keeper to attach the registry container again", interval=0.2, max_interval=1)
        assert '"1.0.0"' in _exec(NODE, "wget", "-qO-", f"http://{ALIAS}:5000/v2/team/app/tags/list")

        assert kind.load_images(StateDir(NAME), [kinddouble.IMAGE]) == [NODE]
        assert f'"load": ["{kinddouble.IMAGE}"]' in double_env.read_text()

        assert lifecycle.down(NAME)
        assert docker.container_state(NODE) == ""
        assert not docker.labelled_containers({docker.LABEL_SANDBOX: NAME})
        assert docker.container_state("kind-double-bystander") == "running"
        assert '"delete": "sandbox-kinddouble"' in double_env.read_text()
    finally:
        docker.remove_containers([bystander.id])
