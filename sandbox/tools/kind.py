"""The ``kind`` CLI (Kubernetes IN Docker): create and delete clusters, list them, read a cluster's kubeconfig and
load locally built images into its nodes. The caller locates the binary (``sandbox.cluster.kind.locate``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from sandbox.tools.run import Completed, run

# kind's own pinned node image is pulled on first use; creating a cluster waits for the control plane.
CREATE_TIMEOUT = 900.0
_TIMEOUT = 300.0


def _kind(kind: Path, args: Sequence[str | Path], *, env: Mapping[str, str] | None = None,
          timeout: float = _TIMEOUT, ok_codes: Sequence[int] = (0,)) -> Completed:
    return run([kind, *args], env=env, timeout=timeout, ok_codes=ok_codes)


def version(kind: Path, *, env: Mapping[str, str] | None = None) -> str:
    """``kind version``'s line, e.g. ``kind v0.33.0 go1.26.8 linux/amd64``."""
    return _kind(kind, ["version"], env=env, timeout=30).stdout.strip()


def create_cluster(kind: Path, name: str, config: Path, kubeconfig: Path, *, wait: str = "180s",
                   env: Mapping[str, str] | None = None, retain: bool = False) -> Completed:
    """``kind create cluster`` from the ``config`` file, writing its kubeconfig to ``kubeconfig`` (never the user's
    default one). ``retain`` keeps failed nodes for `docker logs`."""
    args: list[str | Path] = ["create", "cluster", "--name", name, "--config", config, "--kubeconfig", kubeconfig,
                              "--wait", wait]
    if retain:
        args.append("--retain")
    return _kind(kind, args, env=env, timeout=CREATE_TIMEOUT)


def delete_cluster(kind: Path, name: str, kubeconfig: Path, *, env: Mapping[str, str] | None = None) -> None:
    """``kind delete cluster``: its node containers go; ``kubeconfig`` loses the cluster's entries. Deleting a
    cluster that does not exist succeeds (kind says so and exits 0)."""
    _kind(kind, ["delete", "cluster", "--name", name, "--kubeconfig", kubeconfig], env=env)


def get_clusters(kind: Path, *, env: Mapping[str, str] | None = None) -> list[str]:
    """The names of the kind clusters this engine holds."""
    out = _kind(kind, ["get", "clusters"], env=env, timeout=60).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def get_nodes(kind: Path, name: str, *, env: Mapping[str, str] | None = None) -> list[str]:
    """The node container names of cluster ``name``."""
    out = _kind(kind, ["get", "nodes", "--name", name], env=env, timeout=60).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def get_kubeconfig(kind: Path, name: str, *, internal: bool = False,
                   env: Mapping[str, str] | None = None) -> str:
    """The cluster's kubeconfig; ``internal`` addresses the API server by its node's name on the ``kind`` network
    (for containers on that network) instead of the host port."""
    args = ["get", "kubeconfig", "--name", name]
    if internal:
        args.append("--internal")
    return _kind(kind, args, env=env, timeout=60).stdout


def load_docker_image(kind: Path, name: str, images: Sequence[str], *, nodes: Sequence[str] = (),
                      env: Mapping[str, str] | None = None) -> None:
    """``kind load docker-image``: copy images from the local engine into the cluster's nodes' containerd."""
    args = ["load", "docker-image", *images, "--name", name]
    if nodes:
        args += ["--nodes", ",".join(nodes)]
    _kind(kind, args, env=env, timeout=CREATE_TIMEOUT)
