"""The ``kind`` CLI (Kubernetes IN Docker): create and delete clusters, list them, read a cluster's kubeconfig and
load locally built images into its nodes. The caller locates the binary (``sandbox.cluster.kind.locate``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from sandbox.errors import CommandError
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


_KEY_LINES = ("ERROR:", "error execution phase", "[ERROR", "Command Output:", "failed with error")


def failure_summary(output: str, limit: int = 25) -> str:
    """The lines of a failed kind command that say what went wrong (kind's ``ERROR:`` line, kubeadm's failing
    phase and preflight errors, the output of the command that failed), not the Go stack trace that follows them."""
    lines = output.strip().splitlines()
    picked: list[str] = []
    for index, line in enumerate(lines):
        if any(key in line for key in _KEY_LINES):
            picked.append(line)
            if "Command Output:" in line and index + 1 < len(lines):
                picked.append(lines[index + 1])
    chosen = list(dict.fromkeys(picked)) or lines[-limit:]
    return "\n".join(chosen[:limit])


def create_cluster(kind: Path, name: str, config: Path, kubeconfig: Path, *, wait: str = "180s",
                   env: Mapping[str, str] | None = None, retain: bool = False) -> Completed:
    """``kind create cluster`` from the ``config`` file, writing its kubeconfig to ``kubeconfig`` (never the user's
    default one). ``retain`` keeps failed nodes for `docker logs`. A failure raises CommandError whose message holds
    ``failure_summary`` of kind's output."""
    args: list[str | Path] = ["create", "cluster", "--name", name, "--config", config, "--kubeconfig", kubeconfig,
                              "--wait", wait]
    if retain:
        args.append("--retain")
    done = _kind(kind, args, env=env, timeout=CREATE_TIMEOUT, ok_codes=range(256))
    if done.returncode != 0:
        summary = failure_summary(done.stderr + "\n" + done.stdout)
        raise CommandError(f"`kind create cluster --name {name}` exited with code {done.returncode}:\n{summary}",
                           argv=list(done.argv), returncode=done.returncode, stderr_tail=summary)
    return done


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
