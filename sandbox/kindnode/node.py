"""The Docker steps of the node image, as kind's node-image builder does them: import the node rootfs as a stage
image, run it (``sleep infinity``), write containerd's base runtime spec, start containerd inside and import the
component images (kubeadm's and the default storage's) into its ``k8s.io`` namespace, stop it, and commit the
container as the node image."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError
from sandbox.kindnode import layout
from sandbox.tools import docker

ENTRYPOINT = '["/usr/local/bin/entrypoint", "/sbin/init"]'
LABEL_FINGERPRINT = "io.gitops-sandbox.kindnode.fingerprint"
IMPORT_DIR = "/kind/sandbox-images"
_LONG = 900  # seconds: importing and committing images of hundreds of MB


def stage_changes() -> list[str]:
    return ["ENV container=docker", f"ENTRYPOINT {ENTRYPOINT}"]


BUILD_LABELS = {docker.LABEL_COMPONENT: "kind-node-build"}


def commit_changes(fingerprint: str) -> list[str]:
    """The node image's config; the build container's own labels (which a commit keeps) are blanked, so that the
    cluster nodes kind runs from it are not taken for build containers."""
    blanked = [f'LABEL {key}=""' for key in BUILD_LABELS]
    return [f"ENTRYPOINT {ENTRYPOINT}", 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""',
            f"LABEL {LABEL_FINGERPRINT}={fingerprint}", *blanked]


# systemd stops on SIGRTMIN+3 (kind's base image sets it); `docker commit --change` does not take STOPSIGNAL, the
# commit's config does.
COMMIT_CONFIG = {"StopSignal": "SIGRTMIN+3"}


def image_fingerprint(reference: str) -> str | None:
    """The fingerprint label of an existing node image, None when there is no such image."""
    labels = docker.image_labels(reference)
    return None if labels is None else labels.get(LABEL_FINGERPRINT, "")


def _exec(container: Any, argv: Sequence[str], what: str) -> str:
    code, output = container.exec_run(list(argv))
    text = (output or b"").decode(errors="replace")
    if code != 0:
        raise SandboxError(f"node image build: {what} failed in the build container (`{' '.join(argv)}`, exit "
                           f"{code}): {text.strip()[-800:]}")
    return text


def _put_file(container: Any, path: str, data: bytes, mode: int = 0o644) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(Path(path).name)
        info.size, info.mode = len(data), mode
        archive.addfile(info, io.BytesIO(data))
    container.put_archive(str(Path(path).parent), buffer.getvalue())


def _put_path(container: Any, directory: str, source: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(source, arcname=source.name)
    container.put_archive(directory, buffer.getvalue())


def assemble(rootfs_tar: Path, k8s_version: str, write_images: Any, fingerprint: str,
             progress: layout.Progress) -> str:
    """Build ``layout.node_image(k8s_version)``; ``write_images(refs, out_dir)`` writes the component archives for
    the images kubeadm lists. Returns the image id."""
    stage_tag = fingerprint
    progress("docker import", f"{layout.BASE_REPOSITORY}:{stage_tag} ({rootfs_tar.stat().st_size >> 20} MiB)")
    previous = _image_id(layout.node_image(k8s_version))
    with docker.engine() as client:
        client.api.timeout = _LONG
        client.api.import_image_from_file(str(rootfs_tar), repository=layout.BASE_REPOSITORY, tag=stage_tag,
                                          changes=stage_changes())
        container = client.containers.run(
            f"{layout.BASE_REPOSITORY}:{stage_tag}", ["infinity"], entrypoint=["sleep"], detach=True,
            security_opt=["seccomp=unconfined"], labels=BUILD_LABELS,
            name=f"sandbox-kindnode-build-{int(time.time())}")
        try:
            built = _build_in(container, k8s_version, write_images, fingerprint, progress)
        finally:
            container.remove(force=True, v=True)
            client.images.remove(f"{layout.BASE_REPOSITORY}:{stage_tag}")  # only the tag: the node image is on it
        if previous and previous != built:
            _remove_if_unused(client, previous)
        return built


def _image_id(reference: str) -> str | None:
    import docker.errors as docker_errors

    with docker.engine() as client:
        try:
            return str(client.images.get(reference).id)
        except docker_errors.ImageNotFound:
            return None


def _remove_if_unused(client: Any, image_id: str) -> None:
    """The node image this build replaced, unless a container (a running kind node) still uses it."""
    import docker.errors as docker_errors

    try:
        client.images.remove(image_id)
    except docker_errors.APIError:
        return  # in use: it goes when its containers do and `docker image prune` runs


def _build_in(container: Any, k8s_version: str, write_images: Any, fingerprint: str,
              progress: layout.Progress) -> str:
    import tempfile

    progress("containerd base spec", "ctr oci spec + kind's createContainer hook")
    spec = json.loads(_exec(container, ["ctr", "oci", "spec"], "ctr oci spec"))
    _put_file(container, "/etc/containerd/cri-base.json", json.dumps(layout.cri_base_spec(spec), indent=2).encode())
    listed = _exec(container, ["kubeadm", "config", "images", "list", "--kubernetes-version", k8s_version],
                   "kubeadm config images list")
    config_toml = _exec(container, ["cat", "/etc/containerd/config.toml"], "reading containerd's config")
    refs = layout.required_images(listed, layout.sandbox_image(config_toml))
    progress("images kubeadm needs", ", ".join(r.reference for r in refs))
    refs += layout.storage_images()
    _exec(container, ["mkdir", "-p", IMPORT_DIR], "mkdir")
    with tempfile.TemporaryDirectory(prefix="kindnode-images-") as tmp:
        archives = write_images(refs, Path(tmp))
        for path in archives:
            _put_path(container, IMPORT_DIR, path)
    progress("containerd", "starting it in the build container")
    _exec(container, ["sh", "-c", "nohup containerd >/tmp/containerd.log 2>&1 &"], "starting containerd")
    deadline = time.monotonic() + 60
    while container.exec_run(["ctr", "version"])[0] != 0:
        if time.monotonic() > deadline:
            log = container.exec_run(["cat", "/tmp/containerd.log"])[1].decode(errors="replace")
            raise SandboxError(f"containerd did not start in the node build container: {log[-800:]}")
        time.sleep(0.5)
    for path in archives:
        progress("ctr images import", path.name)
        _exec(container, ["ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--no-unpack",
                          "--digests", f"{IMPORT_DIR}/{path.name}"], f"importing {path.name}")
    imported = _exec(container, ["ctr", "--namespace=k8s.io", "images", "list", "-q"], "listing images")
    missing = [r.reference for r in refs if r.reference not in imported.split()]
    if missing:
        raise SandboxError(f"the node's containerd lacks {', '.join(missing)} after the import")
    _exec(container, ["pkill", "containerd"], "stopping containerd")
    deadline = time.monotonic() + 30
    while container.exec_run(["pgrep", "-x", "containerd"])[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    _exec(container, ["rm", "-rf", IMPORT_DIR, "/tmp/containerd.log"], "cleaning up")
    repository, tag = layout.node_image(k8s_version).rsplit(":", 1)
    progress("docker commit", f"{repository}:{tag}")
    image = container.commit(repository=repository, tag=tag, changes=commit_changes(fingerprint),
                             conf=COMMIT_CONFIG)
    return str(image.id)
