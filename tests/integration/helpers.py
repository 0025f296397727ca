"""Helpers for tests of one real component: run services under the real supervisor, without a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox import lifecycle, supervisor
from sandbox.config import UpOptions
from sandbox.errors import SandboxError
from sandbox.services import Service
from sandbox.state import StateDir
from sandbox.waiting import wait_until


@contextmanager
def running_services(name: str, services: list[Service], options: UpOptions) -> Iterator[StateDir]:
    """Plan ``services`` as `sandbox up` would, run their components under a supervisor, stop them afterwards."""
    state = StateDir(name)
    state.create()
    try:
        plans = [service.plan(state, options) for service in services]
        state.write_specs([component for plan in plans for component in plan.components])
        record: dict[str, Any] = {"name": name, "cluster": "none"}
        for plan in plans:
            record.update(plan.record)
        state.write_record(record)
        state.write_record({**record, "supervisor_pid": supervisor.launch(state)})
        status = wait_until(
            lambda: (state.read_status() or {}) if (state.read_status() or {}).get("phase") in ("ready", "failed")
            else None,
            timeout=60, what=f"services of {name} to start", hint=f"logs in {state.logs}")
        if status["phase"] != "ready":
            raise SandboxError(f"services of {name} failed: {status.get('error')}")
        yield state
    finally:
        lifecycle.down(name)
