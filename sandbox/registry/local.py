"""The registry as a local process: Debian's ``docker-registry`` (distribution 2.8, the software in ``registry:2``)
run by the supervisor with a config generated under the sandbox's state directory."""

from __future__ import annotations

from pathlib import Path

from sandbox import binaries
from sandbox.errors import InputError
from sandbox.registry import auth, config
from sandbox.registry.base import COMPONENT, RegistryEndpoint, loopback_endpoint
from sandbox.state import ComponentSpec, Probe, StateDir, write_private

BINARY = "docker-registry"


def binary() -> Path:
    found = binaries.find(BINARY)
    if found is None:
        raise InputError(f"{BINARY} not found (looked in $SANDBOX_BIN_DIR, the cache, the Python environment and "
                         f"PATH): `apt-get install {BINARY}`, or use `--registry container` where Docker runs")
    return found.path


class LocalRegistry:
    """Listens on 127.0.0.1:``port``; blobs under the sandbox's data directory; deletes enabled."""

    backend = "local"

    def __init__(self, state: StateDir, port: int) -> None:
        self.state = state
        self.endpoint: RegistryEndpoint = loopback_endpoint(self.backend, port)
        self.config_file = config.registry_dir(state) / "config.yml"

    def write_config(self) -> Path:
        storage = config.storage_dir(self.state)
        storage.mkdir(parents=True, exist_ok=True, mode=0o700)
        settings = config.RegistryConfig(addr=self.endpoint.host, storage=str(storage),
                                         notifications=config.load_notifications(self.state),
                                         http_secret=config.http_secret(self.state),
                                         htpasswd=str(auth.htpasswd_file(self.state))
                                         if auth.enabled(self.state) else "")
        write_private(self.config_file, config.render(settings))
        return self.config_file

    def component(self) -> ComponentSpec:
        return ComponentSpec(
            name=COMPONENT,
            argv=[str(binary()), "serve", str(self.config_file)],
            # With htpasswd, /v2/ answers 401: "/" is distribution's unauthenticated liveness route.
            probe=Probe(url=f"{self.endpoint.url}/" if auth.enabled(self.state) else f"{self.endpoint.url}/v2/"),
            endpoints={"url": self.endpoint.url},
            startup_timeout=30.0,
        )
