"""What every cluster backend provides to the rest of the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sandbox.state import ComponentSpec, StateDir


@dataclass(frozen=True)
class ClusterPlan:
    """The processes that make up a cluster, and where a client finds it once they are ready."""

    components: list[ComponentSpec]
    kubeconfig: Path
    server: str


class Cluster(Protocol):
    name: str

    def plan(self, state: StateDir) -> ClusterPlan:
        """Prepare credentials and config under ``state`` and return the processes to supervise."""
        ...
