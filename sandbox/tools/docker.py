"""The Docker engine, through the Docker SDK: is it usable, which images exist, import a rootfs as an image, and
remove the containers a sandbox labelled as its own.

Containers themselves are run through testcontainers (see ``sandbox.registry.container``); this module holds the
engine calls around them so that Docker errors become SandboxErrors in one place.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError

# Every container a sandbox creates carries these labels, so that `sandbox down` finds and removes it even after
# the process that started it was killed.
LABEL_STATE_DIR = "io.gitops-sandbox.state-dir"
LABEL_SANDBOX = "io.gitops-sandbox.sandbox"
LABEL_COMPONENT = "io.gitops-sandbox.component"

_TIMEOUT = 10


class DockerUnavailable(SandboxError):
    """The Docker engine cannot be reached (not installed, not running, or no permission on its socket)."""


def socket_present() -> bool:
    """Cheap check before importing the SDK: is there an engine address to try at all?"""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return True
    path = host.removeprefix("unix://") if host else "/var/run/docker.sock"
    return Path(path).exists()


@contextmanager
def engine() -> Iterator[Any]:
    """A Docker SDK client, closed afterwards; DockerUnavailable when the engine does not answer."""
    if not socket_present():
        raise DockerUnavailable("Docker is not available: no engine socket (is dockerd running? "
                                "`apt-get install docker.io`, then start dockerd)")
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=_TIMEOUT)
        client.ping()
    except docker.errors.DockerException as err:
        raise DockerUnavailable(f"Docker is not usable: {err}") from err
    try:
        yield client
    except docker.errors.DockerException as err:
        raise SandboxError(f"Docker engine error: {err}") from err
    finally:
        client.close()


def usable() -> tuple[bool, str]:
    """(True, "") when the engine answers, else (False, why)."""
    try:
        with engine():
            return True, ""
    except SandboxError as err:
        return False, str(err)


def engine_facts() -> dict[str, Any]:
    """What ``sandbox doctor`` reports of the engine: server version, and whether it is rootless or Podman."""
    with engine() as client:
        version = client.version()
        info = client.info()
    components = [str(c.get("Name", "")) for c in version.get("Components") or []]
    security = [str(o) for o in info.get("SecurityOptions") or []]
    return {"version": str(version.get("Version") or ""),
            "podman": any("podman" in c.lower() for c in components),
            "rootless": any("rootless" in o for o in security),
            "cgroup_version": str(info.get("CgroupVersion") or "")}


def image_tags(repository: str) -> list[str]:
    """The ``repository:tag`` names of the local images of ``repository`` (e.g. ``sandbox.local/gitea``)."""
    with engine() as client:
        images = client.images.list(name=repository)
    return sorted(tag for image in images for tag in image.tags if tag.split(":")[0] == repository)


def image_exists(name: str) -> bool:
    import docker.errors

    with engine() as client:
        try:
            client.images.get(name)
        except docker.errors.ImageNotFound:
            return False
        return True


def image_labels(name: str) -> dict[str, str] | None:
    """The labels of local image ``name`` (None when the engine has no such image)."""
    import docker.errors

    with engine() as client:
        try:
            image = client.images.get(name)
        except docker.errors.ImageNotFound:
            return None
        return {str(k): str(v) for k, v in ((image.attrs.get("Config") or {}).get("Labels") or {}).items()}


def pull(name: str) -> str:
    """``docker pull name`` (a tag or digest in ``name``, else ``latest``, as docker-py reads it): "" when the engine
    has it afterwards, else the engine's reason."""
    import docker.errors

    with engine() as client:
        try:
            client.images.pull(name)
        except docker.errors.APIError as err:
            return str(getattr(err, "explanation", None) or err)
    return ""


def import_rootfs(tarball: Path, repository: str, tag: str, changes: Sequence[str]) -> str:
    """``docker import`` ``tarball`` as ``repository:tag`` with Dockerfile ``changes``; returns the image id."""
    with engine() as client:
        result = client.api.import_image_from_file(str(tarball), repository=repository, tag=tag,
                                                   changes=list(changes))
        image = client.images.get(f"{repository}:{tag}")
        del result  # the stream of status lines; the image itself is the result we check
        return str(image.id)


def remove_image(name: str) -> None:
    import docker.errors

    with engine() as client:
        try:
            client.images.remove(name, force=True)
        except docker.errors.ImageNotFound:
            return


def labelled_containers(labels: Mapping[str, str]) -> list[str]:
    """Ids of the containers (running or not) that carry every label in ``labels``."""
    with engine() as client:
        found = client.containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        return [str(c.id) for c in found]


