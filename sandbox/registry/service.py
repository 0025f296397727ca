"""How the registry joins ``sandbox up``: pick the backend, plan its component, tell the node agent which image
hosts mean this registry, and record where it answers."""

from __future__ import annotations

from sandbox.config import UpOptions
from sandbox.errors import InputError
from sandbox.ports import free_ports
from sandbox.registry import auth, config, container
from sandbox.registry.base import COMPONENT, Registry, RegistryEndpoint
from sandbox.registry.container import ContainerRegistry
from sandbox.registry.local import LocalRegistry
from sandbox.services import ServicePlan
from sandbox.state import StateDir, write_json

BACKENDS = ("local", "container")


def choose_backend(requested: str) -> str:
    """``auto``: the container when Docker is usable and the image is present, else the local process."""
    if requested == "auto":
        ok, _ = container.availability(container.image_name())
        return "container" if ok else "local"
    if requested not in BACKENDS:
        raise InputError(f"unknown registry backend {requested!r}: use one of {', '.join(BACKENDS)} (or auto)")
    if requested == "container":
        ok, why = container.availability(container.image_name())
        if not ok:
            raise InputError(f"--registry container is not available: {why}; or use --registry local")
    return requested


def make_registry(backend: str, state: StateDir, port: int) -> Registry:
    if backend == "container":
        return ContainerRegistry(state, port)
    return LocalRegistry(state, port)


def registry_for(state: StateDir, endpoint: RegistryEndpoint) -> Registry:
    """The backend object of an already planned registry (to regenerate its config)."""
    if endpoint.backend == "container":
        return ContainerRegistry(state, endpoint.port)
    return LocalRegistry(state, endpoint.port)


def image_hosts(endpoint: RegistryEndpoint) -> dict[str, str]:
    """Image host as written in pod specs -> the URL the node agent checks tags at.

    People write ``127.0.0.1:PORT/app:tag`` or ``localhost:PORT/app:tag``; both name the sandbox registry.
    """
    return {host: endpoint.url for host in endpoint.hosts}


class RegistryService:
    name = COMPONENT

    def enabled(self, options: UpOptions) -> bool:
        return True

    def plan(self, state: StateDir, options: UpOptions) -> ServicePlan:
        backend = choose_backend(options.registry)
        if options.registry_auth:
            auth.enable(state)
        else:
            auth.disable(state)
        registry = make_registry(backend, state, free_ports(1)[0])
        registry.write_config()
        write_json(config.settings_file(state), registry.endpoint.to_record())
        record = {**registry.endpoint.to_record(), "auth": "htpasswd" if options.registry_auth else "none"}
        return ServicePlan(components=[registry.component()], image_registries=image_hosts(registry.endpoint),
                           record={COMPONENT: record},
                           node_agent_args=[f"--registry-credentials={auth.credentials_file(state)}"]
                           if options.registry_auth else [])

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        return None
