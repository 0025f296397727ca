"""A real kind cluster from the node image assembled here (`sandbox setup --kind --kind-node-image`): the node goes
Ready, a pod running an image built locally and loaded with `kind load docker-image` reaches Running, the default
StorageClass provisions a volume on the node for a claim and removes it with the claim, and `kind delete cluster`
leaves no container behind."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import binaries, config
from sandbox.kindnode import hostcheck, layout, recipes, storage
from sandbox.tools import docker, rootfs
from sandbox.waiting import wait_until

CLUSTER = f"sbx-try-{os.getpid()}"
POD_IMAGE = "sandbox.local/kind-try-pod:1"
KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"


def _run(argv: list[str], timeout: float = 300) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(argv)} failed ({result.returncode}): {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def kind() -> Path:
    ok, why = docker.usable()
    if not ok:
        pytest.skip(f"Docker is needed for a kind cluster: {why}")
    found = binaries.find("kind")
    if found is None:
        pytest.skip("the kind binary is missing: `sandbox setup --kind` builds it")
    if not docker.image_exists(layout.node_image(config.DEFAULT_K8S_VERSION)):
        pytest.skip(f"the node image {layout.node_image(config.DEFAULT_K8S_VERSION)} is missing: "
                    "`sandbox setup --kind-node-image` builds it")
    blocker = hostcheck.privileged_blocker()
    if blocker:
        pytest.skip(f"kind cannot start its node containers here: {blocker}")
    if not recipes.pause_target().is_current():
        pytest.skip("the pause program the test pod runs is missing: `sandbox setup --kind-node-image` builds it")
    return found.path


@pytest.fixture(scope="module")
def pod_image(kind: Path) -> Iterator[str]:
    """A locally built image (the pause program alone), known only to this machine's Docker."""
    repository, tag = rootfs.split_image(POD_IMAGE)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        rootfs.write(tarball, {"/pause": (recipes.pause_target().binaries()[0], 0o755)})
        docker.import_rootfs(tarball, repository, tag, ['ENTRYPOINT ["/pause"]', "LABEL io.gitops-sandbox.test=kind"])
    yield POD_IMAGE
    docker.remove_image(POD_IMAGE)


@pytest.fixture(scope="module")
def cluster(kind: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The cluster's kubeconfig (never the user's default one); the cluster is deleted afterwards."""
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    try:
        _run([str(kind), "create", "cluster", "--name", CLUSTER, "--image",
              layout.node_image(config.DEFAULT_K8S_VERSION), "--kubeconfig", str(kubeconfig), "--wait", "120s"],
             timeout=400)
        yield kubeconfig
    finally:
        subprocess.run([str(kind), "delete", "cluster", "--name", CLUSTER, "--kubeconfig", str(kubeconfig)],
                       capture_output=True, timeout=180, check=False)


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    kubectl = binaries.require("kubectl")
    result = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), *args], input=stdin,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr[-1500:]}"
    return result.stdout


def _kubectl_ok(kubeconfig: Path, *args: str) -> bool | None:
    kubectl = binaries.require("kubectl")
    result = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                            timeout=60, check=False)
    return True if result.returncode == 0 else None


def test_node_is_ready_and_a_locally_built_pod_runs(kind: Path, cluster: Path, pod_image: str) -> None:
    nodes = json.loads(_kubectl(cluster, "get", "nodes", "-o", "json"))["items"]
    assert [n["metadata"]["name"] for n in nodes] == [f"{CLUSTER}-control-plane"]
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert ready["Ready"] == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == config.DEFAULT_K8S_VERSION

    _run([str(kind), "load", "docker-image", pod_image, "--name", CLUSTER])
    # `--wait` waits for the node; the namespace's default ServiceAccount comes from the controller-manager a moment
    # later, and a pod cannot be admitted before it exists
    wait_until(lambda: _kubectl_ok(cluster, "-n", "default", "get", "serviceaccount", "default"), timeout=60,
               what="the default ServiceAccount")
    _kubectl(cluster, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "local-image", "namespace": "default"},
        "spec": {"containers": [{"name": "pause", "image": pod_image, "imagePullPolicy": "Never"}]}}))

    def running() -> dict[str, object] | None:
        pod = json.loads(_kubectl(cluster, "get", "pod", "local-image", "-o", "json"))
        return pod if pod["status"].get("phase") == "Running" else None

    pod = wait_until(running, timeout=120, what="the pod with the locally built image to run",
                     describe=lambda: _kubectl(cluster, "describe", "pod", "local-image"))
    assert pod["status"]["podIP"].startswith("10.244.0.")  # type: ignore[index]


def test_cluster_dns_and_services_work(cluster: Path) -> None:
    """CoreDNS (built here) becomes available only when it reaches the API server through the `kubernetes` Service,
    i.e. when kube-proxy's rules (iptables in its image) and the bridge pod network work."""

    def available() -> int | None:
        deployment = json.loads(_kubectl(cluster, "-n", "kube-system", "get", "deployment", "coredns", "-o", "json"))
        ready = deployment["status"].get("availableReplicas", 0)
        return ready if ready == deployment["spec"]["replicas"] else None

    wait_until(available, timeout=120, what="CoreDNS to become available",
               describe=lambda: _kubectl(cluster, "-n", "kube-system", "get", "pods", "-o", "wide"))
    proxy_log = _kubectl(cluster, "-n", "kube-system", "logs", "daemonset/kube-proxy")
    assert "Failed to execute iptables-restore" not in proxy_log


