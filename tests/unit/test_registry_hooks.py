"""Which Receiver types registry notifications can call, and with which headers; the registry config they make."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandbox.errors import InputError
from sandbox.registry.config import NotificationEndpoint, RegistryConfig, render
from sandbox.registry_hooks import IGNORED_ACTIONS, IGNORED_MEDIA_TYPES, headers_for, parse_receiver
from sandbox.state import StateDir

TOKEN = "tok-123"


@pytest.mark.parametrize(("receiver_type", "headers"), [
    ("generic", {}), ("harbor", {"Authorization": TOKEN}), ("dockerhub", {}), ("quay", {}), ("acr", {}),
    ("gitlab", {"X-Gitlab-Token": TOKEN}),
])
def test_types_the_registry_can_satisfy(receiver_type: str, headers: dict[str, str]) -> None:
    assert headers_for(receiver_type, [], TOKEN, "ns/r") == headers


@pytest.mark.parametrize("receiver_type", ["generic-hmac", "github", "nexus", "bitbucket"])
def test_signed_types_are_refused_saying_what_to_use(receiver_type: str) -> None:
    with pytest.raises(InputError, match=r"needs an HMAC signature.*cannot sign.*harbor") as info:
        headers_for(receiver_type, [], TOKEN, "ns/r")
    assert TOKEN not in str(info.value)


def test_gitlab_with_events_and_unknown_types_are_refused() -> None:
    with pytest.raises(InputError, match="X-Gitlab-Event"):
        headers_for("gitlab", ["Push Hook"], TOKEN, "ns/r")
    with pytest.raises(InputError, match="cannot satisfy"):
        headers_for("gcr", [], TOKEN, "ns/r")


def test_parse_receiver() -> None:
    assert parse_receiver("apps/images") == ("apps", "images")
    assert parse_receiver("images") == ("flux-system", "images")
    with pytest.raises(InputError):
        parse_receiver("a/b/c")


def test_rendered_endpoint_sends_manifest_pushes_only() -> None:
    endpoint = NotificationEndpoint(url="http://127.0.0.1:1/hook/x", name="receiver-ns.r",
                                    headers={"Authorization": TOKEN}, ignored_actions=IGNORED_ACTIONS,
                                    ignored_media_types=IGNORED_MEDIA_TYPES)
    rendered = yaml.safe_load(render(RegistryConfig(addr=":5000", storage="/s", notifications=(endpoint,))))
    [sent] = rendered["notifications"]["endpoints"]
    assert sent["ignore"] == {"mediatypes": ["application/octet-stream"], "actions": ["pull", "mount", "delete"]}
    assert sent["headers"] == {"Authorization": [TOKEN]}
    assert NotificationEndpoint.from_dict(endpoint.to_dict()) == endpoint


def test_a_container_registry_is_refused_saying_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox import registry_hooks

    state = StateDir("unit-hooks")
    monkeypatch.setattr(StateDir, "read_record", lambda self: {"registry": {"backend": "container"}})
    reachable, why = registry_hooks.registry_can_reach_receivers(state)
    assert not reachable and "--registry local" in why
    with pytest.raises(InputError, match=r"cannot send registry pushes to Receiver ns/r: .*127\.0\.0\.1 only"):
        registry_hooks.connect(state, None, "ns", "r")  # type: ignore[arg-type]
    monkeypatch.setattr(StateDir, "read_record", lambda self: {"registry": {"backend": "local"}})
    assert registry_hooks.registry_can_reach_receivers(state) == (True, "")
