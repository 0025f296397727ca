"""A test double of the kind CLI, for machines without kind or a node image: it creates each node of the config as
a real container on the ``kind`` network (from a small local image: busybox), with kind's labels, host name and the
config's ``extraMounts``, and writes as the cluster's kubeconfig the one named by ``$KIND_DOUBLE_KUBECONFIG`` (a real
API server: the test session's sandbox). So every Docker path of the kind backend runs for real: the network, the
registry reachable by its alias from a node, the hosts.toml mounted where containerd reads it, cleanup by labels.
What it does not do is Kubernetes on the nodes (no kubelet): that needs real kind and a node image (tests/e2e_kind).

Run as a program (``SANDBOX_KIND`` points at a wrapper script that runs this file)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
DOUBLE_LABEL = "io.gitops-sandbox.test"  # on the network the double created (a real kind leaves its network)
IMAGE = "sandbox.local/kind-node-double:busybox"
BUSYBOX = Path("/bin/busybox")


def _client() -> Any:
    import docker

    return docker.from_env(timeout=30)


def build_image(image: str = IMAGE, purpose: str = "") -> str:
    """The node image of the double: a static busybox (its shell, wget, nslookup), sleeping. ``purpose`` goes into
    a label, which gives the image an ID of its own."""
    import io

    client = _client()
    try:
        client.images.get(image)
        return image
    except Exception:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        with tarfile.open(tarball, "w") as archive:
            for directory in ("bin", "tmp", "etc", "etc/containerd"):
                info = tarfile.TarInfo(directory)
                info.type = tarfile.DIRTYPE
                info.mode = 0o1777 if directory == "tmp" else 0o755
                archive.addfile(info)
            data = BUSYBOX.read_bytes()
            info = tarfile.TarInfo("bin/busybox")
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
        repository, tag = image.rsplit(":", 1)
        changes = ['ENTRYPOINT ["/bin/busybox"]', 'CMD ["sleep", "86400"]']
        if purpose:
            changes.append(f"LABEL {DOUBLE_LABEL}={purpose}")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)
    client.close()
    return image


def _network() -> str:
    return os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK") or "kind"


def _log(entry: dict[str, Any]) -> None:
    path = os.environ.get("KIND_DOUBLE_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")


def _nodes(client: Any, name: str) -> list[Any]:
    return list(client.containers.list(all=True, filters={"label": f"{CLUSTER_LABEL}={name}"}))


def create(name: str, config_file: Path, kubeconfig: Path) -> int:
    import docker.errors

    config = yaml.safe_load(config_file.read_text())
    client = _client()
    if _nodes(client, name):
        print(f"ERROR: failed to create cluster: node(s) already exist for a cluster with the name \"{name}\"",
              file=sys.stderr)
        return 1
    try:
        client.networks.get(_network())
    except docker.errors.NotFound:
        client.networks.create(_network(), driver="bridge", labels={DOUBLE_LABEL: "kind-double"})
    workers = 0
    for node in config.get("nodes") or [{"role": "control-plane"}]:
        role = node.get("role", "control-plane")
        if role == "worker":
            workers += 1
            host = f"{name}-worker" + ("" if workers == 1 else str(workers))
        else:
            host = f"{name}-control-plane"
        volumes = {m["hostPath"]: {"bind": m["containerPath"], "mode": "ro" if m.get("readOnly") else "rw"}
                   for m in node.get("extraMounts") or []}
        client.containers.run(node.get("image") or IMAGE, detach=True, name=host, hostname=host,
                              network=_network(), volumes=volumes,
                              labels={CLUSTER_LABEL: name, ROLE_LABEL: role})
    shutil.copyfile(os.environ["KIND_DOUBLE_KUBECONFIG"], kubeconfig)
    _log({"create": name, "config": config})
    print(f"Creating cluster \"{name}\" ... (double)")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kind")
    parser.add_argument("words", nargs="*")
    parser.add_argument("--name", default="kind")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--wait")
    parser.add_argument("--nodes", default="")
    parser.add_argument("--internal", action="store_true")
    parser.add_argument("--retain", action="store_true")
    args = parser.parse_args(argv)
    words = args.words
    client = _client()
    if words == ["version"]:
        print("kind v0.33.0-double")
    elif words == ["create", "cluster"]:
        assert args.config is not None and args.kubeconfig is not None
        return create(args.name, args.config, args.kubeconfig)
    elif words == ["delete", "cluster"]:
        for container in _nodes(client, args.name):
            container.remove(force=True, v=True)
        _log({"delete": args.name})
        print(f"Deleting cluster \"{args.name}\" ...")
    elif words == ["get", "clusters"]:
        names = sorted({c.labels[CLUSTER_LABEL] for c in client.containers.list(
            all=True, filters={"label": CLUSTER_LABEL})})
        print("\n".join(names) if names else "No kind clusters found.", file=sys.stdout if names else sys.stderr)
    elif words == ["get", "nodes"]:
        print("\n".join(sorted(c.name for c in _nodes(client, args.name))))
    elif words[:2] == ["load", "docker-image"]:
        for image in words[2:]:
            client.images.get(image)  # fails as kind does when the image is not local
        _log({"load": words[2:], "name": args.name})
    else:
        print(f"kind double: unsupported command {argv}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
