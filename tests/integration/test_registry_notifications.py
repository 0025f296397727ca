"""Registry notifications reach a configured endpoint with its auth header, on a registry that was already running."""

from __future__ import annotations

import http.server
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.config import UpOptions
from sandbox.httpserve import serve
from sandbox.registry import notifications, oci
from sandbox.registry.base import endpoint_of
from sandbox.registry.config import NotificationEndpoint
from sandbox.registry.service import RegistryService
from sandbox.state import StateDir
from sandbox.waiting import wait_until
from tests.integration.helpers import running_services


class Receiver:
    """Records every POST it receives: (headers, parsed JSON body)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.end_headers()

        self.server = serve(Handler, name="registry-notifications")
        self.url = f"{self.server.url}/hook/registry"

    def events(self) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(headers, event) for headers, body in self.received for event in body.get("events", [])]

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_pushes_are_announced_to_the_endpoint_set_on_a_running_registry(receiver: Receiver) -> None:
    name = f"it-notify-{os.getpid()}"
    with running_services(name, [RegistryService()], UpOptions(name=name, registry="local")):
        state = StateDir(name)
        registry = endpoint_of(name)
        token = "test-token-value"
        endpoint = NotificationEndpoint(url=receiver.url, name="receiver",
                                        headers={"Authorization": f"Bearer {token}"})
        assert notifications.configure(state, [endpoint]) is True, "a running registry is restarted"
        assert notifications.endpoints(state) == (endpoint,)
        assert (state.path / "registry" / "notifications.json").stat().st_mode & 0o777 == 0o600

        pushed = oci.push_synthetic_image(registry.host, "notify/app", "v7")

        def manifest_push() -> tuple[dict[str, str], dict[str, Any]] | None:
            for headers, event in receiver.events():
                target = event.get("target", {})
                if event.get("action") == "push" and target.get("tag") == "v7":
                    return headers, event
            return None

        headers, event = wait_until(manifest_push, timeout=15, what="a push event for notify/app:v7",
                                    describe=lambda: repr(receiver.events()))
        assert headers["Authorization"] == f"Bearer {token}"
        assert event["target"]["repository"] == "notify/app"
        assert event["target"]["digest"] == pushed.digest
        assert event["request"]["host"] == registry.host
        assert not [e for _, e in receiver.events() if e.get("action") == "pull"], "pull events are ignored"
        assert token not in (state.logs / "registry.log").read_text()


def test_endpoints_saved_before_planning_are_in_the_first_config(receiver: Receiver) -> None:
    name = f"it-notify-pre-{os.getpid()}"
    state = StateDir(name)
    state.create()
    endpoint = NotificationEndpoint(url=receiver.url)
    assert notifications.configure(state, [endpoint]) is False, "nothing runs yet: nothing to restart"
    plan = RegistryService().plan(state, UpOptions(name=name, registry="local"))
    assert receiver.url in (state.path / "registry" / "config.yml").read_text()
    assert plan.components[0].name == "registry"
    state.remove()