def remove_labelled(labels: Mapping[str, str]) -> list[str]:
    """Force-remove (with their anonymous volumes) the containers carrying every label in ``labels``."""
    import docker.errors

    removed = []
    with engine() as client:
        for container in client.containers.list(all=True,
                                                filters={"label": [f"{k}={v}" for k, v in labels.items()]}):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                continue
            removed.append(str(container.id))
    return removed


def remove_sandbox_containers(state_dir: Path) -> list[str]:
    """Remove every container labelled with ``state_dir``; a no-op when Docker is absent (nothing could exist)."""
    if not socket_present():
        return []
    try:
        return remove_labelled({LABEL_STATE_DIR: str(state_dir)})
    except DockerUnavailable:
        return []


def _stream_logs(container: Any) -> None:
    """Copy the container's output into our stdout (the component's log file) until it ends."""
    try:
        for chunk in container.get_wrapped_container().logs(stream=True, follow=True):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    except Exception as err:  # the container went away under us; the main loop reports why
        print(f"log stream ended: {err}", flush=True)


def watch(container: Any, stop: threading.Event, what: str) -> int:
    """Stream a started testcontainers container's output to stdout and wait until ``stop`` is set (0) or the
    container stops by itself (1, saying so) — the loop of a keeper process."""
    threading.Thread(target=_stream_logs, args=(container,), daemon=True).start()
    while not stop.wait(1.0):
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status not in ("created", "running"):
            print(f"{what} container stopped by itself (status {wrapped.status}); exiting", flush=True)
            return 1
    return 0


# --- networks (kind clusters: the sandbox's containers join the `kind` network) -----------------------------------

def container_state(name_or_id: str) -> str:
    """The container's status (``running``, ``exited`` …), or ``""`` when there is no such container."""
    import docker.errors

    with engine() as client:
        try:
            return str(client.containers.get(name_or_id).status)
        except docker.errors.NotFound:
            return ""


def network_exists(network: str) -> bool:
    import docker.errors

    with engine() as client:
        try:
            client.networks.get(network)
        except docker.errors.NotFound:
            return False
        return True


def attach(network: str, container_id: str, aliases: Sequence[str]) -> bool:
    """Connect the container to ``network`` with ``aliases`` (its DNS names there) unless it already is; True when
    this call connected it."""
    with engine() as client:
        net = client.networks.get(network)
        container = client.containers.get(container_id)
        if network in (container.attrs.get("NetworkSettings", {}).get("Networks") or {}):
            return False
        net.connect(container, aliases=list(aliases))
        return True


def attached(network: str, container_id: str) -> bool:
    """Whether the container is connected to ``network``."""
    import docker.errors

    with engine() as client:
        try:
            container = client.containers.get(container_id)
        except docker.errors.NotFound:
            return False
        return network in (container.attrs.get("NetworkSettings", {}).get("Networks") or {})


def container_labels_of(labels: Mapping[str, str]) -> list[dict[str, str]]:
    """The labels of each container (running or not) carrying every label in ``labels``, with its id under
    ``""`` — for callers deciding which of them they own."""
    with engine() as client:
        found = client.containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        return [{**(c.labels or {}), "": str(c.id)} for c in found]


def remove_containers(ids: Sequence[str]) -> list[str]:
    """Force-remove the containers ``ids`` with their anonymous volumes; returns those removed."""
    import docker.errors

    removed = []
    with engine() as client:
        for each in ids:
            try:
                client.containers.get(each).remove(force=True, v=True)
            except docker.errors.NotFound:
                continue
            removed.append(each)
    return removed


def remove_labelled_volumes(labels: Mapping[str, str]) -> list[str]:
    """Remove the volumes carrying every label in ``labels`` (a volume still in use stays, and is not listed)."""
    import docker.errors

    removed = []
    with engine() as client:
        for volume in client.volumes.list(filters={"label": [f"{k}={v}" for k, v in labels.items()]}):
            try:
                volume.remove(force=True)
            except docker.errors.APIError:
                continue
            removed.append(str(volume.name))
    return removed


def cgroup_version() -> str:
    """The engine host's cgroup version ("1" or "2"; "" when the engine does not say)."""
    with engine() as client:
        return str(client.info().get("CgroupVersion") or "")


def privileged_refused(image: str) -> str:
    """"" when the engine starts privileged containers, else its reason. Tries one from ``image`` with an
    entrypoint that does not exist: the start fails either way, at exec once the privileges were granted."""
    import docker.errors

    with engine() as client:
        container = client.containers.create(image, entrypoint=["/nonexistent-privileged-probe"], privileged=True,
                                             labels={LABEL_COMPONENT: "privileged-probe"})
        try:
            container.start()
        except docker.errors.APIError as err:
            text = str(err)
            return text if "apply caps" in text or "operation not permitted" in text else ""
        finally:
            container.remove(force=True)
    return ""
