"""Services that join a sandbox next to its cluster (git server, registry, chart repository, reconciler…).

Each service plans its supervised processes before the cluster starts, may name image registries the node agent
must check, and may do work once everything is ready (install CRDs, create repositories, register webhooks).
``sandbox.lifecycle.registered_services`` lists them in start order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sandbox.config import UpOptions
from sandbox.state import ComponentSpec, StateDir


@dataclass(frozen=True)
class ServicePlan:
    components: list[ComponentSpec] = field(default_factory=list)
    # image host as written in pod specs -> base URL the node agent can reach, for pull checks
    image_registries: dict[str, str] = field(default_factory=dict)
    # merged into the sandbox record (sandbox.json), e.g. {"git": {"url": ...}}
    record: dict[str, Any] = field(default_factory=dict)
    # extra arguments of the node agent, e.g. the file with the registry's credentials (never the secret itself)
    node_agent_args: list[str] = field(default_factory=list)
    # run once every component spec and the sandbox record are written, before any process starts
    before_start: list[Callable[[], None]] = field(default_factory=list)


class Service(Protocol):
    name: str

    def enabled(self, options: UpOptions) -> bool: ...

    def plan(self, state: StateDir, options: UpOptions) -> ServicePlan: ...

    def after_ready(self, state: StateDir, options: UpOptions) -> None:
        """Runs once every component is ready; raise SandboxError to fail ``up`` (it then cleans up)."""
        ...

