"""Point the sandbox registry's notifications at HTTP endpoints, so that every image push is announced (a later
Receiver turns those events into image scans).

``configure(state, endpoints)`` works at any point of a sandbox's life:

- before the registry is planned (a service earlier in ``lifecycle.registered_services()``, or a caller preparing
  the state dir): the endpoints are saved and the registry's config includes them from the start;
- after it is planned but before the supervisor starts it (a later service's ``plan``): the config is regenerated;
- on a running sandbox (e.g. in a service's ``after_ready``): the config is regenerated and the registry component
  restarted, since distribution reads its config only at start. This takes well under a second.

The endpoint headers (e.g. ``Authorization``) are secrets: they live only in 0600 files of the state dir.
With the container backend, loopback URLs are rewritten to ``host.docker.internal`` (the host as seen from the
container); the endpoint must then accept connections from the Docker bridge.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Sequence
from typing import Any

import psutil

from sandbox.registry import config
from sandbox.registry.base import COMPONENT, RegistryEndpoint
from sandbox.registry.config import NotificationEndpoint
from sandbox.state import StateDir
from sandbox.waiting import wait_until

__all__ = ["NotificationEndpoint", "configure", "endpoints"]


def endpoints(state: StateDir) -> tuple[NotificationEndpoint, ...]:
    return config.load_notifications(state)


def configure(state: StateDir, notify: Sequence[NotificationEndpoint], *, timeout: float = 30.0) -> bool:
    """Make ``notify`` the registry's notification endpoints; True when a running registry was restarted."""
    config.save_notifications(state, notify)
    settings = config.settings_file(state)
    if not settings.exists():
        return False  # not planned yet: the plan will read the saved endpoints
    from sandbox.registry.service import registry_for

    endpoint = RegistryEndpoint.from_record(json.loads(settings.read_text()))
    registry_for(state, endpoint).write_config()
    return _restart(state, timeout)


def _registry_component(state: StateDir) -> dict[str, Any] | None:
    for component in (state.read_status() or {}).get("components", []):
        if component.get("name") == COMPONENT:
            return dict(component)
    return None


def _restart(state: StateDir, timeout: float) -> bool:
    """Stop the running registry process; its supervisor starts it again with the new config."""
    component = _registry_component(state)
    pid = component.get("pid") if component else None
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if not any(str(state.path) in part for part in process.cmdline()):
            return False  # the pid was reused by something else: nothing of ours to restart
        process.send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        return False

    def restarted() -> bool:
        current = _registry_component(state)
        return bool(current and current.get("state") == "ready" and current.get("pid") not in (None, pid))

    wait_until(restarted, timeout=timeout, what="the registry to restart with its new notification config",
               describe=lambda: repr(_registry_component(state)), hint=f"see {state.logs / (COMPONENT + '.log')}")
    return True
