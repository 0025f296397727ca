"""The distribution registry's configuration file, generated per sandbox: storage, deletes, listen address and the
notification endpoints that receive an event for every push (and, if asked, pull)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from sandbox.errors import InputError
from sandbox.state import StateDir, write_private


@dataclass(frozen=True)
class NotificationEndpoint:
    """Where the registry POSTs its event envelopes (``application/vnd.docker.distribution.events.v1+json``).

    ``headers`` are sent with every request, e.g. ``{"Authorization": "Bearer <token>"}``; they are secrets and
    only ever written to the 0600 config file. ``ignored_actions`` defaults to ``pull`` because the node agent's
    image checks would otherwise announce themselves as pulls.
    """

    url: str
    name: str = "sandbox"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: str = "2s"
    threshold: int = 3
    backoff: str = "1s"
    ignored_actions: tuple[str, ...] = ("pull",)
    # Events whose target has one of these media types are not sent (application/octet-stream: blob uploads).
    ignored_media_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InputError(f"invalid registry notification URL {self.url!r}: expected http(s)://HOST[:PORT]/PATH")
        if not self.name.strip():
            raise InputError("a registry notification endpoint needs a non-empty name")

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "name": self.name, "headers": dict(self.headers), "timeout": self.timeout,
                "threshold": self.threshold, "backoff": self.backoff, "ignored_actions": list(self.ignored_actions),
                "ignored_media_types": list(self.ignored_media_types)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> NotificationEndpoint:
        return NotificationEndpoint(
            url=str(data["url"]), name=str(data.get("name", "sandbox")), headers=dict(data.get("headers", {})),
            timeout=str(data.get("timeout", "2s")), threshold=int(data.get("threshold", 3)),
            backoff=str(data.get("backoff", "1s")), ignored_actions=tuple(data.get("ignored_actions", ("pull",))),
            ignored_media_types=tuple(data.get("ignored_media_types", ())),
        )


@dataclass(frozen=True)
class RegistryConfig:
    addr: str  # "127.0.0.1:PORT" for the process, ":5000" inside a container
    storage: str  # the filesystem storage root
    notifications: tuple[NotificationEndpoint, ...] = ()
    # Signs upload-session state; one per sandbox so that a restarted registry resumes its own uploads.
    http_secret: str = ""
    # The bcrypt htpasswd file (as the registry sees its path): every request then needs Basic credentials.
    htpasswd: str = ""


def render(config: RegistryConfig) -> str:
    """The YAML the ``registry serve`` command reads."""
    # distribution logs each notification endpoint with its headers at info level on start: with secrets in the
    # headers, only warnings and errors are logged (the access log still records every request).
    secret_headers = any(endpoint.headers for endpoint in config.notifications)
    data: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn" if secret_headers else "info", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": config.storage},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": config.addr, "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }
    if config.http_secret:
        data["http"]["secret"] = config.http_secret
    if config.htpasswd:
        data["auth"] = {"htpasswd": {"realm": "gitops-sandbox-registry", "path": config.htpasswd}}
    if config.notifications:
        data["notifications"] = {
            "events": {"includereferences": True},
            "endpoints": [
                {
                    "name": endpoint.name,
                    "url": endpoint.url,
                    "headers": {key: [value] for key, value in endpoint.headers.items()},
                    "timeout": endpoint.timeout,
                    "threshold": endpoint.threshold,
                    "backoff": endpoint.backoff,
                    **_ignore(endpoint),
                }
                for endpoint in config.notifications
            ],
        }
    return yaml.safe_dump(data, sort_keys=False)


def _ignore(endpoint: NotificationEndpoint) -> dict[str, Any]:
    ignore: dict[str, list[str]] = {}
    if endpoint.ignored_media_types:
        ignore["mediatypes"] = list(endpoint.ignored_media_types)
    if endpoint.ignored_actions:
        ignore["actions"] = list(endpoint.ignored_actions)
    return {"ignore": ignore} if ignore else {}


# --- per-sandbox files --------------------------------------------------------------------------------------------

def registry_dir(state: StateDir) -> Path:
    """Config and settings of the sandbox's registry (not its blobs)."""
    return state.path / "registry"


def storage_dir(state: StateDir) -> Path:
    """Where the registry keeps blobs and manifests: under the sandbox's data directory."""
    return state.data / "registry"


def settings_file(state: StateDir) -> Path:
    """Which backend and port the sandbox's registry was planned with (to regenerate its config later)."""
    return registry_dir(state) / "settings.json"


def _notifications_file(state: StateDir) -> Path:
    return registry_dir(state) / "notifications.json"


def http_secret(state: StateDir) -> str:
    """The sandbox's upload-signing secret, made on first use and kept 0600 in its secrets directory."""
    path = state.secrets / "registry-http-secret"
    if not path.exists():
        write_private(path, secrets.token_hex(24))
    return path.read_text().strip()


def load_notifications(state: StateDir) -> tuple[NotificationEndpoint, ...]:
    path = _notifications_file(state)
    if not path.exists():
        return ()
    return tuple(NotificationEndpoint.from_dict(item) for item in json.loads(path.read_text()))


def save_notifications(state: StateDir, endpoints: Sequence[NotificationEndpoint]) -> None:
    """Remember the endpoints (0600: their headers may carry tokens) for every config generated from now on."""
    write_private(_notifications_file(state), json.dumps([e.to_dict() for e in endpoints], indent=2) + "\n")
