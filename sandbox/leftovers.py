"""What outlives a sandbox's processes, removed with its state: containers (they carry the state dir as a label and
outlive a killed keeper) and the kind cluster it created (its record is in the state dir). Used by `sandbox down`
and by a supervisor whose owner died without stopping it."""

from __future__ import annotations

from sandbox.cluster import kind as kindcluster
from sandbox.state import StateDir
from sandbox.tools import docker


def remove(state: StateDir) -> None:
    docker.remove_sandbox_containers(state.path)
    kindcluster.cleanup(state)
    state.remove()
