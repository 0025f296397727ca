"""`sandbox up --cluster kind` for real: kind, Docker and a node image (``sandbox.local/kind-node:<version>`` built
here, ``$SANDBOX_KIND_NODE_IMAGE``, or kind's default where ``$SANDBOX_KIND_PULL=1`` says it can be pulled). Pods
really run images pushed to the sandbox registry as users push them, and images loaded with `sandbox image load`;
the reconciler on the host applies the fleet repository to the kind cluster. Skips naming the missing piece.
`nox -s e2e_kind` runs this module and the built-in scenarios on kind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from sandbox.cli.main import cli
from sandbox.cluster import kind
from sandbox.config import UpOptions
from sandbox.fluxdev import release
from sandbox.git import repo as repos
from sandbox.handle import SandboxHandle
from sandbox.kindnode import standins
from sandbox.kube.client import KubeClient
from sandbox.registry import container as registry_container
from sandbox.tools import docker
from sandbox.waiting import wait_until
from tests.integration.kind import kinddouble

NAME = "e2e-kind"
# `flux`: upstream Flux's controllers as host processes against the kind cluster (nox -s e2e_kind runs both).
RECONCILER = os.environ.get("SANDBOX_E2E_KIND_RECONCILER", "sandbox")
NAMESPACE = "default"
STANDIN = "e2e-kind/standin:1"


@pytest.fixture(scope="module")
def kind_sandbox() -> Iterator[SandboxHandle]:
    missing = kind.missing_prerequisites()
    if missing:
        pytest.skip(f"missing for a real kind cluster: {missing}")
    if not kinddouble.BUSYBOX.is_file():
        pytest.skip("the workload image is built from /bin/busybox: `apt-get install busybox-static`")
    if not docker.image_exists(registry_container.image_name()):
        if not docker.image_exists("local/registry:2"):
            pytest.skip(f"the registry image {registry_container.image_name()} (or the stand-in local/registry:2: "
                        "`python -m sandbox.registry.standin`)")
        os.environ[registry_container.IMAGE_ENV] = "local/registry:2"
    if RECONCILER == "flux" and not release.ready():
        pytest.skip("upstream Flux is not built: `sandbox setup --flux`")
    standins.build(STANDIN)  # loaded at `up` (--load-image), as nox -s e2e_kind loads the scenarios' images
    try:
        handle = SandboxHandle.start(UpOptions(name=NAME, cluster="kind", reconciler=RECONCILER, timeout=300,
                                               kind_load_images=(STANDIN,)))
        try:
            yield handle
        finally:
            handle.stop()
    finally:
        docker.remove_image(STANDIN)


def _engine() -> Any:
    import docker as sdk

    return sdk.from_env(timeout=120)


def _pod(name: str, image: str, pull_policy: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "main", "image": image, "imagePullPolicy": pull_policy,
                                     "command": ["/bin/busybox", "sleep", "3600"]}]}}


def _running(kube: KubeClient, name: str) -> bool:
    pod = kube.get("v1", "Pod", name, NAMESPACE)
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and "running" in (statuses[0].get("state") or {})


def _run_pod(kube: KubeClient, name: str, image: str, pull_policy: str) -> None:
    kube.apply(_pod(name, image, pull_policy), field_manager="e2e-kind")
    try:
        wait_until(lambda: _running(kube, name), timeout=180, what=f"pod {name} ({image}) to run",
                   interval=1, max_interval=3, describe=lambda: str(kube.get("v1", "Pod", name, NAMESPACE)
                                                                     .get("status", {}).get("containerStatuses")))
    finally:
        kube.delete("v1", "Pod", name, NAMESPACE, grace_period_seconds=0)


def test_nodes_are_real_and_ready(kind_sandbox: SandboxHandle) -> None:
    nodes = kind_sandbox.kube.list("v1", "Node").items
    assert [n["metadata"]["name"] for n in nodes] == [f"{kind.cluster_name(NAME)}-control-plane"]
    ready = [c for c in nodes[0]["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_a_pod_runs_an_image_pushed_to_the_sandbox_registry_as_users_push_it(kind_sandbox: SandboxHandle) -> None:
    host = kind_sandbox.status["services"]["registry"]["host"]
    target = f"{host}/e2e/busybox:1"
    client = _engine()
    try:
        client.images.get(kinddouble.build_image()).tag(target)
        client.images.push(target)  # Docker treats a loopback registry as insecure: plain HTTP
    finally:
        client.close()
    try:
        # The pod names the host address; the node's containerd pulls it by the registry's name on the kind network.
        _run_pod(kind_sandbox.kube, "from-registry", target, "Always")
    finally:
        docker.remove_image(target)  # the tag only: the image keeps its own name


def test_image_load_puts_a_local_image_on_the_nodes(kind_sandbox: SandboxHandle) -> None:
    # An image of its own ID: containerd's CRI does not see a second name imported for an image ID it already
    # holds under another one (the registry test's busybox), so a mere re-tag would not be found (docs/kind.md).
    kinddouble.build_image("e2e-kind/loaded:1", purpose="image-load")
    result = CliRunner().invoke(cli, ["image", "load", "--name", NAME, "e2e-kind/loaded:1"])
    assert result.exit_code == 0, result.output
    try:
        _run_pod(kind_sandbox.kube, "loaded", "e2e-kind/loaded:1", "Never")
    finally:
        docker.remove_image("e2e-kind/loaded:1")


def test_an_image_loaded_at_up_runs_and_serves_its_readiness_probe(kind_sandbox: SandboxHandle) -> None:
    # A stand-in (busybox httpd on :80, as for the scenarios' nginx/postgres here), loaded by `up --load-image`:
    # with imagePullPolicy Never the pod starts only from what the load put on the node, and turns Ready only when
    # the kubelet's HTTP probe on port 80 gets an answer.
    assert kind_sandbox.status["services"]["kind"]["loaded_images"] == [STANDIN]
    kube = kind_sandbox.kube
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "standin", "namespace": NAMESPACE},
           "spec": {"containers": [{"name": "web", "image": STANDIN, "imagePullPolicy": "Never",
                                    "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1}}]}}
    kube.apply(pod, field_manager="e2e-kind")

    def ready() -> bool:
        conditions = (kube.get("v1", "Pod", "standin", NAMESPACE).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    try:
        wait_until(ready, timeout=120, what=f"pod standin ({STANDIN}) to be Ready", interval=1, max_interval=2,
                   describe=lambda: str(kube.get("v1", "Pod", "standin", NAMESPACE).get("status")))
    finally:
        kube.delete("v1", "Pod", "standin", NAMESPACE, grace_period_seconds=0)


def test_the_registry_is_advertised_per_kep_1755(kind_sandbox: SandboxHandle) -> None:
    data = kind_sandbox.kube.get("v1", "ConfigMap", kind.LOCAL_REGISTRY_HOSTING, "kube-public")["data"]
    entry = kind_sandbox.status["services"]["kind"]["registry"]
    assert f"hostFromClusterNetwork: {entry['in_cluster']}" in data["localRegistryHosting.v1"]


def test_the_host_reconciler_applies_the_fleet_repository_to_the_kind_cluster(kind_sandbox: SandboxHandle) -> None:
    if "reconciler" not in kind_sandbox.status["services"] or "git" not in kind_sandbox.status["services"]:
        # (the record's "reconciler" entry is there with --reconciler flux too: its receivers' process)
        pytest.skip("the sandbox runs without a reconciler or git server")
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-fleet\n  namespace: default\n"
                "data:\n  cluster: kind\n")
    repos.commit_files(kind_sandbox.git, "fleet", {"from-fleet.yaml": manifest}, "A ConfigMap for the kind cluster")
    wait_until(lambda: _configmap(kind_sandbox.kube), timeout=120, what="ConfigMap default/from-fleet from git",
               interval=1, max_interval=3)


def _configmap(kube: KubeClient) -> bool:
    try:
        return bool(kube.get("v1", "ConfigMap", "from-fleet", NAMESPACE).get("data", {}).get("cluster") == "kind")
    except Exception:
        return False


def test_down_leaves_nothing_of_the_sandbox(kind_sandbox: SandboxHandle) -> None:
    """Last in the module: stops the sandbox and looks for what it created."""
    state = kind_sandbox.state
    kind_sandbox.stop()
    assert docker.container_state(f"{kind.cluster_name(NAME)}-control-plane") == ""
    assert not docker.labelled_containers({docker.LABEL_STATE_DIR: str(state.path)})
    assert not state.exists()
