"""The registry as a container, through testcontainers: the ``registry:2`` image (or a stand-in such as
``local/registry:2``, see ``sandbox.registry.standin``), chosen with ``$SANDBOX_REGISTRY_IMAGE``.

The supervisor runs ``python -m sandbox.registry.container …``, a small keeper process that starts the container
(published on 127.0.0.1 only, the sandbox's config and storage mounted in), streams its log, and removes it when
told to stop — or when the supervisor dies, through the parent-death signal. Every container is labelled with the
sandbox's state directory, so ``sandbox down`` removes it even if the keeper was killed outright.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse, urlunparse

from sandbox.errors import InputError
from sandbox.registry import auth, config
from sandbox.registry.base import COMPONENT, RegistryEndpoint, loopback_endpoint
from sandbox.state import ComponentSpec, Probe, StateDir, write_private
from sandbox.tools import docker

DEFAULT_IMAGE = "registry:2"
IMAGE_ENV = "SANDBOX_REGISTRY_IMAGE"
CONTAINER_PORT = 5000
CONFIG_PATH = "/etc/docker/registry/config.yml"
HTPASSWD_PATH = "/etc/docker/registry/htpasswd"
STORAGE_PATH = "/var/lib/registry"
# The host as seen from the container, for notification endpoints that listen on the host's loopback.
HOST_GATEWAY_NAME = "host.docker.internal"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

# testcontainers' reaper image cannot be pulled everywhere, and the sandbox removes its containers itself (labels);
# the override makes testcontainers address published ports on loopback rather than the bridge gateway.
TESTCONTAINERS_ENV = {"TESTCONTAINERS_RYUK_DISABLED": "true", "TESTCONTAINERS_HOST_OVERRIDE": "localhost"}


def image_name() -> str:
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def availability(image: str) -> tuple[bool, str]:
    """(True, "") when Docker answers and ``image`` is present locally, else (False, why)."""
    ok, why = docker.usable()
    if not ok:
        return False, why
    if not docker.image_exists(image):
        return False, (f"the registry image {image!r} is not present locally (set ${IMAGE_ENV}, or build the "
                       "stand-in with `python -m sandbox.registry.standin` and "
                       f"set {IMAGE_ENV}=local/registry:2)")
    return True, ""


def as_seen_from_container(url: str) -> str:
    """Rewrite a loopback URL to reach the host from inside the container (the receiver must accept that)."""
    parsed = urlparse(url)
    if parsed.hostname not in _LOOPBACK_NAMES:
        return url
    netloc = HOST_GATEWAY_NAME + (f":{parsed.port}" if parsed.port else "")
    return urlunparse(parsed._replace(netloc=netloc))


def container_labels(state: StateDir) -> dict[str, str]:
    return {docker.LABEL_STATE_DIR: str(state.path), docker.LABEL_SANDBOX: state.name,
            docker.LABEL_COMPONENT: COMPONENT}


class ContainerRegistry:
    """The registry image, published on 127.0.0.1:``port``; config and storage from the sandbox's state dir."""

    backend = "container"

    def __init__(self, state: StateDir, port: int, image: str | None = None) -> None:
        self.state = state
        self.image = image or image_name()
        self.endpoint: RegistryEndpoint = loopback_endpoint(self.backend, port)
        self.config_file = config.registry_dir(state) / "config.yml"

    def write_config(self) -> Path:
        config.storage_dir(self.state).mkdir(parents=True, exist_ok=True, mode=0o700)
        endpoints = tuple(replace(e, url=as_seen_from_container(e.url)) for e in config.load_notifications(self.state))
        settings = config.RegistryConfig(addr=f":{CONTAINER_PORT}", storage=STORAGE_PATH, notifications=endpoints,
                                         http_secret=config.http_secret(self.state),
                                         htpasswd=HTPASSWD_PATH if auth.enabled(self.state) else "")
        write_private(self.config_file, config.render(settings))
        return self.config_file

    def component(self) -> ComponentSpec:
        return ComponentSpec(
            name=COMPONENT,
            argv=[sys.executable, "-m", "sandbox.registry.container", "--state-dir", str(self.state.path),
                  "--port", str(self.endpoint.port), "--image", self.image, "--config", str(self.config_file),
                  "--storage", str(config.storage_dir(self.state)),
                  *(["--htpasswd", str(auth.htpasswd_file(self.state))] if auth.enabled(self.state) else [])],
            env=dict(TESTCONTAINERS_ENV),
            # With htpasswd, /v2/ answers 401: "/" is distribution's unauthenticated liveness route.
            probe=Probe(url=f"{self.endpoint.url}/" if auth.enabled(self.state) else f"{self.endpoint.url}/v2/"),
            endpoints={"url": self.endpoint.url},
            startup_timeout=60.0,
            stop_timeout=20.0,
        )


# --- the keeper process -------------------------------------------------------------------------------------------

def keep(state: StateDir, port: int, image: str, config_file: Path, storage: Path,
         htpasswd: Path | None = None) -> int:
    """Run the registry container until SIGTERM; non-zero when the container stopped by itself."""
    os.environ.update(TESTCONTAINERS_ENV)
    from testcontainers.core.container import DockerContainer

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())

    labels = container_labels(state)
    stale = docker.remove_labelled(labels)  # left by a keeper that was killed outright
    if stale:
        print(f"removed {len(stale)} stale registry container(s) of this sandbox", flush=True)
    ok, why = availability(image)
    if not ok:
        raise InputError(why)
    container = (
        DockerContainer(image)
        .with_command([CONFIG_PATH])
        .with_volume_mapping(str(config_file), CONFIG_PATH, "ro")
        .with_volume_mapping(str(storage), STORAGE_PATH, "rw")
        .with_kwargs(labels=labels, user=f"{os.getuid()}:{os.getgid()}",
                     extra_hosts={HOST_GATEWAY_NAME: "host-gateway"})
        .with_name(f"gitops-sandbox-{state.name}-registry-{port}")
    )
    if htpasswd is not None:
        container = container.with_volume_mapping(str(htpasswd), HTPASSWD_PATH, "ro")
    # testcontainers' typed API publishes on every interface; Docker takes (address, port) to publish on loopback.
    container.ports = cast(dict[str, int | None], {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", port)})
    try:
        container.start()
        print(f"started container {container.get_container_id()[:12]} from {image} on 127.0.0.1:{port}",
              flush=True)
        return docker.watch(container, stop, "registry")
    finally:
        _remove(container)


def _remove(container: Any) -> None:
    try:
        container.stop()
    except Exception as err:  # already gone (removed by `sandbox down`, or never created)
        print(f"registry container not removed: {err}", flush=True)
    else:
        print("removed the registry container", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.registry.container")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--image", required=True)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--storage", required=True, type=Path)
    parser.add_argument("--htpasswd", type=Path, default=None)
    args = parser.parse_args(argv)
    state = StateDir(args.state_dir.name, args.state_dir.parent)
    return keep(state, args.port, args.image, args.config, args.storage, args.htpasswd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
