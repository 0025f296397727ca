"""What every registry backend provides, and how a running sandbox's registry is found again from its record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sandbox.errors import InputError, NotRunning
from sandbox.state import ComponentSpec, StateDir

COMPONENT = "registry"
CHART_NAMESPACE = "charts"  # OCI charts live under <host>/charts/<name>:<version>


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where the registry answers.

    ``host`` is what image references use from the host (``127.0.0.1:PORT``); ``aliases`` are the other host names
    that also mean this registry in pod specs (``localhost:PORT``). ``cluster_host`` is the host as seen from inside
    the cluster: the same on the embedded cluster, different on kind.
    """

    backend: str
    host: str
    aliases: tuple[str, ...] = ()
    cluster_host: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def port(self) -> int:
        return int(self.host.rpartition(":")[2])

    @property
    def hosts(self) -> tuple[str, ...]:
        return (self.host, *self.aliases)

    @property
    def oci_charts(self) -> str:
        return f"oci://{self.host}/{CHART_NAMESPACE}"

    def to_record(self) -> dict[str, Any]:
        cluster_host = self.cluster_host or self.host
        return {"backend": self.backend, "host": self.host, "url": self.url, "hosts": list(self.hosts),
                "cluster_host": cluster_host, "cluster_url": f"http://{cluster_host}", "oci_charts": self.oci_charts}

    @staticmethod
    def from_record(data: dict[str, Any]) -> RegistryEndpoint:
        host = str(data["host"])
        return RegistryEndpoint(backend=str(data.get("backend", "local")), host=host,
                                aliases=tuple(h for h in data.get("hosts", []) if h != host),
                                cluster_host=str(data.get("cluster_host", host)))


def loopback_endpoint(backend: str, port: int) -> RegistryEndpoint:
    """Both spellings people write for a registry on this machine name the same one."""
    return RegistryEndpoint(backend=backend, host=f"127.0.0.1:{port}", aliases=(f"localhost:{port}",),
                            cluster_host=f"127.0.0.1:{port}")


class Registry(Protocol):
    """A registry backend: it plans one supervised component serving the distribution API at ``endpoint``."""

    backend: str
    endpoint: RegistryEndpoint
    config_file: Path

    def component(self) -> ComponentSpec:
        """The supervised process (its readiness probe is ``GET /v2/``)."""
        ...

    def write_config(self) -> Path:
        """(Re)generate the registry's config file from the sandbox's settings; returns its path."""
        ...


def endpoint_of(name: str) -> RegistryEndpoint:
    """The registry of the running sandbox ``name``."""
    state = StateDir(name)
    if not state.exists():
        raise NotRunning(f"sandbox {name!r} is not up; start it with `sandbox up --name {name}`")
    record = state.read_record().get(COMPONENT)
    if not isinstance(record, dict) or "host" not in record:
        raise InputError(f"sandbox {name!r} runs no registry; start it again with `sandbox up --name {name}` "
                         "(the registry is part of every sandbox unless disabled)")
    return RegistryEndpoint.from_record(record)