def _on_node(*argv: str) -> int:
    """Exit code of ``argv`` run in the cluster's node container."""
    with docker.engine() as client:
        code, _ = client.containers.get(f"{CLUSTER}-control-plane").exec_run(list(argv))
    return int(code)


def _storage_pod(name: str, script: str) -> dict[str, object]:
    """A pod of the storage helper image (busybox, pre-imported in the node) running ``script`` on the claim."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "sh", "image": storage.HELPER_IMAGE, "imagePullPolicy": "Never",
                                     "command": ["/bin/sh", "-c", script],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}}


def test_default_storage_class_provisions_a_local_volume_and_removes_it_with_the_claim(cluster: Path) -> None:
    """local-path-provisioner (built here, pre-imported) binds a claim of the default class once a pod uses it,
    makes its directory on the node with a helper pod, and removes directory and volume when the claim goes."""
    classes = json.loads(_kubectl(cluster, "get", "storageclass", "-o", "json"))["items"]
    default = [c["metadata"]["name"] for c in classes
               if (c["metadata"].get("annotations") or {}).get(storage.DEFAULT_CLASS_ANNOTATION) == "true"]
    assert default == ["standard"]
    wait_until(lambda: _kubectl_ok(cluster, "-n", "default", "get", "serviceaccount", "default"), timeout=60,
               what="the default ServiceAccount")
    _kubectl(cluster, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}}}))
    claim = json.loads(_kubectl(cluster, "get", "pvc", "data", "-o", "json"))
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["status"].get("phase") != "Bound"  # WaitForFirstConsumer: no pod uses it yet

    def finished(pod: str) -> str | None:
        phase = json.loads(_kubectl(cluster, "get", "pod", pod, "-o", "json"))["status"].get("phase")
        return str(phase) if phase in ("Succeeded", "Failed") else None

    def describe() -> str:
        return (_kubectl(cluster, "get", "pvc,pv,pods", "-A", "-o", "wide")
                + _kubectl(cluster, "-n", storage.NAMESPACE, "logs", f"deployment/{storage.NAME}", "--tail", "30"))

    _kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(_storage_pod("writer", "echo persisted > /data/file")))
    assert wait_until(lambda: finished("writer"), timeout=180, what="the writer pod on the claim",
                      describe=describe) == "Succeeded"
    claim = json.loads(_kubectl(cluster, "get", "pvc", "data", "-o", "json"))
    assert claim["status"]["phase"] == "Bound"
    volume = json.loads(_kubectl(cluster, "get", "pv", claim["spec"]["volumeName"], "-o", "json"))
    path = volume["spec"]["hostPath"]["path"]
    assert path.startswith(storage.VOLUME_ROOT + "/")
    assert _on_node("test", "-f", f"{path}/file") == 0

    _kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(_storage_pod("reader", "cat /data/file")))
    assert wait_until(lambda: finished("reader"), timeout=120, what="the reader pod on the claim",
                      describe=describe) == "Succeeded"
    assert _kubectl(cluster, "logs", "reader").strip() == "persisted"

    _kubectl(cluster, "delete", "pod", "writer", "reader", "--wait=true")
    _kubectl(cluster, "delete", "pvc", "data", "--wait=true")
    wait_until(lambda: None if _kubectl_ok(cluster, "get", "pv", volume["metadata"]["name"]) else True,
               timeout=120, what="the volume to be deleted with its claim", describe=describe)
    assert _on_node("test", "-e", path) != 0  # the teardown helper pod removed the directory


def test_delete_cluster_removes_every_container(kind: Path, cluster: Path) -> None:
    assert docker.labelled_containers({KIND_CLUSTER_LABEL: CLUSTER})
    _run([str(kind), "delete", "cluster", "--name", CLUSTER, "--kubeconfig", str(cluster)], timeout=180)
    assert docker.labelled_containers({KIND_CLUSTER_LABEL: CLUSTER}) == []
    assert CLUSTER not in _run([str(kind), "get", "clusters"]).split()
